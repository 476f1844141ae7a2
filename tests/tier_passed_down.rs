//! The kernel tier is passed down, never detected by the library: with `SIGMO_ISA` naming no
//! tier (so that any detection fails), every library entry point that runs kernels still
//! works when it is given a tier, and gives the bits it gives at that tier.
//!
//! One test in its own binary: the variable is set for the whole process before anything
//! reads it.

use sigmo::gemm::{Activation, Backend, MatMut, MatRef};
use sigmo::kernels::{Isa, Kernels};
use sigmo::nn::Workspace;
use sigmo::nn::{one_hot, Grads, Loss, Mlp, Optimizer, OptimizerState, OutputActivation};
use sigmo::train::{evaluate, fit, TrainConfig};

#[test]
fn a_poisoned_sigmo_isa_reaches_no_library_call() {
    std::env::set_var("SIGMO_ISA", "no-such-tier");
    assert!(
        Kernels::try_best().is_err(),
        "the poisoned variable must make detection fail, or this test proves nothing"
    );
    // The tier the caller chose: the widest this CPU runs, named explicitly.
    let isa = *Isa::available().last().expect("scalar is always available");
    let k = Kernels::new(isa).unwrap();

    // GEMM on every compiled backend (sigmo's engine runs at k), and the fused epilogue.
    let (m, kk, n) = (37, 29, 19);
    let a: Vec<f32> = (0..m * kk).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..kk * n).map(|i| (i % 5) as f32 - 2.0).collect();
    let want: Vec<f32> = (0..m * n)
        .map(|p| (0..kk).map(|t| a[p / n * kk + t] * b[t * n + p % n]).sum())
        .collect();
    for be in Backend::available() {
        let mut c = vec![f32::NAN; m * n];
        be.gemm(
            &k,
            1.0,
            MatRef::new(&a, m, kk).unwrap(),
            MatRef::new(&b, kk, n).unwrap(),
            0.0,
            MatMut::new(&mut c, m, n).unwrap(),
        )
        .unwrap();
        // Small integers: every engine's sum is exact.
        assert_eq!(c, want, "{be}");
        let bias = vec![1.0f32; n];
        be.gemm_bias_act(
            &k,
            MatRef::new(&a, m, kk).unwrap(),
            MatRef::new(&b, kk, n).unwrap(),
            &bias,
            Activation::Relu,
            MatMut::new(&mut c, m, n).unwrap(),
        )
        .unwrap();
        let relu: Vec<f32> = want.iter().map(|&v| (v + 1.0).max(0.0)).collect();
        assert_eq!(c, relu, "{be}: bias + ReLU");
    }

    // A workspace, a backward pass and an optimizer step.
    let split = sigmo::data::digits();
    let mut net = Mlp::builder(&[64, 16, 10])
        .hidden(Activation::Relu)
        .output(OutputActivation::Softmax)
        .seed(5)
        .build()
        .unwrap();
    let rows = 8;
    let x = &split.train.features()[..rows * 64];
    let mut y = vec![0.0f32; rows * 10];
    one_hot(&split.train.labels()[..rows], 10, &mut y).unwrap();
    let mut ws = Workspace::new(&net, rows, k).unwrap();
    let mut g = Grads::new(&net);
    let st = ws
        .loss_and_grad(&net, Loss::SoftmaxCrossEntropy, x, &y, rows, 1.0, &mut g)
        .unwrap();
    assert!(st.loss.is_finite() && st.loss > 0.0);
    let before = net.weights(0).to_vec();
    let mut opt = OptimizerState::new(Optimizer::sgd(0.1, 0.9), 1e-4, &net, k).unwrap();
    opt.step(&mut net, &g).unwrap();
    assert_ne!(net.weights(0), &before[..], "the step moved no weight");

    // Predictions: the convenience call and the workspace agree to the bit.
    let p = net.predict(&k, x, rows).unwrap();
    assert_eq!(p, ws.forward(&net, x, rows).unwrap());
    let csv =
        String::from_utf8(sigmo::predict::csv(&net, x, rows, Backend::for_training(), k).unwrap())
            .unwrap();
    assert_eq!(csv.lines().count(), rows + 1);

    // Training and evaluation, one and two threads.
    for threads in [1, 2] {
        let mut net = Mlp::builder(&[64, 32, 10])
            .hidden(Activation::Relu)
            .output(OutputActivation::Softmax)
            .seed(1)
            .build()
            .unwrap();
        let cfg = TrainConfig {
            epochs: 2,
            threads,
            ..TrainConfig::new(k)
        };
        let h = fit(&mut net, &split.train, Some(&split.test), &cfg, &mut ()).unwrap();
        let acc = h.last().unwrap().test_accuracy.unwrap();
        assert!(acc > 0.8, "{threads} threads: test accuracy {acc}");
        let (_, acc2) = evaluate(
            &net,
            &split.test,
            Loss::SoftmaxCrossEntropy,
            threads,
            cfg.backend,
            k,
        )
        .unwrap();
        assert_eq!(acc, acc2, "{threads} threads");
    }
}
