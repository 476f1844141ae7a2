//! Maxout and dropout × every tier: every row count 0..=3·max(lanes, 16)+1 and larger, pieces
//! k from 1 to 17, unaligned inputs and outputs with guard cells, special values (NaN of both
//! signs and payloads, ±0, ±∞) placed at every piece, against a plain scalar reference bit for
//! bit, and every tier against Scalar bit for bit.

mod common;

use common::*;
use sigmo_kernels::{Isa, Kernels};

/// The reference maxout of one row: the first element larger than all before it; a NaN beats
/// every number and the first NaN every later one. Returns (value, index).
fn row_max(row: &[f32]) -> (f32, usize) {
    let mut best = 0;
    for (t, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        if !b.is_nan() && (v > b || v.is_nan()) {
            best = t;
        }
    }
    (row[best], best)
}

const PIECES: [usize; 9] = [1, 2, 3, 4, 5, 7, 8, 16, 17];

/// Rows of `k` with ties, signed zeros, infinities and NaNs mixed in.
fn rows_of(n: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    let sp = specials();
    let mut v: Vec<f32> = Vec::with_capacity(n * k);
    for i in 0..n * k {
        let x = match r.next_u64() % 8 {
            0 => sp[(r.next_u64() as usize) % sp.len()],
            // A tie with the element before it in the row.
            1 | 2 if i % k > 0 => v[i - 1],
            _ => r.uniform(-4.0, 4.0),
        };
        v.push(x);
    }
    v
}

