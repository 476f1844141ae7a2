//! `sigmoid`: σ(x) = 1/(1 + e⁻ˣ) from z = −|x|, so that eᶻ ∈ [0, 1] never overflows:
//! σ(x) = 1/(1 + eᶻ) for x ≥ 0 and eᶻ/(1 + eᶻ) for x < 0, with an IEEE division (correctly
//! rounded, the same on every tier). Saturates to exactly 1 above 17.328679 and to 0 below
//! −103.97208, with correct subnormals between; never NaN for a finite input.
//!
//! Saturated lanes (eᶻ < 2⁻²⁵, |x| ≳ 17.7) take the same formula with 1 + eᶻ = 1 and
//! 1 − σ = 1 (exact there), evaluated on the unscaled parts of eᶻ = (ph + pl)·2ⁿ and scaled
//! once at the end, so that no intermediate is subnormal: σ = 1 for x > 0, and for x < 0
//! σ = (ph + (pl − ph·d))·2ⁿ with d = 1 + eᶻ − 1, the bits the general formula gives wherever σ
//! is normal. Registers without a saturated lane skip that path.
//!
//! Backward: σ′ = y·(1 − y) from the forward output y.

use crate::drive::{map, map2, map2_inplace, map_inplace};
use crate::exp::{exp_hilo_parts, exp_parts, scale_tiny, CLAMP_LO};
use crate::simd::Simd;

/// |x| below this gives σ = 1/2 exactly (σ − 1/2 ≈ x/4 is under half an ULP of 1/2); z is kept
/// at −2⁻³⁰ or below so that no low part or correction underflows.
const Z_TINY: f32 = -9.313_226e-10; // −2⁻³⁰
/// Below this z (eᶻ < 2⁻⁶⁰·⁵) the FMA tiers take [`saturated`]: there σ is 1 or eᶻ to far
/// within an ULP, and at or above it every term of the correction step, down to eᶻ·eᶻ, is
/// normal.
const Z_SAT: f32 = -42.0;
/// eᶻ = (ph + pl)·2ⁿ with n ≤ −26 is below 2⁻²⁵: the lane is saturated.
const N_SAT: f32 = -25.0;

#[inline(always)]
pub(crate) fn sigmoid_v<S: Simd>(s: S, x: S::V) -> S::V {
    if S::FMA {
        sigmoid_fused(s, x)
    } else {
        sigmoid_split(s, x)
    }
}

/// The FMA tiers' σ: one f32 eᶻ = p·2ⁿ (p ≈ eʳ before any scaling), d = 1 + eᶻ = dh + dl
/// exactly (Fast2Sum), one IEEE division q = num/dh and one correction step that takes in the
/// division's remainder and dl: σ = q + (num − q·dh − q·dl)/d, with 1/d = σ (x ≥ 0) or 1 − σ
/// (x < 0).
///
/// Registers with a lane below z = −42 take [`saturated`]. Tiny |x| needs no
/// special case: every fused step's result stays normal or is exactly 0 (the product inside a
/// fused step is not rounded on its own).
#[inline(always)]
fn sigmoid_fused<S: Simd>(s: S, x: S::V) -> S::V {
    let z = s.copysign(x, s.splat(-1.0));
    let sat = s.lt(z, s.splat(Z_SAT));
    let neg = s.lt(x, s.splat(0.0));
    if s.any(sat) {
        return saturated(s, z, neg, sat);
    }
    // z ≥ Z_SAT or NaN: eᶻ = p·2ⁿ ≥ 2⁻⁶¹ is normal.
    let (n, p) = exp_parts(s, z);
    divide(s, neg, s.pow2_scale(p, n))
}

