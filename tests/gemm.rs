//! GEMM against an f64 reference, on every compiled backend: all sizes 0..=17 in every
//! dimension, odd and large sizes, the four transpose combinations, non-unit strides,
//! α, β ∈ {0, 1, 2.5}, NaN-poisoned C with β = 0, empty products, shape errors, the
//! OpenBLAS → matrixmultiply fallback, threads, and the fused bias + activation epilogue.

use sigmo::gemm::{Activation, Backend, Engine, MatMut, MatRef};
use sigmo::kernels::Kernels;
use std::sync::Mutex;

/// Tests that change the crate-wide thread count take turns.
static THREADS_LOCK: Mutex<()> = Mutex::new(());

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

/// A matrix stored with padding: `rows × cols` with row stride `cols + pad` (or transposed
/// storage when `trans`), returned with its view parameters.
struct Stored {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Stored {
    fn new(r: &mut Rng, rows: usize, cols: usize, trans: bool, pad: usize) -> Stored {
        // Stored as the transpose when `trans`: the view is then `.t()` of a cols×rows matrix.
        let (sr, sc) = if trans { (cols, rows) } else { (rows, cols) };
        let ld = sc + pad;
        let data = r.vec(sr * ld);
        let (rs, cs) = if trans { (1, ld) } else { (ld, 1) };
        Stored {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }
    fn view(&self) -> MatRef<'_> {
        MatRef::from_strides(&self.data, self.rows, self.cols, self.rs, self.cs).unwrap()
    }
    fn at(&self, i: usize, j: usize) -> f64 {
        f64::from(self.data[i * self.rs + j * self.cs])
    }
}

/// Checks C against α·A·B + β·C0 in f64 with |error| ≤ 2(K+2)·ε·(|α|·(|A||B|)ᵢⱼ + |β·C0ᵢⱼ|).
#[allow(clippy::too_many_arguments)]
fn check(
    what: &str,
    alpha: f32,
    a: &Stored,
    b: &Stored,
    beta: f32,
    c0: &[f32],
    c: &[f32],
    ldc: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let eps = f64::from(f32::EPSILON);
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut mag) = (0.0f64, 0.0f64);
            for p in 0..k {
                s += a.at(i, p) * b.at(p, j);
                mag += (a.at(i, p) * b.at(p, j)).abs();
            }
            let cin = f64::from(c0[i * ldc + j]);
            let bc = if beta == 0.0 {
                0.0
            } else {
                f64::from(beta) * cin
            };
            let want = f64::from(alpha) * s + bc;
            let tol =
                2.0 * (k as f64 + 2.0) * eps * (f64::from(alpha).abs() * mag + bc.abs()) + 1e-30;
            let got = f64::from(c[i * ldc + j]);
            assert!(
                (got - want).abs() <= tol,
                "{what}: C[{i},{j}] = {got}, want {want} (tol {tol:e}; m={m} k={k} n={n} α={alpha} β={beta})"
            );
        }
    }
}

const SCALARS: [f32; 3] = [0.0, 1.0, 2.5];

#[allow(clippy::too_many_arguments)]
fn run(
    be: Backend,
    r: &mut Rng,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    alpha: f32,
    beta: f32,
    pad: usize,
) {
    let a = Stored::new(r, m, k, ta, pad);
    let b = Stored::new(r, k, n, tb, pad);
    let ldc = n + pad;
    // With β = 0, C starts as NaN: none of it may reach the result.
    let c0: Vec<f32> = if beta == 0.0 {
        vec![f32::NAN; m * ldc]
    } else {
        r.vec(m * ldc)
    };
    let mut c = c0.clone();
    be.gemm(
        &Kernels::best(),
        alpha,
        a.view(),
        b.view(),
        beta,
        MatMut::from_strides(&mut c, m, n, ldc, 1).unwrap(),
    )
    .unwrap();
    check(
        &format!("{be} ta={ta} tb={tb}"),
        alpha,
        &a,
        &b,
        beta,
        &c0,
        &c,
        ldc,
    );
    // Padding between rows is never written.
    for i in 0..m {
        for j in n..ldc {
            assert!(
                c[i * ldc + j].to_bits() == c0[i * ldc + j].to_bits(),
                "{be}: wrote padding"
            );
        }
    }
}

