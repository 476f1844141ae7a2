//! C ← α·A·B + β·C without packing, for products with a short side: few rows of C (m ≤ 16,
//! a batch of 10) or a short inner dimension (k ≤ 16, the dW = Xᵀ·δ of such a batch).
//! Packing both operands, as the blocked engines do on every call, costs there as much as
//! the product itself.
//!
//! Recipe: 4 rows of C × 2 registers of columns in 8 accumulators (enough independent FMA
//! chains to hide the FMA latency at two per cycle); for p = 0 … k−1, one load of B's row p
//! segment per register and a broadcast of A(i, p) per row, then an FMA each. C must have unit
//! column stride (its rows contiguous), and so must B, or B is at most [`SMALL_B_COPY`]
//! elements and is copied row-major into a stack buffer first (δ·Wᵀ of a small layer); A may
//! have any strides (Xᵀ included).
//! A block of fewer than 4 rows repeats its last row (computed, not stored); the last register
//! of a row is a partial one (masked on AVX-512).
//!
//! Every element of C is the sum over p in order, one fused multiply-add per term on the FMA
//! tiers, so Scalar, AVX2 and AVX-512 give the same bits. Accuracy: the ordinary recursive
//! sum, |error| ≤ k·ε·Σₚ|A(i,p)·B(p,j)| (+ one rounding for α and one for β).

use crate::gemm::{prepare, Layout, LayoutError};
use crate::simd::Simd;

/// Rows of C per block.
const RB: usize = 4;
/// Registers of columns per block.
const NR: usize = 2;

/// One small product's operands: C ← α·A·B + β·C.
#[derive(Debug)]
pub struct SmallGemm<'a> {
    /// α.
    pub alpha: f32,
    /// A's elements and layout (m × k, any strides).
    pub a: &'a [f32],
    /// A's layout.
    pub al: Layout,
    /// B's elements (k × n, unit column stride).
    pub b: &'a [f32],
    /// B's layout.
    pub bl: Layout,
    /// β; with β = 0, C is not read.
    pub beta: f32,
    /// C's elements (m × n, unit column stride).
    pub c: &'a mut [f32],
    /// C's layout.
    pub cl: Layout,
}

/// A B of at most this many elements whose rows are not contiguous (a transposed weight
/// matrix: δ·Wᵀ) is first copied into a stack buffer of this size, row-major.
pub const SMALL_B_COPY: usize = 4096;

/// Whether the unpacked engine takes these layouts: C's columns contiguous (unit column
/// stride, or one column), and B's too, or B small enough to be copied so ([`SMALL_B_COPY`]).
pub fn small_gemm_accepts(bl: Layout, cl: Layout) -> bool {
    let unit = |l: Layout| l.cols <= 1 || l.col_stride == 1;
    (unit(bl) || bl.rows.saturating_mul(bl.cols) <= SMALL_B_COPY) && unit(cl)
}

#[inline(always)]
pub(crate) fn sgemm_small<S: Simd>(s: S, p: SmallGemm<'_>) -> Result<(), LayoutError> {
    let SmallGemm {
        alpha,
        a,
        al,
        b,
        bl,
        beta,
        c,
        cl,
    } = p;
    let Some((al, bl, cl)) = prepare(al, a.len(), bl, b.len(), cl, c.len())? else {
        return Ok(());
    };
    if !small_gemm_accepts(bl, cl) {
        return Err(LayoutError(format!(
            "the unpacked GEMM needs C with contiguous rows and B so or of at most {SMALL_B_COPY} \
             elements; B is {}×{} with strides ({}, {}), C has ({}, {})",
            bl.rows, bl.cols, bl.row_stride, bl.col_stride, cl.row_stride, cl.col_stride
        )));
    }
    let (m, k, n) = (cl.rows, al.cols, cl.cols);
    // A B with strided rows (small, as checked): copied row-major first.
    let mut copy: [f32; SMALL_B_COPY];
    let (b, bl) = if bl.cols > 1 && bl.col_stride != 1 {
        copy = [0.0f32; SMALL_B_COPY];
        for p in 0..k {
            for j in 0..n {
                copy[p * n + j] = b[p * bl.row_stride + j * bl.col_stride];
            }
        }
        let packed = Layout {
            rows: k,
            cols: n,
            row_stride: n,
            col_stride: 1,
        };
        (&copy[..k * n], packed)
    } else {
        (b, bl)
    };
    if alpha == 0.0 || k == 0 {
        // A·B contributes nothing (A and B are not read): C ← β·C.
        for i in 0..m {
            let row = &mut c[i * cl.row_stride..][..n];
            if beta == 0.0 {
                row.fill(0.0);
            } else {
                row.iter_mut().for_each(|x| *x *= beta);
            }
        }
        return Ok(());
    }
    let l = S::LANES;
    let width = NR * l;
    let (va, vb) = (s.splat(alpha), s.splat(beta));
    let mut i0 = 0;
    while i0 < m {
        let rows = (m - i0).min(RB);
        // Row r of the block reads A's row i0 + min(r, rows − 1).
        let mut arow = [0usize; RB];
        for (r, x) in arow.iter_mut().enumerate() {
            *x = (i0 + r.min(rows - 1)) * al.row_stride;
        }
        let mut j0 = 0;
        while j0 < n {
            let cols = (n - j0).min(width);
            let mut acc = [[s.splat(0.0); NR]; RB];
            for p in 0..k {
                let brow = &b[p * bl.row_stride + j0..][..cols];
                // No closures here: a closure is compiled without the tier's target
                // features, and the intrinsics inside it would not inline.
                let mut bv = [s.splat(0.0); NR];
                for (q, v) in bv.iter_mut().enumerate() {
                    let lo = q * l;
                    if lo + l <= cols {
                        *v = s.load(&brow[lo..]);
                    } else if lo < cols {
                        *v = s.load_partial(&brow[lo..], 0.0);
                    }
                }
                let ac = p * al.col_stride;
                for (acc_r, &ar) in acc.iter_mut().zip(&arow) {
                    let av = s.splat(a[ar + ac]);
                    for (x, &bq) in acc_r.iter_mut().zip(&bv) {
                        *x = s.mul_add(av, bq, *x);
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(rows) {
                let crow = &mut c[(i0 + r) * cl.row_stride + j0..][..cols];
                for (q, &x) in acc_r.iter().enumerate() {
                    let lo = q * l;
                    if lo >= cols {
                        break;
                    }
                    let full = lo + l <= cols;
                    let dst = if full {
                        &mut crow[lo..lo + l]
                    } else {
                        &mut crow[lo..]
                    };
                    let y = if beta == 0.0 {
                        s.mul(va, x)
                    } else {
                        let old = if full {
                            s.load(dst)
                        } else {
                            s.load_partial(dst, 0.0)
                        };
                        s.mul_add(vb, old, s.mul(va, x))
                    };
                    if full {
                        s.store(dst, y);
                    } else {
                        s.store_partial(dst, y);
                    }
                }
            }
            j0 += cols;
        }
        i0 += rows;
    }
    Ok(())
}
