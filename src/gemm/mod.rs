//! GEMM: C ← α·A·B + β·C on strided f32 views, on a backend chosen by cargo feature (and at run
//! time by `SIGMO_BACKEND`), with a fused bias + activation epilogue for layers.
//!
//! ```
//! use sigmo::gemm::{Backend, MatMut, MatRef};
//!
//! let a = [1.0, 2.0, 3.0, 4.0];           // 2×2
//! let b = [5.0, 6.0, 7.0, 8.0];           // 2×2
//! let mut c = [1.0f32; 4];
//! let be = Backend::default();
//! // C ← 1·A·B + 0·C
//! be.gemm(1.0, MatRef::new(&a, 2, 2)?, MatRef::new(&b, 2, 2)?, 0.0, MatMut::new(&mut c, 2, 2)?)?;
//! assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
//! // C ← Aᵀ·B + C, transposing by view
//! be.gemm(1.0, MatRef::new(&a, 2, 2)?.t(), MatRef::new(&b, 2, 2)?, 1.0, MatMut::new(&mut c, 2, 2)?)?;
//! assert_eq!(c, [19.0 + 26.0, 22.0 + 30.0, 43.0 + 38.0, 50.0 + 44.0]);
//! # Ok::<(), sigmo::gemm::ShapeError>(())
//! ```

mod mat;

pub use mat::{MatMut, MatRef};
pub use sigmo_kernels::Activation;

use sigmo_kernels::gemm::{sgemm_matrixmultiply, Layout};
use sigmo_kernels::Kernels;
use std::fmt;

/// Environment variable that picks the backend: `matrixmultiply` or `openblas`.
pub const BACKEND_ENV: &str = "SIGMO_BACKEND";

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

/// A backend name that is unknown, or not compiled into this build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// Which library multiplies the matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The `matrixmultiply` crate (pure Rust, AVX-512 kernels since 0.3.11); always compiled.
    MatrixMultiply,
    /// OpenBLAS through CBLAS (cargo feature `openblas`; Debian: `libopenblas-dev`).
    OpenBlas,
    /// The `gemm` crate, the engine under faer and candle (cargo feature `gemm-crate`), kept
    /// for comparison (0.19 with its `x86-v4` feature: AVX-512 kernels on stable Rust).
    GemmCrate,
}

/// The engine that actually runs a call (see [`Backend::engine_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// matrixmultiply, split over sigmo's threads above a size threshold.
    MatrixMultiply,
    /// OpenBLAS, threaded by OpenBLAS itself.
    OpenBlas,
    /// The `gemm` crate, threaded on rayon's pool by the crate itself.
    GemmCrate,
    /// sigmo's unpacked engine (`Kernels::sgemm_small`), on every backend, for products with
    /// a short side ([`SMALL_MAX_SIDE`]) below [`PARALLEL_MIN_FLOPS`] whose B and C have
    /// contiguous rows: a batch of 10 times a weight matrix, or the dW = Xᵀ·δ of such a batch.
    Small,
}

/// A product whose m (rows of C) or k (inner dimension) is at most this runs on
/// [`Engine::Small`] where its layouts allow: packing then costs as much as the product.
pub const SMALL_MAX_SIDE: usize = 16;

/// Below this many flops (2·m·n·k) a GEMM runs on one thread: waking a worker costs more.
pub const PARALLEL_MIN_FLOPS: usize = 1 << 24;

impl Default for Backend {
    /// OpenBLAS when the `openblas` feature is on, matrixmultiply otherwise.
    fn default() -> Self {
        if cfg!(feature = "openblas") {
            Backend::OpenBlas
        } else {
            Backend::MatrixMultiply
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Backend {
    /// Every backend, compiled or not.
    pub const ALL: [Backend; 3] = [
        Backend::MatrixMultiply,
        Backend::OpenBlas,
        Backend::GemmCrate,
    ];

    /// The name `SIGMO_BACKEND` uses.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::MatrixMultiply => "matrixmultiply",
            Backend::OpenBlas => "openblas",
            Backend::GemmCrate => "gemm",
        }
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(&self) -> bool {
        match self {
            Backend::MatrixMultiply => true,
            Backend::OpenBlas => cfg!(feature = "openblas"),
            Backend::GemmCrate => cfg!(feature = "gemm-crate"),
        }
    }

    /// The backends this build contains.
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_compiled())
            .collect()
    }

