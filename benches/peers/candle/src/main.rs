//! candle (candle-core + candle-nn, CPU) as the Rust peer: one measurement group per process,
//! started by `benches/peers/harness.py` with the protocol of `benches/peers/common.py`.
//!
//! ```text
//! peers-candle kernels CASES_DIR OUT.json [--reps R]
//! peers-candle train W OUT.json [--init INIT.f32] [--quick]
//! ```
//!
//! Kernels: `exp`, `candle_nn::ops::sigmoid`, `tanh`, `softmax_last_dim`, `log_softmax` over
//! the last dimension (each allocates its output: candle has no `out=`). Training: config W
//! (784-512-256-10 ReLU, softmax-CE, He init, batch 128) with SGD + momentum 0.9 and L2 1e-4
//! on the weights written by hand on its `Var`s (candle's own `SGD` has no momentum):
//! v ← μv + g + λw, w ← w − ηv, as PyTorch's SGD does. Threads: candle reads
//! `RAYON_NUM_THREADS`, which the harness sets.

use candle_core::{DType, Device, Tensor, Var, D};
use serde_json::{json, Value};
use std::io::Read;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn time(reps: usize, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed().as_secs_f64() < 0.05 || calls < 3 {
        f()?;
        calls += 1;
    }
    let per = start.elapsed().as_secs_f64() / calls as f64;
    let inner = ((0.02 / per).ceil() as usize).max(1);
    let mut t = Vec::new();
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        for _ in 0..inner {
            f()?;
        }
        t.push(s.elapsed().as_secs_f64() / inner as f64);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn read_f32(path: &str) -> Res<Vec<f32>> {
    let b = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn kernels(dir: &str, reps: usize) -> Res<Vec<Value>> {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/cases.json"))?)?;
    let out = format!("{dir}/out/candle");
    std::fs::create_dir_all(&out)?;
    let dev = Device::Cpu;
    let mut recs = Vec::new();
    for c in &cases {
        let s = |f: &str| c[f].as_str().unwrap_or_default().to_string();
        let (name, op) = (s("name"), s("op"));
        let rows = c["rows"].as_u64().unwrap_or(1) as usize;
        let cols = c["cols"].as_u64().unwrap_or(1) as usize;
        let x = read_f32(&s("file"))?;
        let t = Tensor::from_vec(x, (rows, cols), &dev)?;
        let f = |t: &Tensor| -> candle_core::Result<Tensor> {
            match op.as_str() {
                "exp" => t.exp(),
                "sigmoid" => candle_nn::ops::sigmoid(t),
                "tanh" => t.tanh(),
                "softmax_rows" => candle_nn::ops::softmax_last_dim(t),
                _ => candle_nn::ops::log_softmax(t, D::Minus1),
            }
        };
        let secs = time(reps, || {
            std::hint::black_box(f(&t)?);
            Ok(())
        })?;
        let y: Vec<f32> = f(&t)?.flatten_all()?.to_vec1()?;
        let bytes: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(format!("{out}/{}.f32", name.replace('/', "_")), bytes)?;
        recs.push(
            json!({"name": name, "impl": "candle", "threads": 1, "seconds": secs,
            "elements": rows * cols}),
        );
    }
    Ok(recs)
}

/// An IDX file (gzip or raw) as its bytes after the header, and its dimensions.
fn idx(path: &str) -> Res<(Vec<u8>, Vec<usize>)> {
    let raw = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let mut b = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut b)?;
    } else {
        b = raw;
    }
    let nd = b[3] as usize;
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            u32::from_be_bytes([b[4 + 4 * i], b[5 + 4 * i], b[6 + 4 * i], b[7 + 4 * i]]) as usize
        })
        .collect();
    Ok((b[4 + 4 * nd..].to_vec(), dims))
}

fn fashion(dev: &Device) -> Res<(Tensor, Tensor, Tensor, Tensor)> {
    let d = "/usr/share/datasets/fashion-mnist";
    let images = |f: &str| -> Res<Tensor> {
        let (b, dims) = idx(&format!("{d}/{f}"))?;
        let x: Vec<f32> = b.iter().map(|&p| p as f32 / 255.0).collect();
        Ok(Tensor::from_vec(x, (dims[0], 784), dev)?)
    };
    let labels = |f: &str| -> Res<Tensor> {
        let (b, dims) = idx(&format!("{d}/{f}"))?;
        let y: Vec<u32> = b.iter().map(|&l| l as u32).collect();
        Ok(Tensor::from_vec(y, dims[0], dev)?)
    };
    Ok((
        images("train-images-idx3-ubyte.gz")?,
        labels("train-labels-idx1-ubyte.gz")?,
        images("t10k-images-idx3-ubyte.gz")?,
        labels("t10k-labels-idx1-ubyte.gz")?,
    ))
}

