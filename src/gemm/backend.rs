//! The GEMM backends: which library multiplies, their names, and `SIGMO_BACKEND`.

use std::fmt;

/// Environment variable that picks the backend: `sigmo`, `matrixmultiply`, `openblas` or
/// `gemm`.
pub const BACKEND_ENV: &str = "SIGMO_BACKEND";

/// A backend name that is unknown, or not compiled into this build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// Which library multiplies the matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The `matrixmultiply` crate (pure Rust, AVX-512 kernels since 0.3.11); always compiled.
    MatrixMultiply,
    /// OpenBLAS through CBLAS (cargo feature `openblas`; Debian: `libopenblas-dev`).
    OpenBlas,
    /// The `gemm` crate, the engine under faer and candle (cargo feature `gemm-crate`), kept
    /// for comparison (0.19 with its `x86-v4` feature: AVX-512 kernels on stable Rust).
    GemmCrate,
    /// sigmo's own engine ([`crate::gemm::Engine::Sigmo`]: B packed into column panels,
    /// blocks of 4 to 6 rows × 2 registers) for every product whose C has contiguous rows,
    /// split by rows over sigmo's threads; matrixmultiply for any other C. Always compiled;
    /// what the trainer runs by default ([`Backend::for_training`]), since it was the fastest
    /// at the MLP shapes measured on a quiet host (at two threads on a busy one matrixmultiply
    /// can be ahead; README, "GEMM").
    Sigmo,
}

impl Default for Backend {
    /// OpenBLAS when the `openblas` feature is on, matrixmultiply otherwise.
    fn default() -> Self {
        if cfg!(feature = "openblas") {
            Backend::OpenBlas
        } else {
            Backend::MatrixMultiply
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Backend {
    /// Every backend, compiled or not.
    pub const ALL: [Backend; 4] = [
        Backend::MatrixMultiply,
        Backend::OpenBlas,
        Backend::GemmCrate,
        Backend::Sigmo,
    ];

    /// The trainer's backend when neither `--backend` nor `SIGMO_BACKEND` names one:
    /// [`Backend::Sigmo`], in every build (the cargo features choose [`Backend::default`],
    /// the library's GEMM).
    pub fn for_training() -> Backend {
        Backend::Sigmo
    }

    /// The name `SIGMO_BACKEND` uses.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::MatrixMultiply => "matrixmultiply",
            Backend::OpenBlas => "openblas",
            Backend::GemmCrate => "gemm",
            Backend::Sigmo => "sigmo",
        }
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(&self) -> bool {
        match self {
            Backend::MatrixMultiply => true,
            Backend::OpenBlas => cfg!(feature = "openblas"),
            Backend::GemmCrate => cfg!(feature = "gemm-crate"),
            Backend::Sigmo => true,
        }
    }

    /// The backends this build contains.
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_compiled())
            .collect()
    }

    /// Parses a backend name.
    ///
    /// # Errors
    /// An unknown name, or a backend this build lacks (with the feature that adds it).
    pub fn from_name(name: &str) -> Result<Backend, BackendError> {
        let b = match name.trim().to_ascii_lowercase().as_str() {
            "matrixmultiply" | "mm" => Backend::MatrixMultiply,
            "openblas" | "blas" => Backend::OpenBlas,
            "gemm" | "gemm-crate" => Backend::GemmCrate,
            "sigmo" => Backend::Sigmo,
            _ => {
                return Err(BackendError(format!(
                "unknown GEMM backend {name:?}; use one of: sigmo, matrixmultiply, openblas, gemm"
            )))
            }
        };
        if !b.is_compiled() {
            return Err(BackendError(format!(
                "GEMM backend {b} is not compiled into this build (build with --features {}); available: {}",
                if b == Backend::GemmCrate { "gemm-crate" } else { "openblas" },
                Backend::available().iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(b)
    }

    /// `SIGMO_BACKEND` if set (it must name a compiled backend), otherwise the default.
    ///
    /// # Errors
    /// As [`Backend::from_name`], naming the variable.
    pub fn from_env() -> Result<Backend, BackendError> {
        Backend::from_env_or(Backend::default())
    }

    /// `SIGMO_BACKEND` if set (it must name a compiled backend), otherwise `fallback`.
    ///
    /// # Errors
    /// As [`Backend::from_name`], naming the variable.
    pub fn from_env_or(fallback: Backend) -> Result<Backend, BackendError> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                Backend::from_name(&v).map_err(|e| BackendError(format!("{BACKEND_ENV}: {e}")))
            }
            _ => Ok(fallback),
        }
    }
}