    /// Parses a backend name.
    ///
    /// # Errors
    /// An unknown name, or a backend this build lacks (with the feature that adds it).
    pub fn from_name(name: &str) -> Result<Backend, BackendError> {
        let b = match name.trim().to_ascii_lowercase().as_str() {
            "matrixmultiply" | "mm" => Backend::MatrixMultiply,
            "openblas" | "blas" => Backend::OpenBlas,
            "gemm" | "gemm-crate" => Backend::GemmCrate,
            _ => {
                return Err(BackendError(format!(
                    "unknown GEMM backend {name:?}; use one of: matrixmultiply, openblas, gemm"
                )))
            }
        };
        if !b.is_compiled() {
            return Err(BackendError(format!(
                "GEMM backend {b} is not compiled into this build (build with --features {}); available: {}",
                if b == Backend::GemmCrate { "gemm-crate" } else { "openblas" },
                Backend::available().iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(b)
    }

    /// `SIGMO_BACKEND` if set (it must name a compiled backend), otherwise the default.
    ///
    /// # Errors
    /// As [`Backend::from_name`], naming the variable.
    pub fn from_env() -> Result<Backend, BackendError> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                Backend::from_name(&v).map_err(|e| BackendError(format!("{BACKEND_ENV}: {e}")))
            }
            _ => Ok(Backend::default()),
        }
    }

    /// The engine that runs C ← α·A·B + β·C for these layouts on this backend: sigmo's
    /// unpacked engine for short products ([`Engine::Small`]); otherwise OpenBLAS where
    /// BLAS can take the layouts (one unit stride per operand, row-major C) and runs kernels
    /// fit for this CPU ([`crate::openblas::routing`]), matrixmultiply otherwise. (Called from inside a rayon worker, OpenBLAS runs on one thread: the two
    /// pools never nest.)
    pub fn engine_for(&self, a: &MatRef<'_>, b: &MatRef<'_>, c: &MatMut<'_>) -> Engine {
        let short = a.rows() <= SMALL_MAX_SIDE || a.cols() <= SMALL_MAX_SIDE;
        if short
            && flops(a, b) < PARALLEL_MIN_FLOPS
            && sigmo_kernels::gemm::small_gemm_accepts(b.parts().1, layout_of(c))
        {
            return Engine::Small;
        }
        match self {
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

    /// C ← α·A·B + β·C. Any combination of transposed views and strides. With β = 0, C is
    /// never read, so NaN or garbage in C stays out of the result.
    ///
    /// # Errors
    /// When the shapes do not chain (A is m×k, B k×n, C m×n); the message names all three.
    pub fn gemm(
        &self,
        alpha: f32,
        a: MatRef<'_>,
        b: MatRef<'_>,
        beta: f32,
        c: MatMut<'_>,
    ) -> Result<(), ShapeError> {
        let k = Kernels::try_best().map_err(|e| ShapeError::new(format!("gemm: {e}")))?;
        self.gemm_with(&k, alpha, a, b, beta, c)
    }

    /// As [`Backend::gemm`], with sigmo's own engine ([`Engine::Small`]) at the tier of `k`
    /// (what the network's workspace calls: the tier is chosen once, by the caller).
    ///
    /// # Errors
    /// As [`Backend::gemm`].
    pub fn gemm_with(
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
        match self.engine_for(&a, &b, &c) {
            Engine::MatrixMultiply => mm_threaded(alpha, a, b, beta, c),
            Engine::OpenBlas => blas(alpha, a, b, beta, c),
            Engine::GemmCrate => gemm_crate(alpha, a, b, beta, c),
            Engine::Small => raw(
                |alpha, a, al, b, bl, beta, c, cl| {
                    k.sgemm_small(sigmo_kernels::gemm::SmallGemm {
                        alpha,
                        a,
                        al,
                        b,
                        bl,
                        beta,
                        c,
                        cl,
                    })
                },
                alpha,
                a,
                b,
                beta,
                c,
            ),
        }
    }

    /// C ← act(A·B + bias), the bias added to every row. The bias and the activation are
    /// applied to each block of rows of C right after it is computed, while it is still in
    /// cache, rather than in passes over the whole of C.
    ///
    /// ```
    /// use sigmo::gemm::{Activation, Backend, MatMut, MatRef};
    ///
    /// let x = [1.0, -2.0];                     // 1×2
    /// let w = [1.0, 0.0, 0.0, 1.0];            // 2×2
    /// let mut y = [0.0f32; 2];
    /// Backend::default().gemm_bias_act(
    ///     MatRef::new(&x, 1, 2)?, MatRef::new(&w, 2, 2)?, &[0.5, 0.5], Activation::Relu,
    ///     MatMut::new(&mut y, 1, 2)?,
    /// )?;
    /// assert_eq!(y, [1.5, 0.0]);
    /// # Ok::<(), sigmo::gemm::ShapeError>(())
    /// ```
    ///
    /// # Errors
    /// When the shapes do not chain, or `bias` does not have one element per column of C.
    pub fn gemm_bias_act(
        &self,
        a: MatRef<'_>,
        b: MatRef<'_>,
        bias: &[f32],
        act: Activation,
        c: MatMut<'_>,
    ) -> Result<(), ShapeError> {
        let k = Kernels::try_best().map_err(|e| ShapeError::new(format!("gemm_bias_act: {e}")))?;
        self.gemm_bias_act_with(&k, a, b, bias, act, c)
    }

    /// As [`Backend::gemm_bias_act`], with the epilogue at the tier of `k` (what the
    /// network's workspace and the trainer call: the tier is chosen once, by the caller).
    ///
    /// # Errors
    /// As [`Backend::gemm_bias_act`].
    pub fn gemm_bias_act_with(
        &self,
        k: &Kernels,
        a: MatRef<'_>,
        b: MatRef<'_>,
        bias: &[f32],
        act: Activation,
        mut c: MatMut<'_>,
    ) -> Result<(), ShapeError> {
        check_shapes("gemm_bias_act", &a, &b, &c)?;
        if bias.len() != c.cols() {
            return Err(ShapeError::new(format!(
                "gemm_bias_act: bias has {} elements but C is {} (one per column needed)",
                bias.len(),
                c.shape()
            )));
        }
        let (rows, cols) = (c.rows(), c.cols());
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let block = epilogue_block_rows(cols);
        let mut start = 0;
        let mut rest = c.reborrow();
        while start < rows {
            let (mut blk, tail) = match rest.split_rows((rows - start).min(block)) {
                Ok(p) => p,
                Err(whole) => (whole, MatMut::new(&mut [], 0, 0).expect("empty view")),
            };
            let blk_rows = blk.rows();
            // C_blk ← A_blk·B (itself split over the threads when large enough), then
            // C_blk ← act(C_blk + bias) in one pass while the block is in cache.
            let a_blk = a.rows_range(start, start + blk_rows);
            self.gemm_with(k, 1.0, a_blk, b, 0.0, blk.reborrow())?;
            bias_activate_rows(k, &mut blk, bias, act);
            start += blk_rows;
            rest = tail;
        }
        Ok(())
    }
}

/// Runs a few products on `backend` (plain, transposed and strided operands, odd sizes)
/// against an f64 reference and returns the largest error as a fraction of the allowed
/// 2(K+2)·ε·(|A||B|)ᵢⱼ; `sigmo info` prints it, so that the kernels OpenBLAS actually loaded
/// (after any `OPENBLAS_CORETYPE` choice) are checked, not assumed.
///
/// # Errors
/// When a product is out of tolerance, with the shape and the error.
pub fn self_check(backend: Backend) -> Result<f64, String> {
    let mut seed = 0x9E37_79B9u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let mut worst = 0.0f64;
    for &(m, k, n, ta, tb) in &[
        (67, 129, 35, false, false),
        (64, 256, 96, true, false),
        (33, 517, 65, false, true),
        (128, 128, 128, true, true),
    ] {
        let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
        let av = if ta {
            MatRef::new(&a, k, m).map(|v| v.t())
        } else {
            MatRef::new(&a, m, k)
        }
        .map_err(|e| e.to_string())?;
        let bv = if tb {
            MatRef::new(&b, n, k).map(|v| v.t())
        } else {
            MatRef::new(&b, k, n)
        }
        .map_err(|e| e.to_string())?;
        let mut c = vec![f32::NAN; m * n];
        backend
            .gemm(
                1.0,
                av,
                bv,
                0.0,
                MatMut::new(&mut c, m, n).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let x = f64::from(av.get(i, p).unwrap_or(f32::NAN))
                        * f64::from(bv.get(p, j).unwrap_or(f32::NAN));
                    s += x;
                    mag += x.abs();
                }
                let tol = 2.0 * (k as f64 + 2.0) * f64::from(f32::EPSILON) * mag + 1e-30;
                let e = (f64::from(c[i * n + j]) - s).abs() / tol;
                if e.is_nan() || e > 1.0 {
                    return Err(format!(
                        "{backend}: {m}×{k}·{k}×{n} gives C[{i},{j}] = {}, want {s}",
                        c[i * n + j]
                    ));
                }
                worst = worst.max(e);
            }
        }
    }
    Ok(worst)
}

/// Rows per epilogue block: about 1 MiB of C, which stays in L2 between the GEMM and the
/// activation. Each block is its own GEMM call and repacks B, so blocks must not be small: at
/// 32 rows the repacking cost a third of the time (measured), at 256 it is a few percent.
fn epilogue_block_rows(cols: usize) -> usize {
    ((1 << 20) / 4 / cols.max(1)).max(64)
}

/// The threads a product of A and B runs on: sigmo's count when it is at least
/// PARALLEL_MIN_FLOPS and the caller is not itself a rayon worker, else 1.
fn threads_for(a: &MatRef<'_>, b: &MatRef<'_>) -> usize {
    let threads = crate::threads::num_threads();
    if threads > 1 && flops(a, b) >= PARALLEL_MIN_FLOPS && rayon::current_thread_index().is_none() {
        threads
    } else {
        1
    }
}

/// 2·m·k·n, saturating (zero-stride views can be huge).
fn flops(a: &MatRef<'_>, b: &MatRef<'_>) -> usize {
    2usize
        .saturating_mul(a.rows())
        .saturating_mul(a.cols())
        .saturating_mul(b.cols())
}

/// C ← β·C, never reading C when β = 0.
fn scale(beta: f32, c: &mut MatMut<'_>) {
    let (rows, cols, rs, cs) = (c.rows(), c.cols(), c.row_stride(), c.col_stride());
    let (data, _) = c.parts();
    for i in 0..rows {
        for j in 0..cols {
            let p = i * rs + j * cs;
            data[p] = if beta == 0.0 { 0.0 } else { beta * data[p] };
        }
    }
}

fn check_shapes(
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

fn layout_of(c: &MatMut<'_>) -> Layout {
    Layout {
        rows: c.rows(),
        cols: c.cols(),
        row_stride: c.row_stride(),
        col_stride: c.col_stride(),
    }
}

/// Calls a raw engine entry point of `sigmo_kernels::gemm` on the views' parts.
fn raw<F>(
    engine: F,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
) -> Result<(), ShapeError>
where
    F: FnOnce(
        f32,
        &[f32],
        Layout,
        &[f32],
        Layout,
        f32,
        &mut [f32],
        Layout,
    ) -> Result<(), sigmo_kernels::gemm::LayoutError>,
{
    let (ad, al) = a.parts();
    let (bd, bl) = b.parts();
    let (cd, cl) = c.parts();
    engine(alpha, ad, al, bd, bl, beta, cd, cl).map_err(|e| ShapeError::new(e.to_string()))
}

fn mm(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    raw(sgemm_matrixmultiply, alpha, a, b, beta, c)
}

#[cfg(feature = "openblas")]
fn blas(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    // OpenBLAS's thread count is one process-wide setting. It stays at 1; a call large enough
    // to be threaded (≥ PARALLEL_MIN_FLOPS; below that its threading loses, measured 2× slower
    // at 64×784·784×128) raises it to sigmo's count for the call and sets it back. Both happen
    // under the lock that every OpenBLAS call of sigmo-kernels holds (exclusively for a
    // threaded call; one-thread calls share it), and so does
    // `sigmo_kernels::gemm::openblas::set_num_threads`: no call ever sees the count change.
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| sigmo_kernels::gemm::openblas::set_num_threads(1));
    let threads = threads_for(&a, &b);
    raw(
        |alpha, ad, al, bd, bl, beta, cd, cl| {
            sigmo_kernels::gemm::openblas::sgemm_threads(
                threads, alpha, ad, al, bd, bl, beta, cd, cl,
            )
        },
        alpha,
        a,
        b,
        beta,
        c,
    )
}

/// The `gemm` crate, on sigmo's threads above PARALLEL_MIN_FLOPS (outside rayon workers).
#[cfg(feature = "gemm-crate")]
fn gemm_crate(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    let t = threads_for(&a, &b);
    raw(
        |alpha, ad, al, bd, bl, beta, cd, cl| {
            sigmo_kernels::gemm::sgemm_gemm_crate(alpha, ad, al, bd, bl, beta, cd, cl, t)
        },
        alpha,
        a,
        b,
        beta,
        c,
    )
}

#[cfg(not(feature = "gemm-crate"))]
fn gemm_crate(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    mm_threaded(alpha, a, b, beta, c)
}

#[cfg(not(feature = "openblas"))]
fn blas(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    mm(alpha, a, b, beta, c)
}

/// matrixmultiply over sigmo's threads when large enough: C split by columns when B is the
/// larger operand (each worker then packs all of A and its own part of B), by rows otherwise
/// (each packs all of B and its part of A). Measured at A·Wᵀ 256×1024·1024×784: splitting by
/// rows made both workers pack the whole 3 MiB Wᵀ.
fn mm_threaded(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    let threads = threads_for(&a, &b);
    let b_larger = b.rows() * b.cols() > a.rows() * a.cols();
    if threads > 1 && b_larger && c.cols() >= 2 * 16 {
        return raw(
            |alpha, ad, al, bd, bl, beta, cd, cl| {
                sigmo_kernels::gemm::sgemm_matrixmultiply_column_panels(
                    alpha, ad, al, bd, bl, beta, cd, cl, threads,
                )
            },
            alpha,
            a,
            b,
            beta,
            c,
        );
    }
    if threads > 1 && c.rows() >= 2 * 16 {
        let per = c.rows().div_ceil(threads).next_multiple_of(16);
        return split_rows_run(c, per, &a, &|a_part, c_part| {
            mm(alpha, a_part, b, beta, c_part)
        });
    }
    mm(alpha, a, b, beta, c)
}

/// Runs `f` on panels of `per` rows of C (and the matching rows of A) on rayon's pool, when C's
/// rows are separate in memory; on the whole otherwise.
fn split_rows_run(
    c: MatMut<'_>,
    per: usize,
    a: &MatRef<'_>,
    f: &(dyn Fn(MatRef<'_>, MatMut<'_>) -> Result<(), ShapeError> + Sync),
) -> Result<(), ShapeError> {
    let mut panels = Vec::new();
    let mut rest = c;
    let mut start = 0;
    loop {
        let rows = rest.rows();
        if rows <= per {
            panels.push((start, rest));
            break;
        }
        match rest.split_rows(per) {
            Ok((top, bottom)) => {
                panels.push((start, top));
                start += per;
                rest = bottom;
            }
            Err(whole) => {
                panels.push((start, whole));
                break;
            }
        }
    }
    use rayon::prelude::*;
    panels
        .into_par_iter()
        .map(|(start, panel)| f(a.rows_range(start, start + panel.rows()), panel))
        .collect::<Result<Vec<()>, ShapeError>>()
        .map(|_| ())
}

fn bias_activate_rows(k: &Kernels, c: &mut MatMut<'_>, bias: &[f32], act: Activation) {
    let rows = c.rows();
    if rows == 0 || c.cols() == 0 {
        return;
    }
    if c.col_stride() == 1 || c.cols() <= 1 {
        for i in 0..rows {
            if let Some(row) = c.row_mut(i) {
                k.bias_activate_inplace(row, bias, act);
            }
        }
    } else {
        // Strided rows: gather, apply, scatter.
        let (cols, rs, cs) = (c.cols(), c.row_stride(), c.col_stride());
        let (data, _) = c.parts();
        let mut row = vec![0.0f32; cols];
        for i in 0..rows {
            for (j, v) in row.iter_mut().enumerate() {
                *v = data[i * rs + j * cs];
            }
            k.bias_activate_inplace(&mut row, bias, act);
            for (j, v) in row.iter().enumerate() {
                data[i * rs + j * cs] = *v;
            }
        }
    }
}
