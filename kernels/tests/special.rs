//! Exact behaviour at the special values and cut-offs, on every tier.

#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

mod common;

use common::*;
use sigmo_kernels::{reference, Kernels, EXP_OVERFLOW, EXP_UNDERFLOW};

fn apply(k: &Kernels, f: fn(&Kernels, &[f32], &mut [f32]), x: f32) -> f32 {
    let mut y = [0.0f32];
    f(k, &[x], &mut y);
    y[0]
}

const EXP: fn(&Kernels, &[f32], &mut [f32]) = |k, x, y| k.exp(x, y);
const SIG: fn(&Kernels, &[f32], &mut [f32]) = |k, x, y| k.sigmoid(x, y);
const TANH: fn(&Kernels, &[f32], &mut [f32]) = |k, x, y| k.tanh(x, y);

#[test]
fn exp_cutoffs_and_specials() {
    assert_eq!(f64::from(next_up(EXP_OVERFLOW)), 88.722_839_355_468_75_f64);
    for k in tiers() {
        let e = |x| apply(&k, EXP, x);
        assert_eq!(e(f32::INFINITY), f32::INFINITY, "{}", k.isa());
        assert_eq!(
            e(f32::NEG_INFINITY).to_bits(),
            0,
            "{}: exp(-inf) must be +0",
            k.isa()
        );
        assert!(e(f32::NAN).is_nan() && e(-f32::NAN).is_nan());
        assert_eq!(e(0.0), 1.0);
        assert_eq!(e(-0.0), 1.0);
        // Overflow exactly above EXP_OVERFLOW.
        assert!(e(EXP_OVERFLOW).is_finite(), "{}", k.isa());
        assert!(reference::ulp_error(e(EXP_OVERFLOW), reference::exp(EXP_OVERFLOW)) <= 1.0);
        assert_eq!(e(next_up(EXP_OVERFLOW)), f32::INFINITY, "{}", k.isa());
        assert_eq!(e(f32::MAX), f32::INFINITY);
        // Zero exactly below EXP_UNDERFLOW; the smallest subnormal just above it.
        assert_eq!(e(EXP_UNDERFLOW), 0.0, "{}", k.isa());
        assert_eq!(e(next_up(EXP_UNDERFLOW)), f32::from_bits(1), "{}", k.isa());
        assert_eq!(e(f32::MIN), 0.0);
        assert_eq!(e(-5e29), 0.0);
        assert_eq!(e(-4.29e26), 0.0);
        assert_eq!(e(5e29), f32::INFINITY);
        // Subnormal results are the correctly rounded ones around the FLT_MIN boundary.
        for x in around(-87.336_55)
            .into_iter()
            .chain(around(-100.0))
            .chain(around(-103.0))
        {
            let want = reference::exp(x);
            assert!(
                reference::ulp_error(e(x), want) <= 1.0,
                "{}: exp({x}) = {:e}, want {want:e}",
                k.isa(),
                e(x)
            );
        }
    }
}

#[test]
fn sigmoid_saturates_exactly_and_never_nans_on_finite_input() {
    for k in tiers() {
        let s = |x| apply(&k, SIG, x);
        assert_eq!(s(0.0), 0.5);
        assert_eq!(s(-0.0), 0.5);
        assert_eq!(s(f32::INFINITY), 1.0);
        assert_eq!(s(f32::NEG_INFINITY), 0.0);
        assert!(s(f32::NAN).is_nan());
        // Exactly 1 above 17.328679 (where e^-x drops under half an ULP of 1).
        for x in [
            next_up(17.328_679),
            17.33,
            18.0,
            88.0,
            1e10,
            4.29e26,
            5e29,
            f32::MAX,
        ] {
            assert_eq!(s(x), 1.0, "{}: sigmoid({x})", k.isa());
        }
        assert!(s(17.0) < 1.0);
        // The largest x whose sigmoid rounds below 1 still gives < 1: scan down from the cut-off.
        let mut x = 17.328_679f32;
        while (reference::sigmoid(x) as f32) == 1.0 {
            x = next_down(x);
        }
        assert!(s(x) < 1.0, "{}: sigmoid({x}) should round below 1", k.isa());
        // XNNPACK's AVX-512 sigmoid gives NaN from |x| ≥ 4.3e26; this one never does.
        for x in [
            4.29e26,
            -4.29e26,
            4.3e26,
            -4.3e26,
            5e29,
            -5e29,
            f32::MAX,
            f32::MIN,
        ] {
            assert!(!s(x).is_nan(), "{}: sigmoid({x}) is NaN", k.isa());
        }
        assert_eq!(s(-5e29), 0.0);
        assert_eq!(s(f32::MIN), 0.0);
        // Subnormal results: sigmoid(x) ≈ e^x below −87.34.
        for x in [-88.0f32, -95.0, -100.0, -103.0, next_up(EXP_UNDERFLOW)] {
            assert!(
                reference::ulp_error(s(x), reference::sigmoid(x)) <= 1.5,
                "{}: sigmoid({x})",
                k.isa()
            );
            assert!(s(x) > 0.0);
        }
        assert_eq!(s(EXP_UNDERFLOW), 0.0);
    }
}

