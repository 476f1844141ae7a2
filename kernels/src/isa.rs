//! Instruction-set tiers, run-time detection and the `SIGMO_ISA` override.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Name of the environment variable that forces a tier: `scalar`, `sse4.1`, `avx2` or `avx512`.
pub const ISA_ENV: &str = "SIGMO_ISA";

/// One lane-width tier of the kernels.
///
/// | tier     | lanes | needs                  | fused multiply-add |
/// |----------|-------|------------------------|--------------------|
/// | `Scalar` | 1     | nothing (any target)   | `f32::mul_add`     |
/// | `Sse41`  | 4     | x86-64 SSE4.1          | no (mul, then add) |
/// | `Avx2`   | 8     | x86-64 AVX2 + FMA      | yes                |
/// | `Avx512` | 16    | x86-64 AVX-512F (+AVX2, FMA) | yes          |
///
/// `Scalar`, `Avx2` and `Avx512` run the same algorithm with a fused multiply-add at every
/// step, so they return the same bits for the same input. `Sse41` has no FMA: it may differ
/// in the last bits but meets the same accuracy bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable scalar code, one lane; the only tier without the `simd` feature or off x86-64.
    Scalar,
    /// 4 lanes of SSE4.1 (128-bit), no FMA.
    Sse41,
    /// 8 lanes of AVX2 with FMA3 (256-bit).
    Avx2,
    /// 16 lanes of AVX-512F (512-bit), masked tails.
    Avx512,
}

/// Why a tier could not be chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsaError {
    /// The name is not one of `scalar`, `sse4.1`, `avx2`, `avx512`.
    Unknown {
        /// The text that was given.
        value: String,
        /// Where it came from (e.g. `SIGMO_ISA`).
        source: &'static str,
    },
    /// The tier exists but this CPU or this build cannot run it.
    Unsupported {
        /// The requested tier.
        isa: Isa,
        /// Why: the CPU lacks a feature, or the build lacks the `simd` feature.
        reason: String,
    },
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsaError::Unknown { value, source } => write!(
                f,
                "{source}={value:?} is not a known ISA tier; use one of: scalar, sse4.1, avx2, avx512"
            ),
            IsaError::Unsupported { isa, reason } => write!(
                f,
                "ISA tier {} cannot run here: {reason}; available: {}",
                isa.name(),
                Isa::available()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl std::error::Error for IsaError {}

impl Isa {
    /// Every tier, narrowest first.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Sse41, Isa::Avx2, Isa::Avx512];

    /// Lanes per vector register: 1, 4, 8 or 16.
    pub const fn lanes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            Isa::Sse41 => 4,
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }

    /// The tier's name as `SIGMO_ISA` spells it: `scalar`, `sse4.1`, `avx2`, `avx512`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Sse41 => "sse4.1",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this tier fuses multiply-add (and so matches `Scalar` to the bit).
    pub const fn has_fma(self) -> bool {
        !matches!(self, Isa::Sse41)
    }

    /// Checks that this build and this CPU can run the tier.
    pub fn check(self) -> Result<(), IsaError> {
        match self.missing() {
            None => Ok(()),
            Some(reason) => Err(IsaError::Unsupported { isa: self, reason }),
        }
    }

    /// Whether this build and this CPU can run the tier.
    pub fn is_supported(self) -> bool {
        self.missing().is_none()
    }

    /// `None` when runnable, otherwise what is missing.
    fn missing(self) -> Option<String> {
        if self == Isa::Scalar {
            return None;
        }
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        {
            let need: &[(&str, bool)] = match self {
                Isa::Scalar => &[],
                Isa::Sse41 => &[("sse4.1", std::arch::is_x86_feature_detected!("sse4.1"))],
                Isa::Avx2 => &[
                    ("avx2", std::arch::is_x86_feature_detected!("avx2")),
                    ("fma", std::arch::is_x86_feature_detected!("fma")),
                ],
                // The AVX-512 instantiation is compiled with avx512f, avx2 and fma (which rustc
                // ties to f16c too): all must be present.
                Isa::Avx512 => &[
                    ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
                    ("avx2", std::arch::is_x86_feature_detected!("avx2")),
                    ("fma", std::arch::is_x86_feature_detected!("fma")),
                    ("f16c", std::arch::is_x86_feature_detected!("f16c")),
                ],
            };
            let lacking: Vec<&str> = need.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
            if lacking.is_empty() {
                None
            } else {
                Some(format!("the CPU lacks {}", lacking.join(" and ")))
            }
        }
        #[cfg(not(all(feature = "simd", target_arch = "x86_64")))]
        {
            Some(if cfg!(target_arch = "x86_64") {
                "this build has no vector tiers (the `simd` feature is off)".to_string()
            } else {
                "vector tiers exist only for x86-64 in this version".to_string()
            })
        }
    }

    /// Every tier this build can run on this CPU, narrowest first (always starts with `Scalar`).
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The widest tier this build can run on this CPU, ignoring `SIGMO_ISA`.
    pub fn best_available() -> Isa {
        Isa::available()
            .into_iter()
            .next_back()
            .unwrap_or(Isa::Scalar)
    }

    /// The tier to use: `SIGMO_ISA` if set (it must name a tier this CPU runs), otherwise the
    /// widest available. Computed once per process; later calls return the cached answer.
    ///
    /// # Errors
    /// An unknown name or a tier the CPU lacks is an error that says which, and what is available.
    pub fn detect() -> Result<Isa, IsaError> {
        static DETECTED: OnceLock<Result<Isa, IsaError>> = OnceLock::new();
        DETECTED
            .get_or_init(|| Isa::from_env_value(std::env::var(ISA_ENV).ok().as_deref()))
            .clone()
    }

    /// What [`Isa::detect`] answers for a given value of `SIGMO_ISA` (`None`: unset).
    /// An empty value counts as unset.
    pub fn from_env_value(value: Option<&str>) -> Result<Isa, IsaError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Isa::best_available()),
            Some(v) => {
                let isa = Isa::parse_from(v, ISA_ENV)?;
                isa.check()?;
                Ok(isa)
            }
        }
    }

    fn parse_from(s: &str, source: &'static str) -> Result<Isa, IsaError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Isa::Scalar),
            "sse4.1" | "sse41" => Ok(Isa::Sse41),
            "avx2" => Ok(Isa::Avx2),
            "avx512" | "avx-512" => Ok(Isa::Avx512),
            _ => Err(IsaError::Unknown {
                value: s.to_string(),
                source,
            }),
        }
    }
}

impl FromStr for Isa {
    type Err = IsaError;
    /// Parses `scalar`, `sse4.1`, `avx2` or `avx512` (case-insensitive; `sse41` and `avx-512`
    /// are accepted too).
    fn from_str(s: &str) -> Result<Isa, IsaError> {
        Isa::parse_from(s, "ISA name")
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
