//! `exp`: Cody–Waite range reduction by ln 2, a degree-6 polynomial, reconstruction by 2ⁿ.
//!
//! x = n·ln2 + r with n = round(x·log₂e) and |r| ≤ ln2/2 (ln2 split in a 16-bit head, so that
//! n·ln2_hi is exact even without FMA, and a tail); eʳ ≈ 1 + r·(1 + r·Q(r)) with a degree-4
//! minimax Q fitted to the relative error of expm1 (≈1.3e-8), evaluated by Horner; then
//! eˣ = 2ⁿ·eʳ rounded once (`vscalefps` on AVX-512, a two-factor product elsewhere, equal
//! results), which gives correctly rounded subnormals' neighbours and exact overflow.
//! Inputs are clamped to [−104, 89] first; a NaN passes the clamp and propagates.

use crate::drive::{map, map_inplace};
use crate::simd::Simd;

/// The largest x with a finite f32 eˣ (88.72283172607422); from the next f32 up,
/// 88.72283935546875, `exp` returns +∞, the correctly rounded result (e^88.72283935546875 ≈
/// 3.4028245e38 exceeds `f32::MAX` by more than half an ULP).
pub const EXP_OVERFLOW: f32 = f32::from_bits(0x42B1_7217);
/// The largest x whose eˣ rounds to zero (it is under half the smallest subnormal, 2⁻¹⁵⁰):
/// `exp` returns +0 for x ≤ −103.972084 and the smallest subnormal just above.
pub const EXP_UNDERFLOW: f32 = -103.972_084;

pub(crate) const CLAMP_LO: f32 = -104.0;
pub(crate) const CLAMP_HI: f32 = 89.0;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5·2²³: adding it rounds to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// ln 2 in two parts: 16 significant bits (n·LN2_HI is exact for |n| < 256), and the rest.
const LN2_HI: f32 = f32::from_bits(0x3F31_7200); // 0.693145751953125
const LN2_LO: f32 = 1.428_606_8e-6;
/// Q(r) = C2 + C3·r + … + C6·r⁴, with expm1(r) ≈ r + r²·Q(r) on [−ln2/2, ln2/2].
const C2: f32 = 0.499_999_97;
const C3: f32 = 0.166_665_43;
const C4: f32 = 0.041_667_2;
const C5: f32 = 0.008_366_517;
const C6: f32 = 0.001_388_252_8;

/// Range reduction: returns `(n, r)` with x = n·ln2 + r, n integral, |r| ≲ ln2/2.
#[inline(always)]
pub(crate) fn reduce<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let t = s.mul_add(x, s.splat(LOG2E), s.splat(ROUND_MAGIC));
    let n = s.sub(t, s.splat(ROUND_MAGIC));
    let r = s.mul_add(n, s.splat(-LN2_HI), x);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    (n, r)
}

/// Q(r) by Horner.
#[inline(always)]
pub(crate) fn poly_q<S: Simd>(s: S, r: S::V) -> S::V {
    let q = s.mul_add(s.splat(C6), r, s.splat(C5));
    let q = s.mul_add(q, r, s.splat(C4));
    let q = s.mul_add(q, r, s.splat(C3));
    s.mul_add(q, r, s.splat(C2))
}

/// eˣ for x already in [CLAMP_LO, CLAMP_HI] (or NaN).
#[inline(always)]
pub(crate) fn exp_core<S: Simd>(s: S, x: S::V) -> S::V {
    let (n, r) = reduce(s, x);
    let q = poly_q(s, r);
    let one = s.splat(1.0);
    let e = if S::FMA {
        // eʳ = 1 + r·(1 + r·Q): two fused steps.
        let u = s.mul_add(q, r, one);
        s.mul_add(u, r, one)
    } else {
        // Without FMA the product r·(1 + r·Q) would round on its own; keep 1 + r exact as a
        // head and tail (Fast2Sum, |r| < 1) and add the small rest to the tail instead.
        let hi = s.add(one, r);
        let lo = s.add(s.sub(one, hi), r);
        s.add(hi, s.add(lo, s.mul(r, s.mul(r, q))))
    };
    s.pow2_scale(e, n)
}

/// eˣ for x in [CLAMP_LO, 0] (or NaN) as an unevaluated sum `hi + lo` that carries the
/// polynomial's and the range reduction's rounding errors: a few bits beyond f32.
#[inline(always)]
pub(crate) fn exp_hilo<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let (n, r) = reduce(s, x);
    // Rounding error of r (its last reduction step).
    let r0 = s.mul_add(n, s.splat(-LN2_HI), x);
    let rl = s.mul_add(n, s.splat(-LN2_LO), s.sub(r0, r));
    let q = poly_q(s, r);
    let one = s.splat(1.0);
    let (ph, pl) = if S::FMA {
        let u = s.mul_add(q, r, one);
        let ph = s.mul_add(u, r, one);
        (ph, s.mul_add(u, r, s.sub(one, ph)))
    } else {
        let ph = s.add(one, r);
        let t = s.add(s.sub(one, ph), r);
        let rest = s.add(t, s.mul(r, s.mul(r, q)));
        let hi = s.add(ph, rest);
        (hi, s.add(s.sub(ph, hi), rest))
    };
    // e^(r + rl) ≈ eʳ·(1 + rl).
    let pl = s.mul_add(rl, ph, pl);
    (s.pow2_scale(ph, n), s.pow2_scale(pl, n))
}

/// eˣ − 1 for x in [−20, 0] (or NaN) as `hi + lo`, accurate relative to the result near 0.
#[inline(always)]
pub(crate) fn expm1_neg_hilo<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let (n, r) = reduce(s, x);
    let q = poly_q(s, r);
    let p = s.mul_add(s.mul(r, q), r, r);
    let one = s.splat(1.0);
    let sc = s.pow2_scale(one, n);
    let base = s.sub(sc, one);
    let hi = s.mul_add(sc, p, base);
    let lo = s.mul_add(sc, p, s.sub(base, hi));
    (hi, lo)
}

/// eˣ − 1 for x in [−20, 0] (or NaN): accurate relative to the result near 0.
#[inline(always)]
pub(crate) fn expm1_neg<S: Simd>(s: S, x: S::V) -> S::V {
    let (n, r) = reduce(s, x);
    let q = poly_q(s, r);
    let p = s.mul_add(s.mul(r, q), r, r);
    let one = s.splat(1.0);
    let sc = s.pow2_scale(one, n);
    s.mul_add(sc, p, s.sub(sc, one))
}

/// Clamps to [lo, hi] keeping NaN: `max(lo, x)` and `min(hi, x)` return `x` when it is NaN.
#[inline(always)]
pub(crate) fn clamp<S: Simd>(s: S, x: S::V, lo: f32, hi: f32) -> S::V {
    s.min(s.splat(hi), s.max(s.splat(lo), x))
}

/// eˣ for any x.
#[inline(always)]
pub(crate) fn exp_v<S: Simd>(s: S, x: S::V) -> S::V {
    exp_core(s, clamp(s, x, CLAMP_LO, CLAMP_HI))
}

#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    map!(s, x, y, |v| exp_v(s, v))
}

#[inline(always)]
pub(crate) fn exp_inplace<S: Simd>(s: S, x: &mut [f32]) {
    map_inplace!(s, x, |v| exp_v(s, v))
}
