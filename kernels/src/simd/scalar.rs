//! The portable one-lane tier. Every operation mirrors the vector tiers exactly, so that the
//! FMA tiers reproduce it bit for bit.

use super::Simd;

/// One lane, plain Rust; runs everywhere.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scalar;

const SIGN: u32 = 0x8000_0000;

/// `2ⁿ` for integral `n ∈ [-126, 127]`, built from its exponent bits.
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

impl Simd for Scalar {
    const COLUMNS: bool = false;
    const FMA: bool = true;
    const LANES: usize = 1;
    type V = f32;
    type M = bool;

    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn load_partial(self, s: &[f32], fill: f32) -> f32 {
        // A partial one-lane register holds no element.
        debug_assert!(s.is_empty());
        fill
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: f32) {
        s[0] = v;
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32], _v: f32) {
        debug_assert!(s.is_empty());
    }
    #[inline(always)]
    fn stream(self, s: &mut [f32], v: f32) {
        s[0] = v;
    }
    #[inline(always)]
    fn stream_fence(self) {}

    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn neg_mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        (-a).mul_add(b, c)
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn min(self, a: f32, b: f32) -> f32 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn copysign(self, mag: f32, sign: f32) -> f32 {
        f32::from_bits((mag.to_bits() & !SIGN) | (sign.to_bits() & SIGN))
    }
    #[inline(always)]
    fn gt(self, a: f32, b: f32) -> bool {
        a > b
    }
    #[inline(always)]
    fn lt(self, a: f32, b: f32) -> bool {
        a < b
    }
    #[inline(always)]
    fn is_nan(self, a: f32) -> bool {
        a.is_nan()
    }
    #[inline(always)]
    fn mask_or(self, a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    fn mask_and(self, a: bool, b: bool) -> bool {
        a & b
    }
    #[inline(always)]
    fn any(self, m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn all(self, m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn select(self, m: bool, a: f32, b: f32) -> f32 {
        if m {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn pow2_scale(self, p: f32, n: f32) -> f32 {
        // p·2^n1 is exact (normal); so is the second product where p·2^n is normal.
        let n = n as i32;
        let n1 = n >> 1;
        (p * pow2i(n1)) * pow2i(n - n1)
    }
    #[inline(always)]
    fn sub_bits(self, a: f32, b: f32) -> f32 {
        f32::from_bits(a.to_bits().wrapping_sub(b.to_bits()))
    }
    #[inline(always)]
    fn reduce_add(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn reduce_max(self, v: f32) -> f32 {
        v
    }
}
