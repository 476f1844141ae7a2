//! `exp`: Cody–Waite range reduction by ln 2, a degree-6 polynomial, reconstruction by 2ⁿ.
//!
//! x = n·ln2 + r with n = round(x·log₂e) and |r| ≤ ln2/2 (ln2 split in a 16-bit head, so that
//! n·ln2_hi is exact even without FMA, and a tail); eʳ ≈ 1 + r·(1 + r·Q(r)) with a degree-4
//! minimax Q fitted to the relative error of expm1 (≈1.3e-8), evaluated by Horner; then
//! eˣ = 2ⁿ·eʳ rounded once, which gives correctly rounded subnormals' neighbours and exact
//! overflow. Inputs are clamped to [−104, 89] first; a NaN passes the clamp and propagates.
//!
//! No subnormal arithmetic: where eˣ < 2⁻¹²⁶, [`scale_tiny`] builds the subnormal from its bits
//! (with the same value a single rounding of p·2ⁿ gives), and every other product stays normal,
//! so no tier takes the microcode assists that subnormal operands and results cost on Intel
//! cores. Registers without such a lane (n ≥ −125) skip that path.
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
/// 2²³: for v ∈ [0, 2²³], v + 2²³ rounds v to an integer held in the low mantissa bits.
const TWO23: f32 = 8_388_608.0;
/// Without FMA, |r| below this is replaced by 0 in the polynomial terms: r²·Q(r) < 2⁻¹²⁰ is far
/// below the last bit of 1 + r, and computing it could underflow.
const R_TINY: f32 = 8.673_617e-19; // 2⁻⁶⁰

/// Range reduction: returns `(n, r)` with x = n·ln2 + r, n integral, |r| ≲ ln2/2.
#[inline(always)]
pub(crate) fn reduce<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let t = s.mul_add(x, s.splat(LOG2E), s.splat(ROUND_MAGIC));
    let n = s.sub(t, s.splat(ROUND_MAGIC));
    let r = s.mul_add(n, s.splat(-LN2_HI), x);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    (n, r)
}

/// `r` for the polynomial terms: itself on FMA tiers (a fused product never underflows on its
/// own), 0 where |r| < 2⁻⁶⁰ without FMA (where r·C and r²·Q would underflow).
#[inline(always)]
fn r_poly<S: Simd>(s: S, r: S::V) -> S::V {
    if S::FMA {
        r
    } else {
        let tiny = s.lt(s.copysign(r, s.splat(1.0)), s.splat(R_TINY));
        s.select(tiny, s.splat(0.0), r)
    }
}

/// p·2ⁿ for integral n ≤ 128 (n ≥ −150) and p ∈ [2⁻⁶⁰, 2], rounded once, without a
/// subnormal operand or result (NaN in p propagates). Lanes whose result is below 2⁻¹²⁶ get it
/// from integer arithmetic: v = p·2ⁿ⁺¹⁴⁹ is normal (the result in units of 2⁻¹⁴⁹, below 2²³),
/// t = v + 2²³ rounds it to an integer (to nearest, ties to even), and bits(t) − bits(2²³) is
/// the bit pattern of that many smallest subnormals: p·2ⁿ correctly rounded (t = 2²⁴ gives
/// 2⁻¹²⁶, also correct). The other lanes take the normal `pow2_scale`.
#[inline(always)]
pub(crate) fn scale_tiny<S: Simd>(s: S, p: S::V, n: S::V) -> S::V {
    let two23 = s.splat(TWO23);
    // For n ≥ −65 the exponent 84 only has to keep v at 2²⁴ or more (p ≥ 2⁻⁶⁰): a normal result.
    let v = s.pow2_scale(p, s.min(s.add(n, s.splat(149.0)), s.splat(84.0)));
    let t = s.add(v, two23);
    // t ≤ 2²⁴: the result is a subnormal or exactly 2⁻¹²⁶.
    let sub = s.lt(t, s.splat(16_777_218.0));
    let tiny = s.sub_bits(t, two23);
    if s.all(sub) {
        return tiny;
    }
    // The normal lanes have n ≥ −126 (p < 2); the subnormal ones scale 1 instead and discard
    // it. `black_box` keeps the compiler from pushing the select below the product (it may,
    // as far as it knows, and would then scale the subnormal lanes' p after all).
    let pn = std::hint::black_box(s.select(sub, s.splat(1.0), p));
    let normal = s.pow2_scale(pn, s.max(n, s.splat(-126.0)));
    s.select(sub, tiny, normal)
}

