//! Softmax, two-pass softmax and log-softmax: accuracy on XNNPACK's and oneDNN's test rows,
//! rows summing to 1 up to 10⁶ columns, the edge rows, the row-matrix API, in place, guards,
//! and bit-identity of the FMA tiers.

#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

mod common;

use common::*;
use sigmo_kernels::{reference, Isa, Kernels};

type Row = fn(&Kernels, &[f32], &mut [f32]);
type RowInplace = fn(&Kernels, &mut [f32]);

const SOFTMAXES: [(&str, Row, RowInplace); 2] = [
    (
        "softmax",
        |k, x, y| k.softmax(x, y),
        |k, x| k.softmax_inplace(x),
    ),
    (
        "softmax_online",
        |k, x, y| k.softmax_online(x, y),
        |k, x| k.softmax_online_inplace(x),
    ),
];

/// Checks every element against the f64 softmax: within `rel`, plus the documented rounding of
/// the f32 difference x − max where that is inexact (|x − max|·2⁻²⁴).
fn check_softmax(name: &str, k: &Kernels, x: &[f32], y: &[f32], rel: f64) {
    let want = reference::softmax(x);
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
        let err = (f64::from(g) - w).abs();
        let d = x[i] - m;
        let sub = if f64::from(d) == f64::from(x[i]) - f64::from(m) {
            0.0
        } else {
            f64::from(d.abs()) * 2f64.powi(-24)
        };
        assert!(
            err <= (rel + sub) * w + 1e-40,
            "{name} on {}: element {i} of {} is {g:e}, want {w:e} (relative error {:e})",
            k.isa(),
            x.len(),
            err / w
        );
    }
}

fn row_tests(rows: impl Fn(&mut Rng, usize) -> Vec<f32>, label: &str) {
    for k in tiers() {
        for n in lengths(k.isa().lanes()) {
            if n == 0 {
                continue;
            }
            let mut r = Rng::new(n as u64 + 77);
            let x = rows(&mut r, n);
            for (name, f, finplace) in SOFTMAXES {
                let mut y = vec![f32::NAN; n];
                f(&k, &x, &mut y);
                check_softmax(&format!("{name} ({label})"), &k, &x, &y, 1e-6);
                let mut z = x.clone();
                finplace(&k, &mut z);
                assert_eq!(hash(&z), hash(&y), "{name} in place on {}", k.isa());
            }
            let mut y = vec![f32::NAN; n];
            k.log_softmax(&x, &mut y);
            let want = reference::log_softmax(&x);
            for i in 0..n {
                // 2 ULP, plus the absolute error ln S inherits from the f32 exponentials
                // (each ≤ 1 ULP, so ln S is off by at most about 2⁻²³).
                let e = reference::ulp_error(y[i], want[i]);
                let abs = (f64::from(y[i]) - want[i]).abs();
                assert!(
                    abs <= 2.0 * reference::ulp_of(want[i]) + 2f64.powi(-23),
                    "log_softmax ({label}) on {}: element {i} of {n}: {} vs {}: {e} ULP",
                    k.isa(),
                    y[i],
                    want[i]
                );
            }
            let mut z = x.clone();
            k.log_softmax_inplace(&mut z);
            assert_eq!(hash(&z), hash(&y), "log_softmax in place on {}", k.isa());
        }
    }
}

#[test]
fn xnnpack_rows_uniform_90_100() {
    row_tests(|r, n| r.vec(n, 90.0, 100.0), "U[90,100]");
}

#[test]
fn onednn_rows_88_plus_uniform_0_09() {
    row_tests(
        |r, n| (0..n).map(|_| 88.0 + r.uniform(0.0, 0.9)).collect(),
        "88+U[0,0.9)",
    );
}

#[test]
fn wide_rows() {
    row_tests(|r, n| r.vec(n, -30.0, 30.0), "U[-30,30]");
}

