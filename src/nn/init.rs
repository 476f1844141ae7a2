//! Weight initialisation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};
use std::fmt;
use std::str::FromStr;

/// How a layer's weights (and biases) start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Weights and biases N(0, 1), as in Nielsen's classic `network.py`.
    Classic,
    /// Weights N(0, 1/fan_in) (standard deviation 1/√fan_in), biases N(0, 1), as in
    /// Nielsen's `network2.py`.
    Scaled,
    /// Xavier/Glorot uniform: weights U(−r, r) with r = √(6/(fan_in + fan_out)), biases 0.
    Xavier,
    /// He (Kaiming) normal: weights N(0, 2/fan_in), biases 0; for the ReLU family.
    He,
    /// Weights and biases U(−1/√fan_in, 1/√fan_in): PyTorch's default for `nn.Linear`.
    Uniform,
}

impl Init {
    /// The name [`FromStr`] accepts: `classic`, `scaled`, `xavier`, `he`, `uniform`.
    pub fn name(&self) -> &'static str {
        match self {
            Init::Classic => "classic",
            Init::Scaled => "scaled",
            Init::Xavier => "xavier",
            Init::He => "he",
            Init::Uniform => "uniform",
        }
    }

    /// Fills one layer's weights (`fan_in × fan_out`) and biases (`fan_out`).
    pub(crate) fn fill(&self, rng: &mut ChaCha8Rng, fan_in: usize, w: &mut [f32], b: &mut [f32]) {
        let fan_out = b.len();
        let normal = |rng: &mut ChaCha8Rng, sd: f64| {
            let z: f64 = StandardNormal.sample(rng);
            (z * sd) as f32
        };
        match self {
            Init::Classic | Init::Scaled => {
                let sd = if *self == Init::Classic {
                    1.0
                } else {
                    1.0 / (fan_in.max(1) as f64).sqrt()
                };
                w.iter_mut().for_each(|x| *x = normal(rng, sd));
                b.iter_mut().for_each(|x| *x = normal(rng, 1.0));
            }
            Init::Xavier => {
                let r = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
                let u = Uniform::new_inclusive(-r, r).expect("a finite range");
                w.iter_mut().for_each(|x| *x = u.sample(rng));
                b.fill(0.0);
            }
            Init::He => {
                let sd = (2.0 / fan_in.max(1) as f64).sqrt();
                w.iter_mut().for_each(|x| *x = normal(rng, sd));
                b.fill(0.0);
            }
            Init::Uniform => {
                let r = (1.0 / (fan_in.max(1) as f64).sqrt()) as f32;
                let u = Uniform::new_inclusive(-r, r).expect("a finite range");
                w.iter_mut().for_each(|x| *x = u.sample(rng));
                b.iter_mut().for_each(|x| *x = u.sample(rng));
            }
        }
    }
}

/// A seeded generator for [`Init::fill`].
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    // Decorrelate from the batch-order stream, which seeds a ChaCha8 with the same seed.
    let _: u64 = r.next_u64();
    r
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classic" | "normal" => Ok(Init::Classic),
            "scaled" => Ok(Init::Scaled),
            "xavier" | "glorot" => Ok(Init::Xavier),
            "he" | "kaiming" => Ok(Init::He),
            "uniform" | "torch" | "pytorch" => Ok(Init::Uniform),
            _ => Err(format!(
                "unknown init {s:?}; use one of: classic, scaled, xavier, he, uniform"
            )),
        }
    }
}