/// SplitMix64: the batch order and the initialisation, seeded.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn train_w(init: Option<&String>, quick: bool) -> Res<Vec<Value>> {
    let dev = Device::Cpu;
    let (xtr, ytr, xte, yte) = fashion(&dev)?;
    let n = ytr.dims1()?;
    let sizes = [784usize, 512, 256, 10];
    let mut rng = Rng(0);
    // The harness's initial parameters (per layer: weights fan_in × fan_out, then biases),
    // or He normal from the seeded generator.
    let flat = init.map(|p| read_f32(p)).transpose()?;
    let mut at = 0;
    let mut ws = Vec::new();
    let mut bs = Vec::new();
    for l in sizes.windows(2) {
        let std = (2.0 / l[0] as f64).sqrt();
        let (w, b): (Vec<f32>, Vec<f32>) = match &flat {
            Some(f) => {
                let (nw, nb) = (l[0] * l[1], l[1]);
                let part = f.get(at..at + nw + nb).ok_or("init file too short")?;
                at += nw + nb;
                (part[..nw].to_vec(), part[nw..].to_vec())
            }
            None => (
                (0..l[0] * l[1])
                    .map(|_| (rng.normal() * std) as f32)
                    .collect(),
                vec![0.0; l[1]],
            ),
        };
        ws.push(Var::from_tensor(&Tensor::from_vec(w, (l[0], l[1]), &dev)?)?);
        bs.push(Var::from_tensor(&Tensor::from_vec(b, l[1], &dev)?)?);
    }
    if flat.as_ref().is_some_and(|f| f.len() != at) {
        return Err("init file does not match 784-512-256-10".into());
    }
    let forward = |x: &Tensor, ws: &[Var], bs: &[Var]| -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (i, (w, b)) in ws.iter().zip(bs).enumerate() {
            h = h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            if i + 1 < ws.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    };
    let (lr, mu, l2, batch) = (0.05f64, 0.9f64, 1e-4f64, 128usize);
    let mut vw: Vec<Tensor> = ws
        .iter()
        .map(|w| w.zeros_like())
        .collect::<Result<_, _>>()?;
    let mut vb: Vec<Tensor> = bs
        .iter()
        .map(|b| b.zeros_like())
        .collect::<Result<_, _>>()?;
    let epochs = if quick { 2 } else { 5 };
    let mut secs = Vec::new();
    for _ in 0..epochs {
        let mut perm: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            perm.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let t = Instant::now();
        for chunk in perm.chunks(batch) {
            let ix = Tensor::from_slice(chunk, chunk.len(), &dev)?;
            let (x, y) = (xtr.index_select(&ix, 0)?, ytr.index_select(&ix, 0)?);
            let loss = candle_nn::loss::cross_entropy(&forward(&x, &ws, &bs)?, &y)?;
            let grads = loss.backward()?;
            // The update outside the graph (detached), as candle's own SGD does: otherwise
            // each velocity would keep every earlier step's graph alive.
            for (i, w) in ws.iter().enumerate() {
                let g = grads.get(w).ok_or("no gradient for a weight")?;
                let wt = w.as_detached_tensor();
                vw[i] = ((&vw[i] * mu)? + g)?.add(&(&wt * l2)?)?.detach();
                w.set(&(&wt - (&vw[i] * lr)?)?)?;
            }
            for (i, b) in bs.iter().enumerate() {
                let g = grads.get(b).ok_or("no gradient for a bias")?;
                vb[i] = ((&vb[i] * mu)? + g)?.detach();
                b.set(&(b.as_detached_tensor() - (&vb[i] * lr)?)?)?;
            }
        }
        secs.push(t.elapsed().as_secs_f64());
    }
    let pred = forward(&xte, &ws, &bs)?.argmax(D::Minus1)?;
    let acc = pred
        .eq(&yte)?
        .to_dtype(DType::F32)?
        .mean_all()?
        .to_scalar::<f32>()? as f64;
    let mut use_: Vec<f64> = if secs.len() > 1 {
        secs[1..].to_vec()
    } else {
        secs.clone()
    };
    use_.sort_by(f64::total_cmp);
    let med = if use_.len() % 2 == 1 {
        use_[use_.len() / 2]
    } else {
        (use_[use_.len() / 2 - 1] + use_[use_.len() / 2]) / 2.0
    };
    let threads = candle_core::utils::get_num_threads();
    let rate = n as f64 / med;
    eprintln!("W candle {threads} thread(s): {rate:.0} samples/s, test accuracy {acc:.4}");
    Ok(vec![
        json!({"name": "W", "impl": "candle", "threads": threads, "samples_per_s": rate,
        "accuracy": acc, "epochs": epochs, "epoch_seconds": secs}),
    ])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: peers-candle kernels CASES_DIR OUT.json [--reps R] | peers-candle train W OUT.json [--init F] [--quick]";
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(11);
    let r = match (args.first().map(String::as_str), args.get(1), args.get(2)) {
        (Some("kernels"), Some(dir), Some(out)) => kernels(dir, reps).map(|r| (r, out)),
        (Some("train"), Some(w), Some(out)) if w == "W" => {
            let init = args
                .iter()
                .position(|a| a == "--init")
                .and_then(|i| args.get(i + 1));
            train_w(init, args.iter().any(|a| a == "--quick")).map(|r| (r, out))
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    match r {
        Ok((recs, out)) => {
            let doc = json!({"version": "candle 0.11.1", "results": recs});
            if let Err(e) = std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()) {
                eprintln!("peers-candle: {out}: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("peers-candle: {e}");
            std::process::exit(1);
        }
    }
}
