//! Training-time noise: inverted dropout after hidden layers and Gaussian noise on the inputs.
//!
//! Every draw comes from ChaCha8 keyed by the seed, on the stream of the optimizer step, at a
//! word position fixed by the sample's row in the batch (2³² words per row). So a seed gives
//! the same masks and noise on every machine, and a row's draws do not depend on how the batch
//! is split into shards: one thread and two draw the same bits. The dropout masks are f32
//! scales, 0 for a dropped unit and 1/(1 − p) for a kept one, applied by the kernels'
//! [`dropout`](crate::kernels::Kernels::dropout); a unit is dropped when a 32-bit draw is below
//! round(p·2³²).

use super::{Mlp, NnError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Training-time noise of a network's forward pass during training (never in
/// [`Workspace::forward`](super::Workspace::forward), `evaluate` or [`Mlp::predict`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Noise {
    /// The dropout probability p of each hidden layer's units, each in [0, 1): empty for
    /// none, one value for every hidden layer, or one per hidden layer. Kept units are scaled
    /// by 1/(1 − p) (inverted dropout), so evaluation needs no rescaling.
    pub dropout: Vec<f32>,
    /// σ of the Gaussian noise N(0, σ²) added to every input, finite and ≥ 0 (0: none).
    pub input_noise: f32,
    /// Seeds every draw.
    pub seed: u64,
}

/// Where a batch is in training, for [`Noise`]: the optimizer step (0-based, over the whole
/// run) and the row of the batch that a shard's first row is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoiseAt {
    /// The optimizer step.
    pub step: u64,
    /// The batch row of the first row passed.
    pub row: usize,
}

impl Noise {
    /// Whether this adds nothing (no dropout, σ = 0).
    pub fn is_none(&self) -> bool {
        self.input_noise == 0.0 && self.dropout.iter().all(|&p| p == 0.0)
    }

    /// The dropout probability of hidden layer `l` (0 is the first after the input).
    pub fn dropout_of(&self, l: usize) -> f32 {
        match self.dropout.as_slice() {
            [] => 0.0,
            [p] => *p,
            d => d.get(l).copied().unwrap_or(0.0),
        }
    }

    /// Checks the values, and that the dropout list fits a network with `hidden` hidden
    /// layers.
    ///
    /// # Errors
    /// A p outside [0, 1), a σ that is negative or not finite, or more than one p but not
    /// one per hidden layer.
    pub fn check(&self, hidden: usize) -> Result<(), NnError> {
        if let Some(p) = self.dropout.iter().find(|p| !(**p >= 0.0 && **p < 1.0)) {
            return Err(NnError::new(format!(
                "dropout {p}: must be in [0, 1) (the probability of dropping a unit)"
            )));
        }
        if self.dropout.len() > 1 && self.dropout.len() != hidden {
            return Err(NnError::new(format!(
                "dropout has {} values: give one for every hidden layer, or one per hidden \
                 layer ({hidden})",
                self.dropout.len()
            )));
        }
        if !(self.input_noise.is_finite() && self.input_noise >= 0.0) {
            return Err(NnError::new(format!(
                "input noise σ = {}: must be finite and ≥ 0",
                self.input_noise
            )));
        }
        Ok(())
    }

    /// [`check`](Self::check) against `net`'s hidden layers.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn check_for(&self, net: &Mlp) -> Result<(), NnError> {
        self.check(net.depth() - 1)
    }
}

/// Draws the noise of `rows` rows starting at batch row `at.row`: Gaussian inputs into
/// `noisy` (when σ > 0, from `x`, `n_in` per row) and, for each hidden layer l with p > 0, its
/// mask into `masks[l]` (`widths[l]` per row).
#[allow(clippy::too_many_arguments)]
pub(crate) fn draw(
    noise: &Noise,
    at: NoiseAt,
    rows: usize,
    x: &[f32],
    n_in: usize,
    noisy: &mut [f32],
    masks: &mut [Vec<f32>],
    widths: &[usize],
) {
    // A key of its own: the batch order and the initialisation use ChaCha8 from `seed` too.
    let mut rng = ChaCha8Rng::seed_from_u64(noise.seed ^ 0x6e6f_6973_6500_0000);
    rng.set_stream(at.step);
    let sigma = f64::from(noise.input_noise);
    for r in 0..rows {
        rng.set_word_pos(((at.row + r) as u128) << 32);
        if sigma > 0.0 {
            let span = r * n_in..(r + 1) * n_in;
            for (o, &v) in noisy[span.clone()].iter_mut().zip(&x[span]) {
                let z: f64 = StandardNormal.sample(&mut rng);
                *o = v + (sigma * z) as f32;
            }
        }
        for (l, (m, &n)) in masks.iter_mut().zip(widths).enumerate() {
            let p = noise.dropout_of(l);
            if p > 0.0 {
                let below = (f64::from(p) * 4_294_967_296.0).round() as u64;
                let scale = (1.0 / (1.0 - f64::from(p))) as f32;
                for v in &mut m[r * n..(r + 1) * n] {
                    *v = if u64::from(rng.next_u32()) < below {
                        0.0
                    } else {
                        scale
                    };
                }
            }
        }
    }
}
