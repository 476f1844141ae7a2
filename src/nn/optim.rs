//! Optimizers: SGD (with momentum) and Adam, with L2 weight decay on the weights.
//!
//! L2 adds λ·w to each weight's gradient, as PyTorch's `weight_decay` does; Nielsen's
//! `network2.py` shrinks w ← (1 − ηλ/n)·w, which is the same with λ/n. Biases are not decayed.

use super::params::Layout;
use super::update::{update_block, Block, Rule};
use super::{Grads, Mlp, NnError};
use crate::kernels::Kernels;
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
            } => write!(f, "adam(lr {lr}, β₁ {beta1}, β₂ {beta2}, ε {eps:e})"),
        }
    }
}

/// An optimizer with its state (velocities or moments), shaped as one network.
///
/// ```
/// use sigmo::kernels::Kernels;
/// use sigmo::nn::{Grads, Mlp, Optimizer, OptimizerState};
///
/// let mut net = Mlp::new(&[2, 1])?;
/// let w0 = net.weights(0).to_vec();
/// let g = Grads::new(&net);
/// let mut opt = OptimizerState::new(Optimizer::sgd(0.5, 0.0), 0.0, &net, Kernels::best())?;
/// opt.step(&mut net, &g)?;                 // zero gradient: nothing moves
/// assert_eq!(net.weights(0), &w0[..]);
/// # Ok::<(), sigmo::nn::NnError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OptimizerState {
    opt: Optimizer,
    l2: f32,
    t: u64,
    layout: Layout,
    /// SGD: the velocity; Adam: the first moment.
    m: Vec<f32>,
    /// Adam: the second moment (empty for SGD).
    v: Vec<f32>,
    /// The tier the update pass runs at.
    kernels: Kernels,
}

/// The parameters at or above this count are updated by the threads of the current rayon
/// pool, in contiguous parts; below it, waking a thread costs more than the update.
const PARALLEL_MIN_PARAMS: usize = 1 << 16;

/// Elements per block: the parameters are updated block by block, each block's weights,
/// gradients and state together in L1.
const BLOCK: usize = 2048;

impl OptimizerState {
    /// Fresh state (zero velocities and moments) for `net`, with L2 coefficient `l2` (λ ≥ 0),
    /// updating at the tier of `kernels`: the vectorized update pass gives the same weights
    /// at every tier.
    ///
    /// # Errors
    /// As [`Optimizer::check`], or when λ is negative or not finite.
    pub fn new(
        opt: Optimizer,
        l2: f32,
        net: &Mlp,
        kernels: Kernels,
    ) -> Result<OptimizerState, NnError> {
        opt.check()?;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(NnError::new(format!("l2 = {l2}: must be finite and ≥ 0")));
        }
        let n = net.num_params();
        Ok(OptimizerState {
            opt,
            l2,
            t: 0,
            layout: net.layout.clone(),
            // Fallible: n is as large as the network, which just fit; two more may not.
            m: super::zeroed(n, "the optimizer's first moment (or velocity)")?,
            v: if matches!(opt, Optimizer::Adam { .. }) {
                super::zeroed(n, "Adam's second moment")?
            } else {
                Vec::new()
            },
            kernels,
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
        self.update(net, g, None, None).map(|_| ())
    }

    /// The L2 coefficient λ.
    pub fn l2(&self) -> f32 {
        self.l2
    }

    /// The state to store in a checkpoint: the step count, the first moment (SGD: the
    /// velocity) and Adam's second moment (empty for SGD).
    pub(crate) fn moments(&self) -> (u64, &[f32], &[f32]) {
        (self.t, &self.m, &self.v)
    }

    /// A state continued from a checkpoint: `t` steps taken, moments `m` and `v` (as
    /// [`moments`](Self::moments) gave them), for `net`, updating at `kernels`.
    ///
    /// # Errors
    /// As [`OptimizerState::new`], or when the moments are not shaped for `net` and
    /// `opt` (Adam has two, SGD one), or a moment is not finite.
    pub(crate) fn restore(
        opt: Optimizer,
        l2: f32,
        net: &Mlp,
        kernels: Kernels,
        t: u64,
        m: Vec<f32>,
        v: Vec<f32>,
    ) -> Result<OptimizerState, NnError> {
        opt.check()?;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(NnError::new(format!("l2 = {l2}: must be finite and ≥ 0")));
        }
        let n = net.num_params();
        let adam = matches!(opt, Optimizer::Adam { .. });
        if m.len() != n || v.len() != if adam { n } else { 0 } {
            return Err(NnError::new(format!(
                "the optimizer state has {} and {} values, {} for a network of {n} parameters \
                 needs {n} and {}",
                m.len(),
                v.len(),
                opt.name(),
                if adam { n } else { 0 }
            )));
        }
        if m.iter().chain(&v).any(|x| !x.is_finite()) {
            return Err(NnError::new(
                "the optimizer state has a value that is not finite",
            ));
        }
        Ok(OptimizerState {
            opt,
            l2,
            t,
            layout: net.layout.clone(),
            m,
            v,
            kernels,
        })
    }

