//! Criterion benches of every sigmo-kernels kernel at every tier this CPU runs, with
//! `Throughput::Elements`, against plain scalar loops over `f32::exp` and friends, and on the
//! input classes that used to hit subnormal arithmetic (`input_classes/…`).
//!
//! ```text
//! cargo bench --bench kernels                  # everything
//! cargo bench --bench kernels -- 'exp/'        # one group (criterion filter)
//! SIGMO_BENCH_QUICK=1 cargo bench --bench kernels   # shorter measurement
//! python3 benches/report.py kernels            # the Markdown table of the last run
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sigmo_kernels::{Isa, Kernels};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 3] = [4 << 10, 64 << 10, 16 << 20];

fn tiers() -> Vec<Kernels> {
    Isa::available()
        .into_iter()
        .map(|i| Kernels::new(i).expect("available tier"))
        .collect()
}

/// Inputs spread over the range that matters for activations, deterministic.
fn input(n: usize) -> Vec<f32> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 20.0 - 10.0
        })
        .collect()
}

type Unary = fn(&Kernels, &[f32], &mut [f32]);

fn unary(c: &mut Criterion, name: &str, f: Unary, baseline: Option<fn(f32) -> f32>) {
    let mut g = c.benchmark_group(name);
    for &n in &SIZES {
        let x = input(n);
        let mut y = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        if let Some(b) = baseline {
            g.bench_with_input(BenchmarkId::new("std-scalar-loop", n), &n, |bch, _| {
                bch.iter(|| {
                    for (o, &i) in y.iter_mut().zip(black_box(&x)) {
                        *o = b(i);
                    }
                })
            });
        }
        for k in tiers() {
            g.bench_with_input(BenchmarkId::new(k.isa().name(), n), &n, |bch, _| {
                bch.iter(|| f(&k, black_box(&x), &mut y))
            });
        }
    }
    g.finish();
}

fn activations(c: &mut Criterion) {
    unary(c, "exp", |k, x, y| k.exp(x, y), Some(f32::exp));
    unary(
        c,
        "sigmoid",
        |k, x, y| k.sigmoid(x, y),
        Some(|v| 1.0 / (1.0 + (-v).exp())),
    );
    unary(c, "tanh", |k, x, y| k.tanh(x, y), Some(f32::tanh));
    unary(c, "relu", |k, x, y| k.relu(x, y), Some(|v| v.max(0.0)));
    unary(c, "leaky_relu", |k, x, y| k.leaky_relu(x, y, 0.01), None);
    unary(
        c,
        "elu",
        |k, x, y| k.elu(x, y, 1.0),
        Some(|v| if v > 0.0 { v } else { v.exp_m1() }),
    );
    unary(c, "step", |k, x, y| k.step(x, y), None);
    unary(
        c,
        "sigmoid_backward",
        |k, x, y| k.sigmoid_backward(x, x, y),
        None,
    );
    unary(c, "tanh_backward", |k, x, y| k.tanh_backward(x, x, y), None);
    unary(c, "relu_backward", |k, x, y| k.relu_backward(x, x, y), None);
    unary(
        c,
        "leaky_relu_backward",
        |k, x, y| k.leaky_relu_backward(x, x, y, 0.01),
        None,
    );
    unary(
        c,
        "elu_backward",
        |k, x, y| k.elu_backward(x, x, y, 1.0),
        None,
    );
    unary(c, "identity", |k, x, y| k.identity(x, y), Some(|v| v));
}

/// In-place exp: what DRAM allows without the extra output stream. (The values run to +∞ and
/// stay there after the first passes; the kernel is branch-free, so that does not change its
/// speed.)
fn inplace(c: &mut Criterion) {
    let mut g = c.benchmark_group("exp_inplace");
    for &n in &SIZES {
        let mut y = input(n);
        g.throughput(Throughput::Elements(n as u64));
        for k in tiers() {
            g.bench_with_input(BenchmarkId::new(k.isa().name(), n), &n, |bch, _| {
                bch.iter(|| k.exp_inplace(black_box(&mut y)))
            });
        }
    }
    g.finish();
}

fn softmax(c: &mut Criterion) {
    type Rows = fn(&Kernels, &[f32], usize, &mut [f32]);
    let variants: [(&str, Rows); 3] = [
        ("softmax_rows", |k, x, c, y| k.softmax_rows(x, c, y)),
        ("softmax_online_rows", |k, x, c, y| {
            k.softmax_online_rows(x, c, y)
        }),
        ("log_softmax_rows", |k, x, c, y| k.log_softmax_rows(x, c, y)),
    ];
    let n = 64 << 10;
    for (name, f) in variants {
        let mut g = c.benchmark_group(name);
        for cols in [10usize, 128, 1000, 64 << 10] {
            let len = n / cols * cols;
            let x = input(len);
            let mut y = vec![0.0f32; len];
            g.throughput(Throughput::Elements(len as u64));
            for k in tiers() {
                g.bench_with_input(
                    BenchmarkId::new(k.isa().name(), format!("cols={cols}")),
                    &cols,
                    |bch, &cols| bch.iter(|| f(&k, black_box(&x), cols, &mut y)),
                );
            }
        }
        g.finish();
    }
    // One long row that does not fit in the caches: where the two-pass variant saves a pass.
    let mut g = c.benchmark_group("softmax_long_row");
    let len = 16 << 20;
    let x = input(len);
    let mut y = vec![0.0f32; len];
    g.throughput(Throughput::Elements(len as u64));
    for k in tiers() {
        let t = k.isa().name();
        g.bench_function(BenchmarkId::new("three-pass", t), |b| {
            b.iter(|| k.softmax(black_box(&x), &mut y))
        });
        g.bench_function(BenchmarkId::new("two-pass", t), |b| {
            b.iter(|| k.softmax_online(black_box(&x), &mut y))
        });
        g.bench_function(BenchmarkId::new("log-softmax", t), |b| {
            b.iter(|| k.log_softmax(black_box(&x), &mut y))
        });
    }
    g.finish();
}

