//! Checkpoints: everything a training run needs to continue exactly where it stopped.
//!
//! A checkpoint holds the network, the optimizer's state (SGD's velocity; Adam's two moments
//! and its step count), the weights from before the last step (the last good model a
//! divergence in the next batch goes back to), the batch order and the position of the RNG that shuffles it, the
//! epochs done, the settings ([`TrainConfig`], with the thread count and the kernel tier
//! resolved), the identity of the data (name, size and a fingerprint of every sample of the
//! training and test sets), the history so far, and the caller's own annotations
//! ([`Checkpoint::meta`]). [`crate::train::fit_from`] writes one after every epoch and continues
//! from one; a run resumed any number of times ends with the same bits as one never stopped.
//!
//! The file: the magic `SIGMOCKP`, the version of sigmo that wrote it (a checkpoint from
//! another version is refused: its layout or its arithmetic may differ), the length and the
//! FNV-1a-64 checksum of the body, then the body: a JSON header (settings, shapes, history)
//! and the tensors, little-endian. It is written atomically ([`crate::atomic::write`]) and
//! read only from a regular file, whose length bounds every allocation of the reader.
//!
//! ```
//! use sigmo::kernels::{Activation, Kernels};
//! use sigmo::nn::{Mlp, Optimizer, OutputActivation};
//! use sigmo::train::{fit, fit_from, Checkpoint, Checkpointing, TrainConfig};
//!
//! let split = sigmo::data::digits();
//! let net = || {
//!     Mlp::builder(&[64, 16, 10]).hidden(Activation::Relu)
//!         .output(OutputActivation::Softmax).seed(3).build()
//! };
//! let cfg = |epochs| TrainConfig { epochs, optimizer: Optimizer::adam(0.01), threads: 1,
//!                                  ..TrainConfig::new(Kernels::best()) };
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("run.ckpt");
//!
//! // Two epochs of four, checkpointed: the file holds the state after the second.
//! let mut a = net()?;
//! fit_from(&mut a, &split.train, Some(&split.test), &cfg(2),
//!          &Checkpointing { to: Some(&file), ..Checkpointing::default() }, &mut ())?;
//! // Later, in another process perhaps: continue to the fourth.
//! let ck = Checkpoint::load(&file)?;
//! assert_eq!(ck.epochs_done(), 2);
//! let mut b = ck.network().clone();
//! let h = fit_from(&mut b, &split.train, Some(&split.test), &cfg(4),
//!                  &Checkpointing { from: Some(&ck), ..Checkpointing::default() }, &mut ())?;
//! assert_eq!(h.epochs.len(), 4);
//!
//! // The same bits as four epochs in one go.
//! let mut c = net()?;
//! fit(&mut c, &split.train, Some(&split.test), &cfg(4), &mut ())?;
//! assert_eq!(b.parameters(), c.parameters());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::data::{Batches, Dataset};
use crate::gemm::Backend;
use crate::kernels::{Activation, Isa, Kernels};
use crate::nn::{Loss, Mlp, Optimizer, OptimizerState, OutputActivation};
use crate::train::{EpochStats, History, Schedule, TrainConfig, TrainError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The first eight bytes of every checkpoint file.
pub const MAGIC: &[u8; 8] = b"SIGMOCKP";

/// The `format` of the JSON header.
pub const FORMAT: &str = "sigmo-checkpoint/1";

/// The version of sigmo that writes (and the only one that reads) checkpoints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The name of the checkpoint file inside the folder `sigmo train --checkpoint DIR` names.
pub const FILE_NAME: &str = "checkpoint.sigmo";

/// The largest checkpoint file [`Checkpoint::load`] reads: 64 GiB.
pub const MAX_BYTES: u64 = 1 << 36;

/// The largest JSON header [`Checkpoint::load`] parses: 64 MiB (the history of a million
/// epochs fits).
pub const MAX_HEADER_BYTES: u64 = 1 << 26;

/// The checkpoint file inside folder `dir`: `dir/`[`FILE_NAME`].
pub fn file_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// What identifies a data set in a checkpoint: its name (as given at load; informative
/// only), its sizes and a fingerprint of its features and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataId {
    /// [`Dataset::name`].
    pub name: String,
    /// The number of samples.
    pub len: usize,
    /// Features per sample.
    pub dim: usize,
    /// The number of classes.
    pub classes: usize,
    /// FNV-1a-64 of every feature's bits and every label, in order.
    pub fingerprint: u64,
}

