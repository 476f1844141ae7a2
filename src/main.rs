//! The `sigmo` command: `train`, `eval`, `predict` and `info`.

#![forbid(unsafe_code)]

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use sigmo::checkpoint;
use sigmo::data::{self, Split};
use sigmo::gemm::Backend;
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Init, Loss, Mlp, Optimizer, OutputActivation};
use sigmo::train::{
    Checkpoint, Checkpointing, ConsoleProgress, GradientExchange, Schedule, TrainConfig, TrainError,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Fast, proven CPU building blocks for neural networks: train and evaluate MLPs, and show
/// what this machine runs.
#[derive(Parser)]
#[command(name = "sigmo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP (with no options: on the embedded 8×8 digits, in a few seconds).
    Train(Box<TrainArgs>),
    /// Measure a saved model's loss and accuracy on a data set's test split.
    Eval(EvalArgs),
    /// Write a saved model's predictions for every image of an IDX file, as CSV.
    Predict(PredictArgs),
    /// Show the kernel tier this CPU runs (honouring SIGMO_ISA), the GEMM backends, threads.
    Info,
}

/// Where the data comes from.
#[derive(Args, Clone)]
struct DataArgs {
    /// `digits` (embedded, the default), `mnist DIR`, or `fashion-mnist [DIR]` (default
    /// /usr/share/datasets/fashion-mnist, from the Debian package dataset-fashion-mnist).
    #[arg(long, num_args = 1..=2, value_names = ["NAME", "DIR"],
          conflicts_with_all = ["train_images", "test_images"])]
    dataset: Vec<String>,
    /// Training images, IDX (idx3, u8), gzip or raw.
    #[arg(long, requires_all = ["train_labels", "test_images", "test_labels"])]
    train_images: Option<PathBuf>,
    /// Training labels, IDX (idx1, u8).
    #[arg(long, requires = "train_images")]
    train_labels: Option<PathBuf>,
    /// Test images, IDX (idx3, u8).
    #[arg(long, requires = "test_labels")]
    test_images: Option<PathBuf>,
    /// Test labels, IDX (idx1, u8).
    #[arg(long, requires = "test_images")]
    test_labels: Option<PathBuf>,
    /// The largest pixel value of image files given by path; it scales to 1.0 (255 for
    /// MNIST's format; 16 for the UCI 8×8 digits).
    #[arg(long, default_value_t = 255)]
    pixel_max: u8,
}

