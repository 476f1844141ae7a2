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
}
