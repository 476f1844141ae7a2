//! `sigmoid`: σ(x) = 1/(1 + e⁻ˣ) from z = −|x|, so that eᶻ ∈ [0, 1] never overflows:
//! σ(x) = 1/(1 + eᶻ) for x ≥ 0 and eᶻ/(1 + eᶻ) for x < 0, with an IEEE division (correctly
//! rounded, the same on every tier). Saturates to exactly 1 above 17.328679 and to 0 below
//! −103.97208, with correct subnormals between; never NaN for a finite input.
//!
//! Backward: σ′ = y·(1 − y) from the forward output y.

use crate::drive::{map, map2, map2_inplace, map_inplace};
use crate::exp::{exp_hilo, CLAMP_LO};
use crate::simd::Simd;

#[inline(always)]
pub(crate) fn sigmoid_v<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    // z = −|x|, clamped below; NaN passes through `max`.
    let z = s.max(s.splat(CLAMP_LO), s.copysign(x, s.splat(-1.0)));
    // eᶻ = eh + el, a few bits beyond f32: a plain f32 eᶻ may be 1 ULP off, which is 2 ULP
    // of σ where eᶻ and σ sit on either side of a power of two.
    let (eh, el) = exp_hilo(s, z);
    // d = 1 + eᶻ = dh + dl exactly (Fast2Sum, 1 ≥ eh).
    let dh = s.add(one, eh);
    let dl = s.add(s.add(s.sub(one, dh), eh), el);
    let neg = s.lt(x, s.splat(0.0));
    let nh = s.select(neg, eh, one);
    let nl = s.select(neg, el, s.splat(0.0));
    // q = nh/dh, correctly rounded; then one correction step for the low parts:
    // σ = q + (nh − q·dh + nl − q·dl)/d, with 1/d ≈ q (x ≥ 0) or 1 − q (x < 0).
    let q = s.div(nh, dh);
    let nq = s.sub(s.splat(0.0), q);
    let res = s.mul_add(nq, dh, nh);
    let t = s.mul_add(nq, dl, s.add(res, nl));
    let w = s.select(neg, s.sub(one, q), q);
    s.mul_add(t, w, q)
}

#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    map!(s, x, y, |v| sigmoid_v(s, v))
}

#[inline(always)]
pub(crate) fn sigmoid_inplace<S: Simd>(s: S, x: &mut [f32]) {
    map_inplace!(s, x, |v| sigmoid_v(s, v))
}

/// dx = dy·y·(1 − y).
#[inline(always)]
pub(crate) fn sigmoid_grad_v<S: Simd>(s: S, y: S::V, dy: S::V) -> S::V {
    s.mul(dy, s.mul(y, s.sub(s.splat(1.0), y)))
}

#[inline(always)]
pub(crate) fn sigmoid_backward<S: Simd>(s: S, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    map2!(s, y, dy, dx, |a, b| sigmoid_grad_v(s, a, b))
}

#[inline(always)]
pub(crate) fn sigmoid_backward_inplace<S: Simd>(s: S, y: &[f32], dy_dx: &mut [f32]) {
    map2_inplace!(s, y, dy_dx, |a, b| sigmoid_grad_v(s, a, b))
}
