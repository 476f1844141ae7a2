//! Softmax and log-softmax of a row, numerically stable (the row max is subtracted first).
//!
//! * Three-pass (`softmax`): m = max x; yᵢ = e^(xᵢ−m) stored while a compensated sum S runs
//!   in 16 virtual lanes; yᵢ ← yᵢ·(1/S). Reads x twice, writes y twice.
//! * Two-pass (`softmax_online`, after Milakov & Gimelshein 2018, "Online normalizer calculation
//!   for softmax"): one pass finds m and S together, chunk by chunk (1024 elements, so each
//!   chunk is re-read from L1): a chunk's max c and Σ e^(x−c) are merged into the running
//!   (m, S) with the rescale e^(m−c) computed in f64, so rescaling adds no error however often
//!   the max grows. A second pass writes yᵢ = e^(xᵢ−m)·(1/S). Reads x twice, writes y once.
//! * `log_softmax` writes yᵢ = (xᵢ − m) − ln S. Rows longer than 16 use the same one-pass
//!   normalizer, with S and ln S in f64 (so that ln S stays accurate when S is within 2⁻²⁴ of
//!   1); rows of at most 16 elements carry S as two floats (an exactly split summation tree)
//!   and take ln S from them (`crate::log::ln_sum`), no f64 logarithm. Each yᵢ is within 2 ULP
//!   plus 2⁻²³ absolute (what ln S inherits from the f32 exponentials).
//! * Rows of a matrix with at most 16 columns run one row per lane ([`softmax_lanes`],
//!   [`log_softmax_lanes`]), with the bits of row-by-row calls.
//!
//! Accuracy: e^(xᵢ−m) is within 1 ULP of the exponential of the f32 difference xᵢ − m. That
//! difference is exact while xᵢ ≥ m/2 (Sterbenz), which covers rows of large, close values
//! such as XNNPACK's U[90, 100] and oneDNN's 88 + U[0, 0.9): every element is then within 1e-6
//! relative of the f64 softmax. For rows spread wider, the rounding of xᵢ − m adds up to
//! |xᵢ − m|·2⁻²⁴ relative error on that element (as in every f32 softmax).
//!
//! No subnormal arithmetic: an element with xᵢ − m < −104 (a mask: −∞, −1e9; the padding of a
//! short row) is an exact 0 by a select, never an exponential. An element whose e^(xᵢ−m) is
//! below 2⁻¹⁰² is *tiny*: it is left out of S (it is under 2⁻¹⁰² of S ≥ 1), which keeps every
//! partial sum and compensation a multiple of 2⁻¹²⁶, so never subnormal; its output
//! e^(xᵢ−m)·(1/S) is formed as (eʳ·(1/S))·2ⁿ by `crate::exp::scale_tiny`, with the bits of
//! the normal path wherever the output is normal and correctly rounded subnormals below.
//! The three-pass variant stores xᵢ − m (negative) in place of a tiny element's exponential,
//! for its last pass to finish. The rescale e^(m−c) of the online normalizer is taken as 0
//! below e⁻⁷⁰⁰, where it could not change S (≥ 1) and f64 `exp` would start to underflow.
//!
//! Edge rows (every variant): an empty row is left empty; a row of length 1 gives [1] (log:
//! [0]) for a finite input; a row of all −∞ gives all NaN (0/0: there is no distribution to
//! return, as in PyTorch and JAX); a row containing +∞ or NaN gives all NaN.

use crate::drive::{map, map_inplace};
use crate::exp::{exp_parts, scale_tiny, CLAMP_LO};
use crate::log::ln_sum;
use crate::reduce::{block_reg, fold_max, for_blocks, max, store_block, Kahan, VLANES};
use crate::simd::Simd;

/// Elements per chunk of the one-pass normalizer.
const CHUNK: usize = 1024;

/// Below this, the f64 rescale e^d of the online normalizer is taken as 0.
const RESCALE_MIN: f64 = -700.0;

/// The smallest n (e^(x−m) = eʳ·2ⁿ) of an element that is not tiny in a row of `len`: its
/// exponential is at least 2⁻¹⁰², and its output stays normal however large S ≤ len gets.
fn n_min(len: usize) -> f32 {
    let k = usize::BITS - len.saturating_sub(1).leading_zeros();
    (k as f32 - 125.0).max(-102.0)
}