#[test]
fn every_size_to_17_every_transpose_on_every_backend() {
    for be in Backend::available() {
        let mut r = Rng(0x1234_5678_9abc_def1);
        let mut combo = 0usize;
        for m in 0..=17 {
            for k in 0..=17 {
                for n in 0..=17 {
                    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                        // Cycle through the nine (α, β) pairs, so that each meets every shape class.
                        let (alpha, beta) = (SCALARS[combo % 3], SCALARS[(combo / 3) % 3]);
                        combo += 1;
                        run(be, &mut r, m, k, n, ta, tb, alpha, beta, (m + n) % 3);
                    }
                }
            }
        }
    }
}

#[test]
fn all_scalar_pairs_on_a_few_shapes() {
    for be in Backend::available() {
        let mut r = Rng(77);
        for &(m, k, n) in &[(5, 7, 3), (16, 16, 16), (17, 1, 9), (1, 17, 1)] {
            for alpha in SCALARS {
                for beta in SCALARS {
                    for (ta, tb) in [(false, false), (true, true)] {
                        run(be, &mut r, m, k, n, ta, tb, alpha, beta, 1);
                    }
                }
            }
        }
    }
}

#[test]
fn odd_and_large_sizes() {
    for be in Backend::available() {
        let mut r = Rng(99);
        for &(m, k, n) in &[
            (257, 1000, 7),
            (1000, 64, 257),
            (64, 257, 1000),
            (7, 1, 1000),
            (1, 1000, 64),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                run(be, &mut r, m, k, n, ta, tb, 1.0, 2.5, 0);
            }
        }
    }
}

#[test]
fn k_zero_gives_beta_c_and_empty_matrices_do_nothing() {
    for be in Backend::available() {
        let a: Vec<f32> = vec![];
        let mut c = vec![2.0f32; 6];
        be.gemm(
            &Kernels::best(),
            3.0,
            MatRef::new(&a, 2, 0).unwrap(),
            MatRef::new(&a, 0, 3).unwrap(),
            0.5,
            MatMut::new(&mut c, 2, 3).unwrap(),
        )
        .unwrap();
        assert_eq!(c, vec![1.0; 6], "{be}: K = 0 must give β·C");
        let mut c = vec![f32::NAN; 6];
        be.gemm(
            &Kernels::best(),
            3.0,
            MatRef::new(&a, 2, 0).unwrap(),
            MatRef::new(&a, 0, 3).unwrap(),
            0.0,
            MatMut::new(&mut c, 2, 3).unwrap(),
        )
        .unwrap();
        assert_eq!(
            c,
            vec![0.0; 6],
            "{be}: K = 0, β = 0 must give zeros, not NaN"
        );
        let mut none: Vec<f32> = vec![];
        be.gemm(
            &Kernels::best(),
            1.0,
            MatRef::new(&[1.0; 4], 0, 4).unwrap(),
            MatRef::new(&[1.0; 8], 4, 2).unwrap(),
            1.0,
            MatMut::new(&mut none, 0, 2).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn general_strides_and_the_blas_fallback() {
    let mut r = Rng(5);
    for be in Backend::available() {
        // Both strides ≠ 1 in A: every second element of every third row.
        // Both sides above SMALL_MAX_SIDE, so that a backend's own engine takes the call.
        let (m, k, n) = (19, 21, 13);
        let big = r.vec(3 * m * 2 * k);
        let a = MatRef::from_strides(&big, m, k, 2 * k * 3, 2).unwrap();
        let bs = Stored::new(&mut r, k, n, false, 0);
        let mut c = vec![f32::NAN; m * n];
        let mut cm = MatMut::new(&mut c, m, n).unwrap();
        if be == Backend::OpenBlas {
            // BLAS cannot take A as it is: the call must fall back to matrixmultiply...
            assert_eq!(be.engine_for(&a, &bs.view(), &cm), Engine::MatrixMultiply);
            // ...while row-major operands go to OpenBLAS.
            let a2 = Stored::new(&mut r, m, k, true, 2);
            assert_eq!(be.engine_for(&a2.view(), &bs.view(), &cm), Engine::OpenBlas);
        }
        be.gemm(&Kernels::best(), 1.0, a, bs.view(), 0.0, cm.reborrow())
            .unwrap();
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| f64::from(big[i * 6 * k + 2 * p]) * bs.at(p, j))
                    .sum();
                assert!(
                    (f64::from(c[i * n + j]) - want).abs() < 1e-4,
                    "{be}: strided A"
                );
            }
        }
        // A column-major C (the transposed view of a row-major buffer) works on every backend.
        let a3 = Stored::new(&mut r, m, k, false, 0);
        let mut ct = vec![0.0f32; n * m];
        be.gemm(
            &Kernels::best(),
            1.0,
            a3.view(),
            bs.view(),
            0.0,
            MatMut::new(&mut ct, n, m).unwrap().t(),
        )
        .unwrap();
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| a3.at(i, p) * bs.at(p, j)).sum();
                assert!(
                    (f64::from(ct[j * m + i]) - want).abs() < 1e-4,
                    "{be}: column-major C"
                );
            }
        }
    }
}

