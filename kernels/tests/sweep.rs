//! Dense sweep: every 97th f32 bit pattern (44 million inputs, all exponents and signs, NaNs
//! and infinities included) through exp, sigmoid, tanh and ELU on every tier, against the f64
//! references; FMA tiers must match Scalar to the bit. The exhaustive 2³² sweep is the example
//! `cargo run --release -p sigmo-kernels --example exhaustive`.

#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

mod common;

use common::*;
use sigmo_kernels::{reference, Isa, Kernels};

type F = fn(&Kernels, &[f32], &mut [f32]);

fn sweep(name: &str, f: F, r: fn(f32) -> f64, bound: f64) {
    const STEP: u64 = 97;
    const CHUNK: usize = 1 << 16;
    let tiers = tiers();
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    let mut worst = vec![(0.0f64, 0.0f32); tiers.len()];
    let mut x = Vec::with_capacity(CHUNK);
    let mut s = vec![0.0f32; CHUNK];
    let mut y = vec![0.0f32; CHUNK];
    let mut b = 0u64;
    while b < 1 << 32 {
        x.clear();
        while x.len() < CHUNK && b < 1 << 32 {
            x.push(f32::from_bits(b as u32));
            b += STEP;
        }
        let n = x.len();
        let want: Vec<f64> = x.iter().map(|&v| r(v)).collect();
        f(&scalar, &x, &mut s[..n]);
        for (t, k) in tiers.iter().enumerate() {
            f(k, &x, &mut y[..n]);
            for i in 0..n {
                let e = reference::ulp_error(y[i], want[i]);
                if e > worst[t].0 {
                    worst[t] = (e, x[i]);
                }
                if k.isa().has_fma() {
                    assert_eq!(
                        y[i].to_bits(),
                        s[i].to_bits(),
                        "{name}: {} differs from scalar at {:e}",
                        k.isa(),
                        x[i]
                    );
                }
            }
        }
    }
    for (k, (e, at)) in tiers.iter().zip(&worst) {
        println!("{name:>8} {:>7}: max {e:.3} ULP at {at:e}", k.isa().name());
        assert!(
            *e <= bound,
            "{name} on {}: {e} ULP at x = {at:e} exceeds {bound}",
            k.isa()
        );
    }
}

#[test]
fn dense_sweep_exp() {
    sweep("exp", |k, x, y| k.exp(x, y), reference::exp, 1.0);
}

#[test]
fn dense_sweep_sigmoid() {
    sweep(
        "sigmoid",
        |k, x, y| k.sigmoid(x, y),
        reference::sigmoid,
        1.5,
    );
}

#[test]
fn dense_sweep_tanh() {
    sweep("tanh", |k, x, y| k.tanh(x, y), reference::tanh, 2.0);
}

#[test]
fn dense_sweep_elu() {
    sweep(
        "elu",
        |k, x, y| k.elu(x, y, 1.0),
        |x| reference::elu(x, 1.0),
        2.0,
    );
}
