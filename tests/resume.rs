//! Checkpoints and exact resume: a run stopped and resumed any number of times ends with the
//! same bits as one never stopped (library and command, SGD and Adam, one and two threads,
//! the command killed with SIGKILL at pseudo-random moments); a corrupt or foreign
//! checkpoint is one clear error that overwrites nothing; a resumed run refuses a setting
//! that differs from its checkpoint's.

use sigmo::checkpoint;
use sigmo::data;
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Mlp, Optimizer, OutputActivation};
use sigmo::train::{
    self, fit, fit_from, Checkpoint, Checkpointing, EpochStats, Observer, Schedule, TrainConfig,
    TrainError,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Wide enough that a batch of 64 is split into two shards on two threads, and that the
/// optimizer's update is split over the threads too (≥ 2¹⁶ parameters).
const SIZES: [usize; 3] = [64, 1024, 10];
const BATCH: usize = 64;

fn net() -> Mlp {
    Mlp::builder(&SIZES)
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .seed(5)
        .build()
        .unwrap()
}

/// SGD with momentum and L2 at a constant rate, or Adam with L2, dropout and input noise on a
/// cosine schedule.
fn cfg(adam: bool, threads: usize, epochs: usize, schedule: Schedule) -> TrainConfig {
    TrainConfig {
        dropout: if adam { vec![0.2] } else { Vec::new() },
        input_noise: if adam { 0.05 } else { 0.0 },
        epochs,
        batch_size: BATCH,
        optimizer: if adam {
            Optimizer::adam(0.002)
        } else {
            Optimizer::sgd(0.05, 0.9)
        },
        schedule,
        l2: 1e-4,
        seed: 11,
        threads,
        ..TrainConfig::new(Kernels::best())
    }
}

fn bits(net: &Mlp) -> Vec<u32> {
    net.parameters().iter().map(|x| x.to_bits()).collect()
}

/// The numbers of an epoch that do not depend on the clock.
fn numbers(e: &EpochStats) -> (usize, u64, u64, Option<u64>, Option<u64>) {
    (
        e.epoch,
        e.loss.to_bits(),
        e.train_accuracy.to_bits(),
        e.test_accuracy.map(f64::to_bits),
        e.test_loss.map(f64::to_bits),
    )
}

/// Copies the checkpoint file as it is at the end of each epoch: the state of a run killed
/// right after that epoch.
struct Snapshots {
    file: PathBuf,
    copies: Vec<Vec<u8>>,
}

impl Observer for Snapshots {
    fn epoch_end(&mut self, _stats: &EpochStats) {
        self.copies.push(std::fs::read(&self.file).unwrap());
    }
}

#[test]
fn two_shards_and_a_split_update_are_what_the_two_thread_runs_test() {
    assert_eq!(train::shards_for(&net(), BATCH, 2), 2);
    assert_eq!(train::shards_for(&net(), BATCH, 1), 1);
    assert!(net().num_params() >= 1 << 16);
}

/// E epochs in one go, and the same run stopped after several epochs (its checkpoint then
/// loaded from disk, and continued, itself stopped again): the same bits, the same history.
#[test]
fn a_resumed_run_ends_with_the_bits_of_one_never_stopped() {
    let s = data::digits();
    const E: usize = 4;
    for adam in [false, true] {
        let schedule = if adam {
            Schedule::Cosine
        } else {
            Schedule::Constant
        };
        for threads in [1, 2] {
            let what = format!("adam {adam}, {threads} thread(s)");
            let c = cfg(adam, threads, E, schedule);
            let mut whole = net();
            let h_whole = fit(&mut whole, &s.train, Some(&s.test), &c, &mut ()).unwrap();

            // The same run, checkpointed: every epoch's checkpoint kept.
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("ck");
            let mut obs = Snapshots {
                file: file.clone(),
                copies: Vec::new(),
            };
            let mut a = net();
            let to = Checkpointing {
                to: Some(&file),
                ..Checkpointing::default()
            };
            fit_from(&mut a, &s.train, Some(&s.test), &c, &to, &mut obs).unwrap();
            assert_eq!(
                bits(&a),
                bits(&whole),
                "{what}: checkpointing changed the run"
            );
            assert_eq!(obs.copies.len(), E);

            // Stopped after epoch 1, resumed and stopped after epoch 3, resumed to the end.
            let after1 = dir.path().join("after1");
            std::fs::write(&after1, &obs.copies[0]).unwrap();
            let ck1 = Checkpoint::load(&after1).unwrap();
            assert_eq!(ck1.epochs_done(), 1, "{what}");
            let file2 = dir.path().join("ck2");
            let mut obs2 = Snapshots {
                file: file2.clone(),
                copies: Vec::new(),
            };
            let mut b = ck1.network().clone();
            let h = fit_from(
                &mut b,
                &s.train,
                Some(&s.test),
                &c,
                &Checkpointing {
                    from: Some(&ck1),
                    to: Some(&file2),
                    ..Checkpointing::default()
                },
                &mut obs2,
            )
            .unwrap();
            assert_eq!(bits(&b), bits(&whole), "{what}: resumed once");
            assert_eq!(obs2.copies.len(), E - 1, "{what}");
            // Its checkpoint after epoch 3 is the uninterrupted run's, byte for byte but for
            // the clock's numbers: compare by what they hold.
            let after3 = dir.path().join("after3");
            std::fs::write(&after3, &obs2.copies[1]).unwrap();
            let ck3 = Checkpoint::load(&after3).unwrap();
            std::fs::write(&after3, &obs.copies[2]).unwrap();
            let ck3_whole = Checkpoint::load(&after3).unwrap();
            assert_eq!(ck3.epochs_done(), 3);
            assert_eq!(bits(ck3.network()), bits(ck3_whole.network()), "{what}");
            assert_eq!(ck3.optimizer_steps(), ck3_whole.optimizer_steps(), "{what}");
            let mut d = ck3.network().clone();
            let h2 = fit_from(
                &mut d,
                &s.train,
                Some(&s.test),
                &c,
                &Checkpointing {
                    from: Some(&ck3),
                    ..Checkpointing::default()
                },
                &mut (),
            )
            .unwrap();
            assert_eq!(bits(&d), bits(&whole), "{what}: resumed twice");
            for hist in [&h, &h2] {
                assert_eq!(hist.epochs.len(), E);
                let got: Vec<_> = hist.epochs.iter().map(numbers).collect();
                let want: Vec<_> = h_whole.epochs.iter().map(numbers).collect();
                assert_eq!(got, want, "{what}: the history");
            }
            // A checkpoint saved again is the same file.
            let again = dir.path().join("again");
            ck3.save(&again).unwrap();
            assert_eq!(std::fs::read(&again).unwrap(), obs2.copies[1], "{what}");
        }
    }
}

/// The brief's other way: train k epochs (a run of k), then extend it to E: at a constant
/// rate the same bits as E epochs in one go.
#[test]
fn a_run_extended_from_its_checkpoint_equals_the_longer_run() {
    let s = data::digits();
    for adam in [false, true] {
        for threads in [1, 2] {
            let what = format!("adam {adam}, {threads} thread(s)");
            let mut whole = net();
            fit(
                &mut whole,
                &s.train,
                None,
                &cfg(adam, threads, 3, Schedule::Constant),
                &mut (),
            )
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("ck");
            let mut a = net();
            let c2 = cfg(adam, threads, 2, Schedule::Constant);
            let to = Checkpointing {
                to: Some(&file),
                ..Checkpointing::default()
            };
            fit_from(&mut a, &s.train, None, &c2, &to, &mut ()).unwrap();
            let ck = Checkpoint::load(&file).unwrap();
            assert_eq!(ck.config().epochs, 2);
            assert_eq!(ck.config().threads, threads);
            assert!(ck.test_data().is_none());
            let mut b = ck.network().clone();
            let from = Checkpointing {
                from: Some(&ck),
                ..Checkpointing::default()
            };
            let c3 = cfg(adam, threads, 3, Schedule::Constant);
            let h = fit_from(&mut b, &s.train, None, &c3, &from, &mut ()).unwrap();
            assert_eq!(h.epochs.len(), 3);
            assert_eq!(bits(&b), bits(&whole), "{what}");
        }
    }
}

#[test]
fn the_library_refuses_a_resume_that_does_not_fit_its_checkpoint() {
    let s = data::digits();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ck");
    let c = cfg(false, 1, 2, Schedule::Constant);
    let mut a = net();
    let to = Checkpointing {
        to: Some(&file),
        ..Checkpointing::default()
    };
    fit_from(&mut a, &s.train, Some(&s.test), &c, &to, &mut ()).unwrap();
    let ck = Checkpoint::load(&file).unwrap();
    let from = Checkpointing {
        from: Some(&ck),
        ..Checkpointing::default()
    };
    let other = |f: &dyn Fn(&mut TrainConfig)| {
        let mut c = cfg(false, 1, 4, Schedule::Constant);
        f(&mut c);
        c
    };
    let cases: Vec<(TrainConfig, &str)> = vec![
        (other(&|c| c.batch_size = 32), "batch size"),
        (
            other(&|c| c.optimizer = Optimizer::sgd(0.1, 0.9)),
            "optimizer",
        ),
        (other(&|c| c.optimizer = Optimizer::adam(0.05)), "optimizer"),
        (other(&|c| c.l2 = 0.0), "l2"),
        (other(&|c| c.seed = 12), "seed"),
        (other(&|c| c.schedule = Schedule::Cosine), "schedule"),
        (other(&|c| c.threads = 2), "thread count"),
        (other(&|c| c.epochs = 1), "epochs"),
    ];
    for (c, want) in cases {
        let mut n = ck.network().clone();
        let before = bits(&n);
        match fit_from(&mut n, &s.train, Some(&s.test), &c, &from, &mut ()) {
            Err(TrainError::Config(e)) => assert!(e.contains(want), "{want}: {e}"),
            other => panic!("{want}: {other:?}"),
        }
        assert_eq!(bits(&n), before, "{want}: the network changed");
    }
    // Another architecture; other data.
    let mut wide = Mlp::builder(&[64, 32, 10])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let e = fit_from(&mut wide, &s.train, Some(&s.test), &c, &from, &mut ()).unwrap_err();
    assert!(e.to_string().contains("layer sizes"), "{e}");
    let fewer = s.train.subset("fewer", &(0..1000).collect::<Vec<_>>());
    let mut n = ck.network().clone();
    let e = fit_from(&mut n, &fewer, Some(&s.test), &c, &from, &mut ()).unwrap_err();
    assert!(e.to_string().contains("training set"), "{e}");
    let mut n = ck.network().clone();
    let e = fit_from(&mut n, &s.train, None, &c, &from, &mut ()).unwrap_err();
    assert!(e.to_string().contains("test set"), "{e}");
}

// ---- the command, killed ----

/// splitmix64: the pseudo-random delays, from a fixed seed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d4_9b03_3d1e_2c5c);
    z ^ (z >> 31)
}

