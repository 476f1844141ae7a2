//! C ← α·A·B + β·C, sigmo's own engine: B read from column panels (packed on each call) or,
//! for a C of few rows, in place; A never packed. Written for the products of an MLP (a batch
//! of 10 to a few hundred rows times a weight matrix, its dW = Xᵀ·δ and its δ·Wᵀ), where the
//! blocked engines' packing of both operands costs a large share of the product.
//!
//! Recipe: 4, 5 or 6 rows of C (whichever wastes the fewest) × 2 registers of columns in 8 to
//! 12 accumulators (enough independent FMA chains to hide the FMA latency at two per cycle);
//! for p = 0 … k−1, one load of B's row p segment per register and a broadcast of A(i, p)
//! per row, then an FMA each. A C at most one
//! register wide (10 classes) takes 8 rows × 1 register instead. B is first copied into panels
//! of that width (zero-padded, 64-byte aligned, in a buffer each thread keeps and reuses) when
//! C has at least [`PACK_MIN_ROWS`] rows or B's rows are strided (Wᵀ); panel by panel, one
//! panel stays in L1 while every block of rows reads it. C must have unit column stride (its
//! rows contiguous); A may have any strides (Xᵀ included).
//! A block of fewer rows repeats its last row (computed, not stored); the last register of a
//! row is a partial one (masked on AVX-512) where B is read in place.
//!
//! Every element of C is the sum over p in order, one fused multiply-add per term on the FMA
//! tiers, whatever the blocking, packing or split of C's rows: so Scalar, AVX2 and AVX-512
//! give the same bits, and so do one thread and several. Accuracy: the ordinary recursive
//! sum, |error| ≤ k·ε·Σₚ|A(i,p)·B(p,j)| (+ one rounding for α and one for β).

use crate::gemm::{scale_c, Gemm, Layout, LayoutError};
use crate::simd::Simd;

/// Rows of C per block: one of these, the one that computes the fewest rows in all (a block
/// of fewer rows repeats its last row), the taller on a tie. 4, 5 or 6 rows × 2 registers
/// are 8 to 12 accumulators (with B's 2 registers and a broadcast, within AVX2's 16); a batch
/// of 10 runs as 2 blocks of 5 instead of 4 + 4 + 2 (a fifth of the FMAs wasted).
const RBS: [usize; 3] = [6, 5, 4];

/// The block height of [`RBS`] for a C of `m` rows.
fn rows_per_block(m: usize) -> usize {
    let mut best = RBS[0];
    for &r in &RBS[1..] {
        if m.div_ceil(r) * r < m.div_ceil(best) * best {
            best = r;
        }
    }
    best
}
/// Registers of columns per block.
const NR: usize = 2;
/// Rows of C per block when C is at most one register wide (n ≤ LANES: 10 classes): one
/// register of columns, twice the rows, the same 8 accumulators.
const NARROW_RB: usize = 8;

/// Whether the engine takes a C of this layout: its columns contiguous (unit column stride,
/// or one column). A and B may have any layout (B's panels are copied from it).
pub fn panel_gemm_accepts(cl: Layout) -> bool {
    cl.cols <= 1 || cl.col_stride == 1
}

#[inline(always)]
pub(crate) fn sgemm_panels<S: Simd>(s: S, p: Gemm<'_>) -> Result<(), LayoutError> {
    let Some(Gemm {
        alpha,
        a,
        al,
        b,
        bl,
        beta,
        c,
        cl,
    }) = p.prepared()?
    else {
        return Ok(());
    };
    if !panel_gemm_accepts(cl) {
        return Err(LayoutError(format!(
            "sigmo's GEMM engine needs C with contiguous rows; C is {}×{} with strides ({}, {})",
            cl.rows, cl.cols, cl.row_stride, cl.col_stride
        )));
    }
    let (m, k, n) = (cl.rows, al.cols, cl.cols);
    if alpha == 0.0 || k == 0 {
        // A·B contributes nothing (A and B are not read): C ← β·C.
        scale_c(beta, c, cl);
        return Ok(());
    }
    let strided = bl.cols > 1 && bl.col_stride != 1;
    let run = Run {
        alpha,
        beta,
        a,
        al,
        c,
        cl,
    };
    if strided || m >= PACK_MIN_ROWS {
        // B into panels of `NR` registers' width; the buffer is this thread's, kept between
        // calls (grown to the largest B seen), so a warm caller allocates nothing.
        let panel = if n <= S::LANES {
            S::LANES
        } else {
            NR * S::LANES
        };
        let need = n.div_ceil(panel) * panel * k;
        // Taken out of the thread-local and put back (no closure around the kernel: a
        // closure is compiled without the tier's target features).
        let mut buf = PANELS.with(std::cell::Cell::take);
        // 64 bytes of slack, so that the panels can start on a cache line.
        if buf.len() < need + 16 {
            buf.resize(need + 16, 0.0);
        }
        let off = buf.as_ptr().align_offset(64).min(16);
        pack_b(s, b, bl, panel, &mut buf[off..off + need]);
        run.panels::<S>(s, &buf[off..off + need], panel, k, n);
        PANELS.with(|cell| cell.set(buf));
        return Ok(());
    }
    run.rows::<S>(s, b, bl.row_stride, k, n);
    Ok(())
}