impl DataId {
    /// The identity of `d` (one pass over its samples).
    pub fn of(d: &Dataset) -> DataId {
        let mut h = Fnv::new();
        for f in d.features() {
            h.bytes(&f.to_bits().to_le_bytes());
        }
        h.bytes(d.labels());
        DataId {
            name: d.name().to_string(),
            len: d.len(),
            dim: d.dim(),
            classes: d.classes(),
            fingerprint: h.0,
        }
    }

    /// Whether `other` is the same data (the names may differ: a file may have moved).
    pub fn same_data(&self, other: &DataId) -> bool {
        (self.len, self.dim, self.classes, self.fingerprint)
            == (other.len, other.dim, other.classes, other.fingerprint)
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "len": self.len,
            "dim": self.dim,
            "classes": self.classes,
            "fingerprint": format!("{:016x}", self.fingerprint),
        })
    }

    fn from_json(v: &Value, what: &str) -> Result<DataId, String> {
        let o = obj(v, what)?;
        Ok(DataId {
            name: string(o, "name", what)?.to_string(),
            len: uint(o, "len", what)?,
            dim: uint(o, "dim", what)?,
            classes: uint(o, "classes", what)?,
            fingerprint: u64::from_str_radix(string(o, "fingerprint", what)?, 16)
                .map_err(|e| format!("{what}.fingerprint: {e}"))?,
        })
    }
}

impl std::fmt::Display for DataId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} samples of {} features, {} classes, fingerprint {:016x})",
            self.name, self.len, self.dim, self.classes, self.fingerprint
        )
    }
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// FNV-1a-64 of `bytes`: the checksum a checkpoint file carries of its body.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.bytes(bytes);
    h.0
}

/// Everything a training run needs to continue: see the [module](self) documentation.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub(crate) net: Mlp,
    pub(crate) config: TrainConfig,
    pub(crate) isa: Isa,
    pub(crate) steps: u64,
    pub(crate) m: Vec<f32>,
    pub(crate) v: Vec<f32>,
    /// The weights before the last step (the trainer's last good model), once a step was
    /// taken.
    pub(crate) good: Option<Mlp>,
    pub(crate) order: Vec<usize>,
    pub(crate) word_pos: u128,
    pub(crate) history: History,
    pub(crate) train: DataId,
    pub(crate) test: Option<DataId>,
    pub(crate) meta: BTreeMap<String, String>,
}

/// What [`crate::train::fit_from`] continues from and where it writes checkpoints.
#[derive(Clone, Debug, Default)]
pub struct Checkpointing<'a> {
    /// Continue from this checkpoint (the network given to `fit_from` must have its
    /// architecture, and is overwritten with its weights); `None`: a fresh run.
    pub from: Option<&'a Checkpoint>,
    /// Write a checkpoint to this file after every epoch (atomically: the file always holds
    /// the last complete one); `None`: none.
    pub to: Option<&'a Path>,
    /// The caller's annotations, stored in every checkpoint written (see
    /// [`Checkpoint::meta`]); the `sigmo` command keeps its data options here.
    pub meta: BTreeMap<String, String>,
}

/// The parts of a checkpoint, borrowed: what the trainer has at the end of an epoch.
pub(crate) struct Parts<'a> {
    pub net: &'a Mlp,
    pub config: &'a TrainConfig,
    pub isa: Isa,
    pub opt: (u64, &'a [f32], &'a [f32]),
    pub good: Option<&'a Mlp>,
    pub order: &'a Batches,
    pub history: &'a History,
    pub train: &'a DataId,
    pub test: Option<&'a DataId>,
    pub meta: &'a BTreeMap<String, String>,
}

impl Checkpoint {
    /// The network at the end of the last epoch done.
    pub fn network(&self) -> &Mlp {
        &self.net
    }

    /// The settings of the run, `epochs` being the total it was to train; the thread count
    /// is the one it ran with (never 0), and `kernels` the tier it ran at (the scalar tier
    /// when this CPU cannot run that one: [`Checkpoint::isa`] is always the tier it ran at).
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The kernel tier the run trained at.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The epochs done (the length of [`history`](Self::history)).
    pub fn epochs_done(&self) -> usize {
        self.history.epochs.len()
    }

    /// Every epoch's statistics so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The optimizer steps taken (batches trained).
    pub fn optimizer_steps(&self) -> u64 {
        self.steps
    }

