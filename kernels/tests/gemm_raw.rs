//! The raw GEMM entry points (the crate's only FFI `unsafe`): edge layouts with exact-size
//! allocations, so that AddressSanitizer sees any access outside them; and the refusals.

use sigmo_kernels::gemm::{sgemm_matrixmultiply, Gemm, Layout};

/// A non-capturing closure with the operands as eight arguments (what the tests below call),
/// building the engines' [`Gemm`] and running `$engine` on it.
macro_rules! positional {
    ($p:ident => $engine:expr) => {
        |alpha, a, al, b, bl, beta, c, cl| {
            let $p = Gemm {
                alpha,
                a,
                al,
                b,
                bl,
                beta,
                c,
                cl,
            };
            $engine
        }
    };
}

type Raw = fn(
    f32,
    &[f32],
    Layout,
    &[f32],
    Layout,
    f32,
    &mut [f32],
    Layout,
) -> Result<(), sigmo_kernels::gemm::LayoutError>;

fn engines() -> Vec<(&'static str, Raw)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, Raw)> =
        vec![("matrixmultiply", positional!(p => sgemm_matrixmultiply(p)))];
    #[cfg(feature = "openblas")]
    v.push((
        "openblas",
        positional!(p => sigmo_kernels::gemm::openblas::sgemm(p, None)),
    ));
    #[cfg(feature = "gemm-crate")]
    v.push((
        "gemm",
        positional!(p => sigmo_kernels::gemm::sgemm_gemm_crate(p, 1)),
    ));
    v
}

