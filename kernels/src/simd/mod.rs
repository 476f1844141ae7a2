//! The lane trait every kernel is written against, and its four tiers.
//!
//! A kernel is one generic function `fn k<S: Simd>(s: S, …)`. Each tier instantiates it inside a
//! `#[target_feature]` function (see `crate::dispatch`), so the trait's `#[inline(always)]`
//! methods compile to that tier's instructions. A tier value is a zero-sized token: holding one
//! proves the CPU runs the tier, which is what makes the methods safe to call.
//!
//! Semantics shared by all tiers (the bit-identity of the FMA tiers rests on them):
//! - `max(a, b)` is `a > b ? a : b` and `min(a, b)` is `a < b ? a : b` (the x86 `maxps`/`minps`
//!   rule): a NaN in `a` gives `b`, a NaN in `b` gives `b`.
//! - `mul_add(a, b, c)` is `a·b + c` rounded once on FMA tiers, twice on SSE4.1.
//! - `pow2_scale(p, n)` is `p·2ⁿ`, exact, for integral `n ∈ [-126, 128]` and `p ∈ [2⁻⁶⁰, 2]`
//!   where `p·2ⁿ` is normal (+∞ where it overflows). Kernels never call it where the result
//!   would be subnormal: no tier then computes with a subnormal (see `crate::exp::scale_tiny`).
//! - `sub_bits(a, b)` subtracts the bit patterns as 32-bit integers (wrapping): no FP operation.
//! - `reduce_add`/`reduce_max` fold a register by halves: lane `i` with lane `i + L/2`, then
//!   `i + L/4`, … so that registers of different widths reproduce one fixed tree.

pub(crate) mod scalar;

#[cfg(all(feature = "simd", target_arch = "x86_64"))]
pub(crate) mod avx2;
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
pub(crate) mod avx512;
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
pub(crate) mod sse41;

/// One tier's vector operations. See the module docs for the shared semantics.
pub(crate) trait Simd: Copy {
    /// f32 lanes per register.
    const LANES: usize;
    /// Whether `mul_add` is fused (one rounding).
    const FMA: bool;
    /// Whether [`Simd::load_columns`] and [`Simd::store_columns`] are register transposes
    /// (so that kernels gain by running one short row per lane).
    const COLUMNS: bool;
    /// A register of `LANES` f32.
    type V: Copy;
    /// A lane mask, as produced by comparisons.
    type M: Copy;

    fn splat(self, x: f32) -> Self::V;
    /// Loads `s[..LANES]`. Panics if `s` is shorter.
    fn load(self, s: &[f32]) -> Self::V;
    /// Loads `s[..n]` (`n = s.len() < LANES`) and fills the other lanes with `fill`; touches
    /// no memory past `s`.
    fn load_partial(self, s: &[f32], fill: f32) -> Self::V;
    /// Stores into `s[..LANES]`. Panics if `s` is shorter.
    fn store(self, s: &mut [f32], v: Self::V);
    /// Stores the first `s.len() < LANES` lanes; touches no memory past `s`.
    fn store_partial(self, s: &mut [f32], v: Self::V);
    /// The columns of a block of `rows ≤ LANES` rows of `cols ≤ 16` elements, row `r` at
    /// `s[r·cols..]`: lane `r` of `out[c]` ← `s[r·cols + c]`, and 0 in every other lane and
    /// column. Panics unless `s` holds the block. By default through a stack buffer.
    #[inline(always)]
    fn load_columns(self, s: &[f32], cols: usize, rows: usize, out: &mut [Self::V; 16]) {
        assert!(rows <= Self::LANES && cols <= 16 && s.len() >= rows * cols);
        let mut buf = [0.0f32; 16];
        for (c, o) in out.iter_mut().enumerate() {
            if c < cols {
                for (r, b) in buf.iter_mut().enumerate().take(rows) {
                    *b = s[r * cols + c];
                }
            }
            *o = self.load(&buf);
        }
    }
    /// `s[r·cols + c]` ← lane `r` of `v[c]` for `r < rows`, `c < cols`: the counterpart of
    /// [`Simd::load_columns`].
    #[inline(always)]
    fn store_columns(self, s: &mut [f32], cols: usize, rows: usize, v: &[Self::V; 16]) {
        assert!(rows <= Self::LANES && cols <= 16 && s.len() >= rows * cols);
        let mut buf = [0.0f32; 16];
        for (c, vc) in v.iter().enumerate().take(cols) {
            self.store(&mut buf, *vc);
            for (r, b) in buf.iter().enumerate().take(rows) {
                s[r * cols + c] = *b;
            }
        }
    }
    /// Non-temporal store into `s[..LANES]`; `s` must start on a `4·LANES`-byte boundary
    /// (panics otherwise). Follow a run of them with [`Simd::stream_fence`].
    fn stream(self, s: &mut [f32], v: Self::V);
    /// Orders earlier non-temporal stores before later memory accesses.
    fn stream_fence(self);

    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a·b + c`.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c − a·b`, rounded like [`Simd::mul_add`] (`fnmadd` on FMA tiers).
    fn neg_mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a > b ? a : b`.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a < b ? a : b`.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// Magnitude of `mag` with the sign bit of `sign`.
    fn copysign(self, mag: Self::V, sign: Self::V) -> Self::V;