#[test]
fn shape_errors_name_the_shapes_and_change_nothing() {
    for be in Backend::available() {
        let a = [1.0f32; 6];
        let mut c = [7.0f32; 4];
        let e = be
            .gemm(
                &Kernels::best(),
                1.0,
                MatRef::new(&a, 2, 3).unwrap(),
                MatRef::new(&a, 2, 3).unwrap(),
                0.0,
                MatMut::new(&mut c, 2, 2).unwrap(),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("2×3") && e.contains("2×2"), "{e}");
        assert_eq!(c, [7.0; 4]);
        let e = be
            .gemm_bias_act(
                &Kernels::best(),
                MatRef::new(&a, 2, 3).unwrap(),
                MatRef::new(&a, 3, 2).unwrap(),
                &[1.0; 3],
                Activation::Relu,
                MatMut::new(&mut c, 2, 2).unwrap(),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("bias has 3") && e.contains("2×2"), "{e}");
        assert_eq!(c, [7.0; 4]);
    }
    assert!(MatRef::new(&[1.0; 5], 2, 3)
        .unwrap_err()
        .to_string()
        .contains("needs 6 elements"));
    assert!(
        MatMut::from_strides(&mut [0.0; 16], 2, 2, 0, 1).is_err(),
        "an output row stride of 0 writes twice"
    );
}

