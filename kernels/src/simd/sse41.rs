//! The 4-lane SSE4.1 tier (128-bit, no FMA). Partial registers go through a padded stack buffer.

use super::Simd;
use std::arch::x86_64::*;

/// Token for the SSE4.1 tier: exists only where the CPU has SSE4.1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sse41(());

impl Sse41 {
    /// # Safety
    /// The CPU must support SSE4.1.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Sse41(())
    }
}

/// Runs SSE/SSE2/SSE4.1 intrinsics.
macro_rules! sse {
    ($e:expr) => {
        // SAFETY: an `Sse41` token exists only on a CPU with SSE4.1 (see `new_unchecked`), and
        // every pointer handed to an intrinsic here was bounds-checked against its slice first.
        unsafe { $e }
    };
}

const L: usize = 4;

impl Simd for Sse41 {
    const COLUMNS: bool = false;
    const FMA: bool = false;
    const LANES: usize = L;
    type V = __m128;
    type M = __m128;

    #[inline(always)]
    fn splat(self, x: f32) -> __m128 {
        sse!(_mm_set1_ps(x))
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> __m128 {
        let s = &s[..L];
        sse!(_mm_loadu_ps(s.as_ptr()))
    }
    #[inline(always)]
    fn load_partial(self, s: &[f32], fill: f32) -> __m128 {
        debug_assert!(s.len() < L);
        let mut buf = [fill; L];
        let n = s.len().min(L);
        buf[..n].copy_from_slice(&s[..n]);
        sse!(_mm_loadu_ps(buf.as_ptr()))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: __m128) {
        let s = &mut s[..L];
        sse!(_mm_storeu_ps(s.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32], v: __m128) {
        debug_assert!(s.len() < L);
        let mut buf = [0.0f32; L];
        sse!(_mm_storeu_ps(buf.as_mut_ptr(), v));
        let n = s.len().min(L);
        s[..n].copy_from_slice(&buf[..n]);
    }
    #[inline(always)]
    fn stream(self, s: &mut [f32], v: __m128) {
        let s = &mut s[..L];
        assert!((s.as_ptr() as usize).is_multiple_of(16));
        sse!(_mm_stream_ps(s.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn stream_fence(self) {
        sse!(_mm_sfence())
    }

    #[inline(always)]
    fn add(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_add_ps(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_sub_ps(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_mul_ps(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_div_ps(a, b))
    }
    #[inline(always)]
    fn mul_add(self, a: __m128, b: __m128, c: __m128) -> __m128 {
        sse!(_mm_add_ps(_mm_mul_ps(a, b), c))
    }
    #[inline(always)]
    fn neg_mul_add(self, a: __m128, b: __m128, c: __m128) -> __m128 {
        sse!(_mm_sub_ps(c, _mm_mul_ps(a, b)))
    }
    #[inline(always)]
    fn max(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_max_ps(a, b))
    }
    #[inline(always)]
    fn min(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_min_ps(a, b))
    }
    #[inline(always)]
    fn copysign(self, mag: __m128, sign: __m128) -> __m128 {
        sse!({
            let m = _mm_set1_ps(-0.0);
            _mm_or_ps(_mm_andnot_ps(m, mag), _mm_and_ps(m, sign))
        })
    }
    #[inline(always)]
    fn gt(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_cmpgt_ps(a, b))
    }
    #[inline(always)]
    fn lt(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_cmplt_ps(a, b))
    }
    #[inline(always)]
    fn is_nan(self, a: __m128) -> __m128 {
        sse!(_mm_cmpunord_ps(a, a))
    }
    #[inline(always)]
    fn mask_or(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_or_ps(a, b))
    }
    #[inline(always)]
    fn mask_and(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_and_ps(a, b))
    }
    #[inline(always)]
    fn any(self, m: __m128) -> bool {
        sse!(_mm_movemask_ps(m)) != 0
    }
    #[inline(always)]
    fn all(self, m: __m128) -> bool {
        sse!(_mm_movemask_ps(m)) == 0xF
    }
    #[inline(always)]
    fn select(self, m: __m128, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_blendv_ps(b, a, m))
    }
    #[inline(always)]
    fn pow2_scale(self, p: __m128, n: __m128) -> __m128 {
        sse!({
            let n = _mm_cvtps_epi32(n);
            let n1 = _mm_srai_epi32::<1>(n);
            let n2 = _mm_sub_epi32(n, n1);
            let bias = _mm_set1_epi32(127);
            let s1 = _mm_castsi128_ps(_mm_slli_epi32::<23>(_mm_add_epi32(n1, bias)));
            let s2 = _mm_castsi128_ps(_mm_slli_epi32::<23>(_mm_add_epi32(n2, bias)));
            _mm_mul_ps(_mm_mul_ps(p, s1), s2)
        })
    }
    #[inline(always)]
    fn sub_bits(self, a: __m128, b: __m128) -> __m128 {
        sse!(_mm_castsi128_ps(_mm_sub_epi32(
            _mm_castps_si128(a),
            _mm_castps_si128(b)
        )))
    }
    #[inline(always)]
    fn reduce_add(self, v: __m128) -> f32 {
        sse!({
            let a = _mm_add_ps(v, _mm_movehl_ps(v, v));
            _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps::<0b01>(a, a)))
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m128) -> f32 {
        sse!({
            let a = _mm_max_ps(v, _mm_movehl_ps(v, v));
            _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps::<0b01>(a, a)))
        })
    }
}
