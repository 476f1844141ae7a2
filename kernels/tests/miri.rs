//! The GEMM wrappers' `unsafe` (kernels/src/gemm.rs) and sigmo's GEMM engine
//! (kernels/src/gemm_panels.rs) under Miri, on the scalar tier: small shapes in exact-size
//! allocations, strided and transposed views, k = 0, empty outputs, one row or column, β = 0
//! over NaN, and the column-panel split across rayon's threads. Miri checks every pointer the
//! wrappers build and every access matrixmultiply makes through them (bounds, provenance,
//! aliasing, data races between the panels' workers).
//!
//! `.ci/run` runs it as `cargo +nightly miri test -p sigmo-kernels --no-default-features
//! --test miri`; it also runs, fast, in the ordinary suite. Miri cannot run the vector tiers'
//! intrinsics, hence the scalar tier.

use sigmo_kernels::gemm::{
    sgemm_matrixmultiply, sgemm_matrixmultiply_column_panels, Gemm, Layout, LayoutError,
};
use sigmo_kernels::{Isa, Kernels};

fn l(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Layout {
    Layout {
        rows,
        cols,
        row_stride,
        col_stride,
    }
}

/// Exactly the elements a layout addresses (none past its last one).
fn exact(x: Layout, seed: usize) -> Vec<f32> {
    (0..x.extent().unwrap())
        .map(|i| ((i + seed) % 7) as f32 - 3.0)
        .collect()
}

/// C ← α·A·B + β·C, naively, in f64.
fn reference(
    alpha: f32,
    (a, al): (&[f32], Layout),
    (b, bl): (&[f32], Layout),
    beta: f32,
    (c, cl): (&[f32], Layout),
) -> Vec<f32> {
    let mut out = c.to_vec();
    for i in 0..cl.rows {
        for j in 0..cl.cols {
            let s: f64 = (0..al.cols)
                .map(|p| {
                    a[i * al.row_stride + p * al.col_stride] as f64
                        * b[p * bl.row_stride + j * bl.col_stride] as f64
                })
                .sum();
            let at = i * cl.row_stride + j * cl.col_stride;
            let old = if beta == 0.0 {
                0.0
            } else {
                beta as f64 * c[at] as f64
            };
            out[at] = (alpha as f64 * s + old) as f32;
        }
    }
    out
}

/// (A, B, C) layouts: every kind of view the wrappers accept, at sizes Miri runs in seconds.
fn cases() -> Vec<(Layout, Layout, Layout)> {
    vec![
        (l(3, 4, 4, 1), l(4, 5, 5, 1), l(3, 5, 5, 1)), // row-major
        (l(3, 4, 1, 3), l(4, 5, 1, 4), l(3, 5, 5, 1)), // A and B transposed
        (l(3, 4, 6, 1), l(4, 5, 7, 1), l(3, 5, 9, 1)), // padded rows
        (l(2, 3, 1, 2), l(3, 4, 4, 1), l(2, 4, 1, 2)), // column-major C
        (l(1, 4, usize::MAX / 2, 1), l(4, 1, 1, 9), l(1, 1, 77, 5)), // strides of length-1 dims
        (l(5, 1, 1, 0), l(1, 6, 0, 1), l(5, 6, 6, 1)), // k = 1
        (l(3, 0, 0, 0), l(0, 4, 0, 0), l(3, 4, 4, 1)), // k = 0: C ← β·C
        (l(0, 3, 3, 1), l(3, 4, 4, 1), l(0, 4, 4, 1)), // m = 0
        (l(3, 2, 2, 1), l(2, 0, 0, 1), l(3, 0, 0, 1)), // n = 0
        (l(17, 3, 3, 1), l(3, 18, 18, 1), l(17, 18, 18, 1)), // a block and a partial one
        (l(25, 3, 3, 1), l(3, 18, 18, 1), l(25, 18, 18, 1)), // sigmo's engine packs B here
        (l(9, 3, 1, 9), l(3, 18, 1, 3), l(9, 18, 18, 1)), // Aᵀ and a strided B (packed)
    ]
}

type Engine = Box<dyn Fn(Gemm<'_>) -> Result<(), LayoutError>>;

fn engines() -> Vec<(&'static str, Engine)> {
    let k = Kernels::new(Isa::Scalar).expect("the scalar tier runs everywhere");
    vec![
        ("matrixmultiply", Box::new(sgemm_matrixmultiply)),
        (
            // Refusals and k = 0 return before any worker starts.
            "matrixmultiply, column panels",
            Box::new(|p| sgemm_matrixmultiply_column_panels(p, 2)),
        ),
        ("sigmo (scalar)", Box::new(move |p| k.sgemm(p))),
    ]
}

/// Runs every case of [`cases`] through `engine` and compares with the reference.
fn check_cases(name: &str, engine: &Engine) {
    for (n, &(al, bl, cl)) in cases().iter().enumerate() {
        if name.starts_with("sigmo") && !sigmo_kernels::gemm::panel_gemm_accepts(cl) {
            continue;
        }
        let (a, b) = (exact(al, 1), exact(bl, 2));
        for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0), (0.0, 1.0)] {
            let mut c = exact(cl, 3);
            if beta == 0.0 {
                // β = 0: C is not read, so NaN in it stays out of the result.
                c.iter_mut().for_each(|x| *x = f32::NAN);
            }
            let want = reference(alpha, (&a, al), (&b, bl), beta, (&c, cl));
            engine(Gemm {
                alpha,
                a: &a,
                al,
                b: &b,
                bl,
                beta,
                c: &mut c,
                cl,
            })
            .unwrap_or_else(|e| panic!("{name}, case {n}: {e}"));
            for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
                // Elements C does not address keep their old value (NaN included).
                let same = got == w || got.is_nan() && w.is_nan();
                assert!(
                    same || (got - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{name}, case {n}, α={alpha} β={beta}: C[{idx}] = {got}, want {w}"
                );
            }
        }
    }
}

