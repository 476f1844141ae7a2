//! The piecewise family: ReLU, leaky ReLU, ELU, the Heaviside step and the identity, with the
//! backward kernels of the first three computed from the forward output y (valid for α ≥ 0,
//! where y > 0 exactly when x > 0). NaN inputs give NaN outputs.
//!
//! The products by α never compute with a subnormal: [`mul_alpha_neg`] builds a subnormal α·x
//! from its bits, and ELU answers x itself for expm1(x) where |x| < 2⁻⁴⁰ (correctly rounded
//! there) instead of running the polynomial on it.

use crate::drive::{map, map2, map2_inplace, map_inplace};
use crate::exp::expm1_neg;
use crate::simd::Simd;

/// Below this, expm1 is −1 in f32.
const ELU_MIN: f32 = -20.0;
/// −2⁻⁴⁰: for x in (−2⁻⁴⁰, 0], expm1(x) rounds to x.
const ELU_TINY: f32 = -9.094_947e-13;
/// 2⁻¹²⁶, the smallest normal f32.
const MIN_NORMAL: f32 = f32::MIN_POSITIVE;

/// α·x rounded once for a parameter α ≥ 0, in the lanes of `neg`, where x < 0 (the other
/// lanes get α·x too, but only the lanes of `neg` are guaranteed no subnormal arithmetic):
/// the product runs on 0 instead of x where α·x may fall below 2⁻¹²⁶ in magnitude
/// (x > −2⁻¹²⁵/α), and a register with such a lane goes lane by lane through
/// [`mul_alpha_lane`]. A subnormal or zero α (exempt, or exact) just multiplies.
#[inline(always)]
pub(crate) fn mul_alpha_neg<S: Simd>(s: S, x: S::V, alpha: f32, neg: S::M) -> S::V {
    let a = s.splat(alpha);
    if alpha.is_nan() || alpha < MIN_NORMAL {
        return s.mul(x, a);
    }
    // Loop-invariant: −2⁻¹²⁵/α, at most −2⁻¹²⁵ (then only subnormal x, exempt, are tiny).
    let lim = (-2.0 * f64::from(MIN_NORMAL) / f64::from(alpha)).min(-2.0 * f64::from(MIN_NORMAL));
    let lim = s.splat(lim.max(f64::from(f32::MIN)) as f32);
    let tiny = s.mask_and(neg, s.gt(x, lim));
    // Safe in every lane even where the compiler computes it ahead of the branch. With one
    // lane the select is a branch, which the compiler may turn back into a product of x:
    // `black_box` keeps the zeroed operand (the vector tiers' blend is not undone).
    let xs = s.select(tiny, s.splat(0.0), x);
    let xs = if S::LANES == 1 {
        std::hint::black_box(xs)
    } else {
        xs
    };
    let y = s.mul(xs, a);
    if !s.any(tiny) {
        return y;
    }
    let mut buf = [0.0f32; 16];
    let lanes = &mut buf[..S::LANES];
    s.store(lanes, x);
    for v in lanes.iter_mut() {
        *v = mul_alpha_lane(*v, alpha);
    }
    s.load(lanes)
}

/// α·x rounded once, in f64 (the product of two f32 is exact there): a normal result rounds
/// by the conversion to f32; a subnormal one is built from its bits, |α·x|·2¹⁴⁹ rounded to an
/// integer (to nearest, ties to even) by adding and subtracting 2⁵², so that no f32 operation
/// makes it. Both sides are computed on clamped values (the compiler may evaluate both and
/// select), so neither ever converts to or produces a subnormal f32.
#[inline(always)]
fn mul_alpha_lane(x: f32, alpha: f32) -> f32 {
    const SHIFTER: f64 = 4_503_599_627_370_496.0; // 2⁵²
    let min = f64::from(MIN_NORMAL);
    let p = f64::from(x) * f64::from(alpha);
    let a = p.abs();
    let tiny = a < min;
    let k = ((if tiny { a } else { min }) * 2f64.powi(149) + SHIFTER) - SHIFTER;
    let sign = (p.to_bits() >> 32) as u32 & 0x8000_0000;
    let sub = f32::from_bits(k as u32 | sign);
    // `black_box`: the compiler may not push the conversion into the select (and convert the
    // tiny product after all).
    let normal = std::hint::black_box(if tiny { min } else { a }).copysign(p) as f32;
    if tiny {
        sub
    } else {
        normal
    }
}

/// max(0, x), NaN kept.
#[inline(always)]
pub(crate) fn relu_v<S: Simd>(s: S, x: S::V) -> S::V {
    s.max(s.splat(0.0), x)
}

