//! Mini-batch training: shuffled batches, forward and backward on shards of each batch in
//! parallel, one optimizer step per batch, accuracy per epoch.
//!
//! ```
//! use sigmo::kernels::{Activation, Kernels};
//! use sigmo::nn::{Mlp, Optimizer, OutputActivation, Loss};
//! use sigmo::train::{fit, TrainConfig};
//!
//! let split = sigmo::data::digits();
//! let mut net = Mlp::builder(&[64, 32, 10])
//!     .hidden(Activation::Relu)
//!     .output(OutputActivation::Softmax)
//!     .seed(1)
//!     .build()?;
//! let cfg = TrainConfig {
//!     epochs: 3,
//!     optimizer: Optimizer::sgd(0.1, 0.9),
//!     loss: Loss::SoftmaxCrossEntropy,
//!     ..TrainConfig::new(Kernels::best()) // the tier, chosen once
//! };
//! let history = fit(&mut net, &split.train, Some(&split.test), &cfg, &mut ())?;
//! assert_eq!(history.epochs.len(), 3);
//! assert!(history.epochs[2].test_accuracy.unwrap() > 0.8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Batches are split into one shard per thread when a batch is large enough to pay for waking
//! the other threads (see [`SHARD_MIN_FLOPS`]); each shard runs its own forward and backward
//! with single-threaded GEMMs, and the shards' gradients are added. Parallelism sits above the
//! GEMMs: at MLP sizes a GEMM is as short as waking a worker.

pub use crate::checkpoint::{Checkpoint, Checkpointing, DataId};
use crate::data::Dataset;
pub use crate::exchange::{Disagreement, GradientExchange, InProcess};
use crate::gemm::Backend;
use crate::kernels::Activation;
use crate::kernels::Kernels;
use crate::nn::{
    one_hot, BatchStats, Grads, Loss, Mlp, NnError, Noise, NoiseAt, Optimizer, OptimizerState,
    OutputActivation, Workspace,
};
use serde::Serialize;
use std::fmt;
use std::time::Instant;

/// A batch is split over the threads only when each shard gets at least this many
/// floating-point operations (forward and backward, ≈ 6·rows·Σ fan_in·fan_out): below it,
/// waking a thread (15–100 µs here) costs more than it saves.
pub const SHARD_MIN_FLOPS: usize = 1 << 23;

/// How the learning rate changes over training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The optimizer's rate throughout.
    Constant,
    /// Cosine annealing (Loshchilov & Hutter, without restarts): after step t of T,
    /// η_t = η·½(1 + cos(π·t/T)), from η at the first step down toward 0 at the last
    /// (never below η·10⁻⁶ in the trainer: no optimizer takes a rate of 0).
    Cosine,
}

impl Schedule {
    /// The name: `constant` or `cosine`.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        }
    }

    /// The rate for step `t` (0-based) of `total`, from the base rate `lr`.
    pub fn rate(&self, lr: f32, t: usize, total: usize) -> f32 {
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                let f = t as f64 / total.max(1) as f64;
                (lr as f64 * 0.5 * (1.0 + (std::f64::consts::PI * f).cos())) as f32
            }
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "constant" | "none" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(format!("unknown schedule {s:?}; use constant or cosine")),
        }
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per optimizer step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// The update rule and learning rate.
    pub optimizer: Optimizer,
    /// How the learning rate changes from step to step.
    pub schedule: Schedule,
    /// L2 weight decay λ: λ·w is added to each weight's gradient.
    pub l2: f32,
    /// The loss.
    pub loss: Loss,
    /// Seeds the batch order (the network's initialisation has its own seed).
    pub seed: u64,
    /// Threads to use; 0 means [`crate::num_threads`].
    pub threads: usize,
    /// The GEMM backend.
    pub backend: Backend,
    /// The kernel tier for every pass and the optimizer, chosen by the caller
    /// ([`Kernels::best`]: the best this CPU runs, or what `SIGMO_ISA` forces).
    pub kernels: Kernels,
    /// Dropout probability p ∈ [0, 1) of the hidden layers' units while training: empty for
    /// none, one value for every hidden layer, or one per hidden layer (see [`Noise`]; the
    /// test pass and [`evaluate`] never drop).
    pub dropout: Vec<f32>,
    /// σ of Gaussian noise added to the inputs while training (0: none).
    pub input_noise: f32,
}

