//! Maxout layers, the multiclass hinge loss, dropout and input noise: gradients against f64
//! central differences (with the very masks and noisy inputs the pass drew), seeds that give
//! the same bits at one and two threads, evaluation that never drops, model files that
//! round-trip, bad values, and the digits learnt with each.

mod common;
use common::act64;
use sigmo::data::{self, Dataset};
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Grads, Init, Loss, Mlp, Noise, NoiseAt, OutputActivation, Workspace};
use sigmo::train::{self, fit, TrainConfig};

// ---------------------------------------------------------------- f64 reference

/// The index of the largest entry (the first on ties).
fn class_of(y: &[f32]) -> usize {
    let mut c = 0;
    for (j, &v) in y.iter().enumerate() {
        if v > y[c] {
            c = j;
        }
    }
    c
}

/// The loss summed over the batch in f64 with `params` as the network's (flattened in layer
/// order, weights then biases), hidden layer l's outputs multiplied by `masks[l]` when given,
/// and the smallest distance to a kink seen (ReLU family at 0, maxout's two best pieces,
/// the hinge's margin).
fn loss64(
    net: &Mlp,
    params: &[f64],
    loss: Loss,
    x: &[f32],
    y: &[f32],
    rows: usize,
    masks: &[Option<Vec<f32>>],
) -> (f64, f64) {
    let s = net.sizes();
    let mut total = 0.0;
    let mut kink = f64::INFINITY;
    for r in 0..rows {
        let mut a: Vec<f64> = x[r * s[0]..(r + 1) * s[0]]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let mut off = 0;
        let mut z = Vec::new();
        for l in 0..net.depth() {
            let (ni, no, wd) = (s[l], s[l + 1], net.width(l));
            let (w, b) = (
                &params[off..off + ni * wd],
                &params[off + ni * wd..off + ni * wd + wd],
            );
            off += ni * wd + wd;
            z = (0..wd)
                .map(|j| b[j] + (0..ni).map(|i| a[i] * w[i * wd + j]).sum::<f64>())
                .collect();
            a = if l + 1 < net.depth() {
                let mut h: Vec<f64> = match net.hidden_activations()[l] {
                    Activation::Maxout(k) => z
                        .chunks(k)
                        .map(|p| {
                            let mut q = p.to_vec();
                            q.sort_by(|u, v| v.partial_cmp(u).unwrap());
                            if k > 1 {
                                kink = kink.min(q[0] - q[1]);
                            }
                            q[0]
                        })
                        .collect(),
                    f => {
                        kink = z.iter().fold(kink, |m, v| m.min(v.abs()));
                        z.iter().map(|&v| act64(f, v)).collect()
                    }
                };
                if let Some(m) = &masks[l] {
                    for (u, v) in h.iter_mut().enumerate() {
                        *v *= m[r * no + u] as f64;
                    }
                }
                h
            } else {
                match net.output_activation() {
                    OutputActivation::Elementwise(f) => z.iter().map(|&v| act64(f, v)).collect(),
                    OutputActivation::Softmax => {
                        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                        let sum: f64 = e.iter().sum();
                        e.iter().map(|v| v / sum).collect()
                    }
                }
            };
        }
        let yr = &y[r * s[s.len() - 1]..(r + 1) * s[s.len() - 1]];
        total += match loss {
            Loss::Quadratic => {
                0.5 * a
                    .iter()
                    .zip(yr)
                    .map(|(a, &y)| (a - y as f64).powi(2))
                    .sum::<f64>()
            }
            Loss::SoftmaxCrossEntropy => {
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                -z.iter()
                    .zip(yr)
                    .map(|(z, &y)| y as f64 * (z - lse))
                    .sum::<f64>()
            }
            Loss::Hinge => {
                let c = class_of(yr);
                (0..a.len())
                    .filter(|&j| j != c)
                    .map(|j| {
                        let m = 1.0 + a[j] - a[c];
                        kink = kink.min(m.abs());
                        m.max(0.0)
                    })
                    .sum::<f64>()
            }
            Loss::CrossEntropy => unreachable!("not used here"),
        };
    }
    (total, kink)
}