/// σ from a normal eᶻ = e, for x < 0 where `neg` is set.
#[inline(always)]
fn divide<S: Simd>(s: S, neg: S::M, e: S::V) -> S::V {
    let one = s.splat(1.0);
    let dh = s.add(one, e);
    let dl = s.add(s.sub(one, dh), e);
    let num = s.select(neg, e, one);
    let q = s.div(num, dh);
    let c = s.neg_mul_add(q, dl, s.neg_mul_add(q, dh, num));
    let w = s.select(neg, s.sub(one, q), q);
    s.mul_add(c, w, q)
}

/// A register with lanes below Z_SAT (`sat`): there 1 + eᶻ rounds to 1 and eᶻ·(1 − eᶻ)
/// rounds to eᶻ, so σ = 1 (x > 0) or σ = eᶻ (x < 0), built from its bits where it is
/// subnormal; the other lanes as usual.
/// A register saturated in every lane skips the division.
#[inline(always)]
fn saturated<S: Simd>(s: S, z: S::V, neg: S::M, sat: S::M) -> S::V {
    let one = s.splat(1.0);
    let (n, p) = exp_parts(s, s.max(s.splat(CLAMP_LO), z));
    let low = if s.any(s.mask_and(sat, neg)) {
        s.select(neg, scale_tiny(s, p, n), one)
    } else {
        one
    };
    if s.all(sat) {
        return low;
    }
    // The saturated lanes compute on eᶻ = 1 instead (`black_box`: see `scale_tiny`); the
    // others have n ≥ −61.
    let (pn, nn) = std::hint::black_box((s.select(sat, one, p), s.select(sat, s.splat(0.0), n)));
    let g = divide(s, neg, s.pow2_scale(pn, nn));
    s.select(sat, low, g)
}

/// The SSE4.1 tier's σ (no FMA): eᶻ a few bits beyond f32 and a fully compensated division.
#[inline(always)]
fn sigmoid_split<S: Simd>(s: S, x: S::V) -> S::V {
    let one = s.splat(1.0);
    let zero = s.splat(0.0);
    // z = −|x|, clamped below and kept off 0; NaN passes through `max` and `min`.
    let z = s.max(s.splat(CLAMP_LO), s.copysign(x, s.splat(-1.0)));
    let z = s.min(s.splat(Z_TINY), z);
    // eᶻ = (ph + pl)·2ⁿ, a few bits beyond f32: a plain f32 eᶻ may be 1 ULP off, which is 2 ULP
    // of σ where eᶻ and σ sit on either side of a power of two.
    let (n, ph, pl) = exp_hilo_parts(s, z);
    let neg = s.lt(x, zero);
    // The general formula, on n ≥ −25: exact for the unsaturated lanes; the saturated ones
    // compute on n = −25 (normal parts) and are replaced below.
    let nc = s.max(n, s.splat(N_SAT));
    let g = general(s, neg, s.pow2_scale(ph, nc), s.pow2_scale(pl, nc));
    let sat = s.lt(n, s.splat(N_SAT - 0.5));
    if !s.any(sat) {
        return g;
    }
    // Saturated, x < 0: d = round(ph + pl)·2ⁿ, kept at 2⁻¹⁰⁰ or more (below that its share,
    // under 2⁻⁹⁹ of σ, cannot change the rounding), then t = pl − ph·d and σ = (ph + t)·2ⁿ.
    let d = s.pow2_scale(s.add(ph, pl), s.max(n, s.splat(-100.0)));
    let t = s.mul_add(s.sub(zero, ph), d, pl);
    let low = scale_tiny(s, s.add(ph, t), n);
    s.select(sat, s.select(neg, low, one), g)
}

/// σ from eᶻ = eh + el (normal parts) by one division and one correction step.
#[inline(always)]
fn general<S: Simd>(s: S, neg: S::M, eh: S::V, el: S::V) -> S::V {
    let one = s.splat(1.0);
    // d = 1 + eᶻ = dh + dl exactly (Fast2Sum, 1 ≥ eh).
    let dh = s.add(one, eh);
    let dl = s.add(s.add(s.sub(one, dh), eh), el);
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
