//! Losses, each with its gradient with respect to the output layer's pre-activation z.

use super::{NnError, OutputActivation};
use crate::kernels::{Activation, Kernels};
use std::fmt;
use std::str::FromStr;

/// A loss on one sample's output `a` against its target `y`; the batch loss is the mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loss {
    /// ½‖a − y‖², with any output activation; δ = (a − y) ⊙ f′(z) (for a softmax output,
    /// the softmax Jacobian applied to a − y).
    Quadratic,
    /// Cross-entropy for sigmoid outputs: −Σ [y ln a + (1 − y) ln(1 − a)], computed from the
    /// logits z as Σ [max(z, 0) − y·z + ln(1 + e^−|z|)]; δ = a − y.
    CrossEntropy,
    /// Softmax + cross-entropy, fused: −Σ y ln softmax(z), computed from z by log-softmax
    /// (the row max subtracted first, so no overflow); δ = a·Σy − y (a − y for one-hot y).
    SoftmaxCrossEntropy,
    /// Multiclass hinge, Weston–Watkins with margin 1, for identity outputs (a = z):
    /// Σ_{j ≠ c} max(0, 1 + z_j − z_c), with c the target's class (its largest entry, the
    /// first on ties; targets are one-hot). PyTorch's `MultiMarginLoss` (p = 1, margin 1)
    /// times the number of classes. δ_j = 1 for each class j ≠ c inside the margin
    /// (1 + z_j − z_c > 0), δ_c = −(their count), 0 elsewhere (at the hinge's kink, 0).
    Hinge,
}

impl Loss {
    /// The name [`FromStr`] accepts: `quadratic`, `cross-entropy`, `softmax-ce`, `hinge`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Quadratic => "quadratic",
            Loss::CrossEntropy => "cross-entropy",
            Loss::SoftmaxCrossEntropy => "softmax-ce",
            Loss::Hinge => "hinge",
        }
    }

    /// Checks that the loss fits the output activation.
    ///
    /// # Errors
    /// Cross-entropy needs a sigmoid output; softmax-CE needs a softmax output; hinge needs
    /// an identity output (it works on the raw scores).
    pub fn check(&self, output: OutputActivation) -> Result<(), NnError> {
        let ok = match self {
            Loss::Quadratic => true,
            Loss::CrossEntropy => output == OutputActivation::Elementwise(Activation::Sigmoid),
            Loss::SoftmaxCrossEntropy => output == OutputActivation::Softmax,
            Loss::Hinge => output == OutputActivation::Elementwise(Activation::Identity),
        };
        if ok {
            Ok(())
        } else {
            let needs = match self {
                Loss::CrossEntropy => "a sigmoid",
                Loss::Hinge => "an identity",
                _ => "a softmax",
            };
            Err(NnError::new(format!(
                "loss {} needs {needs} output layer, the network ends in {output}",
                self.name()
            )))
        }
    }

    /// The loss of one sample from its logits `z`, outputs `a = f(z)` and target `y`;
    /// `scratch` holds at least `z.len()` values.
    pub(crate) fn value(
        &self,
        k: &Kernels,
        z: &[f32],
        a: &[f32],
        y: &[f32],
        scratch: &mut [f32],
    ) -> f64 {
        match self {
            Loss::Quadratic => {
                0.5 * a
                    .iter()
                    .zip(y)
                    .map(|(&a, &y)| {
                        let d = (a - y) as f64;
                        d * d
                    })
                    .sum::<f64>()
            }
            Loss::CrossEntropy => z
                .iter()
                .zip(y)
                .map(|(&z, &y)| {
                    let z = z as f64;
                    z.max(0.0) - y as f64 * z + (-z.abs()).exp().ln_1p()
                })
                .sum(),
            Loss::SoftmaxCrossEntropy => {
                let ls = &mut scratch[..z.len()];
                k.log_softmax(z, ls);
                -ls.iter()
                    .zip(y)
                    .filter(|(_, &y)| y != 0.0)
                    .map(|(&l, &y)| y as f64 * l as f64)
                    .sum::<f64>()
            }
            Loss::Hinge => {
                let c = super::argmax(y);
                let zc = f64::from(z[c]);
                z.iter()
                    .enumerate()
                    .filter(|&(j, _)| j != c)
                    .map(|(_, &zj)| (1.0 + f64::from(zj) - zc).max(0.0))
                    .sum()
            }
        }
    }

    /// δ ← ∂loss/∂z for one sample, from its outputs `a`, target `y` and output activation.
    pub(crate) fn delta(
        &self,
        k: &Kernels,
        out: OutputActivation,
        a: &[f32],
        y: &[f32],
        delta: &mut [f32],
    ) {
        match self {
            Loss::CrossEntropy => {
                for ((d, &a), &y) in delta.iter_mut().zip(a).zip(y) {
                    *d = a - y;
                }
            }
            Loss::SoftmaxCrossEntropy => {
                let total: f32 = y.iter().sum();
                for ((d, &a), &y) in delta.iter_mut().zip(a).zip(y) {
                    *d = a * total - y;
                }
            }
            Loss::Hinge => {
                // Identity output: a = z.
                let c = super::argmax(y);
                let zc = a[c];
                let mut inside = 0.0f32;
                for (j, (d, &zj)) in delta.iter_mut().zip(a).enumerate() {
                    *d = if j != c && 1.0 + zj - zc > 0.0 {
                        inside += 1.0;
                        1.0
                    } else {
                        0.0
                    };
                }
                delta[c] = -inside;
            }
            Loss::Quadratic => {
                for ((d, &a), &y) in delta.iter_mut().zip(a).zip(y) {
                    *d = a - y;
                }
                match out {
                    OutputActivation::Elementwise(act) => {
                        k.activate_backward_inplace(act, a, delta)
                    }
                    OutputActivation::Softmax => {
                        // δ = J·g with J = diag(a) − a·aᵀ: δⱼ = aⱼ (gⱼ − Σₖ gₖ aₖ).
                        let ga = k.dot(delta, a);
                        for (d, &a) in delta.iter_mut().zip(a) {
                            *d = a * (*d - ga);
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "quadratic" | "mse" => Ok(Loss::Quadratic),
            "cross-entropy" | "ce" | "bce" => Ok(Loss::CrossEntropy),
            "softmax-ce" | "softmax-cross-entropy" => Ok(Loss::SoftmaxCrossEntropy),
            "hinge" | "multiclass-hinge" | "svm" => Ok(Loss::Hinge),
            _ => Err(format!(
                "unknown loss {s:?}; use one of: quadratic, cross-entropy, softmax-ce, hinge"
            )),
        }
    }
}