    /// One update from the sum of two shards' gradients `g + g2` (if given), in one pass over
    /// memory, split over the current rayon pool's threads when large: each parameter's
    /// gradient is summed, its square added to ‖g‖², and the update applied. With `before`,
    /// the new weights are written into `before`'s buffer and the two buffers swapped, so that
    /// `before` ends holding the old weights for no write more than the update's own. Returns
    /// ‖g‖² (∞ or NaN if a gradient is) and whether every updated parameter is finite, so
    /// that the caller can put `before` back.
    pub(crate) fn update(
        &mut self,
        net: &mut Mlp,
        g: &Grads,
        g2: Option<&Grads>,
        before: Option<&mut Mlp>,
    ) -> Result<(f64, bool), NnError> {
        let fits = |l: &Layout| *l == self.layout;
        if !fits(&net.layout)
            || !fits(&g.layout)
            || g2.is_some_and(|g2| !fits(&g2.layout))
            || before.as_ref().is_some_and(|b| !fits(&b.layout))
        {
            return Err(NnError::new(
                "the optimizer state, the network or the gradients are shaped for another network",
            ));
        }
        self.t += 1;
        let rule = match self.opt {
            Optimizer::Sgd { lr, momentum } => Rule::Sgd { lr, mu: momentum },
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let bc1 = 1.0 - (beta1 as f64).powf(self.t as f64);
                let bc2 = 1.0 - (beta2 as f64).powf(self.t as f64);
                Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    step: (lr as f64 / bc1) as f32,
                    inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
                }
            }
        };
        // Out of place into `before`'s buffer, then swapped; or in place.
        let (w, from): (&mut [f32], &[f32]) = match before {
            Some(b) => {
                std::mem::swap(&mut net.params, &mut b.params);
                (&mut net.params, &b.params)
            }
            None => (&mut net.params, &[]),
        };
        let part = Part {
            off: 0,
            w,
            g: &g.data,
            g2: g2.map_or(&[][..], |g| &g.data[..]),
            m: &mut self.m,
            v: &mut self.v,
            from,
        };
        let n = part.w.len();
        let parts = if n >= PARALLEL_MIN_PARAMS {
            rayon::current_num_threads()
        } else {
            1
        };
        let (layout, l2, k) = (&self.layout, self.l2, self.kernels);
        let (sq, check) = in_parts(part, parts, &|p| update_part(p, layout, rule, l2, k));
        Ok((sq, check.is_finite()))
    }
}

/// A contiguous range of every buffer one update touches; `g2`, `v` and `from` may be
/// empty (not used; an empty `from`: in place).
struct Part<'a> {
    off: usize,
    w: &'a mut [f32],
    g: &'a [f32],
    g2: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    from: &'a [f32],
}

fn split_mut(s: &mut [f32], at: usize) -> (&mut [f32], &mut [f32]) {
    if s.is_empty() {
        (&mut [], &mut [])
    } else {
        s.split_at_mut(at)
    }
}

fn split(s: &[f32], at: usize) -> (&[f32], &[f32]) {
    if s.is_empty() {
        (&[], &[])
    } else {
        s.split_at(at)
    }
}

impl<'a> Part<'a> {
    fn split(self, at: usize) -> (Part<'a>, Part<'a>) {
        let (w0, w1) = self.w.split_at_mut(at);
        let (g0, g1) = self.g.split_at(at);
        let (h0, h1) = split(self.g2, at);
        let (m0, m1) = self.m.split_at_mut(at);
        let (v0, v1) = split_mut(self.v, at);
        let (b0, b1) = split(self.from, at);
        (
            Part {
                off: self.off,
                w: w0,
                g: g0,
                g2: h0,
                m: m0,
                v: v0,
                from: b0,
            },
            Part {
                off: self.off + at,
                w: w1,
                g: g1,
                g2: h1,
                m: m1,
                v: v1,
                from: b1,
            },
        )
    }
}

