//! The `sigmo` command as a user runs it.

use std::process::Command;

fn sigmo(args: &[&str], isa: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigmo"));
    c.args(args);
    match isa {
        Some(v) => c.env("SIGMO_ISA", v),
        None => c.env_remove("SIGMO_ISA"),
    };
    c.output().expect("run sigmo")
}

#[test]
fn info_reports_the_detected_tier() {
    let out = sigmo(&["info"], None);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let best = sigmo::kernels::Isa::best_available();
    assert!(
        text.contains(&format!(
            "kernels:   {} ({} lanes, detected)",
            best,
            best.lanes()
        )),
        "{text}"
    );
    assert!(text.contains("available: scalar"), "{text}");
}

#[test]
fn info_honours_sigmo_isa() {
    for isa in sigmo::kernels::Isa::available() {
        let out = sigmo(&["info"], Some(isa.name()));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(&format!("kernels:   {isa} ")) && text.contains("forced by SIGMO_ISA"),
            "{text}"
        );
    }
}

#[test]
fn a_bad_sigmo_isa_is_one_clear_line_and_a_failure() {
    let out = sigmo(&["info"], Some("neon9000"));
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("SIGMO_ISA") && err.contains("neon9000") && err.contains("avx2"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_subcommand_fails() {
    let out = sigmo(&["frobnicate"], None);
    assert!(!out.status.success());
}

#[test]
fn info_reports_gemm_backend_and_threads_and_rejects_bad_values() {
    let out = sigmo(&["info"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "gemm:      {}",
            sigmo::gemm::Backend::from_env_or(sigmo::gemm::Backend::for_training()).unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("threads:"), "{text}");
    for (var, bad) in [("SIGMO_BACKEND", "cublas"), ("SIGMO_THREADS", "zero")] {
        let out = Command::new(env!("CARGO_BIN_EXE_sigmo"))
            .arg("info")
            .env(var, bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={bad} accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(var) && err.contains(bad), "{err}");
    }
}

/// The command gets OpenBLAS's right kernels without the user knowing: where OpenBLAS would
/// run a generic core and OPENBLAS_CORETYPE is unset, it re-executes itself once with the
/// variable chosen from the detected ISA. A value the user set is never changed (CI machines
/// may set one on purpose: this test then checks that it is kept).
#[cfg(feature = "openblas")]
#[test]
fn openblas_generic_core_is_replaced_without_touching_a_user_value() {
    let best = sigmo::openblas::cpu_class();
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigmo"));
    c.arg("info").env("SIGMO_OPENBLAS_ASSUME_CORE", "Prescott");
    let out = c.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    match std::env::var("OPENBLAS_CORETYPE") {
        Ok(user) => assert!(
            text.contains(&format!("(OPENBLAS_CORETYPE={user})")),
            "user value changed: {text}"
        ),
        Err(_) => match sigmo::openblas::better_core("Prescott", best) {
            Some(want) => assert!(
                text.contains(&format!("(OPENBLAS_CORETYPE={want})")),
                "{text}"
            ),
            None => assert!(text.contains("detected by OpenBLAS"), "{text}"),
        },
    }
}

fn run_ok(args: &[&str]) -> String {
    let out = sigmo(args, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sigmo {args:?} failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail, and returns its one line of error.
fn run_err(args: &[&str]) -> String {
    let out = sigmo(args, None);
    assert!(!out.status.success(), "sigmo {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.lines().count(),
        1,
        "sigmo {args:?}: not one line: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

/// The accuracy `sigmo eval` prints, in percent.
fn accuracy_in(text: &str) -> f64 {
    let pct = text
        .split("accuracy ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap();
    pct.parse().unwrap()
}

/// The final line's accuracy, in percent.
fn final_accuracy(stdout: &str) -> f64 {
    let line = stdout.lines().last().unwrap();
    let pct = line
        .split("test accuracy ")
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap();
    pct.parse().unwrap()
}

#[test]
fn train_with_no_options_learns_the_embedded_digits() {
    let out = run_ok(&["train"]);
    let epochs = out.lines().filter(|l| l.starts_with("epoch")).count();
    assert_eq!(epochs, 30, "{out}");
    assert!(
        out.starts_with("training 64-256(relu)-10(softmax) on digits"),
        "{out}"
    );
    let acc = final_accuracy(&out);
    assert!(acc >= 97.0, "default run: {acc}%\n{out}");
}

#[test]
fn train_writes_a_report_and_a_model_that_eval_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (report, model) = (dir.path().join("r.json"), dir.path().join("m.safetensors"));
    let out = run_ok(&[
        "train",
        "--epochs",
        "3",
        "--layers",
        "64,32,10",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--seed",
        "5",
        "--threads",
        "1",
        "--report",
        report.to_str().unwrap(),
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(out.contains("saved to"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["config"]["layers"], serde_json::json!([64, 32, 10]));
    assert_eq!(r["config"]["optimizer"], "sgd");
    assert_eq!(r["config"]["threads"], 1);
    let epochs = r["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        for key in [
            "loss",
            "train_accuracy",
            "test_accuracy",
            "seconds",
            "samples_per_sec",
        ] {
            assert!(e[key].as_f64().unwrap().is_finite(), "{key} in {e}");
        }
    }
    let last = epochs[2]["test_accuracy"].as_f64().unwrap();
    assert!((final_accuracy(&out) - 100.0 * last).abs() < 0.006);

    // Saved files are readable by others too, not 0600 like a temporary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&model).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
    }
    let ev = run_ok(&["eval", "--model", model.to_str().unwrap()]);
    assert!(
        ev.contains("64-32(relu)-10(softmax)") && ev.contains("355 samples"),
        "{ev}"
    );
    let acc = accuracy_in(&ev);
    assert!((acc - 100.0 * last).abs() < 0.006, "{ev} vs {last}");
}

#[test]
fn bad_options_and_data_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.gz");
    std::fs::write(&junk, b"\x1f\x8bnot really gzip").unwrap();
    let j = junk.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--bogus"], "--bogus"),
        (vec!["train", "--epochs", "many"], "many"),
        (vec!["train", "--epochs", "0"], "--epochs 0"),
        (vec!["train", "--layers", "64,10,9"], "--layers 64,10,9"),
        (vec!["train", "--activation", "swish"], "swish"),
        (vec!["train", "--loss", "huber"], "huber"),
        (
            vec!["train", "--loss", "hinge", "--output", "softmax"],
            "identity output",
        ),
        (
            vec!["train", "--loss", "cross-entropy", "--output", "softmax"],
            "sigmoid output",
        ),
        (vec!["train", "--optimizer", "lbfgs"], "lbfgs"),
        (vec!["train", "--lr", "-1"], "learning rate"),
        (
            vec!["train", "--momentum", "1.5", "--optimizer", "sgd"],
            "momentum",
        ),
        (vec!["train", "--threads", "0"], "--threads 0"),
        (vec!["train", "--backend", "cublas"], "cublas"),
        (vec!["train", "--dataset", "mnist"], "needs its folder"),
        (
            vec!["train", "--dataset", "mnist", "/no/such/dir"],
            "/no/such/dir/train-images-idx3-ubyte.gz: not found",
        ),
        (vec!["train", "--dataset", "cifar"], "cifar"),
        (
            vec![
                "train",
                "--train-images",
                j,
                "--train-labels",
                j,
                "--test-images",
                j,
                "--test-labels",
                j,
            ],
            "corrupt gzip",
        ),
        (
            vec![
                "train",
                "--save",
                "/no/such/dir/m.safetensors",
                "--epochs",
                "1",
            ],
            "/no/such/dir",
        ),
        (
            vec!["eval", "--model", "/no/such/model"],
            "/no/such/model: cannot read",
        ),
        (vec!["eval", "--model", j], "not a safetensors"),
        (
            vec!["train", "--test-images", j, "--test-labels", j],
            "needs --train-images",
        ),
        (
            vec!["train", "--layers", "64,100000000000000,10"],
            "cannot allocate",
        ),
        (
            vec!["train", "--optimizer", "adam", "--momentum", "0.5"],
            "--momentum applies",
        ),
        (
            vec!["train", "--report", "/no/such/dir/r.json"],
            "/no/such/dir/r.json: cannot write",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, what) in cases {
        let err = run_err(&args);
        assert!(
            err.contains(what),
            "sigmo {args:?}: want {what:?} in: {err}"
        );
    }
}

#[test]
fn eval_takes_test_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    let m = model.to_str().unwrap();
    run_ok(&[
        "train", "--epochs", "10", "--layers", "64,64,10", "--save", m,
    ]);
    let repo = env!("CARGO_MANIFEST_DIR");
    let i = format!("{repo}/data/digits8x8-images-idx3-ubyte.gz");
    let l = format!("{repo}/data/digits8x8-labels-idx1-ubyte.gz");
    let ev = run_ok(&[
        "eval",
        "--model",
        m,
        "--test-images",
        &i,
        "--test-labels",
        &l,
        "--pixel-max",
        "16",
    ]);
    assert!(ev.contains("1797 samples"), "{ev}");
    let acc = accuracy_in(&ev);
    assert!(acc > 95.0, "{ev}");
    // A stated maximum below the largest pixel is an error.
    let err = run_err(&[
        "eval",
        "--model",
        m,
        "--test-images",
        &i,
        "--test-labels",
        &l,
        "--pixel-max",
        "8",
    ]);
    assert!(err.contains("above the maximum 8"), "{err}");
}

#[test]
fn a_diverging_run_stops_with_the_epoch_and_batch() {
    let err = run_err(&[
        "train",
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--epochs",
        "2",
    ]);
    assert!(err.contains("diverged at epoch 1, batch"), "{err}");
}

#[test]
fn maxout_hinge_dropout_and_input_noise_reach_95_percent_on_the_digits() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("maxout.safetensors");
    let report = dir.path().join("r.json");
    let m = model.to_str().unwrap();
    for (args, header) in [
        (
            vec!["--activation", "maxout", "--save", m],
            "training 64-256(maxout(2))-10(softmax)",
        ),
        (
            vec!["--loss", "hinge", "--output", "identity"],
            "training 64-256(relu)-10(identity)",
        ),
        (
            vec!["--dropout", "0.2", "--report", report.to_str().unwrap()],
            "dropout 0.2,",
        ),
        (vec!["--input-noise", "0.1"], "input noise σ 0.1,"),
    ] {
        let mut all = vec!["train"];
        all.extend(&args);
        let out = run_ok(&all);
        assert!(out.contains(header), "{args:?}: {out}");
        let acc = final_accuracy(&out);
        assert!(acc >= 95.0, "sigmo train {args:?}: {acc}%");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["config"]["dropout"], serde_json::json!([0.2f32]));
    assert_eq!(r["config"]["input_noise"], 0.0);
    let ev = run_ok(&["eval", "--model", m]);
    assert!(ev.contains("64-256(maxout(2))-10(softmax)"), "{ev}");
    assert!(accuracy_in(&ev) >= 95.0, "{ev}");
}

#[test]
fn bad_maxout_dropout_and_noise_values_are_one_line_and_exit_2() {
    for (args, what) in [
        (
            vec!["--activation", "maxout=1"],
            "maxout takes k = 2 to 64 pieces, not 1",
        ),
        (vec!["--activation", "maxout=65"], "not 65"),
        (vec!["--activation", "maxout=two"], "maxout=two"),
        (vec!["--dropout", "1"], "1 is outside [0, 1)"),
        (vec!["--dropout", "-0.1"], "-0.1 is outside [0, 1)"),
        (vec!["--dropout", "0.2,nan"], "NaN is outside [0, 1)"),
        (vec!["--dropout", "lots"], "\"lots\" is not a number"),
        (vec!["--input-noise", "-1"], "σ = -1 must be finite and ≥ 0"),
        (vec!["--input-noise", "inf"], "σ = inf"),
        (
            vec!["--loss", "hinge", "--output", "softmax"],
            "identity output",
        ),
    ] {
        let mut all = vec!["train", "--epochs", "1"];
        all.extend(&args);
        let err = run_err(&all);
        assert!(err.contains(what), "sigmo {all:?}: want {what:?} in {err}");
        let code = sigmo(&all, None).status.code();
        // Range errors are clap's (exit 2, as other bad flags); a loss that does not fit the
        // output is found after parsing (exit 1, as `--loss cross-entropy --output softmax`).
        let want = if args[0] == "--loss" { 1 } else { 2 };
        assert_eq!(code, Some(want), "sigmo {all:?}: {err}");
    }
    // A dropout list that fits no hidden layer count.
    let err = run_err(&["train", "--epochs", "1", "--dropout", "0.1,0.2"]);
    assert!(err.contains("dropout has 2 values"), "{err}");
}

/// The labels of the IDX file `path`.
fn idx_labels(path: &str) -> Vec<u8> {
    sigmo::data::idx::read(std::path::Path::new(path), 1)
        .unwrap()
        .values
}

/// Parses `sigmo predict`'s CSV: the header, then (index, predicted, outputs) per line.
fn parse_predictions(csv: &str) -> (String, Vec<(usize, usize, Vec<f32>)>) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let p = f[2..].iter().map(|v| v.parse::<f32>().unwrap()).collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), p)
        })
        .collect();
    (header, rows)
}

