//! Sweeps every f32 input (or every k-th with `--step k`) through the unary kernels on every
//! tier this CPU runs, against the f64 references, and prints the max-ULP table in Markdown,
//! with the worst input and whether the FMA tiers matched `Scalar` to the bit.
//!
//! ```text
//! cargo run --release -p sigmo-kernels --example exhaustive -- [--step K] [--threads N] [KERNEL…]
//! ```
//! Kernels: exp, sigmoid, tanh, elu (default: all four).

use sigmo_kernels::{reference, Isa, Kernels};
use std::time::Instant;

type Kernel = fn(&Kernels, &[f32], &mut [f32]);
type Reference = fn(f32) -> f64;

fn table() -> Vec<(&'static str, Kernel, Reference)> {
    vec![
        ("exp", |k, x, y| k.exp(x, y), reference::exp),
        ("sigmoid", |k, x, y| k.sigmoid(x, y), reference::sigmoid),
        ("tanh", |k, x, y| k.tanh(x, y), reference::tanh),
        (
            "elu",
            |k, x, y| k.elu(x, y, 1.0),
            |x| reference::elu(x, 1.0),
        ),
    ]
}

#[derive(Clone, Copy, Default)]
struct Worst {
    ulp: f64,
    input: f32,
    mismatches: u64,
}

fn sweep(
    kern: Kernel,
    refer: Reference,
    tiers: &[Kernels],
    start: u64,
    end: u64,
    step: u64,
) -> Vec<Worst> {
    const CHUNK: usize = 1 << 16;
    let mut worst = vec![Worst::default(); tiers.len()];
    let mut x = Vec::with_capacity(CHUNK);
    let mut want = Vec::with_capacity(CHUNK);
    let mut outs = vec![vec![0.0f32; CHUNK]; tiers.len()];
    let mut b = start;
    while b < end {
        x.clear();
        while x.len() < CHUNK && b < end {
            x.push(f32::from_bits(b as u32));
            b += step;
        }
        want.clear();
        want.extend(x.iter().map(|&v| refer(v)));
        for (t, k) in tiers.iter().enumerate() {
            let y = &mut outs[t][..x.len()];
            kern(k, &x, y);
        }
        for (t, k) in tiers.iter().enumerate() {
            let w = &mut worst[t];
            for i in 0..x.len() {
                let e = reference::ulp_error(outs[t][i], want[i]);
                if e > w.ulp {
                    w.ulp = e;
                    w.input = x[i];
                }
                if k.isa().has_fma() && outs[t][i].to_bits() != outs[0][i].to_bits() {
                    w.mismatches += 1;
                }
            }
        }
    }
    worst
}

/// A positive integer option value, or exit with a message.
fn number(v: Option<String>, flag: &str) -> u64 {
    match v.and_then(|v| v.parse().ok()) {
        Some(n) => n,
        None => {
            eprintln!("exhaustive: {flag} needs a whole number");
            std::process::exit(2);
        }
    }
}

fn main() {
    let mut step = 1u64;
    let mut threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--step" => step = number(args.next(), "--step"),
            "--threads" => threads = number(args.next(), "--threads") as usize,
            _ => names.push(a),
        }
    }
    if step == 0 || threads == 0 {
        eprintln!("exhaustive: --step and --threads must be at least 1");
        std::process::exit(2);
    }
    let tiers: Vec<Kernels> = Isa::available()
        .into_iter()
        .map(|i| Kernels::new(i).unwrap())
        .collect();
    println!(
        "| kernel | {} | FMA tiers = scalar bits | inputs | seconds |",
        tiers
            .iter()
            .map(|k| format!("{} max ULP (at x)", k.isa()))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}---|---|---|", "---|".repeat(tiers.len()));
    for (name, kern, refer) in table() {
        if !names.is_empty() && !names.iter().any(|n| n == name) {
            continue;
        }
        let t0 = Instant::now();
        let total = 1u64 << 32;
        let per = (total / step).div_ceil(threads as u64) * step;
        let parts: Vec<Vec<Worst>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..threads as u64)
                .map(|i| {
                    let tiers = &tiers;
                    sc.spawn(move || {
                        sweep(
                            kern,
                            refer,
                            tiers,
                            i * per,
                            ((i + 1) * per).min(total),
                            step,
                        )
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut worst = vec![Worst::default(); tiers.len()];
        for p in parts {
            for (w, q) in worst.iter_mut().zip(p) {
                if q.ulp > w.ulp {
                    w.ulp = q.ulp;
                    w.input = q.input;
                }
                w.mismatches += q.mismatches;
            }
        }
        let bits = worst
            .iter()
            .zip(&tiers)
            .filter(|(_, k)| k.isa().has_fma())
            .map(|(w, _)| w.mismatches)
            .sum::<u64>();
        println!(
            "| {name} | {} | {} | {} | {:.0} |",
            worst
                .iter()
                .map(|w| format!("{:.3} ({:e})", w.ulp, w.input))
                .collect::<Vec<_>>()
                .join(" | "),
            if bits == 0 {
                "yes".to_string()
            } else {
                format!("no: {bits} differ")
            },
            total.div_ceil(step),
            t0.elapsed().as_secs_f64()
        );
    }
}