    /// The training set's identity.
    pub fn train_data(&self) -> &DataId {
        &self.train
    }

    /// The test set's identity, if the run had one.
    pub fn test_data(&self) -> Option<&DataId> {
        self.test.as_ref()
    }

    /// The annotations the run was given ([`Checkpointing::meta`]).
    pub fn meta(&self) -> &BTreeMap<String, String> {
        &self.meta
    }

    /// The optimizer state, for the trainer.
    pub(crate) fn optimizer_state(
        &self,
        net: &Mlp,
        k: Kernels,
    ) -> Result<OptimizerState, TrainError> {
        OptimizerState::restore(
            self.config.optimizer,
            self.config.l2,
            net,
            k,
            self.steps,
            self.m.clone(),
            self.v.clone(),
        )
        .map_err(|e| TrainError::Checkpoint(e.to_string()))
    }

    /// The batch order and its RNG, for the trainer.
    pub(crate) fn batches(&self) -> Result<Batches, TrainError> {
        Batches::restore(self.order.clone(), self.config.seed, self.word_pos)
            .map_err(TrainError::Checkpoint)
    }

    /// Writes the checkpoint to `path`, atomically (see [`crate::atomic::write`]).
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] when it cannot be encoded or written; `path` is then
    /// unchanged.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let err = |e: String| TrainError::Checkpoint(format!("{}: {e}", path.display()));
        let order = self.batches()?;
        let bytes = encode(&Parts {
            net: &self.net,
            config: &self.config,
            isa: self.isa,
            opt: (self.steps, &self.m, &self.v),
            good: self.good.as_ref(),
            order: &order,
            history: &self.history,
            train: &self.train,
            test: self.test.as_ref(),
            meta: &self.meta,
        })
        .map_err(err)?;
        crate::atomic::write(path, &bytes).map_err(err)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`] or the trainer.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`], one line naming the file, when it cannot be read, is not a
    /// regular file, is not a sigmo checkpoint, was written by another version of sigmo, is
    /// truncated, fails its checksum, or its contents do not agree with each other.
    pub fn load(path: &Path) -> Result<Checkpoint, TrainError> {
        let err = |e: String| TrainError::Checkpoint(format!("{}: {e}", path.display()));
        let bytes = crate::atomic::read_regular(path, MAX_BYTES).map_err(err)?;
        decode(&bytes).map_err(err)
    }

    /// Reads a checkpoint from the bytes of a checkpoint file, as [`Checkpoint::load`] does
    /// from the file (which it reads whole, then decodes with this): the same checks, the
    /// error without a file name. Every allocation is bounded by `bytes.len()`.
    ///
    /// # Errors
    /// As [`Checkpoint::load`], but for reading the file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, TrainError> {
        decode(bytes).map_err(TrainError::Checkpoint)
    }
}

fn f32s(x: f32) -> Value {
    // Rust prints the shortest decimal that parses back to the same f32: exact.
    Value::String(x.to_string())
}

fn f64s(x: f64) -> Value {
    Value::String(x.to_string())
}

fn act_name(a: &Activation) -> String {
    match a {
        Activation::LeakyRelu(al) | Activation::Elu(al) => format!("{}={al}", a.name()),
        _ => a.name().to_string(),
    }
}

fn output_name(o: &OutputActivation) -> String {
    match o {
        OutputActivation::Softmax => "softmax".into(),
        OutputActivation::Elementwise(a) => act_name(a),
    }
}