/// A C of at least this many rows reads B from panels (packed on each call): below, the
/// copy costs more than the unaligned loads it saves (measured by `examples/speed.rs gemm`).
pub const PACK_MIN_ROWS: usize = 24;

thread_local! {
    /// Each thread's buffer for B's panels ([`sgemm_panels`]).
    static PANELS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Grows the calling thread's panel buffer to hold a B of `k × n` at any tier, so that no
/// product whose B is at most that large allocates on this thread from then on. (A thread
/// otherwise grows its buffer at the first product larger than any before: a trainer calls
/// this on each of its workers at the start, so that no batch allocates.)
pub fn reserve_panels(k: usize, n: usize) {
    // The widest panel of any tier is 32 columns (two AVX-512 registers), plus the slack for
    // alignment.
    let need = n
        .div_ceil(32)
        .saturating_mul(32)
        .saturating_mul(k)
        .saturating_add(16);
    let mut buf = PANELS.with(std::cell::Cell::take);
    if buf.len() < need {
        buf.resize(need, 0.0);
    }
    PANELS.with(|cell| cell.set(buf));
}

/// Copies B (k × n) into `out` as column panels of `w` columns (a whole number of
/// registers), panel q holding rows 0 … k−1 of columns q·w … q·w + w − 1 one after the
/// other, zero beyond column n. Rows of a contiguous B are copied register by register
/// (inline: a `copy_from_slice` per 128-byte row segment was a library call each); a strided
/// B (Wᵀ) is gathered element by element.
#[inline(always)]
fn pack_b<S: Simd>(s: S, b: &[f32], bl: Layout, w: usize, out: &mut [f32]) {
    let (k, n, l) = (bl.rows, bl.cols, S::LANES);
    for (q, panel) in out.chunks_exact_mut(k * w).enumerate() {
        let j0 = q * w;
        let cols = (n - j0).min(w);
        let contiguous = bl.col_stride == 1 || cols == 1;
        for (p, dst) in panel.chunks_exact_mut(w).enumerate() {
            let row = p * bl.row_stride + j0 * bl.col_stride;
            if contiguous {
                let src = &b[row..row + cols];
                for (r, d) in dst.chunks_exact_mut(l).enumerate() {
                    let lo = r * l;
                    let v = if lo + l <= cols {
                        s.load(&src[lo..])
                    } else if lo < cols {
                        s.load_partial(&src[lo..], 0.0)
                    } else {
                        s.splat(0.0)
                    };
                    s.store(d, v);
                }
            } else {
                for (j, d) in dst[..cols].iter_mut().enumerate() {
                    *d = b[row + j * bl.col_stride];
                }
                dst[cols..].fill(0.0);
            }
        }
    }
}

/// The parts of a call that every block reads: α, β, A and C.
struct Run<'a> {
    alpha: f32,
    beta: f32,
    a: &'a [f32],
    al: Layout,
    c: &'a mut [f32],
    cl: Layout,
}