#[test]
fn rows_sum_to_one_up_to_a_million_columns() {
    let n = 1_000_000;
    let mut r = Rng::new(1);
    let random = r.vec(n, -10.0, 10.0);
    let flat = vec![3.0f32; n];
    // Ascending: the running max grows at every element, the worst case for an online normalizer.
    let ascending: Vec<f32> = (0..n).map(|i| i as f32 * 1e-5).collect();
    let xnn = r.vec(n, 90.0, 100.0);
    for k in tiers() {
        for (label, x) in [
            ("random", &random),
            ("flat", &flat),
            ("ascending", &ascending),
            ("U[90,100]", &xnn),
        ] {
            for (name, f, _) in SOFTMAXES {
                let mut y = vec![0.0f32; n];
                f(&k, x, &mut y);
                let s: f64 = y.iter().map(|&v| f64::from(v)).sum();
                assert!(
                    (s - 1.0).abs() <= 1e-6,
                    "{name} on {} ({label}, 10^6 columns) sums to {s}",
                    k.isa()
                );
                check_softmax(name, &k, x, &y, 1e-6);
            }
        }
    }
}

#[test]
fn edge_rows() {
    let nan_row = |v: &[f32]| v.iter().all(|x| x.is_nan());
    for k in tiers() {
        for (name, f, finplace) in SOFTMAXES {
            // Empty row: nothing to do, nothing written.
            f(&k, &[], &mut []);
            finplace(&k, &mut []);
            // One finite element gives [1].
            for v in [5.0f32, -1e30, 0.0, f32::MAX] {
                let mut y = [0.0];
                f(&k, &[v], &mut y);
                assert_eq!(y, [1.0], "{name} on {} of [{v}]", k.isa());
            }
            for n in [1usize, 2, 17, 33, 2000] {
                // All −∞: NaN (documented choice).
                let mut y = vec![0.0; n];
                f(&k, &vec![f32::NEG_INFINITY; n], &mut y);
                assert!(nan_row(&y), "{name} on {}: all -inf row of {n}", k.isa());
                // +∞ or NaN anywhere: all NaN.
                for bad in [f32::INFINITY, f32::NAN] {
                    let mut x = vec![1.0f32; n];
                    x[n / 2] = bad;
                    f(&k, &x, &mut y);
                    assert!(nan_row(&y), "{name} on {}: row with {bad} ({n})", k.isa());
                }
                // Some −∞ among finite values: those give exactly 0, the rest a distribution.
                if n > 1 {
                    let mut x: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
                    for i in (0..n).step_by(3) {
                        x[i] = f32::NEG_INFINITY;
                    }
                    f(&k, &x, &mut y);
                    for i in 0..n {
                        if i % 3 == 0 {
                            assert_eq!(y[i], 0.0);
                        } else {
                            assert!(y[i] > 0.0 && y[i].is_finite());
                        }
                    }
                    check_softmax(name, &k, &x, &y, 1e-6);
                }
            }
            // The textbook case: no overflow, no NaN.
            let mut y = [0.0f32; 3];
            f(&k, &[1010.0, 1000.0, 990.0], &mut y);
            let want = [9.999_546e-1f64, 4.539_786_9e-5, 2.061_060_1e-9];
            for i in 0..3 {
                assert!(
                    (f64::from(y[i]) - want[i]).abs() <= 1e-6 * want[i],
                    "{name}: {y:?}"
                );
            }
        }
        let mut y = [7.0f32];
        k.log_softmax(&[3.0], &mut y);
        assert_eq!(y, [0.0]);
        let mut y = [0.0f32; 4];
        k.log_softmax(&[f32::NEG_INFINITY; 4], &mut y);
        assert!(nan_row(&y));
        k.log_softmax(&[1.0, f32::NAN, 2.0, 3.0], &mut y);
        assert!(nan_row(&y));
    }
}

