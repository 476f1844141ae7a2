//! What this build and this CPU run: the `sigmo info` report.

use crate::gemm::Backend;
use crate::kernels::{Isa, Kernels, ISA_ENV};
use std::fmt;

/// A snapshot of the kernel dispatch on this machine.
#[derive(Clone, Debug)]
pub struct Info {
    /// sigmo's version.
    pub version: &'static str,
    /// The tier the kernels run (after `SIGMO_ISA`).
    pub isa: Isa,
    /// Whether `SIGMO_ISA` chose it (otherwise: detected as the widest available).
    pub forced: bool,
    /// Every tier this build and CPU can run.
    pub available: Vec<Isa>,
    /// Whether the vector tiers were compiled in (cargo feature `simd`).
    pub simd_compiled: bool,
    /// The target architecture this binary was built for.
    pub arch: &'static str,
    /// The GEMM backend the `sigmo` command runs (`SIGMO_BACKEND`, else
    /// [`Backend::for_training`]).
    pub backend: Backend,
    /// The GEMM backends compiled in.
    pub backends: Vec<Backend>,
    /// The core OpenBLAS runs, if compiled in.
    pub openblas_core: Option<String>,
    /// `OPENBLAS_CORETYPE`, if set (by the user, or by sigmo's re-execution).
    pub openblas_coretype: Option<String>,
    /// Where the OpenBLAS backend's GEMMs run ([`crate::openblas::routing`]).
    pub openblas_routing: crate::openblas::Routing,
    /// [`crate::gemm::self_check`] on every compiled backend: the largest error as a fraction
    /// of the tolerance, or what failed.
    pub gemm_check: Vec<(Backend, Result<f64, String>)>,
    /// The thread count in force.
    pub threads: usize,
    /// The cores this process may use.
    pub cores: usize,
}

impl Info {
    /// Detects the tier as the kernels will (honouring `SIGMO_ISA`).
    ///
    /// # Errors
    /// When `SIGMO_ISA`, `SIGMO_BACKEND` or `SIGMO_THREADS` holds a value that cannot be used;
    /// the message names the variable.
    pub fn detect() -> Result<Info, String> {
        let k = Kernels::try_best().map_err(|e| e.to_string())?;
        let backend = Backend::from_env_or(Backend::for_training()).map_err(|e| e.to_string())?;
        crate::threads::from_env()?;
        Ok(Info {
            version: env!("CARGO_PKG_VERSION"),
            isa: k.isa(),
            forced: std::env::var(ISA_ENV).is_ok_and(|v| !v.trim().is_empty()),
            available: Isa::available(),
            simd_compiled: cfg!(feature = "simd"),
            arch: std::env::consts::ARCH,
            backend,
            backends: Backend::available(),
            openblas_core: crate::openblas::corename(),
            openblas_coretype: std::env::var(crate::openblas::CORETYPE_ENV).ok(),
            openblas_routing: crate::openblas::routing().clone(),
            gemm_check: Backend::available()
                .into_iter()
                .map(|b| (b, crate::gemm::self_check(b, &k)))
                .collect(),
            threads: crate::threads::num_threads(),
            cores: crate::threads::cores(),
        })
    }
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sigmo {}", self.version)?;
        writeln!(
            f,
            "kernels:   {} ({} lanes, {})",
            self.isa,
            self.isa.lanes(),
            if self.forced {
                format!("forced by {ISA_ENV}")
            } else {
                "detected".to_string()
            }
        )?;
        writeln!(
            f,
            "available: {}",
            self.available
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        writeln!(
            f,
            "gemm:      {} (compiled: {}; the library's default: {})",
            self.backend,
            self.backends
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(", "),
            Backend::default()
        )?;
        writeln!(
            f,
            "engine:    sigmo's own runs every product of the sigmo backend (C rows contiguous) \
             and, on the others, those with m or k ≤ {} under {} flops",
            crate::gemm::SMALL_MAX_SIDE,
            crate::gemm::PARALLEL_MIN_FLOPS
        )?;
        if let Some(core) = &self.openblas_core {
            writeln!(
                f,
                "openblas:  {core} kernels{}",
                match &self.openblas_coretype {
                    Some(v) => format!(" (OPENBLAS_CORETYPE={v})"),
                    None => " (detected by OpenBLAS)".to_string(),
                }
            )?;
            if let crate::openblas::Routing::MatrixMultiply { wanted, .. } = &self.openblas_routing
            {
                writeln!(
                    f,
                    "openblas:  generic on this CPU ({wanted} wanted): the openblas backend's \
                     GEMMs run on matrixmultiply"
                )?;
            }
        }
        for (b, r) in &self.gemm_check {
            match r {
                Ok(e) => writeln!(
                    f,
                    "gemm check: ok on {b} (largest error {:.3} of the f64 tolerance)",
                    e
                )?,
                Err(e) => writeln!(f, "gemm check: FAILED: {e}")?,
            }
        }
        writeln!(f, "threads:   {} (of {} cores)", self.threads, self.cores)?;
        write!(
            f,
            "build:     {}, vector tiers {}",
            self.arch,
            if self.simd_compiled {
                "compiled (feature `simd`)"
            } else {
                "not compiled (feature `simd` off)"
            }
        )
    }
}
