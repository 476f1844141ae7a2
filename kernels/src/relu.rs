//! The piecewise family: ReLU, leaky ReLU, ELU, the Heaviside step and the identity, with the
//! backward kernels of the first three computed from the forward output y (valid for α ≥ 0,
//! where y > 0 exactly when x > 0). NaN inputs give NaN outputs.

use crate::drive::{map, map2, map2_inplace, map_inplace};
use crate::exp::expm1_neg;
use crate::simd::Simd;

/// Below this, expm1 is −1 in f32.
const ELU_MIN: f32 = -20.0;

/// max(0, x), NaN kept.
#[inline(always)]
pub(crate) fn relu_v<S: Simd>(s: S, x: S::V) -> S::V {
    s.max(s.splat(0.0), x)
}

/// x for x ≥ 0, αx below.
#[inline(always)]
pub(crate) fn leaky_relu_v<S: Simd>(s: S, x: S::V, alpha: f32) -> S::V {
    s.select(s.lt(x, s.splat(0.0)), s.mul(x, s.splat(alpha)), x)
}

/// x for x > 0, α·(eˣ − 1) otherwise.
#[inline(always)]
pub(crate) fn elu_v<S: Simd>(s: S, x: S::V, alpha: f32) -> S::V {
    let z = s.max(s.splat(ELU_MIN), s.min(s.splat(0.0), x));
    let neg = s.mul(s.splat(alpha), expm1_neg(s, z));
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
    |s, y, dy, alpha| { s.select(s.gt(y, s.splat(0.0)), dy, s.mul(dy, s.splat(alpha))) }
);
backward!(elu_backward, elu_backward_inplace, |s, y, dy, alpha| {
    // For x ≤ 0, y = α(eˣ − 1) so f′(x) = α·eˣ = y + α.
    s.select(
        s.gt(y, s.splat(0.0)),
        dy,
        s.mul(dy, s.add(y, s.splat(alpha))),
    )
});