/// x for x ≥ 0, αx below.
#[inline(always)]
pub(crate) fn leaky_relu_v<S: Simd>(s: S, x: S::V, alpha: f32) -> S::V {
    // min(0, x): the lanes not in `neg` multiply 0 (or keep NaN) instead of a tiny positive x.
    let neg = s.lt(x, s.splat(0.0));
    s.select(neg, mul_alpha_neg(s, s.min(s.splat(0.0), x), alpha, neg), x)
}

/// x for x > 0, α·(eˣ − 1) otherwise.
#[inline(always)]
pub(crate) fn elu_v<S: Simd>(s: S, x: S::V, alpha: f32) -> S::V {
    let z = s.max(s.splat(ELU_MIN), s.min(s.splat(0.0), x));
    // expm1(z) = z for z in (−2⁻⁴⁰, 0]; the polynomial runs on −2⁻⁴⁰ there. NaN passes `min`.
    let tiny = s.gt(z, s.splat(ELU_TINY));
    let em = expm1_neg(s, s.min(s.splat(ELU_TINY), z));
    // Negative exactly where x is; +0 for x ≥ 0.
    let v = s.select(tiny, z, em);
    let neg = mul_alpha_neg(s, v, alpha, s.lt(x, s.splat(0.0)));
    s.select(s.gt(x, s.splat(0.0)), x, neg)
}

/// 1 for x > 0, 0 otherwise, NaN kept.
#[inline(always)]
pub(crate) fn step_v<S: Simd>(s: S, x: S::V) -> S::V {
    let y = s.select(s.gt(x, s.splat(0.0)), s.splat(1.0), s.splat(0.0));
    s.select(s.is_nan(x), x, y)
}

macro_rules! unary {
    ($name:ident, $inplace:ident, |$s:ident, $v:ident $(, $p:ident)*| $e:expr) => {
        #[inline(always)]
        pub(crate) fn $name<S: Simd>($s: S, x: &[f32], y: &mut [f32] $(, $p: f32)*) {
            map!($s, x, y, |$v| $e)
        }
        #[inline(always)]
        pub(crate) fn $inplace<S: Simd>($s: S, x: &mut [f32] $(, $p: f32)*) {
            map_inplace!($s, x, |$v| $e)
        }
    };
}

unary!(relu, relu_inplace, |s, v| relu_v(s, v));
// With α = 0, leaky ReLU is ReLU: run that, so that −∞ gives 0 rather than 0·(−∞) = NaN.
// (The branch is loop-invariant.)
unary!(
    leaky_relu,
    leaky_relu_inplace,
    |s, v, alpha| if alpha == 0.0 {
        relu_v(s, v)
    } else {
        leaky_relu_v(s, v, alpha)
    }
);
unary!(elu, elu_inplace, |s, v, alpha| elu_v(s, v, alpha));
unary!(step, step_inplace, |s, v| step_v(s, v));

/// y ← x, through the same driver as the other kernels.
#[inline(always)]
pub(crate) fn identity<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    map!(s, x, y, |v| v)
}

/// x ← x: nothing to do.
#[inline(always)]
pub(crate) fn identity_inplace<S: Simd>(_s: S, _x: &mut [f32]) {}

macro_rules! backward {
    ($name:ident, $inplace:ident, |$s:ident, $y:ident, $dy:ident $(, $p:ident)*| $e:expr) => {
        #[inline(always)]
        pub(crate) fn $name<S: Simd>($s: S, y: &[f32], dy: &[f32], dx: &mut [f32] $(, $p: f32)*) {
            map2!($s, y, dy, dx, |$y, $dy| $e)
        }
        #[inline(always)]
        pub(crate) fn $inplace<S: Simd>($s: S, y: &[f32], dy_dx: &mut [f32] $(, $p: f32)*) {
            map2_inplace!($s, y, dy_dx, |$y, $dy| $e)
        }
    };
}

backward!(relu_backward, relu_backward_inplace, |s, y, dy| {
    s.select(s.gt(y, s.splat(0.0)), dy, s.splat(0.0))
});
backward!(
    leaky_relu_backward,
    leaky_relu_backward_inplace,
    |s, y, dy, alpha| {
        // α·dy on −|dy|, then dy's sign back.
        let nd = s.copysign(dy, s.splat(-1.0));
        let a = mul_alpha_neg(s, nd, alpha, s.lt(nd, s.splat(0.0)));
        s.select(s.gt(y, s.splat(0.0)), dy, s.copysign(a, dy))
    }
);
backward!(elu_backward, elu_backward_inplace, |s, y, dy, alpha| {
    // For x ≤ 0, y = α(eˣ − 1) so f′(x) = α·eˣ = y + α.
    s.select(
        s.gt(y, s.splat(0.0)),
        dy,
        s.mul(dy, s.add(y, s.splat(alpha))),
    )
});
