//! Which OpenBLAS kernels run, and getting the right ones without the user knowing.
//!
//! Debian's OpenBLAS 0.3.21 does not know recent CPUs and falls back to its *Prescott* (SSE3)
//! kernels: 18% of peak at 1024³. `OPENBLAS_CORETYPE` picks the kernels, but OpenBLAS reads it
//! when the library loads, before `main`. So the `sigmo` command and the benches call
//! [`ensure_kernels`] first: where the variable is unset and OpenBLAS runs a generic core on a
//! CPU with AVX2 or AVX-512, the process re-executes itself once with the variable chosen from
//! the detected ISA. A value the user set is never changed.

use sigmo_kernels::Isa;

/// Environment variable OpenBLAS reads to force a core type.
pub const CORETYPE_ENV: &str = "OPENBLAS_CORETYPE";
/// Set on the re-executed child, so that it never re-executes again.
pub const REEXEC_MARK: &str = "SIGMO_OPENBLAS_REEXEC";
/// Test hook: pretend OpenBLAS chose this core (the tests use it to drive the re-execution
/// on machines whose OpenBLAS already picks the right kernels). Honoured only while
/// `OPENBLAS_CORETYPE` is unset.
#[doc(hidden)]
pub const ASSUME_CORE_ENV: &str = "SIGMO_OPENBLAS_ASSUME_CORE";

/// This CPU's class for OpenBLAS, from its own feature detection (independent of sigmo's
/// `simd` feature): `Avx512` with AVX-512F/BW/VL (what OpenBLAS's SkylakeX kernels use),
/// `Avx2` with AVX2 and FMA (Haswell kernels), `Scalar` otherwise.
pub fn cpu_class() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx2") && has!("fma") {
            return Isa::Avx512;
        }
        if has!("avx2") && has!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// The OpenBLAS core a CPU of this class should run, and whether `core` falls short of it.
/// `None` when `core` is fine (or the CPU has no AVX2).
pub fn better_core(core: &str, best: Isa) -> Option<&'static str> {
    let c = core.to_ascii_lowercase();
    let avx2_cores = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"];
    let avx512_cores = ["skylakex", "cooperlake", "sapphirerapids"];
    match best {
        Isa::Avx512 if !avx512_cores.iter().any(|k| c == *k) => Some("SkylakeX"),
        Isa::Avx2 if !avx2_cores.iter().any(|k| c == *k) => Some("Haswell"),
        _ => None,
    }
}

/// What [`ensure_kernels`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreStatus {
    /// No OpenBLAS in this build.
    NotCompiled,
    /// OpenBLAS runs kernels that fit the CPU.
    Fine(String),
    /// The user set `OPENBLAS_CORETYPE`; left as it is (with the core OpenBLAS runs).
    UserSet(String),
    /// A generic core runs on a CPU with better kernels, and nothing could be done: the
    /// warning says which and how to fix it.
    Generic {
        /// The core OpenBLAS runs.
        core: String,
        /// The one the CPU should run.
        wanted: &'static str,
    },
}

/// The core OpenBLAS runs, if compiled in.
pub fn corename() -> Option<String> {
    #[cfg(feature = "openblas")]
    {
        Some(sigmo_kernels::gemm::openblas::corename())
    }
    #[cfg(not(feature = "openblas"))]
    {
        None
    }
}

/// Checks the OpenBLAS core and, where it is a generic fallback and `OPENBLAS_CORETYPE` is
/// unset, re-executes this program once with the right value (Unix). Returns only when no
/// re-execution happened; a warning goes to stderr when the core stays generic.
pub fn ensure_kernels() -> CoreStatus {
    let Some(core) = corename() else {
        return CoreStatus::NotCompiled;
    };
    if let Some(set) = std::env::var_os(CORETYPE_ENV) {
        // Never changed. A deliberate older core is respected silently; but when the value
        // names good kernels and OpenBLAS still runs a generic core, it ignored the value.
        let set = set.to_string_lossy();
        if better_core(&set, cpu_class()).is_none() {
            if let Some(wanted) = better_core(&core, cpu_class()) {
                eprintln!(
                    "sigmo: warning: OpenBLAS runs its {core} kernels although {CORETYPE_ENV}={set} \
                     (this CPU can run {wanted})"
                );
            }
        }
        return CoreStatus::UserSet(core);
    }
    let core = std::env::var(ASSUME_CORE_ENV).unwrap_or(core);
    let Some(wanted) = better_core(&core, cpu_class()) else {
        return CoreStatus::Fine(core);
    };
    if std::env::var_os(REEXEC_MARK).is_none() {
        reexec_with(wanted);
    }
    eprintln!(
        "sigmo: warning: OpenBLAS runs its generic {core} kernels on a CPU that has {}; \
         set {CORETYPE_ENV}={wanted} for several times the GEMM speed",
        cpu_class()
    );
    CoreStatus::Generic { core, wanted }
}

#[cfg(unix)]
fn reexec_with(wanted: &str) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CORETYPE_ENV, wanted)
        .env(REEXEC_MARK, "1")
        .exec();
    eprintln!("sigmo: could not re-execute with {CORETYPE_ENV}={wanted}: {err}");
}

#[cfg(not(unix))]
fn reexec_with(_wanted: &str) {}
