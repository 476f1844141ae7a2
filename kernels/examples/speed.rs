//! Quick G elements/s of a few kernels on one thread, best of several runs (a development aid;
//! the figures in the README come from the criterion benches and the peer harness).
//!
//! ```text
//! taskset -c 0 cargo run --release -p sigmo-kernels --example speed -- [KERNEL…]
//! ```
use sigmo_kernels::{Isa, Kernels};
use std::time::Instant;

fn best(mut f: impl FnMut(), elems: usize) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..20 {
            f();
        }
        b = b.min(t.elapsed().as_secs_f64() / 20.0);
    }
    elems as f64 / b / 1e9
}

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let want = |n: &str| names.is_empty() || names.iter().any(|m| m == n);
    let k = Kernels::new(Isa::detect().unwrap()).unwrap();
    let n = 65536;
    let x: Vec<f32> = (0..n).map(|i| -20.0 + 40.0 * i as f32 / n as f32).collect();
    let sat: Vec<f32> = (0..n)
        .map(|i| (88.0 + 15.0 * i as f32 / n as f32) * if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let tiny: Vec<f32> = (0..n)
        .map(|i| -103.0 + 15.0 * i as f32 / n as f32)
        .collect();
    let mut y = vec![0.0f32; n];
    println!("tier {}", k.isa());
    if want("exp") {
        println!("exp      {:.2}", best(|| k.exp(&x, &mut y), n));
        println!("exp sub  {:.2}", best(|| k.exp(&tiny, &mut y), n));
    }
    if want("copy") {
        // The load/store ceiling of a map: one load and one store per register.
        println!("identity {:.2}", best(|| k.identity(&x, &mut y), n));
    }
    if want("sigmoid") {
        println!("sigmoid  {:.2}", best(|| k.sigmoid(&x, &mut y), n));
        println!("sig sat  {:.2}", best(|| k.sigmoid(&sat, &mut y), n));
    }
    if want("tanh") {
        println!("tanh     {:.2}", best(|| k.tanh(&x, &mut y), n));
    }
    for (r, c) in [(4096usize, 10usize), (1024, 128), (256, 1000)] {
        let m: Vec<f32> = (0..r * c)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 5.0)
            .collect();
        let mut o = vec![0.0f32; r * c];
        if want("softmax") {
            println!(
                "softmax {r}x{c} {:.2}",
                best(|| k.softmax_rows(&m, c, &mut o), r * c)
            );
        }
        if want("log_softmax") {
            println!(
                "log_softmax {r}x{c} {:.2}",
                best(|| k.log_softmax_rows(&m, c, &mut o), r * c)
            );
        }
    }
    if want("gemm") {
        // sigmo's engine against matrixmultiply on small products (flop rates, GFLOP/s).
        use sigmo_kernels::gemm::{sgemm_matrixmultiply, Gemm, Layout};
        for (m, kk, n, ta) in [
            (32usize, 64usize, 32usize, false),
            (32, 64, 256, false),
            (64, 32, 256, true),
            (256, 32, 10, true),
            (64, 32, 32, true),
            (32, 32, 10, false),
            (32, 10, 32, false),
            (64, 64, 64, false),
            (128, 64, 64, false),
            (64, 128, 128, false),
            (128, 128, 128, false),
            (128, 128, 128, true),
            (256, 256, 256, false),
            (128, 256, 10, false),
            (256, 128, 10, true),
            (1000, 64, 32, false),
            (128, 784, 512, false),
            (128, 512, 256, false),
            (784, 128, 512, true),
            (512, 128, 256, true),
            (64, 1000, 32, true),
            // Nielsen's 784-30-10 at batch 10: X·W₁, Xᵀ·δ₁, δ₂·W₂ᵀ's shapes.
            (10, 784, 30, false),
            (784, 10, 30, true),
            (10, 30, 10, false),
            (30, 10, 10, true),
        ] {
            let a: Vec<f32> = (0..m * kk).map(|i| (i % 13) as f32 * 0.1).collect();
            let b: Vec<f32> = (0..kk * n).map(|i| (i % 7) as f32 * 0.1).collect();
            let mut c = vec![0.0f32; m * n];
            let al = if ta {
                Layout::row_major(kk, m).t()
            } else {
                Layout::row_major(m, kk)
            };
            let (bl, cl) = (Layout::row_major(kk, n), Layout::row_major(m, n));
            let f = 2 * m * kk * n;
            let small = best(
                || {
                    k.sgemm(Gemm {
                        alpha: 1.0,
                        a: &a,
                        al,
                        b: &b,
                        bl,
                        beta: 0.0,
                        c: &mut c,
                        cl,
                    })
                    .unwrap()
                },
                f,
            );
            let mm = best(
                || {
                    sgemm_matrixmultiply(Gemm {
                        alpha: 1.0,
                        a: &a,
                        al,
                        b: &b,
                        bl,
                        beta: 0.0,
                        c: &mut c,
                        cl,
                    })
                    .unwrap()
                },
                f,
            );
            println!(
                "gemm {m}x{kk}x{n}{} sigmo {small:.1} mm {mm:.1}",
                if ta { " Aᵀ" } else { "" }
            );
        }
    }
}