fn reductions(c: &mut Criterion) {
    for &n in &SIZES {
        let mut g = c.benchmark_group(format!("reductions/{n}"));
        let x = input(n);
        let mut y = input(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("sum/std-scalar-loop", |b| {
            b.iter(|| black_box(&x).iter().sum::<f32>())
        });
        for k in tiers() {
            let t = k.isa().name();
            g.bench_function(format!("sum/{t}"), |b| b.iter(|| k.sum(black_box(&x))));
            g.bench_function(format!("max/{t}"), |b| b.iter(|| k.max(black_box(&x))));
            g.bench_function(format!("dot/{t}"), |b| {
                b.iter(|| k.dot(black_box(&x), black_box(&x)))
            });
            g.bench_function(format!("axpy/{t}"), |b| {
                b.iter(|| k.axpy(1e-6, black_box(&x), &mut y))
            });
        }
        g.finish();
    }
}

/// The inputs networks produce that used to hit subnormal arithmetic (slow on Intel cores),
/// against uniform inputs in [−10, 10], 64 Ki elements, every tier: exp with subnormal results, sigmoid of
/// saturated units, softmax and log-softmax rows of 10 and 128 with half their entries −∞
/// (a mask). Each kernel should keep ≥ 0.7× its own speed on the ordinary input.
fn input_classes(c: &mut Criterion) {
    let n = 64 << 10;
    let spread = |lo: f32, hi: f32, signs: bool| -> Vec<f32> {
        input(n)
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                let v = lo + (u + 10.0) / 20.0 * (hi - lo);
                if signs && i % 2 == 1 {
                    -v
                } else {
                    v
                }
            })
            .collect()
    };
    let masked = |cols: usize| -> Vec<f32> {
        input(n / cols * cols)
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if i % cols >= cols.div_ceil(2) {
                    f32::NEG_INFINITY
                } else {
                    v
                }
            })
            .collect()
    };
    let ordinary = input(n);
    let unary: [(&str, Unary, Vec<f32>); 2] = [
        ("exp", |k, x, y| k.exp(x, y), spread(-103.0, -88.0, false)),
        (
            "sigmoid",
            |k, x, y| k.sigmoid(x, y),
            spread(88.0, 103.0, true),
        ),
    ];
    for (name, f, special) in unary {
        let mut g = c.benchmark_group(format!("input_classes/{name}"));
        g.throughput(Throughput::Elements(n as u64));
        let mut y = vec![0.0f32; n];
        for k in tiers() {
            for (label, x) in [("uniform", &ordinary), ("saturated", &special)] {
                g.bench_function(BenchmarkId::new(k.isa().name(), label), |b| {
                    b.iter(|| f(&k, black_box(x), &mut y))
                });
            }
        }
        g.finish();
    }
    type Rows = fn(&Kernels, &[f32], usize, &mut [f32]);
    let rows: [(&str, Rows); 2] = [
        ("softmax_rows", |k, x, c, y| k.softmax_rows(x, c, y)),
        ("log_softmax_rows", |k, x, c, y| k.log_softmax_rows(x, c, y)),
    ];
    for (name, f) in rows {
        let mut g = c.benchmark_group(format!("input_classes/{name}"));
        for cols in [10usize, 128] {
            let (x, xm) = (input(n / cols * cols), masked(cols));
            let mut y = vec![0.0f32; x.len()];
            g.throughput(Throughput::Elements(x.len() as u64));
            for k in tiers() {
                for (label, x) in [("uniform", &x), ("masked", &xm)] {
                    g.bench_function(
                        BenchmarkId::new(k.isa().name(), format!("cols={cols}/{label}")),
                        |b| b.iter(|| f(&k, black_box(x), cols, &mut y)),
                    );
                }
            }
        }
        g.finish();
    }
}

fn criterion() -> Criterion {
    let quick = std::env::var_os("SIGMO_BENCH_QUICK").is_some();
    Criterion::default()
        .warm_up_time(Duration::from_millis(if quick { 200 } else { 500 }))
        .measurement_time(Duration::from_millis(if quick { 500 } else { 1500 }))
        .sample_size(if quick { 10 } else { 20 })
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = activations, inplace, softmax, reductions, input_classes
}
criterion_main!(benches);
