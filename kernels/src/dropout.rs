//! Inverted dropout: the caller draws the mask, the kernel applies it.
//!
//! The mask is an f32 *scale* per element: 0 for a dropped unit, 1/(1 − p) for a kept one
//! (sigmo's trainer draws it from its seeded generator). Forward and backward are the same
//! product, y = x·m and dx = dy·m, one rounding, so every tier gives the same bits. It is a
//! plain IEEE product: a dropped ∞ or NaN gives NaN, never a silent 0, so dropout cannot hide
//! a diverging value; a kept tiny value may give a subnormal product (as `dot` and the
//! backward kernels' dy·f′ may).

use crate::drive::{map2, map2_inplace};
use crate::simd::Simd;

/// y ← x ⊙ mask. Panics if the lengths differ.
#[inline(always)]
pub(crate) fn dropout<S: Simd>(s: S, x: &[f32], mask: &[f32], y: &mut [f32]) {
    map2!(s, x, mask, y, |a, m| s.mul(a, m))
}

/// x ← x ⊙ mask. Panics if the lengths differ.
#[inline(always)]
pub(crate) fn dropout_inplace<S: Simd>(s: S, x: &mut [f32], mask: &[f32]) {
    map2_inplace!(s, mask, x, |m, a| s.mul(a, m))
}

/// dx ← dy ⊙ mask (the same mask as the forward pass). Panics if the lengths differ.
#[inline(always)]
pub(crate) fn dropout_backward<S: Simd>(s: S, mask: &[f32], dy: &[f32], dx: &mut [f32]) {
    map2!(s, dy, mask, dx, |g, m| s.mul(g, m))
}

/// dy ← dy ⊙ mask. Panics if the lengths differ.
#[inline(always)]
pub(crate) fn dropout_backward_inplace<S: Simd>(s: S, mask: &[f32], dy: &mut [f32]) {
    map2_inplace!(s, mask, dy, |m, g| s.mul(g, m))
}
