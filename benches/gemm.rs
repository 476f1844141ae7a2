//! Criterion benches of the GEMM layer, in GFLOP/s (`Throughput::Elements(2·m·n·k)`: criterion's
//! "elem/s" are flop/s), per backend and thread count:
//! - `square`: n³ for n = 64 … 2048;
//! - `mlp`: the MLP's forward products A·B and its backward ones, Aᵀ·B (dW = Xᵀ·δ) and A·Wᵀ
//!   (δ·Wᵀ), through `sigmo::gemm`, and the same call on the raw engine entry point
//!   (`direct`), which measures what the abstraction costs;
//! - `epilogue`: `gemm_bias_act` against GEMM followed by separate bias and activation passes.
//!
//! ```text
//! cargo bench --features openblas --bench gemm
//! python3 benches/report.py gemm
//! ```
//! With `--features openblas` both backends run side by side. The OpenBLAS core in use is
//! printed first; a generic one is replaced as the `sigmo` command does.

use criterion::{BenchmarkId, Criterion, Throughput};
use sigmo::gemm::{Activation, Backend, MatMut, MatRef};
use sigmo::kernels::gemm::{sgemm_matrixmultiply, Gemm, Layout};
use sigmo::kernels::Kernels;
use std::hint::black_box;
use std::time::Duration;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

fn flops(m: usize, k: usize, n: usize) -> Throughput {
    Throughput::Elements((2 * m * k * n) as u64)
}

const THREADS: [usize; 2] = [1, 2];

fn square(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm/square");
    for n in [64usize, 128, 256, 512, 1024, 2048] {
        let (a, b) = (data(n * n, 1), data(n * n, 2));
        let mut out = vec![0.0f32; n * n];
        g.throughput(flops(n, n, n));
        if n >= 1024 {
            g.sample_size(10);
        }
        for be in Backend::available() {
            for t in THREADS {
                sigmo::set_num_threads(t);
                g.bench_function(BenchmarkId::new(format!("{be}/t{t}"), n), |bch| {
                    bch.iter(|| {
                        be.gemm(
                            &Kernels::best(),
                            1.0,
                            MatRef::new(black_box(&a), n, n).unwrap(),
                            MatRef::new(&b, n, n).unwrap(),
                            0.0,
                            MatMut::new(&mut out, n, n).unwrap(),
                        )
                        .unwrap()
                    })
                });
            }
        }
    }
    sigmo::set_num_threads(0);
    g.finish();
}

/// (batch, inputs, outputs) of the MLP layers measured.
const MLP: [(usize, usize, usize); 4] = [
    (64, 784, 128),
    (128, 784, 512),
    (128, 512, 512),
    (256, 784, 1024),
];

