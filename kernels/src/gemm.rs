//! Raw, bounds-checked entry points to the GEMM engines: matrixmultiply always, OpenBLAS's
//! CBLAS with the `openblas` feature. Every `unsafe` call into them lives here; the `sigmo`
//! crate builds its matrix views, backends and fused epilogues on these safe functions.
//!
//! A matrix is described by its slice, its shape and its strides (in elements, never
//! negative). A layout is *valid* when every element it addresses lies inside the slice; an
//! output layout must also address every element once (no zero stride over a dimension longer
//! than 1, and one stride at least as long as the other dimension's extent), so that no two
//! threads of an engine ever write the same element.

use std::fmt;

pub use crate::gemm_panels::{panel_gemm_accepts, reserve_panels, PACK_MIN_ROWS};

/// One product's operands, C ← α·A·B + β·C, each matrix as its slice and [`Layout`]: what
/// every engine entry point of this module takes.
#[derive(Debug)]
pub struct Gemm<'a> {
    /// α.
    pub alpha: f32,
    /// A's elements (m × k).
    pub a: &'a [f32],
    /// A's layout.
    pub al: Layout,
    /// B's elements (k × n).
    pub b: &'a [f32],
    /// B's layout.
    pub bl: Layout,
    /// β; with β = 0, C is not read (NaN in C stays out of the result).
    pub beta: f32,
    /// C's elements (m × n).
    pub c: &'a mut [f32],
    /// C's layout.
    pub cl: Layout,
}

/// A strided layout: `rows × cols`, element (i, j) at `i·row_stride + j·col_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between rows, in elements.
    pub row_stride: usize,
    /// Distance between columns, in elements.
    pub col_stride: usize,
}

/// Why a layout cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LayoutError {}

