//! The network: textbook golden values, gradients against f64 central differences for every
//! activation and loss, optimizer steps against their formulas, and shape errors.

mod common;
use common::act64;
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{
    Grads, Init, Loss, Mlp, NnError, Optimizer, OptimizerState, OutputActivation, Workspace,
};

fn close(got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs() / w.abs().max(1e-30);
        assert!(
            err <= rel,
            "[{i}]: got {g}, want {w} (relative error {err:e})"
        );
    }
}

/// The 3-layer network of the textbook example (Saitō, "Deep Learning from Scratch", §3.4).
fn textbook(hidden_out: OutputActivation, depth: usize) -> Mlp {
    let w1 = vec![0.1, 0.3, 0.5, 0.2, 0.4, 0.6];
    let b1 = vec![0.1, 0.2, 0.3];
    let w2 = vec![0.1, 0.4, 0.2, 0.5, 0.3, 0.6];
    let b2 = vec![0.1, 0.2];
    let w3 = vec![0.1, 0.3, 0.2, 0.4];
    let b3 = vec![0.1, 0.2];
    match depth {
        1 => Mlp::from_parts(&[2, 3], &[], hidden_out, vec![(w1, b1)]).unwrap(),
        _ => Mlp::from_parts(
            &[2, 3, 2, 2],
            &[Activation::Sigmoid, Activation::Sigmoid],
            OutputActivation::Elementwise(Activation::Identity),
            vec![(w1, b1), (w2, b2), (w3, b3)],
        )
        .unwrap(),
    }
}

#[test]
fn textbook_forward_pass() {
    let x = [1.0f32, 0.5];
    // a1 = x·W1 + b1, z1 = σ(a1): one layer with an identity, then a sigmoid output.
    let a1 = textbook(Activation::Identity.into(), 1)
        .predict(&Kernels::best(), &x, 1)
        .unwrap();
    close(&a1, &[0.3, 0.7, 1.1], 1e-6);
    let z1 = textbook(Activation::Sigmoid.into(), 1)
        .predict(&Kernels::best(), &x, 1)
        .unwrap();
    close(&z1, &[0.57444252, 0.66818777, 0.75026011], 1e-6);
    let y = textbook(Activation::Identity.into(), 3)
        .predict(&Kernels::best(), &x, 1)
        .unwrap();
    close(&y, &[0.31682708, 0.69627909], 1e-6);
}

#[test]
fn softmax_output_of_huge_logits_is_exact_and_has_no_nan() {
    // W = I, b = 0: the output layer's logits are the inputs.
    let eye = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let net = Mlp::from_parts(
        &[3, 3],
        &[],
        OutputActivation::Softmax,
        vec![(eye, vec![0.0; 3])],
    )
    .unwrap();
    let p = net
        .predict(&Kernels::best(), &[1010.0, 1000.0, 990.0], 1)
        .unwrap();
    close(&p, &[9.99954600e-01, 4.53978686e-05, 2.06106005e-09], 1e-6);
    assert!(p.iter().all(|v| v.is_finite()));
}

#[test]
fn a_step_neuron_fires_only_for_1_0_and_1_1() {
    // w = (5, 3), θ = 4: fires when 5x₁ + 3x₂ − 4 > 0.
    let net = Mlp::from_parts(
        &[2, 1],
        &[],
        Activation::Step.into(),
        vec![(vec![5.0, 3.0], vec![-4.0])],
    )
    .unwrap();
    let out = net
        .predict(
            &Kernels::best(),
            &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
            4,
        )
        .unwrap();
    assert_eq!(out, [0.0, 0.0, 1.0, 1.0]);
}

#[test]
fn nielsen_network_is_sigmoid_with_normal_init() {
    let net = Mlp::new(&[784, 30, 10]).unwrap();
    assert_eq!(net.sizes(), [784, 30, 10]);
    assert_eq!(net.hidden_activations(), [Activation::Sigmoid]);
    assert_eq!(net.output_activation(), Activation::Sigmoid.into());
    assert_eq!(net.num_params(), 784 * 30 + 30 + 30 * 10 + 10);
    // N(0, 1): the sample standard deviation of 23,520 weights is near 1.
    let w = net.weights(0);
    let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
    assert!((var.sqrt() - 1.0).abs() < 0.03, "sd {}", var.sqrt());
    assert!(net.biases(0).iter().any(|&b| b != 0.0));
}

