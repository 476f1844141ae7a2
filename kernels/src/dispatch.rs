//! One table of kernels, instantiated once per tier inside `#[target_feature]` functions, and
//! dispatched by [`Kernels`] methods and by the crate's free functions.

use crate::activation::Activation;
use crate::isa::{Isa, IsaError};
use crate::simd::scalar::Scalar;
use crate::{dropout, epilogue, exp, gemm_panels, maxout, reduce, relu, sigmoid, softmax, tanh};
use std::sync::OnceLock;

/// The kernels bound to one [`Isa`] tier.
///
/// A `Kernels` value can only be made for a tier this CPU and this build run, so its methods
/// are safe to call. It is `Copy` and two bytes wide: keep it, or call [`Kernels::best`] (cached).
///
/// ```
/// use sigmo_kernels::{Isa, Kernels};
///
/// let k = Kernels::new(Isa::Scalar).unwrap();
/// let x = [0.0f32, 1.0, -1.0];
/// let mut y = [0.0f32; 3];
/// k.sigmoid(&x, &mut y);
/// assert_eq!(y[0], 0.5);
/// assert!((y[1] - 0.731_058_6).abs() < 1e-6);
///
/// // Every tier the CPU runs gives results within the same bounds; FMA tiers give the same bits.
/// for isa in Isa::available() {
///     let mut z = [0.0f32; 3];
///     Kernels::new(isa).unwrap().sigmoid(&x, &mut z);
///     if isa.has_fma() { assert_eq!(z, y); }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernels {
    isa: Isa,
    /// The scalar tier runs its FMA-enabled build (x86-64 CPUs with FMA): `mul_add` is then
    /// one instruction instead of a libm call. Same operations, same bits.
    scalar_fma: bool,
}

/// Whether the scalar tier may use its build with hardware FMA.
fn scalar_fma() -> bool {
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(feature = "simd", target_arch = "x86_64")))]
    {
        false
    }
}

impl Kernels {
    /// Kernels of the given tier.
    ///
    /// # Errors
    /// [`IsaError::Unsupported`] when the CPU lacks the tier or the build has no vector tiers.
    pub fn new(isa: Isa) -> Result<Kernels, IsaError> {
        isa.check()?;
        Ok(Kernels {
            isa,
            scalar_fma: scalar_fma(),
        })
    }

    /// Kernels of the scalar tier, which every CPU and every build runs.
    pub fn scalar() -> Kernels {
        Kernels {
            isa: Isa::Scalar,
            scalar_fma: scalar_fma(),
        }
    }

    /// Kernels of the tier [`Isa::detect`] picks (honouring `SIGMO_ISA`), cached.
    ///
    /// # Errors
    /// When `SIGMO_ISA` names an unknown tier or one this CPU lacks.
    pub fn try_best() -> Result<Kernels, IsaError> {
        static BEST: OnceLock<Result<Kernels, IsaError>> = OnceLock::new();
        BEST.get_or_init(|| Isa::detect().and_then(Kernels::new))
            .clone()
    }

    /// Kernels of the tier [`Isa::detect`] picks (honouring `SIGMO_ISA`), cached. The free
    /// functions of this crate use it.
    ///
    /// # Panics
    /// When `SIGMO_ISA` names an unknown tier or one this CPU lacks; the message says which
    /// and what is available. Programs that want to report it themselves call
    /// [`Kernels::try_best`] first.
    pub fn best() -> Kernels {
        match Kernels::try_best() {
            Ok(k) => k,
            Err(e) => panic!("sigmo-kernels: {e}"),
        }
    }