/// Runs `f` on `parts` near-equal parts of `p` (by recursive `rayon::join`, which does not
/// allocate) and adds up what it returns.
fn in_parts<F: Fn(Part<'_>) -> (f64, f64) + Sync>(p: Part<'_>, parts: usize, f: &F) -> (f64, f64) {
    if parts <= 1 {
        return f(p);
    }
    let half = parts / 2;
    let at = p.w.len() * half / parts;
    let (a, b) = p.split(at);
    let (x, y) = rayon::join(|| in_parts(a, half, f), || in_parts(b, parts - half, f));
    (x.0 + y.0, x.1 + y.1)
}

/// Updates one part, block by block, weights decayed and biases not; returns Σ g² and
/// Σ 0·w_new (0, or NaN when an updated parameter is not finite).
fn update_part(p: Part<'_>, layout: &Layout, rule: Rule, l2: f32, k: Kernels) -> (f64, f64) {
    let (mut sq, mut check) = (0.0f64, 0.0f64);
    let Part {
        off,
        w,
        g,
        g2,
        m,
        v,
        from,
    } = p;
    layout.runs(off, w.len(), |r, is_w| {
        let lam = if is_w { l2 } else { 0.0 };
        let mut s = r.start;
        while s < r.end {
            let e = (s + BLOCK).min(r.end);
            let gb = &g[s..e];
            let g2b = if g2.is_empty() { &[][..] } else { &g2[s..e] };
            let vb = if v.is_empty() {
                &mut [][..]
            } else {
                &mut v[s..e]
            };
            let (a, c) = update_block(
                k,
                Block {
                    w: &mut w[s..e],
                    from: if from.is_empty() { &[] } else { &from[s..e] },
                    g: gb,
                    g2: g2b,
                    m: &mut m[s..e],
                    v: vb,
                    rule,
                    lam,
                },
            );
            sq += a;
            check += c;
            s = e;
        }
    });
    (sq, check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Isa;

    /// The update written out of place into the last-good buffer gives the bits of the update
    /// in place, and leaves the old weights in that buffer, for every rule, one shard or two,
    /// at every tier this CPU runs; over enough steps that the velocities and moments matter.
    #[test]
    fn out_of_place_update_is_the_in_place_one() {
        let net0 = Mlp::builder(&[37, 70, 3]).seed(9).build().unwrap();
        let n = net0.num_params();
        let grads = |seed: usize| {
            let mut g = Grads::new(&net0);
            for (i, x) in g.data.iter_mut().enumerate() {
                *x = (((i * 7919 + seed * 104_729) % 1000) as f32 - 500.0) * 1e-3;
            }
            g
        };
        for isa in Isa::available() {
            let k = Kernels::new(isa).unwrap();
            for opt in [
                Optimizer::sgd(0.05, 0.0),
                Optimizer::sgd(0.05, 0.9),
                Optimizer::adam(0.01),
            ] {
                for two in [false, true] {
                    let (mut a, mut b) = (net0.try_clone().unwrap(), net0.try_clone().unwrap());
                    let mut before = Mlp::builder(&[37, 70, 3]).seed(1).build().unwrap();
                    let mut sa = OptimizerState::new(opt, 1e-3, &a, k).unwrap();
                    let mut sb = OptimizerState::new(opt, 1e-3, &b, k).unwrap();
                    for step in 0..4 {
                        let (g, g2) = (grads(step), grads(step + 100));
                        let g2 = two.then_some(&g2);
                        let old = b.params.clone();
                        let ra = sa.update(&mut a, &g, g2, None).unwrap();
                        let rb = sb.update(&mut b, &g, g2, Some(&mut before)).unwrap();
                        let what = format!("{isa} {} two shards {two} step {step}", opt.name());
                        assert_eq!(ra.1, rb.1, "{what}");
                        assert_eq!(ra.0.to_bits(), rb.0.to_bits(), "{what}: ‖g‖²");
                        assert_eq!(a.params, b.params, "{what}: the new weights");
                        assert_eq!(before.params, old, "{what}: the weights before");
                        assert_ne!(b.params, old, "{what}: nothing moved");
                        assert_eq!(sa.m, sb.m, "{what}: m");
                        assert_eq!(sa.v, sb.v, "{what}: v");
                    }
                    assert_eq!(a.params.len(), n);
                }
            }
        }
    }
}
