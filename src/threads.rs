//! One thread setting for the whole crate: sigmo's own splitting (rayon), and OpenBLAS.
//!
//! The count comes from [`set_num_threads`], else from `SIGMO_THREADS`, else from the number of
//! cores. A GEMM below [`PARALLEL_MIN_FLOPS`](crate::gemm::PARALLEL_MIN_FLOPS) runs on one
//! thread (waking a worker costs as much as the whole product); larger ones split the rows of C
//! over rayon's workers (matrixmultiply) or run on OpenBLAS with its thread count set to this
//! one before the call. OpenBLAS is never called from inside a rayon worker while its own
//! threads are on (see [`Backend::engine_for`](crate::gemm::Backend::engine_for)), so the two
//! never nest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Environment variable with the thread count (a whole number ≥ 1).
pub const THREADS_ENV: &str = "SIGMO_THREADS";

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The cores this process may use (asked once: the answer reads cgroup files).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The most threads sigmo starts: 4 × [`cores`], at least 16 (so that tests of splitting
/// run on any machine), at most 1024. More cannot make anything faster, and starting a
/// million threads takes minutes; a larger count is an error (see [`check`]), never clamped.
pub fn max_threads() -> usize {
    cores().saturating_mul(4).clamp(16, 1024)
}

/// Checks a thread count: at least 1, at most [`max_threads`]. The error says what is wrong
/// and the limit, after `what` (the option or variable, e.g. `--threads 1000000`).
///
/// # Errors
/// When `n` is 0 or above [`max_threads`].
pub fn check(n: usize, what: &str) -> Result<usize, String> {
    let max = max_threads();
    match n {
        0 => Err(format!("{what}: must be at least 1")),
        n if n > max => Err(format!(
            "{what}: more threads than this machine can use (at most {max}: 4 × {} cores, \
             within 16..=1024)",
            cores()
        )),
        n => Ok(n),
    }
}

/// Parses a `SIGMO_THREADS` value (`None`: unset).
///
/// # Errors
/// Anything but a whole number from 1 to [`max_threads`], with a message naming the variable.
pub fn parse_env_value(v: Option<&str>) -> Result<Option<usize>, String> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => check(n, &format!("{THREADS_ENV}={s}")).map(Some),
            _ => Err(format!(
                "{THREADS_ENV}={s:?} is not a thread count (a whole number ≥ 1)"
            )),
        },
    }
}

/// The thread count `SIGMO_THREADS` asks for, checked.
///
/// # Errors
/// As [`parse_env_value`].
pub fn from_env() -> Result<Option<usize>, String> {
    parse_env_value(std::env::var(THREADS_ENV).ok().as_deref())
}

/// Sets the thread count for sigmo's GEMMs and OpenBLAS (`0`: back to the default).
pub fn set_num_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The thread count in force: the last [`set_num_threads`], else a valid `SIGMO_THREADS`
/// (read once, at the first call), else the number of cores. (An invalid `SIGMO_THREADS` is
/// ignored here; the `sigmo` command reports it as an error, and [`from_env`] returns it.)
/// Allocation-free after the first call, so that GEMMs in a training loop can ask.
pub fn num_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    match THREADS.load(Ordering::Relaxed) {
        0 => *DEFAULT.get_or_init(|| from_env().ok().flatten().unwrap_or_else(cores)),
        n => n,
    }
}
