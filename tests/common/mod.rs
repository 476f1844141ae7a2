//! What several test files share: the f64 reference of the elementwise activations and the
//! synthetic data set whose batches two threads split. (Each test file compiles this module
//! on its own and uses a part of it.)
#![allow(dead_code)]

use sigmo::data::Dataset;
use sigmo::kernels::Activation;

/// The activation in f64: the reference the gradient checks differentiate.
pub fn act64(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Identity => z,
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu(al) => {
            if z >= 0.0 {
                z
            } else {
                al as f64 * z
            }
        }
        Activation::Elu(al) => {
            if z > 0.0 {
                z
            } else {
                al as f64 * z.exp_m1()
            }
        }
        Activation::Step => f64::from(z > 0.0),
        // Not elementwise: tests/regularize.rs checks maxout layers through its own pieces.
        Activation::Maxout(_) => unreachable!("maxout is not elementwise"),
    }
}

/// 513 samples of 256 features in 10 classes (class c lights feature c, under noise): with
/// batches of 64, each batch is large enough for two threads to split it in two shards, and
/// the last batch has one row, so one of its two shards is empty.
pub fn wide_data() -> Dataset {
    let (n, dim) = (513, 256);
    let mut seed = 7u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 8) as f32 / (1u32 << 24) as f32
    };
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let features: Vec<f32> = (0..n * dim)
        .map(|i| 0.5 * next() + if i % dim == (i / dim) % 10 { 1.0 } else { 0.0 })
        .collect();
    Dataset::new("wide", features, labels, dim, 10).unwrap()
}