/// (n, eʳ) with e^(x − m) = eʳ·2ⁿ for m ≥ x (or NaN), and the lanes with x − m < −104 (whose
/// exponential rounds to +0: *dead*), which compute on 0 instead.
#[inline(always)]
fn parts_shifted<S: Simd>(s: S, x: S::V, m: S::V) -> (S::V, S::V, S::M) {
    let d = s.sub(x, m);
    let dead = s.lt(d, s.splat(CLAMP_LO));
    let (n, e) = exp_parts(s, s.select(dead, s.splat(0.0), d));
    (n, e, dead)
}

/// For the sum and the three-pass store: `(stored, term)`, where `term` is e^(x − m), or 0 for
/// a dead or tiny element (n < `nmin`), and `stored` is `term`, or x − m (< 0) for a tiny one.
#[inline(always)]
fn exp_term<S: Simd>(s: S, x: S::V, m: S::V, nmin: S::V) -> (S::V, S::V) {
    let (n, e, dead) = parts_shifted(s, x, m);
    let zero = s.splat(0.0);
    // n clamped to `nmin`: normal in every lane (see `crate::exp::scale`).
    let t = s.select(dead, zero, s.pow2_scale(e, s.max(n, nmin)));
    let tiny = s.lt(n, nmin);
    if !s.any(tiny) {
        return (t, t);
    }
    let t = s.select(tiny, zero, t);
    (s.select(tiny, s.sub(x, m), t), t)
}

/// e^d·inv for d = x − m of a tiny element, n < `nmin`: (eʳ·inv)·2ⁿ, rounded once from eʳ·inv.
#[inline(always)]
fn tiny_out<S: Simd>(s: S, n: S::V, e: S::V, inv: S::V) -> S::V {
    scale_tiny(s, s.mul(e, inv), n)
}

/// The last pass of the three-pass softmax: yᵢ·inv, or e^(yᵢ)·inv where `exp_term` stored
/// xᵢ − m (negative) for a tiny element.
#[inline(always)]
fn finish_stored<S: Simd>(s: S, v: S::V, inv: S::V) -> S::V {
    // Stored x − m ≥ −104 times inv is normal: safe in every lane.
    let y = s.mul(v, inv);
    let tiny = s.lt(v, s.splat(0.0));
    if !s.any(tiny) {
        return y;
    }
    let (n, e) = exp_parts(s, s.select(tiny, v, s.splat(0.0)));
    s.select(tiny, tiny_out(s, n, e, inv), y)
}

/// e^(x − m)·inv for m ≥ x (or NaN), as the online variants write it.
#[inline(always)]
fn exp_scaled<S: Simd>(s: S, x: S::V, m: S::V, inv: S::V, nmin: S::V) -> S::V {
    let (n, e, dead) = parts_shifted(s, x, m);
    // A dead lane is 0·inv: NaN when the row's S is (a +∞ in the row).
    let e2 = s.select(dead, s.splat(0.0), s.pow2_scale(e, s.max(n, nmin)));
    let big = s.mul(e2, inv);
    let tiny = s.lt(n, nmin);
    if s.any(tiny) {
        s.select(tiny, tiny_out(s, n, e, inv), big)
    } else {
        big
    }
}

/// Writes yᵢ = e^(xᵢ − m) (reading from `x`, or from `y` itself when `x` is `None`) and
/// returns Σ yᵢ, compensated, in 16 virtual lanes.
#[inline(always)]
fn exp_store_sum<S: Simd>(s: S, x: Option<&[f32]>, y: &mut [f32], m: f32) -> f32 {
    let l = S::LANES;
    let vm = s.splat(m);
    let nmin = s.splat(n_min(y.len()));
    let mut k = Kahan::new(s, 0.0);
    let n = y.len();
    let full = n - n % VLANES;
    let mut i = 0;
    while i < full {
        for j in 0..VLANES / l {
            let o = i + j * l;
            let v = match x {
                Some(x) => s.load(&x[o..]),
                None => s.load(&y[o..]),
            };
            let (st, e) = exp_term(s, v, vm, nmin);
            s.store(&mut y[o..], st);
            k.add(s, j, e);
        }
        i += VLANES;
    }
    if full < n {
        for j in 0..VLANES / l {
            let v = match x {
                Some(x) => block_reg(s, &x[full..], j, f32::NEG_INFINITY),
                None => block_reg(s, &y[full..], j, f32::NEG_INFINITY),
            };
            let (st, e) = exp_term(s, v, vm, nmin);
            store_block(s, &mut y[full..], j, st);
            k.add(s, j, e);
        }
    }
    k.total(s)
}