fn unit(state: &mut u64) -> f64 {
    (splitmix(state) >> 11) as f64 / (1u64 << 53) as f64
}

fn sigmo_cmd(args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigmo"));
    c.args(args)
        .env_remove("SIGMO_ISA")
        .env_remove("SIGMO_THREADS")
        .env_remove("SIGMO_BACKEND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A running `sigmo`, its stdout lines arriving with the time they came.
struct Running {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    err: std::thread::JoinHandle<String>,
}

fn spawn(args: &[String]) -> Running {
    let mut child = sigmo_cmd(args).spawn().expect("run sigmo");
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send((Instant::now(), l)).is_err() {
                break;
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    Running { child, lines, err }
}

/// When to kill a run.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// This long after it starts.
    After(Duration),
    /// This long after it prints its `n`-th epoch line (just after that epoch's checkpoint
    /// was written): most of an epoch later lands in the next test pass or checkpoint write.
    AfterEpochLine(usize, Duration),
}

/// What [`run_until`] saw.
struct Ran {
    killed: bool,
    /// The exit status and stderr, when it was not killed.
    status: Option<std::process::ExitStatus>,
    err: String,
    /// When each epoch line came.
    epoch_lines: Vec<Instant>,
}

/// Runs `args` until it ends or `kill` strikes.
fn run_until(args: &[String], kill: Option<Kill>) -> Ran {
    let start = Instant::now();
    let mut r = spawn(args);
    let mut epoch_lines = Vec::new();
    let mut deadline = match kill {
        Some(Kill::After(d)) => Some(start + d),
        _ => None,
    };
    loop {
        while let Ok((at, line)) = r.lines.try_recv() {
            if line.starts_with("epoch ") {
                epoch_lines.push(at);
                if let Some(Kill::AfterEpochLine(n, d)) = kill {
                    if epoch_lines.len() == n {
                        deadline = Some(at + d);
                    }
                }
            }
        }
        if let Some(st) = r.child.try_wait().unwrap() {
            return Ran {
                killed: false,
                status: Some(st),
                err: r.err.join().unwrap(),
                epoch_lines,
            };
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // SIGKILL on Unix: no handler, no flush, no cleanup.
            r.child.kill().unwrap();
            r.child.wait().unwrap();
            let _ = r.err.join();
            return Ran {
                killed: true,
                status: None,
                err: String::new(),
                epoch_lines,
            };
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "sigmo {args:?} ran for a minute"
        );
        std::thread::sleep(Duration::from_micros(300));
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The epochs of the command runs.
const EPOCHS: usize = 8;

/// The settings of the command runs: two hidden layers of 512 (a batch of 64 is two shards
/// on two threads), [`EPOCHS`] epochs of the digits.
fn train_args(adam: bool, threads: usize) -> Vec<String> {
    let mut v = strings(&[
        "train",
        "--layers",
        "64,512,512,10",
        "--epochs",
        &EPOCHS.to_string(),
        "--batch-size",
        "64",
        "--l2",
        "0.0001",
        "--seed",
        "3",
        "--threads",
        &threads.to_string(),
    ]);
    v.extend(strings(if adam {
        &[
            "--optimizer",
            "adam",
            "--lr",
            "0.002",
            "--schedule",
            "cosine",
            "--dropout",
            "0.1",
            "--input-noise",
            "0.02",
        ]
    } else {
        &["--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9"]
    }));
    v
}

#[test]
fn the_command_killed_at_random_moments_and_resumed_ends_with_the_same_model() {
    let mut rng = 0x5eed_0012u64;
    for adam in [false, true] {
        for threads in [1, 2] {
            let what = format!("adam {adam}, {threads} thread(s)");
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            // The uninterrupted run, checkpointing as the others do; its time and the gap
            // between its epoch lines scale the delays.
            let whole = d.join("whole.safetensors");
            let mut args = train_args(adam, threads);
            args.extend(strings(&[
                "--checkpoint",
                s(&d.join("w")),
                "--save",
                s(&whole),
            ]));
            let start = Instant::now();
            let mut r = spawn(&args);
            let mut at = Vec::new();
            for (t, l) in r.lines.iter() {
                if l.starts_with("epoch ") {
                    at.push(t);
                }
            }
            let st = r.child.wait().unwrap();
            assert!(st.success(), "{what}: {}", r.err.join().unwrap());
            assert_eq!(at.len(), EPOCHS);
            // An epoch with its test pass and checkpoint; the start-up before the first.
            // The shortest gap seen so far, kept up to date from every run: runs get faster
            // when the other tests end, and a kill must come before the end.
            let gaps = |at: &[Instant]| at.windows(2).map(|w| w[1] - w[0]).min();
            let mut epoch = gaps(&at).unwrap();
            let startup = (at[0] - start).saturating_sub(epoch);

            // The same run, killed and resumed until it completes.
            let ckdir = d.join("ck");
            let model = d.join("model.safetensors");
            let fresh = {
                let mut a = train_args(adam, threads);
                a.extend(strings(&["--checkpoint", s(&ckdir), "--save", s(&model)]));
                a
            };
            let resume = strings(&["train", "--resume", s(&ckdir), "--save", s(&model)]);
            let (mut kills, mut resumes, mut attempts) = (0, 0, 0);
            // Each run's epochs done at its start, `k` when it was killed.
            let mut log = Vec::new();
            loop {
                attempts += 1;
                assert!(attempts < 40, "{what}: no end after {attempts} runs");
                let file = checkpoint::file_in(&ckdir);
                let has_ck = file.exists();
                // A kill never leaves a checkpoint that does not load.
                let done = if has_ck {
                    Checkpoint::load(&file)
                        .unwrap_or_else(|e| panic!("{what}: after {kills} kills: {e}"))
                        .epochs_done()
                } else {
                    0
                };
                let args = if has_ck { &resume } else { &fresh };
                resumes += has_ck as usize;
                // Up to five kills, each one epoch line n (0 to 2, at most two before the
                // end: 0 is the start) and then a fraction of an epoch later; every second
                // one late in that epoch, around its checkpoint's write. Then on to the end.
                let left = EPOCHS - done;
                let kill = (kills < 5 && left >= 2).then(|| {
                    let n = (splitmix(&mut rng) % (left as u64 - 1).min(3)) as usize;
                    let u = if kills % 2 == 1 {
                        0.7 + 0.3 * unit(&mut rng)
                    } else {
                        unit(&mut rng)
                    };
                    match n {
                        0 => Kill::After(startup + epoch.mul_f64(u)),
                        n => Kill::AfterEpochLine(n, epoch.mul_f64(u)),
                    }
                });
                let ran = run_until(args, kill);
                log.push(format!("{done}{}", if ran.killed { "k" } else { "" }));
                epoch = epoch.min(gaps(&ran.epoch_lines).unwrap_or(epoch));
                if ran.killed {
                    kills += 1;
                    continue;
                }
                let status = ran.status.unwrap();
                assert!(status.success(), "{what}: sigmo {args:?}: {}", ran.err);
                break;
            }
            assert!(kills >= 3, "{what}: only {kills} kills landed: {log:?}");
            assert!(resumes >= 1, "{what}: never resumed");
            let (a, b) = (
                std::fs::read(&model).unwrap(),
                std::fs::read(&whole).unwrap(),
            );
            assert!(
                a == b,
                "{what}: the model differs after {kills} kills, {resumes} resumes"
            );
            // A kill inside a checkpoint's write leaves its temporary file behind.
            let torn = std::fs::read_dir(&ckdir)
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(".tmp")
                })
                .count();
            eprintln!(
                "{what}: {kills} kills ({torn} inside a write), {resumes} resumes, same model; \
                 runs {log:?}"
            );
        }
    }
}

// ---- the command: corrupt checkpoints and conflicting settings ----

/// Asserts that `sigmo args` failed with exit code 1 and one line on stderr holding every
/// one of `wants`.
fn fails(args: &[String], wants: &[&str]) -> String {
    let out = sigmo_cmd(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "sigmo {args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "sigmo {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in wants {
        assert!(err.contains(w), "sigmo {args:?}: want {w:?} in {err}");
    }
    err
}

/// A checkpoint of 2 epochs of a small run in `dir`, with a model saved beside it.
fn small_run(dir: &Path, model: &Path) {
    let mut args = strings(&[
        "train",
        "--layers",
        "64,32,10",
        "--epochs",
        "2",
        "--optimizer",
        "sgd",
        "-q",
        "--threads",
        "1",
        "--checkpoint",
        s(dir),
        "--save",
        s(model),
    ]);
    args.push("--lr".into());
    args.push("0.05".into());
    let out = sigmo_cmd(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn a_corrupt_or_foreign_checkpoint_is_one_clear_error_and_nothing_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ck");
    let model = tmp.path().join("model.safetensors");
    small_run(&dir, &model);
    let file = checkpoint::file_in(&dir);
    let good = std::fs::read(&file).unwrap();
    let model_bytes = std::fs::read(&model).unwrap();
    let report = tmp.path().join("report.json");
    let resume = strings(&[
        "train",
        "--resume",
        s(&dir),
        "--epochs",
        "3",
        "--save",
        s(&model),
        "--report",
        s(&report),
    ]);
    let version = checkpoint::VERSION.as_bytes();
    let mut other_version = good.clone();
    // The version string starts after the magic and its length byte; same length, other text.
    let v = &mut other_version[9..9 + version.len()];
    assert_eq!(v, version);
    v.iter_mut()
        .for_each(|b| *b = if *b == b'9' { b'8' } else { b'9' });
    let mut flipped = good.clone();
    let mid = good.len() / 2;
    flipped[mid] ^= 0x10;
    let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
        (good[..good.len() - 100].to_vec(), vec!["truncated"]),
        (good[..20].to_vec(), vec!["truncated"]),
        (Vec::new(), vec!["empty"]),
        (flipped, vec!["checksum"]),
        (other_version, vec!["written by sigmo 9", "this is sigmo"]),
        (
            b"not a checkpoint at all".to_vec(),
            vec!["not a sigmo checkpoint"],
        ),
    ];
    for (bytes, wants) in cases {
        std::fs::write(&file, &bytes).unwrap();
        let mut w = wants.clone();
        w.push("checkpoint.sigmo");
        fails(&resume, &w);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "{wants:?}: overwritten"
        );
        assert_eq!(std::fs::read(&model).unwrap(), model_bytes, "{wants:?}");
        assert!(!report.exists(), "{wants:?}");
    }
    // The library says the same, as an error.
    std::fs::write(&file, &good[..good.len() - 1]).unwrap();
    match Checkpoint::load(&file) {
        Err(TrainError::Checkpoint(e)) => assert!(e.contains("truncated"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A folder with no checkpoint; a FIFO and a folder in place of the file.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails(
        &strings(&["train", "--resume", s(&empty)]),
        &["no checkpoint", "--resume"],
    );
    std::fs::remove_file(&file).unwrap();
    let st = Command::new("mkfifo").arg(&file).status().unwrap();
    assert!(st.success());
    fails(&resume, &["FIFO"]);
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    fails(&resume, &["folder"]);
    std::fs::remove_dir(&file).unwrap();
    assert_eq!(std::fs::read(&model).unwrap(), model_bytes);
    // A fresh run does not write over a checkpoint.
    std::fs::write(&file, &good).unwrap();
    let mut fresh = strings(&["train", "--epochs", "1", "--checkpoint", s(&dir)]);
    fails(&fresh, &["holds a checkpoint already", "--resume"]);
    assert_eq!(std::fs::read(&file).unwrap(), good);
    // --save, --report and the checkpoint may not name each other.
    fresh = strings(&[
        "train",
        "--epochs",
        "1",
        "--checkpoint",
        s(&tmp.path().join("c2")),
    ]);
    let ck2 = checkpoint::file_in(&tmp.path().join("c2"));
    for opt in ["--save", "--report"] {
        let mut a = fresh.clone();
        a.extend(strings(&[opt, s(&ck2)]));
        fails(&a, &[opt, "--checkpoint", "the same file"]);
    }
    let mut a = resume.clone();
    a.extend(strings(&["--checkpoint", s(&tmp.path().join("c3"))]));
    a[6] = s(&file).to_string(); // --save over the checkpoint resumed from
    fails(
        &a,
        &["--save", "--resume", "an output may not replace an input"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), good);
    // And the good checkpoint resumes.
    let out = sigmo_cmd(&resume).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("resuming") && text.contains("after 3 epochs"),
        "{text}"
    );
    assert!(report.exists());
}

#[test]
fn a_setting_that_differs_from_the_checkpoint_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ck");
    let model = tmp.path().join("model.safetensors");
    small_run(&dir, &model);
    let good = std::fs::read(checkpoint::file_in(&dir)).unwrap();
    let model_bytes = std::fs::read(&model).unwrap();
    let cases: [&[&str]; 14] = [
        &["--lr", "0.1"],
        &["--dropout", "0.3"],
        &["--input-noise", "0.2"],
        &["--batch-size", "16"],
        &["--optimizer", "adam"],
        &["--layers", "64,16,10"],
        &["--momentum", "0.5"],
        &["--l2", "0.1"],
        &["--seed", "9"],
        &["--schedule", "cosine"],
        &["--activation", "tanh"],
        &["--loss", "quadratic"],
        &["--threads", "2"],
        &["--epochs", "1"],
    ];
    for extra in cases {
        let mut a = strings(&["train", "--resume", s(&dir), "--save", s(&model)]);
        a.extend(strings(extra));
        fails(&a, &[extra[0]]);
        assert_eq!(std::fs::read(checkpoint::file_in(&dir)).unwrap(), good);
        assert_eq!(std::fs::read(&model).unwrap(), model_bytes);
    }
    // The same settings given again are no conflict.
    let a = strings(&[
        "train",
        "--resume",
        s(&dir),
        "--lr",
        "0.05",
        "--optimizer",
        "sgd",
        "--layers",
        "64,32,10",
        "--threads",
        "1",
        "--epochs",
        "3",
        "-q",
    ]);
    let out = sigmo_cmd(&a).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rebuilds a checkpoint file around `body` (its length and checksum made to match).
fn with_body(file: &[u8], body: &[u8]) -> Vec<u8> {
    let head = 8 + 1 + file[8] as usize;
    let mut out = file[..head].to_vec();
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&checkpoint::checksum(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A header that announces more than the file holds, behind a valid checksum, is an error
/// before anything is allocated for it.
#[test]
fn a_header_announcing_huge_tensors_is_refused_without_allocating_them() {
    let s = data::digits();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ck");
    let mut n = Mlp::builder(&[64, 8, 10])
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let c = TrainConfig {
        epochs: 1,
        threads: 1,
        ..TrainConfig::new(Kernels::best())
    };
    let to = Checkpointing {
        to: Some(&file),
        ..Checkpointing::default()
    };
    fit_from(&mut n, &s.train, None, &c, &to, &mut ()).unwrap();
    let good = std::fs::read(&file).unwrap();
    let body = &good[8 + 1 + good[8] as usize + 16..];
    let hlen = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&body[4..4 + hlen]).unwrap();
    let tensors = &body[4 + hlen..];
    for (from, to) in [
        ("\"sizes\":[64,8,10]", "\"sizes\":[64,1099511627776,10]"),
        (
            "\"sizes\":[64,8,10]",
            "\"sizes\":[64,18446744073709551615,10]",
        ),
        ("\"order\":1442", "\"order\":4611686018427387904"),
        ("\"params\":610", "\"params\":1099511627776"),
    ] {
        assert!(header.contains(from), "{header}");
        let h = header.replace(from, to);
        let mut b = (h.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(tensors);
        std::fs::write(&file, with_body(&good, &b)).unwrap();
        match Checkpoint::load(&file) {
            Err(TrainError::Checkpoint(e)) => assert!(e.contains("corrupt"), "{to}: {e}"),
            other => panic!("{to}: {other:?}"),
        }
    }
    // The untouched body, rebuilt, still loads.
    std::fs::write(&file, with_body(&good, body)).unwrap();
    assert_eq!(Checkpoint::load(&file).unwrap().epochs_done(), 1);
}