impl TrainConfig {
    /// 10 epochs of batches of 32, SGD with η = 0.1 and momentum 0.9 at a constant rate,
    /// no L2, no dropout or input noise, softmax-CE, seed 0, every thread, sigmo's GEMM
    /// engine ([`Backend::for_training`]), the kernels at the tier of `kernels`.
    pub fn new(kernels: Kernels) -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            optimizer: Optimizer::sgd(0.1, 0.9),
            schedule: Schedule::Constant,
            l2: 0.0,
            loss: Loss::SoftmaxCrossEntropy,
            seed: 0,
            threads: 0,
            backend: Backend::for_training(),
            kernels,
            dropout: Vec::new(),
            input_noise: 0.0,
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochStats {
    /// 1 for the first epoch.
    pub epoch: usize,
    /// The training loss per sample over the epoch (each batch's as it was seen, before its
    /// update; without the L2 term).
    pub loss: f64,
    /// The fraction of training samples classified right during the epoch (as they were
    /// seen, before each batch's update).
    pub train_accuracy: f64,
    /// The fraction of the test set classified right after the epoch, if there is one.
    pub test_accuracy: Option<f64>,
    /// The mean loss on the test set after the epoch, if there is one.
    pub test_loss: Option<f64>,
    /// Seconds of training (the batches; the test pass not included).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_sec: f64,
    /// Seconds of the test pass.
    pub eval_seconds: f64,
}

impl fmt::Display for EpochStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "epoch {:>3}  loss {:.4}  train {:6.2}%",
            self.epoch,
            self.loss,
            100.0 * self.train_accuracy
        )?;
        if let Some(t) = self.test_accuracy {
            write!(f, "  test {:6.2}%", 100.0 * t)?;
        }
        write!(
            f,
            "  {:.3} s  {:.0} samples/s",
            self.seconds, self.samples_per_sec
        )
    }
}

/// Every epoch's statistics, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct History {
    /// One entry per completed epoch.
    pub epochs: Vec<EpochStats>,
}

impl History {
    /// The last epoch's statistics.
    pub fn last(&self) -> Option<&EpochStats> {
        self.epochs.last()
    }
}

/// Why training stopped early.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// A setting is out of range or does not fit the network or the data.
    Config(String),
    /// The network refused an input (a shape error).
    Model(NnError),
    /// The loss, the gradient or the weights stopped being finite. The network is put back
    /// to the last weights that gave a finite loss (the last good model): those before the
    /// failing step, or, when the batch's loss itself was not finite, those before the step
    /// that led to it.
    Diverged {
        /// 1-based.
        epoch: usize,
        /// 1-based, within the epoch.
        batch: usize,
        /// What was not finite.
        what: String,
    },
    /// A checkpoint could not be written or read, or does not fit the run that is to
    /// continue from it (see [`fit_from`]).
    Checkpoint(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Config(s) => f.write_str(s),
            TrainError::Model(e) => write!(f, "{e}"),
            TrainError::Checkpoint(s) => f.write_str(s),
            TrainError::Diverged { epoch, batch, what } => write!(
                f,
                "training diverged at epoch {epoch}, batch {batch}: {what}; the network is \
                 back to the last good model, the last weights with a finite loss (try a \
                 smaller learning rate)"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<NnError> for TrainError {
    fn from(e: NnError) -> Self {
        TrainError::Model(e)
    }
}

/// Hooks for progress reporting; every method has an empty default, and `()` reports nothing.
pub trait Observer: Send {
    /// An epoch (1-based) of `batches` batches starts.
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    /// A batch finished, with its mean loss.
    fn batch_end(&mut self, _batch: usize, _loss: f64) {}
    /// An epoch finished.
    fn epoch_end(&mut self, _stats: &EpochStats) {}
}

impl Observer for () {}

/// One shard's buffers: its rows of the batch, targets, workspace and gradients.
struct Shard {
    x: Vec<f32>,
    y: Vec<f32>,
    labels: Vec<u8>,
    ws: Workspace,
    grads: Grads,
    rows: usize,
    span: std::ops::Range<usize>,
    result: Result<BatchStats, NnError>,
}

impl Shard {
    fn new(net: &Mlp, cap: usize, backend: Backend, k: Kernels) -> Result<Shard, NnError> {
        Ok(Shard {
            // Fallible, as every buffer sized by the network or the batch.
            x: buffer(cap, net.inputs(), "the shard's inputs")?,
            y: buffer(cap, net.outputs(), "the shard's targets")?,
            labels: {
                let mut l = Vec::new();
                l.try_reserve_exact(cap).map_err(|_| {
                    NnError::new(format!("the shard's labels: cannot allocate {cap} bytes"))
                })?;
                l.resize(cap, 0u8);
                l
            },
            ws: Workspace::new(net, cap, k)?.with_backend(backend),
            grads: Grads::try_new(net)?,
            rows: 0,
            span: 0..0,
            result: Ok(BatchStats::default()),
        })
    }

    /// The same shard, its workspace drawing `noise` while training.
    fn noisy(mut self, noise: &Noise) -> Result<Shard, NnError> {
        if !noise.is_none() {
            self.ws = self.ws.with_noise(noise.clone())?;
        }
        Ok(self)
    }

    /// Loads samples `idx` of `data` into x, labels and one-hot y.
    fn load(&mut self, data: &Dataset, idx: &[usize], classes: usize) -> Result<(), NnError> {
        let r = idx.len();
        self.rows = r;
        data.gather(idx, &mut self.x[..r * data.dim()], &mut self.labels[..r]);
        one_hot(&self.labels[..r], classes, &mut self.y[..r * classes])
    }
}

/// The shards of one training step, as a [`GradientExchange`] sees them: every shard's
/// gradient (laid out as [`Mlp::parameters`]) and outcome, and which of them this rank
/// computed.
pub struct Shards<'a> {
    shards: &'a mut [Shard],
    local: std::ops::Range<usize>,
}

impl Shards<'_> {
    /// How many shards the step has, over all ranks.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether there are none (never, in a step).
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The shards this rank computed.
    pub fn local(&self) -> std::ops::Range<usize> {
        self.local.clone()
    }

    /// Shard `i`'s gradient.
    ///
    /// # Panics
    /// When `i` is not below [`len`](Self::len).
    pub fn grads(&self, i: usize) -> &[f32] {
        &self.shards[i].grads.data
    }

    /// Shard `i`'s gradient, to fill in.
    ///
    /// # Panics
    /// When `i` is not below [`len`](Self::len).
    pub fn grads_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.shards[i].grads.data
    }

    /// Shard `i`'s summed loss and correct count, or why it failed.
    ///
    /// # Panics
    /// When `i` is not below [`len`](Self::len).
    pub fn outcome(&self, i: usize) -> Result<BatchStats, String> {
        self.shards[i].result.clone().map_err(|e| e.to_string())
    }

    /// Sets shard `i`'s outcome (as the rank that computed it had it).
    ///
    /// # Panics
    /// When `i` is not below [`len`](Self::len).
    pub fn set_outcome(&mut self, i: usize, outcome: Result<BatchStats, String>) {
        self.shards[i].result = outcome.map_err(NnError::new);
    }
}