    /// The tier these kernels run.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// Declares every kernel once: its doc, its signature and its generic body. Generates the
/// per-tier `#[target_feature]` entry points, the [`Kernels`] methods and the free functions.
macro_rules! kernel_table {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;
    )*) => {
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        mod tier_scalar_fma {
            use super::*;
            $(
                #[target_feature(enable = "avx,fma")]
                pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
                    $body(Scalar, $($arg),*)
                }
            )*
        }
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        mod tier_sse41 {
            use super::*;
            use crate::simd::sse41::Sse41;
            $(
                #[target_feature(enable = "sse4.1")]
                pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: this function is compiled for, and only entered on, SSE4.1 CPUs
                    // (callers hold a `Kernels` whose tier was checked).
                    let s = unsafe { Sse41::new_unchecked() };
                    $body(s, $($arg),*)
                }
            )*
        }
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        mod tier_avx2 {
            use super::*;
            use crate::simd::avx2::Avx2;
            $(
                #[target_feature(enable = "avx2,fma")]
                pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: this function is compiled for, and only entered on, AVX2+FMA CPUs
                    // (callers hold a `Kernels` whose tier was checked).
                    let s = unsafe { Avx2::new_unchecked() };
                    $body(s, $($arg),*)
                }
            )*
        }
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        mod tier_avx512 {
            use super::*;
            use crate::simd::avx512::Avx512;
            $(
                #[target_feature(enable = "avx512f,avx2,fma")]
                pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: this function is compiled for, and only entered on, CPUs with
                    // AVX-512F, AVX2, FMA and F16C (callers hold a `Kernels` whose tier was checked).
                    let s = unsafe { Avx512::new_unchecked() };
                    $body(s, $($arg),*)
                }
            )*
        }

        impl Kernels {
            $(
                $(#[$doc])*
                #[inline]
                pub fn $name(&self, $($arg: $ty),*) $(-> $ret)? {
                    match self.isa {
                        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
                        // SAFETY: `scalar_fma` is set only where the CPU has AVX and FMA.
                        Isa::Scalar if self.scalar_fma => unsafe { tier_scalar_fma::$name($($arg),*) },
                        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
                        // SAFETY: `self.isa` was checked against the CPU when `self` was made.
                        Isa::Sse41 => unsafe { tier_sse41::$name($($arg),*) },
                        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
                        // SAFETY: `self.isa` was checked against the CPU when `self` was made.
                        Isa::Avx2 => unsafe { tier_avx2::$name($($arg),*) },
                        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
                        // SAFETY: `self.isa` was checked against the CPU when `self` was made.
                        Isa::Avx512 => unsafe { tier_avx512::$name($($arg),*) },
                        _ => $body(Scalar, $($arg),*),
                    }
                }
            )*
        }

        /// Free functions: each runs the same-named [`Kernels`] method of [`Kernels::best`].
        pub mod free {
            use super::{Activation, Kernels};
            $(
                $(#[$doc])*
                ///
                /// Runs on [`Kernels::best`]; see its panics.
                #[inline]
                pub fn $name($($arg: $ty),*) $(-> $ret)? {
                    Kernels::best().$name($($arg),*)
                }
            )*
        }
    };
}

