//! sigmo's side of the peer comparison: one measurement group per process, as every peer
//! (`benches/peers/harness.py` starts it, with the thread variables set for this process
//! only, pinned to one core for one-thread runs).
//!
//! ```text
//! peers_sigmo kernels CASES_DIR OUT.json [--reps R]
//! peers_sigmo train W|N|digits OUT.json --threads T --backend sigmo|matrixmultiply|openblas
//!     [--init INIT.f32] [--quick]
//! ```
//!
//! `kernels` times every case of `CASES_DIR/cases.json` (inputs written by the harness, the
//! same arrays every side reads) on one thread with the protocol of `benches/peers/common.py`
//! (warm-up, then the median of R timings of loops lasting ≥ 20 ms), and writes each output
//! to `CASES_DIR/out/sigmo/` for the harness's one f64 check of every side. `train` runs
//! `sigmo::train::fit` on one configuration of `common.py`'s `CONFIGS` and reports the
//! samples/s of the median epoch (the first left out) and the final test accuracy. `--init`
//! loads the initial parameters every side starts from (written by the harness: per layer,
//! the fan_in × fan_out weights row-major, then the biases, f32 little-endian).

use serde_json::{json, Value};
use sigmo::data;
use sigmo::gemm::Backend;
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Init, Loss, Mlp, Optimizer, OutputActivation};
use sigmo::train::{evaluate, fit, TrainConfig};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Seconds per call of `f`: a warm-up (≥ 50 ms and 3 calls), then the median of `reps`
/// timings of enough calls to last ≥ 20 ms.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed().as_secs_f64() < 0.05 || calls < 3 {
        f();
        calls += 1;
    }
    let per = start.elapsed().as_secs_f64() / calls as f64;
    let inner = ((0.02 / per).ceil() as usize).max(1);
    let mut t: Vec<f64> = (0..reps.max(1))
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

fn read_f32(path: &str) -> Result<Vec<f32>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn write_f32(path: &Path, y: &[f32]) -> Result<(), String> {
    let b: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, b).map_err(|e| format!("{}: {e}", path.display()))
}

fn kernels(dir: &str, reps: usize) -> Result<Vec<Value>, String> {
    sigmo::set_num_threads(1);
    let k = Kernels::try_best().map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(Path::new(dir).join("cases.json"))
        .map_err(|e| format!("{dir}/cases.json: {e}"))?;
    let cases: Vec<Value> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let out = Path::new(dir).join("out").join("sigmo");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut recs = Vec::new();
    for c in &cases {
        let field = |f: &str| c[f].as_str().unwrap_or_default().to_string();
        let (name, op, file) = (field("name"), field("op"), field("file"));
        let cols = c["cols"].as_u64().unwrap_or(1) as usize;
        let x = read_f32(&file)?;
        let mut y = vec![0.0f32; x.len()];
        let s = match op.as_str() {
            "exp" => time(reps, || k.exp(&x, &mut y)),
            "sigmoid" => time(reps, || k.sigmoid(&x, &mut y)),
            "tanh" => time(reps, || k.tanh(&x, &mut y)),
            "softmax_rows" => time(reps, || k.softmax_rows(&x, cols, &mut y)),
            "log_softmax_rows" => time(reps, || k.log_softmax_rows(&x, cols, &mut y)),
            other => return Err(format!("unknown kernel {other}")),
        };
        write_f32(&out.join(name.replace('/', "_") + ".f32"), &y)?;
        recs.push(
            json!({"name": name, "impl": "sigmo", "threads": 1, "seconds": s,
            "elements": x.len()}),
        );
    }
    Ok(recs)
}

/// The configuration `name` of `benches/peers/common.py`: the network and the settings.
fn config(name: &str, quick: bool) -> Result<(Mlp, TrainConfig, data::Split), String> {
    let e = |q: usize, full: usize| if quick { q } else { full };
    let fashion = || data::fashion_mnist(None).map_err(|e| e.to_string());
    let relu = |sizes: &[usize]| {
        Mlp::builder(sizes)
            .hidden(Activation::Relu)
            .output(OutputActivation::Softmax)
            .init(Init::He)
            .seed(0)
            .build()
    };
    let (net, cfg, split) = match name {
        "W" => (
            relu(&[784, 512, 256, 10]),
            TrainConfig {
                epochs: e(2, 5),
                batch_size: 128,
                optimizer: Optimizer::sgd(0.05, 0.9),
                l2: 1e-4,
                ..TrainConfig::new(Kernels::best())
            },
            fashion()?,
        ),
        "N" => (
            // Nielsen's network: sigmoid everywhere, N(0, 1) weights and biases.
            Mlp::new(&[784, 30, 10]),
            TrainConfig {
                epochs: e(2, 3),
                batch_size: 10,
                optimizer: Optimizer::sgd(3.0, 0.0),
                loss: Loss::Quadratic,
                ..TrainConfig::new(Kernels::best())
            },
            fashion()?,
        ),
        "digits" => (
            relu(&[64, 256, 10]),
            TrainConfig {
                epochs: e(5, 30),
                batch_size: 32,
                optimizer: Optimizer::adam(0.001),
                ..TrainConfig::new(Kernels::best())
            },
            data::digits(),
        ),
        other => return Err(format!("unknown configuration {other}")),
    };
    Ok((net.map_err(|e| e.to_string())?, cfg, split))
}

