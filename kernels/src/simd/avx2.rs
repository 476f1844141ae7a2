//! The 8-lane AVX2 + FMA tier (256-bit). Partial registers go through a padded stack buffer.

use super::Simd;
use std::arch::x86_64::*;

/// Token for the AVX2 + FMA tier: exists only where the CPU has both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

/// Runs AVX/AVX2/FMA intrinsics.
macro_rules! avx {
    ($e:expr) => {
        // SAFETY: an `Avx2` token exists only on a CPU with AVX2 and FMA (see `new_unchecked`),
        // and every pointer handed to an intrinsic here was bounds-checked against its slice first.
        unsafe { $e }
    };
}

const L: usize = 8;

impl Simd for Avx2 {
    const COLUMNS: bool = false;
    const FMA: bool = true;
    const LANES: usize = L;
    type V = __m256;
    type M = __m256;

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        avx!(_mm256_set1_ps(x))
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> __m256 {
        let s = &s[..L];
        avx!(_mm256_loadu_ps(s.as_ptr()))
    }
    #[inline(always)]
    fn load_partial(self, s: &[f32], fill: f32) -> __m256 {
        debug_assert!(s.len() < L);
        let mut buf = [fill; L];
        let n = s.len().min(L);
        buf[..n].copy_from_slice(&s[..n]);
        avx!(_mm256_loadu_ps(buf.as_ptr()))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: __m256) {
        let s = &mut s[..L];
        avx!(_mm256_storeu_ps(s.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32], v: __m256) {
        debug_assert!(s.len() < L);
        let mut buf = [0.0f32; L];
        avx!(_mm256_storeu_ps(buf.as_mut_ptr(), v));
        let n = s.len().min(L);
        s[..n].copy_from_slice(&buf[..n]);
    }
    #[inline(always)]
    fn stream(self, s: &mut [f32], v: __m256) {
        let s = &mut s[..L];
        assert!((s.as_ptr() as usize).is_multiple_of(32));
        avx!(_mm256_stream_ps(s.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn stream_fence(self) {
        avx!(_mm_sfence())
    }

    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_add_ps(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_sub_ps(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_mul_ps(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_div_ps(a, b))
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        avx!(_mm256_fmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn neg_mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        avx!(_mm256_fnmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_max_ps(a, b))
    }
    #[inline(always)]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_min_ps(a, b))
    }
    #[inline(always)]
    fn copysign(self, mag: __m256, sign: __m256) -> __m256 {
        avx!({
            let m = _mm256_set1_ps(-0.0);
            _mm256_or_ps(_mm256_andnot_ps(m, mag), _mm256_and_ps(m, sign))
        })
    }
    #[inline(always)]
    fn gt(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_cmp_ps::<_CMP_GT_OQ>(a, b))
    }
    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_cmp_ps::<_CMP_LT_OQ>(a, b))
    }
    #[inline(always)]
    fn is_nan(self, a: __m256) -> __m256 {
        avx!(_mm256_cmp_ps::<_CMP_UNORD_Q>(a, a))
    }
    #[inline(always)]
    fn mask_or(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_or_ps(a, b))
    }
    #[inline(always)]
    fn mask_and(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_and_ps(a, b))
    }
    #[inline(always)]
    fn any(self, m: __m256) -> bool {
        avx!(_mm256_movemask_ps(m)) != 0
    }
    #[inline(always)]
    fn all(self, m: __m256) -> bool {
        avx!(_mm256_movemask_ps(m)) == 0xFF
    }
    #[inline(always)]
    fn select(self, m: __m256, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_blendv_ps(b, a, m))
    }
    #[inline(always)]
    fn pow2_scale(self, p: __m256, n: __m256) -> __m256 {
        avx!({
            let n = _mm256_cvtps_epi32(n);
            let n1 = _mm256_srai_epi32::<1>(n);
            let n2 = _mm256_sub_epi32(n, n1);
            let bias = _mm256_set1_epi32(127);
            let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
            let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
            _mm256_mul_ps(_mm256_mul_ps(p, s1), s2)
        })
    }
    #[inline(always)]
    fn sub_bits(self, a: __m256, b: __m256) -> __m256 {
        avx!(_mm256_castsi256_ps(_mm256_sub_epi32(
            _mm256_castps_si256(a),
            _mm256_castps_si256(b)
        )))
    }
    #[inline(always)]
    fn and_bits(self, a: __m256, mask: u32) -> __m256 {
        avx!(_mm256_and_ps(
            a,
            _mm256_castsi256_ps(_mm256_set1_epi32(mask as i32))
        ))
    }
    #[inline(always)]
    fn half_octave(self, a: __m256, first: u32) -> __m256 {
        avx!({
            let b = _mm256_srli_epi32::<22>(_mm256_castps_si256(a));
            let b = _mm256_sub_epi32(b, _mm256_set1_epi32(first as i32));
            _mm256_castsi256_ps(b)
        })
    }
    #[inline(always)]
    fn lut32(self, idx: __m256, t: &[f32; 32]) -> __m256 {
        // Four 8-entry permutes, then index bits 3 and 4 (moved to the sign bit) pick one.
        avx!({
            let i = _mm256_castps_si256(idx);
            let p = |k: usize| _mm256_permutevar8x32_ps(_mm256_loadu_ps(t[8 * k..].as_ptr()), i);
            let b3 = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(i));
            let b4 = _mm256_castsi256_ps(_mm256_slli_epi32::<27>(i));
            let lo = _mm256_blendv_ps(p(0), p(1), b3);
            let hi = _mm256_blendv_ps(p(2), p(3), b3);
            _mm256_blendv_ps(lo, hi, b4)
        })
    }
    #[inline(always)]
    fn reduce_add(self, v: __m256) -> f32 {
        avx!({
            let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let a = _mm_add_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps::<0b01>(a, a)))
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m256) -> f32 {
        avx!({
            let h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let a = _mm_max_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps::<0b01>(a, a)))
        })
    }
}
