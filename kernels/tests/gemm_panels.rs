//! sigmo's GEMM engine (`Kernels::sgemm`) at every tier: shapes below, at and above its
//! 4-row × 2-register and 8-row × 1-register blocks and its packing threshold (B read in
//! place, and from panels), plain and transposed A and B, β = 0 (C NaN-poisoned: never read)
//! and β ≠ 0, against an f64 reference with the K-scaled tolerance 2(K+2)·ε·(|A||B|)ᵢⱼ; the
//! FMA tiers give the same bits, and so does any split of C's rows; exact-size allocations
//! for AddressSanitizer; the refusals.

mod common;

use sigmo_kernels::gemm::{panel_gemm_accepts, Gemm, Layout, PACK_MIN_ROWS};

fn l(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Layout {
    Layout {
        rows,
        cols,
        row_stride,
        col_stride,
    }
}

fn fill(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn every_tier_every_shape_against_f64() {
    // Below and at the packing threshold, each block height (6, 5 or 4 rows, whichever
    // wastes fewest) on both sides of it: 17, 23, 24 → 6; 5, 9, 10, 25, 33 → 5; 3, 16, 28 → 4
    // (and blocks that repeat their last row: 17, 23, 33, 9, 3).
    let ms = [1, 3, 4, 5, 9, 10, 16, 17, 23, 24, 25, 28, 33];
    assert!(ms.contains(&(PACK_MIN_ROWS - 1)) && ms.contains(&PACK_MIN_ROWS));
    let ks = [1, 2, 7, 10, 16, 33, 784];
    let ns = [1, 2, 7, 8, 15, 16, 17, 30, 31, 32, 33, 64, 100];
    let tiers = common::tiers();
    let mut checked = 0usize;
    let mut transposed_b = 0usize;
    for &m in &ms {
        for &k in &ks {
            for &n in &ns {
                for (trans_a, trans_b) in [(false, false), (true, false), (false, true)] {
                    for (alpha, beta) in [(1.0f32, 0.0f32), (-0.75, 0.5)] {
                        // A is m×k, row-major or a transposed view of a k×m buffer (Xᵀ).
                        let al = if trans_a {
                            l(m, k, 1, m)
                        } else {
                            l(m, k, k, 1)
                        };
                        let a = fill(m * k, (m * 131 + k * 7 + n) as u64);
                        // B with padded rows (row stride n + 3), or a transposed view of
                        // an n×(k + 2) buffer (Wᵀ: copied by the engine); C with row stride
                        // n + 1.
                        let bl = if trans_b {
                            l(k, n, 1, k + 2)
                        } else {
                            l(k, n, n + 3, 1)
                        };
                        let b = fill(bl.extent().unwrap(), (k * 17 + n) as u64);
                        let cl = l(m, n, n + 1, 1);
                        let c0 = if beta == 0.0 {
                            vec![f32::NAN; cl.extent().unwrap()]
                        } else {
                            fill(cl.extent().unwrap(), 99)
                        };
                        let mut first: Option<(bool, Vec<f32>)> = None;
                        for t in &tiers {
                            let mut c = c0.clone();
                            t.sgemm(Gemm {
                                alpha,
                                a: &a,
                                al,
                                b: &b,
                                bl,
                                beta,
                                c: &mut c,
                                cl,
                            })
                            .unwrap();
                            for i in 0..m {
                                for j in 0..n {
                                    let (mut want, mut mag) = (0.0f64, 0.0f64);
                                    for p in 0..k {
                                        let x = a[i * al.row_stride + p * al.col_stride] as f64
                                            * b[p * bl.row_stride + j * bl.col_stride] as f64;
                                        want += x;
                                        mag += x.abs();
                                    }
                                    let old = c0[i * cl.row_stride + j] as f64;
                                    let want = alpha as f64 * want
                                        + if beta == 0.0 { 0.0 } else { beta as f64 * old };
                                    let mag = alpha.abs() as f64 * mag
                                        + if beta == 0.0 {
                                            0.0
                                        } else {
                                            (beta as f64 * old).abs()
                                        };
                                    let got = c[i * cl.row_stride + j] as f64;
                                    let tol = 2.0 * (k as f64 + 2.0) * f32::EPSILON as f64 * mag
                                        + f32::MIN_POSITIVE as f64;
                                    assert!(
                                        (got - want).abs() <= tol,
                                        "{:?} m {m} k {k} n {n} Aᵀ {trans_a} Bᵀ {trans_b} α {alpha} β {beta}: \
                                         C({i},{j}) = {got}, want {want} ± {tol}",
                                        t.isa()
                                    );
                                }
                                // The padding between C's rows is never written.
                                if n < cl.row_stride && i + 1 < m {
                                    let pad = c[i * cl.row_stride + n];
                                    let was = c0[i * cl.row_stride + n];
                                    assert!(pad.to_bits() == was.to_bits(), "padding written");
                                }
                            }
                            let fma = t.isa().has_fma();
                            match &first {
                                Some((true, bits)) if fma => assert!(
                                    bits.iter().zip(&c).all(|(x, y)| x.to_bits() == y.to_bits()),
                                    "{:?} differs from the first FMA tier: m {m} k {k} n {n}",
                                    t.isa()
                                ),
                                None if fma => first = Some((true, c)),
                                _ => {}
                            }
                            checked += 1;
                            transposed_b += usize::from(trans_b);
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= ms.len() * ks.len() * ns.len() * 4 * tiers.len());
    assert!(
        transposed_b >= 100,
        "the transposed-B cases ran: {transposed_b}"
    );
}

#[test]
fn exact_allocations_and_empty_shapes() {
    for t in common::tiers() {
        for (m, k, n) in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (1, 1, 1), (5, 3, 17)] {
            let (al, bl, cl) = (l(m, k, k, 1), l(k, n, n, 1), l(m, n, n, 1));
            let a = vec![1.0f32; al.extent().unwrap()];
            let b = vec![2.0f32; bl.extent().unwrap()];
            let mut c = vec![7.0f32; cl.extent().unwrap()];
            t.sgemm(Gemm {
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
            // k = 0: C ← β·C = 0; otherwise every entry is 2k.
            assert!(
                c.iter().all(|&v| v == 2.0 * k as f32),
                "{:?} {m}×{k}×{n}",
                t.isa()
            );
        }
    }
}

#[test]
fn refusals() {
    let t = common::tiers()[0];
    let a = [1.0f32; 6];
    let mut c = [0.0f32; 6];
    // Only C's layout matters (B, strided or not, is copied into panels): C with contiguous
    // rows is taken, a C with strided columns is not.
    assert!(panel_gemm_accepts(l(2, 2, 2, 1)));
    assert!(panel_gemm_accepts(l(2, 100, 100, 1)));
    assert!(!panel_gemm_accepts(l(2, 2, 1, 2)));
    let (al, bl, cl) = (l(2, 3, 3, 1), l(3, 2, 2, 1), l(2, 2, 1, 2));
    let e = t
        .sgemm(Gemm {
            alpha: 1.0,
            a: &a,
            al,
            b: &a,
            bl,
            beta: 0.0,
            c: &mut c,
            cl,
        })
        .unwrap_err();
    assert!(e.0.contains("contiguous rows"), "{e}");
    // Shapes that do not chain, and a C slice too short.
    let e = t
        .sgemm(Gemm {
            alpha: 1.0,
            a: &a,
            al: l(2, 3, 3, 1),
            b: &a,
            bl: l(2, 3, 3, 1),
            beta: 0.0,
            c: &mut c,
            cl: l(2, 3, 3, 1),
        })
        .unwrap_err();
    assert!(e.0.contains("cannot multiply"), "{e}");
    let e = t
        .sgemm(Gemm {
            alpha: 1.0,
            a: &a,
            al: l(2, 3, 3, 1),
            b: &a,
            bl: l(3, 2, 2, 1),
            beta: 0.0,
            c: &mut c[..3],
            cl: l(2, 2, 2, 1),
        })
        .unwrap_err();
    assert!(e.0.contains("needs"), "{e}");
}

#[test]
fn any_split_of_the_rows_gives_the_same_bits() {
    // C computed whole, and in two parts of rows at every split point: the parts run the
    // in-place path (fewer than PACK_MIN_ROWS rows) or the panels, and every element must
    // come out the same, as it does for any thread count.
    let (m, k, n) = (2 * PACK_MIN_ROWS + 3, 37, 45);
    for t in common::tiers() {
        for trans_b in [false, true] {
            let al = l(m, k, k, 1);
            let bl = if trans_b {
                l(k, n, 1, k)
            } else {
                l(k, n, n, 1)
            };
            let a = fill(al.extent().unwrap(), 5);
            let b = fill(bl.extent().unwrap(), 6);
            let c0 = fill(m * n, 7);
            let run = |rows: std::ops::Range<usize>, c: &mut [f32]| {
                t.sgemm(Gemm {
                    alpha: 0.5,
                    a: &a[rows.start * k..rows.end * k],
                    al: l(rows.len(), k, k, 1),
                    b: &b,
                    bl,
                    beta: 2.0,
                    c: &mut c[rows.start * n..rows.end * n],
                    cl: l(rows.len(), n, n, 1),
                })
                .unwrap()
            };
            let mut whole = c0.clone();
            run(0..m, &mut whole);
            for split in 1..m {
                let mut parts = c0.clone();
                run(0..split, &mut parts);
                run(split..m, &mut parts);
                assert!(
                    whole
                        .iter()
                        .zip(&parts)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{:?} Bᵀ {trans_b}: rows split at {split} differ",
                    t.isa()
                );
            }
        }
    }
}