fn optimizer_json(o: &Optimizer) -> Value {
    match *o {
        Optimizer::Sgd { lr, momentum } => {
            json!({"name": "sgd", "lr": f32s(lr), "momentum": f32s(momentum)})
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => json!({"name": "adam", "lr": f32s(lr), "beta1": f32s(beta1),
                     "beta2": f32s(beta2), "eps": f32s(eps)}),
    }
}

fn stats_json(e: &EpochStats) -> Value {
    json!({
        "epoch": e.epoch,
        "loss": f64s(e.loss),
        "train_accuracy": f64s(e.train_accuracy),
        "test_accuracy": e.test_accuracy.map(f64s),
        "test_loss": e.test_loss.map(f64s),
        "seconds": f64s(e.seconds),
        "samples_per_sec": f64s(e.samples_per_sec),
        "eval_seconds": f64s(e.eval_seconds),
    })
}

/// The bytes of a checkpoint file.
pub(crate) fn encode(p: &Parts<'_>) -> Result<Vec<u8>, String> {
    let c = p.config;
    let (steps, m, v) = p.opt;
    let net = p.net;
    let order = p.order.order();
    let header = json!({
        "format": FORMAT,
        "sigmo": VERSION,
        "epochs_done": p.history.epochs.len(),
        "config": {
            "epochs": c.epochs,
            "batch_size": c.batch_size,
            "optimizer": optimizer_json(&c.optimizer),
            "schedule": c.schedule.name(),
            "l2": f32s(c.l2),
            "dropout": c.dropout.iter().map(|&p| f32s(p)).collect::<Vec<_>>(),
            "input_noise": f32s(c.input_noise),
            "loss": c.loss.name(),
            "seed": c.seed.to_string(),
            "threads": c.threads,
            "backend": c.backend.name(),
            "kernels": p.isa.name(),
        },
        "network": {
            "sizes": net.sizes(),
            "hidden": net.hidden_activations().iter().map(act_name).collect::<Vec<_>>(),
            "output": output_name(&net.output_activation()),
        },
        "optimizer_steps": steps.to_string(),
        "rng_word_pos": p.order.word_pos().to_string(),
        "train": p.train.to_json(),
        "test": p.test.map(DataId::to_json),
        "history": p.history.epochs.iter().map(stats_json).collect::<Vec<_>>(),
        "meta": p.meta,
        "tensors": {
            "params": net.num_params(),
            "m": m.len(),
            "v": v.len(),
            "good": p.good.map_or(0, Mlp::num_params),
            "order": order.len(),
        },
    });
    let header = serde_json::to_vec(&header).map_err(|e| format!("cannot encode: {e}"))?;
    let good = p.good.map_or(&[][..], Mlp::parameters);
    let floats = net.num_params() + m.len() + v.len() + good.len();
    let body_len = 4 + header.len() + 4 * floats + 4 * order.len();
    let mut body = Vec::new();
    body.try_reserve_exact(body_len)
        .map_err(|_| format!("not saved: cannot allocate {body_len} bytes to encode it"))?;
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(&header);
    for x in net.parameters().iter().chain(m).chain(v).chain(good) {
        body.extend_from_slice(&x.to_le_bytes());
    }
    for &i in order {
        let i = u32::try_from(i)
            .map_err(|_| format!("not saved: sample index {i} does not fit in 32 bits"))?;
        body.extend_from_slice(&i.to_le_bytes());
    }
    let mut out = Vec::new();
    out.try_reserve_exact(8 + 1 + VERSION.len() + 16 + body.len())
        .map_err(|_| "not saved: cannot allocate the bytes to encode it".to_string())?;
    out.extend_from_slice(MAGIC);
    out.push(VERSION.len() as u8);
    out.extend_from_slice(VERSION.as_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("corrupt header: {what} is not an object"))
}

fn field<'a>(o: &'a Map<String, Value>, k: &str, what: &str) -> Result<&'a Value, String> {
    o.get(k)
        .ok_or_else(|| format!("corrupt header: {what} has no {k:?}"))
}

fn string<'a>(o: &'a Map<String, Value>, k: &str, what: &str) -> Result<&'a str, String> {
    field(o, k, what)?
        .as_str()
        .ok_or_else(|| format!("corrupt header: {what}.{k} is not a string"))
}

fn uint(o: &Map<String, Value>, k: &str, what: &str) -> Result<usize, String> {
    field(o, k, what)?
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("corrupt header: {what}.{k} is not a count"))
}

fn parsed<T: std::str::FromStr>(o: &Map<String, Value>, k: &str, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    string(o, k, what)?
        .parse::<T>()
        .map_err(|e| format!("corrupt header: {what}.{k}: {e}"))
}

fn opt_f64(o: &Map<String, Value>, k: &str, what: &str) -> Result<Option<f64>, String> {
    match field(o, k, what)? {
        Value::Null => Ok(None),
        _ => parsed(o, k, what).map(Some),
    }
}

fn optimizer_from(v: &Value) -> Result<Optimizer, String> {
    let w = "config.optimizer";
    let o = obj(v, w)?;
    Ok(match string(o, "name", w)? {
        "sgd" => Optimizer::Sgd {
            lr: parsed(o, "lr", w)?,
            momentum: parsed(o, "momentum", w)?,
        },
        "adam" => Optimizer::Adam {
            lr: parsed(o, "lr", w)?,
            beta1: parsed(o, "beta1", w)?,
            beta2: parsed(o, "beta2", w)?,
            eps: parsed(o, "eps", w)?,
        },
        other => return Err(format!("corrupt header: unknown optimizer {other:?}")),
    })
}