/// Σ e^(xᵢ − c) (tiny elements left out, as `exp_term` does), compensated and folded in f64,
/// nothing stored.
#[inline(always)]
fn exp_sum<S: Simd>(s: S, x: &[f32], c: f32, nmin: f32) -> f64 {
    let (vc, nmin) = (s.splat(c), s.splat(nmin));
    let mut k = Kahan::new(s, 0.0);
    for_blocks!(s, x, f32::NEG_INFINITY, |j, v| k.add(
        s,
        j,
        exp_term(s, v, vc, nmin).1
    ));
    k.total_f64(s)
}

/// e^d in f64 for the online normalizer's rescale, 0 below e^RESCALE_MIN.
fn rescale(d: f64) -> f64 {
    if d < RESCALE_MIN {
        0.0
    } else {
        d.exp()
    }
}

/// The row max m and S = Σ e^(xᵢ − m) in one pass over `x` (chunked online normalizer).
#[inline(always)]
pub(crate) fn max_and_sum<S: Simd>(s: S, x: &[f32]) -> (f32, f64) {
    let mut m = f32::NEG_INFINITY;
    let mut total = 0.0f64;
    let nmin = n_min(x.len());
    for chunk in x.chunks(CHUNK) {
        let c = max(s, chunk);
        if c.is_nan() {
            return (f32::NAN, f64::NAN);
        }
        if c == f32::NEG_INFINITY {
            continue; // contributes e^(−∞) = 0
        }
        let sc = exp_sum(s, chunk, c, nmin);
        if c > m {
            total = total * rescale(f64::from(m) - f64::from(c)) + sc;
            m = c;
        } else {
            total += sc * rescale(f64::from(c) - f64::from(m));
        }
    }
    (m, total)
}

fn check_lengths(x: usize, y: usize) {
    assert_eq!(
        x, y,
        "sigmo-kernels: softmax input has {x} elements but output has {y}"
    );
}

/// Softmax of a row of at most 16 elements (one block of the virtual lanes), loaded once and
/// kept in registers. It performs the very operations of the general three-pass path (one
/// element per virtual lane), so it returns the same bits; it only skips the reloads and loops.
#[inline(always)]
fn softmax_block<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    let nreg = VLANES / S::LANES;
    let ninf = f32::NEG_INFINITY;
    let mut v = [s.splat(ninf); VLANES];
    let mut acc = [s.splat(ninf); VLANES];
    let mut nan = s.is_nan(s.splat(0.0));
    for (j, (vj, aj)) in v.iter_mut().zip(acc.iter_mut()).take(nreg).enumerate() {
        *vj = block_reg(s, x, j, ninf);
        nan = s.mask_or(nan, s.is_nan(*vj));
        *aj = s.max(*vj, *aj);
    }
    let m = if s.any(nan) {
        f32::NAN
    } else {
        fold_max(s, &mut acc)
    };
    let vm = s.splat(m);
    let nmin = s.splat(n_min(x.len()));
    let mut k = Kahan::new(s, 0.0);
    for (j, vj) in v.iter_mut().take(nreg).enumerate() {
        let (st, e) = exp_term(s, *vj, vm, nmin);
        *vj = st;
        k.add(s, j, e);
    }
    let inv = s.splat(1.0 / k.total(s));
    for (j, e) in v.iter().enumerate().take(nreg) {
        store_block(s, y, j, finish_stored(s, *e, inv));
    }
}