kernel_table! {
    /// y ← eˣ, elementwise; ≤ 1 ULP, +∞ above [`EXP_OVERFLOW`](crate::EXP_OVERFLOW), +0 at and
    /// below [`EXP_UNDERFLOW`](crate::EXP_UNDERFLOW).
    /// Panics if `x` and `y` differ in length (as every two-slice kernel here).
    fn exp(x: &[f32], y: &mut [f32]) = exp::exp;
    /// x ← eˣ, elementwise.
    fn exp_inplace(x: &mut [f32]) = exp::exp_inplace;
    /// y ← σ(x) = 1/(1 + e⁻ˣ); ≤ 1.5 ULP, exactly 1 above 17.328679, never NaN for finite x.
    fn sigmoid(x: &[f32], y: &mut [f32]) = sigmoid::sigmoid;
    /// x ← σ(x).
    fn sigmoid_inplace(x: &mut [f32]) = sigmoid::sigmoid_inplace;
    /// y ← tanh x; ≤ 2 ULP.
    fn tanh(x: &[f32], y: &mut [f32]) = tanh::tanh;
    /// x ← tanh x.
    fn tanh_inplace(x: &mut [f32]) = tanh::tanh_inplace;
    /// y ← max(0, x) (NaN stays NaN).
    fn relu(x: &[f32], y: &mut [f32]) = relu::relu;
    /// x ← max(0, x).
    fn relu_inplace(x: &mut [f32]) = relu::relu_inplace;
    /// y ← x for x ≥ 0, α·x below.
    fn leaky_relu(x: &[f32], y: &mut [f32], alpha: f32) = relu::leaky_relu;
    /// x ← leaky_relu(x).
    fn leaky_relu_inplace(x: &mut [f32], alpha: f32) = relu::leaky_relu_inplace;
    /// y ← x for x > 0, α·(eˣ − 1) otherwise (expm1-accurate near 0).
    fn elu(x: &[f32], y: &mut [f32], alpha: f32) = relu::elu;
    /// x ← elu(x).
    fn elu_inplace(x: &mut [f32], alpha: f32) = relu::elu_inplace;
    /// y ← 1 for x > 0, else 0 (Heaviside; NaN stays NaN).
    fn step(x: &[f32], y: &mut [f32]) = relu::step;
    /// x ← step(x).
    fn step_inplace(x: &mut [f32]) = relu::step_inplace;
    /// y ← x.
    fn identity(x: &[f32], y: &mut [f32]) = relu::identity;
    /// x ← x (nothing to do; here so that every activation has an in-place form).
    fn identity_inplace(x: &mut [f32]) = relu::identity_inplace;

    /// dx ← dy ⊙ σ′, with σ′ = y·(1 − y) from the forward output `y`.
    fn sigmoid_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) = sigmoid::sigmoid_backward;
    /// dy ← dy ⊙ y·(1 − y).
    fn sigmoid_backward_inplace(y: &[f32], dy: &mut [f32]) = sigmoid::sigmoid_backward_inplace;
    /// dx ← dy ⊙ (1 − y²) from the forward output `y`.
    fn tanh_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) = tanh::tanh_backward;
    /// dy ← dy ⊙ (1 − y²).
    fn tanh_backward_inplace(y: &[f32], dy: &mut [f32]) = tanh::tanh_backward_inplace;
    /// dx ← dy where the forward output y > 0, else 0.
    fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) = relu::relu_backward;
    /// dy ← dy where y > 0, else 0.
    fn relu_backward_inplace(y: &[f32], dy: &mut [f32]) = relu::relu_backward_inplace;
    /// dx ← dy where the forward output y > 0, else α·dy (needs α ≥ 0).
    fn leaky_relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32], alpha: f32)
        = relu::leaky_relu_backward;
    /// dy ← dy where y > 0, else α·dy (needs α ≥ 0).
    fn leaky_relu_backward_inplace(y: &[f32], dy: &mut [f32], alpha: f32)
        = relu::leaky_relu_backward_inplace;
    /// dx ← dy where the forward output y > 0, else dy·(y + α) (= dy·α·eˣ; needs α ≥ 0).
    fn elu_backward(y: &[f32], dy: &[f32], dx: &mut [f32], alpha: f32) = relu::elu_backward;
    /// dy ← dy where y > 0, else dy·(y + α) (needs α ≥ 0).
    fn elu_backward_inplace(y: &[f32], dy: &mut [f32], alpha: f32)
        = relu::elu_backward_inplace;

    /// y ← softmax(x) of one row, three-pass (max; exp, store and compensated sum; scale).
    /// Edge rows: see the crate docs.
    fn softmax(x: &[f32], y: &mut [f32]) = softmax::softmax;
    /// x ← softmax(x), three-pass.
    fn softmax_inplace(x: &mut [f32]) = softmax::softmax_inplace;
    /// y ← softmax(x) of one row, two-pass (online max-and-sum, then exp and scale).
    fn softmax_online(x: &[f32], y: &mut [f32]) = softmax::softmax_online;
    /// x ← softmax(x), two-pass.
    fn softmax_online_inplace(x: &mut [f32]) = softmax::softmax_online_inplace;
    /// y ← log softmax(x) = x − max − ln Σ e^(x−max) of one row.
    fn log_softmax(x: &[f32], y: &mut [f32]) = softmax::log_softmax;
    /// x ← log softmax(x).
    fn log_softmax_inplace(x: &mut [f32]) = softmax::log_softmax_inplace;
    /// Three-pass softmax of every row of the row-major matrix `x` with `cols` columns.
    /// Panics unless `cols` divides `x.len()` (`cols = 0` only with an empty `x`).
    fn softmax_rows(x: &[f32], cols: usize, y: &mut [f32]) = softmax::softmax_rows;
    /// In-place three-pass softmax of every row.
    fn softmax_rows_inplace(x: &mut [f32], cols: usize) = softmax::softmax_rows_inplace;
    /// Two-pass softmax of every row.
    fn softmax_online_rows(x: &[f32], cols: usize, y: &mut [f32]) = softmax::softmax_online_rows;
    /// In-place two-pass softmax of every row.
    fn softmax_online_rows_inplace(x: &mut [f32], cols: usize)
        = softmax::softmax_online_rows_inplace;
    /// Log-softmax of every row.
    fn log_softmax_rows(x: &[f32], cols: usize, y: &mut [f32]) = softmax::log_softmax_rows;
    /// In-place log-softmax of every row.
    fn log_softmax_rows_inplace(x: &mut [f32], cols: usize) = softmax::log_softmax_rows_inplace;

    /// x ← act(x + bias), elementwise, in one pass: a layer's epilogue on one row of its
    /// output. The sum rounds once; the activation is the same as its own kernel's. Panics if
    /// the lengths differ.
    fn bias_activate_inplace(x: &mut [f32], bias: &[f32], act: Activation)
        = epilogue::bias_activate_inplace;

    /// Σ xᵢ, compensated (Kahan) in 16 virtual lanes; −0.0 for an empty slice.
    fn sum(x: &[f32]) -> f32 = reduce::sum;
    /// The largest element; NaN if any is NaN; −∞ for an empty slice.
    fn max(x: &[f32]) -> f32 = reduce::max;
    /// Σ xᵢ·yᵢ in 16 virtual lanes with fused multiply-adds. Panics if the lengths differ.
    fn dot(x: &[f32], y: &[f32]) -> f32 = reduce::dot;
    /// y ← a·x + y (one fused multiply-add per element). Panics if the lengths differ.
    fn axpy(a: f32, x: &[f32], y: &mut [f32]) = reduce::axpy;
    /// C ← α·A·B + β·C on sigmo's own engine: B in column panels, blocks of 4 to 6 rows × 2
    /// registers (the recipe and its accuracy: `gemm_panels.rs`). The FMA tiers give the same bits, and so
    /// does any split of C's rows.
    ///
    /// # Errors
    /// Shapes that do not chain, views that leave their slices, an output that overlaps
    /// itself, or C without contiguous rows ([`crate::gemm::panel_gemm_accepts`]).
    fn sgemm(p: crate::gemm::Gemm<'_>) -> Result<(), crate::gemm::LayoutError> = gemm_panels::sgemm_panels;

    /// Maxout: `y[i]` ← the largest of row i of the row-major `x` with `k` columns (the k
    /// pieces of unit i side by side). Ties go to the first piece (−0.0 before +0.0 stays
    /// −0.0); a row with a NaN gives its first NaN, payload kept (as [`max`](crate::max) gives
    /// NaN). Every output is one of the inputs, bit for bit, at every tier. Panics unless
    /// `x.len() = k·y.len()`.
    fn maxout_rows(x: &[f32], k: usize, y: &mut [f32]) = maxout::maxout_rows;
    /// The gradient of [`maxout_rows`](Kernels::maxout_rows): `dx[i·k + t]` ← `dy[i]` where piece
    /// t is row i's winner (the first of ties; the first NaN), +0 elsewhere. Panics unless
    /// `x.len() = dx.len() = k·dy.len()`, or when `k > 2²⁴`.
    fn maxout_rows_backward(x: &[f32], k: usize, dy: &[f32], dx: &mut [f32])
        = maxout::maxout_rows_backward;
    /// Inverted dropout: y ← x ⊙ mask, where the caller's mask holds 0 for a dropped unit
    /// and 1/(1 − p) for a kept one. One rounding per element (a plain IEEE product: a
    /// dropped ∞ or NaN gives NaN). Panics if the lengths differ.
    fn dropout(x: &[f32], mask: &[f32], y: &mut [f32]) = dropout::dropout;
    /// x ← x ⊙ mask.
    fn dropout_inplace(x: &mut [f32], mask: &[f32]) = dropout::dropout_inplace;
    /// The gradient of dropout: dx ← dy ⊙ mask, with the forward pass's mask.
    fn dropout_backward(mask: &[f32], dy: &[f32], dx: &mut [f32]) = dropout::dropout_backward;
    /// dy ← dy ⊙ mask.
    fn dropout_backward_inplace(mask: &[f32], dy: &mut [f32]) = dropout::dropout_backward_inplace;
}