fn stats_from(v: &Value) -> Result<EpochStats, String> {
    let w = "history";
    let o = obj(v, w)?;
    Ok(EpochStats {
        epoch: uint(o, "epoch", w)?,
        loss: parsed(o, "loss", w)?,
        train_accuracy: parsed(o, "train_accuracy", w)?,
        test_accuracy: opt_f64(o, "test_accuracy", w)?,
        test_loss: opt_f64(o, "test_loss", w)?,
        seconds: parsed(o, "seconds", w)?,
        samples_per_sec: parsed(o, "samples_per_sec", w)?,
        eval_seconds: parsed(o, "eval_seconds", w)?,
    })
}

/// A little-endian reader over a byte slice that never reads past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "truncated: {what} needs {n} bytes, {} are left",
                self.0.len()
            ));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn f32s(&mut self, n: usize, what: &str) -> Result<Vec<f32>, String> {
        let b = self.take(n.checked_mul(4).ok_or("overflow")?, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// One layer's weights and biases, as [`Mlp::from_parts`] takes them.
type Layer = (Vec<f32>, Vec<f32>);

/// Checks that `order` is a permutation of 0..order.len().
fn check_permutation(order: &[usize]) -> Result<(), String> {
    let mut seen = vec![false; order.len()];
    for &i in order {
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(format!(
                    "corrupt: the batch order is not a permutation (index {i})"
                ))
            }
        }
    }
    Ok(())
}

/// A checkpoint from the bytes of a file, or what is wrong with them (one short line).
pub(crate) fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    decode_any(bytes).map_err(|e| crate::one_line(&e))
}