#[test]
fn rows_api_matches_per_row_calls_and_writes_nothing_else() {
    type Rows = fn(&Kernels, &[f32], usize, &mut [f32]);
    type RowsInplace = fn(&Kernels, &mut [f32], usize);
    let variants: [(&str, Rows, RowsInplace, Row); 3] = [
        (
            "softmax_rows",
            |k, x, c, y| k.softmax_rows(x, c, y),
            |k, x, c| k.softmax_rows_inplace(x, c),
            |k, x, y| k.softmax(x, y),
        ),
        (
            "softmax_online_rows",
            |k, x, c, y| k.softmax_online_rows(x, c, y),
            |k, x, c| k.softmax_online_rows_inplace(x, c),
            |k, x, y| k.softmax_online(x, y),
        ),
        (
            "log_softmax_rows",
            |k, x, c, y| k.log_softmax_rows(x, c, y),
            |k, x, c| k.log_softmax_rows_inplace(x, c),
            |k, x, y| k.log_softmax(x, y),
        ),
    ];
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    for k in tiers() {
        for (name, rows, rows_inplace, row) in variants {
            for cols in (1usize..=17).chain([31, 128, 1000]) {
                // 16 and 37 rows: full groups of one row per lane and a partial group.
                for nrows in [0usize, 1, 2, 7, 16, 37] {
                    if cols * nrows > 20_000 {
                        continue;
                    }
                    let mut x = Rng::new((cols * 13 + nrows) as u64).vec(cols * nrows, -20.0, 20.0);
                    // Masks, ±∞, NaN, ±0 and far-apart entries in some rows (every 5th row
                    // stays plain), so the lanes of one group take every path side by side.
                    let specials = [
                        f32::NEG_INFINITY,
                        -1e9,
                        f32::INFINITY,
                        f32::NAN,
                        0.0,
                        -0.0,
                        -150.0,
                        88.0,
                    ];
                    for (i, v) in x.iter_mut().enumerate() {
                        if (i / cols) % 5 != 4 && (i * 7 + 3) % 11 == 0 {
                            *v = specials[(i / 11) % specials.len()];
                        }
                    }
                    let g = 19;
                    let mut buf = vec![-7.5f32; x.len() + 2 * g];
                    rows(&k, &x, cols, &mut buf[g..g + x.len()]);
                    assert!(
                        buf[..g]
                            .iter()
                            .chain(&buf[g + x.len()..])
                            .all(|&v| v == -7.5),
                        "{name}: wrote outside"
                    );
                    let y = &buf[g..g + x.len()];
                    for (i, (xr, yr)) in x.chunks(cols).zip(y.chunks(cols)).enumerate() {
                        let mut one = vec![0.0; cols];
                        row(&k, xr, &mut one);
                        assert_eq!(
                            hash(&one),
                            hash(yr),
                            "{name} on {}: row {i} of {cols} columns",
                            k.isa()
                        );
                    }
                    let mut z = x.clone();
                    rows_inplace(&k, &mut z, cols);
                    assert_eq!(hash(&z), hash(y), "{name} in place on {}", k.isa());
                    if k.isa().has_fma() {
                        let mut s = vec![0.0; x.len()];
                        rows(&scalar, &x, cols, &mut s);
                        assert_eq!(
                            hash(&s),
                            hash(y),
                            "{name} on {} differs from scalar ({cols} cols)",
                            k.isa()
                        );
                    }
                }
            }
            // Zero columns over an empty matrix is fine.
            rows(&k, &[], 0, &mut []);
        }
    }
}

#[test]
#[should_panic(expected = "do not split into rows of 3 columns")]
fn rows_that_do_not_divide_panic() {
    sigmo_kernels::softmax_rows(&[1.0; 7], 3, &mut [0.0; 7]);
}

#[test]
#[should_panic(expected = "0 columns")]
fn zero_columns_over_data_panics() {
    sigmo_kernels::softmax_rows(&[1.0; 2], 0, &mut [0.0; 2]);
}

#[test]
fn short_rows_take_a_register_path_with_the_general_paths_bits() {
    // Appending −∞ leaves max and sum unchanged (each adds an exact 0 to a virtual lane), so a
    // row of ≤ 16 elements (register path) and the same row padded past 16 (general path)
    // must agree to the bit on the original elements.
    for k in tiers() {
        for n in 1..=16usize {
            let x = Rng::new(n as u64).vec(n, -5.0, 5.0);
            let mut padded = x.clone();
            padded.extend(std::iter::repeat_n(f32::NEG_INFINITY, 17));
            let mut a = vec![0.0; n];
            let mut b = vec![0.0; padded.len()];
            k.softmax(&x, &mut a);
            k.softmax(&padded, &mut b);
            assert_eq!(hash(&a), hash(&b[..n]), "{} n = {n}", k.isa());
            assert!(b[n..].iter().all(|&v| v == 0.0));
        }
    }
}