/// The activations as values ([`Activation`]), dispatched to the kernels above.
///
/// [`Activation::Maxout`] is not elementwise: these entry points (and the GEMM epilogue) treat
/// it as the identity on its k·n pieces, and [`Kernels::maxout_rows`] with its backward
/// reduce them (which is how sigmo's layers run it).
impl Kernels {
    /// y ← f(x) for the activation `act`. Panics if the lengths differ.
    pub fn activate(&self, act: Activation, x: &[f32], y: &mut [f32]) {
        match act {
            Activation::Identity | Activation::Maxout(_) => self.identity(x, y),
            Activation::Sigmoid => self.sigmoid(x, y),
            Activation::Tanh => self.tanh(x, y),
            Activation::Relu => self.relu(x, y),
            Activation::LeakyRelu(a) => self.leaky_relu(x, y, a),
            Activation::Elu(a) => self.elu(x, y, a),
            Activation::Step => self.step(x, y),
        }
    }

    /// x ← f(x) for the activation `act`.
    pub fn activate_inplace(&self, act: Activation, x: &mut [f32]) {
        match act {
            Activation::Identity | Activation::Maxout(_) => self.identity_inplace(x),
            Activation::Sigmoid => self.sigmoid_inplace(x),
            Activation::Tanh => self.tanh_inplace(x),
            Activation::Relu => self.relu_inplace(x),
            Activation::LeakyRelu(a) => self.leaky_relu_inplace(x, a),
            Activation::Elu(a) => self.elu_inplace(x, a),
            Activation::Step => self.step_inplace(x),
        }
    }

