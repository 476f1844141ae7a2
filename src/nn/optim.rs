//! Optimizers: SGD (with momentum) and Adam, with L2 weight decay on the weights.
//!
//! L2 adds λ·w to each weight's gradient, as PyTorch's `weight_decay` does; Nielsen's
//! `network2.py` shrinks w ← (1 − ηλ/n)·w, which is the same with λ/n. Biases are not decayed.

use super::params::Layout;
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
            } => write!(f, "adam(lr {lr}, β₁ {beta1}, β₂ {beta2}, ε {eps:e})"),
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
/// let g = Grads::new(&net);
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
    layout: Layout,
    /// SGD: the velocity; Adam: the first moment.
    m: Vec<f32>,
    /// Adam: the second moment (empty for SGD).
    v: Vec<f32>,
}

/// One step's constants.
#[derive(Clone, Copy)]
enum Rule {
    Sgd {
        lr: f32,
        mu: f32,
    },
    Adam {
        beta1: f32,
        beta2: f32,
        eps: f32,
        /// η/(1 − β₁ᵗ).
        step: f32,
        /// 1/√(1 − β₂ᵗ).
        inv_sqrt_bc2: f32,
    },
}

/// The parameters at or above this count are updated by the threads of the current rayon
/// pool, in contiguous parts; below it, waking a thread costs more than the update.
const PARALLEL_MIN_PARAMS: usize = 1 << 16;

/// Elements per block: the old weights are copied and updated block by block while the
/// block is in L1.
const BLOCK: usize = 2048;

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
        let n = net.num_params();
        Ok(OptimizerState {
            opt,
            l2,
            t: 0,
            layout: net.layout.clone(),
            m: vec![0.0; n],
            v: if matches!(opt, Optimizer::Adam { .. }) {
                vec![0.0; n]
            } else {
                Vec::new()
            },
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

    /// One update from the sum of two shards' gradients `g + g2` (if given), in one pass over
    /// memory, split over the current rayon pool's threads when large: each parameter's
    /// gradient is summed, its square added to ‖g‖², its old value copied to `before` (if
    /// given), and the update applied. Returns ‖g‖² (∞ or NaN if a gradient is) and whether
    /// every updated parameter is finite, so that the caller can put `before` back.
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
        let part = Part {
            off: 0,
            w: &mut net.params,
            g: &g.data,
            g2: g2.map_or(&[][..], |g| &g.data[..]),
            m: &mut self.m,
            v: &mut self.v,
            before: before.map_or(&mut [][..], |b| &mut b.params[..]),
        };
        let n = part.w.len();
        let parts = if n >= PARALLEL_MIN_PARAMS {
            rayon::current_num_threads()
        } else {
            1
        };
        let (layout, l2) = (&self.layout, self.l2);
        let (sq, check) = in_parts(part, parts, &|p| update_part(p, layout, rule, l2));
        Ok((sq, check.is_finite()))
    }
}

