//! A library user's program with `--features openblas` that never calls
//! `openblas::ensure_kernels`: where OpenBLAS runs a generic core, the OpenBLAS backend's
//! GEMMs go to matrixmultiply with one warning, unless the user set `OPENBLAS_CORETYPE` or
//! insists. The routing is decided once per process, so each case runs in a child process
//! (this test binary again), with the test hook that makes OpenBLAS's core look generic.
#![cfg(feature = "openblas")]

use sigmo::gemm::{Backend, MatMut, MatRef};
use sigmo::kernels::{Isa, Kernels};
use sigmo::openblas::{routing_for, Routing, ASSUME_CORE_ENV, CORETYPE_ENV, INSIST_ENV};
use std::process::Command;

const CHILD: &str = "SIGMO_TEST_ROUTE_CHILD";

/// In the child: one GEMM on the OpenBLAS backend; prints the engine and checks the result.
#[test]
fn child_multiplies_on_the_openblas_backend() {
    if std::env::var_os(CHILD).is_none() {
        return; // run only as the parent's child
    }
    // 32×32 by 32×32: above the small-product engine's sides, so a backend's own engine.
    let n = 32;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 3) as f32 - 1.0).collect();
    let mut c = vec![0.0f32; n * n];
    let (am, bm) = (
        MatRef::new(&a, n, n).unwrap(),
        MatRef::new(&b, n, n).unwrap(),
    );
    let engine = Backend::OpenBlas.engine_for(&am, &bm, &MatMut::new(&mut c, n, n).unwrap());
    Backend::OpenBlas
        .gemm(
            &Kernels::best(),
            1.0,
            am,
            bm,
            0.0,
            MatMut::new(&mut c, n, n).unwrap(),
        )
        .unwrap();
    for i in 0..n {
        for j in 0..n {
            let want: f32 = (0..n).map(|p| a[i * n + p] * b[p * n + j]).sum();
            assert_eq!(c[i * n + j], want, "C({i},{j})");
        }
    }
    println!("ENGINE={engine:?}");
}

fn child(env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_multiplies_on_the_openblas_backend",
        "--nocapture",
    ])
    .env(CHILD, "1")
    .env_remove(INSIST_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "child failed:\n{so}\n{se}");
    (so, se)
}

#[test]
fn a_generic_openblas_core_routes_to_matrixmultiply_with_one_warning() {
    let user_set = std::env::var_os(CORETYPE_ENV).is_some();
    let generic = sigmo::openblas::cpu_class() != Isa::Scalar;
    let (out, err) = child(&[(ASSUME_CORE_ENV, "Prescott")]);
    if user_set || !generic {
        // OPENBLAS_CORETYPE is the machine's choice (never changed here), or the CPU has
        // nothing better than Prescott: OpenBLAS keeps the calls.
        assert!(out.contains("ENGINE=OpenBlas"), "{out}");
        return;
    }
    assert!(out.contains("ENGINE=MatrixMultiply"), "{out}");
    assert_eq!(
        err.matches("sigmo: warning: OpenBLAS runs its generic Prescott")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains(CORETYPE_ENV) && err.contains(INSIST_ENV),
        "{err}"
    );
    // Insisting keeps OpenBLAS, silently.
    let (out, err) = child(&[(ASSUME_CORE_ENV, "Prescott"), (INSIST_ENV, "1")]);
    assert!(out.contains("ENGINE=OpenBlas"), "{out}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn fitting_cores_stay_on_openblas_silently() {
    let (out, err) = child(&[(ASSUME_CORE_ENV, "SkylakeX")]);
    if sigmo::openblas::cpu_class() != Isa::Avx512 && std::env::var_os(CORETYPE_ENV).is_none() {
        // An AVX2-only CPU cannot run SkylakeX kernels: better_core says Haswell is wanted
        // only for generic names, so SkylakeX counts as fine there too.
        assert!(out.contains("ENGINE="), "{out}");
        return;
    }
    assert!(out.contains("ENGINE=OpenBlas"), "{out}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn the_routing_rule() {
    let mm = |core: &str, wanted| Routing::MatrixMultiply {
        core: core.into(),
        wanted,
    };
    assert_eq!(
        routing_for("Prescott", Isa::Avx512, false, false),
        mm("Prescott", "SkylakeX")
    );
    assert_eq!(
        routing_for("Prescott", Isa::Avx2, false, false),
        mm("Prescott", "Haswell")
    );
    assert_eq!(
        routing_for("Haswell", Isa::Avx512, false, false),
        mm("Haswell", "SkylakeX")
    );
    assert_eq!(
        routing_for("SkylakeX", Isa::Avx512, false, false),
        Routing::OpenBlas
    );
    assert_eq!(
        routing_for("Zen", Isa::Avx2, false, false),
        Routing::OpenBlas
    );
    assert_eq!(
        routing_for("Prescott", Isa::Scalar, false, false),
        Routing::OpenBlas
    );
    // The user's OPENBLAS_CORETYPE, or insisting, keeps OpenBLAS.
    assert_eq!(
        routing_for("Prescott", Isa::Avx512, true, false),
        Routing::OpenBlas
    );
    assert_eq!(
        routing_for("Prescott", Isa::Avx512, false, true),
        Routing::OpenBlas
    );
}