    /// dx ← dy ⊙ f′, with f′ computed from the forward output `y`. Panics if the lengths differ.
    pub fn activate_backward(&self, act: Activation, y: &[f32], dy: &[f32], dx: &mut [f32]) {
        match act {
            Activation::Identity | Activation::Maxout(_) => {
                assert_eq!(y.len(), dy.len(), "sigmo-kernels: slice lengths differ");
                dx.copy_from_slice(dy)
            }
            Activation::Sigmoid => self.sigmoid_backward(y, dy, dx),
            Activation::Tanh => self.tanh_backward(y, dy, dx),
            Activation::Relu => self.relu_backward(y, dy, dx),
            Activation::LeakyRelu(a) => self.leaky_relu_backward(y, dy, dx, a),
            Activation::Elu(a) => self.elu_backward(y, dy, dx, a),
            Activation::Step => {
                assert!(
                    y.len() == dy.len() && dy.len() == dx.len(),
                    "sigmo-kernels: slice lengths differ"
                );
                dx.fill(0.0)
            }
        }
    }

    /// dy ← dy ⊙ f′, with f′ computed from the forward output `y`.
    pub fn activate_backward_inplace(&self, act: Activation, y: &[f32], dy: &mut [f32]) {
        match act {
            Activation::Identity | Activation::Maxout(_) => {
                assert_eq!(y.len(), dy.len(), "sigmo-kernels: slice lengths differ")
            }
            Activation::Sigmoid => self.sigmoid_backward_inplace(y, dy),
            Activation::Tanh => self.tanh_backward_inplace(y, dy),
            Activation::Relu => self.relu_backward_inplace(y, dy),
            Activation::LeakyRelu(a) => self.leaky_relu_backward_inplace(y, dy, a),
            Activation::Elu(a) => self.elu_backward_inplace(y, dy, a),
            Activation::Step => {
                assert_eq!(y.len(), dy.len(), "sigmo-kernels: slice lengths differ");
                dy.fill(0.0)
            }
        }
    }
}