/// The column registers of a group of short rows ([`Simd::load_columns`]) and each row's max,
/// NaN where the row holds one. The max is exact whatever the order (±0 aside, which changes
/// no output).
#[inline(always)]
fn columns_and_max<S: Simd>(s: S, x: &[f32], cols: usize, rows: usize) -> ([S::V; VLANES], S::V) {
    let mut v = [s.splat(0.0); VLANES];
    s.load_columns(x, cols, rows, &mut v);
    let mut m = s.splat(f32::NEG_INFINITY);
    let mut nan = s.is_nan(s.splat(0.0));
    for vc in v.iter().take(cols) {
        nan = s.mask_or(nan, s.is_nan(*vc));
        m = s.max(*vc, m);
    }
    (v, s.select(nan, s.splat(f32::NAN), m))
}

/// Softmax of `rows ≤ LANES` rows of `cols ≤ 16` columns at once, one row per lane (row `r`
/// at `x[r·cols..]`), read into column registers and written back through register transposes (AVX-512). Each
/// lane performs the very operations of [`softmax_block`] on its row, in the same order (the
/// sum by the same fixed tree over its 16 virtual lanes), so the bits are the same as row by
/// row on every tier; only the reductions across lanes and the per-row overhead are gone.
/// Unused lanes compute on zeros.
#[inline(always)]
fn softmax_lanes<S: Simd>(s: S, x: &[f32], y: &mut [f32], cols: usize, rows: usize) {
    let zero = s.splat(0.0);
    let (mut v, m) = columns_and_max(s, x, cols, rows);
    let nmin = s.splat(n_min(cols));
    // Column c ≥ cols is a padding lane of the row: an exponential of exactly 0.
    let mut e = [zero; VLANES];
    for (vc, ec) in v.iter_mut().zip(e.iter_mut()).take(cols) {
        let (st, t) = exp_term(s, *vc, m, nmin);
        *vc = st;
        *ec = t;
    }
    let mut n = VLANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            e[i] = s.add(e[i], e[i + n]);
        }
    }
    let inv = s.div(s.splat(1.0), e[0]);
    for vc in v.iter_mut().take(cols) {
        *vc = finish_stored(s, *vc, inv);
    }
    s.store_columns(y, cols, rows, &v);
}

/// One group of at most `LANES` short rows: [`log_softmax_lanes`] if `LOG`, else
/// [`softmax_lanes`]. (A constant, not a function pointer: the callee must inline into the
/// tier's instantiation, see `crate::drive`.)
#[inline(always)]
fn lanes_of<S: Simd, const LOG: bool>(s: S, x: &[f32], y: &mut [f32], cols: usize) {
    if LOG {
        log_softmax_lanes(s, x, y, cols, x.len() / cols)
    } else {
        softmax_lanes(s, x, y, cols, x.len() / cols)
    }
}

/// (Log-)softmax of every row of `cols ≤ 16` columns, `LANES` rows at a time.
#[inline(always)]
fn short_rows<S: Simd, const LOG: bool>(s: S, x: &[f32], y: &mut [f32], cols: usize) {
    let step = S::LANES * cols;
    for (a, b) in x.chunks(step).zip(y.chunks_mut(step)) {
        lanes_of::<S, LOG>(s, a, b, cols);
    }
}

/// [`short_rows`] in place, through a copy of each group of rows.
#[inline(always)]
fn short_rows_inplace<S: Simd, const LOG: bool>(s: S, x: &mut [f32], cols: usize) {
    let step = S::LANES * cols;
    let mut copy = [0.0f32; 16 * VLANES];
    for a in x.chunks_mut(step) {
        let c = &mut copy[..a.len()];
        c.copy_from_slice(a);
        lanes_of::<S, LOG>(s, c, a, cols);
    }
}

/// Three-pass softmax of one row.
#[inline(always)]
pub(crate) fn softmax<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    check_lengths(x.len(), y.len());
    if x.is_empty() {
        return;
    }
    if x.len() <= VLANES {
        return softmax_block(s, x, y);
    }
    let m = max(s, x);
    let total = exp_store_sum(s, Some(x), y, m);
    let inv = s.splat(1.0 / total);
    map_inplace!(s, y, |v| finish_stored(s, v, inv));
}

