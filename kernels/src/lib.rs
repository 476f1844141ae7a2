//! # sigmo-kernels
//!
//! Hand-vectorized f32 kernels for neural networks — `exp`, `sigmoid`, `tanh`, the ReLU
//! family, softmax and log-softmax, their derivatives, and the reductions layers need — with
//! **explicit lane-width dispatch** over four tiers ([`Isa`]): scalar, SSE4.1 (4 lanes),
//! AVX2 + FMA (8) and AVX-512 (16).
//!
//! ```
//! use sigmo_kernels::{Isa, Kernels};
//!
//! // Free functions use the best tier of this CPU (or the one `SIGMO_ISA` forces).
//! let x = [1.0f32, 2.0, 3.0];
//! let mut y = [0.0f32; 3];
//! sigmo_kernels::softmax(&x, &mut y);
//! assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//!
//! // Or pick a tier explicitly; every tier this CPU runs is listed by `Isa::available()`.
//! let k = Kernels::new(Isa::Scalar)?;
//! k.exp(&x, &mut y);
//! assert_eq!(y[0], std::f32::consts::E);
//! # Ok::<(), sigmo_kernels::IsaError>(())
//! ```
//!
//! ## Dispatch
//! The tier is detected once per process ([`Isa::detect`]); the environment variable
//! `SIGMO_ISA=scalar|sse4.1|avx2|avx512` forces one (an unknown name, or a tier the CPU lacks,
//! is an error, never a silent fallback). [`Kernels::new`] binds any runnable tier, so every
//! tier can be tested on one machine. Each algorithm is written once, generic over a small
//! lane trait, and instantiated per tier inside `#[target_feature]` functions; tails use
//! masked loads and stores (AVX-512) or a padded stack buffer (other tiers), never a scalar
//! loop, and nothing reads or writes past a slice.
//!
//! Without the `simd` feature (on by default), or off x86-64, only [`Isa::Scalar`] exists.
//!
//! ## Bit-identical tiers
//! `Scalar` (via `f32::mul_add`), `Avx2` and `Avx512` run the same operations with a fused
//! multiply-add at every step, and every reduction uses 16 virtual lanes folded by one fixed
//! tree, so the three return the same bits for the same input. A NaN input comes out as the
//! same (quieted) NaN on every tier; only where two NaNs with different payloads meet (e.g.
//! `dy` and `y` of a backward kernel) which payload survives is not specified. `Sse41` has no
//! FMA: it may differ in the last bits and meets the same accuracy bounds.
//!
//! ## Accuracy (against an f64 reference, in ULP of the f32 result)
//! | kernel | bound | special values |
//! |---|---|---|
//! | `exp` | ≤ 1 ULP, subnormal results included | +∞ from 88.72283935546875 up (above [`EXP_OVERFLOW`]), +0 from −103.972084 ([`EXP_UNDERFLOW`]) down, exp(−∞) = 0, exp(+∞) = +∞, NaN → NaN |
//! | `sigmoid` | ≤ 1.5 ULP, subnormal results included | exactly 1 above 17.328679, never NaN for finite x |
//! | `tanh` | ≤ 2 ULP | tanh(±0) = ±0, ±1 for large \|x\| |
//! | `softmax` | ≤ 1e-6 relative per element | rows sum to 1 within 1e-6 up to 10⁶ columns |
//!
//! ## No subnormal arithmetic
//! For inputs that are normal numbers, ±0, ±∞ or NaN, no kernel at any tier computes with a
//! subnormal operand or result, or underflows (on Intel cores each such operation costs a
//! microcode assist of 100+ cycles unless FTZ/DAZ are set, which sigmo does not rely on).
//! Results that are subnormal (`exp` below −87.34, saturated `sigmoid`, tiny α·x in ELU and
//! leaky ReLU, softmax entries) are built from their bits with the correctly rounded value;
//! padding lanes of partial registers compute on neutral values. [`fpflags`] reads and clears
//! the x86-64 MXCSR flags that show it (`kernels/tests/subnormal.rs` checks every kernel on
//! every tier).
//! Two-operand products whose exact result is subnormal (`dot`, `axpy`, the backward kernels'
//! dy·f′ with tiny gradients) remain ordinary IEEE products.
//!
//! ## Softmax edge rows
//! An empty row stays empty; a row of one finite element gives `[1]` (`log_softmax`: `[0]`);
//! **a row of all −∞ gives all NaN** (0/0: there is no distribution, as in PyTorch and JAX);
//! a row containing +∞ or NaN gives all NaN.
//!
//! ## Panics
//! Two-slice kernels panic when the lengths differ, as `copy_from_slice` does; the row
//! kernels panic unless `cols` divides the length, and `maxout_rows` unless its input holds k
//! values per output. [`Kernels::best`], and so every free
//! function, panics when `SIGMO_ISA` names an unknown tier or one the CPU lacks (the message
//! says which); [`Kernels::try_best`] returns that error instead. Nothing else panics.

#![warn(missing_docs)]

mod activation;
mod dispatch;
mod drive;
mod dropout;
mod epilogue;
mod exp;
pub mod fpflags;
pub mod gemm;
mod gemm_panels;
mod isa;
mod log;
mod maxout;
mod reduce;
pub mod reference;
mod relu;
mod sigmoid;
mod simd;
mod softmax;
mod tanh;
mod tanh_table;

pub use activation::{Activation, UnknownActivation};
pub use dispatch::free::*;
pub use dispatch::Kernels;
pub use drive::STREAM_MIN_LEN;
pub use exp::{EXP_OVERFLOW, EXP_UNDERFLOW};
pub use isa::{Isa, IsaError, ISA_ENV};