/// Overwrites the network's parameters with those of `path` (layer by layer: weights, biases).
fn load_init(net: &mut Mlp, path: &str) -> Result<(), String> {
    let flat = read_f32(path)?;
    let mut at = 0;
    let mut take = |dst: &mut [f32]| -> Result<(), String> {
        let src = flat
            .get(at..at + dst.len())
            .ok_or_else(|| format!("{path}: too few values for this network"))?;
        dst.copy_from_slice(src);
        at += dst.len();
        Ok(())
    };
    for l in 0..net.depth() {
        take(net.weights_mut(l))?;
        take(net.biases_mut(l))?;
    }
    if at != flat.len() {
        return Err(format!(
            "{path}: {} values, the network has {at}",
            flat.len()
        ));
    }
    Ok(())
}

fn train(
    name: &str,
    threads: usize,
    backend: &str,
    init: Option<&str>,
    quick: bool,
) -> Result<Vec<Value>, String> {
    let backend = Backend::available()
        .into_iter()
        .find(|b| b.name() == backend)
        .ok_or_else(|| format!("backend {backend} is not compiled in"))?;
    sigmo::set_num_threads(threads);
    let (mut net, cfg, split) = config(name, quick)?;
    if let Some(path) = init {
        load_init(&mut net, path)?;
    }
    let cfg = TrainConfig {
        threads,
        backend,
        ..cfg
    };
    let h = fit(&mut net, &split.train, None, &cfg, &mut ()).map_err(|e| e.to_string())?;
    let mut secs: Vec<f64> = h.epochs.iter().map(|e| e.seconds).collect();
    let all = secs.clone();
    if secs.len() > 1 {
        secs.remove(0);
    }
    secs.sort_by(f64::total_cmp);
    let med = if secs.len() % 2 == 1 {
        secs[secs.len() / 2]
    } else {
        (secs[secs.len() / 2 - 1] + secs[secs.len() / 2]) / 2.0
    };
    let (_, acc) = evaluate(
        &net,
        &split.test,
        cfg.loss,
        threads,
        backend,
        Kernels::best(),
    )
    .map_err(|e| e.to_string())?;
    let rate = split.train.len() as f64 / med;
    // "sigmo" is the trainer's default backend, sigmo's own engine.
    let imp = if backend == Backend::Sigmo {
        "sigmo".to_string()
    } else {
        format!("sigmo-{}", backend.name())
    };
    eprintln!("{name} {imp} {threads} thread(s): {rate:.0} samples/s, test accuracy {acc:.4}");
    Ok(vec![
        json!({"name": name, "impl": imp, "threads": threads, "samples_per_s": rate,
        "accuracy": acc, "epochs": cfg.epochs, "epoch_seconds": all}),
    ])
}

fn run(args: &[String]) -> Result<(), String> {
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let pos: Vec<&String> = {
        let mut v = Vec::new();
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--quick" {
                i += 1;
            } else if args[i].starts_with("--") {
                i += 2;
            } else {
                v.push(&args[i]);
                i += 1;
            }
        }
        v
    };
    let usage = "usage: peers_sigmo kernels CASES_DIR OUT.json [--reps R] | \
                 peers_sigmo train CONFIG OUT.json --threads T --backend B [--init F] [--quick]";
    let (what, a, out) = match pos.as_slice() {
        [w, a, o] => (w.as_str(), a.as_str(), o.as_str()),
        _ => return Err(usage.into()),
    };
    let recs = match what {
        "kernels" => {
            let reps = flag("--reps").map_or(Ok(11), |r| r.parse().map_err(|_| usage))?;
            kernels(a, reps)?
        }
        "train" => {
            let threads = flag("--threads").map_or(Ok(1), |t| t.parse().map_err(|_| usage))?;
            let backend = flag("--backend").unwrap_or_else(|| "matrixmultiply".into());
            let init = flag("--init");
            let quick = args.iter().any(|a| a == "--quick");
            train(a, threads, &backend, init.as_deref(), quick)?
        }
        _ => return Err(usage.into()),
    };
    #[cfg(feature = "openblas")]
    let core = Some(sigmo::kernels::gemm::openblas::corename());
    #[cfg(not(feature = "openblas"))]
    let core: Option<String> = None;
    let isa = Kernels::try_best().map_err(|e| e.to_string())?.isa();
    let doc = json!({"version": format!("sigmo {} ({} kernels, OpenBLAS core {})",
            env!("CARGO_PKG_VERSION"), isa.name(), core.as_deref().unwrap_or("-")),
        "results": recs});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(out, text).map_err(|e| format!("{out}: {e}"))
}

fn main() -> ExitCode {
    sigmo::openblas::ensure_kernels();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers_sigmo: {e}");
            ExitCode::FAILURE
        }
    }
}