#[test]
fn predict_gives_the_accuracy_eval_reports() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    run_ok(&[
        "train",
        "--epochs",
        "3",
        "--layers",
        "64,32,10",
        "--threads",
        "1",
        "--quiet",
        "--save",
        m,
    ]);
    let repo = env!("CARGO_MANIFEST_DIR");
    let i = format!("{repo}/data/digits8x8-images-idx3-ubyte.gz");
    let l = format!("{repo}/data/digits8x8-labels-idx1-ubyte.gz");
    let ev = run_ok(&[
        "eval",
        "--model",
        m,
        "--test-images",
        &i,
        "--test-labels",
        &l,
        "--pixel-max",
        "16",
    ]);
    let csv_path = dir.path().join("p.csv");
    let out = run_ok(&[
        "predict",
        "--model",
        m,
        "--images",
        &i,
        "--pixel-max",
        "16",
        "--output",
        csv_path.to_str().unwrap(),
    ]);
    assert!(out.is_empty(), "with --output, nothing on stdout: {out}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let (header, rows) = parse_predictions(&csv);
    let want: Vec<String> = ["index", "predicted"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..10).map(|c| format!("p{c}")))
        .collect();
    assert_eq!(header, want.join(","));
    let labels = idx_labels(&l);
    assert_eq!(rows.len(), labels.len());
    let mut correct = 0;
    for (n, (index, predicted, p)) in rows.iter().enumerate() {
        assert_eq!(*index, n);
        assert_eq!(p.len(), 10);
        assert_eq!(*predicted, sigmo::nn::argmax(p), "row {n}: {p:?}");
        let sum: f32 = p.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "row {n}: probabilities sum to {sum}"
        );
        correct += usize::from(*predicted == labels[n] as usize);
    }
    let acc = 100.0 * correct as f64 / labels.len() as f64;
    assert!(
        (acc - accuracy_in(&ev)).abs() < 0.006,
        "predict {acc}% vs {ev}"
    );
    // Without --output, the same CSV on stdout.
    let stdout = run_ok(&["predict", "--model", m, "--images", &i, "--pixel-max", "16"]);
    assert_eq!(stdout, csv);
}