#[test]
fn tanh_signs_and_saturation() {
    for k in tiers() {
        let t = |x| apply(&k, TANH, x);
        assert_eq!(t(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(t(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(t(f32::INFINITY), 1.0);
        assert_eq!(t(f32::NEG_INFINITY), -1.0);
        assert!(t(f32::NAN).is_nan());
        for x in [10.0f32, 20.0, 1e10, 5e29, f32::MAX] {
            assert_eq!(t(x), 1.0, "{}: tanh({x})", k.isa());
            assert_eq!(t(-x), -1.0, "{}: tanh(-{x})", k.isa());
        }
        // Near 0 tanh x = x to the last bit on the FMA tiers (no cancellation), and within
        // the 2-ULP bound without FMA.
        for x in [
            1e-7f32,
            -1e-7,
            1e-5,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            -f32::from_bits(1),
            1e-30,
        ] {
            if k.isa().has_fma() {
                assert_eq!(t(x), x, "{}: tanh({x:e})", k.isa());
            } else {
                assert!(
                    reference::ulp_error(t(x), reference::tanh(x)) <= 2.0,
                    "{}: tanh({x:e})",
                    k.isa()
                );
            }
        }
        // Odd symmetry to the bit.
        for x in mixed(2000, 3) {
            let (a, b) = (t(x), t(-x));
            assert!(same_bits(a, -b), "{}: tanh(-{x}) != -tanh({x})", k.isa());
        }
    }
}

#[test]
fn specials_through_every_unary_kernel_on_every_tier() {
    type F = fn(&Kernels, &[f32], &mut [f32]);
    type Case = (&'static str, F, fn(f32) -> f64, f64);
    fn nan_or(x: f32, f: fn(f64) -> f64) -> f64 {
        if x.is_nan() {
            f64::NAN
        } else {
            f(f64::from(x))
        }
    }
    let kernels: [Case; 9] = [
        ("exp", EXP, reference::exp, 1.0),
        ("sigmoid", SIG, reference::sigmoid, 1.5),
        ("tanh", TANH, reference::tanh, 2.0),
        (
            "elu",
            |k, x, y| k.elu(x, y, 1.0),
            |x| reference::elu(x, 1.0),
            2.0,
        ),
        (
            "relu",
            |k, x, y| k.relu(x, y),
            |x| nan_or(x, |v| v.max(0.0)),
            0.0,
        ),
        (
            "leaky_relu(0.1)",
            |k, x, y| k.leaky_relu(x, y, 0.1),
            |x| nan_or(x, |v| if v < 0.0 { v * f64::from(0.1f32) } else { v }),
            0.5,
        ),
        // α = 0 is ReLU: −∞ gives 0, not 0·(−∞) = NaN.
        (
            "leaky_relu(0)",
            |k, x, y| k.leaky_relu(x, y, 0.0),
            |x| nan_or(x, |v| v.max(0.0)),
            0.0,
        ),
        (
            "step",
            |k, x, y| k.step(x, y),
            |x| nan_or(x, |v| if v > 0.0 { 1.0 } else { 0.0 }),
            0.0,
        ),
        (
            "identity",
            |k, x, y| k.identity(x, y),
            |x| f64::from(x),
            0.0,
        ),
    ];
    let x = specials();
    let mut hashes = Vec::new();
    for (name, f, r, bound) in kernels {
        for k in tiers() {
            let mut y = vec![0.0; x.len()];
            f(&k, &x, &mut y);
            for (&xi, &yi) in x.iter().zip(&y) {
                let e = reference::ulp_error(yi, r(xi));
                assert!(
                    e <= bound,
                    "{name} on {}: {xi:e} ({:#010x}) -> {yi:e}: {e} ULP",
                    k.isa(),
                    xi.to_bits()
                );
                assert_eq!(
                    xi.is_nan(),
                    yi.is_nan(),
                    "{name}: NaN in iff NaN out ({xi:e})"
                );
            }
            if k.isa().has_fma() {
                hashes.push((name, k.isa(), hash(&y)));
            }
        }
    }
    for w in hashes.windows(2) {
        if w[0].0 == w[1].0 {
            assert_eq!(
                w[0].2, w[1].2,
                "{}: {} and {} differ in bits",
                w[0].0, w[0].1, w[1].1
            );
        }
    }
}

#[test]
fn specials_through_every_backward_kernel_on_every_tier() {
    type B = fn(&Kernels, &[f32], &[f32], &mut [f32]);
    type Case = (&'static str, B, fn(f64, f64) -> f64, Vec<f32>, f64);
    let unit = vec![
        0.0,
        -0.0,
        1.0,
        0.5,
        f32::from_bits(1),
        f32::MIN_POSITIVE,
        1.0 - f32::EPSILON / 2.0,
        f32::NAN,
    ];
    let signed_unit: Vec<f32> = unit.iter().flat_map(|&v| [v, -v]).collect();
    let cases: Vec<Case> = vec![
        (
            "sigmoid_backward",
            |k, y, d, o| k.sigmoid_backward(y, d, o),
            |y, d| d * (y * (1.0 - y)),
            unit,
            2.0,
        ),
        (
            "tanh_backward",
            |k, y, d, o| k.tanh_backward(y, d, o),
            |y, d| d * (1.0 - y * y),
            signed_unit,
            1.5,
        ),
        (
            "relu_backward",
            |k, y, d, o| k.relu_backward(y, d, o),
            |y, d| if y > 0.0 { d } else { 0.0 },
            specials(),
            0.0,
        ),
        (
            "leaky_relu_backward",
            |k, y, d, o| k.leaky_relu_backward(y, d, o, 0.1),
            |y, d| if y > 0.0 { d } else { d * f64::from(0.1f32) },
            specials(),
            0.5,
        ),
        (
            "elu_backward",
            |k, y, d, o| k.elu_backward(y, d, o, 1.0),
            |y, d| if y > 0.0 { d } else { d * (y + 1.0) },
            specials()
                .into_iter()
                .filter(|v| v.is_nan() || *v >= -1.0)
                .collect(),
            1.5,
        ),
    ];
    let dys = specials();
    for (name, f, r, ys, bound) in cases {
        // Every (y, dy) pair.
        let (y, dy): (Vec<f32>, Vec<f32>) = ys
            .iter()
            .flat_map(|&y| dys.iter().map(move |&d| (y, d)))
            .unzip();
        let mut hashes = Vec::new();
        for k in tiers() {
            let mut dx = vec![0.0; y.len()];
            f(&k, &y, &dy, &mut dx);
            for i in 0..y.len() {
                let want = r(f64::from(y[i]), f64::from(dy[i]));
                let e = reference::ulp_error(dx[i], want);
                assert!(
                    e <= bound,
                    "{name} on {}: y = {:e}, dy = {:e} gave {:e}, want {want:e}",
                    k.isa(),
                    y[i],
                    dy[i],
                    dx[i]
                );
            }
            if k.isa().has_fma() {
                hashes.push(dx);
            }
        }
        for w in hashes.windows(2) {
            for i in 0..y.len() {
                // Same bits; where two NaNs meet, which payload survives is not specified
                // (the compiler may order a product's operands either way).
                let both_nan = y[i].is_nan() && dy[i].is_nan();
                assert!(
                    w[0][i].to_bits() == w[1][i].to_bits()
                        || (both_nan && w[0][i].is_nan() && w[1][i].is_nan()),
                    "{name}: FMA tiers differ at y = {:#x}, dy = {:#x}",
                    y[i].to_bits(),
                    dy[i].to_bits()
                );
            }
        }
    }
}
