//! Training: it learns, it is reproducible, shards agree with one thread, divergence stops
//! with the last good model, bad settings change nothing, and models save and load whole.

mod common;
use sigmo::data::{self, Dataset};
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Loss, Mlp, Optimizer, OutputActivation};
use sigmo::train::{self, fit, Schedule, TrainConfig, TrainError};

fn digits_net(seed: u64) -> Mlp {
    Mlp::builder(&[64, 64, 10])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .seed(seed)
        .build()
        .unwrap()
}

fn cfg(epochs: usize, threads: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        optimizer: Optimizer::sgd(0.05, 0.9),
        threads,
        ..TrainConfig::new(Kernels::best())
    }
}

#[test]
fn an_mlp_learns_the_digits() {
    let s = data::digits();
    let mut net = digits_net(1);
    let h = fit(&mut net, &s.train, Some(&s.test), &cfg(10, 1), &mut ()).unwrap();
    assert_eq!(h.epochs.len(), 10);
    for (i, e) in h.epochs.iter().enumerate() {
        assert_eq!(e.epoch, i + 1);
        assert!(e.seconds > 0.0 && e.samples_per_sec > 0.0 && e.loss.is_finite());
        assert!((0.0..=1.0).contains(&e.train_accuracy));
    }
    let (first, last) = (&h.epochs[0], h.last().unwrap());
    assert!(
        last.loss < first.loss / 3.0,
        "loss {} → {}",
        first.loss,
        last.loss
    );
    let acc = last.test_accuracy.unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");
    // evaluate() on the trained network agrees with the history's last test pass.
    let (loss, acc2) = train::evaluate(
        &net,
        &s.test,
        Loss::SoftmaxCrossEntropy,
        2,
        Default::default(),
        Kernels::best(),
    )
    .unwrap();
    assert!((acc2 - acc).abs() < 1e-12, "{acc2} vs {acc}");
    assert!((loss - last.test_loss.unwrap()).abs() < 1e-6);
}

#[test]
fn every_loss_and_optimizer_trains() {
    let s = data::digits();
    let runs: Vec<(OutputActivation, Loss, Optimizer, Schedule)> = vec![
        (
            Activation::Sigmoid.into(),
            Loss::CrossEntropy,
            Optimizer::sgd(0.5, 0.0),
            Schedule::Constant,
        ),
        (
            Activation::Sigmoid.into(),
            Loss::Quadratic,
            Optimizer::sgd(2.0, 0.0),
            Schedule::Cosine,
        ),
        (
            OutputActivation::Softmax,
            Loss::SoftmaxCrossEntropy,
            Optimizer::adam(0.002),
            Schedule::Cosine,
        ),
    ];
    for (out, loss, opt, schedule) in runs {
        let mut net = Mlp::builder(&[64, 32, 10])
            .hidden(Activation::Tanh)
            .output(out)
            .seed(4)
            .build()
            .unwrap();
        let c = TrainConfig {
            epochs: 15,
            loss,
            optimizer: opt,
            schedule,
            threads: 1,
            ..cfg(15, 1)
        };
        let h = fit(&mut net, &s.train, Some(&s.test), &c, &mut ()).unwrap();
        let acc = h.last().unwrap().test_accuracy.unwrap();
        assert!(acc > 0.9, "{loss} {opt} {schedule:?}: test accuracy {acc}");
    }
}

#[test]
fn the_same_seed_trains_the_same_network() {
    let s = data::digits();
    let (mut a, mut b) = (digits_net(3), digits_net(3));
    let ha = fit(&mut a, &s.train, None, &cfg(2, 1), &mut ()).unwrap();
    let hb = fit(&mut b, &s.train, None, &cfg(2, 1), &mut ()).unwrap();
    assert_eq!(a, b);
    assert_eq!(ha.epochs[1].loss, hb.epochs[1].loss);
    let mut c = digits_net(3);
    fit(
        &mut c,
        &s.train,
        None,
        &TrainConfig {
            seed: 9,
            ..cfg(2, 1)
        },
        &mut (),
    )
    .unwrap();
    assert_ne!(a, c, "another batch order, another network");
}

