//! The 16-lane AVX-512F tier (512-bit). Partial registers use masked loads and stores, which
//! never touch the masked-off lanes' memory.

use super::Simd;
use std::arch::x86_64::*;

/// Token for the AVX-512 tier: exists only where the CPU has AVX-512F, AVX2, FMA and F16C.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU must support AVX-512F, AVX2, FMA and F16C.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

/// Runs AVX-512F (and SSE/AVX) intrinsics.
macro_rules! avx512 {
    ($e:expr) => {
        // SAFETY: an `Avx512` token exists only on a CPU with AVX-512F, AVX2, FMA, F16C (see
        // `new_unchecked`); pointers handed to an intrinsic were bounds-checked against their
        // slice first, and masked accesses enable only lanes inside the slice.
        unsafe { $e }
    };
}

const L: usize = 16;

/// Mask of the first `n < 16` lanes.
#[inline(always)]
fn first(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

/// Mask of the first `n ≤ 16` lanes.
#[inline(always)]
fn first_or_all(n: usize) -> __mmask16 {
    if n >= L {
        !0
    } else {
        first(n)
    }
}

/// The 16×16 transpose of the registers `r` (lane `j` of register `i` → lane `i` of register
/// `j`): within 128-bit blocks by unpacks, then the blocks by two rounds of `shuf_f32x4`.
#[inline(always)]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    avx512!({
        let mut t = r;
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4i + j], block L: rows 4i..4i+4 of column 4L + j.
        let mut u = t;
        for i in 0..4 {
            let pd = |v: __m512| _mm512_castps_pd(v);
            let ps = |v: __m512d| _mm512_castpd_ps(v);
            u[4 * i] = ps(_mm512_unpacklo_pd(pd(t[4 * i]), pd(t[4 * i + 2])));
            u[4 * i + 1] = ps(_mm512_unpackhi_pd(pd(t[4 * i]), pd(t[4 * i + 2])));
            u[4 * i + 2] = ps(_mm512_unpacklo_pd(pd(t[4 * i + 1]), pd(t[4 * i + 3])));
            u[4 * i + 3] = ps(_mm512_unpackhi_pd(pd(t[4 * i + 1]), pd(t[4 * i + 3])));
        }
        let mut out = u;
        for j in 0..4 {
            let v0 = _mm512_shuffle_f32x4::<0x44>(u[j], u[4 + j]);
            let v1 = _mm512_shuffle_f32x4::<0xEE>(u[j], u[4 + j]);
            let w0 = _mm512_shuffle_f32x4::<0x44>(u[8 + j], u[12 + j]);
            let w1 = _mm512_shuffle_f32x4::<0xEE>(u[8 + j], u[12 + j]);
            out[j] = _mm512_shuffle_f32x4::<0x88>(v0, w0);
            out[4 + j] = _mm512_shuffle_f32x4::<0xDD>(v0, w0);
            out[8 + j] = _mm512_shuffle_f32x4::<0x88>(v1, w1);
            out[12 + j] = _mm512_shuffle_f32x4::<0xDD>(v1, w1);
        }
        out
    })
}

