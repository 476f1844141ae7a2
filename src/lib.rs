//! # sigmo
//!
//! Fast, proven CPU building blocks for neural networks: the hand-vectorized kernels of
//! [`sigmo-kernels`](kernels), a GEMM layer over matrixmultiply or OpenBLAS with a fused bias +
//! activation epilogue ([`gemm`]), one thread setting for all of it ([`set_num_threads`]), and
//! the report of what this machine runs ([`info`]).
//!
//! ```
//! use sigmo::kernels::{Isa, Kernels};
//!
//! let k = Kernels::best();
//! let logits = [2.0f32, 1.0, 0.1];
//! let mut p = [0.0f32; 3];
//! k.softmax(&logits, &mut p);
//! assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! assert!(Isa::available().contains(&k.isa()));
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use sigmo_kernels as kernels;

pub mod atomic;
pub mod checkpoint;
pub mod data;
pub mod exchange;
pub mod gemm;
pub mod info;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod nn;
pub mod openblas;
pub mod predict;
pub mod threads;
pub mod train;

pub use threads::{num_threads, set_num_threads};

/// The longest error message about a file's contents, in characters: what a file holds
/// (a name, a version, a format string) is quoted, never echoed whole.
pub(crate) const MAX_ERROR_CHARS: usize = 300;

/// `what` as one line of at most [`MAX_ERROR_CHARS`] characters: control characters (a line
/// break in a tensor name, an escape sequence in a version) written as escapes, and a tail
/// past the cap cut to `…`. For errors that quote bytes from a file, which may hold anything.
pub(crate) fn one_line(what: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in what.chars() {
        let piece: Vec<char> = if c.is_control() {
            c.escape_default().collect()
        } else {
            vec![c]
        };
        if n + piece.len() > MAX_ERROR_CHARS {
            out.push('…');
            break;
        }
        n += piece.len();
        out.extend(piece);
    }
    out
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