/// A data set large enough per batch that two threads split each batch in two shards.
fn wide() -> (Dataset, Mlp, TrainConfig) {
    let d = common::wide_data();
    let dim = d.dim();
    let net = Mlp::builder(&[dim, 256, 10])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .seed(5)
        .build()
        .unwrap();
    let c = TrainConfig {
        epochs: 2,
        batch_size: 64,
        ..cfg(2, 2)
    };
    (d, net, c)
}

#[test]
fn two_shards_per_batch_agree_with_one_thread() {
    let (d, net, c) = wide();
    assert_eq!(
        train::shards_for(&net, 64, 2),
        2,
        "the test needs two shards"
    );
    assert_eq!(train::shards_for(&net, 64, 1), 1);
    let (mut one, mut two, mut again) = (net.clone(), net.clone(), net.clone());
    let h1 = fit(
        &mut one,
        &d,
        Some(&d),
        &TrainConfig {
            threads: 1,
            ..c.clone()
        },
        &mut (),
    )
    .unwrap();
    let h2 = fit(&mut two, &d, Some(&d), &c, &mut ()).unwrap();
    fit(&mut again, &d, Some(&d), &c, &mut ()).unwrap();
    assert_eq!(two, again, "two shards are deterministic too");
    let rel = (h1.epochs[1].loss - h2.epochs[1].loss).abs() / h1.epochs[1].loss;
    assert!(
        rel < 1e-4,
        "loss {} vs {}",
        h1.epochs[1].loss,
        h2.epochs[1].loss
    );
    for l in 0..net.depth() {
        for (p, q) in one.weights(l).iter().zip(two.weights(l)) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }
}

#[test]
fn divergence_stops_training_and_keeps_the_last_good_model() {
    let s = data::digits();
    let mut net = digits_net(2);
    let start = net.clone();
    let c = TrainConfig {
        optimizer: Optimizer::sgd(1e30, 0.0),
        ..cfg(3, 1)
    };
    let e = fit(&mut net, &s.train, None, &c, &mut ()).unwrap_err();
    match &e {
        TrainError::Diverged { epoch, batch, what } => {
            assert_eq!(*epoch, 1);
            assert!(*batch >= 1);
            assert!(what.contains("loss") || what.contains("gradient"), "{what}");
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("epoch 1, batch") && msg.contains("last good model"),
        "{msg}"
    );
    assert!(net.is_finite(), "the kept model has no NaN or ∞");
    // With η = 1e30 the first step already ruins the weights (or the second batch's loss):
    // the last weights with a finite loss are the initial ones.
    assert_eq!(net, start);
    // The kept network still runs and gives finite outputs.
    let out = net.predict(&Kernels::best(), s.test.sample(0), 1).unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
}

#[test]
fn bad_settings_are_errors_and_change_nothing() {
    let s = data::digits();
    let net0 = digits_net(1);
    let bad: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                batch_size: 0,
                ..cfg(1, 1)
            },
            "batch size 0",
        ),
        (
            TrainConfig {
                optimizer: Optimizer::sgd(-0.1, 0.0),
                ..cfg(1, 1)
            },
            "learning rate",
        ),
        (
            TrainConfig {
                l2: f32::NAN,
                ..cfg(1, 1)
            },
            "l2",
        ),
        (
            TrainConfig {
                loss: Loss::CrossEntropy,
                ..cfg(1, 1)
            },
            "sigmoid output",
        ),
    ];
    for (c, what) in bad {
        let mut net = net0.clone();
        let e = fit(&mut net, &s.train, Some(&s.test), &c, &mut ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(what), "want {what:?} in {e}");
        assert_eq!(net, net0);
    }
    let mut step = Mlp::builder(&[64, 16, 10])
        .hidden(Activation::Step)
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let e = fit(&mut step, &s.train, None, &cfg(1, 1), &mut ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no gradient"), "{e}");
    let empty = s.test.subset("empty", &[]);
    let e = fit(
        &mut digits_net(1),
        &s.train,
        Some(&empty),
        &cfg(1, 1),
        &mut (),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("test set is empty"), "{e}");
    let mut wrong_in = Mlp::builder(&[63, 10])
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let e = fit(&mut wrong_in, &s.train, None, &cfg(1, 1), &mut ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("64 features") && e.contains("63 inputs"), "{e}");
    let mut wrong_out = Mlp::builder(&[64, 9])
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let e = fit(&mut wrong_out, &s.train, None, &cfg(1, 1), &mut ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("10 classes") && e.contains("9 outputs"), "{e}");
}