#[test]
fn predict_writes_a_non_softmax_models_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    run_ok(&[
        "train",
        "--epochs",
        "2",
        "--layers",
        "64,16,10",
        "--loss",
        "cross-entropy",
        "--threads",
        "1",
        "--quiet",
        "--save",
        m,
    ]);
    // A small IDX file written here: 3 images of 8×8.
    let pixels: Vec<u8> = (0..3 * 64).map(|v| (v % 256) as u8).collect();
    let images = dir.path().join("three-idx3-ubyte");
    std::fs::write(&images, sigmo::data::idx::encode(&[3, 8, 8], &pixels)).unwrap();
    let out = run_ok(&[
        "predict",
        "--model",
        m,
        "--images",
        images.to_str().unwrap(),
    ]);
    let (header, rows) = parse_predictions(&out);
    assert!(header.starts_with("index,predicted,p0,") && header.ends_with(",p9"));
    assert_eq!(rows.len(), 3);
    let (net, _) = sigmo::nn::load(&model).unwrap();
    let x: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let want = net
        .predict(&sigmo::kernels::Kernels::best(), &x, 3)
        .unwrap();
    for (n, (_, predicted, p)) in rows.iter().enumerate() {
        // Sigmoid outputs as the library computes them: to the bit on the FMA tiers, which
        // agree; within a few ULP when SIGMO_ISA forces SSE4.1, whose sigmoid rounds
        // differently (the library's in-process pass and the command may then run different
        // tiers' products).
        let w = &want[n * 10..(n + 1) * 10];
        for (g, e) in p.iter().zip(w) {
            assert!(
                (g - e).abs() <= 4.0 * f32::EPSILON * e.abs(),
                "{p:?} vs {w:?}"
            );
        }
        if std::env::var("SIGMO_ISA").map_or(true, |v| v != "sse4.1") {
            assert_eq!(p.as_slice(), w);
        }
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(*predicted, sigmo::nn::argmax(p));
    }
}

