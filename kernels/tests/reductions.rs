//! sum, max, dot and axpy on every tier: against f64, NaN and empty-slice semantics, lengths
//! around the 16 virtual lanes, unaligned offsets, and bit-identity of the FMA tiers.

#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

mod common;

use common::*;
use sigmo_kernels::{Isa, Kernels};

#[test]
fn sum_is_compensated_and_tier_independent() {
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    for k in tiers() {
        let l = k.isa().lanes();
        for n in lengths(l).into_iter().chain([100_000, 1 << 20]) {
            for off in [0, 1, l / 2 + 1] {
                let data = Rng::new(n as u64).vec(n + off, -1.0, 1.0);
                let x = &data[off..];
                let got = k.sum(x);
                let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
                let mag: f64 = x.iter().map(|&v| f64::from(v).abs()).sum();
                // Compensated: error ≈ 2ε·Σ|x| rather than n·ε·Σ|x|.
                assert!(
                    (f64::from(got) - exact).abs()
                        <= 4.0 * f64::from(f32::EPSILON) * mag.max(f64::MIN_POSITIVE)
                            + f64::from(f32::EPSILON) * exact.abs(),
                    "sum on {} of {n}: {got} vs {exact}",
                    k.isa()
                );
                if k.isa().has_fma() {
                    assert_eq!(
                        got.to_bits(),
                        scalar.sum(x).to_bits(),
                        "sum on {} of {n}",
                        k.isa()
                    );
                }
            }
        }
        assert_eq!(k.sum(&[]).to_bits(), (-0.0f32).to_bits());
        assert_eq!(k.sum(&[-0.0; 5]).to_bits(), (-0.0f32).to_bits());
        assert!(k.sum(&[1.0, f32::NAN, 2.0]).is_nan());
        assert_eq!(k.sum(&[1.0, f32::INFINITY]), f32::INFINITY);
        // A million ones sum exactly; so do 10⁷ copies of 0.1 to within a few ULP.
        assert_eq!(k.sum(&vec![1.0; 1_000_000]), 1e6);
        let s = k.sum(&vec![0.1f32; 10_000_000]);
        assert!((f64::from(s) - 1e7 * f64::from(0.1f32)).abs() <= 2.0, "{s}");
    }
}

#[test]
fn max_semantics() {
    for k in tiers() {
        let l = k.isa().lanes();
        for n in lengths(l) {
            if n == 0 {
                continue;
            }
            let mut x = Rng::new(n as u64 * 3).vec(n, -100.0, 100.0);
            let want = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            assert_eq!(k.max(&x), want, "max on {} of {n}", k.isa());
            // A NaN anywhere (every position) gives NaN.
            for p in [0, n / 2, n - 1] {
                let keep = x[p];
                x[p] = f32::NAN;
                assert!(
                    k.max(&x).is_nan(),
                    "max on {} with NaN at {p} of {n}",
                    k.isa()
                );
                x[p] = keep;
            }
        }
        assert_eq!(k.max(&[]), f32::NEG_INFINITY);
        assert_eq!(k.max(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
        assert_eq!(k.max(&[1.0, f32::INFINITY]), f32::INFINITY);
    }
}

#[test]
fn dot_against_f64_with_a_bound_that_grows_with_n() {
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    for k in tiers() {
        let l = k.isa().lanes();
        for n in lengths(l).into_iter().chain([10_000, 100_000]) {
            let mut r = Rng::new(n as u64 + 5);
            let x = r.vec(n + 1, -1.0, 1.0);
            let y = r.vec(n, -1.0, 1.0);
            let x = &x[1..];
            let got = k.dot(x, &y);
            let exact: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let mag: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                .sum();
            // 16 lanes of n/16 fused steps, then a 4-level tree: γ(n/16 + 4)·Σ|xᵢyᵢ|.
            let bound = ((n / 16 + 5) as f64) * f64::from(f32::EPSILON) * mag;
            assert!(
                (f64::from(got) - exact).abs() <= bound + 1e-30,
                "dot on {} of {n}: {got} vs {exact}",
                k.isa()
            );
            if k.isa().has_fma() {
                assert_eq!(
                    got.to_bits(),
                    scalar.dot(x, &y).to_bits(),
                    "dot on {} of {n}",
                    k.isa()
                );
            }
        }
        assert_eq!(k.dot(&[], &[]), 0.0);
        assert_eq!(k.dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    }
}

#[test]
fn axpy_is_one_fma_per_element() {
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    for k in tiers() {
        let l = k.isa().lanes();
        for n in lengths(l) {
            let mut r = Rng::new(n as u64 + 9);
            let x = r.vec(n, -3.0, 3.0);
            let y0 = r.vec(n + 2 * 16, -3.0, 3.0);
            let a = 0.37f32;
            let mut y = y0.clone();
            k.axpy(a, &x, &mut y[16..16 + n]);
            assert_eq!(&y[..16], &y0[..16], "axpy wrote before its slice");
            assert_eq!(&y[16 + n..], &y0[16 + n..], "axpy wrote after its slice");
            for i in 0..n {
                let want = f64::from(a) * f64::from(x[i]) + f64::from(y0[16 + i]);
                let e = sigmo_kernels::reference::ulp_error(y[16 + i], want);
                let bound = if k.isa().has_fma() { 0.5 } else { 1.5 };
                assert!(
                    e <= bound || (f64::from(y[16 + i]) - want).abs() < 1e-6,
                    "axpy on {}: {e} ULP",
                    k.isa()
                );
            }
            if k.isa().has_fma() {
                let mut s = y0.clone();
                scalar.axpy(a, &x, &mut s[16..16 + n]);
                assert_eq!(hash(&s), hash(&y), "axpy on {}", k.isa());
            }
        }
    }
}

#[test]
#[should_panic(expected = "dot of slices with 2 and 3 elements")]
fn dot_length_mismatch_panics() {
    sigmo_kernels::dot(&[1.0, 2.0], &[1.0, 2.0, 3.0]);
}
