//! Hostile input (issue 12, "Nothing lost, nothing hangs"): headers that announce more than
//! the file holds, devices, FIFOs and folders in place of files, outputs that name inputs or
//! each other, diverging runs next to a good model, absurd thread counts, file modes and
//! symlinks, and sizes at the edges of the library's arithmetic.
//!
//! Every command runs as a child process under a memory cap (`ulimit -v`) and a deadline: a
//! hang is killed and fails the test, a runaway allocation fails inside the cap instead of
//! taking the machine.

use sigmo::data::{idx, Dataset};
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Loss, Mlp, OutputActivation};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Memory cap for commands that must fail on their input: 300 MB of address space.
const SMALL_KB: u64 = 300_000;

/// No command here may take longer than this (a hang is killed at the deadline).
const DEADLINE: Duration = Duration::from_secs(5);

/// What a child did.
struct Outcome {
    /// The exit code (`None`: killed by a signal, or by the deadline).
    code: Option<i32>,
    /// Whether the deadline killed it.
    timed_out: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `sigmo args` under `ulimit -v kb` (if given) and `umask` (if given), with extra
/// environment variables, killing it at [`DEADLINE`].
fn sigmo_with(
    args: &[&str],
    kb: Option<u64>,
    umask: Option<&str>,
    env: &[(&str, &str)],
) -> Outcome {
    let mut script = String::new();
    if let Some(kb) = kb {
        script += &format!("ulimit -v {kb} || exit 99; ");
    }
    if let Some(m) = umask {
        script += &format!("umask {m} || exit 99; ");
    }
    script += "exec \"$0\" \"$@\"";
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_sigmo"))
        .args(args)
        .env_remove("SIGMO_ISA")
        .env_remove("SIGMO_THREADS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if kb.is_some() {
        // OpenBLAS starts a thread per core when it loads; on a many-core machine their
        // stacks alone could exceed the cap, and it would complain on stderr.
        c.env("OPENBLAS_NUM_THREADS", "1");
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let start = Instant::now();
    let mut child = c.spawn().expect("run sh");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Drain the pipes on their own threads, so that a chatty child cannot block on them.
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > DEADLINE {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    Outcome {
        code: status.code(),
        timed_out,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        elapsed,
    }
}

fn sigmo(args: &[&str], kb: Option<u64>) -> Outcome {
    sigmo_with(args, kb, None, &[])
}

/// Asserts that the command failed in time with one line of error containing every one of
/// `wants`, and returns that line.
fn one_line_error(o: &Outcome, args: &[&str], wants: &[&str]) -> String {
    assert!(
        !o.timed_out,
        "sigmo {args:?}: no answer within {DEADLINE:?}; stderr so far: {}",
        o.stderr
    );
    assert_eq!(
        o.code,
        Some(1),
        "sigmo {args:?}: want exit 1 (an error), got {:?} after {:?}; stderr: {}",
        o.code,
        o.elapsed,
        o.stderr
    );
    assert_eq!(o.stderr.lines().count(), 1, "sigmo {args:?}: {}", o.stderr);
    for w in wants {
        assert!(
            o.stderr.contains(w),
            "sigmo {args:?}: want {w:?} in: {}",
            o.stderr
        );
    }
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    o.stderr.clone()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A small valid model for the digits (64 inputs, 10 outputs), saved at `path`.
fn model_at(path: &Path) {
    let net = Mlp::builder(&[64, 10])
        .output(OutputActivation::Softmax)
        .seed(3)
        .build()
        .unwrap();
    sigmo::nn::save(&net, Some(Loss::SoftmaxCrossEntropy), path).unwrap();
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Good raw label file for `n` images.
fn labels(n: usize) -> Vec<u8> {
    idx::encode(&[n], &vec![1; n])
}

// ---- 1: a header announcing more than the file holds ----

/// A 16-byte header announcing 1×16384×131072 images (2 GiB) and nothing after it.
fn evil_header() -> Vec<u8> {
    let mut h = vec![0u8, 0, 8, 3];
    for d in [1u32, 16384, 131072] {
        h.extend_from_slice(&d.to_be_bytes());
    }
    h
}

#[test]
fn a_header_announcing_gigabytes_is_truncated_without_allocating_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    model_at(&model);
    let lab = dir.path().join("lab");
    std::fs::write(&lab, labels(1)).unwrap();
    for (name, bytes) in [("evil", evil_header()), ("evil.gz", gz(&evil_header()))] {
        let evil = dir.path().join(name);
        std::fs::write(&evil, &bytes).unwrap();
        let args = [
            "eval",
            "--model",
            s(&model),
            "--test-images",
            s(&evil),
            "--test-labels",
            s(&lab),
        ];
        // Within 300 MB: the 2 GiB the header announces are never reserved.
        let o = sigmo(&args, Some(SMALL_KB));
        one_line_error(
            &o,
            &args,
            &[
                name,
                "truncated",
                "1×16384×131072 = 2147483648 values",
                "holds 0",
            ],
        );
    }
}

#[test]
fn raw_and_gzip_files_grow_with_the_data_not_the_header() {
    // In process: a raw file whose header announces a bit more than it holds, and a gzip
    // stream whose header announces 2 GiB, both say how much the file holds.
    let mut raw = idx::encode(&[3, 2, 2], &[7; 12]);
    raw.truncate(raw.len() - 5);
    let e = idx::parse(&raw, 3).unwrap_err();
    assert!(e.contains("3×2×2 = 12 values, the file holds 7"), "{e}");
    let mut body = evil_header();
    body.extend_from_slice(&[9; 100_000]);
    let e = idx::parse(&gz(&body), 3).unwrap_err();
    assert!(
        e.contains("truncated") && e.contains("the file holds 100000"),
        "{e}"
    );
}

// ---- 2: devices, FIFOs, folders; the model's metadata ----

#[cfg(unix)]
#[test]
fn devices_fifos_and_folders_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    model_at(&model);
    let lab = dir.path().join("lab");
    std::fs::write(&lab, labels(1)).unwrap();
    let zero_link = dir.path().join("zero.safetensors");
    std::os::unix::fs::symlink("/dev/zero", &zero_link).unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let m = s(&model);
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["eval", "--model", s(&zero_link)],
            vec!["zero.safetensors", "a character device, not a regular file"],
        ),
        (
            vec!["eval", "--model", s(&fifo)],
            vec!["fifo", "a FIFO, not a regular file"],
        ),
        (
            vec!["eval", "--model", s(&folder)],
            vec!["folder", "a folder, not a regular file"],
        ),
        (
            vec![
                "eval",
                "--model",
                m,
                "--test-images",
                "/dev/zero",
                "--test-labels",
                s(&lab),
            ],
            vec!["/dev/zero", "a character device, not a regular file"],
        ),
        (
            vec![
                "eval",
                "--model",
                m,
                "--test-images",
                s(&fifo),
                "--test-labels",
                s(&lab),
            ],
            vec!["fifo", "a FIFO, not a regular file"],
        ),
        (
            vec![
                "eval",
                "--model",
                m,
                "--test-images",
                s(&folder),
                "--test-labels",
                s(&lab),
            ],
            vec!["folder", "a folder, not a regular file"],
        ),
        (
            vec![
                "train",
                "--train-images",
                s(&fifo),
                "--train-labels",
                s(&lab),
                "--test-images",
                s(&lab),
                "--test-labels",
                s(&lab),
            ],
            vec!["fifo", "a FIFO, not a regular file"],
        ),
    ];
    for (args, wants) in cases {
        let o = sigmo(&args, Some(SMALL_KB));
        one_line_error(&o, &args, &wants);
    }
}

/// A safetensors file: the 8-byte little-endian header length, the header, the data.
fn safetensors_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn model_metadata_has_a_size_cap() {
    let dir = tempfile::tempdir().unwrap();
    // A valid one-layer sigmo model, plus 2 MB of padding in its metadata.
    let tensors = r#""layers.0.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"layers.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#;
    let meta = format!(
        r#""format":"sigmo-mlp/1","sizes":"1,1","hidden":"","output":"sigmoid","pad":"{}""#,
        "x".repeat(2 << 20)
    );
    let padded = dir.path().join("padded.safetensors");
    let header = format!(r#"{{"__metadata__":{{{meta}}},{tensors}}}"#);
    std::fs::write(&padded, safetensors_bytes(&header, &[0; 8])).unwrap();
    // Metadata announcing ten million layers ("1,1,1,…", 20 MB).
    let deep = dir.path().join("deep.safetensors");
    let sizes = vec!["1"; 10_000_000].join(",");
    let header = format!(
        r#"{{"__metadata__":{{"format":"sigmo-mlp/1","sizes":"{sizes}","hidden":"","output":"sigmoid"}},{tensors}}}"#
    );
    std::fs::write(&deep, safetensors_bytes(&header, &[0; 8])).unwrap();
    // A header length beyond the file.
    let liar = dir.path().join("liar.safetensors");
    std::fs::write(&liar, [0xFF; 8]).unwrap();
    for (p, want) in [
        (&padded, "larger than the 1048576-byte cap"),
        (&deep, "larger than the 1048576-byte cap"),
        (
            &liar,
            "not a safetensors file: its header length is 18446744073709551615 bytes",
        ),
    ] {
        let args = ["eval", "--model", s(p)];
        let o = sigmo(&args, Some(SMALL_KB));
        one_line_error(&o, &args, &[s(p), want]);
        // The library says the same.
        let e = sigmo::nn::load(p).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}

// ---- 3: a diverged run next to a good model ----

#[test]
fn a_diverged_run_never_replaces_the_model_at_save() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    model_at(&model);
    let before = std::fs::read(&model).unwrap();
    let args = [
        "train",
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--epochs",
        "2",
        "--threads",
        "1",
        "--save",
        s(&model),
    ];
    let o = sigmo(&args, None);
    let beside = dir.path().join("m.safetensors.diverged-last-good");
    one_line_error(
        &o,
        &args,
        &[
            "diverged at epoch 1, batch",
            &format!("{} was left as it was", model.display()),
            &format!("saved the last good model to {}", beside.display()),
        ],
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "the good model was replaced"
    );
    let (net, _) = sigmo::nn::load(&beside).unwrap();
    assert_eq!(net.sizes(), &[64, 256, 10]);
}

// ---- 4 and 5: outputs that name inputs or each other ----

#[cfg(unix)]
#[test]
fn outputs_may_not_name_an_input_or_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = env!("CARGO_MANIFEST_DIR");
    // Copies of the digits, as four files given by path.
    let (ti, tl) = (d.join("ti.gz"), d.join("tl.gz"));
    std::fs::copy(format!("{repo}/data/digits8x8-images-idx3-ubyte.gz"), &ti).unwrap();
    std::fs::copy(format!("{repo}/data/digits8x8-labels-idx1-ubyte.gz"), &tl).unwrap();
    let link = d.join("link.gz");
    std::os::unix::fs::symlink(&ti, &link).unwrap();
    let hard = d.join("hard.gz");
    std::fs::hard_link(&tl, &hard).unwrap();
    let x = d.join("x");
    let dot_x = d.join(".").join("x");
    let mnist = d.join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    for (name, from) in [
        ("train-images-idx3-ubyte.gz", &ti),
        ("train-labels-idx1-ubyte.gz", &tl),
        ("t10k-images-idx3-ubyte.gz", &ti),
        ("t10k-labels-idx1-ubyte.gz", &tl),
    ] {
        std::fs::copy(from, mnist.join(name)).unwrap();
    }
    let files = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "train",
            "--epochs",
            "1",
            "--pixel-max",
            "16",
            "--train-images",
            s(&ti),
            "--train-labels",
            s(&tl),
            "--test-images",
            s(&ti),
            "--test-labels",
            s(&tl),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        v.extend(extra.iter().map(|a| a.to_string()));
        v
    };
    let mnist_train_images = mnist.join("train-images-idx3-ubyte.gz");
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            files(&["--save", s(&x), "--report", s(&x)]),
            vec!["--save".into(), "--report".into(), "the same file".into()],
        ),
        (
            files(&["--save", s(&dot_x), "--report", s(&x)]),
            vec!["--save".into(), "--report".into(), "the same file".into()],
        ),
        (
            files(&["--save", s(&ti)]),
            vec![
                "--save".into(),
                "--train-images".into(),
                "the same file".into(),
            ],
        ),
        (
            files(&["--report", s(&link)]),
            vec![
                "--report".into(),
                "--train-images".into(),
                "the same file".into(),
            ],
        ),
        (
            files(&["--save", s(&hard)]),
            vec![
                "--save".into(),
                "--train-labels".into(),
                "the same file".into(),
            ],
        ),
        (
            vec![
                "train".into(),
                "--epochs".into(),
                "1".into(),
                "--pixel-max".into(),
                "16".into(),
                "--dataset".into(),
                "mnist".into(),
                s(&mnist).into(),
                "--save".into(),
                s(&mnist_train_images).into(),
            ],
            vec![
                "--save".into(),
                "train-images-idx3-ubyte.gz".into(),
                "the same file".into(),
            ],
        ),
    ];
    let before = std::fs::read(&ti).unwrap();
    for (args, wants) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let w: Vec<&str> = wants.iter().map(String::as_str).collect();
        let o = sigmo(&a, None);
        one_line_error(&o, &a, &w);
        assert!(!o.stdout.contains("epoch"), "trained anyway: {}", o.stdout);
        assert!(!x.exists(), "wrote {}", x.display());
    }
    assert_eq!(
        std::fs::read(&ti).unwrap(),
        before,
        "the data set was replaced"
    );
    assert_eq!(
        std::fs::read(&mnist_train_images).unwrap(),
        before,
        "the data set was replaced"
    );
}