#[inline(always)]
pub(crate) fn softmax_inplace<S: Simd>(s: S, x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    if x.len() <= VLANES {
        let mut row = [0.0f32; VLANES];
        row[..x.len()].copy_from_slice(x);
        return softmax_block(s, &row[..x.len()], x);
    }
    let m = max(s, x);
    let total = exp_store_sum(s, None, x, m);
    let inv = s.splat(1.0 / total);
    map_inplace!(s, x, |v| finish_stored(s, v, inv));
}

/// 1/S rounded once from the f64 normalizer.
#[inline(always)]
fn inv_total(total: f64) -> f32 {
    (1.0 / total) as f32
}

/// Two-pass (online-normalizer) softmax of one row.
#[inline(always)]
pub(crate) fn softmax_online<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    check_lengths(x.len(), y.len());
    let (m, total) = max_and_sum(s, x);
    let (vm, inv) = (s.splat(m), s.splat(inv_total(total)));
    let nmin = s.splat(n_min(x.len()));
    map!(s, x, y, |v| exp_scaled(s, v, vm, inv, nmin));
}

#[inline(always)]
pub(crate) fn softmax_online_inplace<S: Simd>(s: S, x: &mut [f32]) {
    let (m, total) = max_and_sum(s, x);
    let (vm, inv) = (s.splat(m), s.splat(inv_total(total)));
    let nmin = s.splat(n_min(x.len()));
    map_inplace!(s, x, |v| exp_scaled(s, v, vm, inv, nmin));
}

/// Log-softmax of `rows ≤ LANES` rows of `cols ≤ 16` columns at once, one row per lane (as
/// [`softmax_lanes`]): m and the exponentials as everywhere, S = Σ e^(xᵢ − m) by the fixed tree
/// over 16 virtual lanes with every addition split exactly (TwoSum: S as a head and a tail),
/// ln S by [`ln_sum`], yᵢ = (xᵢ − m) − ln S. Every tier runs rows this short this way (one
/// row per call on the one-row API), so the bits do not depend on how rows are grouped.
#[inline(always)]
fn log_softmax_lanes<S: Simd>(s: S, x: &[f32], y: &mut [f32], cols: usize, rows: usize) {
    let zero = s.splat(0.0);
    let (mut v, m) = columns_and_max(s, x, cols, rows);
    let nmin = s.splat(n_min(cols));
    let mut hi = [zero; VLANES];
    let mut lo = [zero; VLANES];
    for (vc, h) in v.iter().zip(hi.iter_mut()).take(cols) {
        *h = exp_term(s, *vc, m, nmin).1;
    }
    // Lanes at or past `live` hold exact zeros: adding them changes nothing, so they are skipped.
    let (mut n, mut live) = (VLANES, cols);
    while n > 1 {
        n /= 2;
        for i in 0..n {
            if i + n < live {
                let (a, b) = (hi[i], hi[i + n]);
                let t = s.add(a, b);
                let bb = s.sub(t, a);
                let err = s.add(s.sub(a, s.sub(t, bb)), s.sub(b, bb));
                hi[i] = t;
                lo[i] = s.add(s.add(lo[i], lo[i + n]), err);
            }
        }
        live = live.min(n);
    }
    let lse = ln_sum(s, hi[0], lo[0]);
    for vc in v.iter_mut().take(cols) {
        *vc = s.sub(s.sub(*vc, m), lse);
    }
    s.store_columns(y, cols, rows, &v);
}

/// yᵢ = (xᵢ − m) − ln S: rows of at most 16 elements by [`log_softmax_lanes`], longer ones by
/// the one-pass normalizer with S and ln S in f64.
#[inline(always)]
pub(crate) fn log_softmax<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    check_lengths(x.len(), y.len());
    if x.is_empty() {
        return;
    }
    if x.len() <= VLANES {
        return log_softmax_lanes(s, x, y, x.len(), 1);
    }
    let (m, total) = max_and_sum(s, x);
    let (vm, lse) = (s.splat(m), s.splat(total.ln() as f32));
    map!(s, x, y, |v| s.sub(s.sub(v, vm), lse));
}

