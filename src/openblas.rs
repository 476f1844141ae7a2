//! Which OpenBLAS kernels run, and getting the right ones without the user knowing.
//!
//! Debian's OpenBLAS 0.3.21 does not know recent CPUs and falls back to its *Prescott* (SSE3)
//! kernels: 18% of peak at 1024³. `OPENBLAS_CORETYPE` picks the kernels, but OpenBLAS reads it
//! when the library loads, before `main`. So the `sigmo` command and the benches call
//! [`ensure_kernels`] first: where the variable is unset and OpenBLAS runs a generic core on a
//! CPU with AVX2 or AVX-512, the process re-executes itself once with the variable chosen from
//! the detected ISA. A value the user set is never changed.
//!
//! A program of the user's own that links sigmo with `--features openblas` and does not call
//! [`ensure_kernels`] would get those generic kernels silently. So the first GEMM on the
//! OpenBLAS backend checks the core ([`routing`]): where OpenBLAS runs a generic core on a
//! CPU with better kernels and `OPENBLAS_CORETYPE` is unset, the backend's GEMMs run on
//! matrixmultiply instead, with one warning line on stderr that says why and how to get
//! OpenBLAS's own kernels; `SIGMO_OPENBLAS_INSIST=1` keeps OpenBLAS regardless.

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
/// Set to `1` to run the OpenBLAS backend on OpenBLAS even where it runs generic kernels.
pub const INSIST_ENV: &str = "SIGMO_OPENBLAS_INSIST";

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

/// Where the OpenBLAS backend's GEMMs run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// On OpenBLAS: its kernels fit the CPU, or the user chose (`OPENBLAS_CORETYPE` set, or
    /// `SIGMO_OPENBLAS_INSIST=1`), or OpenBLAS is not compiled in (nothing to route).
    OpenBlas,
    /// On matrixmultiply: OpenBLAS runs the generic `core` on a CPU that has `wanted`.
    MatrixMultiply {
        /// The core OpenBLAS runs.
        core: String,
        /// The one this CPU should run.
        wanted: &'static str,
    },
}

/// The routing rule: generic kernels on a better CPU go to matrixmultiply unless the user
/// set `OPENBLAS_CORETYPE` (`coretype_set`) or insists.
pub fn routing_for(core: &str, class: Isa, coretype_set: bool, insist: bool) -> Routing {
    if coretype_set || insist {
        return Routing::OpenBlas;
    }
    match better_core(core, class) {
        Some(wanted) => Routing::MatrixMultiply {
            core: core.to_string(),
            wanted,
        },
        None => Routing::OpenBlas,
    }
}

/// This process's routing, decided at the first call (OpenBLAS's core cannot change after it
/// loads), with one warning line on stderr when GEMMs go to matrixmultiply.
pub fn routing() -> &'static Routing {
    static ROUTE: std::sync::OnceLock<Routing> = std::sync::OnceLock::new();
    ROUTE.get_or_init(|| {
        let Some(core) = corename() else {
            return Routing::OpenBlas;
        };
        let set = std::env::var_os(CORETYPE_ENV).is_some();
        let core = if set {
            core
        } else {
            std::env::var(ASSUME_CORE_ENV).unwrap_or(core)
        };
        let insist = std::env::var(INSIST_ENV).is_ok_and(|v| v.trim() == "1");
        let r = routing_for(&core, cpu_class(), set, insist);
        if let Routing::MatrixMultiply { core, wanted } = &r {
            eprintln!(
                "sigmo: warning: OpenBLAS runs its generic {core} kernels on this {} CPU, so the \
                 openblas backend's GEMMs run on matrixmultiply; for OpenBLAS's own kernels set \
                 {CORETYPE_ENV}={wanted} before the program starts (or call \
                 sigmo::openblas::ensure_kernels() first in main), or set {INSIST_ENV}=1 to keep \
                 these",
                cpu_class()
            );
        }
        r
    })
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