    /// `a > b` (false when either is NaN).
    fn gt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a < b` (false when either is NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a` is NaN.
    fn is_nan(self, a: Self::V) -> Self::M;
    fn mask_or(self, a: Self::M, b: Self::M) -> Self::M;
    fn mask_and(self, a: Self::M, b: Self::M) -> Self::M;
    /// Whether any lane is set.
    fn any(self, m: Self::M) -> bool;
    /// Whether every lane is set.
    fn all(self, m: Self::M) -> bool;
    /// `m ? a : b` per lane.
    fn select(self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;

    /// `p·2ⁿ`, exact; see the module docs for the domain.
    fn pow2_scale(self, p: Self::V, n: Self::V) -> Self::V;
    /// The f32 whose bits are `bits(a) − bits(b)` (32-bit integer subtraction, wrapping).
    fn sub_bits(self, a: Self::V, b: Self::V) -> Self::V;
    /// The f32 whose bits are `bits(a) & mask`.
    #[inline(always)]
    fn and_bits(self, a: Self::V, mask: u32) -> Self::V {
        self.map_lanes(a, |v| f32::from_bits(v.to_bits() & mask))
    }
    /// The index of `a`'s half-octave counted from `first` (= bits(a₀) >> 22, a₀ the start of
    /// the first), as the bits of each lane (an integer, for [`Simd::lut32`]): in 0..=31 for a
    /// in [a₀, 16·a₀·2⁻⁴·2¹⁶) — callers clamp a first; other lanes get some index, wrapping.
    #[inline(always)]
    fn half_octave(self, a: Self::V, first: u32) -> Self::V {
        self.map_lanes(a, |v| {
            f32::from_bits((v.to_bits() >> 22).wrapping_sub(first))
        })
    }
    /// `t[i]` per lane for the index `i` (0..=31) held in the lane's bits.
    #[inline(always)]
    fn lut32(self, idx: Self::V, t: &[f32; 32]) -> Self::V {
        self.map_lanes(idx, |i| t[(i.to_bits() & 31) as usize])
    }
    /// `f` on every lane, through a stack buffer (the portable fallback of the bit operations).
    #[inline(always)]
    fn map_lanes(self, a: Self::V, f: impl Fn(f32) -> f32) -> Self::V {
        let mut b = [0.0f32; 16];
        self.store(&mut b, a);
        for v in &mut b[..Self::LANES] {
            *v = f(*v);
        }
        self.load(&b)
    }
    /// Sum of the lanes by the fixed halving tree.
    fn reduce_add(self, v: Self::V) -> f32;
    /// Max of the lanes by the fixed halving tree, with [`Simd::max`].
    fn reduce_max(self, v: Self::V) -> f32;
}
