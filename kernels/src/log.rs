//! `ln_sum`: the natural logarithm of a sum carried as two floats, for log-softmax's ln S.
//!
//! S = sh + sl with 1 ≤ sh < 16·√2: sh = 2ᵏ·f with f ∈ [√½, √2) (k by comparisons, f by an
//! exact scaling), u = f − 1 exact, and ln f = 2·atanh(s) with s = u/(f + 1) carried as q + ql
//! (the denominator split exactly, the division's remainder taken in):
//! ln f = 2q + 2ql + 2q³·R(q²), R the atanh series to s¹⁰ (|s| ≤ 0.1716, truncation below
//! 2⁻²⁸ relative). Then ln S = k·ln2 + ln f + sl/sh, the head k·ln2_hi + 2q split exactly
//! (Fast2Sum) and every small term added to its tail, rounded once: within about 0.5 ULP of
//! ln S, and relative to ln S near S = 1 (u and sl are exact there), so no cancellation.
//!
//! No subnormal arithmetic: u is 0 or at least 2⁻²⁴ (so q, q² and the remainders are 0 or
//! normal), and an sl below 2⁻⁹⁰ is replaced by 0 before it is divided (its share of ln S is
//! far below an ULP, except at S = 1 exactly, where ln S = sl/sh would be below 2⁻⁹⁰ itself and
//! the answer 0 is within the bound).
use crate::simd::Simd;

/// ln 2 in two parts: 16 significant bits (k·LN2_HI is exact for k ≤ 4), and the rest.
const LN2_HI: f32 = f32::from_bits(0x3F31_7200); // 0.693145751953125
const LN2_LO: f32 = 1.428_606_8e-6;
/// 2ʲ·√2 for j = 0..4: sh above the j-th gives k > j.
const K_STEPS: [f32; 4] = [
    std::f32::consts::SQRT_2,
    2.0 * std::f32::consts::SQRT_2,
    4.0 * std::f32::consts::SQRT_2,
    8.0 * std::f32::consts::SQRT_2,
];
/// atanh(s)/s − 1 = s²·R(s²): R = 1/3 + s²/5 + s⁴/7 + s⁶/9 + s⁸/11.
const R: [f32; 5] = [1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0];
/// A low part below this is replaced by 0 (its share of ln S is under 2⁻⁹⁰).
const SL_MIN: f32 = 8.077_936e-28; // 2⁻⁹⁰

/// ln(sh + sl) for 1 ≤ sh < 16·√2 and |sl| ≤ 2⁻²³·sh (or NaN), rounded once.
#[inline(always)]
pub(crate) fn ln_sum<S: Simd>(s: S, sh: S::V, sl: S::V) -> S::V {
    let zero = s.splat(0.0);
    let one = s.splat(1.0);
    let mut k = zero;
    for (j, t) in K_STEPS.iter().enumerate() {
        k = s.select(s.gt(sh, s.splat(*t)), s.splat(j as f32 + 1.0), k);
    }
    let f = s.pow2_scale(sh, s.sub(zero, k));
    let u = s.sub(f, one);
    // f + 1 = dh + dl exactly (Fast2Sum: f's exponent is at most 1's).
    let dh = s.add(f, one);
    let dl = s.add(s.sub(one, dh), f);
    // s = u/(f + 1) = q + ql.
    let q = s.div(u, dh);
    let rem = s.neg_mul_add(q, dh, u);
    let ql = s.div(s.neg_mul_add(q, dl, rem), dh);
    let q2 = s.mul(q, q);
    let mut r = s.splat(R[4]);
    for c in R[..4].iter().rev() {
        r = s.mul_add(r, q2, s.splat(*c));
    }
    let two_q = s.add(q, q);
    // Head: k·ln2_hi + 2q (k·ln2_hi exact), split exactly; its exponent is at least 2q's.
    let kh = s.mul(k, s.splat(LN2_HI));
    let hi = s.add(kh, two_q);
    let hl = s.add(s.sub(kh, hi), two_q);
    let tiny = s.lt(s.copysign(sl, one), s.splat(SL_MIN));
    let corr = s.div(s.select(tiny, zero, sl), sh);
    let tail = s.mul_add(s.mul(two_q, q2), r, s.add(ql, ql));
    let tail = s.add(s.add(tail, corr), s.mul_add(k, s.splat(LN2_LO), hl));
    s.add(hi, tail)
}