fn flatten(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Checks the backprop gradient of a [5, 7, 6, 4] network against f64 central differences,
/// with `noise` drawn (masks and noisy inputs read back from the workspace), and returns the
/// worst relative error; `None` when some unit sits within 1e-3 of a kink.
fn gradient_check_seed(
    hidden: [Activation; 2],
    out: OutputActivation,
    loss: Loss,
    noise: &Noise,
    seed: u64,
) -> Option<f64> {
    let sizes = [5, 7, 6, 4];
    let rows = 3;
    let mut net = Mlp::builder(&sizes)
        .activation(0, hidden[0])
        .activation(1, hidden[1])
        .output(out)
        .init(Init::Xavier)
        .seed(seed)
        .build()
        .unwrap();
    let mut rng = Lcg(seed + 11);
    for l in 0..net.depth() {
        for b in net.biases_mut(l) {
            *b = 0.3 * rng.next();
        }
    }
    let x: Vec<f32> = (0..rows * 5).map(|_| rng.next()).collect();
    let y: Vec<f32> = match loss {
        Loss::Quadratic => (0..rows * 4).map(|_| 0.5 + 0.5 * rng.next()).collect(),
        // One-hot rows.
        _ => vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
    };
    let mut ws = Workspace::new(&net, rows, Kernels::best())
        .unwrap()
        .with_noise(Noise {
            seed,
            ..noise.clone()
        })
        .unwrap();
    let mut g = Grads::new(&net);
    let at = NoiseAt { step: 3, row: 5 };
    let stats = ws
        .loss_and_grad_noisy(&net, loss, &x, &y, rows, 1.0, &mut g, at)
        .unwrap();
    let masks: Vec<Option<Vec<f32>>> = (0..2)
        .map(|l| ws.dropout_mask(l, rows).map(<[f32]>::to_vec))
        .collect();
    assert_eq!(
        masks.iter().filter(|m| m.is_some()).count(),
        (0..2).filter(|&l| noise.dropout_of(l) > 0.0).count()
    );
    let xin = ws.noisy_inputs(rows).map_or(x.clone(), <[f32]>::to_vec);
    assert_eq!(xin != x, noise.input_noise > 0.0, "input noise drawn");
    let p = flatten(net.parameters());
    let (l0, kink) = loss64(&net, &p, loss, &xin, &y, rows, &masks);
    if kink < 1e-3 {
        return None;
    }
    assert!(
        (stats.loss - l0).abs() <= 1e-5 * l0.abs().max(1.0),
        "loss {} vs f64 {l0}",
        stats.loss
    );
    let analytic = flatten(g.as_slice());
    let h = 1e-6;
    let mut worst = 0.0f64;
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i] = p[i] + h;
        let up = loss64(&net, &q, loss, &xin, &y, rows, &masks).0;
        q[i] = p[i] - h;
        let down = loss64(&net, &q, loss, &xin, &y, rows, &masks).0;
        let numeric = (up - down) / (2.0 * h);
        let err = (analytic[i] - numeric).abs() / (analytic[i].abs() + numeric.abs()).max(1e-2);
        worst = worst.max(err);
    }
    Some(worst)
}

fn gradient_check(
    hidden: [Activation; 2],
    out: OutputActivation,
    loss: Loss,
    noise: &Noise,
    seed: u64,
) -> f64 {
    (seed..seed + 200)
        .find_map(|s| gradient_check_seed(hidden, out, loss, noise, s))
        .expect("a seed keeping every unit off its kink")
}

const IDENTITY: OutputActivation = OutputActivation::Elementwise(Activation::Identity);