#[test]
fn maxout_every_tier_row_count_piece_count_and_offset() {
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    let mut checked = 0usize;
    for k in tiers() {
        let l = k.isa().lanes();
        for &pieces in &PIECES {
            for n in lengths(l) {
                let off = n % l.max(2);
                let data = rows_of(n + l.max(2), pieces, (n * 131 + pieces) as u64);
                let x = &data[off..off + n * pieces];
                let y = guarded(n, (off * 3) % l.max(1), k.isa().name(), |y| {
                    k.maxout_rows(x, pieces, y)
                });
                let want_y: Vec<f32> = x.chunks(pieces).map(|r| row_max(r).0).collect();
                assert_eq!(
                    hash(&y),
                    hash(&want_y),
                    "maxout k={pieces} n={n} on {}",
                    k.isa()
                );
                let mut sy = vec![0.0; n];
                scalar.maxout_rows(x, pieces, &mut sy);
                assert_eq!(
                    hash(&y),
                    hash(&sy),
                    "{} vs scalar, k={pieces} n={n}",
                    k.isa()
                );

                let dy = Rng::new(n as u64 + 3).vec(n, -2.0, 2.0);
                let dx = guarded(n * pieces, off, k.isa().name(), |dx| {
                    k.maxout_rows_backward(x, pieces, &dy, dx)
                });
                let mut want_dx = vec![0.0f32; n * pieces];
                for (i, r) in x.chunks(pieces).enumerate() {
                    want_dx[i * pieces + row_max(r).1] = dy[i];
                }
                assert_eq!(
                    hash(&dx),
                    hash(&want_dx),
                    "maxout backward k={pieces} n={n} on {}",
                    k.isa()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= PIECES.len() * 50);
}

#[test]
fn maxout_ties_go_to_the_first_and_nan_wins() {
    let qnan = f32::from_bits(0x7fc0_1234);
    let snan = f32::from_bits(0xff80_0001);
    // (row, winner index)
    let cases: Vec<(Vec<f32>, usize)> = vec![
        (vec![-0.0, 0.0], 0),
        (vec![0.0, -0.0], 0),
        (vec![1.0, 1.0, 1.0], 0),
        (vec![1.0, 2.0, 2.0], 1),
        (vec![f32::NEG_INFINITY, f32::NEG_INFINITY], 0),
        (vec![3.0, f32::INFINITY, f32::INFINITY], 1),
        (vec![1.0, qnan, 5.0], 1),
        (vec![qnan, snan], 0),
        (vec![7.0, 9.0, snan, qnan], 2),
        (vec![f32::INFINITY, -qnan], 1),
    ];
    for k in tiers() {
        for (row, win) in &cases {
            let p = row.len();
            // Put the row at every position of a block of rows, so every lane meets it.
            for lane in 0..k.isa().lanes().max(2) + 1 {
                let rows = lane + 2;
                let mut x: Vec<f32> = (0..rows * p).map(|i| i as f32).collect();
                x[lane * p..(lane + 1) * p].copy_from_slice(row);
                let mut y = vec![0.0; rows];
                k.maxout_rows(&x, p, &mut y);
                assert_eq!(
                    y[lane].to_bits(),
                    row[*win].to_bits(),
                    "{row:?} on {}: got {}",
                    k.isa(),
                    y[lane]
                );
                let dy: Vec<f32> = (0..rows).map(|i| 10.0 + i as f32).collect();
                let mut dx = vec![f32::NAN; rows * p];
                k.maxout_rows_backward(&x, p, &dy, &mut dx);
                for t in 0..p {
                    let want = if t == *win { dy[lane] } else { 0.0 };
                    assert_eq!(
                        dx[lane * p + t].to_bits(),
                        want.to_bits(),
                        "{row:?} piece {t}"
                    );
                }
            }
        }
    }
}

#[test]
fn maxout_of_empty_input_and_k_zero_is_empty() {
    for k in tiers() {
        k.maxout_rows(&[], 0, &mut []);
        k.maxout_rows(&[], 3, &mut []);
        k.maxout_rows_backward(&[], 0, &[], &mut []);
        let mut y = [5.0f32];
        k.maxout_rows(&[2.0], 1, &mut y);
        assert_eq!(y, [2.0]);
    }
}

#[test]
#[should_panic(expected = "maxout of 5 inputs in rows of 2 cannot give 2 outputs")]
fn maxout_panics_when_rows_do_not_fit() {
    sigmo_kernels::maxout_rows(&[1.0; 5], 2, &mut [0.0; 2]);
}

#[test]
#[should_panic(expected = "in rows of 0")]
fn maxout_panics_on_k_zero_with_outputs() {
    sigmo_kernels::maxout_rows(&[], 0, &mut [0.0; 2]);
}

#[test]
#[should_panic(expected = "its gradient")]
fn maxout_backward_panics_when_dx_does_not_fit() {
    sigmo_kernels::maxout_rows_backward(&[1.0; 4], 2, &[1.0; 2], &mut [0.0; 3]);
}

/// A mask as sigmo's trainer makes it: 0 or 1/(1 − p).
fn mask(n: usize, p: f32, seed: u64) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| if r.uniform(0.0, 1.0) < p { 0.0 } else { scale })
        .collect()
}

#[test]
fn dropout_every_tier_length_and_offset_is_the_product_bit_for_bit() {
    let scalar = Kernels::new(Isa::Scalar).unwrap();
    for k in tiers() {
        let l = k.isa().lanes();
        for n in lengths(l) {
            for off in [0, 1, l.saturating_sub(1)] {
                let data = mixed(n + off, n as u64 * 7 + off as u64);
                let x = &data[off..];
                let m = mask(n, 0.3, n as u64);
                let want: Vec<f32> = x.iter().zip(&m).map(|(a, b)| a * b).collect();
                let y = guarded(n, (off + 1) % l.max(1), k.isa().name(), |y| {
                    k.dropout(x, &m, y)
                });
                assert!(
                    y.iter().zip(&want).all(|(a, b)| same_bits(*a, *b)),
                    "dropout on {} (len {n})",
                    k.isa()
                );
                let mut sy = vec![0.0; n];
                scalar.dropout(x, &m, &mut sy);
                assert!(y.iter().zip(&sy).all(|(a, b)| same_bits(*a, *b)));
                let mut z = data.clone();
                k.dropout_inplace(&mut z[off..], &m);
                assert_eq!(hash(&z[off..]), hash(&y), "in place on {}", k.isa());

                let dy = Rng::new(n as u64).vec(n, -3.0, 3.0);
                let dx = guarded(n, off, k.isa().name(), |dx| k.dropout_backward(&m, &dy, dx));
                let want: Vec<f32> = dy.iter().zip(&m).map(|(a, b)| a * b).collect();
                assert_eq!(hash(&dx), hash(&want), "backward on {} (len {n})", k.isa());
                let mut g = dy.clone();
                k.dropout_backward_inplace(&m, &mut g);
                assert_eq!(hash(&g), hash(&dx));
                // Dropped units have no gradient; kept ones are scaled by 1/(1 − p).
                for i in 0..n {
                    if m[i] == 0.0 {
                        assert_eq!(dx[i], 0.0);
                    } else {
                        assert_eq!(dx[i], dy[i] * (1.0 / 0.7f32));
                    }
                }
            }
        }
    }
}

#[test]
fn dropout_never_hides_a_non_finite_value() {
    for k in tiers() {
        let x = [f32::INFINITY, f32::NAN, -f32::INFINITY, 2.0];
        let m = [0.0, 0.0, 2.0, 0.0];
        let mut y = [0.0; 4];
        k.dropout(&x, &m, &mut y);
        assert!(y[0].is_nan() && y[1].is_nan(), "{y:?}");
        assert_eq!(y[2], f32::NEG_INFINITY);
        assert_eq!(y[3], 0.0);
    }
}

#[test]
#[should_panic(expected = "elements")]
fn dropout_panics_when_the_mask_does_not_fit() {
    sigmo_kernels::dropout(&[1.0; 3], &[1.0; 2], &mut [0.0; 3]);
}
