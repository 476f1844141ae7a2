//! The calls into each engine on the views' parts, and matrixmultiply's threading.

use super::route::threads_for;
use super::{MatMut, MatRef, ShapeError};
use sigmo_kernels::gemm::{sgemm_matrixmultiply, Gemm};

/// Runs a raw engine entry point of `sigmo_kernels::gemm` on the views' parts.
pub(crate) fn raw(
    engine: impl FnOnce(Gemm<'_>) -> Result<(), sigmo_kernels::gemm::LayoutError>,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
) -> Result<(), ShapeError> {
    let (a, al) = a.parts();
    let (b, bl) = b.parts();
    let (c, cl) = c.parts();
    engine(Gemm {
        alpha,
        a,
        al,
        b,
        bl,
        beta,
        c,
        cl,
    })
    .map_err(|e| ShapeError::new(e.to_string()))
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

/// OpenBLAS. Its thread count is one process-wide setting. It stays at 1; a call large enough
/// to be threaded (≥ PARALLEL_MIN_FLOPS; below that its threading loses, measured 2× slower
/// at 64×784·784×128) raises it to sigmo's count for the call and sets it back. Both happen
/// under the lock that every OpenBLAS call of sigmo-kernels holds (exclusively for a threaded
/// call; one-thread calls share it), and so does
/// `sigmo_kernels::gemm::openblas::set_num_threads`: no call ever sees the count change.
#[cfg(feature = "openblas")]
pub(crate) fn blas(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| sigmo_kernels::gemm::openblas::set_num_threads(1));
    let threads = threads_for(&a, &b);
    raw(
        |p| sigmo_kernels::gemm::openblas::sgemm(p, Some(threads)),
        alpha,
        a,
        b,
        beta,
        c,
    )
}

/// The `gemm` crate, on sigmo's threads above PARALLEL_MIN_FLOPS (outside rayon workers).
#[cfg(feature = "gemm-crate")]
pub(crate) fn gemm_crate(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    let t = threads_for(&a, &b);
    raw(
        |p| sigmo_kernels::gemm::sgemm_gemm_crate(p, t),
        alpha,
        a,
        b,
        beta,
        c,
    )
}

#[cfg(not(feature = "gemm-crate"))]
pub(crate) fn gemm_crate(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    mm_threaded(alpha, a, b, beta, c)
}

#[cfg(not(feature = "openblas"))]
pub(crate) fn blas(
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
pub(crate) fn mm_threaded(
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
            |p| sigmo_kernels::gemm::sgemm_matrixmultiply_column_panels(p, threads),
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

/// sigmo's engine at the tier of `k`, split by rows of C over sigmo's threads when large
/// enough (each worker packs its own copy of B; every element of C is computed the same way
/// whatever the split, so the bits do not depend on the thread count).
pub(crate) fn sigmo(
    k: &sigmo_kernels::Kernels,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
) -> Result<(), ShapeError> {
    let run = |a: MatRef<'_>, c: MatMut<'_>| raw(|p| k.sgemm(p), alpha, a, b, beta, c);
    let threads = threads_for(&a, &b);
    if threads > 1 && c.rows() >= 2 * sigmo_kernels::gemm::PACK_MIN_ROWS {
        let per = c.rows().div_ceil(threads).next_multiple_of(4);
        return split_rows_run(c, per, &a, &|a_part, c_part| run(a_part, c_part));
    }
    run(a, c)
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