impl Simd for Avx512 {
    const COLUMNS: bool = true;
    const FMA: bool = true;
    const LANES: usize = L;
    type V = __m512;
    type M = __mmask16;

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        avx512!(_mm512_set1_ps(x))
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> __m512 {
        let s = &s[..L];
        avx512!(_mm512_loadu_ps(s.as_ptr()))
    }
    #[inline(always)]
    fn load_partial(self, s: &[f32], fill: f32) -> __m512 {
        debug_assert!(s.len() < L);
        let k = first(s.len().min(L - 1));
        avx512!(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), k, s.as_ptr()))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: __m512) {
        let s = &mut s[..L];
        avx512!(_mm512_storeu_ps(s.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn store_partial(self, s: &mut [f32], v: __m512) {
        debug_assert!(s.len() < L);
        let k = first(s.len().min(L - 1));
        avx512!(_mm512_mask_storeu_ps(s.as_mut_ptr(), k, v))
    }
    #[inline(always)]
    fn load_columns(self, s: &[f32], cols: usize, rows: usize, out: &mut [__m512; 16]) {
        assert!(rows <= L && cols <= L && s.len() >= rows * cols);
        let k = first_or_all(cols);
        let mut r16 = [avx512!(_mm512_setzero_ps()); L];
        for (r, v) in r16.iter_mut().enumerate().take(rows) {
            // In bounds: row r is s[r·cols .. (r + 1)·cols], and only its lanes are loaded.
            *v = avx512!(_mm512_maskz_loadu_ps(k, s[r * cols..].as_ptr()));
        }
        *out = transpose16(r16);
    }
    #[inline(always)]
    fn store_columns(self, s: &mut [f32], cols: usize, rows: usize, v: &[__m512; 16]) {
        assert!(rows <= L && cols <= L && s.len() >= rows * cols);
        let k = first_or_all(cols);
        let r16 = transpose16(*v);
        for (r, row) in r16.iter().enumerate().take(rows) {
            avx512!(_mm512_mask_storeu_ps(s[r * cols..].as_mut_ptr(), k, *row));
        }
    }
    #[inline(always)]
    fn stream(self, s: &mut [f32], v: __m512) {
        let s = &mut s[..L];
        assert!((s.as_ptr() as usize).is_multiple_of(64));
        avx512!(_mm512_stream_ps(s.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn stream_fence(self) {
        avx512!(_mm_sfence())
    }

    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_add_ps(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_sub_ps(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_mul_ps(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_div_ps(a, b))
    }
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        avx512!(_mm512_fmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn neg_mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        avx512!(_mm512_fnmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_max_ps(a, b))
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_min_ps(a, b))
    }
    #[inline(always)]
    fn copysign(self, mag: __m512, sign: __m512) -> __m512 {
        // One bitwise select: (mag & !m) | (sign & m), truth table 0xD8 for (A, B, C) =
        // (mag, sign, m).
        avx512!(_mm512_castsi512_ps(_mm512_ternarylogic_epi32::<0xD8>(
            _mm512_castps_si512(mag),
            _mm512_castps_si512(sign),
            _mm512_set1_epi32(i32::MIN),
        )))
    }
    #[inline(always)]
    fn gt(self, a: __m512, b: __m512) -> __mmask16 {
        avx512!(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b))
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        avx512!(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b))
    }
    #[inline(always)]
    fn is_nan(self, a: __m512) -> __mmask16 {
        avx512!(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a))
    }
    #[inline(always)]
    fn mask_or(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }
    #[inline(always)]
    fn mask_and(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a & b
    }
    #[inline(always)]
    fn any(self, m: __mmask16) -> bool {
        m != 0
    }
    #[inline(always)]
    fn all(self, m: __mmask16) -> bool {
        m == 0xFFFF
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_mask_blend_ps(m, b, a))
    }
    #[inline(always)]
    fn pow2_scale(self, p: __m512, n: __m512) -> __m512 {
        // vscalefps gives p·2^floor(n) rounded once: exact, and the same value the split
        // product of the other tiers gives, wherever the result is normal (the domain).
        avx512!(_mm512_scalef_ps(p, n))
    }
    #[inline(always)]
    fn sub_bits(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_castsi512_ps(_mm512_sub_epi32(
            _mm512_castps_si512(a),
            _mm512_castps_si512(b)
        )))
    }
    #[inline(always)]
    fn and_bits(self, a: __m512, mask: u32) -> __m512 {
        avx512!(_mm512_castsi512_ps(_mm512_and_si512(
            _mm512_castps_si512(a),
            _mm512_set1_epi32(mask as i32)
        )))
    }
    #[inline(always)]
    fn half_octave(self, a: __m512, first: u32) -> __m512 {
        avx512!({
            let b = _mm512_srli_epi32::<22>(_mm512_castps_si512(a));
            let b = _mm512_sub_epi32(b, _mm512_set1_epi32(first as i32));
            _mm512_castsi512_ps(b)
        })
    }
    #[inline(always)]
    fn lut32(self, idx: __m512, t: &[f32; 32]) -> __m512 {
        // vpermt2ps: index bit 4 picks the register, bits 0–3 the lane.
        avx512!(_mm512_permutex2var_ps(
            _mm512_loadu_ps(t.as_ptr()),
            _mm512_castps_si512(idx),
            _mm512_loadu_ps(t[16..].as_ptr())
        ))
    }
    #[inline(always)]
    fn reduce_add(self, v: __m512) -> f32 {
        avx512!({
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            let s = _mm256_add_ps(lo, hi);
            let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
            let a = _mm_add_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps::<0b01>(a, a)))
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m512) -> f32 {
        avx512!({
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            let s = _mm256_max_ps(lo, hi);
            let h = _mm_max_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
            let a = _mm_max_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps::<0b01>(a, a)))
        })
    }
}