/// p·2ⁿ for p ∈ [0.5, 2] and integral n ∈ [−150, 128], rounded once and without subnormal
/// arithmetic: `pow2_scale` when every lane has n ≥ −125 (a normal result), else [`scale_tiny`].
///
/// The fast product runs on n clamped to −125 although only registers with n ≥ −125 take it:
/// the compiler may evaluate it ahead of the branch, and it must not make subnormals there
/// either. (Every fast path here is written that way.)
#[inline(always)]
pub(crate) fn scale<S: Simd>(s: S, p: S::V, n: S::V) -> S::V {
    if s.any(s.lt(n, s.splat(-125.5))) {
        scale_tiny(s, p, n)
    } else {
        s.pow2_scale(p, s.max(n, s.splat(-125.0)))
    }
}

/// Q(r) by Horner.
#[inline(always)]
pub(crate) fn poly_q<S: Simd>(s: S, r: S::V) -> S::V {
    let q = s.mul_add(s.splat(C6), r, s.splat(C5));
    let q = s.mul_add(q, r, s.splat(C4));
    let q = s.mul_add(q, r, s.splat(C3));
    s.mul_add(q, r, s.splat(C2))
}

/// eʳ and n with eˣ = eʳ·2ⁿ (eʳ ∈ [0.70, 1.42], not yet scaled), for x already in
/// [CLAMP_LO, CLAMP_HI] (or NaN).
#[inline(always)]
pub(crate) fn exp_parts<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let (n, r) = reduce(s, x);
    let rp = r_poly(s, r);
    let q = poly_q(s, rp);
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
        s.add(hi, s.add(lo, s.mul(rp, s.mul(rp, q))))
    };
    (n, e)
}

/// eˣ for x already in [CLAMP_LO, CLAMP_HI] (or NaN).
#[inline(always)]
pub(crate) fn exp_core<S: Simd>(s: S, x: S::V) -> S::V {
    let (n, e) = exp_parts(s, x);
    scale(s, e, n)
}

/// eˣ for x in [CLAMP_LO, 0] (or NaN) as n and an unevaluated sum `ph + pl` with
/// eˣ ≈ (ph + pl)·2ⁿ, which carries the polynomial's and the range reduction's rounding errors:
/// a few bits beyond f32. Not yet scaled, so that no part is subnormal.
#[inline(always)]
pub(crate) fn exp_hilo_parts<S: Simd>(s: S, x: S::V) -> (S::V, S::V, S::V) {
    let (n, r) = reduce(s, x);
    // Rounding error of r (its last reduction step).
    let r0 = s.mul_add(n, s.splat(-LN2_HI), x);
    let rl = s.mul_add(n, s.splat(-LN2_LO), s.sub(r0, r));
    let rp = r_poly(s, r);
    let q = poly_q(s, rp);
    let one = s.splat(1.0);
    let (ph, pl) = if S::FMA {
        let u = s.mul_add(q, r, one);
        let ph = s.mul_add(u, r, one);
        (ph, s.mul_add(u, r, s.sub(one, ph)))
    } else {
        let ph = s.add(one, r);
        let t = s.add(s.sub(one, ph), r);
        let rest = s.add(t, s.mul(rp, s.mul(rp, q)));
        let hi = s.add(ph, rest);
        (hi, s.add(s.sub(ph, hi), rest))
    };
    // e^(r + rl) ≈ eʳ·(1 + rl).
    let pl = s.mul_add(rl, ph, pl);
    (n, ph, pl)
}

/// eˣ − 1 for x in [−20, −2⁻⁴⁰] ∪ {±0} (or NaN) as `hi + lo`, accurate relative to the result
/// near 0. (Callers answer x itself for smaller |x|: here r·Q(r) could underflow.)
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

/// eˣ − 1 for x in [−20, −2⁻⁴⁰] ∪ {±0} (or NaN): accurate relative to the result near 0.
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