#[test]
fn initialisations_have_their_scale_and_follow_the_seed() {
    let sizes = [400, 300, 10];
    let sd = |net: &Mlp| {
        let w = net.weights(0);
        (w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
    };
    let want = [
        (Init::Classic, 1.0),
        (Init::Scaled, 1.0 / 20.0),
        (Init::He, (2.0f64 / 400.0).sqrt()),
        (Init::Xavier, (2.0f64 / 700.0).sqrt()), // U(±√(6/700)) has sd √(2/700)
        (Init::Uniform, 1.0 / (20.0 * 3f64.sqrt())), // U(±1/20)
    ];
    for (init, s) in want {
        let net = Mlp::builder(&sizes).init(init).seed(3).build().unwrap();
        let got = sd(&net);
        assert!((got / s - 1.0).abs() < 0.02, "{init}: sd {got}, want {s}");
        let again = Mlp::builder(&sizes).init(init).seed(3).build().unwrap();
        assert_eq!(net, again, "{init}: same seed, same network");
        let other = Mlp::builder(&sizes).init(init).seed(4).build().unwrap();
        assert_ne!(net.weights(0), other.weights(0));
    }
    let he = Mlp::builder(&sizes)
        .hidden(Activation::Relu)
        .seed(3)
        .build()
        .unwrap();
    assert_eq!(
        he,
        Mlp::builder(&sizes)
            .hidden(Activation::Relu)
            .init(Init::He)
            .seed(3)
            .build()
            .unwrap()
    );
}

// ---------------------------------------------------------------- f64 reference

/// The loss summed over the batch, in f64, with `params` as the network's (flattened in
/// layer order: weights then biases), and the smallest |z| seen in a hidden layer.
fn loss64(net: &Mlp, params: &[f64], loss: Loss, x: &[f32], y: &[f32], rows: usize) -> (f64, f64) {
    let s = net.sizes();
    let mut total = 0.0;
    let mut min_z = f64::INFINITY;
    for r in 0..rows {
        let mut a: Vec<f64> = x[r * s[0]..(r + 1) * s[0]]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let mut off = 0;
        let mut z = Vec::new();
        for l in 0..net.depth() {
            let (ni, no) = (s[l], s[l + 1]);
            let (w, b) = (
                &params[off..off + ni * no],
                &params[off + ni * no..off + ni * no + no],
            );
            off += ni * no + no;
            z = (0..no)
                .map(|j| b[j] + (0..ni).map(|i| a[i] * w[i * no + j]).sum::<f64>())
                .collect();
            a = if l + 1 < net.depth() {
                let f = net.hidden_activations()[l];
                min_z = z.iter().fold(min_z, |m, v| m.min(v.abs()));
                z.iter().map(|&v| act64(f, v)).collect()
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
            Loss::CrossEntropy => -a
                .iter()
                .zip(yr)
                .map(|(a, &y)| y as f64 * a.ln() + (1.0 - y as f64) * (1.0 - a).ln())
                .sum::<f64>(),
            Loss::SoftmaxCrossEntropy => {
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                -z.iter()
                    .zip(yr)
                    .map(|(z, &y)| y as f64 * (z - lse))
                    .sum::<f64>()
            }
            Loss::Hinge => unreachable!("hinge is checked in tests/regularize.rs"),
        };
    }
    (total, min_z)
}

fn flatten(net: &Mlp) -> Vec<f64> {
    (0..net.depth())
        .flat_map(|l| {
            net.weights(l)
                .iter()
                .chain(net.biases(l))
                .map(|&v| v as f64)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn flatten_grads(net: &Mlp, g: &Grads) -> Vec<f64> {
    (0..net.depth())
        .flat_map(|l| {
            g.weights(l)
                .iter()
                .chain(g.biases(l))
                .map(|&v| v as f64)
                .collect::<Vec<_>>()
        })
        .collect()
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

/// Checks the backprop gradient of `loss` for a [5, 7, 6, 4] network against f64 central
/// differences, and returns the worst relative error.
fn gradient_check(hidden: [Activation; 2], out: OutputActivation, loss: Loss, seed: u64) -> f64 {
    // Inputs kept off the ReLU-family kink: the first seed whose hidden units all sit at least
    // 1e-3 from 0 (the central difference steps by 1e-6).
    (seed..seed + 100)
        .find_map(|s| gradient_check_seed(hidden, out, loss, s))
        .expect("a seed keeping every unit off the kink")
}

fn gradient_check_seed(
    hidden: [Activation; 2],
    out: OutputActivation,
    loss: Loss,
    seed: u64,
) -> Option<f64> {
    let sizes = [5, 7, 6, 4];
    let rows = 3;
    let net = Mlp::builder(&sizes)
        .activation(0, hidden[0])
        .activation(1, hidden[1])
        .output(out)
        .init(Init::Xavier)
        .seed(seed)
        .build()
        .unwrap();
    // Biases away from zero, so that no unit sits near a kink.
    let mut net = net;
    let mut rng = Lcg(seed + 11);
    for l in 0..net.depth() {
        for b in net.biases_mut(l) {
            *b = 0.3 * rng.next();
        }
    }
    let x: Vec<f32> = (0..rows * 5).map(|_| rng.next()).collect();
    let y: Vec<f32> = match loss {
        // One-hot rows, then soft labels: a distribution, and a row that sums to 1.5 (the
        // a·Σy − y of the gradient).
        Loss::SoftmaxCrossEntropy => {
            vec![0.0, 1.0, 0.0, 0.0, 0.1, 0.6, 0.3, 0.0, 0.5, 0.0, 0.25, 0.75]
        }
        Loss::CrossEntropy => (0..rows * 4).map(|i| [0.0, 1.0, 0.25][i % 3]).collect(),
        Loss::Quadratic => (0..rows * 4).map(|_| 0.5 + 0.5 * rng.next()).collect(),
        Loss::Hinge => unreachable!("hinge is checked in tests/regularize.rs"),
    };
    let mut ws = Workspace::new(&net, rows, Kernels::best()).unwrap();
    let mut g = Grads::new(&net);
    let stats = ws
        .loss_and_grad(&net, loss, &x, &y, rows, 1.0, &mut g)
        .unwrap();
    let p = flatten(&net);
    let (l0, min_z) = loss64(&net, &p, loss, &x, &y, rows);
    if min_z < 1e-3 {
        return None;
    }
    assert!(
        (stats.loss - l0).abs() <= 1e-5 * l0.abs().max(1.0),
        "loss {} vs f64 {l0}",
        stats.loss
    );
    let analytic = flatten_grads(&net, &g);
    let h = 1e-6;
    let mut worst = 0.0f64;
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i] = p[i] + h;
        let up = loss64(&net, &q, loss, &x, &y, rows).0;
        q[i] = p[i] - h;
        let down = loss64(&net, &q, loss, &x, &y, rows).0;
        let numeric = (up - down) / (2.0 * h);
        let err = (analytic[i] - numeric).abs() / (analytic[i].abs() + numeric.abs()).max(1e-2);
        worst = worst.max(err);
    }
    Some(worst)
}

#[test]
fn gradients_match_f64_central_differences_for_every_activation_and_loss() {
    let hidden = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Elu(1.0),
        Activation::Identity,
    ];
    let cases: Vec<(OutputActivation, Loss)> = vec![
        (OutputActivation::Softmax, Loss::SoftmaxCrossEntropy),
        (Activation::Sigmoid.into(), Loss::CrossEntropy),
        (Activation::Sigmoid.into(), Loss::Quadratic),
        (Activation::Identity.into(), Loss::Quadratic),
        (Activation::Tanh.into(), Loss::Quadratic),
        (Activation::Relu.into(), Loss::Quadratic),
        (Activation::LeakyRelu(0.2).into(), Loss::Quadratic),
        (Activation::Elu(0.5).into(), Loss::Quadratic),
        (OutputActivation::Softmax, Loss::Quadratic),
    ];
    let mut checked = 0;
    for &h in &hidden {
        for (i, &(out, loss)) in cases.iter().enumerate() {
            let worst = gradient_check([h, h], out, loss, 20 + i as u64);
            println!(
                "hidden {h:<16} output {out:<16} loss {loss:<13} worst relative error {worst:.2e}"
            );
            assert!(
                worst < 2e-3,
                "{h} / {out} / {loss}: relative error {worst:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, hidden.len() * cases.len());
}

#[test]
fn gradients_of_networks_with_mixed_hidden_activations() {
    // Each hidden layer's own derivative must be used (layer l's, not l − 1's).
    let mixes = [
        [Activation::Tanh, Activation::Relu],
        [Activation::Relu, Activation::Sigmoid],
        [Activation::Elu(0.7), Activation::LeakyRelu(0.05)],
        [Activation::Identity, Activation::Tanh],
    ];
    for (i, mix) in mixes.into_iter().enumerate() {
        for (out, loss) in [
            (OutputActivation::Softmax, Loss::SoftmaxCrossEntropy),
            (Activation::Sigmoid.into(), Loss::Quadratic),
        ] {
            let worst = gradient_check(mix, out, loss, 60 + i as u64);
            println!("hidden {mix:?} output {out} loss {loss}: worst relative error {worst:.2e}");
            assert!(worst < 2e-3, "{mix:?} / {loss}: relative error {worst:e}");
        }
    }
}

#[test]
fn shards_of_a_batch_add_up_to_the_whole_batch_gradient() {
    let net = Mlp::builder(&[6, 5, 3])
        .hidden(Activation::Tanh)
        .output(OutputActivation::Softmax)
        .seed(2)
        .build()
        .unwrap();
    let mut rng = Lcg(5);
    let x: Vec<f32> = (0..8 * 6).map(|_| rng.next()).collect();
    let mut y = vec![0.0; 8 * 3];
    sigmo::nn::one_hot(&[0, 1, 2, 0, 1, 2, 2, 1], 3, &mut y).unwrap();
    assert!(sigmo::nn::one_hot(&[3], 3, &mut y)
        .unwrap_err()
        .to_string()
        .contains("label 3"));
    assert!(sigmo::nn::one_hot(&[0; 9], 3, &mut y)
        .unwrap_err()
        .to_string()
        .contains("holds 24"));
    let mut ws = Workspace::new(&net, 8, Kernels::best()).unwrap();
    let mut whole = Grads::new(&net);
    let s = ws
        .loss_and_grad(
            &net,
            Loss::SoftmaxCrossEntropy,
            &x,
            &y,
            8,
            0.125,
            &mut whole,
        )
        .unwrap();
    let (mut a, mut b) = (Grads::new(&net), Grads::new(&net));
    let sa = ws
        .loss_and_grad(
            &net,
            Loss::SoftmaxCrossEntropy,
            &x[..18],
            &y[..9],
            3,
            0.125,
            &mut a,
        )
        .unwrap();
    let sb = ws
        .loss_and_grad(
            &net,
            Loss::SoftmaxCrossEntropy,
            &x[18..],
            &y[9..],
            5,
            0.125,
            &mut b,
        )
        .unwrap();
    a.add(ws.kernels(), &b).unwrap();
    let other = Grads::new(&Mlp::builder(&[6, 4, 3]).build().unwrap());
    assert!(a.add(ws.kernels(), &other).is_err());
    assert!((sa.loss + sb.loss - s.loss).abs() < 1e-5);
    assert_eq!(sa.correct + sb.correct, s.correct);
    for (p, q) in flatten_grads(&net, &a)
        .iter()
        .zip(flatten_grads(&net, &whole))
    {
        assert!((p - q).abs() < 1e-6, "{p} vs {q}");
    }
}

// ---------------------------------------------------------------- optimizers

fn one_layer() -> Mlp {
    Mlp::from_parts(
        &[2, 2],
        &[],
        Activation::Identity.into(),
        vec![(vec![1.0, -2.0, 0.5, 3.0], vec![0.25, -0.5])],
    )
    .unwrap()
}

fn fixed_grads(net: &Mlp, step: usize) -> Grads {
    // Gradients through the public path: a loss on a fixed sample, so they are real ones.
    let mut ws = Workspace::new(net, 1, Kernels::best()).unwrap();
    let mut g = Grads::new(net);
    let x = [0.5 + step as f32, -1.0];
    ws.loss_and_grad(net, Loss::Quadratic, &x, &[0.0, 1.0], 1, 1.0, &mut g)
        .unwrap();
    g
}

#[test]
fn sgd_with_momentum_and_l2_follows_pytorch_formula() {
    let (lr, mu, l2) = (0.1f32, 0.9f32, 0.01f32);
    let mut net = one_layer();
    let mut opt = OptimizerState::new(Optimizer::sgd(lr, mu), l2, &net, Kernels::best()).unwrap();
    let mut w: Vec<f64> = flatten(&net);
    let mut v = vec![0.0f64; w.len()];
    for step in 0..3 {
        let g = fixed_grads(&net, step);
        let gf = flatten_grads(&net, &g);
        opt.step(&mut net, &g).unwrap();
        for i in 0..w.len() {
            let decay = if i < 4 { l2 as f64 } else { 0.0 }; // weights, not biases
            v[i] = mu as f64 * v[i] + gf[i] + decay * w[i];
            w[i] -= lr as f64 * v[i];
        }
        close(
            &flatten(&net).iter().map(|&x| x as f32).collect::<Vec<_>>(),
            &w,
            1e-6,
        );
    }
    assert_eq!(opt.steps(), 3);
}

#[test]
fn plain_sgd_l2_is_network2_weight_shrinking() {
    // w ← (1 − ηλ)·w − η·g, Nielsen's network2 with λ/n → λ.
    let (lr, l2) = (0.5f32, 0.1f32);
    let mut net = one_layer();
    let w0 = net.weights(0).to_vec();
    let g = fixed_grads(&net, 0);
    OptimizerState::new(Optimizer::sgd(lr, 0.0), l2, &net, Kernels::best())
        .unwrap()
        .step(&mut net, &g)
        .unwrap();
    for ((&w, &w0), &g) in net.weights(0).iter().zip(&w0).zip(g.weights(0)) {
        let want = (1.0 - lr as f64 * l2 as f64) * w0 as f64 - lr as f64 * g as f64;
        assert!((w as f64 - want).abs() < 1e-6);
    }
}

#[test]
fn adam_follows_its_formula_with_bias_correction() {
    let (lr, b1, b2, eps, l2) = (0.01f32, 0.9f64, 0.999f64, 1e-8f64, 0.001f32);
    let mut net = one_layer();
    let mut opt = OptimizerState::new(Optimizer::adam(lr), l2, &net, Kernels::best()).unwrap();
    let mut w = flatten(&net);
    let (mut m, mut v) = (vec![0.0f64; w.len()], vec![0.0f64; w.len()]);
    for step in 0..3 {
        let g = fixed_grads(&net, step);
        let gf = flatten_grads(&net, &g);
        opt.step(&mut net, &g).unwrap();
        let t = step as i32 + 1;
        for i in 0..w.len() {
            let gi = gf[i] + if i < 4 { l2 as f64 * w[i] } else { 0.0 };
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let mh = m[i] / (1.0 - b1.powi(t));
            let vh = v[i] / (1.0 - b2.powi(t));
            w[i] -= lr as f64 * mh / (vh.sqrt() + eps);
        }
        close(
            &flatten(&net).iter().map(|&x| x as f32).collect::<Vec<_>>(),
            &w,
            2e-6,
        );
    }
}

#[test]
fn updates_split_over_threads_match_one_thread_bit_for_bit() {
    // 300·300 + 300 + 300·10 + 10 parameters: above the size where the update is split.
    let net0 = Mlp::builder(&[300, 300, 10]).seed(8).build().unwrap();
    let mut rng = Lcg(3);
    let x: Vec<f32> = (0..4 * 300).map(|_| rng.next()).collect();
    let y: Vec<f32> = (0..4 * 10).map(|_| 0.5 + 0.5 * rng.next()).collect();
    let mut ws = Workspace::new(&net0, 4, Kernels::best()).unwrap();
    let mut g = Grads::new(&net0);
    ws.loss_and_grad(&net0, Loss::Quadratic, &x, &y, 4, 0.25, &mut g)
        .unwrap();
    // The update splits its parameters in contiguous parts, one per thread of the pool it
    // runs in; the weight/bias boundaries (L2 on weights only) must hold across the split.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for opt in [Optimizer::sgd(0.1, 0.9), Optimizer::adam(0.01)] {
        let (mut one, mut two) = (net0.clone(), net0.clone());
        let mut s1 = OptimizerState::new(opt, 1e-3, &net0, Kernels::best()).unwrap();
        let mut s2 = s1.clone();
        for _ in 0..3 {
            single.install(|| s1.step(&mut one, &g)).unwrap();
            pool.install(|| s2.step(&mut two, &g)).unwrap();
        }
        assert_eq!(one, two, "{opt}");
        assert_ne!(one, net0);
    }
}

#[test]
fn bad_hyper_parameters_are_errors() {
    let net = one_layer();
    let adam = |beta1, beta2, eps| Optimizer::Adam {
        lr: 0.001,
        beta1,
        beta2,
        eps,
    };
    for (opt, what) in [
        (Optimizer::sgd(0.0, 0.9), "learning rate 0"),
        (Optimizer::sgd(f32::NAN, 0.0), "learning rate NaN"),
        (Optimizer::sgd(0.1, 1.0), "momentum = 1"),
        (Optimizer::sgd(0.1, -0.5), "momentum = -0.5"),
        (Optimizer::adam(-1.0), "learning rate -1"),
        (adam(1.0, 0.999, 1e-8), "beta1 = 1"),
        (adam(0.9, -0.1, 1e-8), "beta2 = -0.1"),
        (adam(0.9, 0.999, 0.0), "eps = 0"),
    ] {
        let e = OptimizerState::new(opt, 0.0, &net, Kernels::best())
            .unwrap_err()
            .to_string();
        assert!(e.contains(what), "want {what:?} in {e}");
    }
    assert!(
        OptimizerState::new(Optimizer::sgd(0.1, 0.0), -1.0, &net, Kernels::best())
            .unwrap_err()
            .to_string()
            .contains("l2")
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn shapes_that_do_not_fit_are_errors_that_say_what() {
    let net = Mlp::builder(&[3, 4, 2])
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    let mut ws = Workspace::new(&net, 4, Kernels::best()).unwrap();
    let e = ws.forward(&net, &[0.0; 5], 2).unwrap_err();
    assert!(e.to_string().contains("input has 5 values"), "{e}");
    let e = ws.forward(&net, &[0.0; 15], 5).unwrap_err();
    assert!(e.to_string().contains("at most 4"), "{e}");
    let other = Mlp::builder(&[3, 5, 2]).build().unwrap();
    assert!(ws
        .forward(&other, &[0.0; 3], 1)
        .unwrap_err()
        .to_string()
        .contains("layer sizes"));
    let mut g = Grads::new(&net);
    let e = ws
        .loss_and_grad(
            &net,
            Loss::CrossEntropy,
            &[0.0; 3],
            &[1.0, 0.0],
            1,
            1.0,
            &mut g,
        )
        .unwrap_err();
    assert!(e.to_string().contains("sigmoid output"), "{e}");
    let e = ws
        .loss_and_grad(
            &net,
            Loss::SoftmaxCrossEntropy,
            &[0.0; 3],
            &[1.0],
            1,
            1.0,
            &mut g,
        )
        .unwrap_err();
    assert!(e.to_string().contains("targets have 1 values"), "{e}");
    let mut wrong = Grads::new(&other);
    let e = ws
        .loss_and_grad(
            &net,
            Loss::SoftmaxCrossEntropy,
            &[0.0; 3],
            &[1.0, 0.0],
            1,
            1.0,
            &mut wrong,
        )
        .unwrap_err();
    assert!(e.to_string().contains("gradients"), "{e}");
    // An empty batch is fine and produces nothing: no outputs, a zero loss, and zero
    // gradients (not whatever the last batch left; the trainer's empty shards rely on it).
    assert_eq!(ws.forward(&net, &[], 0).unwrap(), &[] as &[f32]);
    let x = [0.5f32, -1.0, 2.0];
    ws.loss_and_grad(
        &net,
        Loss::SoftmaxCrossEntropy,
        &x,
        &[1.0, 0.0],
        1,
        1.0,
        &mut g,
    )
    .unwrap();
    assert!(g.as_slice().iter().any(|&v| v != 0.0));
    let s = ws
        .loss_and_grad(&net, Loss::SoftmaxCrossEntropy, &[], &[], 0, 1.0, &mut g)
        .unwrap();
    assert_eq!((s.loss, s.correct), (0.0, 0));
    assert!(g.as_slice().iter().all(|&v| v == 0.0));
}

#[test]
fn sizes_too_large_for_memory_are_errors_not_aborts() {
    let e = Mlp::builder(&[64, usize::MAX / 2, 10])
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("overflows"), "{e}");
    let e = Mlp::builder(&[64, 1 << 40, 10])
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot allocate"), "{e}");
    let net = Mlp::builder(&[4, 3]).build().unwrap();
    let e = net
        .predict(&Kernels::best(), &[], 1 << 40)
        .unwrap_err()
        .to_string();
    assert!(e.contains("input has 0 values"), "{e}");
    let e = Workspace::new(&net, 1 << 60, Kernels::best())
        .unwrap_err()
        .to_string();
    assert!(e.contains("workspace"), "{e}");
}

#[test]
fn networks_that_cannot_be_built_are_errors() {
    let msg = |r: Result<Mlp, NnError>| r.unwrap_err().to_string();
    assert!(msg(Mlp::builder(&[3]).build()).contains("at least"));
    assert!(msg(Mlp::builder(&[3, 0, 2]).build()).contains("size 1 is 0"));
    assert!(msg(Mlp::builder(&[3, 4, 2])
        .activation(1, Activation::Relu)
        .build())
    .contains("hidden layer 1"));
    assert!(msg(Mlp::builder(&[3, 4, 2])
        .hidden(Activation::LeakyRelu(-1.0))
        .build())
    .contains("α"));
    assert!(msg(Mlp::from_parts(
        &[2, 2],
        &[],
        OutputActivation::Softmax,
        vec![(vec![0.0; 3], vec![0.0; 2])]
    ))
    .contains("layer 0"));
    assert!(msg(Mlp::from_parts(
        &[2, 1],
        &[],
        OutputActivation::Softmax,
        vec![(vec![f32::NAN, 0.0], vec![0.0])]
    ))
    .contains("not finite"));
}

#[test]
fn describe_and_classify() {
    let net = Mlp::builder(&[4, 3, 2])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .build()
        .unwrap();
    assert_eq!(net.describe(), "4-3(relu)-2(softmax)");
    let c = net.classify(&Kernels::best(), &[0.0; 8], 2).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(sigmo::nn::argmax(&[0.1, 0.7, 0.7, f32::NAN]), 1);
    assert_eq!(sigmo::nn::argmax(&[f32::NAN, 0.5]), 1);
}

#[test]
fn optimizer_updates_have_the_same_bits_at_every_tier() {
    use sigmo::kernels::Isa;
    // Odd sizes: no layer's weights or biases fill whole registers, so every block has a
    // masked tail; 3 steps with gradients of real samples.
    let net0 = Mlp::builder(&[37, 29, 13]).seed(5).build().unwrap();
    let rows = 3;
    let x: Vec<f32> = (0..rows * 37)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let y: Vec<f32> = (0..rows * 13)
        .map(|i| (i % 13 == i / 13) as u8 as f32)
        .collect();
    for (opt, l2) in [
        (Optimizer::sgd(0.1, 0.0), 0.0),
        (Optimizer::sgd(0.05, 0.9), 1e-3),
        (Optimizer::adam(0.01), 1e-4),
    ] {
        let mut runs: Vec<(Isa, Vec<f32>)> = Vec::new();
        for isa in Isa::available() {
            let k = Kernels::new(isa).unwrap();
            let mut net = net0.clone();
            let mut st = OptimizerState::new(opt, l2, &net, k).unwrap();
            let mut ws = Workspace::new(&net, rows, Kernels::best()).unwrap();
            for _ in 0..3 {
                let mut g = Grads::new(&net);
                ws.loss_and_grad(
                    &net,
                    Loss::Quadratic,
                    &x,
                    &y,
                    rows,
                    1.0 / rows as f32,
                    &mut g,
                )
                .unwrap();
                st.step(&mut net, &g).unwrap();
            }
            let p: Vec<f32> = (0..net.depth())
                .flat_map(|l| net.weights(l).iter().chain(net.biases(l)).copied())
                .collect();
            assert!(p.iter().all(|v| v.is_finite()));
            assert_ne!(
                p,
                flatten(&net0).iter().map(|&v| v as f32).collect::<Vec<_>>()
            );
            runs.push((isa, p));
        }
        let (isa0, p0) = &runs[0];
        for (isa, p) in &runs[1..] {
            let same = p.iter().zip(p0).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{opt}: {isa} and {isa0} differ");
        }
    }
}