impl Layout {
    /// Row-major `rows × cols`.
    pub fn row_major(rows: usize, cols: usize) -> Layout {
        Layout {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed layout (same elements).
    pub fn t(self) -> Layout {
        Layout {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// The same elements with the stride of any dimension of length ≤ 1 set to 0 (it is
    /// never used, and may otherwise be any value).
    pub fn normalized(self) -> Layout {
        Layout {
            row_stride: if self.rows <= 1 { 0 } else { self.row_stride },
            col_stride: if self.cols <= 1 { 0 } else { self.col_stride },
            ..self
        }
    }

    /// One past the largest index addressed, or `None` on overflow; 0 for an empty matrix.
    pub fn extent(&self) -> Option<usize> {
        if self.rows == 0 || self.cols == 0 {
            return Some(0);
        }
        (self.rows - 1)
            .checked_mul(self.row_stride)?
            .checked_add((self.cols - 1).checked_mul(self.col_stride)?)?
            .checked_add(1)
    }

    /// Checks that every element lies inside a slice of `len`.
    pub fn check_within(&self, len: usize) -> Result<(), LayoutError> {
        match self.extent() {
            Some(e) if e <= len => Ok(()),
            Some(e) => Err(LayoutError(format!(
                "a {}×{} matrix with strides ({}, {}) needs {e} elements, the slice has {len}",
                self.rows, self.cols, self.row_stride, self.col_stride
            ))),
            None => Err(LayoutError(format!(
                "a {}×{} matrix with strides ({}, {}) overflows the address space",
                self.rows, self.cols, self.row_stride, self.col_stride
            ))),
        }
    }

    /// Checks that no two elements share an index (required of outputs).
    pub fn check_disjoint(&self) -> Result<(), LayoutError> {
        let (r, c, rs, cs) = (self.rows, self.cols, self.row_stride, self.col_stride);
        let ok = r == 0
            || c == 0
            || r <= 1 && (c <= 1 || cs > 0)
            || c <= 1 && rs > 0
            || (rs > 0 && cs > 0 && (rs >= c.saturating_mul(cs) || cs >= r.saturating_mul(rs)));
        if ok {
            Ok(())
        } else {
            Err(LayoutError(format!(
                "an output {r}×{c} matrix with strides ({rs}, {cs}) would write some element twice"
            )))
        }
    }
}

impl Gemm<'_> {
    /// The checks every engine call starts with: the shapes chain, every view lies inside
    /// its slice, and C addresses no element twice.
    fn check(&self) -> Result<(), LayoutError> {
        let (a, b, c) = (self.al, self.bl, self.cl);
        let (alen, blen, clen) = (self.a.len(), self.b.len(), self.c.len());
        if a.cols != b.rows || a.rows != c.rows || b.cols != c.cols {
            return Err(LayoutError(format!(
                "cannot multiply {}×{} by {}×{} into {}×{}",
                a.rows, a.cols, b.rows, b.cols, c.rows, c.cols
            )));
        }
        a.check_within(alen)?;
        b.check_within(blen)?;
        c.check_within(clen)?;
        c.check_disjoint()
    }

    /// [`check`](Self::check), then `None` when C is empty (nothing to do), else the same
    /// product with its layouts [`Layout::normalized`]: every stride then either spans a
    /// dimension of 2+ elements, so that it is below its slice's length, or is 0, and so it
    /// fits isize.
    pub(crate) fn prepared(self) -> Result<Option<Self>, LayoutError> {
        self.check()?;
        if self.cl.rows == 0 || self.cl.cols == 0 {
            return Ok(None);
        }
        Ok(Some(Gemm {
            al: self.al.normalized(),
            bl: self.bl.normalized(),
            cl: self.cl.normalized(),
            ..self
        }))
    }
}

/// C ← β·C over C's layout, never reading C when β = 0 (so that NaN in C stays out): what a
/// product leaves when A·B contributes nothing (α = 0 or k = 0), on every engine.
pub fn scale_c(beta: f32, c: &mut [f32], cl: Layout) {
    for i in 0..cl.rows {
        for j in 0..cl.cols {
            let p = i * cl.row_stride + j * cl.col_stride;
            c[p] = if beta == 0.0 { 0.0 } else { beta * c[p] };
        }
    }
}

/// C ← α·A·B + β·C with matrixmultiply, single-threaded (sigmo threads above it). With β = 0,
/// C is not read (NaN in C stays out of the result).
///
/// # Errors
/// Shapes that do not chain, views that leave their slices, an output layout that overlaps
/// itself.
pub fn sgemm_matrixmultiply(p: Gemm<'_>) -> Result<(), LayoutError> {
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
    let st = |s: usize| s as isize;
    // SAFETY: `Gemm::check` proved that every element of A, B and C addressed by these shapes
    // and strides lies inside its slice (and the strides fit isize, see above), that C
    // addresses no element twice, and C's slice is borrowed mutably, so nothing aliases it.
    unsafe {
        matrixmultiply::sgemm(
            cl.rows,
            al.cols,
            cl.cols,
            alpha,
            a.as_ptr(),
            st(al.row_stride),
            st(al.col_stride),
            b.as_ptr(),
            st(bl.row_stride),
            st(bl.col_stride),
            beta,
            c.as_mut_ptr(),
            st(cl.row_stride),
            st(cl.col_stride),
        );
    }
    Ok(())
}

/// A raw pointer to C that may cross to a rayon worker; each worker writes only its own
/// columns (see [`sgemm_matrixmultiply_column_panels`]).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the pointer is only dereferenced (by matrixmultiply) on disjoint column panels of
// one C that the caller borrowed mutably for the whole call.
unsafe impl Send for SendPtr {}
// SAFETY: as above; sharing the address itself is harmless.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// C ← α·A·B + β·C with matrixmultiply, the columns of C (and of B) split into `panels`
/// panels of whole multiples of 16 columns that rayon's workers compute at once. Each worker
/// packs all of A and only its panel of B, so this is the split to use when B is the larger
/// operand (splitting by rows would make every worker pack all of B).
///
/// # Errors
/// As [`sgemm_matrixmultiply`].
pub fn sgemm_matrixmultiply_column_panels(p: Gemm<'_>, panels: usize) -> Result<(), LayoutError> {
    use rayon::prelude::*;
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
    if al.cols == 0 {
        // K = 0: C ← β·C, B is not read. (The panel offsets below would step B's pointer past
        // its allocation, which is undefined even when nothing is read.)
        scale_c(beta, c, cl);
        return Ok(());
    }
    let width = cl.cols.div_ceil(panels.max(1)).next_multiple_of(16);
    let starts: Vec<usize> = (0..cl.cols).step_by(width).collect();
    let cp = SendPtr(c.as_mut_ptr());
    let st = |s: usize| s as isize;
    starts.par_iter().for_each(|&j0| {
        let cols = width.min(cl.cols - j0);
        // SAFETY: `Gemm::check` proved every element of A, B and C lies inside its slice and
        // that C addresses no element twice (so strides fit isize, as in
        // `sgemm_matrixmultiply`). This worker reads B's columns j0..j0+cols and writes C's
        // columns j0..j0+cols: the column panels partition C, so no two workers write the same
        // element, and C stays mutably borrowed by this call until every worker has returned.
        unsafe {
            matrixmultiply::sgemm(
                cl.rows,
                al.cols,
                cols,
                alpha,
                a.as_ptr(),
                st(al.row_stride),
                st(al.col_stride),
                b.as_ptr().add(j0 * bl.col_stride),
                st(bl.row_stride),
                st(bl.col_stride),
                beta,
                cp.get().add(j0 * cl.col_stride),
                st(cl.row_stride),
                st(cl.col_stride),
            );
        }
    });
    Ok(())
}

/// C ← α·A·B + β·C with the `gemm` crate (feature `gemm-crate`), on `threads` rayon threads
/// (1: the calling thread only). With β = 0, C is not read.
///
/// # Errors
/// As [`sgemm_matrixmultiply`].
#[cfg(feature = "gemm-crate")]
pub fn sgemm_gemm_crate(p: Gemm<'_>, threads: usize) -> Result<(), LayoutError> {
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
    let st = |s: usize| s as isize;
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `Gemm::check` proved every element of A, B and C lies inside its slice and that C
    // addresses no element twice (strides fit isize, as in `sgemm_matrixmultiply`); C is
    // borrowed mutably for the call. The crate computes dst ← α'·dst + β'·lhs·rhs, with its
    // column stride before its row stride: hence the swapped scalars and strides below, and
    // `read_dst = false` when β = 0 so that C is not read.
    unsafe {
        gemm::gemm(
            cl.rows,
            cl.cols,
            al.cols,
            c.as_mut_ptr(),
            st(cl.col_stride),
            st(cl.row_stride),
            beta != 0.0,
            a.as_ptr(),
            st(al.col_stride),
            st(al.row_stride),
            b.as_ptr(),
            st(bl.col_stride),
            st(bl.row_stride),
            beta,
            alpha,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// OpenBLAS, through CBLAS (feature `openblas`).
#[cfg(feature = "openblas")]
pub mod openblas {
    use super::{scale_c, Gemm, Layout, LayoutError};
    use std::ffi::{c_char, c_int, CStr};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    /// Every call into OpenBLAS from this module holds this lock. OpenBLAS's thread count is
    /// one process-wide setting, and changing it while a call is in flight is a data race
    /// inside the library (its threaded server reads the count as it splits the work): so
    /// [`set_num_threads`] takes the lock exclusively and waits for the calls in flight. Calls
    /// at one thread share the lock; a call at more threads, or at a count other than the one
    /// set, holds it exclusively (one threaded OpenBLAS call at a time, as before).
    static LOCK: RwLock<()> = RwLock::new(());
    /// The calls inside `cblas_sgemm` now (for the tests of the lock).
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

    fn shared() -> RwLockReadGuard<'static, ()> {
        // The guarded value is `()`: a panic while it was held leaves nothing inconsistent.
        LOCK.read().unwrap_or_else(|e| e.into_inner())
    }

    fn exclusive() -> RwLockWriteGuard<'static, ()> {
        LOCK.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of `cblas_sgemm` calls from this module in flight now. A test hook: after
    /// [`set_num_threads`] returns (and before any other call starts) it is 0.
    #[doc(hidden)]
    pub fn calls_in_flight() -> usize {
        IN_FLIGHT.load(Ordering::SeqCst)
    }

    /// OpenBLAS's thread count as the library holds it (callers hold the lock).
    fn count_now() -> usize {
        // SAFETY: a plain getter of the library's global count, no argument.
        let n = unsafe { openblas_get_num_threads() };
        n.max(1) as usize
    }

    /// Sets the count; callers hold the lock exclusively.
    fn set_count(n: usize) {
        let n = n.clamp(1, c_int::MAX as usize) as c_int;
        // SAFETY: a setter of the library's global thread count, with no pointer argument;
        // the caller holds `LOCK` exclusively, so no call from this module is in flight.
        unsafe { openblas_set_num_threads(n) }
    }

    /// Runs `f` (one call into OpenBLAS) at `threads` threads (`None`: the count set), under
    /// [`LOCK`]: shared when the count is already `threads` and at most 1, else exclusive,
    /// with the count raised for the call and set back after it.
    fn locked<R>(threads: Option<usize>, f: impl FnOnce() -> R) -> R {
        enum Held {
            Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
            /// The lock, and the count to set back after the call (if it was changed).
            Exclusive(
                #[allow(dead_code)] RwLockWriteGuard<'static, ()>,
                Option<usize>,
            ),
        }
        let want = |now: usize| threads.map_or(now, |t| t.max(1));
        let held = {
            let g = shared();
            let now = count_now();
            if want(now) == now && now <= 1 {
                Held::Shared(g)
            } else {
                drop(g);
                let g = exclusive();
                let now = count_now();
                if want(now) == now {
                    Held::Exclusive(g, None)
                } else {
                    set_count(want(now));
                    Held::Exclusive(g, Some(now))
                }
            }
        };
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        let r = f();
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        if let Held::Exclusive(_, Some(before)) = held {
            set_count(before);
        }
        drop(held);
        r
    }

    // Links libopenblas (and its cblas symbols) through blas-src / openblas-src.
    extern crate blas_src;

    const ROW_MAJOR: c_int = 101;
    const NO_TRANS: c_int = 111;
    const TRANS: c_int = 112;

    extern "C" {
        fn cblas_sgemm(
            order: c_int,
            trans_a: c_int,
            trans_b: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            b: *const f32,
            ldb: c_int,
            beta: f32,
            c: *mut f32,
            ldc: c_int,
        );
        fn openblas_set_num_threads(n: c_int);
        fn openblas_get_num_threads() -> c_int;
        fn openblas_get_corename() -> *const c_char;
        fn openblas_get_config() -> *const c_char;
    }

    /// How BLAS sees an operand in row-major order: transposed or not, and its leading
    /// dimension. `None` when neither stride is 1 (BLAS cannot take it).
    fn blas_operand(l: Layout) -> Option<(c_int, usize)> {
        if l.col_stride == 1 && l.row_stride >= l.cols.max(1) {
            Some((NO_TRANS, l.row_stride))
        } else if l.row_stride == 1 && l.col_stride >= l.rows.max(1) {
            Some((TRANS, l.col_stride))
        } else if l.rows <= 1 && l.col_stride == 1 {
            // A single row: any leading dimension ≥ its length works.
            Some((NO_TRANS, l.cols.max(1)))
        } else if l.cols <= 1 && l.row_stride == 1 {
            Some((TRANS, l.rows.max(1)))
        } else {
            None
        }
    }

    /// Whether OpenBLAS can run C ← α·A·B + β·C on these layouts as they are: each operand
    /// needs one unit stride, and C must be row-major (unit column stride).
    pub fn accepts(a: Layout, b: Layout, c: Layout) -> bool {
        let fits = |ld: usize| ld <= c_int::MAX as usize;
        let dims = [a.rows, a.cols, b.cols].iter().all(|&d| fits(d));
        let c_ok = c.col_stride == 1 && c.row_stride >= c.cols.max(1) && fits(c.row_stride)
            || c.rows <= 1 && c.col_stride == 1;
        dims && c_ok
            && blas_operand(a).is_some_and(|(_, ld)| fits(ld))
            && blas_operand(b).is_some_and(|(_, ld)| fits(ld))
    }

    /// C ← α·A·B + β·C with OpenBLAS's `cblas_sgemm`, on `threads` OpenBLAS threads for
    /// this call only (`None`: at the count set, [`set_num_threads`]). A count other than the
    /// one set is raised under the lock that every call holds, and set back after the call,
    /// so that no other call from this crate sees it changed. With β = 0, C is not read.
    ///
    /// # Errors
    /// As [`super::sgemm_matrixmultiply`], and layouts [`accepts`] refuses (callers fall back
    /// to matrixmultiply for those).
    pub fn sgemm(p: Gemm<'_>, threads: Option<usize>) -> Result<(), LayoutError> {
        p.check()?;
        let Gemm {
            alpha,
            a,
            al,
            b,
            bl,
            beta,
            c,
            cl,
        } = p;
        if !accepts(al, bl, cl) {
            return Err(LayoutError(
                "OpenBLAS needs a unit stride in every operand and a row-major output".into(),
            ));
        }
        let (m, k, n) = (cl.rows, al.cols, cl.cols);
        if m == 0 || n == 0 {
            return Ok(());
        }
        let (ta, lda) = blas_operand(al).expect("checked by accepts");
        let (tb, ldb) = blas_operand(bl).expect("checked by accepts");
        let ldc = if cl.rows <= 1 {
            cl.cols.max(1)
        } else {
            cl.row_stride
        };
        // BLAS reads A and B with at least one element of storage even when k = 0.
        if k == 0 {
            // C ← β·C (BLAS would do the same, but keep β = 0 from reading C).
            scale_c(beta, c, cl);
            return Ok(());
        }
        let cp = c.as_mut_ptr();
        locked(threads, || {
            // SAFETY: `Gemm::check` proved every addressed element of A, B and C lies inside
            // its slice and C addresses no element twice; `accepts` proved each operand is, in
            // row-major terms, a plain or transposed matrix with a leading dimension at least
            // its row length that fits c_int, which is exactly what cblas_sgemm reads and
            // writes. C stays mutably borrowed by this function for the whole call, and
            // `locked` holds LOCK, so the thread count cannot change under the call.
            unsafe {
                cblas_sgemm(
                    ROW_MAJOR,
                    ta,
                    tb,
                    m as c_int,
                    n as c_int,
                    k as c_int,
                    alpha,
                    a.as_ptr(),
                    lda as c_int,
                    b.as_ptr(),
                    ldb as c_int,
                    beta,
                    cp,
                    ldc as c_int,
                );
            }
        });
        Ok(())
    }

    /// Sets OpenBLAS's thread count (at least 1) for the calls of [`sgemm`]. It is
    /// process-wide, so this takes the lock every call from this crate holds, exclusively:
    /// it waits for the calls in flight, and no call starts until it is set. (A program that
    /// also calls OpenBLAS directly, not through this module, must not race it with that.)
    pub fn set_num_threads(n: usize) {
        let _g = exclusive();
        set_count(n);
    }

    /// OpenBLAS's thread count: the one [`sgemm`] runs at.
    pub fn num_threads() -> usize {
        let _g = shared();
        count_now()
    }

    fn c_text(p: *const c_char) -> String {
        if p.is_null() {
            return String::new();
        }
        // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string (checked
        // non-null above) that lives as long as the library.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The name of the kernel set OpenBLAS chose for this CPU (e.g. `SkylakeX`, `Haswell`,
    /// `Prescott`).
    pub fn corename() -> String {
        // SAFETY: a plain getter returning a static string.
        c_text(unsafe { openblas_get_corename() })
    }

    /// OpenBLAS's build configuration string (version, threading, dynamic arch).
    pub fn config() -> String {
        // SAFETY: a plain getter returning a static string.
        c_text(unsafe { openblas_get_config() })
    }
}
