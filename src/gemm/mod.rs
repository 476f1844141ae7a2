//! GEMM: C ← α·A·B + β·C on strided f32 views, on a backend chosen by cargo feature (and at run
//! time by `SIGMO_BACKEND`), with a fused bias + activation epilogue for layers.
//!
//! ```
//! use sigmo::gemm::{Backend, MatMut, MatRef};
//! use sigmo::kernels::Kernels;
//!
//! let a = [1.0, 2.0, 3.0, 4.0];           // 2×2
//! let b = [5.0, 6.0, 7.0, 8.0];           // 2×2
//! let mut c = [1.0f32; 4];
//! let (be, k) = (Backend::default(), Kernels::best()); // chosen once, passed down
//! // C ← 1·A·B + 0·C
//! be.gemm(&k, 1.0, MatRef::new(&a, 2, 2)?, MatRef::new(&b, 2, 2)?, 0.0, MatMut::new(&mut c, 2, 2)?)?;
//! assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
//! // C ← Aᵀ·B + C, transposing by view
//! be.gemm(&k, 1.0, MatRef::new(&a, 2, 2)?.t(), MatRef::new(&b, 2, 2)?, 1.0, MatMut::new(&mut c, 2, 2)?)?;
//! assert_eq!(c, [19.0 + 26.0, 22.0 + 30.0, 43.0 + 38.0, 50.0 + 44.0]);
//! # Ok::<(), sigmo::gemm::ShapeError>(())
//! ```
//!
//! Files, one concern each: `backend.rs` (the backends, their names and `SIGMO_BACKEND`),
//! `route.rs` (which engine runs a call, and on how many threads), `engines.rs` (the calls
//! into each engine, matrixmultiply's threading), `epilogue.rs` (C ← act(A·B + bias)),
//! `check.rs` (the self-check `sigmo info` runs), `mat.rs` (the strided views). OpenBLAS's
//! routing lives in `crate::openblas`, its thread-count lock in `sigmo_kernels::gemm::openblas`.

mod backend;
mod check;
mod engines;
mod epilogue;
mod mat;
mod route;

pub use backend::{Backend, BackendError, BACKEND_ENV};
pub use check::self_check;
pub use mat::{MatMut, MatRef};
pub use route::{Engine, PARALLEL_MIN_FLOPS, SMALL_MAX_SIDE};
pub use sigmo_kernels::Activation;

use sigmo_kernels::Kernels;
use std::fmt;

/// A shape or layout that does not fit; the message names the shapes involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    message: String,
}

impl ShapeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ShapeError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ShapeError {}

impl Backend {
    /// C ← α·A·B + β·C. Any combination of transposed views and strides. With β = 0, C is
    /// never read, so NaN or garbage in C stays out of the result. `k` is the kernel tier
    /// sigmo's own engine ([`Engine::Sigmo`]) runs at; the caller chooses it once (the
    /// other engines have their own dispatch).
    ///
    /// # Errors
    /// When the shapes do not chain (A is m×k, B k×n, C m×n); the message names all three.
    pub fn gemm(
        &self,
        k: &Kernels,
        alpha: f32,
        a: MatRef<'_>,
        b: MatRef<'_>,
        beta: f32,
        c: MatMut<'_>,
    ) -> Result<(), ShapeError> {
        check_shapes("gemm", &a, &b, &c)?;
        if alpha == 0.0 {
            // A and B are not read (as BLAS specifies): NaN or ∞ in them cannot reach C.
            let mut c = c;
            scale(beta, &mut c);
            return Ok(());
        }
        let engine = self.engine_for(&a, &b, &c);
        let p = engines::Product {
            alpha,
            a,
            b,
            beta,
            c,
        };
        match engine {
            Engine::MatrixMultiply => engines::mm_threaded(p),
            Engine::OpenBlas => engines::blas(p),
            Engine::GemmCrate => engines::gemm_crate(p),
            Engine::Sigmo => engines::sigmo(k, p),
        }
    }
}

/// C ← β·C, never reading C when β = 0 (`sigmo_kernels::gemm::scale_c` on the view's parts).
pub(crate) fn scale(beta: f32, c: &mut MatMut<'_>) {
    let (data, cl) = c.parts();
    sigmo_kernels::gemm::scale_c(beta, data, cl);
}

pub(crate) fn check_shapes(
    what: &str,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    c: &MatMut<'_>,
) -> Result<(), ShapeError> {
    if a.cols() != b.rows() || a.rows() != c.rows() || b.cols() != c.cols() {
        return Err(ShapeError::new(format!(
            "{what}: A is {}, B is {}, C is {}: need A m×k, B k×n, C m×n",
            a.shape(),
            b.shape(),
            c.shape()
        )));
    }
    Ok(())
}