#[test]
fn every_view_in_exact_allocations_gives_the_reference() {
    // The column panels run on rayon's workers: see `column_panels_across_rayon_threads`.
    for (name, engine) in engines().iter().filter(|e| !e.0.contains("panels")) {
        check_cases(name, engine);
    }
}

/// The split over rayon's workers: each writes its own column panel of one C through a raw
/// pointer. (Under Miri this test runs with Tree Borrows: crossbeam-epoch, under rayon, trips
/// Stacked Borrows in its own code; see `.ci/run`.)
#[test]
fn column_panels_across_rayon_threads() {
    for panels in [2, 3] {
        let engine: Engine = Box::new(move |p| sgemm_matrixmultiply_column_panels(p, panels));
        check_cases(&format!("{panels} column panels"), &engine);
        // 40 columns: panels of 32 and 8 columns, or of 16, 16 and 8.
        let (al, bl, cl) = (l(2, 3, 3, 1), l(3, 40, 40, 1), l(2, 40, 40, 1));
        let (a, b) = (exact(al, 1), exact(bl, 2));
        let mut c = exact(cl, 3);
        let want = reference(1.0, (&a, al), (&b, bl), 0.0, (&c, cl));
        engine(Gemm {
            alpha: 1.0,
            a: &a,
            al,
            b: &b,
            bl,
            beta: 0.0,
            c: &mut c,
            cl,
        })
        .unwrap();
        assert_eq!(c, want, "{panels} panels of 40 columns");
    }
}

#[test]
fn k_zero_reads_neither_a_nor_b_even_from_empty_slices() {
    for (name, engine) in engines() {
        for beta in [0.0, 3.0] {
            let cl = l(2, 3, 3, 1);
            let mut c = vec![f32::NAN, 1.0, 2.0, 3.0, 4.0, 5.0];
            engine(Gemm {
                alpha: 1.0,
                a: &[],
                al: l(2, 0, 0, 1),
                b: &[],
                bl: l(0, 3, 3, 1),
                beta,
                c: &mut c,
                cl,
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            if beta == 0.0 {
                assert_eq!(c, [0.0; 6], "{name}: β = 0 overwrites C");
            } else {
                assert!(c[0].is_nan(), "{name}");
                assert_eq!(c[1..], [3.0, 6.0, 9.0, 12.0, 15.0], "{name}: C ← β·C");
            }
        }
    }
}

#[test]
fn views_that_leave_their_slices_or_overlap_are_refused_before_any_access() {
    let a = vec![1.0f32; 6];
    let b = vec![1.0f32; 6];
    let bad: [(Layout, usize, Layout, usize, Layout, usize); 5] = [
        (l(2, 3, 3, 1), 5, l(3, 2, 2, 1), 6, l(2, 2, 2, 1), 4), // A one element short
        (l(2, 3, 3, 1), 6, l(3, 2, 2, 1), 5, l(2, 2, 2, 1), 4), // B one element short
        (l(2, 3, 3, 1), 6, l(3, 2, 2, 1), 6, l(2, 2, 2, 1), 3), // C one element short
        (l(2, 3, 3, 1), 6, l(3, 2, 2, 1), 6, l(2, 2, 1, 1), 4), // C writes an element twice
        (l(2, 3, 3, 1), 6, l(2, 2, 2, 1), 6, l(2, 2, 2, 1), 4), // shapes that do not chain
    ];
    for (name, engine) in engines() {
        for (n, &(al, alen, bl, blen, cl, clen)) in bad.iter().enumerate() {
            let mut c = vec![7.0f32; clen];
            let r = engine(Gemm {
                alpha: 1.0,
                a: &a[..alen],
                al,
                b: &b[..blen],
                bl,
                beta: 0.0,
                c: &mut c,
                cl,
            });
            let e = r.expect_err(&format!("{name}, case {n} was accepted"));
            assert!(!e.to_string().is_empty());
            assert!(
                c.iter().all(|&x| x == 7.0),
                "{name}, case {n}: C was written"
            );
        }
    }
    // A stride whose extent overflows the address space.
    let mut c = vec![0.0f32; 6];
    let e = sgemm_matrixmultiply(Gemm {
        alpha: 1.0,
        a: &a,
        al: l(3, 2, usize::MAX / 2, 1),
        b: &b,
        bl: l(2, 3, 3, 1),
        beta: 0.0,
        c: &mut c,
        cl: l(3, 3, 3, 1),
    })
    .expect_err("an overflowing extent");
    assert!(e.to_string().contains("overflows"), "{e}");
}