#[test]
fn predict_refuses_bad_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    run_ok(&[
        "train",
        "--epochs",
        "1",
        "--layers",
        "64,8,10",
        "--threads",
        "1",
        "--quiet",
        "--save",
        m,
    ]);
    let repo = env!("CARGO_MANIFEST_DIR");
    let i = format!("{repo}/data/digits8x8-images-idx3-ubyte.gz");
    let l = format!("{repo}/data/digits8x8-labels-idx1-ubyte.gz");
    let small = dir.path().join("small-idx3-ubyte");
    std::fs::write(&small, sigmo::data::idx::encode(&[2, 3, 3], &[0; 18])).unwrap();
    let s = small.to_str().unwrap();
    let csv = dir.path().join("out.csv");
    let c = csv.to_str().unwrap();
    for (args, what) in [
        (
            vec!["predict", "--model", "/no/such/model", "--images", &i],
            "/no/such/model",
        ),
        (vec!["predict", "--model", m, "--images", s], "9 pixels"),
        (
            vec!["predict", "--model", m, "--images", &l],
            "wrong magic number",
        ),
        (
            vec!["predict", "--model", m, "--images", &i, "--pixel-max", "8"],
            "above the maximum 8",
        ),
        (
            vec![
                "predict",
                "--model",
                m,
                "--images",
                &i,
                "--pixel-max",
                "16",
                "--output",
                m,
            ],
            "may not replace an input",
        ),
        (
            vec!["predict", "--model", m, "--images", s, "--output", s],
            "may not replace an input",
        ),
        (
            vec!["predict", "--model", m, "--images", "/no/such/images"],
            "/no/such/images",
        ),
        (vec!["predict", "--images", &i], "required arguments"),
    ] {
        let err = run_err(&args);
        assert!(
            err.contains(what),
            "sigmo {args:?}: want {what:?} in: {err}"
        );
    }
    // Nothing was written, and the model and the images are as they were.
    assert!(!csv.exists(), "{c}");
    assert!(sigmo::nn::load(&model).is_ok());
}
