//! Softmax and log-softmax of a row, numerically stable (the row max is subtracted first).
//!
//! * Three-pass (`softmax`): m = max x; yᵢ = e^(xᵢ−m) stored while a compensated sum S runs
//!   in 16 virtual lanes; yᵢ ← yᵢ·(1/S). Reads x twice, writes y twice.
//! * Two-pass (`softmax_online`, after Milakov & Gimelshein 2018, "Online normalizer calculation
//!   for softmax"): one pass finds m and S together, chunk by chunk (1024 elements, so each
//!   chunk is re-read from L1): a chunk's max c and Σ e^(x−c) are merged into the running
//!   (m, S) with the rescale e^(m−c) computed in f64, so rescaling adds no error however often
//!   the max grows. A second pass writes yᵢ = e^(xᵢ−m)·(1/S). Reads x twice, writes y once.
//! * `log_softmax` uses the same one-pass normalizer and writes yᵢ = (xᵢ − m) − ln S, with
//!   S and ln S in f64 (so that ln S stays accurate when S is within 2⁻²⁴ of 1); each yᵢ is
//!   within 2 ULP plus 2⁻²³ absolute (what ln S inherits from the f32 exponentials).
//!
//! Accuracy: e^(xᵢ−m) is within 1 ULP of the exponential of the f32 difference xᵢ − m. That
//! difference is exact while xᵢ ≥ m/2 (Sterbenz), which covers rows of large, close values
//! such as XNNPACK's U[90, 100] and oneDNN's 88 + U[0, 0.9): every element is then within 1e-6
//! relative of the f64 softmax. For rows spread wider, the rounding of xᵢ − m adds up to
//! |xᵢ − m|·2⁻²⁴ relative error on that element (as in every f32 softmax).
//!
//! Edge rows (every variant): an empty row is left empty; a row of length 1 gives [1] (log:
//! [0]) for a finite input; a row of all −∞ gives all NaN (0/0: there is no distribution to
//! return, as in PyTorch and JAX); a row containing +∞ or NaN gives all NaN.

use crate::drive::{map, map_inplace};
use crate::exp::{exp_core, CLAMP_LO};
use crate::reduce::{block_reg, fold_max, for_blocks, max, store_block, Kahan, VLANES};
use crate::simd::Simd;

/// Elements per chunk of the one-pass normalizer.
const CHUNK: usize = 1024;

/// e^(x − m) for m ≥ x (or NaN).
#[inline(always)]
fn exp_shifted<S: Simd>(s: S, x: S::V, m: S::V) -> S::V {
    exp_core(s, s.max(s.splat(CLAMP_LO), s.sub(x, m)))
}

/// Writes yᵢ = e^(xᵢ − m) (reading from `x`, or from `y` itself when `x` is `None`) and
/// returns Σ yᵢ, compensated, in 16 virtual lanes.
#[inline(always)]
fn exp_store_sum<S: Simd>(s: S, x: Option<&[f32]>, y: &mut [f32], m: f32) -> f32 {
    let l = S::LANES;
    let vm = s.splat(m);
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
            let e = exp_shifted(s, v, vm);
            s.store(&mut y[o..], e);
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
            let e = exp_shifted(s, v, vm);
            store_block(s, &mut y[full..], j, e);
            k.add(s, j, e);
        }
    }
    k.total(s)
}

/// Σ e^(xᵢ − c), compensated and folded in f64, nothing stored.
#[inline(always)]
fn exp_sum<S: Simd>(s: S, x: &[f32], c: f32) -> f64 {
    let vc = s.splat(c);
    let mut k = Kahan::new(s, 0.0);
    for_blocks!(s, x, f32::NEG_INFINITY, |j, v| k.add(
        s,
        j,
        exp_shifted(s, v, vc)
    ));
    k.total_f64(s)
}

/// The row max m and S = Σ e^(xᵢ − m) in one pass over `x` (chunked online normalizer).
#[inline(always)]
pub(crate) fn max_and_sum<S: Simd>(s: S, x: &[f32]) -> (f32, f64) {
    let mut m = f32::NEG_INFINITY;
    let mut total = 0.0f64;
    for chunk in x.chunks(CHUNK) {
        let c = max(s, chunk);
        if c.is_nan() {
            return (f32::NAN, f64::NAN);
        }
        if c == f32::NEG_INFINITY {
            continue; // contributes e^(−∞) = 0
        }
        let sc = exp_sum(s, chunk, c);
        if c > m {
            total = total * (f64::from(m) - f64::from(c)).exp() + sc;
            m = c;
        } else {
            total += sc * (f64::from(c) - f64::from(m)).exp();
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
    let mut k = Kahan::new(s, 0.0);
    for (j, vj) in v.iter_mut().take(nreg).enumerate() {
        *vj = exp_shifted(s, *vj, vm);
        k.add(s, j, *vj);
    }
    let inv = s.splat(1.0 / k.total(s));
    for (j, e) in v.iter().enumerate().take(nreg) {
        store_block(s, y, j, s.mul(*e, inv));
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
    map_inplace!(s, y, |v| s.mul(v, inv));
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
    map_inplace!(s, x, |v| s.mul(v, inv));
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
    map!(s, x, y, |v| s.mul(exp_shifted(s, v, vm), inv));
}

#[inline(always)]
pub(crate) fn softmax_online_inplace<S: Simd>(s: S, x: &mut [f32]) {
    let (m, total) = max_and_sum(s, x);
    let (vm, inv) = (s.splat(m), s.splat(inv_total(total)));
    map_inplace!(s, x, |v| s.mul(exp_shifted(s, v, vm), inv));
}

/// yᵢ = (xᵢ − m) − ln S.
#[inline(always)]
pub(crate) fn log_softmax<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    check_lengths(x.len(), y.len());
    let (m, total) = max_and_sum(s, x);
    let (vm, lse) = (s.splat(m), s.splat(total.ln() as f32));
    map!(s, x, y, |v| s.sub(s.sub(v, vm), lse));
}

#[inline(always)]
pub(crate) fn log_softmax_inplace<S: Simd>(s: S, x: &mut [f32]) {
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

rows!(softmax_rows, softmax_rows_inplace, softmax, softmax_inplace);
rows!(
    softmax_online_rows,
    softmax_online_rows_inplace,
    softmax_online,
    softmax_online_inplace
);
rows!(
    log_softmax_rows,
    log_softmax_rows_inplace,
    log_softmax,
    log_softmax_inplace
);