/// [`decode`], its errors as they come (they may quote the file: see [`crate::one_line`]).
fn decode_any(bytes: &[u8]) -> Result<Checkpoint, String> {
    let mut r = Reader(bytes);
    if bytes.is_empty() {
        return Err("the file is empty: not a sigmo checkpoint".into());
    }
    match r.take(MAGIC.len(), "the magic") {
        Ok(m) if m == MAGIC => {}
        _ => return Err("not a sigmo checkpoint (no SIGMOCKP magic)".into()),
    }
    let vlen = r.take(1, "the version's length")?[0] as usize;
    let version = r.take(vlen, "the version")?;
    let version = String::from_utf8_lossy(version);
    if version != VERSION {
        return Err(format!(
            "written by sigmo {version}, this is sigmo {VERSION}: a checkpoint resumes only \
             in the version that wrote it"
        ));
    }
    let body_len = r.u64("the body's length")?;
    let sum = r.u64("the checksum")?;
    let left = r.0.len() as u64;
    if left < body_len {
        return Err(format!(
            "truncated: the body is {left} of {body_len} bytes (the file was cut short)"
        ));
    }
    if left > body_len {
        return Err(format!(
            "corrupt: {} bytes after the {body_len}-byte body",
            left - body_len
        ));
    }
    if checksum(r.0) != sum {
        return Err("corrupt: the checksum does not match the contents".into());
    }
    let hlen = u32::from_le_bytes(r.take(4, "the header's length")?.try_into().expect("4"));
    if hlen as u64 > MAX_HEADER_BYTES {
        return Err(format!(
            "the header is {hlen} bytes, larger than the {MAX_HEADER_BYTES}-byte cap"
        ));
    }
    let header: Value = serde_json::from_slice(r.take(hlen as usize, "the header")?)
        .map_err(|e| format!("corrupt header: {e}"))?;
    let h = obj(&header, "the header")?;
    let format = string(h, "format", "the header")?;
    if format != FORMAT {
        return Err(format!("format {format:?}, expected {FORMAT:?}"));
    }
    // The settings.
    let w = "config";
    let c = obj(field(h, "config", "the header")?, w)?;
    let isa: Isa = parsed(c, "kernels", w)?;
    let backend_name = string(c, "backend", w)?;
    let backend = Backend::ALL
        .into_iter()
        .find(|b| b.name() == backend_name)
        .ok_or_else(|| format!("corrupt header: unknown backend {backend_name:?}"))?;
    let config = TrainConfig {
        epochs: uint(c, "epochs", w)?,
        batch_size: uint(c, "batch_size", w)?,
        optimizer: optimizer_from(field(c, "optimizer", w)?)?,
        schedule: parsed::<Schedule>(c, "schedule", w)?,
        l2: parsed(c, "l2", w)?,
        loss: parsed::<Loss>(c, "loss", w)?,
        seed: parsed(c, "seed", w)?,
        threads: uint(c, "threads", w)?,
        backend,
        // This CPU may not run the tier the run trained at: the scalar tier stands in (it runs
        // everywhere), and resuming from it is refused by the tier check ([`Checkpoint::isa`]).
        kernels: Kernels::new(isa).unwrap_or_else(|_| Kernels::scalar()),
        dropout: field(c, "dropout", w)?
            .as_array()
            .ok_or("corrupt header: config.dropout is not a list")?
            .iter()
            .map(|p| {
                p.as_str()
                    .and_then(|p| p.parse::<f32>().ok())
                    .ok_or_else(|| "corrupt header: config.dropout holds a non-number".to_string())
            })
            .collect::<Result<Vec<f32>, String>>()?,
        input_noise: parsed(c, "input_noise", w)?,
    };
    // The network's shape.
    let w = "network";
    let n = obj(field(h, "network", "the header")?, w)?;
    let sizes = field(n, "sizes", w)?
        .as_array()
        .ok_or("corrupt header: network.sizes is not a list")?
        .iter()
        .map(|s| s.as_u64().and_then(|s| usize::try_from(s).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or("corrupt header: network.sizes holds something other than counts")?;
    let hidden = field(n, "hidden", w)?
        .as_array()
        .ok_or("corrupt header: network.hidden is not a list")?
        .iter()
        .map(|a| {
            a.as_str()
                .ok_or("not a string".to_string())
                .and_then(|a| a.parse::<Activation>().map_err(|e| e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("corrupt header: network.hidden: {e}"))?;
    let output: OutputActivation = parsed(n, "output", w)?;
    // The tensors' sizes, checked against the shape and the bytes left before any is read.
    let w = "tensors";
    let t = obj(field(h, "tensors", "the header")?, w)?;
    let (np, nm, nv, ng, no) = (
        uint(t, "params", w)?,
        uint(t, "m", w)?,
        uint(t, "v", w)?,
        uint(t, "good", w)?,
        uint(t, "order", w)?,
    );
    let expect = sizes
        .windows(2)
        .try_fold(0usize, |acc, p| {
            p[0].checked_mul(p[1])?.checked_add(p[1])?.checked_add(acc)
        })
        .ok_or("corrupt header: the parameter count overflows")?;
    if np != expect || nm != np || (ng != 0 && ng != np) {
        return Err(format!(
            "corrupt header: {np} parameters, {nm} moments and {ng} earlier weights for layers \
             {sizes:?}, which have {expect}"
        ));
    }
    let need = np
        .checked_add(nm)
        .and_then(|x| x.checked_add(nv))
        .and_then(|x| x.checked_add(ng))
        .and_then(|x| x.checked_add(no))
        .and_then(|x| x.checked_mul(4))
        .ok_or("corrupt header: the tensor sizes overflow")?;
    if need != r.0.len() {
        return Err(format!(
            "corrupt: the header announces {need} bytes of tensors, the file has {}",
            r.0.len()
        ));
    }
    // Every count below was checked against the bytes left: no allocation exceeds them.
    let layers = |r: &mut Reader<'_>| -> Result<Vec<Layer>, String> {
        let mut per_layer = Vec::with_capacity(sizes.len().saturating_sub(1));
        for p in sizes.windows(2) {
            let w = r.f32s(p[0] * p[1], "the weights")?;
            let b = r.f32s(p[1], "the biases")?;
            per_layer.push((w, b));
        }
        Ok(per_layer)
    };
    let per_layer = layers(&mut r)?;
    let m = r.f32s(nm, "the first moment")?;
    let v = r.f32s(nv, "the second moment")?;
    let good = match ng {
        0 => None,
        _ => Some(
            Mlp::from_parts(&sizes, &hidden, output, layers(&mut r)?)
                .map_err(|e| format!("corrupt earlier weights: {e}"))?,
        ),
    };
    let order = r
        .take(no * 4, "the batch order")?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect::<Vec<_>>();
    let net = Mlp::from_parts(&sizes, &hidden, output, per_layer)
        .map_err(|e| format!("corrupt network: {e}"))?;
    let history = History {
        epochs: field(h, "history", "the header")?
            .as_array()
            .ok_or("corrupt header: history is not a list")?
            .iter()
            .map(stats_from)
            .collect::<Result<Vec<_>, _>>()?,
    };
    if uint(h, "epochs_done", "the header")? != history.epochs.len() {
        return Err("corrupt header: the epochs done and the history disagree".into());
    }
    let meta = match field(h, "meta", "the header")? {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or_else(|| format!("corrupt header: meta.{k} is not a string"))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?,
        _ => return Err("corrupt header: meta is not an object".into()),
    };
    let ck = Checkpoint {
        net,
        steps: parsed(h, "optimizer_steps", "the header")?,
        word_pos: parsed(h, "rng_word_pos", "the header")?,
        m,
        v,
        good,
        order,
        history,
        train: DataId::from_json(field(h, "train", "the header")?, "train")?,
        test: match field(h, "test", "the header")? {
            Value::Null => None,
            t => Some(DataId::from_json(t, "test")?),
        },
        meta,
        isa,
        config,
    };
    // The parts must fit each other as the trainer will use them.
    ck.config
        .optimizer
        .check()
        .map_err(|e| format!("corrupt settings: {e}"))?;
    ck.config
        .loss
        .check(ck.net.output_activation())
        .map_err(|e| format!("corrupt settings: {e}"))?;
    if ck.config.batch_size == 0 || ck.config.threads == 0 {
        return Err("corrupt settings: a batch size or thread count of 0".into());
    }
    if ck.order.len() != ck.train.len {
        return Err(format!(
            "corrupt: a batch order of {} samples for a training set of {}",
            ck.order.len(),
            ck.train.len
        ));
    }
    if ck.epochs_done() > ck.config.epochs {
        return Err(format!(
            "corrupt: {} epochs done of {}",
            ck.epochs_done(),
            ck.config.epochs
        ));
    }
    check_permutation(&ck.order)?;
    let adam = matches!(ck.config.optimizer, Optimizer::Adam { .. });
    if ck.v.len() != if adam { np } else { 0 } {
        return Err(format!(
            "corrupt optimizer state: {} values of the second moment for {}",
            ck.v.len(),
            ck.config.optimizer.name()
        ));
    }
    if ck.m.iter().chain(&ck.v).any(|x| !x.is_finite()) {
        return Err("corrupt optimizer state: a moment is not finite".into());
    }
    Ok(ck)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::fit_from;

    /// A resumed run whose first batch diverges goes back to the weights from before the
    /// checkpoint's last step, as the run it continues would have: the checkpoint keeps them.
    #[test]
    fn a_first_batch_that_diverges_after_a_resume_goes_back_to_the_last_good_model() {
        let s = crate::data::digits();
        let mut net = Mlp::builder(&[64, 16, 10])
            .hidden(Activation::Relu)
            .output(OutputActivation::Softmax)
            .build()
            .unwrap();
        let cfg = TrainConfig {
            epochs: 2,
            threads: 1,
            optimizer: Optimizer::sgd(0.05, 0.9),
            ..TrainConfig::new(Kernels::best())
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ck");
        let mut c1 = cfg.clone();
        c1.epochs = 1;
        let to = Checkpointing {
            to: Some(&file),
            ..Checkpointing::default()
        };
        fit_from(&mut net, &s.train, None, &c1, &to, &mut ()).unwrap();
        let mut ck = Checkpoint::load(&file).unwrap();
        let good = ck.good.clone().expect("the weights before the last step");
        assert_ne!(good.parameters(), ck.net.parameters());
        // Weights whose first batch has a loss that is not finite.
        let huge: Vec<(Vec<f32>, Vec<f32>)> = (0..ck.net.depth())
            .map(|l| {
                (
                    vec![1e30; ck.net.weights(l).len()],
                    ck.net.biases(l).to_vec(),
                )
            })
            .collect();
        ck.net = Mlp::from_parts(
            ck.net.sizes(),
            ck.net.hidden_activations(),
            ck.net.output_activation(),
            huge,
        )
        .unwrap();
        let mut n = ck.net.clone();
        let from = Checkpointing {
            from: Some(&ck),
            ..Checkpointing::default()
        };
        match fit_from(&mut n, &s.train, None, &cfg, &from, &mut ()) {
            Err(TrainError::Diverged {
                epoch: 2, batch: 1, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(n.parameters(), good.parameters());
    }
}
