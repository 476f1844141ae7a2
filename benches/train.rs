//! Criterion benches of training: one epoch of each of the two MLP configurations, on every
//! compiled GEMM backend, in samples per second (`Throughput::Elements(samples)`).
//!
//! - `digits`: the default `sigmo train` (64-256-10, ReLU, softmax-CE, Adam η = 0.001, batch
//!   32) on the embedded digits' 1,442 training images;
//! - `fashion`: issue 4's recipe (784-512-256-10, ReLU, softmax-CE, SGD η = 0.05, momentum
//!   0.9, L2 1e-4, batch 128) on Fashion-MNIST's 60,000 training images, when installed
//!   (`apt-get install dataset-fashion-mnist`; skipped with a note otherwise).
//!
//! Each measured iteration is one epoch (the batches and the test pass) from the same starting
//! network, on 2 threads.
//!
//! ```text
//! cargo bench --features openblas --bench train
//! ```

use criterion::{BenchmarkId, Criterion, Throughput};
use sigmo::data::{self, Split};
use sigmo::gemm::Backend;
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Mlp, Optimizer, OutputActivation};
use sigmo::train::{fit, TrainConfig};
use std::time::Duration;

fn epoch(c: &mut Criterion, name: &str, split: &Split, layers: &[usize], cfg: TrainConfig) {
    let mut g = c.benchmark_group("train/epoch");
    g.throughput(Throughput::Elements(split.train.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(if split.train.len() > 10_000 {
        20
    } else {
        3
    }));
    let net0 = Mlp::builder(layers)
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .seed(0)
        .build()
        .expect("a valid network");
    for be in Backend::available() {
        let cfg = TrainConfig {
            epochs: 1,
            backend: be,
            threads: 2,
            ..cfg.clone()
        };
        g.bench_function(BenchmarkId::new(name, be), |b| {
            b.iter_batched(
                || net0.clone(),
                |mut net| {
                    fit(&mut net, &split.train, Some(&split.test), &cfg, &mut ()).expect("trains");
                    net
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn main() {
    sigmo::openblas::ensure_kernels();
    let mut c = Criterion::default().configure_from_args();
    let digits = data::digits();
    epoch(
        &mut c,
        "digits",
        &digits,
        &[64, 256, 10],
        TrainConfig {
            batch_size: 32,
            optimizer: Optimizer::adam(0.001),
            ..TrainConfig::new(Kernels::best())
        },
    );
    match data::fashion_mnist(None) {
        Ok(fashion) => epoch(
            &mut c,
            "fashion",
            &fashion,
            &[784, 512, 256, 10],
            TrainConfig {
                batch_size: 128,
                optimizer: Optimizer::sgd(0.05, 0.9),
                l2: 1e-4,
                ..TrainConfig::new(Kernels::best())
            },
        ),
        Err(e) => eprintln!("train/epoch/fashion skipped: {e}"),
    }
    c.final_summary();
}