/// A zeroed buffer of `rows × width` values, or an error naming `what` when the product
/// overflows or does not fit in memory.
fn buffer(rows: usize, width: usize, what: &str) -> Result<Vec<f32>, NnError> {
    let n = rows
        .checked_mul(width)
        .ok_or_else(|| NnError::new(format!("{what}: {rows} rows × {width} overflows")))?;
    crate::nn::zeroed(n, what)
}

/// Runs `f` on every shard, the shards split over the current rayon pool by recursive
/// `join` (which does not allocate).
fn each_shard<F: Fn(&mut Shard) + Sync>(shards: &mut [Shard], f: &F) {
    match shards.len() {
        0 => {}
        1 => f(&mut shards[0]),
        n => {
            let (a, b) = shards.split_at_mut(n / 2);
            rayon::join(|| each_shard(a, f), || each_shard(b, f));
        }
    }
}

/// The rows of a batch of `len` that shard `s` of `n` takes: near-equal contiguous parts.
fn part(len: usize, s: usize, n: usize) -> std::ops::Range<usize> {
    len * s / n..len * (s + 1) / n
}

/// Trains `net` on `train` by mini-batch gradient descent, measuring on `test` after each
/// epoch, and returns the history. `observer` hears of every batch and epoch (`&mut ()` for
/// nothing).
///
/// sigmo allocates nothing from the first batch of an epoch to the end of its test pass: the
/// buffers are made once, for the configured batch size. (The matrixmultiply backend
/// allocates its packing buffer inside each GEMM call, one per product; OpenBLAS does not.
/// [`ConsoleProgress`] formats its message now and then when it draws on a terminal.)
///
/// # Errors
/// - [`TrainError::Config`] when a setting is out of range, or the network's input or output
///   size does not fit the data (before any training);
/// - [`TrainError::Diverged`] when a batch's loss, its gradient, or the weights after its
///   step are not finite; the network then goes back to the last weights that gave a finite
///   loss: the weights before the failing batch's step when its loss was finite, else the
///   weights before the previous step (each step writes its new weights into a second
///   buffer and swaps the two, so the weights before it are kept without a copy).
pub fn fit(
    net: &mut Mlp,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<History, TrainError> {
    fit_from(net, train, test, cfg, &Checkpointing::default(), observer)
}

/// As [`fit`], continuing from a checkpoint (`ck.from`) and writing one after every epoch
/// (`ck.to`); see the [`checkpoint`](crate::checkpoint) module for an example.
///
/// Continuing from a checkpoint sets the network's weights, the optimizer's state, the batch
/// order and its RNG, and the history to the checkpoint's, and trains epochs
/// `ck.from.epochs_done() + 1 ..= cfg.epochs`; the history returned holds every epoch, the
/// checkpoint's first. Each step then computes what it would have in a run never stopped, so
/// the final weights have the same bits as that run's, however many times it was stopped and
/// resumed. For that, `cfg` must be the checkpoint's [`config`](Checkpoint::config) in
/// everything but `epochs` (which may grow: a cosine schedule then anneals over the new total
/// from where it is), including the thread count (it decides how batches are split, and so
/// how gradients are summed), the backend and the kernel tier; the network must have the
/// checkpoint's architecture and the data must be the same (by fingerprint).
///
/// A checkpoint is written after the epoch's test pass, before [`Observer::epoch_end`]: a
/// run stopped at any moment leaves the last complete epoch's.
///
/// # Errors
/// As [`fit`]; [`TrainError::Config`] naming the setting when `cfg`, the network or the data
/// do not fit the checkpoint, or `cfg.epochs` is below its epochs done;
/// [`TrainError::Checkpoint`] when a checkpoint cannot be written (training stops then, the
/// network as the last epoch left it).
pub fn fit_from(
    net: &mut Mlp,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    ck: &Checkpointing<'_>,
    observer: &mut dyn Observer,
) -> Result<History, TrainError> {
    fit_with(net, train, test, cfg, ck, &mut InProcess, observer)
}

/// As [`fit_from`], data-parallel over the ranks of `exchange`, each running `cfg.threads`
/// threads: the final weights (and every epoch's numbers) have the bits of a one-process run
/// with `ranks × cfg.threads` threads (see the [`exchange`](crate::exchange) module).
///
/// Every rank must call it with the same network, data, settings and checkpoint; it checks
/// that they agree (a fingerprint of them all) before the first step. Each batch is split
/// as that one-process run splits it, this rank computes its block of the shards, and the
/// exchange brings the others'. Rank 0 alone writes the checkpoints (`ck.to`; the other
/// ranks ignore it) and the history's thread count in them is the total, so that either
/// kind of run can resume the other's. Errors are the same on every rank: one that only one
/// rank sees (a setting it refuses, a checkpoint it cannot write) is shared first, named
/// `rank r: …` on the others.
///
/// # Errors
/// As [`fit_from`].
pub fn fit_with(
    net: &mut Mlp,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    ck: &Checkpointing<'_>,
    exchange: &mut dyn GradientExchange,
    observer: &mut dyn Observer,
) -> Result<History, TrainError> {
    let ranks = exchange.ranks().max(1);
    let setup = (|| {
        check(net, train, test, cfg)?;
        let threads = match cfg.threads {
            0 => crate::num_threads(),
            t => t,
        };
        let k = cfg.kernels;
        // The settings as they run: a checkpoint stores these (the threads of all ranks).
        let resolved = TrainConfig {
            threads: threads.saturating_mul(ranks),
            ..cfg.clone()
        };
        let ids = if ck.from.is_some() || ck.to.is_some() || ranks > 1 {
            Some((DataId::of(train), test.map(DataId::of)))
        } else {
            None
        };
        if let (Some(from), Some((tr, te))) = (ck.from, &ids) {
            check_resume(net, &resolved, k, tr, te.as_ref(), from)?;
        }
        Ok((threads, k, resolved, ids))
    })();
    let token = match &setup {
        Ok((_, _, resolved, ids)) if ranks > 1 => fingerprint(net, resolved, ids.as_ref(), ck),
        _ => 0,
    };
    settle(exchange, token, setup.as_ref().err(), TrainError::Config)?;
    let (threads, k, resolved, ids) = setup?;
    pool(threads)?.install(|| {
        run(
            net,
            train,
            test,
            &resolved,
            k,
            ck,
            ids.as_ref(),
            exchange,
            observer,
        )
    })
}

/// A fingerprint of what must be the same on every rank: the settings as they run, the
/// network (its architecture and weights), the data, and the checkpoint resumed from.
fn fingerprint(
    net: &Mlp,
    cfg: &TrainConfig,
    ids: Option<&(DataId, Option<DataId>)>,
    ck: &Checkpointing<'_>,
) -> u64 {
    let mut b = format!("{cfg:?}|{}|{:?}|", net.describe(), net.sizes()).into_bytes();
    if let Some((tr, te)) = ids {
        for d in std::iter::once(tr).chain(te) {
            b.extend_from_slice(&d.fingerprint.to_le_bytes());
            b.extend_from_slice(&(d.len as u64).to_le_bytes());
        }
    }
    for p in net.parameters() {
        b.extend_from_slice(&p.to_bits().to_le_bytes());
    }
    if let Some(from) = ck.from {
        b.extend_from_slice(&(from.epochs_done() as u64).to_le_bytes());
        for p in from.network().parameters() {
            b.extend_from_slice(&p.to_bits().to_le_bytes());
        }
    }
    crate::checkpoint::checksum(&b)
}

/// Has every rank agree on going on: this rank's `failure` (if any) and `token` against the
/// others'. This rank's own error comes back as it was; another rank's as `wrap("rank r:
/// …")`, the same on every rank.
fn settle(
    exchange: &mut dyn GradientExchange,
    token: u64,
    failure: Option<&TrainError>,
    wrap: fn(String) -> TrainError,
) -> Result<(), TrainError> {
    let text = failure.map(|e| e.to_string());
    match exchange.agree(token, text.as_deref()) {
        Ok(()) => Ok(()),
        Err(d) => match (d.rank == exchange.rank(), failure, d.message) {
            (true, Some(e), _) => Err(e.clone()),
            (_, _, Some(m)) => Err(wrap(format!("rank {}: {m}", d.rank))),
            (_, _, None) => Err(TrainError::Config(format!(
                "rank {} does not run what rank 0 runs (its settings, network, data, kernel \
                 tier or checkpoint differ): every rank must run the same command on the same \
                 data, at the same SIGMO_ISA",
                d.rank
            ))),
        },
    }
}

/// Checks that a run of `net` with `cfg` (threads and kernels resolved) on data `train` and
/// `test` can continue from `from`: every setting but `epochs` the same, `epochs` no fewer
/// than done, the same architecture, the same data.
fn check_resume(
    net: &Mlp,
    cfg: &TrainConfig,
    k: Kernels,
    train: &DataId,
    test: Option<&DataId>,
    from: &Checkpoint,
) -> Result<(), TrainError> {
    let c = from.config();
    let differ = |setting: &str, here: String, there: String| {
        Err(TrainError::Config(format!(
            "cannot resume: {setting} is {here} here and {there} in the checkpoint; a resumed \
             run keeps its settings"
        )))
    };
    if net.sizes() != from.network().sizes() {
        return differ(
            "the layer sizes",
            format!("{:?}", net.sizes()),
            format!("{:?}", from.network().sizes()),
        );
    }
    if net.hidden_activations() != from.network().hidden_activations()
        || net.output_activation() != from.network().output_activation()
    {
        return differ("the network", net.describe(), from.network().describe());
    }
    if cfg.batch_size != c.batch_size {
        return differ(
            "the batch size",
            cfg.batch_size.to_string(),
            c.batch_size.to_string(),
        );
    }
    if cfg.optimizer != c.optimizer {
        return differ(
            "the optimizer",
            cfg.optimizer.to_string(),
            c.optimizer.to_string(),
        );
    }
    if cfg.schedule != c.schedule {
        return differ(
            "the schedule",
            cfg.schedule.name().into(),
            c.schedule.name().into(),
        );
    }
    if cfg.l2.to_bits() != c.l2.to_bits() {
        return differ("l2", cfg.l2.to_string(), c.l2.to_string());
    }
    if cfg.loss != c.loss {
        return differ("the loss", cfg.loss.name().into(), c.loss.name().into());
    }
    if cfg.seed != c.seed {
        return differ("the seed", cfg.seed.to_string(), c.seed.to_string());
    }
    if cfg.threads != c.threads {
        return differ(
            "the thread count",
            cfg.threads.to_string(),
            c.threads.to_string(),
        );
    }
    if cfg.backend != c.backend {
        return differ(
            "the backend",
            cfg.backend.name().into(),
            c.backend.name().into(),
        );
    }
    if k.isa() != from.isa() {
        return differ(
            "the kernel tier",
            k.isa().name().into(),
            from.isa().name().into(),
        );
    }
    if cfg.epochs < from.epochs_done() {
        return Err(TrainError::Config(format!(
            "cannot resume: {} epochs asked for, and the checkpoint has {} done",
            cfg.epochs,
            from.epochs_done()
        )));
    }
    let data = |what: &str, here: Option<&DataId>, there: Option<&DataId>| {
        let same = match (here, there) {
            (Some(a), Some(b)) => a.same_data(b),
            (None, None) => true,
            _ => false,
        };
        let show = |d: Option<&DataId>| d.map_or("none".to_string(), |d| d.to_string());
        if same {
            Ok(())
        } else {
            differ(what, show(here), show(there))
        }
    };
    data("the training set", Some(train), Some(from.train_data()))?;
    data("the test set", test, from.test_data())
}

/// Grows the GEMM panel buffer of every worker of the current pool to the largest B a step
/// of `net` on shards of `rows` rows multiplies (W, δ and Wᵀ of every layer), so that no batch
/// allocates one later, whichever worker runs which shard.
fn reserve_panels(net: &Mlp, rows: usize) {
    let shapes: Vec<(usize, usize)> = (0..net.depth())
        .flat_map(|l| {
            let (fan_in, width) = (net.sizes()[l], net.width(l));
            [(fan_in, width), (rows, width), (width, fan_in)]
        })
        .collect();
    rayon::broadcast(|_| {
        for &(k, n) in &shapes {
            sigmo_kernels::gemm::reserve_panels(k, n);
        }
    });
}

/// The trainer's pool of `threads` workers, started once per thread count and kept: a new
/// pool per call would pay for starting threads, and their first-use setup, every time.
fn pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, TrainError> {
    use std::sync::{Arc, Mutex};
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sigmo-train-{i}"))
        .build()
        .map_err(|e| TrainError::Config(format!("cannot start {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.push((threads, p.clone()));
    Ok(p)
}

fn check(
    net: &Mlp,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
) -> Result<(), TrainError> {
    let bad = |s: String| Err(TrainError::Config(s));
    if cfg.batch_size == 0 {
        return bad("batch size 0: must be at least 1".into());
    }
    if train.is_empty() {
        return bad(format!("{}: the training set is empty", train.name()));
    }
    cfg.optimizer.check()?;
    noise_of(cfg).check_for(net)?;
    if !(cfg.l2.is_finite() && cfg.l2 >= 0.0) {
        return bad(format!("l2 = {}: must be finite and ≥ 0", cfg.l2));
    }
    check_threads(cfg.threads)?;
    cfg.loss.check(net.output_activation())?;
    let step_out = net.output_activation() == OutputActivation::Elementwise(Activation::Step);
    if net.hidden_activations().contains(&Activation::Step) || step_out {
        return bad(format!(
            "{}: the step activation has no gradient (its derivative is 0), so the layers \
             below it cannot learn; use sigmoid or relu to train",
            net.describe()
        ));
    }
    if let Some(t) = test {
        if t.is_empty() {
            return bad(format!("{}: the test set is empty", t.name()));
        }
    }
    for d in std::iter::once(train).chain(test) {
        fits(net, d)?;
    }
    Ok(())
}

/// Checks a thread count (0: [`crate::num_threads`], which a caller may have set to
/// anything) against [`crate::threads::max_threads`], before any thread is started.
fn check_threads(threads: usize) -> Result<(), TrainError> {
    let t = match threads {
        0 => crate::num_threads(),
        t => t,
    };
    crate::threads::check(t, &format!("{t} threads"))
        .map(drop)
        .map_err(TrainError::Config)
}

/// Checks that the samples of `d` fit the network's inputs and its labels its outputs.
fn fits(net: &Mlp, d: &Dataset) -> Result<(), TrainError> {
    let bad = |s: String| Err(TrainError::Config(s));
    {
        if d.dim() != net.inputs() {
            return bad(format!(
                "{}: samples have {} features, the network takes {} inputs (layers {:?})",
                d.name(),
                d.dim(),
                net.inputs(),
                net.sizes()
            ));
        }
        if d.classes() != net.outputs() {
            return bad(format!(
                "{}: {} classes, the network has {} outputs (layers {:?})",
                d.name(),
                d.classes(),
                net.outputs(),
                net.sizes()
            ));
        }
    }
    Ok(())
}

/// How many shards a batch of `rows` is split into on `threads` threads.
pub fn shards_for(net: &Mlp, rows: usize, threads: usize) -> usize {
    // Each layer's weights' columns (k·fan_out for maxout).
    let per_row: usize = (0..net.depth())
        .map(|l| 6 * net.sizes()[l] * net.width(l))
        .sum();
    let flops = per_row.saturating_mul(rows);
    let mut n = threads.max(1).min(rows.max(1));
    while n > 1 && flops / n < SHARD_MIN_FLOPS {
        n -= 1;
    }
    n
}

/// The training-time noise of a configuration, seeded by its seed.
fn noise_of(cfg: &TrainConfig) -> Noise {
    Noise {
        dropout: cfg.dropout.clone(),
        input_noise: cfg.input_noise,
        seed: cfg.seed,
    }
}

/// The training loop. `cfg.threads` is the threads of all ranks together: the batches are
/// split as one process with that many threads splits them, and this rank computes its
/// block of the shards ([`crate::exchange::local_shards`]).
#[allow(clippy::too_many_arguments)]
fn run(
    net: &mut Mlp,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    k: Kernels,
    ck: &Checkpointing<'_>,
    ids: Option<&(DataId, Option<DataId>)>,
    exchange: &mut dyn GradientExchange,
    observer: &mut dyn Observer,
) -> Result<History, TrainError> {
    let bs = cfg.batch_size.min(train.len());
    let n_shards = shards_for(net, bs, cfg.threads);
    let local = crate::exchange::local_shards(n_shards, exchange.rank(), exchange.ranks());
    let cap = bs.div_ceil(n_shards);
    let noise = noise_of(cfg);
    let mut shards = (0..n_shards)
        .map(|_| Shard::new(net, cap, cfg.backend, k).and_then(|sh| sh.noisy(&noise)))
        .collect::<Result<Vec<_>, _>>()?;
    reserve_panels(net, cap);
    // A fresh run, or the state a checkpoint left: the weights, the optimizer's moments and
    // steps, the batch order and its RNG, the history.
    let (mut opt, mut order, mut history) = match ck.from {
        None => (
            OptimizerState::new(cfg.optimizer, cfg.l2, net, k)?,
            crate::data::Batches::new(train.len(), cfg.seed),
            History::default(),
        ),
        Some(from) => {
            net.copy_params_from(from.network())?;
            (
                from.optimizer_state(net, k)?,
                from.batches()?,
                from.history().clone(),
            )
        }
    };
    let first_epoch = history.epochs.len() + 1;
    // Room for every epoch's statistics (up to a bound; more grow the vector), so that the
    // push at the end of an epoch allocates nothing.
    let _ = history
        .epochs
        .try_reserve((cfg.epochs + 1).saturating_sub(first_epoch).min(1 << 16));
    let classes = net.outputs();
    let n_batches = train.len().div_ceil(bs);
    let base_lr = cfg.optimizer.lr();
    // The weights before the last step: this batch's loss was finite with them.
    let mut good = net.try_clone()?;
    let mut have_good = false;
    // A resumed run has the weights from before the checkpoint's last step, as the run it
    // continues had them: a first batch that diverges goes back to them as that run would.
    if let Some(g) = ck.from.and_then(|f| f.good.as_ref()) {
        good.copy_params_from(g)?;
        have_good = true;
    }
    let total_steps = n_batches.saturating_mul(cfg.epochs);

    for epoch in first_epoch..=cfg.epochs {
        observer.epoch_start(epoch, n_batches);
        let start = Instant::now();
        order.shuffle();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for (b, idx) in order.batches(bs).enumerate() {
            let scale = 1.0 / idx.len() as f32;
            let step = (epoch - 1).saturating_mul(n_batches).saturating_add(b) as u64;
            for (s, sh) in shards.iter_mut().enumerate() {
                sh.span = part(idx.len(), s, n_shards);
                sh.rows = sh.span.len();
            }
            let net_ref: &Mlp = net;
            each_shard(&mut shards[local.clone()], &|sh: &mut Shard| {
                let loaded = sh.load(train, &idx[sh.span.clone()], classes);
                let r = sh.rows;
                // A batch smaller than the shard count leaves a shard empty (r = 0): its
                // gradient then comes out zero, not the last batch's.
                // The noise of a row depends on the step and its row in the batch, not on
                // the shard it falls in.
                let at = NoiseAt {
                    step,
                    row: sh.span.start,
                };
                sh.result = loaded.and_then(|_| {
                    sh.ws.loss_and_grad_noisy(
                        net_ref,
                        cfg.loss,
                        &sh.x[..r * net_ref.inputs()],
                        &sh.y[..r * classes],
                        r,
                        scale,
                        &mut sh.grads,
                        at,
                    )
                });
            });
            // The other ranks' shards (nothing to do in one process).
            exchange
                .all_gather(&mut Shards {
                    shards: &mut shards,
                    local: local.clone(),
                })
                .map_err(TrainError::Config)?;
            let mut stats = BatchStats::default();
            for sh in &mut shards {
                let r = std::mem::replace(&mut sh.result, Ok(BatchStats::default()))?;
                stats.loss += r.loss;
                stats.correct += r.correct;
            }
            if !stats.loss.is_finite() {
                // The weights that gave this batch a non-finite loss came from the last step;
                // the ones before it gave a finite loss and gradient.
                if have_good {
                    net.copy_params_from(&good)?;
                }
                return Err(TrainError::Diverged {
                    epoch,
                    batch: b + 1,
                    what: format!("the loss is {}", stats.loss),
                });
            }
            if cfg.schedule != Schedule::Constant {
                let t = (epoch - 1).saturating_mul(n_batches).saturating_add(b);
                let lr = cfg.schedule.rate(base_lr, t, total_steps);
                // The last steps of a cosine reach 0, which no optimizer takes: keep a floor.
                opt.set_lr(lr.max(base_lr * 1e-6))?;
            }
            // Shards past the second are added first; the first two are summed inside the
            // update, which also keeps the weights from before it in `good`.
            let (first, rest) = shards.split_first_mut().expect("at least one shard");
            let mut others = rest.iter().filter(|s| s.rows > 0);
            let second = others.next().map(|s| &s.grads);
            for sh in others {
                first.grads.add(&k, &sh.grads)?;
            }
            let (gnorm, finite) = opt.update(net, &first.grads, second, Some(&mut good))?;
            have_good = true;
            if !gnorm.is_finite() || !finite {
                // This batch's loss was finite with the weights from before the step.
                net.copy_params_from(&good)?;
                let what = if gnorm.is_finite() {
                    "the step made a weight infinite or NaN".to_string()
                } else {
                    format!("the gradient's squared norm is {gnorm}")
                };
                return Err(TrainError::Diverged {
                    epoch,
                    batch: b + 1,
                    what,
                });
            }
            loss_sum += stats.loss;
            correct += stats.correct;
            observer.batch_end(b + 1, stats.loss / idx.len() as f64);
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval_start = Instant::now();
        let test_stats = match test {
            Some(t) => Some(evaluate_in(net, t, cfg.loss, &mut shards)?),
            None => None,
        };
        let n = train.len() as f64;
        let stats = EpochStats {
            epoch,
            loss: loss_sum / n,
            train_accuracy: correct as f64 / n,
            test_accuracy: test_stats
                .map(|s| s.correct as f64 / test.map_or(1, |t| t.len()) as f64),
            test_loss: test_stats.map(|s| s.loss / test.map_or(1, |t| t.len()) as f64),
            seconds,
            samples_per_sec: n / seconds.max(1e-9),
            eval_seconds: eval_start.elapsed().as_secs_f64(),
        };
        history.epochs.push(stats);
        let mut written = Ok(());
        if let (Some(to), Some((tr, te)), 0) = (ck.to, ids, exchange.rank()) {
            written = crate::checkpoint::encode(&crate::checkpoint::Parts {
                net,
                config: cfg,
                isa: k.isa(),
                opt: opt.moments(),
                good: have_good.then_some(&good),
                order: &order,
                history: &history,
                train: tr,
                test: te.as_ref(),
                meta: &ck.meta,
            })
            .and_then(|b| crate::atomic::write(to, &b))
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", to.display())));
        }
        // Rank 0's checkpoint written, or every rank stops with its error.
        settle(exchange, 0, written.as_ref().err(), TrainError::Checkpoint)?;
        if let Some(stats) = history.last() {
            observer.epoch_end(stats);
        }
    }
    Ok(history)
}

/// The summed loss and correct count of `net` on all of `data`, in chunks of the shards'
/// capacity, the shards run in parallel.
fn evaluate_in(
    net: &Mlp,
    data: &Dataset,
    loss: Loss,
    shards: &mut [Shard],
) -> Result<BatchStats, TrainError> {
    let n = shards.len();
    let cap = shards[0].ws.capacity();
    let classes = net.outputs();
    let mut total = BatchStats::default();
    let mut start = 0;
    while start < data.len() {
        let end = (start + cap * n).min(data.len());
        for (s, sh) in shards.iter_mut().enumerate() {
            let p = part(end - start, s, n);
            sh.span = start + p.start..start + p.end;
        }
        each_shard(shards, &|sh: &mut Shard| {
            let (r, d) = (sh.span.len(), data.dim());
            sh.rows = r;
            sh.x[..r * d].copy_from_slice(&data.features()[sh.span.start * d..sh.span.end * d]);
            sh.result = one_hot(
                &data.labels()[sh.span.clone()],
                classes,
                &mut sh.y[..r * classes],
            )
            .and_then(|_| {
                sh.ws
                    .evaluate(net, loss, &sh.x[..r * d], &sh.y[..r * classes], r)
            });
        });
        for sh in shards.iter_mut() {
            let r = std::mem::replace(&mut sh.result, Ok(BatchStats::default()))?;
            total.loss += r.loss;
            total.correct += r.correct;
        }
        start = end;
    }
    Ok(total)
}

/// The mean loss and the accuracy of `net` on `data`, with `threads` threads (0: every
/// thread) on `backend`, the kernels at the tier of `kernels`.
///
/// # Errors
/// When the loss does not fit the network, or the data's sizes do not fit it.
pub fn evaluate(
    net: &Mlp,
    data: &Dataset,
    loss: Loss,
    threads: usize,
    backend: Backend,
    kernels: Kernels,
) -> Result<(f64, f64), TrainError> {
    // Not `check`: evaluation needs no derivative (a step network evaluates), no batch size
    // and no optimizer.
    check_threads(threads)?;
    loss.check(net.output_activation())?;
    if data.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: the evaluation set is empty",
            data.name()
        )));
    }
    fits(net, data)?;
    let threads = match threads {
        0 => crate::num_threads(),
        t => t,
    };
    let rows = 256.min(data.len());
    let n = shards_for(net, rows, threads);
    let mut shards = (0..n)
        .map(|_| Shard::new(net, rows.div_ceil(n), backend, kernels))
        .collect::<Result<Vec<_>, _>>()?;
    let s = pool(threads)?.install(|| {
        reserve_panels(net, rows.div_ceil(n));
        evaluate_in(net, data, loss, &mut shards)
    })?;
    let len = data.len() as f64;
    Ok((s.loss / len, s.correct as f64 / len))
}

/// Reports on the console: a progress bar on stderr while an epoch runs (only when stderr is
/// a terminal; indicatif), and one summary line per epoch on stdout.
pub struct ConsoleProgress {
    epochs: usize,
    bar: Option<indicatif::ProgressBar>,
    terminal: bool,
    quiet: bool,
}

impl ConsoleProgress {
    /// For a run of `epochs` epochs; `quiet` prints nothing at all.
    pub fn new(epochs: usize, quiet: bool) -> ConsoleProgress {
        use std::io::IsTerminal;
        ConsoleProgress {
            epochs,
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            quiet,
        }
    }
}

impl Observer for ConsoleProgress {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        if self.quiet || !self.terminal {
            return;
        }
        let bar = indicatif::ProgressBar::new(batches as u64);
        let style = indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} batches ({per_sec})  loss {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("{epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    fn batch_end(&mut self, _batch: usize, loss: f64) {
        if let Some(bar) = &self.bar {
            if bar.position() % 16 == 0 {
                bar.set_message(format!("{loss:.4}"));
            }
            bar.inc(1);
        }
    }

    fn epoch_end(&mut self, stats: &EpochStats) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            println!("{stats}");
        }
    }
}
