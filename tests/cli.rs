//! The `sigmo` command as a user runs it.

use std::process::Command;

fn sigmo(args: &[&str], isa: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigmo"));
    c.args(args);
    match isa {
        Some(v) => c.env("SIGMO_ISA", v),
        None => c.env_remove("SIGMO_ISA"),
    };
    c.output().expect("run sigmo")
}

#[test]
fn info_reports_the_detected_tier() {
    let out = sigmo(&["info"], None);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let best = sigmo::kernels::Isa::best_available();
    assert!(
        text.contains(&format!(
            "kernels:   {} ({} lanes, detected)",
            best,
            best.lanes()
        )),
        "{text}"
    );
    assert!(text.contains("available: scalar"), "{text}");
}

#[test]
fn info_honours_sigmo_isa() {
    for isa in sigmo::kernels::Isa::available() {
        let out = sigmo(&["info"], Some(isa.name()));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(&format!("kernels:   {isa} ")) && text.contains("forced by SIGMO_ISA"),
            "{text}"
        );
    }
}

#[test]
fn a_bad_sigmo_isa_is_one_clear_line_and_a_failure() {
    let out = sigmo(&["info"], Some("neon9000"));
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("SIGMO_ISA") && err.contains("neon9000") && err.contains("avx2"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_subcommand_fails() {
    let out = sigmo(&["frobnicate"], None);
    assert!(!out.status.success());
}

#[test]
fn info_reports_gemm_backend_and_threads_and_rejects_bad_values() {
    let out = sigmo(&["info"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "gemm:      {}",
            sigmo::gemm::Backend::from_env().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("threads:"), "{text}");
    for (var, bad) in [("SIGMO_BACKEND", "cublas"), ("SIGMO_THREADS", "zero")] {
        let out = Command::new(env!("CARGO_BIN_EXE_sigmo"))
            .arg("info")
            .env(var, bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={bad} accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(var) && err.contains(bad), "{err}");
    }
}

/// The command gets OpenBLAS's right kernels without the user knowing: where OpenBLAS would
/// run a generic core and OPENBLAS_CORETYPE is unset, it re-executes itself once with the
/// variable chosen from the detected ISA. A value the user set is never changed (CI machines
/// may set one on purpose: this test then checks that it is kept).
#[cfg(feature = "openblas")]
#[test]
fn openblas_generic_core_is_replaced_without_touching_a_user_value() {
    let best = sigmo::openblas::cpu_class();
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigmo"));
    c.arg("info").env("SIGMO_OPENBLAS_ASSUME_CORE", "Prescott");
    let out = c.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    match std::env::var("OPENBLAS_CORETYPE") {
        Ok(user) => assert!(
            text.contains(&format!("(OPENBLAS_CORETYPE={user})")),
            "user value changed: {text}"
        ),
        Err(_) => match sigmo::openblas::better_core("Prescott", best) {
            Some(want) => assert!(
                text.contains(&format!("(OPENBLAS_CORETYPE={want})")),
                "{text}"
            ),
            None => assert!(text.contains("detected by OpenBLAS"), "{text}"),
        },
    }
}
