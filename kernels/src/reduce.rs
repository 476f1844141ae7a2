//! Reductions over 16 *virtual lanes*: element `i` always lands in virtual lane `i mod 16`,
//! whatever the register width (1 register on AVX-512, 2 on AVX2, 4 on SSE4.1, 16 scalars),
//! and the lanes are folded by one fixed halving tree (lane `i` with `i + 8`, then `i + 4`, …).
//! The order of every floating-point operation is therefore the same on every tier, and the
//! FMA tiers agree to the bit.

use crate::drive::map2_inplace;
use crate::simd::Simd;

/// Virtual lanes of every reduction.
pub(crate) const VLANES: usize = 16;

/// Register `j` of a block of at most 16 elements: full, partial (padded with `fill`) or all
/// `fill` when the block ends before it.
#[inline(always)]
pub(crate) fn block_reg<S: Simd>(s: S, blk: &[f32], j: usize, fill: f32) -> S::V {
    let lo = j * S::LANES;
    if lo + S::LANES <= blk.len() {
        s.load(&blk[lo..])
    } else if lo < blk.len() {
        s.load_partial(&blk[lo..], fill)
    } else {
        s.splat(fill)
    }
}

/// Stores register `j` of a block of at most 16 elements: full, partial, or nothing when the
/// block ends before it. The counterpart of [`block_reg`].
#[inline(always)]
pub(crate) fn store_block<S: Simd>(s: S, blk: &mut [f32], j: usize, v: S::V) {
    let lo = j * S::LANES;
    if lo + S::LANES <= blk.len() {
        s.store(&mut blk[lo..], v)
    } else if lo < blk.len() {
        s.store_partial(&mut blk[lo..], v)
    }
}

/// Runs `$body` with `$j` the register index and `$v` register `$j` of every 16-element
/// block of `$x`; the last block is padded with `$fill`. (A macro, not a closure: see
/// `crate::drive`.)
macro_rules! for_blocks {
    ($s:ident, $x:expr, $fill:expr, |$j:ident, $v:ident| $body:expr) => {{
        let x: &[f32] = $x;
        let l = $crate::drive::lanes($s);
        let nreg = $crate::reduce::VLANES / l;
        let mut blocks = x.chunks_exact($crate::reduce::VLANES);
        for b in &mut blocks {
            for $j in 0..nreg {
                let $v = $s.load(&b[$j * l..]);
                $body;
            }
        }
        let r = blocks.remainder();
        if !r.is_empty() {
            for $j in 0..nreg {
                let $v = $crate::reduce::block_reg($s, r, $j, $fill);
                $body;
            }
        }
    }};
}
pub(crate) use for_blocks;

/// Folds the 16 virtual lanes in `acc[..16 / LANES]` by the fixed tree with `add`.
#[inline(always)]
pub(crate) fn fold_add<S: Simd>(s: S, acc: &mut [S::V; VLANES]) -> f32 {
    let mut n = VLANES / S::LANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            acc[i] = s.add(acc[i], acc[i + n]);
        }
    }
    s.reduce_add(acc[0])
}

/// Folds the 16 virtual lanes in `acc[..16 / LANES]` by the fixed tree with `max`.
#[inline(always)]
pub(crate) fn fold_max<S: Simd>(s: S, acc: &mut [S::V; VLANES]) -> f32 {
    let mut n = VLANES / S::LANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            acc[i] = s.max(acc[i], acc[i + n]);
        }
    }
    s.reduce_max(acc[0])
}

/// A compensated (Kahan) sum in 16 virtual lanes: `sum − comp` carries about twice the
/// working precision.
#[derive(Clone, Copy)]
pub(crate) struct Kahan<S: Simd> {
    sum: [S::V; VLANES],
    comp: [S::V; VLANES],
}

impl<S: Simd> Kahan<S> {
    #[inline(always)]
    pub(crate) fn new(s: S, init: f32) -> Self {
        Kahan {
            sum: [s.splat(init); VLANES],
            comp: [s.splat(0.0); VLANES],
        }
    }
    #[inline(always)]
    pub(crate) fn add(&mut self, s: S, j: usize, v: S::V) {
        let y = s.sub(v, self.comp[j]);
        let t = s.add(self.sum[j], y);
        self.comp[j] = s.sub(s.sub(t, self.sum[j]), y);
        self.sum[j] = t;
    }
    #[inline(always)]
    pub(crate) fn total(mut self, s: S) -> f32 {
        fold_add(s, &mut self.sum) - fold_add(s, &mut self.comp)
    }