#[derive(Args)]
struct RunArgs {
    /// Threads (default: SIGMO_THREADS, else every core).
    #[arg(long)]
    threads: Option<usize>,
    /// GEMM backend: sigmo, matrixmultiply, openblas or gemm (default: SIGMO_BACKEND, else
    /// sigmo's own engine).
    #[arg(long)]
    backend: Option<String>,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Layer sizes, input first: `784,128,10` (default: the data's inputs, 256, its classes).
    #[arg(long, value_delimiter = ',')]
    layers: Vec<usize>,
    /// Hidden activation: relu, leaky_relu[=α], elu[=α], sigmoid, tanh, identity, or
    /// maxout[=k] (each unit the largest of k pre-activations, k from 2 to 64; default 2).
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    activation: String,
    /// Output activation (default: softmax for softmax-ce, identity for hinge, sigmoid
    /// otherwise).
    #[arg(long)]
    output: Option<String>,
    /// Loss: softmax-ce, cross-entropy (sigmoid outputs), hinge (multiclass, Weston–Watkins,
    /// margin 1; identity outputs) or quadratic.
    #[arg(long, default_value = "softmax-ce")]
    loss: String,
    /// Weight initialisation: he, xavier, uniform, scaled or classic (default: he for the ReLU family,
    /// xavier otherwise).
    #[arg(long)]
    init: Option<String>,
    /// Optimizer: sgd or adam.
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Passes over the training set.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Learning rate (default: 0.05 for sgd, 0.001 for adam).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Learning-rate schedule: constant, or cosine (down to 0 over the run).
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// SGD momentum (default 0.9; sgd only).
    #[arg(long, allow_negative_numbers = true)]
    momentum: Option<f32>,
    /// L2 weight decay λ (added as λ·w to the weights' gradients).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f32,
    /// Seeds the initialisation, the batch order, the dropout masks and the input noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dropout: the probability of dropping each hidden unit while training, in [0, 1); one
    /// value for every hidden layer, or one per hidden layer (`0.2,0.5`). Kept units are
    /// scaled by 1/(1 − p); the test pass never drops.
    #[arg(long, value_name = "P", value_delimiter = ',', value_parser = parse_dropout,
          allow_negative_numbers = true)]
    dropout: Vec<f32>,
    /// σ of the Gaussian noise added to every input while training (finite, ≥ 0; 0: none).
    #[arg(long, value_name = "SIGMA", default_value_t = 0.0, value_parser = parse_sigma,
          allow_negative_numbers = true)]
    input_noise: f32,
    #[command(flatten)]
    run: RunArgs,
    /// Save the trained model here (safetensors; written atomically).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Write a JSON report here: the configuration and every epoch's numbers.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// After every epoch, write a checkpoint to DIR/checkpoint.sigmo (atomically; DIR is
    /// made if missing): all that --resume needs to continue with the same bits.
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Continue the run checkpointed in DIR, with its settings (--epochs may extend it; a
    /// different setting is an error); checkpoints go on to DIR, or to --checkpoint.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Print only the final line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// A model saved by `sigmo train --save`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct PredictArgs {
    /// A model saved by `sigmo train --save`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// The images, IDX (idx3, u8), gzip or raw; each must have the model's input size.
    #[arg(long, value_name = "FILE")]
    images: PathBuf,
    /// The largest pixel value; it scales to 1.0 (255 for MNIST's format; 16 for the UCI
    /// 8×8 digits).
    #[arg(long, default_value_t = 255)]
    pixel_max: u8,
    /// Write the CSV here (atomically) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A failure to report as one line.
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

fn main() -> ExitCode {
    // Before anything else: get OpenBLAS's right kernels (may re-execute this program once).
    sigmo::openblas::ensure_kernels();
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (cli, matches) = match parsed {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first, without the usage block.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("sigmo: {line} (see sigmo --help)");
            return ExitCode::from(2);
        }
    };
    // The ranks of an MPI job (feature `mpi`, under mpirun), else this process alone.
    let mut ranks = match Ranks::new(matches!(cli.command, Command::Train(_))) {
        Ok(r) => r,
        Err(Fail(msg)) => {
            eprintln!("sigmo: error: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Train(a) => {
            // The options given on the command line (not defaults): a resumed run refuses
            // those that differ from its checkpoint.
            let given: Vec<String> = matches
                .subcommand_matches("train")
                .map(|m| {
                    m.ids()
                        .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
                        .map(|id| id.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default();
            let r = train(*a, &given, ranks.exchange());
            r.map_err(|f| ranks.share_failure(f))
        }
        Command::Eval(a) => eval(a),
        Command::Predict(a) => predict(a),
        Command::Info => info(),
    };
    match result {
        Ok(code) => code,
        Err(Fail(msg)) => {
            // Every rank has the same error (shared by the exchange): rank 0 tells it.
            if ranks.exchange().rank() == 0 {
                eprintln!("sigmo: error: {msg}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The processes a `sigmo train` runs on: the ranks of an MPI job when the build has the
/// `mpi` feature and an MPI launcher started it, else this process alone.
struct Ranks {
    local: sigmo::train::InProcess,
    #[cfg(feature = "mpi")]
    mpi: Option<sigmo::mpi::MpiExchange>,
}

impl Ranks {
    /// MPI is initialized only for `train` (`for_train`) under a launcher.
    fn new(for_train: bool) -> Result<Ranks, Fail> {
        let _ = for_train;
        Ok(Ranks {
            local: sigmo::train::InProcess,
            #[cfg(feature = "mpi")]
            mpi: if for_train && sigmo::mpi::MpiExchange::launched() {
                Some(sigmo::mpi::MpiExchange::init().map_err(Fail)?)
            } else {
                None
            },
        })
    }

    fn exchange(&mut self) -> &mut dyn GradientExchange {
        #[cfg(feature = "mpi")]
        if let Some(m) = &mut self.mpi {
            return m;
        }
        &mut self.local
    }

    /// A rank that failed before the ranks first met (in `fit_with`'s check of the settings)
    /// tells the others, who wait there, so that every rank stops with one message: its own,
    /// or that of the lowest rank that failed.
    fn share_failure(&mut self, f: Fail) -> Fail {
        #[cfg(feature = "mpi")]
        if let Some(m) = &mut self.mpi {
            if m.agreements() == 0 {
                if let Err(d) = m.agree(0, Some(&f.0)) {
                    if d.rank != m.rank() {
                        let msg = d.message.unwrap_or_default();
                        return Fail(format!("rank {}: {msg}", d.rank));
                    }
                }
            }
        }
        f
    }
}

fn info() -> Result<ExitCode, Fail> {
    let info = sigmo::info::Info::detect()?;
    println!("{info}");
    Ok(if info.gemm_check.iter().any(|(_, r)| r.is_err()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Applies --threads and --backend (or their environment variables), checking both, and
/// chooses the kernel tier (the best this CPU runs, or what `SIGMO_ISA` forces) once for the
/// whole command.
fn setup(run: &RunArgs) -> Result<(usize, Backend, Kernels), Fail> {
    let env_threads = sigmo::threads::from_env()?;
    let threads = match run.threads {
        Some(t) => sigmo::threads::check(t, &format!("--threads {t}"))?,
        None => env_threads
            .unwrap_or_else(|| sigmo::threads::cores().min(sigmo::threads::max_threads())),
    };
    sigmo::set_num_threads(threads);
    let backend = match &run.backend {
        Some(name) => Backend::from_name(name)?,
        None => Backend::from_env_or(Backend::for_training())?,
    };
    let kernels = Kernels::try_best()?;
    Ok((threads, backend, kernels))
}

/// The data the options name, and a short description of it.
fn load(d: &DataArgs) -> Result<(Split, String), Fail> {
    if let (Some(ti), Some(tl), Some(vi), Some(vl)) = (
        &d.train_images,
        &d.train_labels,
        &d.test_images,
        &d.test_labels,
    ) {
        let split = data::from_files(ti, tl, vi, vl, d.pixel_max)?;
        return Ok((split, format!("{}", ti.display())));
    }
    if d.test_images.is_some() {
        return Err(Fail(
            "--test-images needs --train-images and --train-labels to train \
             (sigmo eval takes the test files alone)"
                .into(),
        ));
    }
    let name = d.dataset.first().map(String::as_str).unwrap_or("digits");
    let dir = d.dataset.get(1).map(PathBuf::from);
    let split = match (name, &dir) {
        ("digits", None) => data::digits(),
        ("digits", Some(_)) => {
            return Err(Fail(
                "--dataset digits is embedded and takes no folder".into(),
            ))
        }
        ("mnist", Some(dir)) => data::mnist(dir)?,
        ("mnist", None) => {
            return Err(Fail(
                "--dataset mnist needs its folder: --dataset mnist DIR".into(),
            ))
        }
        ("fashion-mnist" | "fashion_mnist", dir) => data::fashion_mnist(dir.as_deref())?,
        (other, _) => {
            return Err(Fail(format!(
                "unknown data set {other:?}: use digits, mnist DIR or fashion-mnist [DIR]"
            )))
        }
    };
    let desc = match dir {
        Some(d) => format!("{name} ({})", d.display()),
        None => name.to_string(),
    };
    Ok((split, desc))
}

/// The data options a run was given, as a checkpoint keeps them (paths made absolute).
fn data_to_meta(d: &DataArgs) -> String {
    let abs = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
    };
    let mut set = d.dataset.clone();
    if let Some(dir) = set.get_mut(1) {
        *dir = std::path::absolute(&*dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| dir.clone());
    }
    serde_json::json!({
        "dataset": set,
        "train_images": abs(&d.train_images),
        "train_labels": abs(&d.train_labels),
        "test_images": abs(&d.test_images),
        "test_labels": abs(&d.test_labels),
        "pixel_max": d.pixel_max,
    })
    .to_string()
}

/// The data options a checkpoint kept (see [`data_to_meta`]).
fn data_from_meta(s: &str) -> Result<DataArgs, Fail> {
    let bad = || Fail("the checkpoint's data options are unreadable; give them again".into());
    let v: serde_json::Value = serde_json::from_str(s).map_err(|_| bad())?;
    let path = |k: &str| v.get(k).and_then(|p| p.as_str()).map(PathBuf::from);
    Ok(DataArgs {
        dataset: v
            .get("dataset")
            .and_then(|d| d.as_array())
            .ok_or_else(bad)?
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        train_images: path("train_images"),
        train_labels: path("train_labels"),
        test_images: path("test_images"),
        test_labels: path("test_labels"),
        pixel_max: v
            .get("pixel_max")
            .and_then(|p| p.as_u64())
            .and_then(|p| u8::try_from(p).ok())
            .ok_or_else(bad)?,
    })
}

/// The options of `sigmo train` that choose the data.
const DATA_OPTIONS: [&str; 6] = [
    "dataset",
    "train_images",
    "train_labels",
    "test_images",
    "test_labels",
    "pixel_max",
];

/// The `--option` spelling of a clap argument id.
fn flag(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

/// Refuses every option given on the command line that differs from the checkpoint `ck`
/// (in folder `dir`): a resumed run keeps its settings.
fn refuse_conflicts(
    a: &TrainArgs,
    given: &[String],
    ck: &Checkpoint,
    dir: &Path,
) -> Result<(), Fail> {
    let c = ck.config();
    let net = ck.network();
    let conflict = |id: &str, here: String, there: String| -> Result<(), Fail> {
        Err(Fail(format!(
            "{} {here} conflicts with the checkpoint in {}, which has {there}: a resumed run \
             keeps its settings (leave {} out, or start a new run)",
            flag(id),
            dir.display(),
            flag(id)
        )))
    };
    let meta = |k: &str| ck.meta().get(k).cloned().unwrap_or_default();
    for id in given {
        let id = id.as_str();
        match id {
            "layers" if a.layers != net.sizes() => {
                let show = |v: &[usize]| {
                    v.iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                conflict(id, show(&a.layers), show(net.sizes()))?
            }
            "activation" => {
                let act: Activation = a
                    .activation
                    .parse()
                    .map_err(|e| Fail(format!("--activation: {e}")))?;
                let same = match net.hidden_activations() {
                    [] => meta("activation").parse::<Activation>().ok() == Some(act),
                    h => h.iter().all(|h| *h == act),
                };
                if !same {
                    conflict(id, a.activation.clone(), net.describe())?
                }
            }
            "output" => {
                let o: OutputActivation = a
                    .output
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| Fail(format!("--output: {e}")))?;
                if o != net.output_activation() {
                    conflict(id, o.to_string(), net.output_activation().to_string())?
                }
            }
            "loss" => {
                let l: Loss = a.loss.parse().map_err(|e| Fail(format!("--loss: {e}")))?;
                if l != c.loss {
                    conflict(id, l.name().into(), c.loss.name().into())?
                }
            }
            "init" => {
                let here = a.init.clone().unwrap_or_default();
                let there = meta("init");
                if here.parse::<Init>().ok() != there.parse::<Init>().ok() {
                    conflict(
                        id,
                        here,
                        if there.is_empty() {
                            "the default".into()
                        } else {
                            there
                        },
                    )?
                }
            }
            "optimizer" if !a.optimizer.eq_ignore_ascii_case(c.optimizer.name()) => {
                conflict(id, a.optimizer.clone(), c.optimizer.name().into())?
            }
            "lr" => {
                if let Some(lr) = a.lr {
                    if lr.to_bits() != c.optimizer.lr().to_bits() {
                        conflict(id, lr.to_string(), c.optimizer.lr().to_string())?
                    }
                }
            }
            "momentum" => {
                let m = a.momentum.unwrap_or_default();
                match c.optimizer {
                    Optimizer::Sgd { momentum, .. } if momentum.to_bits() == m.to_bits() => {}
                    Optimizer::Sgd { momentum, .. } => {
                        conflict(id, m.to_string(), momentum.to_string())?
                    }
                    Optimizer::Adam { .. } => conflict(id, m.to_string(), "adam".into())?,
                }
            }
            "schedule" => {
                let sch: Schedule = a
                    .schedule
                    .parse()
                    .map_err(|e| Fail(format!("--schedule: {e}")))?;
                if sch != c.schedule {
                    conflict(id, sch.name().into(), c.schedule.name().into())?
                }
            }
            "l2" if a.l2.to_bits() != c.l2.to_bits() => {
                conflict(id, a.l2.to_string(), c.l2.to_string())?
            }
            "seed" if a.seed != c.seed => conflict(id, a.seed.to_string(), c.seed.to_string())?,
            "dropout"
                if a.dropout.len() != c.dropout.len()
                    || a.dropout
                        .iter()
                        .zip(&c.dropout)
                        .any(|(x, y)| x.to_bits() != y.to_bits()) =>
            {
                let show = |v: &[f32]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    }
                };
                conflict(id, show(&a.dropout), show(&c.dropout))?
            }
            "input_noise" if a.input_noise.to_bits() != c.input_noise.to_bits() => {
                conflict(id, a.input_noise.to_string(), c.input_noise.to_string())?
            }
            "batch_size" if a.batch_size != c.batch_size => {
                conflict(id, a.batch_size.to_string(), c.batch_size.to_string())?
            }
            "threads" if a.run.threads != Some(c.threads) => conflict(
                id,
                a.run.threads.unwrap_or_default().to_string(),
                c.threads.to_string(),
            )?,
            "backend" => {
                let b = Backend::from_name(a.run.backend.as_deref().unwrap_or_default())?;
                if b != c.backend {
                    conflict(id, b.name().into(), c.backend.name().into())?
                }
            }
            "epochs" if a.epochs < ck.epochs_done() => {
                return Err(Fail(format!(
                    "--epochs {}: the checkpoint in {} has {} epochs done already; give at \
                     least that many",
                    a.epochs,
                    dir.display(),
                    ck.epochs_done()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a run trains, built from the options or taken from a checkpoint.
struct Plan {
    net: Mlp,
    cfg: TrainConfig,
    activation: String,
    init: String,
}

/// The network and the settings the options ask for (a fresh run).
fn plan(
    a: &TrainArgs,
    split: &Split,
    threads: usize,
    backend: Backend,
    kernels: Kernels,
) -> Result<Plan, Fail> {
    let (dim, classes) = (split.train.dim(), split.train.classes());
    let layers = if a.layers.is_empty() {
        vec![dim, 256, classes]
    } else {
        a.layers.clone()
    };
    if layers.len() < 2 || layers[0] != dim || layers[layers.len() - 1] != classes {
        return Err(Fail(format!(
            "--layers {}: must start with the data's {dim} inputs and end with its {classes} classes",
            layers.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(",")
        )));
    }
    let hidden: Activation = a
        .activation
        .parse()
        .map_err(|e| Fail(format!("--activation: {e}")))?;
    let loss: Loss = a.loss.parse().map_err(|e| Fail(format!("--loss: {e}")))?;
    let output: OutputActivation = match &a.output {
        Some(o) => o.parse().map_err(|e| Fail(format!("--output: {e}")))?,
        None if loss == Loss::SoftmaxCrossEntropy => OutputActivation::Softmax,
        None if loss == Loss::Hinge => OutputActivation::Elementwise(Activation::Identity),
        None => OutputActivation::Elementwise(Activation::Sigmoid),
    };
    let optimizer = match a.optimizer.to_ascii_lowercase().as_str() {
        "sgd" => Optimizer::sgd(a.lr.unwrap_or(0.05), a.momentum.unwrap_or(0.9)),
        "adam" if a.momentum.is_some() => {
            return Err(Fail(
                "--momentum applies to --optimizer sgd; Adam has its own moments".into(),
            ))
        }
        "adam" => Optimizer::adam(a.lr.unwrap_or(0.001)),
        o => return Err(Fail(format!("--optimizer {o:?}: use sgd or adam"))),
    };
    let schedule: Schedule = a
        .schedule
        .parse()
        .map_err(|e| Fail(format!("--schedule: {e}")))?;
    let mut builder = Mlp::builder(&layers)
        .hidden(hidden)
        .output(output)
        .seed(a.seed);
    let mut init = String::new();
    if let Some(i) = &a.init {
        let i = i
            .parse::<Init>()
            .map_err(|e| Fail(format!("--init: {e}")))?;
        init = i.name().to_string();
        builder = builder.init(i);
    }
    let net = builder.build()?;
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer,
        schedule,
        l2: a.l2,
        loss,
        seed: a.seed,
        threads,
        backend,
        // Chosen by setup(): the tier every pass and the optimizer run at.
        kernels,
        dropout: a.dropout.clone(),
        input_noise: a.input_noise,
    };
    Ok(Plan {
        net,
        cfg,
        activation: hidden.to_string(),
        init,
    })
}

fn train(
    mut a: TrainArgs,
    given: &[String],
    exchange: &mut dyn GradientExchange,
) -> Result<ExitCode, Fail> {
    let (rank, n_ranks) = (exchange.rank(), exchange.ranks());
    if rank != 0 {
        // Rank 0 alone writes and prints; the other ranks read what it reads (--resume).
        a.save = None;
        a.report = None;
        a.checkpoint = None;
        a.quiet = true;
    }
    if a.epochs == 0 {
        return Err(Fail("--epochs 0: must be at least 1".into()));
    }
    let is_given = |id: &str| given.iter().any(|g| g == id);
    // A resumed run: its checkpoint first, and every option that differs from it refused.
    let from = match &a.resume {
        Some(dir) => {
            let file = checkpoint::file_in(dir);
            if std::fs::symlink_metadata(&file).is_err() && std::fs::metadata(dir).is_ok() {
                return Err(Fail(format!(
                    "--resume {}: no checkpoint there (no {}); start a run with --checkpoint {}",
                    dir.display(),
                    checkpoint::FILE_NAME,
                    dir.display()
                )));
            }
            let ck = Checkpoint::load(&file)?;
            refuse_conflicts(&a, given, &ck, dir)?;
            Some(ck)
        }
        None => None,
    };
    let run = match &from {
        // The checkpoint's thread count and backend, not the environment's.
        Some(ck) => RunArgs {
            // A checkpoint keeps the threads of all ranks together.
            threads: Some(
                a.run
                    .threads
                    .unwrap_or((ck.config().threads / n_ranks).max(1)),
            ),
            backend: Some(
                a.run
                    .backend
                    .clone()
                    .unwrap_or_else(|| ck.config().backend.name().to_string()),
            ),
        },
        None => RunArgs {
            threads: a.run.threads,
            backend: a.run.backend.clone(),
        },
    };
    let (threads, backend, best) = setup(&run)?;
    let kernels = match &from {
        Some(ck) => Kernels::new(ck.isa()).map_err(|e| {
            Fail(format!(
                "the checkpoint ran the {} kernels, which cannot run here ({e}): the same bits \
                 need the same tier",
                ck.isa()
            ))
        })?,
        None => best,
    };
    // The data: the options given, or those the checkpoint kept.
    let data_args = match &from {
        Some(ck) if !DATA_OPTIONS.iter().any(|o| is_given(o)) => match ck.meta().get("data") {
            Some(m) => data_from_meta(m)?,
            None => a.data.clone(),
        },
        _ => a.data.clone(),
    };
    let resume_file = a.resume.as_deref().map(checkpoint::file_in);
    let ckpt_dir = a.checkpoint.as_ref().or(a.resume.as_ref());
    let ckpt_file = ckpt_dir.map(|d| checkpoint::file_in(d));
    // Before any data is read or any training: no output may replace an input or another
    // output, and every output's folder must take a file.
    let outputs: Vec<(String, PathBuf)> = a
        .save
        .iter()
        .flat_map(|p| {
            [
                (format!("--save {}", p.display()), p.clone()),
                (
                    format!("--save's last-good copy {}", last_good(p).display()),
                    last_good(p),
                ),
            ]
        })
        .chain(
            a.report
                .iter()
                .map(|p| (format!("--report {}", p.display()), p.clone())),
        )
        .chain(ckpt_file.iter().map(|f| {
            let opt = if a.checkpoint.is_some() {
                "--checkpoint"
            } else {
                "--resume"
            };
            (format!("{opt}'s {}", f.display()), f.clone())
        }))
        .collect();
    let mut ins = inputs(&data_args);
    // The checkpoint resumed from is an input, unless it is also the one written.
    if let (Some(r), Some(w)) = (&resume_file, &ckpt_file) {
        if !sigmo::atomic::same_file(r, w) {
            ins.push((format!("--resume's {}", r.display()), r.clone()));
        }
    }
    // The checkpoint's folder is made first, so that the checks see where its file goes;
    // made here, it is removed again when a check fails.
    let made = match ckpt_dir {
        Some(dir) if std::fs::symlink_metadata(dir).is_err() => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Fail(format!(
                    "--checkpoint {}: cannot make the folder: {e}",
                    dir.display()
                ))
            })?;
            Some(dir)
        }
        _ => None,
    };
    let checked = match rank {
        0 => check_outputs(&a, &outputs, &ins, ckpt_dir, &ckpt_file, &resume_file),
        _ => Ok(()),
    };
    if let (Err(_), Some(dir)) = (&checked, made) {
        let _ = std::fs::remove_dir(dir);
    }
    checked?;
    let (split, desc) = load(&data_args)?;
    let Plan {
        mut net,
        cfg,
        activation,
        init,
    } = match &from {
        None => plan(&a, &split, threads, backend, kernels)?,
        Some(ck) => Plan {
            net: ck.network().clone(),
            cfg: TrainConfig {
                epochs: if is_given("epochs") {
                    a.epochs
                } else {
                    ck.config().epochs
                },
                threads,
                backend,
                kernels,
                ..ck.config().clone()
            },
            activation: ck.meta().get("activation").cloned().unwrap_or_default(),
            init: ck.meta().get("init").cloned().unwrap_or_default(),
        },
    };
    let (optimizer, schedule, loss) = (cfg.optimizer, cfg.schedule, cfg.loss);
    let done = from.as_ref().map_or(0, |c| c.epochs_done());
    if !a.quiet {
        let what = match (&from, &a.resume) {
            (Some(_), Some(dir)) => format!(
                "resuming {} from {} after epoch {done}",
                net.describe(),
                dir.display()
            ),
            _ => format!("training {}", net.describe()),
        };
        println!(
            "{what} on {desc}: {} train, {} test samples; {optimizer} {}, l2 {}, batch {}, \
             {} epochs, {}{threads} thread(s), {} GEMM, {} kernels",
            split.train.len(),
            split.test.len(),
            schedule.name(),
            noise_note(cfg.l2, &cfg.dropout, cfg.input_noise),
            cfg.batch_size,
            cfg.epochs,
            match n_ranks {
                1 => String::new(),
                p => format!("{p} ranks × "),
            },
            backend.name(),
            kernels.isa(),
        );
    }
    let mut meta = BTreeMap::new();
    meta.insert("data".to_string(), data_to_meta(&data_args));
    meta.insert("activation".to_string(), activation.clone());
    meta.insert("init".to_string(), init);
    let ck = Checkpointing {
        from: from.as_ref(),
        to: ckpt_file.as_deref(),
        meta,
    };
    let mut progress = ConsoleProgress::new(cfg.epochs, a.quiet);
    let started = std::time::Instant::now();
    let result = sigmo::train::fit_with(
        &mut net,
        &split.train,
        Some(&split.test),
        &cfg,
        &ck,
        exchange,
        &mut progress,
    );
    let total = started.elapsed().as_secs_f64();
    let history = match result {
        Ok(h) => h,
        Err(e @ TrainError::Diverged { .. }) => {
            // The network is back to its last good weights: keep them if asked to save, but
            // beside --save, never over it (it may hold a good model of an earlier run).
            let saved = match &a.save {
                Some(p) => {
                    let copy = last_good(p);
                    match sigmo::nn::save(&net, Some(loss), &copy) {
                        Ok(()) => format!(
                            "; {} was left as it was; saved the last good model to {}",
                            p.display(),
                            copy.display()
                        ),
                        Err(se) => format!(
                            "; {} was left as it was; the last good model could not be saved: {se}",
                            p.display()
                        ),
                    }
                }
                None => String::new(),
            };
            return Err(Fail(format!("{e}{saved}")));
        }
        Err(e) => return Err(Fail(e.to_string())),
    };
    if let Some(path) = &a.report {
        let report = serde_json::json!({
            "sigmo": env!("CARGO_PKG_VERSION"),
            "config": {
                "dataset": desc,
                "train_samples": split.train.len(),
                "test_samples": split.test.len(),
                "layers": net.sizes(),
                "activation": activation,
                "output": net.output_activation().to_string(),
                "loss": loss.name(),
                "optimizer": optimizer.name(),
                "lr": optimizer.lr(),
                "schedule": schedule.name(),
                "momentum": match optimizer {
                    Optimizer::Sgd { momentum, .. } => Some(momentum),
                    _ => None,
                },
                "l2": cfg.l2,
                "dropout": cfg.dropout,
                "input_noise": cfg.input_noise,
                "epochs": cfg.epochs,
                "batch_size": cfg.batch_size,
                "seed": cfg.seed,
                "threads": threads,
                "ranks": n_ranks,
                "backend": backend.name(),
                "kernels": kernels.isa().name(),
                "resumed_after_epoch": from.as_ref().map(|c| c.epochs_done()),
            },
            "epochs": history.epochs,
            "seconds_total": total,
        });
        let text = serde_json::to_string_pretty(&report)?;
        write_atomic(path, text.as_bytes())?;
    }
    if let Some(path) = &a.save {
        sigmo::nn::save(&net, Some(loss), path)?;
    }
    if rank != 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let last = history.last();
    let acc = last.and_then(|e| e.test_accuracy).unwrap_or(f64::NAN);
    println!(
        "test accuracy {:.2}% ({} samples) after {} epoch{}, {:.3} s{}",
        100.0 * acc,
        split.test.len(),
        history.epochs.len(),
        if history.epochs.len() == 1 { "" } else { "s" },
        total,
        a.save
            .as_ref()
            .map(|p| format!("; saved to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn eval(a: EvalArgs) -> Result<ExitCode, Fail> {
    let (threads, backend, kernels) = setup(&a.run)?;
    let (net, loss) = sigmo::nn::load(&a.model)?;
    let loss = loss.unwrap_or(match net.output_activation() {
        OutputActivation::Softmax => Loss::SoftmaxCrossEntropy,
        _ => Loss::Quadratic,
    });
    let d = &a.data;
    // The test set alone: no copy of it as a training set.
    let (test, desc) = match (&d.test_images, &d.test_labels, &d.train_images) {
        (Some(vi), Some(vl), None) => (
            data::Dataset::load_idx_scaled(vi, vl, d.pixel_max)?,
            vi.display().to_string(),
        ),
        _ => {
            let (split, desc) = load(d)?;
            (split.test, desc)
        }
    };
    let test = &test;
    let (l, acc) = sigmo::train::evaluate(&net, test, loss, threads, backend, kernels)?;
    println!(
        "{}: {} on {desc} (test, {} samples): accuracy {:.2}%, {} {l:.4}",
        a.model.display(),
        net.describe(),
        test.len(),
        100.0 * acc,
        loss.name()
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks, before any training, that no output replaces an input or another output, that a
/// fresh checkpoint does not replace another run's, and that every output can be written.
fn check_outputs(
    a: &TrainArgs,
    outputs: &[(String, PathBuf)],
    ins: &[(String, PathBuf)],
    ckpt_dir: Option<&PathBuf>,
    ckpt_file: &Option<PathBuf>,
    resume_file: &Option<PathBuf>,
) -> Result<(), Fail> {
    distinct(outputs, ins)?;
    if let (Some(dir), Some(file)) = (ckpt_dir, ckpt_file) {
        let resumes_it = resume_file
            .as_ref()
            .is_some_and(|r| sigmo::atomic::same_file(r, file));
        if !resumes_it && std::fs::symlink_metadata(file).is_ok() {
            return Err(Fail(format!(
                "--checkpoint {}: it holds a checkpoint already ({}); continue that run with \
                 --resume {}, or choose another folder",
                dir.display(),
                file.display(),
                dir.display()
            )));
        }
    }
    for p in a.save.iter().chain(&a.report).chain(ckpt_file) {
        probe(p)?;
    }
    Ok(())
}

/// The L2 setting, and the dropout and input noise when set, for the first line.
fn noise_note(l2: f32, dropout: &[f32], sigma: f32) -> String {
    let mut s = l2.to_string();
    if !dropout.is_empty() {
        let d: Vec<String> = dropout.iter().map(|p| p.to_string()).collect();
        s.push_str(&format!(", dropout {}", d.join(",")));
    }
    if sigma > 0.0 {
        s.push_str(&format!(", input noise σ {sigma}"));
    }
    s
}

/// `--activation`: a known name, and maxout's k within [`sigmo::nn::MAXOUT_PIECES`].
fn parse_activation(s: &str) -> Result<String, String> {
    match s.parse::<Activation>().map_err(|e| e.to_string())? {
        Activation::Maxout(k) if !sigmo::nn::MAXOUT_PIECES.contains(&k) => Err(format!(
            "maxout takes k = {} to {} pieces, not {k}",
            sigmo::nn::MAXOUT_PIECES.start(),
            sigmo::nn::MAXOUT_PIECES.end()
        )),
        _ => Ok(s.to_string()),
    }
}

/// `--dropout`: a probability in [0, 1).
fn parse_dropout(s: &str) -> Result<f32, String> {
    let p: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!(
            "{p} is outside [0, 1) (the probability of dropping a unit)"
        ))
    }
}

/// `--input-noise`: a finite σ ≥ 0.
fn parse_sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("σ = {v} must be finite and ≥ 0"))
    }
}

/// Where a diverged run saves its last good model: beside `--save`, never over it.
fn last_good(save: &Path) -> PathBuf {
    let mut name = save.as_os_str().to_os_string();
    name.push(".diverged-last-good");
    PathBuf::from(name)
}

/// The files the data options read, each with the option that names it (for `--dataset mnist
/// DIR` and `fashion-mnist [DIR]`, the four files found in the folder; none for `digits`).
fn inputs(d: &DataArgs) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = [
        ("--train-images", &d.train_images),
        ("--train-labels", &d.train_labels),
        ("--test-images", &d.test_images),
        ("--test-labels", &d.test_labels),
    ]
    .into_iter()
    .filter_map(|(flag, p)| {
        p.as_ref()
            .map(|p| (format!("{flag} {}", p.display()), p.clone()))
    })
    .collect();
    let dir = match (d.dataset.first().map(String::as_str), d.dataset.get(1)) {
        (Some("mnist"), Some(dir)) => Some(PathBuf::from(dir)),
        (Some("fashion-mnist" | "fashion_mnist"), dir) => Some(
            dir.map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(data::FASHION_MNIST_DIR)),
        ),
        _ => None,
    };
    if let Some(files) = dir.and_then(|dir| data::mnist_layout_files(&dir).ok()) {
        let name = d.dataset[0].as_str();
        v.extend(
            files
                .into_iter()
                .map(|p| (format!("--dataset {name}'s {}", p.display()), p)),
        );
    }
    v
}

/// Checks that no two `outputs` name the same file, and that no output names one of the
/// `inputs` (see [`sigmo::atomic::same_file`]: `./x`, `x`, symlinks and hard links are one
/// file).
fn distinct(outputs: &[(String, PathBuf)], inputs: &[(String, PathBuf)]) -> Result<(), Fail> {
    for (i, (name, p)) in outputs.iter().enumerate() {
        for (other, q) in &outputs[i + 1..] {
            if sigmo::atomic::same_file(p, q) {
                return Err(Fail(format!(
                    "{name} and {other} name the same file: each output needs its own"
                )));
            }
        }
        for (input, q) in inputs {
            if sigmo::atomic::same_file(p, q) {
                return Err(Fail(format!(
                    "{name} names the same file as {input}: an output may not replace an input"
                )));
            }
        }
    }
    Ok(())
}

/// Checks that `path` can be written (see [`sigmo::atomic::probe`]).
fn probe(path: &Path) -> Result<(), Fail> {
    sigmo::atomic::probe(path).map_err(|e| Fail(format!("{}: {e}", path.display())))
}

/// Writes `bytes` to `path` atomically (see [`sigmo::atomic::write`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Fail> {
    sigmo::atomic::write(path, bytes).map_err(|e| Fail(format!("{}: {e}", path.display())))
}

/// `sigmo predict`: the CSV of [`sigmo::predict::csv`] for every image of `--images`.
fn predict(a: PredictArgs) -> Result<ExitCode, Fail> {
    let backend = Backend::from_env_or(Backend::for_training())?;
    let kernels = Kernels::try_best()?;
    if let Some(out) = &a.output {
        distinct(
            &[(format!("--output {}", out.display()), out.clone())],
            &[
                (format!("--model {}", a.model.display()), a.model.clone()),
                (format!("--images {}", a.images.display()), a.images.clone()),
            ],
        )?;
        probe(out)?;
    }
    let (net, _) = sigmo::nn::load(&a.model)?;
    let images = data::load_images(&a.images, a.pixel_max)?;
    if images.dim != net.inputs() {
        return Err(Fail(format!(
            "{}: images have {} pixels, the model {} takes {} inputs",
            a.images.display(),
            images.dim,
            net.describe(),
            net.inputs()
        )));
    }
    let csv = sigmo::predict::csv(&net, &images.features, images.count, backend, kernels)?;
    match &a.output {
        Some(path) => write_atomic(path, &csv)?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&csv)
                .and_then(|_| out.flush())
                .map_err(|e| Fail(format!("stdout: {e}")))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