impl Run<'_> {
    /// C from B's panels (`pack_b`, width `w` = NR registers): panel by panel, so that one
    /// panel stays in L1 while every block of rows reads it; full, aligned loads.
    #[inline(always)]
    fn panels<S: Simd>(mut self, s: S, panels: &[f32], w: usize, k: usize, n: usize) {
        for (q, panel) in panels.chunks_exact(k * w).enumerate() {
            let j0 = q * w;
            let cols = (n - j0).min(w);
            if w == S::LANES {
                self.column_block::<S, NARROW_RB, 1, true>(s, panel, w, k, j0, cols);
            } else {
                match rows_per_block(self.cl.rows) {
                    6 => self.column_block::<S, 6, NR, true>(s, panel, w, k, j0, cols),
                    5 => self.column_block::<S, 5, NR, true>(s, panel, w, k, j0, cols),
                    _ => self.column_block::<S, 4, NR, true>(s, panel, w, k, j0, cols),
                }
            }
        }
    }

    /// C from B in place (`b` with row stride `rs`, unit column stride): block row by
    /// block row, loads masked at the right edge.
    #[inline(always)]
    fn rows<S: Simd>(mut self, s: S, b: &[f32], rs: usize, k: usize, n: usize) {
        let width = NR * S::LANES;
        let rb = rows_per_block(self.cl.rows);
        let mut j0 = 0;
        while j0 < n {
            let cols = (n - j0).min(width);
            let b = &b[j0..];
            match rb {
                6 => self.column_block::<S, 6, NR, false>(s, b, rs, k, j0, cols),
                5 => self.column_block::<S, 5, NR, false>(s, b, rs, k, j0, cols),
                _ => self.column_block::<S, 4, NR, false>(s, b, rs, k, j0, cols),
            }
            j0 += cols;
        }
    }

    /// Columns j0 … j0 + cols − 1 of C, every block of R rows, from `b`: row p of B's
    /// columns at `b[p·rs..]` (`PADDED`: `NR` full registers there; else `cols` elements).
    #[inline(always)]
    fn column_block<S: Simd, const R: usize, const Q: usize, const PADDED: bool>(
        &mut self,
        s: S,
        b: &[f32],
        rs: usize,
        k: usize,
        j0: usize,
        cols: usize,
    ) {
        let l = S::LANES;
        let (m, al) = (self.cl.rows, self.al);
        let mut i0 = 0;
        while i0 < m {
            let rows = (m - i0).min(R);
            // Row r of the block reads A's row i0 + min(r, rows − 1).
            let mut arow = [0usize; R];
            for (r, x) in arow.iter_mut().enumerate() {
                *x = (i0 + r.min(rows - 1)) * al.row_stride;
            }
            let mut acc = [[s.splat(0.0); Q]; R];
            for p in 0..k {
                let brow = &b[p * rs..];
                // No closures here: a closure is compiled without the tier's target
                // features, and the intrinsics inside it would not inline.
                let mut bv = [s.splat(0.0); Q];
                for (q, v) in bv.iter_mut().enumerate() {
                    let lo = q * l;
                    if PADDED || lo + l <= cols {
                        *v = s.load(&brow[lo..]);
                    } else if lo < cols {
                        *v = s.load_partial(&brow[lo..cols], 0.0);
                    }
                }
                let ac = p * al.col_stride;
                for (acc_r, &ar) in acc.iter_mut().zip(&arow) {
                    let av = s.splat(self.a[ar + ac]);
                    for (x, &bq) in acc_r.iter_mut().zip(&bv) {
                        *x = s.mul_add(av, bq, *x);
                    }
                }
            }
            self.store::<S, R, Q>(s, &acc, i0, rows, j0, cols);
            i0 += rows;
        }
    }

    /// C(i0 + r, j0 …) ← α·acc[r] + β·C(i0 + r, j0 …) for the block's `rows` rows.
    #[inline(always)]
    fn store<S: Simd, const R: usize, const Q: usize>(
        &mut self,
        s: S,
        acc: &[[S::V; Q]; R],
        i0: usize,
        rows: usize,
        j0: usize,
        cols: usize,
    ) {
        let l = S::LANES;
        let (va, vb) = (s.splat(self.alpha), s.splat(self.beta));
        for (r, acc_r) in acc.iter().enumerate().take(rows) {
            let crow = &mut self.c[(i0 + r) * self.cl.row_stride + j0..][..cols];
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
                let y = if self.beta == 0.0 {
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
    }
}