#[test]
fn maxout_and_hinge_gradients_match_f64_central_differences() {
    let hiddens = [
        [Activation::Maxout(2), Activation::Maxout(2)],
        [Activation::Maxout(3), Activation::Relu],
        [Activation::Tanh, Activation::Maxout(4)],
        [Activation::Sigmoid, Activation::Sigmoid],
        [Activation::Relu, Activation::Elu(1.0)],
    ];
    let cases = [
        (OutputActivation::Softmax, Loss::SoftmaxCrossEntropy),
        (IDENTITY, Loss::Hinge),
        (Activation::Sigmoid.into(), Loss::Quadratic),
    ];
    let mut checked = 0;
    for (i, h) in hiddens.into_iter().enumerate() {
        for (j, &(out, loss)) in cases.iter().enumerate() {
            let worst = gradient_check(
                h,
                out,
                loss,
                &Noise::default(),
                100 + 10 * i as u64 + j as u64,
            );
            println!("hidden {h:?} output {out} loss {loss}: worst relative error {worst:.2e}");
            assert!(
                worst < 2e-3,
                "{h:?} / {out} / {loss}: relative error {worst:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
}

#[test]
fn dropout_and_input_noise_gradients_match_f64_central_differences() {
    let noises = [
        Noise {
            dropout: vec![0.3],
            ..Noise::default()
        },
        Noise {
            dropout: vec![0.5, 0.0],
            input_noise: 0.2,
            ..Noise::default()
        },
        Noise {
            dropout: vec![0.0, 0.4],
            input_noise: 0.05,
            ..Noise::default()
        },
        Noise {
            input_noise: 0.5,
            ..Noise::default()
        },
    ];
    let hiddens = [
        [Activation::Sigmoid, Activation::Tanh],
        [Activation::Maxout(2), Activation::Relu],
        [Activation::Elu(0.5), Activation::Maxout(3)],
    ];
    let mut checked = 0;
    for (n, noise) in noises.iter().enumerate() {
        for (i, h) in hiddens.into_iter().enumerate() {
            for (out, loss) in [
                (OutputActivation::Softmax, Loss::SoftmaxCrossEntropy),
                (IDENTITY, Loss::Hinge),
            ] {
                let seed = 300 + 20 * n as u64 + 5 * i as u64;
                let worst = gradient_check(h, out, loss, noise, seed);
                println!("{noise:?} hidden {h:?} loss {loss}: worst relative error {worst:.2e}");
                assert!(
                    worst < 2e-3,
                    "{noise:?} {h:?} {loss}: relative error {worst:e}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 24);
}

// ---------------------------------------------------------------- the masks

#[test]
fn masks_drop_at_rate_p_scale_the_kept_and_follow_seed_step_and_row() {
    let net = Mlp::builder(&[8, 200, 100, 3])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let rows = 16;
    let noise = Noise {
        dropout: vec![0.25, 0.6],
        input_noise: 0.0,
        seed: 4,
    };
    let x = vec![0.5f32; rows * 8];
    let mut y = vec![0.0f32; rows * 3];
    for r in 0..rows {
        y[r * 3 + r % 3] = 1.0;
    }
    let masks = |noise: &Noise, at: NoiseAt, lo: usize, hi: usize| {
        let mut ws = Workspace::new(&net, rows, Kernels::best())
            .unwrap()
            .with_noise(noise.clone())
            .unwrap();
        let mut g = Grads::new(&net);
        let n = hi - lo;
        ws.loss_and_grad_noisy(
            &net,
            Loss::SoftmaxCrossEntropy,
            &x[lo * 8..hi * 8],
            &y[lo * 3..hi * 3],
            n,
            1.0,
            &mut g,
            at,
        )
        .unwrap();
        (0..2)
            .map(|l| ws.dropout_mask(l, n).unwrap().to_vec())
            .collect::<Vec<_>>()
    };
    let at = NoiseAt { step: 7, row: 0 };
    let m = masks(&noise, at, 0, rows);
    for (l, (p, width)) in [(0.25f32, 200), (0.6, 100)].into_iter().enumerate() {
        let scale = 1.0 / (1.0 - p);
        assert_eq!(m[l].len(), rows * width);
        assert!(m[l].iter().all(|&v| v == 0.0 || v == scale), "layer {l}");
        let dropped = m[l].iter().filter(|&&v| v == 0.0).count() as f64 / m[l].len() as f64;
        assert!(
            (dropped - p as f64).abs() < 0.04,
            "layer {l}: dropped {dropped}, p {p}"
        );
    }
    // Rows 10..16 drawn as a shard of their own (batch row 10) get the same masks.
    let tail = masks(&noise, NoiseAt { step: 7, row: 10 }, 10, rows);
    assert_eq!(tail[0], m[0][10 * 200..]);
    assert_eq!(tail[1], m[1][10 * 100..]);
    // Same seed and step: the same bits; another step or seed: other masks.
    assert_eq!(masks(&noise, at, 0, rows), m);
    assert_ne!(masks(&noise, NoiseAt { step: 8, row: 0 }, 0, rows), m);
    let other = Noise {
        seed: 5,
        ..noise.clone()
    };
    assert_ne!(masks(&other, at, 0, rows), m);
}

#[test]
fn evaluate_forward_and_predict_never_drop_or_add_noise() {
    let s = data::digits();
    let net = Mlp::builder(&[64, 32, 32, 10])
        .hidden(Activation::Maxout(2))
        .output(OutputActivation::Softmax)
        .seed(3)
        .build()
        .unwrap();
    let rows = 20;
    let x = &s.test.features()[..rows * 64];
    let mut plain = Workspace::new(&net, rows, Kernels::best()).unwrap();
    let mut noisy = Workspace::new(&net, rows, Kernels::best())
        .unwrap()
        .with_noise(Noise {
            dropout: vec![0.9],
            input_noise: 3.0,
            seed: 1,
        })
        .unwrap();
    let want = plain.forward(&net, x, rows).unwrap().to_vec();
    assert_eq!(noisy.forward(&net, x, rows).unwrap(), want.as_slice());
    assert_eq!(net.predict(&Kernels::best(), x, rows).unwrap(), want);
    let mut y = vec![0.0; rows * 10];
    sigmo::nn::one_hot(&s.test.labels()[..rows], 10, &mut y).unwrap();
    let (a, b) = (
        plain
            .evaluate(&net, Loss::SoftmaxCrossEntropy, x, &y, rows)
            .unwrap(),
        noisy
            .evaluate(&net, Loss::SoftmaxCrossEntropy, x, &y, rows)
            .unwrap(),
    );
    assert_eq!(a, b);
    // loss_and_grad (not _noisy) draws nothing either; the noisy pass does.
    let (mut g1, mut g2) = (Grads::new(&net), Grads::new(&net));
    let l1 = plain
        .loss_and_grad(&net, Loss::SoftmaxCrossEntropy, x, &y, rows, 1.0, &mut g1)
        .unwrap();
    let l2 = noisy
        .loss_and_grad(&net, Loss::SoftmaxCrossEntropy, x, &y, rows, 1.0, &mut g2)
        .unwrap();
    assert_eq!((l1, &g1), (l2, &g2));
    assert!(noisy.dropout_mask(0, rows).is_none());
    let l3 = noisy
        .loss_and_grad_noisy(
            &net,
            Loss::SoftmaxCrossEntropy,
            x,
            &y,
            rows,
            1.0,
            &mut g2,
            NoiseAt::default(),
        )
        .unwrap();
    assert_ne!(l3.loss, l1.loss);
    // The trainer's test pass and `evaluate` don't drop: training with dropout then
    // evaluating gives what the plain workspace gives for the trained network.
    let mut trained = net.clone();
    // Adam at a small rate: the default SGD (η 0.1, momentum 0.9) under this much dropout and
    // noise diverges on some backends' bits (found on OpenBLAS), which is not what this tests.
    let cfg = TrainConfig {
        epochs: 2,
        threads: 1,
        dropout: vec![0.5],
        input_noise: 0.3,
        optimizer: sigmo::nn::Optimizer::adam(0.001),
        ..TrainConfig::new(Kernels::best())
    };
    let h = fit(&mut trained, &s.train, Some(&s.test), &cfg, &mut ()).unwrap();
    let (_, acc) = train::evaluate(
        &trained,
        &s.test,
        Loss::SoftmaxCrossEntropy,
        1,
        cfg.backend,
        Kernels::best(),
    )
    .unwrap();
    assert_eq!(h.last().unwrap().test_accuracy, Some(acc));
    let mut ws = Workspace::new(&trained, s.test.len(), Kernels::best()).unwrap();
    let mut yt = vec![0.0; s.test.len() * 10];
    sigmo::nn::one_hot(s.test.labels(), 10, &mut yt).unwrap();
    let st = ws
        .evaluate(
            &trained,
            Loss::SoftmaxCrossEntropy,
            s.test.features(),
            &yt,
            s.test.len(),
        )
        .unwrap();
    assert_eq!(st.correct as f64 / s.test.len() as f64, acc);
}

// ---------------------------------------------------------------- seeds and threads

/// A data set large enough per batch that two threads split each batch in two shards.
fn wide() -> (Dataset, Mlp, TrainConfig) {
    let d = common::wide_data();
    let dim = d.dim();
    let net = Mlp::builder(&[dim, 256, 10])
        .hidden(Activation::Maxout(2))
        .output(OutputActivation::Softmax)
        .seed(5)
        .build()
        .unwrap();
    let c = TrainConfig {
        epochs: 2,
        batch_size: 64,
        optimizer: sigmo::nn::Optimizer::sgd(0.05, 0.9),
        threads: 2,
        dropout: vec![0.3],
        input_noise: 0.1,
        ..TrainConfig::new(Kernels::best())
    };
    (d, net, c)
}

#[test]
fn the_same_seed_gives_the_same_bits_at_one_and_two_threads() {
    let (d, net, c) = wide();
    assert_eq!(
        train::shards_for(&net, 64, 2),
        2,
        "the test needs two shards"
    );
    let run = |c: &TrainConfig| {
        let mut n = net.clone();
        let h = fit(&mut n, &d, Some(&d), c, &mut ()).unwrap();
        (n, h.last().unwrap().loss)
    };
    let one = TrainConfig {
        threads: 1,
        ..c.clone()
    };
    let (a1, l1) = run(&one);
    let (b1, _) = run(&one);
    assert_eq!(a1, b1, "one thread: the same seed, the same bits");
    let (a2, l2) = run(&c);
    let (b2, _) = run(&c);
    assert_eq!(a2, b2, "two threads: the same seed, the same bits");
    // The masks and noise do not depend on the split; only the order of the gradient's sum
    // does.
    assert!((l1 - l2).abs() <= 1e-4 * l1, "loss {l1} vs {l2}");
    for l in 0..net.depth() {
        for (p, q) in a1.weights(l).iter().zip(a2.weights(l)) {
            assert!((p - q).abs() <= 1e-3 * (1.0 + p.abs()), "{p} vs {q}");
        }
    }
    let (other, _) = run(&TrainConfig {
        seed: 1,
        ..one.clone()
    });
    assert_ne!(other, a1, "another seed, other masks");
    let (clean, _) = run(&TrainConfig {
        dropout: vec![],
        input_noise: 0.0,
        ..one
    });
    assert_ne!(clean, a1, "dropout and noise change training");
}

// ---------------------------------------------------------------- model files

#[test]
fn maxout_models_round_trip_with_their_widths_in_the_file() {
    let net = Mlp::builder(&[6, 5, 4, 3])
        .activation(0, Activation::Maxout(3))
        .activation(1, Activation::Tanh)
        .output(IDENTITY)
        .seed(8)
        .build()
        .unwrap();
    assert_eq!((net.width(0), net.width(1), net.width(2)), (15, 4, 3));
    assert_eq!(net.weights(0).len(), 6 * 15);
    assert_eq!(net.biases(0).len(), 15);
    assert_eq!(net.num_params(), 6 * 15 + 15 + 5 * 4 + 4 + 4 * 3 + 3);
    assert_eq!(net.describe(), "6-5(maxout(3))-4(tanh)-3(identity)");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    sigmo::nn::save(&net, Some(Loss::Hinge), &path).unwrap();
    let (back, loss) = sigmo::nn::load(&path).unwrap();
    assert_eq!(back, net);
    assert_eq!(loss, Some(Loss::Hinge));
    let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
    assert_eq!(
        back.predict(&Kernels::best(), &x, 2).unwrap(),
        net.predict(&Kernels::best(), &x, 2).unwrap()
    );
    // The file says so: [fan_in, k·fan_out] weights, and the activation with its k.
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["hidden"], "maxout=3,tanh");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), [6, 15]);
    assert_eq!(st.tensor("layers.0.bias").unwrap().shape(), [15]);
    assert_eq!(st.tensor("layers.1.weight").unwrap().shape(), [5, 4]);

    // A file whose maxout k does not match its tensors, or is out of range: errors naming it.
    let write = |hidden: &str, w0: &[usize]| {
        let tensors: Vec<(String, Vec<usize>)> = vec![
            ("layers.0.weight".into(), w0.to_vec()),
            ("layers.0.bias".into(), vec![w0[1]]),
            ("layers.1.weight".into(), vec![5, 3]),
            ("layers.1.bias".into(), vec![3]),
        ];
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()])
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .zip(&data)
            .map(|((n, s), d)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                        .unwrap(),
                )
            })
            .collect();
        let meta: std::collections::HashMap<String, String> = [
            ("format", sigmo::nn::FORMAT),
            ("sizes", "6,5,3"),
            ("hidden", hidden),
            ("output", "identity"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = dir.path().join(format!("bad-{hidden}.safetensors"));
        std::fs::write(&p, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
        p
    };
    let ok = write("maxout=2", &[6, 10]);
    assert_eq!(sigmo::nn::load(&ok).unwrap().0.width(0), 10);
    for (hidden, w0, what) in [
        ("maxout=3", &[6usize, 10][..], "expected F32 [6, 15]"),
        ("relu", &[6, 10], "expected F32 [6, 5]"),
        ("maxout=1", &[6, 5], "maxout takes 2 to 64 pieces, not 1"),
        ("maxout=65", &[6, 10], "not 65"),
        ("maxout=0", &[6, 10], "bad hidden activations"),
        (
            "maxout=99999999999999999999",
            &[6, 10],
            "bad hidden activations",
        ),
    ] {
        let p = write(hidden, w0);
        let e = sigmo::nn::load(&p).unwrap_err().to_string();
        assert!(
            e.contains(what) && e.contains("bad-"),
            "{hidden}: want {what:?} in {e}"
        );
    }
}

// ---------------------------------------------------------------- bad values

#[test]
fn bad_values_are_errors_that_say_what_and_change_nothing() {
    for (b, what) in [
        (
            Mlp::builder(&[4, 3, 2]).hidden(Activation::Maxout(1)),
            "maxout takes 2 to 64 pieces, not 1",
        ),
        (
            Mlp::builder(&[4, 3, 2]).hidden(Activation::Maxout(65)),
            "not 65",
        ),
        (
            Mlp::builder(&[4, 2]).output(Activation::Maxout(2)),
            "maxout is for hidden layers",
        ),
        (
            Mlp::builder(&[4, usize::MAX / 2, 2]).hidden(Activation::Maxout(4)),
            "overflows",
        ),
    ] {
        let e = b.build().unwrap_err().to_string();
        assert!(e.contains(what), "want {what:?} in {e}");
    }
    let e = Mlp::from_parts(
        &[2, 2, 2],
        &[Activation::Maxout(2)],
        IDENTITY,
        vec![(vec![0.0; 4], vec![0.0; 2]), (vec![0.0; 4], vec![0.0; 2])],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a 2→4 layer needs 8 and 4"), "{e}");

    let s = data::digits();
    let net0 = Mlp::builder(&[64, 16, 16, 10])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let base = TrainConfig {
        epochs: 1,
        threads: 1,
        ..TrainConfig::new(Kernels::best())
    };
    let cases: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                dropout: vec![1.0],
                ..base.clone()
            },
            "dropout 1: must be in [0, 1)",
        ),
        (
            TrainConfig {
                dropout: vec![-0.1],
                ..base.clone()
            },
            "dropout -0.1",
        ),
        (
            TrainConfig {
                dropout: vec![f32::NAN],
                ..base.clone()
            },
            "dropout NaN",
        ),
        (
            TrainConfig {
                dropout: vec![0.1, 0.2, 0.3],
                ..base.clone()
            },
            "dropout has 3 values",
        ),
        (
            TrainConfig {
                input_noise: -1.0,
                ..base.clone()
            },
            "input noise σ = -1",
        ),
        (
            TrainConfig {
                input_noise: f32::INFINITY,
                ..base.clone()
            },
            "σ = inf",
        ),
        (
            TrainConfig {
                input_noise: f32::NAN,
                ..base.clone()
            },
            "σ = NaN",
        ),
        (
            TrainConfig {
                loss: Loss::Hinge,
                ..base.clone()
            },
            "loss hinge needs an identity output",
        ),
    ];
    for (c, what) in cases {
        let mut net = net0.clone();
        let e = fit(&mut net, &s.train, Some(&s.test), &c, &mut ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(what), "want {what:?} in {e}");
        assert_eq!(net, net0);
    }
    let e = Workspace::new(&net0, 4, Kernels::best())
        .unwrap()
        .with_noise(Noise {
            dropout: vec![1.5],
            ..Noise::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("dropout 1.5"), "{e}");
    // A workspace made for a ReLU network does not take a maxout one of the same sizes.
    let mx = Mlp::builder(&[64, 16, 16, 10])
        .hidden(Activation::Maxout(2))
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let mut ws = Workspace::new(&net0, 1, Kernels::best()).unwrap();
    let e = ws.forward(&mx, &[0.0; 64], 1).unwrap_err().to_string();
    assert!(e.contains("layer widths"), "{e}");
    // Names.
    assert_eq!("hinge".parse::<Loss>().unwrap(), Loss::Hinge);
    assert_eq!(Loss::Hinge.to_string(), "hinge");
    assert!("huber".parse::<Loss>().unwrap_err().contains("hinge"));
}

// ---------------------------------------------------------------- the digits

#[test]
fn digits_reach_95_percent_with_maxout_hinge_and_dropout() {
    let s = data::digits();
    let adam = sigmo::nn::Optimizer::adam(0.001);
    let runs: Vec<(&str, Activation, OutputActivation, Loss, Vec<f32>)> = vec![
        (
            "maxout",
            Activation::Maxout(2),
            OutputActivation::Softmax,
            Loss::SoftmaxCrossEntropy,
            vec![],
        ),
        ("hinge", Activation::Relu, IDENTITY, Loss::Hinge, vec![]),
        (
            "dropout 0.2",
            Activation::Relu,
            OutputActivation::Softmax,
            Loss::SoftmaxCrossEntropy,
            vec![0.2],
        ),
    ];
    for (name, hidden, out, loss, dropout) in runs {
        let mut net = Mlp::builder(&[64, 256, 10])
            .hidden(hidden)
            .output(out)
            .seed(0)
            .build()
            .unwrap();
        let cfg = TrainConfig {
            epochs: 15,
            optimizer: adam,
            loss,
            dropout,
            ..TrainConfig::new(Kernels::best())
        };
        let h = fit(&mut net, &s.train, Some(&s.test), &cfg, &mut ()).unwrap();
        let acc = h.last().unwrap().test_accuracy.unwrap();
        println!("{name}: test accuracy {acc}");
        assert!(acc >= 0.95, "{name}: test accuracy {acc}");
    }
}
