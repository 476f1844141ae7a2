//! Which engine runs a call ([`Backend::engine_for`]), and on how many threads.

use super::{Backend, MatMut, MatRef};
use sigmo_kernels::gemm::Layout;

/// The engine that actually runs a call (see [`Backend::engine_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// matrixmultiply, split over sigmo's threads above a size threshold.
    MatrixMultiply,
    /// OpenBLAS, threaded by OpenBLAS itself.
    OpenBlas,
    /// The `gemm` crate, threaded on rayon's pool by the crate itself.
    GemmCrate,
    /// sigmo's own engine (`Kernels::sgemm`): B packed into column panels (copied
    /// on each call into a buffer the thread keeps) when C has [`sigmo_kernels::gemm::PACK_MIN_ROWS`]
    /// rows or more or B's rows are strided, read in place otherwise; 4, 5 or 6 rows × 2
    /// registers per block. Every product of [`Backend::Sigmo`] whose C has contiguous rows, and on the
    /// other backends those with a short side ([`SMALL_MAX_SIDE`]) below
    /// [`PARALLEL_MIN_FLOPS`]: a batch of 10 times a weight matrix, the dW = Xᵀ·δ of such a
    /// batch, where packing both operands costs as much as the product.
    Sigmo,
}

/// A product whose m (rows of C) or k (inner dimension) is at most this runs on
/// [`Engine::Sigmo`] where its layouts allow: packing then costs as much as the product.
pub const SMALL_MAX_SIDE: usize = 16;

/// Below this many flops (2·m·n·k) a GEMM runs on one thread: waking a worker costs more.
pub const PARALLEL_MIN_FLOPS: usize = 1 << 24;

impl Backend {
    /// The engine that runs C ← α·A·B + β·C for these layouts on this backend: sigmo's
    /// engine ([`Engine::Sigmo`]) for every product with contiguous C rows on
    /// [`Backend::Sigmo`] and for short products on the others; otherwise OpenBLAS where
    /// BLAS can take the layouts (one unit stride per operand, row-major C) and runs kernels
    /// fit for this CPU ([`crate::openblas::routing`]), matrixmultiply otherwise. (Called from inside a rayon worker, OpenBLAS runs on one thread: the two
    /// pools never nest.)
    pub fn engine_for(&self, a: &MatRef<'_>, b: &MatRef<'_>, c: &MatMut<'_>) -> Engine {
        let accepts = sigmo_kernels::gemm::panel_gemm_accepts(layout_of(c));
        let short = a.rows() <= SMALL_MAX_SIDE || a.cols() <= SMALL_MAX_SIDE;
        if accepts && (*self == Backend::Sigmo || (short && flops(a, b) < PARALLEL_MIN_FLOPS)) {
            return Engine::Sigmo;
        }
        match self {
            Backend::Sigmo => Engine::MatrixMultiply,
            Backend::MatrixMultiply => Engine::MatrixMultiply,
            Backend::GemmCrate if cfg!(feature = "gemm-crate") => Engine::GemmCrate,
            Backend::GemmCrate => Engine::MatrixMultiply,
            Backend::OpenBlas => {
                #[cfg(feature = "openblas")]
                {
                    if crate::openblas::routing() != &crate::openblas::Routing::OpenBlas {
                        return Engine::MatrixMultiply;
                    }
                    let (_, al) = a.parts();
                    let (_, bl) = b.parts();
                    let cl = layout_of(c);
                    if sigmo_kernels::gemm::openblas::accepts(al, bl, cl) {
                        return Engine::OpenBlas;
                    }
                }
                let _ = (a, b, c);
                Engine::MatrixMultiply
            }
        }
    }
}

/// The threads a product of A and B runs on: sigmo's count when it is at least
/// PARALLEL_MIN_FLOPS and the caller is not itself a rayon worker, else 1.
pub(crate) fn threads_for(a: &MatRef<'_>, b: &MatRef<'_>) -> usize {
    let threads = crate::threads::num_threads();
    if threads > 1 && flops(a, b) >= PARALLEL_MIN_FLOPS && rayon::current_thread_index().is_none() {
        threads
    } else {
        1
    }
}

/// 2·m·k·n, saturating (zero-stride views can be huge).
pub(crate) fn flops(a: &MatRef<'_>, b: &MatRef<'_>) -> usize {
    2usize
        .saturating_mul(a.rows())
        .saturating_mul(a.cols())
        .saturating_mul(b.cols())
}

pub(crate) fn layout_of(c: &MatMut<'_>) -> Layout {
    Layout {
        rows: c.rows(),
        cols: c.cols(),
        row_stride: c.row_stride(),
        col_stride: c.col_stride(),
    }
}
