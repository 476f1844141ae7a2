//! # sigmo
//!
//! Fast, proven CPU building blocks for neural networks. This crate is the front of the
//! workspace; today it re-exports the hand-vectorized kernels of [`sigmo-kernels`](kernels)
//! and reports what this machine runs ([`info`]). The GEMM layer, the MLP and its trainer
//! build on it.
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

pub use sigmo_kernels as kernels;

pub mod info;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