#[test]
fn models_save_and_load_whole_and_atomically() {
    let s = data::digits();
    let mut net = digits_net(6);
    fit(&mut net, &s.train, None, &cfg(2, 1), &mut ()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    sigmo::nn::save(&net, Some(Loss::SoftmaxCrossEntropy), &path).unwrap();
    let (back, loss) = sigmo::nn::load(&path).unwrap();
    assert_eq!(back, net, "bit for bit");
    assert_eq!(loss, Some(Loss::SoftmaxCrossEntropy));
    // Saving again replaces the file; no temporary file is left behind.
    let other = Mlp::builder(&[64, 8, 10])
        .hidden(Activation::LeakyRelu(0.2))
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    other.save(&path).unwrap();
    assert_eq!(Mlp::load(&path).unwrap(), other);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.safetensors")]);
    // A save that cannot happen leaves the old file as it was.
    let before = std::fs::read(&path).unwrap();
    let e = net
        .save(&dir.path().join("no/such/dir/m.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A folder in the way of the rename: an error, and the folder is untouched.
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    assert!(net.save(&dir.path().join("taken")).is_err());
    assert!(dir.path().join("taken").is_dir());
}

#[test]
fn broken_model_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    digits_net(1).save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        (
            "garbage",
            b"hello, this is not a model".to_vec(),
            "not a safetensors",
        ),
        (
            "truncated",
            bytes[..bytes.len() - 7].to_vec(),
            "not a safetensors file",
        ),
    ];
    for (name, b, what) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        let e = Mlp::load(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(what), "want {what:?} in {e}");
    }
    // A safetensors file that is not a sigmo model.
    let p = dir.path().join("plain");
    let t =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0u8; 4]).unwrap();
    std::fs::write(&p, safetensors::serialize([("x", t)], None).unwrap()).unwrap();
    assert!(Mlp::load(&p)
        .unwrap_err()
        .to_string()
        .contains("not a sigmo model"));
    let e = Mlp::load(&dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing: cannot read"), "{e}");
}

#[test]
fn training_gives_the_same_bits_at_every_fma_tier_it_is_given() {
    use sigmo::kernels::Isa;
    // The tier travels in TrainConfig to every pass and to the optimizer; the FMA tiers
    // (Scalar, AVX2, AVX-512) run the same operations, so the trained weights agree.
    let s = data::digits();
    let train = s.train.subset("digits 300", &(0..300).collect::<Vec<_>>());
    for (opt, threads) in [(Optimizer::sgd(0.05, 0.9), 1), (Optimizer::adam(1e-3), 2)] {
        let mut runs = Vec::new();
        for isa in Isa::available().into_iter().filter(|i| i.has_fma()) {
            let mut net = digits_net(3);
            let c = TrainConfig {
                epochs: 2,
                optimizer: opt,
                l2: 1e-4,
                kernels: Kernels::new(isa).unwrap(),
                ..cfg(2, threads)
            };
            fit(&mut net, &train, None, &c, &mut ()).unwrap();
            let bits: Vec<u32> = (0..net.depth())
                .flat_map(|l| {
                    net.weights(l)
                        .iter()
                        .chain(net.biases(l))
                        .map(|v| v.to_bits())
                })
                .collect();
            runs.push((isa, bits));
        }
        assert!(!runs.is_empty());
        for (isa, bits) in &runs[1..] {
            assert!(bits == &runs[0].1, "{opt}: {isa} and {} differ", runs[0].0);
        }
    }
}
