//! Maxout over rows of k pieces, and its backward pass.
//!
//! `x` is a row-major matrix with `k` columns (one row per output, the k pieces of one unit
//! side by side); `y[i]` is the largest of row i. The rows are transposed L at a time, so that
//! register `t` holds piece t of L consecutive rows and the comparisons run on full registers
//! at every tier: by [`Simd::load_columns`] for k ≤ 16 (a register transpose on AVX-512),
//! through the stack above. Every output is one of the inputs, bits unchanged (no
//! arithmetic), so every tier, SSE4.1 included, gives the same bits.
//!
//! **Ties and NaN.** The winner of a row is its first element that is larger (`>`) than every
//! element before it, so ties go to the first (`[-0.0, +0.0]` gives −0.0, piece 0). A NaN
//! wins over every number, and the first NaN over later ones: a row with a NaN gives its first
//! NaN, with its payload, as [`max`](crate::max) gives NaN for a slice with one. The backward
//! pass sends the gradient to the same winner.

use crate::reduce::VLANES;
use crate::simd::Simd;

/// Panics unless `x` holds `k` inputs per output.
#[inline(always)]
#[track_caller]
fn check_rows(x: usize, k: usize, y: usize) {
    assert!(
        k.checked_mul(y) == Some(x) && (k > 0 || y == 0),
        "sigmo-kernels: maxout of {x} inputs in rows of {k} cannot give {y} outputs"
    );
}

/// Register of piece `t` of the `n ≤ LANES` rows of `blk` (rows of `k`), padded with `fill`.
#[inline(always)]
fn piece<S: Simd>(s: S, blk: &[f32], t: usize, k: usize, n: usize, fill: f32) -> S::V {
    let mut buf = [fill; VLANES];
    for (j, b) in buf.iter_mut().take(n).enumerate() {
        *b = blk[j * k + t];
    }
    s.load(&buf[..S::LANES])
}

/// The winner so far `acc` against the next piece `v`: `v` when it is larger, or a NaN
/// meeting a number; `acc` otherwise (ties keep the first, a NaN in `acc` stays).
#[inline(always)]
fn takes<S: Simd>(s: S, acc: S::V, v: S::V) -> S::M {
    // NaN in acc: gt is false and is_nan(v) may be true, so mask it out by the select below.
    s.mask_or(s.gt(v, acc), s.is_nan(v))
}

/// The winner so far against piece `t` (`v`): the new (value, index).
#[inline(always)]
fn step<S: Simd, const IDX: bool>(s: S, acc: S::V, idx: S::V, v: S::V, t: usize) -> (S::V, S::V) {
    let m = takes(s, acc, v);
    // A NaN already won: it stays.
    let keep_nan = s.is_nan(acc);
    let new = s.select(m, v, acc);
    let acc2 = s.select(keep_nan, acc, new);
    let idx2 = if IDX {
        let ni = s.select(m, s.splat(t as f32), idx);
        s.select(keep_nan, idx, ni)
    } else {
        idx
    };
    (acc2, idx2)
}

/// The winning value of each of the `n` rows of `blk`, and (if `IDX`) its piece index as f32.
/// Rows of at most 16 pieces are turned into piece registers by [`Simd::load_columns`] (a
/// register transpose on AVX-512), longer ones piece by piece through the stack.
#[inline(always)]
fn winners<S: Simd, const IDX: bool>(s: S, blk: &[f32], k: usize, n: usize) -> (S::V, S::V) {
    let mut idx = s.splat(0.0);
    if k <= VLANES {
        let mut p = [s.splat(0.0); VLANES];
        s.load_columns(blk, k, n, &mut p);
        let mut acc = p[0];
        for (t, v) in p.iter().enumerate().take(k).skip(1) {
            (acc, idx) = step::<S, IDX>(s, acc, idx, *v, t);
        }
        return (acc, idx);
    }
    let mut acc = piece(s, blk, 0, k, n, 0.0);
    for t in 1..k {
        let v = piece(s, blk, t, k, n, 0.0);
        (acc, idx) = step::<S, IDX>(s, acc, idx, v, t);
    }
    (acc, idx)
}

/// y[i] ← max of row i of `x` (rows of `k`): see the module docs for ties and NaN. Panics
/// unless `x.len() = k·y.len()`.
#[inline(always)]
pub(crate) fn maxout_rows<S: Simd>(s: S, x: &[f32], k: usize, y: &mut [f32]) {
    check_rows(x.len(), k, y.len());
    if y.is_empty() {
        return;
    }
    let l = S::LANES;
    let mut out = y.chunks_mut(l);
    for (o, yb) in (&mut out).enumerate() {
        let n = yb.len();
        let blk = &x[o * l * k..(o * l + n) * k];
        let (acc, _) = winners::<S, false>(s, blk, k, n);
        if n == l {
            s.store(yb, acc);
        } else {
            s.store_partial(yb, acc);
        }
    }
}

/// The lanes whose winning piece index (as f32) is `t`. (A function, not a closure: see
/// `crate::drive`.)
#[inline(always)]
fn hit<S: Simd>(s: S, idx: S::V, t: usize) -> S::M {
    let tf = t as f32;
    s.mask_and(s.gt(idx, s.splat(tf - 0.5)), s.lt(idx, s.splat(tf + 0.5)))
}

/// dx ← the gradient of maxout: `dy[i]` at the winner of row i of `x` (the element the
/// forward pass returned), +0 at the other k − 1. Panics unless `x.len() = dx.len() =
/// k·dy.len()`, or when `k` is above 2²⁴.
#[inline(always)]
pub(crate) fn maxout_rows_backward<S: Simd>(s: S, x: &[f32], k: usize, dy: &[f32], dx: &mut [f32]) {
    check_rows(x.len(), k, dy.len());
    assert_eq!(
        x.len(),
        dx.len(),
        "sigmo-kernels: maxout backward: input has {} elements but its gradient {}",
        x.len(),
        dx.len()
    );
    // Piece indices travel as f32: exact up to 2²⁴.
    assert!(
        k <= 1 << 24,
        "sigmo-kernels: maxout backward takes at most 2^24 pieces per row, not {k}"
    );
    if dy.is_empty() {
        return;
    }
    let l = S::LANES;
    for (o, dyb) in dy.chunks(l).enumerate() {
        let n = dyb.len();
        let span = o * l * k..(o * l + n) * k;
        let (_, idx) = winners::<S, true>(s, &x[span.clone()], k, n);
        let g = if n == l {
            s.load(dyb)
        } else {
            s.load_partial(dyb, 0.0)
        };
        let dxb = &mut dx[span];
        let zero = s.splat(0.0);
        if k <= VLANES {
            let mut v = [zero; VLANES];
            for (t, vt) in v.iter_mut().enumerate().take(k) {
                *vt = s.select(hit(s, idx, t), g, zero);
            }
            s.store_columns(dxb, k, n, &v);
            continue;
        }
        for t in 0..k {
            let v = s.select(hit(s, idx, t), g, zero);
            let mut buf = [0.0f32; VLANES];
            s.store(&mut buf[..l], v);
            for (j, &b) in buf.iter().take(n).enumerate() {
                dxb[j * k + t] = b;
            }
        }
    }
}
