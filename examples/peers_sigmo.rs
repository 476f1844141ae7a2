//! sigmo's side of the peer comparison (`benches/peers/run.sh` runs it, then the peers'
//! side): the kernels exp, sigmoid, tanh and row softmax on one thread, and the two training
//! configurations on two threads, timed with the same protocol as `benches/peers/peers.py`
//! (warm-up, then the median of several repetitions), written as JSON.
//!
//! ```text
//! cargo run --release --features openblas --example peers_sigmo -- OUT.json [--quick]
//! ```

use serde_json::{json, Value};
use sigmo::data;
use sigmo::gemm::Backend;
use sigmo::kernels::{reference, Activation, Kernels};
use sigmo::nn::{Mlp, Optimizer, OutputActivation};
use sigmo::train::{fit, TrainConfig};
use std::time::Instant;

/// Seconds per call of `f`: a warm-up, then `reps` timings of enough calls to last ≥ 20 ms;
/// the median.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed().as_secs_f64() < 0.05 || calls < 3 {
        f();
        calls += 1;
    }
    let per = start.elapsed().as_secs_f64() / calls as f64;
    let inner = ((0.02 / per).ceil() as usize).max(1);
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..inner {
                f();
            }
            s.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn inputs(n: usize) -> Vec<f32> {
    // The same values as peers.py: a ramp over [-10, 10).
    (0..n).map(|i| -10.0 + 20.0 * i as f32 / n as f32).collect()
}

const SIZES: [usize; 3] = [4096, 65536, 1 << 20];
const SOFTMAX: [(usize, usize); 3] = [(4096, 10), (1024, 128), (256, 1000)];

fn kernels(reps: usize, out: &mut Vec<Value>) {
    sigmo::set_num_threads(1);
    let k = Kernels::best();
    for n in SIZES {
        let x = inputs(n);
        let mut y = vec![0.0f32; n];
        for op in ["exp", "sigmoid", "tanh"] {
            let s = time(reps, || match op {
                "exp" => k.exp(&x, &mut y),
                "sigmoid" => k.sigmoid(&x, &mut y),
                _ => k.tanh(&x, &mut y),
            });
            // The largest error over these inputs, in ULP against f64 (as peers.py measures).
            let want = |v: f32| match op {
                "exp" => reference::exp(v),
                "sigmoid" => reference::sigmoid(v),
                _ => reference::tanh(v),
            };
            let ulp = x
                .iter()
                .zip(&y)
                .map(|(&v, &got)| reference::ulp_error(got, want(v)))
                .fold(0.0f64, f64::max);
            out.push(json!({"kind": "kernel", "op": op, "n": n, "impl": "sigmo",
                "threads": 1, "seconds": s, "gelem_per_s": n as f64 / s / 1e9,
                "max_ulp": ulp}));
        }
    }
    for (rows, cols) in SOFTMAX {
        let x = inputs(rows * cols);
        let mut y = vec![0.0f32; rows * cols];
        let s = time(reps, || k.softmax_rows(&x, cols, &mut y));
        let ulp = x
            .chunks(cols)
            .zip(y.chunks(cols))
            .flat_map(|(xr, yr)| {
                let want = reference::softmax(xr);
                yr.iter()
                    .zip(want)
                    .map(|(&g, w)| reference::ulp_error(g, w))
                    .collect::<Vec<_>>()
            })
            .fold(0.0f64, f64::max);
        out.push(
            json!({"kind": "kernel", "op": "softmax_rows", "n": rows * cols,
            "rows": rows, "cols": cols, "impl": "sigmo", "threads": 1, "seconds": s,
            "gelem_per_s": (rows * cols) as f64 / s / 1e9, "max_ulp": ulp}),
        );
    }
    eprintln!("sigmo kernels: {} timings", out.len());
}

fn train(quick: bool, out: &mut Vec<Value>) {
    let threads = 2;
    sigmo::set_num_threads(threads);
    let mut configs = vec![(
        "digits",
        data::digits(),
        vec![64, 256, 10],
        TrainConfig {
            epochs: if quick { 5 } else { 30 },
            batch_size: 32,
            optimizer: Optimizer::adam(0.001),
            threads,
            ..TrainConfig::default()
        },
    )];
    match data::fashion_mnist(None) {
        Ok(f) => configs.push((
            "fashion",
            f,
            vec![784, 512, 256, 10],
            TrainConfig {
                epochs: if quick { 1 } else { 5 },
                batch_size: 128,
                optimizer: Optimizer::sgd(0.05, 0.9),
                l2: 1e-4,
                threads,
                ..TrainConfig::default()
            },
        )),
        Err(e) => eprintln!("fashion skipped: {e}"),
    }
    for (name, split, layers, cfg) in configs {
        for be in Backend::available() {
            let mut net = Mlp::builder(&layers)
                .hidden(Activation::Relu)
                .output(OutputActivation::Softmax)
                .seed(0)
                .build()
                .expect("a valid network");
            let cfg = TrainConfig {
                backend: be,
                ..cfg.clone()
            };
            let h = fit(&mut net, &split.train, Some(&split.test), &cfg, &mut ()).expect("trains");
            let mut secs: Vec<f64> = h.epochs.iter().map(|e| e.seconds).collect();
            secs.sort_by(f64::total_cmp);
            let med = secs[secs.len() / 2];
            let last = h.last().expect("at least one epoch");
            let imp = format!("sigmo ({be})");
            eprintln!(
                "{name} {imp}: {:.0} samples/s, test accuracy {:.4}",
                split.train.len() as f64 / med,
                last.test_accuracy.unwrap_or(f64::NAN)
            );
            out.push(
                json!({"kind": "train", "config": name, "impl": imp, "threads": threads,
                "epochs": cfg.epochs, "epoch_seconds": med,
                "samples_per_s": split.train.len() as f64 / med,
                "test_accuracy": last.test_accuracy}),
            );
        }
    }
}

fn main() {
    sigmo::openblas::ensure_kernels();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "sigmo.json".into());
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 11 };
    let mut results = Vec::new();
    kernels(reps, &mut results);
    train(quick, &mut results);
    #[cfg(feature = "openblas")]
    let core = Some(sigmo::kernels::gemm::openblas::corename());
    #[cfg(not(feature = "openblas"))]
    let core: Option<String> = None;
    let doc = json!({"side": "sigmo", "version": env!("CARGO_PKG_VERSION"),
        "kernels": Kernels::best().isa().name(), "openblas_core": core,
        "results": results});
    let text = serde_json::to_string_pretty(&doc).expect("JSON");
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("peers_sigmo: {path}: {e}");
        std::process::exit(1);
    }
    eprintln!("wrote {path}");
}