fn l(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Layout {
    Layout {
        rows,
        cols,
        row_stride,
        col_stride,
    }
}

/// The exact number of elements a layout needs.
fn exact(x: Layout) -> Vec<f32> {
    (0..x.extent().unwrap())
        .map(|i| (i % 7) as f32 - 3.0)
        .collect()
}

fn reference(a: &[f32], al: Layout, b: &[f32], bl: Layout, i: usize, j: usize) -> f32 {
    (0..al.cols)
        .map(|p| {
            a[i * al.row_stride + p * al.col_stride] * b[p * bl.row_stride + j * bl.col_stride]
        })
        .sum()
}

#[test]
fn edge_layouts_in_exact_allocations() {
    let cases = [
        // (A, B, C) layouts.
        (l(3, 4, 4, 1), l(4, 5, 5, 1), l(3, 5, 5, 1)),
        (l(3, 4, 1, 3), l(4, 5, 1, 4), l(3, 5, 5, 1)), // both transposed
        (l(1, 4, usize::MAX / 2, 1), l(4, 1, 1, 9), l(1, 1, 77, 5)), // strides of length-1 dims
        (l(5, 1, 1, 0), l(1, 6, 0, 1), l(5, 6, 6, 1)), // k = 1
        (l(4, 3, 7, 2), l(3, 2, 2, 1), l(4, 2, 1, 4)), // general A, column-major C
        (l(2, 0, 0, 1), l(0, 3, 3, 1), l(2, 3, 3, 1)), // k = 0: C ← β·C
        (l(0, 3, 3, 1), l(3, 2, 2, 1), l(0, 2, 2, 1)), // m = 0
    ];
    for (name, f) in engines() {
        for (al, bl, cl) in cases {
            let (a, b) = (exact(al), exact(bl));
            let mut c = vec![f32::NAN; cl.extent().unwrap()];
            f(1.0, &a, al, &b, bl, 0.0, &mut c, cl)
                .or_else(|e| {
                    // OpenBLAS refuses layouts it cannot take (the sigmo crate falls back).
                    if name == "openblas" {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .unwrap();
            if name == "openblas" && c.iter().all(|v| v.is_nan()) && cl.rows * cl.cols > 0 {
                continue; // refused
            }
            for i in 0..cl.rows {
                for j in 0..cl.cols {
                    let got = c[i * cl.row_stride + j * cl.col_stride];
                    assert_eq!(
                        got,
                        reference(&a, al, &b, bl, i, j),
                        "{name}: {al:?} {bl:?} {cl:?} at ({i},{j})"
                    );
                }
            }
        }
    }
}

#[test]
fn refusals() {
    // (why, A's slice length and layout, B's, C's): each must be refused.
    let cases = [
        (
            "too short a slice",
            5,
            l(2, 3, 3, 1),
            6,
            l(3, 2, 2, 1),
            l(2, 2, 2, 1),
        ),
        (
            "shapes that do not chain",
            6,
            l(2, 3, 3, 1),
            6,
            l(2, 3, 3, 1),
            l(2, 2, 2, 1),
        ),
        (
            "an output that writes an element twice",
            4,
            l(2, 2, 2, 1),
            4,
            l(2, 2, 2, 1),
            l(2, 2, 1, 1),
        ),
    ];
    for (name, f) in engines() {
        for (why, alen, al, blen, bl, cl) in cases {
            let mut c = vec![0.0; 4];
            let r = f(
                1.0,
                &vec![0.0; alen],
                al,
                &vec![0.0; blen],
                bl,
                0.0,
                &mut c,
                cl,
            );
            assert!(r.is_err(), "{name}: {why} accepted");
        }
    }
    assert!(
        l(usize::MAX, 2, usize::MAX, 1).check_within(10).is_err(),
        "overflowing extent"
    );
}

#[test]
fn column_panels_in_exact_allocations() {
    use sigmo_kernels::gemm::sgemm_matrixmultiply_column_panels as panels;
    for (al, bl, cl) in [
        (l(5, 7, 7, 1), l(7, 50, 50, 1), l(5, 50, 50, 1)),
        (l(5, 7, 1, 5), l(7, 33, 1, 7), l(5, 33, 1, 5)), // transposed operands, column-major C
        (l(3, 4, 4, 1), l(4, 1, 1, 0), l(3, 1, 1, 0)),   // one column
    ] {
        for p in [1usize, 2, 3, 8] {
            let (a, b) = (exact(al), exact(bl));
            let mut c = vec![f32::NAN; cl.extent().unwrap()];
            let op = Gemm {
                alpha: 1.0,
                a: &a,
                al,
                b: &b,
                bl,
                beta: 0.0,
                c: &mut c,
                cl,
            };
            panels(op, p).unwrap();
            for i in 0..cl.rows {
                for j in 0..cl.cols {
                    assert_eq!(
                        c[i * cl.row_stride + j * cl.col_stride],
                        reference(&a, al, &b, bl, i, j),
                        "{p} panels"
                    );
                }
            }
        }
    }
    let mut c = vec![0.0; 4];
    let op = Gemm {
        alpha: 1.0,
        a: &[0.0; 4],
        al: l(2, 2, 2, 1),
        b: &[0.0; 4],
        bl: l(2, 2, 2, 1),
        beta: 0.0,
        c: &mut c,
        cl: l(2, 2, 1, 1),
    };
    assert!(panels(op, 2).is_err());
}

#[test]
fn column_panels_with_k_zero_never_step_past_b() {
    // K = 0 with a huge column stride on an empty B: C ← β·C, and (under AddressSanitizer /
    // Miri) no pointer arithmetic past B's empty allocation.
    use sigmo_kernels::gemm::sgemm_matrixmultiply_column_panels as panels;
    for p in [1usize, 2, 4] {
        let (al, bl, cl) = (l(3, 0, 0, 1), l(0, 40, 0, usize::MAX / 64), l(3, 40, 40, 1));
        let mut c: Vec<f32> = (0..cl.extent().unwrap()).map(|i| i as f32).collect();
        let op = Gemm {
            alpha: 1.0,
            a: &[],
            al,
            b: &[],
            bl,
            beta: 0.5,
            c: &mut c,
            cl,
        };
        panels(op, p).unwrap();
        for (i, &v) in c.iter().enumerate() {
            assert_eq!(v, 0.5 * i as f32, "{p} panels");
        }
    }
}
