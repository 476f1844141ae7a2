//! The calls into each engine on the views' parts, and the threading of matrixmultiply and
//! sigmo's engine.

use super::route::threads_for;
use super::{MatMut, MatRef, ShapeError};
use sigmo_kernels::gemm::{sgemm_matrixmultiply, Gemm, LayoutError};

/// One product as views, C ← α·A·B + β·C, with shapes already checked: what every engine
/// function takes.
pub(crate) struct Product<'a> {
    pub alpha: f32,
    pub a: MatRef<'a>,
    pub b: MatRef<'a>,
    pub beta: f32,
    pub c: MatMut<'a>,
}

/// Runs a raw engine entry point of `sigmo_kernels::gemm` on the views' parts.
fn raw(
    engine: impl FnOnce(Gemm<'_>) -> Result<(), LayoutError>,
    p: Product<'_>,
) -> Result<(), ShapeError> {
    let Product {
        alpha,
        a,
        b,
        beta,
        mut c,
    } = p;
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

fn mm(p: Product<'_>) -> Result<(), ShapeError> {
    raw(sgemm_matrixmultiply, p)
}

/// OpenBLAS. Its thread count is one process-wide setting. It stays at 1; a call large enough
/// to be threaded (≥ PARALLEL_MIN_FLOPS; below that its threading loses, measured 2× slower
/// at 64×784·784×128) raises it to sigmo's count for the call and sets it back. Both happen
/// under the lock that every OpenBLAS call of sigmo-kernels holds (exclusively for a threaded
/// call; one-thread calls share it), and so does
/// `sigmo_kernels::gemm::openblas::set_num_threads`: no call ever sees the count change.
#[cfg(feature = "openblas")]
pub(crate) fn blas(p: Product<'_>) -> Result<(), ShapeError> {
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| sigmo_kernels::gemm::openblas::set_num_threads(1));
    let threads = threads_for(&p.a, &p.b);
    raw(
        |g| sigmo_kernels::gemm::openblas::sgemm(g, Some(threads)),
        p,
    )
}

/// Without the `openblas` feature: matrixmultiply.
#[cfg(not(feature = "openblas"))]
pub(crate) fn blas(p: Product<'_>) -> Result<(), ShapeError> {
    mm(p)
}

/// The `gemm` crate, on sigmo's threads above PARALLEL_MIN_FLOPS (outside rayon workers).
#[cfg(feature = "gemm-crate")]
pub(crate) fn gemm_crate(p: Product<'_>) -> Result<(), ShapeError> {
    let t = threads_for(&p.a, &p.b);
    raw(|g| sigmo_kernels::gemm::sgemm_gemm_crate(g, t), p)
}

/// Without the `gemm-crate` feature: matrixmultiply.
#[cfg(not(feature = "gemm-crate"))]
pub(crate) fn gemm_crate(p: Product<'_>) -> Result<(), ShapeError> {
    mm_threaded(p)
}

/// matrixmultiply over sigmo's threads when large enough: C split by columns when B is the
/// larger operand (each worker then packs all of A and its own part of B), by rows otherwise
/// (each packs all of B and its part of A). Measured at A·Wᵀ 256×1024·1024×784: splitting by
/// rows made both workers pack the whole 3 MiB Wᵀ.
pub(crate) fn mm_threaded(p: Product<'_>) -> Result<(), ShapeError> {
    let threads = threads_for(&p.a, &p.b);
    let b_larger = p.b.rows() * p.b.cols() > p.a.rows() * p.a.cols();
    if threads > 1 && b_larger && p.c.cols() >= 2 * 16 {
        return raw(
            |g| sigmo_kernels::gemm::sgemm_matrixmultiply_column_panels(g, threads),
            p,
        );
    }
    if threads > 1 && p.c.rows() >= 2 * 16 {
        let per = p.c.rows().div_ceil(threads).next_multiple_of(16);
        return split_rows_run(p, per, &mm);
    }
    mm(p)
}

/// sigmo's engine at the tier of `k`, split by rows of C over sigmo's threads when large
/// enough (each worker packs its own copy of B; every element of C is computed the same way
/// whatever the split, so the bits do not depend on the thread count).
pub(crate) fn sigmo(k: &sigmo_kernels::Kernels, p: Product<'_>) -> Result<(), ShapeError> {
    let run = |p: Product<'_>| raw(|g| k.sgemm(g), p);
    let threads = threads_for(&p.a, &p.b);
    if threads > 1 && p.c.rows() >= 2 * sigmo_kernels::gemm::PACK_MIN_ROWS {
        let per = p.c.rows().div_ceil(threads).next_multiple_of(4);
        return split_rows_run(p, per, &run);
    }
    run(p)
}

/// Runs `f` on the products of panels of `per` rows of C (and the matching rows of A) on
/// rayon's pool, when C's rows are separate in memory; on the whole otherwise.
fn split_rows_run(
    p: Product<'_>,
    per: usize,
    f: &(dyn Fn(Product<'_>) -> Result<(), ShapeError> + Sync),
) -> Result<(), ShapeError> {
    let Product {
        alpha,
        a,
        b,
        beta,
        c,
    } = p;
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
        .map(|(start, c)| {
            let a = a.rows_range(start, start + c.rows());
            f(Product {
                alpha,
                a,
                b,
                beta,
                c,
            })
        })
        .collect::<Result<Vec<()>, ShapeError>>()
        .map(|_| ())
}