    /// The total in f64: every virtual lane's `sum − comp` (about 48 bits), folded by the
    /// same fixed tree in f64. Independent of the tier.
    #[inline(always)]
    pub(crate) fn total_f64(self, s: S) -> f64 {
        let mut sums = [0.0f32; VLANES];
        let mut comps = [0.0f32; VLANES];
        for j in 0..VLANES / S::LANES {
            s.store(&mut sums[j * S::LANES..], self.sum[j]);
            s.store(&mut comps[j * S::LANES..], self.comp[j]);
        }
        let mut lanes = [0.0f64; VLANES];
        for i in 0..VLANES {
            lanes[i] = f64::from(sums[i]) - f64::from(comps[i]);
        }
        let mut n = VLANES;
        while n > 1 {
            n /= 2;
            for i in 0..n {
                lanes[i] += lanes[i + n];
            }
        }
        lanes[0]
    }
}

/// Σ xᵢ, compensated; `-0.0` for an empty slice. A plain sum runs beside the compensated one:
/// when it is ±∞ or NaN (an infinite or NaN input, or overflow) it is the answer, since the
/// compensation term would turn ∞ − ∞ into NaN.
#[inline(always)]
pub(crate) fn sum<S: Simd>(s: S, x: &[f32]) -> f32 {
    let mut k = Kahan::new(s, -0.0);
    let mut plain = [s.splat(-0.0); VLANES];
    for_blocks!(s, x, -0.0, |j, v| {
        plain[j] = s.add(plain[j], v);
        k.add(s, j, v)
    });
    let p = fold_add(s, &mut plain);
    if p.is_finite() {
        k.total(s)
    } else {
        p
    }
}

/// The largest element; NaN if any element is NaN; −∞ for an empty slice.
#[inline(always)]
pub(crate) fn max<S: Simd>(s: S, x: &[f32]) -> f32 {
    let mut acc = [s.splat(f32::NEG_INFINITY); VLANES];
    let mut nan = s.is_nan(s.splat(0.0));
    for_blocks!(s, x, f32::NEG_INFINITY, |j, v| {
        nan = s.mask_or(nan, s.is_nan(v));
        acc[j] = s.max(v, acc[j]);
    });
    if s.any(nan) {
        return f32::NAN;
    }
    fold_max(s, &mut acc)
}

/// Σ xᵢ·yᵢ with one fused multiply-add per element (FMA tiers) in 16 virtual lanes.
#[inline(always)]
pub(crate) fn dot<S: Simd>(s: S, x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(
        x.len(),
        y.len(),
        "sigmo-kernels: dot of slices with {} and {} elements",
        x.len(),
        y.len()
    );
    let nreg = VLANES / S::LANES;
    let mut acc = [s.splat(0.0); VLANES];
    let mut xb = x.chunks_exact(VLANES);
    let mut yb = y.chunks_exact(VLANES);
    for (a, b) in (&mut xb).zip(&mut yb) {
        for (j, c) in acc.iter_mut().take(nreg).enumerate() {
            let o = j * S::LANES;
            *c = s.mul_add(s.load(&a[o..]), s.load(&b[o..]), *c);
        }
    }
    let (a, b) = (xb.remainder(), yb.remainder());
    if !a.is_empty() {
        for (j, c) in acc.iter_mut().take(nreg).enumerate() {
            *c = s.mul_add(block_reg(s, a, j, 0.0), block_reg(s, b, j, 0.0), *c);
        }
    }
    fold_add(s, &mut acc)
}

/// y ← a·x + y, one fused multiply-add per element (FMA tiers).
#[inline(always)]
pub(crate) fn axpy<S: Simd>(s: S, a: f32, x: &[f32], y: &mut [f32]) {
    let av = s.splat(a);
    map2_inplace!(s, x, y, |xv, yv| s.mul_add(av, xv, yv))
}