/// A contiguous range of every buffer one update touches; `g2`, `v` and `before` may be
/// empty (not used).
struct Part<'a> {
    off: usize,
    w: &'a mut [f32],
    g: &'a [f32],
    g2: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    before: &'a mut [f32],
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
        let (b0, b1) = split_mut(self.before, at);
        (
            Part {
                off: self.off,
                w: w0,
                g: g0,
                g2: h0,
                m: m0,
                v: v0,
                before: b0,
            },
            Part {
                off: self.off + at,
                w: w1,
                g: g1,
                g2: h1,
                m: m1,
                v: v1,
                before: b1,
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
fn update_part(p: Part<'_>, layout: &Layout, rule: Rule, l2: f32) -> (f64, f64) {
    let (mut sq, mut check) = (0.0f64, 0.0f64);
    let Part {
        off,
        w,
        g,
        g2,
        m,
        v,
        before,
    } = p;
    layout.runs(off, w.len(), |r, is_w| {
        let lam = if is_w { l2 } else { 0.0 };
        let mut s = r.start;
        while s < r.end {
            let e = (s + BLOCK).min(r.end);
            if !before.is_empty() {
                before[s..e].copy_from_slice(&w[s..e]);
            }
            let gb = &g[s..e];
            let g2b = if g2.is_empty() { &[][..] } else { &g2[s..e] };
            let vb = if v.is_empty() {
                &mut [][..]
            } else {
                &mut v[s..e]
            };
            let (a, c) = block(&mut w[s..e], gb, g2b, &mut m[s..e], vb, rule, lam);
            sq += a;
            check += c;
            s = e;
        }
    });
    (sq, check)
}

/// The update of one block: g ← g (+ g2), then the rule, with λ·w added to g. Returns Σ g²
/// and Σ 0·w_new.
fn block(
    w: &mut [f32],
    g: &[f32],
    g2: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    rule: Rule,
    lam: f32,
) -> (f64, f64) {
    let (acc, check) = match (rule, g2.is_empty()) {
        (Rule::Sgd { lr, mu }, true) => sgd::<false>(w, g, g, m, lr, mu, lam),
        (Rule::Sgd { lr, mu }, false) => sgd::<true>(w, g, g2, m, lr, mu, lam),
        (r @ Rule::Adam { .. }, true) => adam::<false>(w, g, g, m, v, r, lam),
        (r @ Rule::Adam { .. }, false) => adam::<true>(w, g, g2, m, v, r, lam),
    };
    (
        acc.iter().map(|&a| a as f64).sum(),
        check.iter().map(|&a| a as f64).sum(),
    )
}

/// v ← μv + (g + λw); w ← w − η·v, with g = g₁ + g₂ when `TWO`. Eight lanes at a time (the
/// compiler turns each group into vector operations); returns the lanes of Σ g².
#[inline(always)]
fn sgd<const TWO: bool>(
    w: &mut [f32],
    g: &[f32],
    g2: &[f32],
    m: &mut [f32],
    lr: f32,
    mu: f32,
    lam: f32,
) -> ([f32; 8], [f32; 8]) {
    let n = w.len();
    let (g, g2, m) = (&g[..n], &g2[..n], &mut m[..n]);
    let (mut acc, mut check) = ([0.0f32; 8], [0.0f32; 8]);
    let one = |i: usize, w: &mut [f32], m: &mut [f32], acc: &mut f32, check: &mut f32| {
        let gi = if TWO { g[i] + g2[i] } else { g[i] };
        *acc += gi * gi;
        let vi = mu * m[i] + (gi + lam * w[i]);
        m[i] = vi;
        w[i] -= lr * vi;
        *check += 0.0 * w[i];
    };
    let full = n / 8 * 8;
    for c in (0..full).step_by(8) {
        for (j, (a, k)) in acc.iter_mut().zip(&mut check).enumerate() {
            one(c + j, w, m, a, k);
        }
    }
    for i in full..n {
        one(i, w, m, &mut acc[0], &mut check[0]);
    }
    (acc, check)
}

/// Adam's update, PyTorch's arrangement: w ← w − (η/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε), with
/// g = g₁ + g₂ when `TWO` and λ·w added; returns the lanes of Σ g².
#[inline(always)]
fn adam<const TWO: bool>(
    w: &mut [f32],
    g: &[f32],
    g2: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    rule: Rule,
    lam: f32,
) -> ([f32; 8], [f32; 8]) {
    let Rule::Adam {
        beta1,
        beta2,
        eps,
        step,
        inv_sqrt_bc2,
    } = rule
    else {
        unreachable!("adam() is called with Rule::Adam")
    };
    let n = w.len();
    let (g, g2, m, v) = (&g[..n], &g2[..n], &mut m[..n], &mut v[..n]);
    let (mut acc, mut check) = ([0.0f32; 8], [0.0f32; 8]);
    let one =
        |i: usize, w: &mut [f32], m: &mut [f32], v: &mut [f32], acc: &mut f32, check: &mut f32| {
            let gi = if TWO { g[i] + g2[i] } else { g[i] };
            *acc += gi * gi;
            let gd = gi + lam * w[i];
            let mi = beta1 * m[i] + (1.0 - beta1) * gd;
            let vi = beta2 * v[i] + (1.0 - beta2) * gd * gd;
            m[i] = mi;
            v[i] = vi;
            w[i] -= step * mi / (vi.sqrt() * inv_sqrt_bc2 + eps);
            *check += 0.0 * w[i];
        };
    let full = n / 8 * 8;
    for c in (0..full).step_by(8) {
        for (j, (a, k)) in acc.iter_mut().zip(&mut check).enumerate() {
            one(c + j, w, m, v, a, k);
        }
    }
    for i in full..n {
        one(i, w, m, v, &mut acc[0], &mut check[0]);
    }
    (acc, check)
}