#[inline(always)]
pub(crate) fn log_softmax_inplace<S: Simd>(s: S, x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    if x.len() <= VLANES {
        let mut row = [0.0f32; VLANES];
        row[..x.len()].copy_from_slice(x);
        return log_softmax_lanes(s, &row[..x.len()], x, x.len(), 1);
    }
    let (m, total) = max_and_sum(s, x);
    let (vm, lse) = (s.splat(m), s.splat(total.ln() as f32));
    map_inplace!(s, x, |v| s.sub(s.sub(v, vm), lse));
}

/// Checks a row-major matrix shape and returns the number of rows.
fn rows_of(len: usize, cols: usize) -> usize {
    if cols == 0 {
        assert!(
            len == 0,
            "sigmo-kernels: softmax rows of 0 columns over {len} elements"
        );
        return 0;
    }
    assert!(
        len.is_multiple_of(cols),
        "sigmo-kernels: {len} elements do not split into rows of {cols} columns"
    );
    len / cols
}

macro_rules! rows {
    ($rows:ident, $rows_inplace:ident, $row:ident, $row_inplace:ident) => {
        #[inline(always)]
        pub(crate) fn $rows<S: Simd>(s: S, x: &[f32], cols: usize, y: &mut [f32]) {
            check_lengths(x.len(), y.len());
            if rows_of(x.len(), cols) == 0 {
                return;
            }
            for (a, b) in x.chunks_exact(cols).zip(y.chunks_exact_mut(cols)) {
                $row(s, a, b);
            }
        }
        #[inline(always)]
        pub(crate) fn $rows_inplace<S: Simd>(s: S, x: &mut [f32], cols: usize) {
            if rows_of(x.len(), cols) == 0 {
                return;
            }
            for a in x.chunks_exact_mut(cols) {
                $row_inplace(s, a);
            }
        }
    };
}

rows!(
    softmax_rows_each,
    softmax_rows_each_inplace,
    softmax,
    softmax_inplace
);

/// Softmax of every row: rows of at most 16 columns one per lane where the tier gathers
/// (the same bits), the others row by row.
#[inline(always)]
pub(crate) fn softmax_rows<S: Simd>(s: S, x: &[f32], cols: usize, y: &mut [f32]) {
    check_lengths(x.len(), y.len());
    if S::COLUMNS && (2..=VLANES).contains(&cols) && rows_of(x.len(), cols) > 1 {
        return short_rows::<S, false>(s, x, y, cols);
    }
    softmax_rows_each(s, x, cols, y)
}

#[inline(always)]
pub(crate) fn softmax_rows_inplace<S: Simd>(s: S, x: &mut [f32], cols: usize) {
    if S::COLUMNS && (2..=VLANES).contains(&cols) && rows_of(x.len(), cols) > 1 {
        return short_rows_inplace::<S, false>(s, x, cols);
    }
    softmax_rows_each_inplace(s, x, cols)
}
rows!(
    softmax_online_rows,
    softmax_online_rows_inplace,
    softmax_online,
    softmax_online_inplace
);
rows!(
    log_softmax_rows_each,
    log_softmax_rows_each_inplace,
    log_softmax,
    log_softmax_inplace
);

/// Log-softmax of every row: rows of at most 16 columns `LANES` at a time (the bits of
/// row-by-row calls), the others row by row.
#[inline(always)]
pub(crate) fn log_softmax_rows<S: Simd>(s: S, x: &[f32], cols: usize, y: &mut [f32]) {
    check_lengths(x.len(), y.len());
    if (1..=VLANES).contains(&cols) && rows_of(x.len(), cols) > 0 {
        return short_rows::<S, true>(s, x, y, cols);
    }
    log_softmax_rows_each(s, x, cols, y)
}

#[inline(always)]
pub(crate) fn log_softmax_rows_inplace<S: Simd>(s: S, x: &mut [f32], cols: usize) {
    if (1..=VLANES).contains(&cols) && rows_of(x.len(), cols) > 0 {
        return short_rows_inplace::<S, true>(s, x, cols);
    }
    log_softmax_rows_each_inplace(s, x, cols)
}