fn act_ref(act: Activation, z: f64) -> f64 {
    match act {
        // The epilogue gives maxout's pieces the bias alone.
        Activation::Identity | Activation::Maxout(_) => z,
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu(a) => {
            if z < 0.0 {
                f64::from(a) * z
            } else {
                z
            }
        }
        Activation::Elu(a) => {
            if z > 0.0 {
                z
            } else {
                f64::from(a) * z.exp_m1()
            }
        }
        Activation::Step => {
            if z > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

#[test]
fn fused_bias_activation_matches_gemm_then_activation() {
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Elu(1.0),
        Activation::Maxout(2),
    ];
    let mut r = Rng(11);
    for be in Backend::available() {
        // Shapes below and above the epilogue's row block, and the MLP's.
        for &(m, k, n) in &[
            (1, 3, 2),
            (17, 5, 9),
            (300, 31, 1000),
            (1100, 40, 16),
            (64, 784, 128),
        ] {
            let a = Stored::new(&mut r, m, k, false, 0);
            let b = Stored::new(&mut r, k, n, false, 0);
            let bias = r.vec(n);
            for act in acts {
                let mut c = vec![f32::NAN; m * n];
                be.gemm_bias_act(
                    &Kernels::best(),
                    a.view(),
                    b.view(),
                    &bias,
                    act,
                    MatMut::new(&mut c, m, n).unwrap(),
                )
                .unwrap();
                for i in (0..m).step_by(7) {
                    for j in 0..n {
                        let z: f64 = (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum::<f64>()
                            + f64::from(bias[j]);
                        let mag: f64 = (0..k).map(|p| (a.at(i, p) * b.at(p, j)).abs()).sum::<f64>()
                            + f64::from(bias[j]).abs();
                        let want = act_ref(act, z);
                        // GEMM error, times the activation's slope (≤ 1), plus the activation's own few ULP.
                        let tol = 2.0 * (k as f64 + 2.0) * f64::from(f32::EPSILON) * mag
                            + 4.0 * f64::from(f32::EPSILON) * want.abs()
                            + 1e-30;
                        let got = f64::from(c[i * n + j]);
                        assert!(
                            (got - want).abs() <= tol,
                            "{be} {act} ({m}×{k}·{k}×{n}): [{i},{j}] {got} vs {want}"
                        );
                    }
                }
            }
        }
        // A strided (column-major) output takes the same epilogue.
        let (m, k, n) = (33, 4, 5);
        let a = Stored::new(&mut r, m, k, false, 0);
        let b = Stored::new(&mut r, k, n, false, 0);
        let bias = r.vec(n);
        let mut ct = vec![0.0f32; n * m];
        be.gemm_bias_act(
            &Kernels::best(),
            a.view(),
            b.view(),
            &bias,
            Activation::Tanh,
            MatMut::new(&mut ct, n, m).unwrap().t(),
        )
        .unwrap();
        for i in 0..m {
            for j in 0..n {
                let z: f64 =
                    (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum::<f64>() + f64::from(bias[j]);
                assert!((f64::from(ct[j * m + i]) - z.tanh()).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn two_threads_give_the_one_thread_result() {
    let _turn = THREADS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = Rng(3);
    let (m, k, n) = (512, 300, 384);
    let a = r.vec(m * k);
    let b = r.vec(k * n);
    for be in Backend::available() {
        let mut out = Vec::new();
        for t in [1usize, 2] {
            sigmo::set_num_threads(t);
            assert_eq!(sigmo::num_threads(), t);
            let mut c = vec![f32::NAN; m * n];
            be.gemm(
                &Kernels::best(),
                1.0,
                MatRef::new(&a, m, k).unwrap(),
                MatRef::new(&b, k, n).unwrap(),
                0.0,
                MatMut::new(&mut c, m, n).unwrap(),
            )
            .unwrap();
            let mut f = vec![f32::NAN; m * n];
            be.gemm_bias_act(
                &Kernels::best(),
                MatRef::new(&a, m, k).unwrap(),
                MatRef::new(&b, k, n).unwrap(),
                &vec![0.25; n],
                Activation::Relu,
                MatMut::new(&mut f, m, n).unwrap(),
            )
            .unwrap();
            out.push((c, f));
        }
        sigmo::set_num_threads(0);
        for i in 0..m * n {
            assert!(
                (out[0].0[i] - out[1].0[i]).abs() <= 1e-4,
                "{be}: threads change gemm at {i}"
            );
            assert!(
                (out[0].1[i] - out[1].1[i]).abs() <= 1e-4,
                "{be}: threads change the epilogue at {i}"
            );
            assert!(!out[1].0[i].is_nan() && !out[1].1[i].is_nan());
        }
    }
}

#[test]
fn backend_selection_and_errors() {
    assert!(Backend::available().contains(&Backend::MatrixMultiply));
    assert_eq!(
        Backend::from_name("matrixmultiply").unwrap(),
        Backend::MatrixMultiply
    );
    let e = Backend::from_name("cublas").unwrap_err().to_string();
    assert!(e.contains("cublas") && e.contains("openblas"), "{e}");
    if cfg!(feature = "openblas") {
        assert_eq!(Backend::default(), Backend::OpenBlas);
        assert_eq!(Backend::from_name("OpenBLAS").unwrap(), Backend::OpenBlas);
    } else {
        assert_eq!(Backend::default(), Backend::MatrixMultiply);
        let e = Backend::from_name("openblas").unwrap_err().to_string();
        assert!(e.contains("--features openblas"), "{e}");
    }
    if cfg!(feature = "gemm-crate") {
        assert_eq!(Backend::from_name("gemm").unwrap(), Backend::GemmCrate);
    } else {
        let e = Backend::from_name("gemm").unwrap_err().to_string();
        assert!(e.contains("--features gemm-crate"), "{e}");
    }
    assert!(sigmo::threads::parse_env_value(Some("0")).is_err());
    assert!(sigmo::threads::parse_env_value(Some("two"))
        .unwrap_err()
        .contains("SIGMO_THREADS"));
    assert_eq!(
        sigmo::threads::parse_env_value(Some(" 3 ")).unwrap(),
        Some(3)
    );
}

#[test]
fn openblas_core_choice() {
    use sigmo::kernels::Isa;
    use sigmo::openblas::better_core;
    assert_eq!(better_core("Prescott", Isa::Avx512), Some("SkylakeX"));
    assert_eq!(better_core("Haswell", Isa::Avx512), Some("SkylakeX"));
    assert_eq!(better_core("SkylakeX", Isa::Avx512), None);
    assert_eq!(better_core("Cooperlake", Isa::Avx512), None);
    assert_eq!(better_core("Prescott", Isa::Avx2), Some("Haswell"));
    assert_eq!(better_core("Zen", Isa::Avx2), None);
    assert_eq!(better_core("Prescott", Isa::Sse41), None);
}

#[test]
fn no_openblas_threads_inside_rayon_workers() {
    let _turn = THREADS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (m, k, n) = (256, 256, 256);
    let mut r = Rng(8);
    let (a, b) = (r.vec(m * k), r.vec(k * n));
    sigmo::set_num_threads(2);
    for be in Backend::available() {
        let mut c = vec![0.0f32; m * n];
        let cm = MatMut::new(&mut c, m, n).unwrap();
        let (av, bv) = (
            MatRef::new(&a, m, k).unwrap(),
            MatRef::new(&b, k, n).unwrap(),
        );
        let outside = be.engine_for(&av, &bv, &cm);
        let inside = rayon::scope(|_| be.engine_for(&av, &bv, &cm));
        assert_eq!(outside, inside, "the same engine inside a rayon worker");
        // Inside a worker, OpenBLAS runs on one thread: its count is 1 during the call (the
        // threaded path would hold the write lock and raise it) and after.
        rayon::scope(|_| be.gemm(&Kernels::best(), 1.0, av, bv, 0.0, cm).unwrap());
        #[cfg(feature = "openblas")]
        if be == Backend::OpenBlas {
            assert_eq!(inside, Engine::OpenBlas);
            assert_eq!(sigmo::kernels::gemm::openblas::num_threads(), 1);
        }
        let want: f64 = (0..k).map(|p| f64::from(a[p]) * f64::from(b[p * n])).sum();
        assert!((f64::from(c[0]) - want).abs() < 1e-4);
    }
    sigmo::set_num_threads(0);
}

#[test]
fn threaded_epilogue_over_several_blocks_checks_every_row() {
    let _turn = THREADS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // 2048 rows of 256 columns: two epilogue blocks of 1024 rows, each GEMM split over threads.
    let (m, k, n) = (2048, 64, 256);
    let mut r = Rng(21);
    let a = Stored::new(&mut r, m, k, false, 0);
    let b = Stored::new(&mut r, k, n, false, 0);
    let bias = r.vec(n);
    for be in Backend::available() {
        for t in [1usize, 2] {
            sigmo::set_num_threads(t);
            let mut c = vec![f32::NAN; m * n];
            be.gemm_bias_act(
                &Kernels::best(),
                a.view(),
                b.view(),
                &bias,
                Activation::Tanh,
                MatMut::new(&mut c, m, n).unwrap(),
            )
            .unwrap();
            for i in 0..m {
                for j in (0..n).step_by(5) {
                    let z: f64 =
                        (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum::<f64>() + f64::from(bias[j]);
                    assert!(
                        (f64::from(c[i * n + j]) - z.tanh()).abs() < 2e-5,
                        "{be} t{t}: row {i}"
                    );
                }
            }
        }
        #[cfg(feature = "openblas")]
        assert_eq!(
            sigmo::kernels::gemm::openblas::num_threads(),
            1,
            "OpenBLAS's threads go back to 1 after a call"
        );
    }
    sigmo::set_num_threads(0);
}

#[test]
fn alpha_zero_reads_neither_a_nor_b() {
    for be in Backend::available() {
        let a = [f32::NAN, f32::INFINITY, 1.0, 2.0];
        let mut c = [1.0f32, 2.0, 3.0, 4.0];
        be.gemm(
            &Kernels::best(),
            0.0,
            MatRef::new(&a, 2, 2).unwrap(),
            MatRef::new(&a, 2, 2).unwrap(),
            2.0,
            MatMut::new(&mut c, 2, 2).unwrap(),
        )
        .unwrap();
        assert_eq!(c, [2.0, 4.0, 6.0, 8.0], "{be}");
    }
}

#[test]
fn epilogue_with_empty_dimensions() {
    for be in Backend::available() {
        // K = 0: C = act(bias).
        let mut c = [9.0f32; 6];
        be.gemm_bias_act(
            &Kernels::best(),
            MatRef::new(&[], 2, 0).unwrap(),
            MatRef::new(&[], 0, 3).unwrap(),
            &[-1.0, 0.0, 2.0],
            Activation::Relu,
            MatMut::new(&mut c, 2, 3).unwrap(),
        )
        .unwrap();
        assert_eq!(c, [0.0, 0.0, 2.0, 0.0, 0.0, 2.0], "{be}");
        // No rows, no columns (with a long row stride over an empty slice).
        be.gemm_bias_act(
            &Kernels::best(),
            MatRef::new(&[], 0, 4).unwrap(),
            MatRef::new(&[0.0; 12], 4, 3).unwrap(),
            &[0.0; 3],
            Activation::Tanh,
            MatMut::new(&mut [], 0, 3).unwrap(),
        )
        .unwrap();
        be.gemm_bias_act(
            &Kernels::best(),
            MatRef::new(&[1.0; 20], 5, 4).unwrap(),
            MatRef::new(&[], 4, 0).unwrap(),
            &[],
            Activation::Sigmoid,
            MatMut::from_strides(&mut [], 5, 0, 10, 1).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn overlapping_outputs_are_refused() {
    let mut d = [0.0f32; 16];
    assert!(MatMut::from_strides(&mut d, 3, 3, 1, 1).is_err());
    assert!(MatMut::from_strides(&mut d, 2, 3, 2, 1).is_err());
    assert!(MatMut::from_strides(&mut d, 3, 2, 2, 1).is_ok());
    assert!(MatMut::from_strides(&mut d, 3, 2, 1, 3).is_ok());
}

#[test]
fn threads_split_by_columns_when_b_is_larger() {
    let _turn = THREADS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // A·Wᵀ at an MLP shape (B the larger operand: split by columns), a wide B with an odd
    // number of columns, and a column-major C.
    let mut r = Rng(31);
    for &(m, k, n, tb) in &[
        (256, 1024, 784, true),
        (40, 500, 1001, false),
        (64, 300, 333, true),
    ] {
        let a = Stored::new(&mut r, m, k, false, 0);
        let b = Stored::new(&mut r, k, n, tb, 3);
        for be in Backend::available() {
            sigmo::set_num_threads(2);
            let c0 = r.vec(m * n);
            let mut c = c0.clone();
            be.gemm(
                &Kernels::best(),
                1.5,
                a.view(),
                b.view(),
                0.5,
                MatMut::new(&mut c, m, n).unwrap(),
            )
            .unwrap();
            check(&format!("{be} 2 threads"), 1.5, &a, &b, 0.5, &c0, &c, n);
            let mut ct = vec![0.0f32; n * m];
            be.gemm(
                &Kernels::best(),
                1.0,
                a.view(),
                b.view(),
                0.0,
                MatMut::new(&mut ct, n, m).unwrap().t(),
            )
            .unwrap();
            for i in (0..m).step_by(13) {
                for j in 0..n {
                    let want: f64 = (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum();
                    assert!(
                        (f64::from(ct[j * m + i]) - want).abs() < 1e-3,
                        "{be}: column-major C"
                    );
                }
            }
        }
    }
    sigmo::set_num_threads(0);
}

#[test]
fn short_products_run_on_sigmos_engine_on_every_backend() {
    // Nielsen's network at batch 10: the forward X·W (10×784·784×30), dW = Xᵀ·δ
    // (784×10·10×30) and δ·Wᵀ (W's transpose, a strided B copied into panels) have a short
    // side; a product without one runs on sigmo's engine on the sigmo backend only.
    let mut r = Rng(11);
    for be in Backend::available() {
        for (m, k, n, trans_a, trans_b, small) in [
            (10, 784, 30, false, false, true),
            (784, 10, 30, true, false, true),
            (10, 30, 784, false, true, true),
            (17, 17, 30, false, false, be == Backend::Sigmo),
            (40, 33, 50, false, true, be == Backend::Sigmo),
        ] {
            let a = Stored::new(&mut r, m, k, trans_a, 1);
            let b = Stored::new(&mut r, k, n, trans_b, 0);
            let mut c = vec![f32::NAN; m * n];
            let cm = MatMut::new(&mut c, m, n).unwrap();
            let engine = be.engine_for(&a.view(), &b.view(), &cm);
            assert_eq!(
                engine == Engine::Sigmo,
                small,
                "{be} {m}×{k}×{n}: {engine:?}"
            );
            be.gemm(&Kernels::best(), 1.0, a.view(), b.view(), 0.0, cm)
                .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let (mut want, mut mag) = (0.0f64, 0.0f64);
                    for p in 0..k {
                        want += a.at(i, p) * b.at(p, j);
                        mag += (a.at(i, p) * b.at(p, j)).abs();
                    }
                    let tol = 2.0 * (k as f64 + 2.0) * f64::from(f32::EPSILON) * mag;
                    let got = f64::from(c[i * n + j]);
                    assert!((got - want).abs() <= tol, "{be} {m}×{k}×{n} C({i},{j})");
                }
            }
        }
    }
}
