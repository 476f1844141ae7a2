//! [`Activation`]: the elementwise activations as a value, for layers that pick one at run time.

use std::fmt;
use std::str::FromStr;

/// An elementwise activation function.
///
/// ```
/// use sigmo_kernels::{Activation, Kernels};
///
/// let k = Kernels::best();
/// let act: Activation = "leaky_relu".parse().unwrap(); // α = 0.01
/// let mut x = [-2.0f32, 3.0];
/// k.activate_inplace(act, &mut x);
/// assert_eq!(x, [-0.02, 3.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// f(x) = x.
    Identity,
    /// f(x) = 1/(1 + e⁻ˣ).
    Sigmoid,
    /// f(x) = tanh x.
    Tanh,
    /// f(x) = max(0, x).
    Relu,
    /// f(x) = x for x ≥ 0, αx below (α ≥ 0).
    LeakyRelu(f32),
    /// f(x) = x for x > 0, α(eˣ − 1) otherwise (α ≥ 0).
    Elu(f32),
    /// f(x) = 1 for x > 0, else 0; its derivative is taken as 0.
    Step,
    /// Maxout with k pieces (Goodfellow et al. 2013): a unit is the largest of k
    /// pre-activations, so a maxout layer of n units computes k·n of them (pieces of one unit
    /// side by side). Not elementwise: see [`Kernels::maxout_rows`](crate::Kernels::maxout_rows);
    /// the elementwise entry points treat it as the identity on the pieces. Parsed from
    /// `maxout` (k = 2) or `maxout=k`.
    Maxout(usize),
}

impl Activation {
    /// The name [`FromStr`] accepts: `identity`, `sigmoid`, `tanh`, `relu`, `leaky_relu`,
    /// `elu`, `step`, `maxout`.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Elu(_) => "elu",
            Activation::Step => "step",
            Activation::Maxout(_) => "maxout",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => write!(f, "{}({a})", self.name()),
            Activation::Maxout(k) => write!(f, "maxout({k})"),
            _ => f.write_str(self.name()),
        }
    }
}

/// An activation name that [`Activation::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownActivation(pub String);

impl fmt::Display for UnknownActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown activation {:?}; use one of: identity, sigmoid, tanh, relu, leaky_relu[=α], elu[=α], step, maxout[=k]",
            self.0
        )
    }
}

impl std::error::Error for UnknownActivation {}

impl FromStr for Activation {
    type Err = UnknownActivation;
    /// Parses a name, with an optional `=α` for `leaky_relu` (default 0.01) and `elu`
    /// (default 1.0), or `=k` for `maxout` (an integer ≥ 1, default 2): `"relu"`,
    /// `"leaky_relu=0.2"`, `"elu"`, `"maxout=3"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnknownActivation(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("maxout") {
            let k = match rest.trim().strip_prefix('=') {
                None if rest.trim().is_empty() => 2,
                Some(k) => k.trim().parse::<usize>().map_err(|_| err())?,
                None => return Err(err()),
            };
            return if k >= 1 {
                Ok(Activation::Maxout(k))
            } else {
                Err(err())
            };
        }
        let (name, alpha) = match lower.split_once('=') {
            Some((n, a)) => {
                let a: f32 = a.trim().parse().map_err(|_| err())?;
                if !(a.is_finite() && a >= 0.0) {
                    return Err(err());
                }
                (n.trim().to_string(), Some(a))
            }
            None => (lower, None),
        };
        let act = match (name.as_str(), alpha) {
            ("identity" | "linear", None) => Activation::Identity,
            ("sigmoid" | "logistic", None) => Activation::Sigmoid,
            ("tanh", None) => Activation::Tanh,
            ("relu", None) => Activation::Relu,
            ("leaky_relu" | "leakyrelu", a) => Activation::LeakyRelu(a.unwrap_or(0.01)),
            ("elu", a) => Activation::Elu(a.unwrap_or(1.0)),
            ("step" | "heaviside", None) => Activation::Step,
            _ => return Err(err()),
        };
        Ok(act)
    }
}
