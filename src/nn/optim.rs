//! Optimizers: SGD (with momentum) and Adam, with L2 weight decay on the weights.
//!
//! L2 adds λ·w to each weight's gradient, as PyTorch's `weight_decay` does; Nielsen's
//! `network2.py` shrinks w ← (1 − ηλ/n)·w, which is the same with λ/n. Biases are not decayed.

use super::{Grads, Mlp, NnError};
use std::fmt;

/// An update rule and its step size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// v ← μ·v + g, θ ← θ − η·v (plain SGD when μ = 0), as PyTorch's `SGD`.
    Sgd {
        /// η, the learning rate.
        lr: f32,
        /// μ in [0, 1).
        momentum: f32,
    },
    /// Adam (Kingma & Ba): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
    /// θ ← θ − η·m̂/(√v̂ + ε) with the bias corrections m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
    Adam {
        /// η, the learning rate.
        lr: f32,
        /// β₁ (0.9 usually).
        beta1: f32,
        /// β₂ (0.999 usually).
        beta2: f32,
        /// ε (1e-8 usually).
        eps: f32,
    },
}

impl Optimizer {
    /// SGD with learning rate `lr` and momentum `momentum`.
    pub fn sgd(lr: f32, momentum: f32) -> Optimizer {
        Optimizer::Sgd { lr, momentum }
    }

    /// Adam with learning rate `lr` and the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub fn adam(lr: f32) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// The name: `sgd` or `adam`.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// Checks every hyper-parameter's range.
    ///
    /// # Errors
    /// When η is not finite and > 0, μ, β₁ or β₂ is outside [0, 1), or ε is not > 0.
    pub fn check(&self) -> Result<(), NnError> {
        let unit = |name: &str, v: f32| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(NnError::new(format!("{name} = {v}: must be in [0, 1)")))
            }
        };
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(NnError::new(format!(
                "learning rate {lr}: must be finite and > 0"
            )));
        }
        match *self {
            Optimizer::Sgd { momentum, .. } => unit("momentum", momentum),
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                if eps.is_finite() && eps > 0.0 {
                    Ok(())
                } else {
                    Err(NnError::new(format!("eps = {eps}: must be finite and > 0")))
                }
            }
        }
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Optimizer::Sgd { lr, momentum } => write!(f, "sgd(lr {lr}, momentum {momentum})"),
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => write!(f, "adam(lr {lr}, β₁ {beta1}, β₂ {beta2}, ε {eps})"),
        }
    }
}

/// An optimizer with its state (velocities or moments), shaped as one network.
///
/// ```
/// use sigmo::nn::{Grads, Mlp, Optimizer, OptimizerState};
///
/// let mut net = Mlp::new(&[2, 1])?;
/// let w0 = net.weights(0).to_vec();
/// let mut g = Grads::new(&net);
/// let mut opt = OptimizerState::new(Optimizer::sgd(0.5, 0.0), 0.0, &net)?;
/// opt.step(&mut net, &g)?;                 // zero gradient: nothing moves
/// assert_eq!(net.weights(0), &w0[..]);
/// # Ok::<(), sigmo::nn::NnError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OptimizerState {
    opt: Optimizer,
    l2: f32,
    t: u64,
    m: Grads,
    v: Option<Grads>,
}

impl OptimizerState {
    /// Fresh state (zero velocities and moments) for `net`, with L2 coefficient `l2` (λ ≥ 0).
    ///
    /// # Errors
    /// As [`Optimizer::check`], or when λ is negative or not finite.
    pub fn new(opt: Optimizer, l2: f32, net: &Mlp) -> Result<OptimizerState, NnError> {
        opt.check()?;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(NnError::new(format!("l2 = {l2}: must be finite and ≥ 0")));
        }
        Ok(OptimizerState {
            opt,
            l2,
            t: 0,
            m: Grads::new(net),
            v: matches!(opt, Optimizer::Adam { .. }).then(|| Grads::new(net)),
        })
    }

    /// The optimizer.
    pub fn optimizer(&self) -> Optimizer {
        self.opt
    }

    /// How many steps were taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Changes the learning rate for the next steps (a schedule), keeping the state.
    ///
    /// # Errors
    /// When `lr` is not finite and > 0; the rate is then unchanged.
    pub fn set_lr(&mut self, lr: f32) -> Result<(), NnError> {
        let mut o = self.opt;
        match &mut o {
            Optimizer::Sgd { lr: l, .. } | Optimizer::Adam { lr: l, .. } => *l = lr,
        }
        o.check()?;
        self.opt = o;
        Ok(())
    }

    /// One update of `net` from the gradients `g`.
    ///
    /// # Errors
    /// When `net` or `g` is shaped differently from the network this state was made for.
    pub fn step(&mut self, net: &mut Mlp, g: &Grads) -> Result<(), NnError> {
        let fits = |a: &Grads| {
            a.w.len() == net.layers.len()
                && net
                    .layers
                    .iter()
                    .zip(a.w.iter().zip(&a.b))
                    .all(|(d, (w, b))| d.w.len() == w.len() && d.b.len() == b.len())
        };
        if !fits(g) || !fits(&self.m) {
            return Err(NnError::new(
                "the optimizer state or the gradients are shaped for another network",
            ));
        }
        self.t += 1;
        let l2 = self.l2;
        match self.opt {
            Optimizer::Sgd { lr, momentum } => {
                for (l, d) in net.layers.iter_mut().enumerate() {
                    sgd(&mut d.w, &g.w[l], &mut self.m.w[l], lr, momentum, l2);
                    sgd(&mut d.b, &g.b[l], &mut self.m.b[l], lr, momentum, 0.0);
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let v = self.v.as_mut().expect("Adam keeps second moments");
                let bc1 = 1.0 - (beta1 as f64).powf(self.t as f64);
                let bc2 = 1.0 - (beta2 as f64).powf(self.t as f64);
                let c = AdamStep {
                    beta1,
                    beta2,
                    eps,
                    step: (lr as f64 / bc1) as f32,
                    inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
                };
                for (l, d) in net.layers.iter_mut().enumerate() {
                    adam(&mut d.w, &g.w[l], &mut self.m.w[l], &mut v.w[l], &c, l2);
                    adam(&mut d.b, &g.b[l], &mut self.m.b[l], &mut v.b[l], &c, 0.0);
                }
            }
        }
        Ok(())
    }
}

/// v ← μv + (g + λw); w ← w − η·v (with μ = 0: w ← w − η(g + λw)).
fn sgd(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, mu: f32, l2: f32) {
    for ((w, &g), v) in w.iter_mut().zip(g).zip(v) {
        let gi = g + l2 * *w;
        *v = mu * *v + gi;
        *w -= lr * *v;
    }
}

struct AdamStep {
    beta1: f32,
    beta2: f32,
    eps: f32,
    step: f32,
    inv_sqrt_bc2: f32,
}

/// Adam's update of one tensor, in PyTorch's arrangement:
/// w ← w − (η/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε).
fn adam(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamStep, l2: f32) {
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
        let gi = g + l2 * *w;
        *m = c.beta1 * *m + (1.0 - c.beta1) * gi;
        *v = c.beta2 * *v + (1.0 - c.beta2) * gi * gi;
        *w -= c.step * *m / (v.sqrt() * c.inv_sqrt_bc2 + c.eps);
    }
}