// ---- 6: thread counts ----

#[test]
fn thread_counts_beyond_the_machine_are_an_error() {
    // Under the memory cap: the old code tried to start them all.
    for args in [
        vec!["train", "--epochs", "1", "--threads", "1000000"],
        vec!["eval", "--model", "/no/such/model", "--threads", "1000000"],
    ] {
        let o = sigmo(&args, Some(SMALL_KB));
        one_line_error(&o, &args, &["--threads 1000000", "at most"]);
    }
    let args = ["train", "--epochs", "1"];
    let o = sigmo_with(&args, Some(SMALL_KB), None, &[("SIGMO_THREADS", "1000000")]);
    one_line_error(&o, &args, &["SIGMO_THREADS", "1000000", "at most"]);
    // The library refuses it too, before starting any thread.
    let split = sigmo::data::digits();
    let mut net = Mlp::builder(&[64, 10])
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let cfg = sigmo::train::TrainConfig {
        threads: 1_000_000,
        ..sigmo::train::TrainConfig::new(sigmo::kernels::Kernels::best())
    };
    let e = sigmo::train::fit(&mut net, &split.train, None, &cfg, &mut ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1000000 threads") && e.contains("at most"),
        "{e}"
    );
    let e = sigmo::train::evaluate(
        &net,
        &split.test,
        Loss::SoftmaxCrossEntropy,
        1_000_000,
        Default::default(),
        Kernels::best(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("1000000 threads"), "{e}");
    let e = sigmo::threads::parse_env_value(Some("1000000")).unwrap_err();
    assert!(e.contains("at most"), "{e}");
}

// ---- 7: the atomic writer: modes, symlinks ----

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
#[test]
fn the_atomic_writer_keeps_the_mode_and_writes_through_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A private file stays private.
    let private = dir.path().join("private");
    std::fs::write(&private, b"old").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    sigmo::atomic::write(&private, b"new").unwrap();
    assert_eq!(std::fs::read(&private).unwrap(), b"new");
    assert_eq!(mode(&private), 0o600, "{:o}", mode(&private));
    let shared = dir.path().join("shared");
    std::fs::write(&shared, b"old").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o664)).unwrap();
    sigmo::atomic::write(&shared, b"new").unwrap();
    assert_eq!(mode(&shared), 0o664, "{:o}", mode(&shared));
    // A symlink is kept; its target is replaced.
    let target_dir = dir.path().join("real");
    std::fs::create_dir(&target_dir).unwrap();
    let target = target_dir.join("model");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("real/model", &link).unwrap();
    sigmo::atomic::write(&link, b"through").unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real/model"));
    assert_eq!(std::fs::read(&target).unwrap(), b"through");
    // No temporary file is left in either folder.
    for d in [dir.path(), target_dir.as_path()] {
        let left: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".sigmo-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    // A dangling symlink is written through too: the file appears at its target.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("real/new-model", &dangling).unwrap();
    sigmo::atomic::write(&dangling, b"fresh").unwrap();
    assert_eq!(
        std::fs::read(target_dir.join("new-model")).unwrap(),
        b"fresh"
    );
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[cfg(unix)]
#[test]
fn a_new_model_file_gets_the_umask_mode() {
    let dir = tempfile::tempdir().unwrap();
    for (umask, want) in [("077", 0o600), ("027", 0o640), ("022", 0o644)] {
        let model = dir.path().join(format!("m{umask}"));
        let report = dir.path().join(format!("r{umask}.json"));
        let args = [
            "train",
            "--epochs",
            "1",
            "--layers",
            "64,10",
            "--threads",
            "1",
            "--quiet",
            "--save",
            s(&model),
            "--report",
            s(&report),
        ];
        let o = sigmo_with(&args, None, Some(umask), &[]);
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        assert_eq!(mode(&model), want, "umask {umask}: {:o}", mode(&model));
        assert_eq!(mode(&report), want, "umask {umask}: {:o}", mode(&report));
    }
}

// ---- 8: arithmetic at the edges, evaluation of a step network, empty evaluation sets,
// and allocations that must fail as errors ----

#[test]
fn rows_range_of_a_matrix_without_columns_does_not_overflow() {
    let data: [f32; 0] = [];
    let m = sigmo::gemm::MatRef::from_strides(&data, 4, 0, usize::MAX, 1).unwrap();
    let r = m.rows_range(2, 4);
    assert_eq!((r.rows(), r.cols()), (2, 0));
    assert_eq!(r.get(0, 0), None);
}

#[test]
fn a_dataset_whose_size_overflows_is_an_error() {
    let e = Dataset::new("x", vec![], vec![0, 0, 0], usize::MAX / 2, 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("overflow"), "{e}");
}

#[test]
fn a_step_network_evaluates_and_an_empty_evaluation_set_says_so() {
    // The step neuron of the tests: fires only for x₀ = 1. Two outputs: fires or not.
    let net = Mlp::from_parts(
        &[2, 1, 2],
        &[Activation::Step],
        OutputActivation::Softmax,
        vec![
            (vec![1.0, 0.0], vec![-0.5]),
            (vec![-1.0, 1.0], vec![0.5, -0.5]),
        ],
    )
    .unwrap();
    let data = Dataset::new(
        "step",
        vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        vec![0, 0, 1, 1],
        2,
        2,
    )
    .unwrap();
    let (loss, acc) = sigmo::train::evaluate(
        &net,
        &data,
        Loss::SoftmaxCrossEntropy,
        1,
        Default::default(),
        Kernels::best(),
    )
    .unwrap();
    assert_eq!(acc, 1.0);
    assert!(loss.is_finite() && loss > 0.0, "{loss}");
    let empty = Dataset::new("nothing", vec![], vec![], 2, 2).unwrap();
    let e = sigmo::train::evaluate(
        &net,
        &empty,
        Loss::SoftmaxCrossEntropy,
        1,
        Default::default(),
        Kernels::best(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nothing: the evaluation set is empty"), "{e}");
    assert!(!e.contains("training"), "{e}");
}

#[test]
fn buffers_beside_the_parameters_fail_as_errors_not_aborts() {
    // 200 MB of parameters fit in 900 MB of address space; the gradients, Adam's two moments
    // and the last good copy (4 × 200 MB more) do not.
    let hidden = 666_666.to_string();
    let layers = format!("64,{hidden},10");
    let args = [
        "train",
        "--layers",
        &layers,
        "--batch-size",
        "1",
        "--threads",
        "1",
        "--epochs",
        "1",
    ];
    let o = sigmo(&args, Some(900_000));
    one_line_error(&o, &args, &["cannot allocate"]);
}

#[cfg(unix)]
#[test]
fn an_output_that_is_not_a_regular_file_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for (flag, p, want) in [
        ("--save", &fifo, "a FIFO, not a regular file"),
        ("--report", &link, "a FIFO, not a regular file"),
        ("--save", &folder, "a folder, not a regular file"),
    ] {
        let args = ["train", "--epochs", "1", flag, s(p)];
        let o = sigmo(&args, None);
        one_line_error(&o, &args, &[s(p), want]);
        assert!(!o.stdout.contains("epoch"), "trained anyway: {}", o.stdout);
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}
