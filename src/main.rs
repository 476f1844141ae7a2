//! The `sigmo` command: `train`, `eval` and `info`.

#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use sigmo::data::{self, Split};
use sigmo::gemm::Backend;
use sigmo::kernels::Activation;
use sigmo::nn::{Init, Loss, Mlp, Optimizer, OutputActivation};
use sigmo::train::{ConsoleProgress, Schedule, TrainConfig, TrainError};
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
    /// GEMM backend: matrixmultiply, openblas or gemm (default: SIGMO_BACKEND, else the
    /// build's default).
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
    let cli = match Cli::try_parse() {
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
    let result = match cli.command {
        Command::Train(a) => train(*a),
        Command::Eval(a) => eval(a),
        Command::Info => info(),
    };
    match result {
        Ok(code) => code,
        Err(Fail(msg)) => {
            eprintln!("sigmo: error: {msg}");
            ExitCode::FAILURE
        }
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

/// Applies --threads and --backend (or their environment variables), checking both.
fn setup(run: &RunArgs) -> Result<(usize, Backend), Fail> {
    let env_threads = sigmo::threads::from_env()?;
    let threads = match run.threads {
        Some(t) => sigmo::threads::check(t, &format!("--threads {t}"))?,
        None => env_threads
            .unwrap_or_else(|| sigmo::threads::cores().min(sigmo::threads::max_threads())),
    };
    sigmo::set_num_threads(threads);
    let backend = match &run.backend {
        Some(name) => Backend::from_name(name)?,
        None => Backend::from_env()?,
    };
    sigmo::kernels::Kernels::try_best()?;
    Ok((threads, backend))
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

fn train(a: TrainArgs) -> Result<ExitCode, Fail> {
    if a.epochs == 0 {
        return Err(Fail("--epochs 0: must be at least 1".into()));
    }
    let (threads, backend) = setup(&a.run)?;
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
        .collect();
    distinct(&outputs, &inputs(&a.data))?;
    for p in a.save.iter().chain(&a.report) {
        probe(p)?;
    }
    let (split, desc) = load(&a.data)?;
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
    if let Some(i) = &a.init {
        builder = builder.init(
            i.parse::<Init>()
                .map_err(|e| Fail(format!("--init: {e}")))?,
        );
    }
    let mut net = builder.build()?;
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
        // Checked by setup(): the tier every pass and the optimizer run at.
        kernels: Some(sigmo::kernels::Kernels::best()),
        dropout: a.dropout.clone(),
        input_noise: a.input_noise,
    };
    if !a.quiet {
        println!(
            "training {} on {desc}: {} train, {} test samples; {optimizer} {}, l2 {}, batch {}, \
             {} epochs, {threads} thread(s), {} GEMM, {} kernels",
            net.describe(),
            split.train.len(),
            split.test.len(),
            schedule.name(),
            noise_note(a.l2, &a.dropout, a.input_noise),
            a.batch_size,
            a.epochs,
            backend.name(),
            sigmo::kernels::Kernels::best().isa(),
        );
    }
    let mut progress = ConsoleProgress::new(a.epochs, a.quiet);
    let started = std::time::Instant::now();
    let result = sigmo::train::fit(
        &mut net,
        &split.train,
        Some(&split.test),
        &cfg,
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
                "layers": layers,
                "activation": hidden.to_string(),
                "output": output.to_string(),
                "loss": loss.name(),
                "optimizer": optimizer.name(),
                "lr": optimizer.lr(),
                "schedule": schedule.name(),
                "momentum": match optimizer {
                    Optimizer::Sgd { momentum, .. } => Some(momentum),
                    _ => None,
                },
                "l2": a.l2,
                "dropout": a.dropout,
                "input_noise": a.input_noise,
                "epochs": a.epochs,
                "batch_size": a.batch_size,
                "seed": a.seed,
                "threads": threads,
                "backend": backend.name(),
                "kernels": sigmo::kernels::Kernels::best().isa().name(),
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
    let (threads, backend) = setup(&a.run)?;
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
    let (l, acc) = sigmo::train::evaluate(&net, test, loss, threads, backend)?;
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
