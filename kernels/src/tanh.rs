//! `tanh`, two algorithms:
//! * FMA tiers (scalar, AVX2, AVX-512): no division and no exponential — a degree-6
//!   polynomial per half-octave of |x| ∈ [2⁻¹², 16), its coefficients looked up per lane
//!   (see [`tanh_fused`]); 1.21 ULP at most over all 2³² inputs.
//! * SSE4.1 (no FMA): through expm1, which keeps full relative accuracy near 0 (no
//!   1 − 2/(e²ˣ+1) cancellation): with t = expm1(−2|x|) ∈ (−1, 0], tanh|x| = −t/(2 + t), then
//!   the sign of x is copied back; for |x| < 2⁻⁴⁰ the lanes compute on 2⁻⁴⁰ and return x.
//!
//! Both: ±1 for |x| ≥ 10, tanh(±0) = ±0, tanh x = x for tiny x, NaN propagates.
//!
//! Backward: tanh′ = 1 − y² (one fused multiply-add) from the forward output y.

use crate::drive::{map, map2, map2_inplace, map_inplace};
use crate::exp::expm1_neg_hilo;
use crate::simd::Simd;
use crate::tanh_table::TANH_C;

/// The largest f32 below 16: |x| is clamped to it (the last interval is tanh = 1).
const A_MAX: f32 = 15.999_999;
/// bits(2⁻¹²) >> 22: the first half-octave of the table.
const FIRST_HALF_OCTAVE: u32 = 0x3980_0000 >> 22;
/// 2⁻¹²: below it tanh x rounds to x.
const X_TINY: f32 = 2.441_406_3e-4;
/// Below this, expm1 is −1 in f32 and tanh is saturated.
const A_MIN: f32 = -20.0;
/// −2⁻⁴⁰: for |x| under it, tanh x rounds to x.
const Z_TINY: f32 = -9.094_947e-13;

#[inline(always)]
pub(crate) fn tanh_v<S: Simd>(s: S, x: S::V) -> S::V {
    if S::FMA {
        tanh_fused(s, x)
    } else {
        tanh_split(s, x)
    }
}

/// The FMA tiers' tanh, without a division: on the 32 half-octaves [a, b) of [2⁻¹², 16)
/// (index from the exponent and the first mantissa bit, a = |x| with the other 22 mantissa
/// bits cleared, so u = |x| − a is exact), a degree-6 polynomial in u from
/// [`TANH_C`](crate::tanh_table::TANH_C), looked up per lane (one two-register permute per
/// coefficient on AVX-512) and evaluated by Horner. tanh x = x for |x| < 2⁻¹² (x²/3 is under a
/// quarter ULP there), ±1 from the last interval on; the sign is copied back.
#[inline(always)]
fn tanh_fused<S: Simd>(s: S, x: S::V) -> S::V {
    let ax = s.copysign(x, s.splat(1.0));
    // Into the table's range [2⁻¹², 16) (tiny lanes are replaced below, +∞ lands in the last
    // interval); NaN passes `max` and `min`.
    let a = s.min(s.splat(A_MAX), s.max(s.splat(X_TINY), ax));
    let idx = s.half_octave(a, FIRST_HALF_OCTAVE);
    let u = s.sub(a, s.and_bits(a, 0xFFC0_0000));
    let mut p = s.lut32(idx, &TANH_C[6]);
    for c in TANH_C[..6].iter().rev() {
        p = s.mul_add(p, u, s.lut32(idx, c));
    }
    s.select(s.lt(ax, s.splat(X_TINY)), x, s.copysign(p, x))
}

/// The SSE4.1 tier's tanh (no FMA): expm1 as a head and tail and a fully compensated division.
#[inline(always)]
fn tanh_split<S: Simd>(s: S, x: S::V) -> S::V {
    let z = s.copysign(x, s.splat(-1.0));
    let tiny = s.gt(z, s.splat(Z_TINY));
    // NaN passes `min` and `max`.
    let z = s.min(s.splat(Z_TINY), z);
    let a = s.max(s.splat(A_MIN), s.add(z, z));
    // t = expm1(−2|x|) = th + tl; d = 2 + t = dh + dl (Fast2Sum, 2 ≥ |th|).
    let (th, tl) = expm1_neg_hilo(s, a);
    let two = s.splat(2.0);
    let dh = s.add(two, th);
    let dl = s.add(s.add(s.sub(two, dh), th), tl);
    // q = −th/dh, then one correction step for the low parts; 1/d = (1 + q)/2 exactly in
    // real arithmetic, which is all the (tiny) correction needs.
    let q = s.div(s.sub(s.splat(0.0), th), dh);
    let c = s.add(s.mul_add(q, dh, th), s.mul_add(q, dl, tl));
    let w = s.mul_add(q, s.splat(0.5), s.splat(0.5));
    let r = s.mul_add(s.sub(s.splat(0.0), c), w, q);
    s.select(tiny, x, s.copysign(r, x))
}

#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    map!(s, x, y, |v| tanh_v(s, v))
}

#[inline(always)]
pub(crate) fn tanh_inplace<S: Simd>(s: S, x: &mut [f32]) {
    map_inplace!(s, x, |v| tanh_v(s, v))
}

/// dx = dy·(1 − y²).
#[inline(always)]
pub(crate) fn tanh_grad_v<S: Simd>(s: S, y: S::V, dy: S::V) -> S::V {
    let one = s.splat(1.0);
    let d = if S::FMA {
        // 1 − y², rounded once.
        s.mul_add(s.sub(s.splat(0.0), y), y, one)
    } else {
        // Without FMA, 1 − y·y would cancel; (1 − y)(1 + y) does not.
        s.mul(s.sub(one, y), s.add(one, y))
    };
    s.mul(dy, d)
}

#[inline(always)]
pub(crate) fn tanh_backward<S: Simd>(s: S, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    map2!(s, y, dy, dx, |a, b| tanh_grad_v(s, a, b))
}

#[inline(always)]
pub(crate) fn tanh_backward_inplace<S: Simd>(s: S, y: &[f32], dy_dx: &mut [f32]) {
    map2_inplace!(s, y, dy_dx, |a, b| tanh_grad_v(s, a, b))
}