fn mlp(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm/mlp");
    for (m, k, n) in MLP {
        // X: m×k (batch × inputs), W: k×n, δ: m×n.
        let (x, w, d) = (data(m * k, 3), data(k * n, 4), data(m * n, 5));
        let mut y = vec![0.0f32; m * n];
        let mut dw = vec![0.0f32; k * n];
        let mut dx = vec![0.0f32; m * k];
        let shape = format!("{m}x{k}x{n}");
        g.throughput(flops(m, k, n));
        for be in Backend::available() {
            for t in THREADS {
                sigmo::set_num_threads(t);
                g.bench_function(
                    BenchmarkId::new(format!("forward A·B/{be}/t{t}"), &shape),
                    |bch| {
                        bch.iter(|| {
                            be.gemm(
                                &Kernels::best(),
                                1.0,
                                MatRef::new(black_box(&x), m, k).unwrap(),
                                MatRef::new(&w, k, n).unwrap(),
                                0.0,
                                MatMut::new(&mut y, m, n).unwrap(),
                            )
                            .unwrap()
                        })
                    },
                );
                g.bench_function(
                    BenchmarkId::new(format!("backward Aᵀ·B/{be}/t{t}"), &shape),
                    |bch| {
                        bch.iter(|| {
                            be.gemm(
                                &Kernels::best(),
                                1.0,
                                MatRef::new(black_box(&x), m, k).unwrap().t(),
                                MatRef::new(&d, m, n).unwrap(),
                                0.0,
                                MatMut::new(&mut dw, k, n).unwrap(),
                            )
                            .unwrap()
                        })
                    },
                );
                g.bench_function(
                    BenchmarkId::new(format!("backward A·Wᵀ/{be}/t{t}"), &shape),
                    |bch| {
                        bch.iter(|| {
                            be.gemm(
                                &Kernels::best(),
                                1.0,
                                MatRef::new(black_box(&d), m, n).unwrap(),
                                MatRef::new(&w, k, n).unwrap().t(),
                                0.0,
                                MatMut::new(&mut dx, m, k).unwrap(),
                            )
                            .unwrap()
                        })
                    },
                );
            }
        }
        // The raw engine entry point, one thread: what `sigmo::gemm` adds on top.
        let (xl, wl, yl) = (
            Layout::row_major(m, k),
            Layout::row_major(k, n),
            Layout::row_major(m, n),
        );
        g.bench_function(
            BenchmarkId::new("forward A·B/direct-matrixmultiply/t1", &shape),
            |bch| {
                bch.iter(|| {
                    sgemm_matrixmultiply(Gemm {
                        alpha: 1.0,
                        a: black_box(&x),
                        al: xl,
                        b: &w,
                        bl: wl,
                        beta: 0.0,
                        c: &mut y,
                        cl: yl,
                    })
                    .unwrap()
                })
            },
        );
        #[cfg(feature = "openblas")]
        {
            sigmo::set_num_threads(1);
            sigmo::kernels::gemm::openblas::set_num_threads(1);
            g.bench_function(
                BenchmarkId::new("forward A·B/direct-openblas/t1", &shape),
                |bch| {
                    bch.iter(|| {
                        let op = Gemm {
                            alpha: 1.0,
                            a: black_box(&x),
                            al: xl,
                            b: &w,
                            bl: wl,
                            beta: 0.0,
                            c: &mut y,
                            cl: yl,
                        };
                        sigmo::kernels::gemm::openblas::sgemm(op, None).unwrap()
                    })
                },
            );
        }
    }
    sigmo::set_num_threads(0);
    g.finish();
}

fn epilogue(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm/epilogue");
    let k = Kernels::best();
    for (m, kk, n) in MLP {
        let (x, w, bias) = (data(m * kk, 6), data(kk * n, 7), data(n, 8));
        let mut y = vec![0.0f32; m * n];
        let shape = format!("{m}x{kk}x{n}");
        g.throughput(flops(m, kk, n));
        for be in Backend::available() {
            for t in THREADS {
                sigmo::set_num_threads(t);
                g.bench_function(
                    BenchmarkId::new(format!("fused relu/{be}/t{t}"), &shape),
                    |bch| {
                        bch.iter(|| {
                            be.gemm_bias_act(
                                &Kernels::best(),
                                MatRef::new(black_box(&x), m, kk).unwrap(),
                                MatRef::new(&w, kk, n).unwrap(),
                                &bias,
                                Activation::Relu,
                                MatMut::new(&mut y, m, n).unwrap(),
                            )
                            .unwrap()
                        })
                    },
                );
                g.bench_function(
                    BenchmarkId::new(format!("gemm, then bias, then relu/{be}/t{t}"), &shape),
                    |bch| {
                        bch.iter(|| {
                            be.gemm(
                                &Kernels::best(),
                                1.0,
                                MatRef::new(black_box(&x), m, kk).unwrap(),
                                MatRef::new(&w, kk, n).unwrap(),
                                0.0,
                                MatMut::new(&mut y, m, n).unwrap(),
                            )
                            .unwrap();
                            for row in y.chunks_exact_mut(n) {
                                k.axpy(1.0, &bias, row);
                            }
                            k.relu_inplace(&mut y);
                        })
                    },
                );
            }
        }
    }
    sigmo::set_num_threads(0);
    g.finish();
}

fn main() {
    sigmo::openblas::ensure_kernels();
    if let Some(core) = sigmo::openblas::corename() {
        eprintln!(
            "OpenBLAS core: {core}{}",
            std::env::var("OPENBLAS_CORETYPE")
                .map(|v| format!(" (OPENBLAS_CORETYPE={v})"))
                .unwrap_or_default()
        );
    }
    let quick = std::env::var_os("SIGMO_BENCH_QUICK").is_some();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(if quick { 200 } else { 500 }))
        .measurement_time(Duration::from_millis(if quick { 500 } else { 1500 }))
        .sample_size(if quick { 10 } else { 20 })
        .configure_from_args();
    square(&mut c);
    mlp(&mut c);
    epilogue(&mut c);
    c.final_summary();
}
