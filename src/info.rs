//! What this build and this CPU run: the `sigmo info` report.

use crate::kernels::{Isa, IsaError, Kernels, ISA_ENV};
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
}

impl Info {
    /// Detects the tier as the kernels will (honouring `SIGMO_ISA`).
    ///
    /// # Errors
    /// When `SIGMO_ISA` names an unknown tier or one this CPU lacks.
    pub fn detect() -> Result<Info, IsaError> {
        let k = Kernels::try_best()?;
        Ok(Info {
            version: env!("CARGO_PKG_VERSION"),
            isa: k.isa(),
            forced: std::env::var(ISA_ENV).is_ok_and(|v| !v.trim().is_empty()),
            available: Isa::available(),
            simd_compiled: cfg!(feature = "simd"),
            arch: std::env::consts::ARCH,
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
