//! A multi-layer perceptron: dense layers z = x·W + b, a = f(z), trained by backpropagation.
//!
//! A layer's weights are stored `fan_in × fan_out`, row-major, and a batch is a matrix with
//! one sample per row, so a layer is one GEMM, `Z = X·W`, with the bias and the activation
//! applied in its epilogue ([`Backend::gemm_bias_act`](crate::gemm::Backend::gemm_bias_act)).
//!
//! ```
//! use sigmo::kernels::{Activation, Kernels};
//! use sigmo::nn::{Init, Mlp, OutputActivation};
//!
//! let net = Mlp::builder(&[4, 8, 3])
//!     .hidden(Activation::Relu)
//!     .output(OutputActivation::Softmax)
//!     .init(Init::He)
//!     .seed(7)
//!     .build()?;
//! let k = Kernels::best(); // the tier, chosen once and passed down
//! let probs = net.predict(&k, &[0.1, 0.2, 0.3, 0.4, 1.0, 0.0, -1.0, 0.5], 2)?; // 2 samples
//! for row in probs.chunks(3) {
//!     assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! }
//! # Ok::<(), sigmo::nn::NnError>(())
//! ```

mod backprop;
mod init;
mod io;
mod loss;
mod noise;
mod optim;
mod params;
mod update;

pub use backprop::{one_hot, BatchStats, Grads, Workspace};
pub use init::Init;
pub use io::{load, load_bytes, save, FORMAT, MAX_HEADER_BYTES};
pub use loss::Loss;
pub use noise::{Noise, NoiseAt};
pub use optim::{Optimizer, OptimizerState};

use crate::kernels::{Activation, Kernels};
use std::fmt;
use std::ops::RangeInclusive;

/// The numbers of pieces a maxout layer may have ([`Activation::Maxout`]).
pub const MAXOUT_PIECES: RangeInclusive<usize> = 2..=64;

/// Pre-activations per unit of a layer with this activation: k for maxout, else 1.
pub(crate) fn pieces(a: Activation) -> usize {
    match a {
        Activation::Maxout(k) => k,
        _ => 1,
    }
}

/// Checks an activation's parameter: α finite and ≥ 0, maxout's k in [`MAXOUT_PIECES`].
pub(crate) fn check_activation(a: Activation) -> Result<(), NnError> {
    match a {
        Activation::LeakyRelu(al) | Activation::Elu(al) if !(al.is_finite() && al >= 0.0) => Err(
            NnError::new(format!("activation {a}: α must be finite and ≥ 0")),
        ),
        Activation::Maxout(k) if !MAXOUT_PIECES.contains(&k) => Err(NnError::new(format!(
            "activation {a}: maxout takes {} to {} pieces, not {k}",
            MAXOUT_PIECES.start(),
            MAXOUT_PIECES.end()
        ))),
        _ => Ok(()),
    }
}

/// A network that cannot be built, or an input it cannot take: what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NnError(String);

impl NnError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        NnError(what.into())
    }
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NnError {}

/// A zeroed buffer of `n` values, or an error naming `what` when it cannot be allocated (a
/// size from user input must not abort the process).
pub(crate) fn zeroed(n: usize, what: &str) -> Result<Vec<f32>, NnError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        NnError::new(format!(
            "{what}: cannot allocate {n} values ({} bytes)",
            n.saturating_mul(4)
        ))
    })?;
    v.resize(n, 0.0);
    Ok(v)
}

impl From<crate::gemm::ShapeError> for NnError {
    fn from(e: crate::gemm::ShapeError) -> Self {
        NnError(e.to_string())
    }
}

/// The activation of the output layer: an elementwise one, or softmax over each row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutputActivation {
    /// Softmax of each sample's outputs, with the row max subtracted first.
    Softmax,
    /// An elementwise activation.
    Elementwise(Activation),
}

impl From<Activation> for OutputActivation {
    fn from(a: Activation) -> Self {
        OutputActivation::Elementwise(a)
    }
}

impl fmt::Display for OutputActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputActivation::Softmax => f.write_str("softmax"),
            OutputActivation::Elementwise(a) => write!(f, "{a}"),
        }
    }
}

impl std::str::FromStr for OutputActivation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("softmax") {
            Ok(OutputActivation::Softmax)
        } else {
            s.parse::<Activation>()
                .map(OutputActivation::Elementwise)
                .map_err(|e| format!("{e}, softmax"))
        }
    }
}

/// A multi-layer perceptron. Build one with [`Mlp::new`] (Nielsen's classic network) or
/// [`Mlp::builder`].
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    /// Every weight and bias, layer after layer (see `params::Layout`).
    params: Vec<f32>,
    layout: params::Layout,
    hidden: Vec<Activation>,
    output: OutputActivation,
}

/// Builds an [`Mlp`]: layer sizes, then activations, initialisation and seed.
#[derive(Clone, Debug)]
pub struct MlpBuilder {
    sizes: Vec<usize>,
    hidden: Vec<Activation>,
    output: OutputActivation,
    init: Option<Init>,
    seed: u64,
    bad_index: Option<usize>,
}

impl MlpBuilder {
    /// The activation of every hidden layer (default sigmoid).
    pub fn hidden(mut self, act: Activation) -> Self {
        self.hidden.iter_mut().for_each(|a| *a = act);
        self
    }

    /// The activation of hidden layer `i` (0 is the first after the input); an index past
    /// the hidden layers is reported by [`build`](Self::build).
    pub fn activation(mut self, i: usize, act: Activation) -> Self {
        match self.hidden.get_mut(i) {
            Some(a) => *a = act,
            None => self.bad_index = Some(i),
        }
        self
    }

    /// The output layer's activation (default sigmoid).
    pub fn output(mut self, out: impl Into<OutputActivation>) -> Self {
        self.output = out.into();
        self
    }

    /// The initialisation (default: He when every hidden layer is in the ReLU family,
    /// Xavier otherwise).
    pub fn init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }

    /// The seed of the initialisation (default 0): the same seed gives the same network.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The network.
    ///
    /// # Errors
    /// When there are fewer than two sizes, a size is 0, a hidden activation was set past the
    /// hidden layers, an activation parameter (α) is negative or not finite, a maxout layer's
    /// k is outside [`MAXOUT_PIECES`], or the output layer is maxout.
    pub fn build(self) -> Result<Mlp, NnError> {
        let relu_family = !self.hidden.is_empty()
            && self.hidden.iter().all(|a| {
                matches!(
                    a,
                    Activation::Relu | Activation::LeakyRelu(_) | Activation::Elu(_)
                )
            });
        let init = self
            .init
            .unwrap_or(if relu_family { Init::He } else { Init::Xavier });
        let mut rng = init::rng(self.seed);
        let mut net = self.unfilled()?;
        let Mlp {
            sizes,
            params,
            layout,
            ..
        } = &mut net;
        for (l, &fan_in) in sizes[..sizes.len() - 1].iter().enumerate() {
            let (w, b) = (layout.w(l), layout.b(l));
            let (head, bias) = params[w.start..b.end].split_at_mut(w.len());
            init.fill(&mut rng, fan_in, head, bias);
        }
        Ok(net)
    }

    /// The network with every parameter 0, after the checks [`build`](Self::build) documents:
    /// for callers that set every parameter themselves.
    fn unfilled(self) -> Result<Mlp, NnError> {
        let s = &self.sizes;
        if s.len() < 2 {
            return Err(NnError::new(format!(
                "layer sizes {s:?}: need at least an input and an output size"
            )));
        }
        if let Some(i) = s.iter().position(|&n| n == 0) {
            return Err(NnError::new(format!("layer sizes {s:?}: size {i} is 0")));
        }
        if let Some(i) = self.bad_index {
            return Err(NnError::new(format!(
                "layer sizes {s:?} have {} hidden layers; an activation was set for hidden layer {i}",
                s.len() - 2
            )));
        }
        if let OutputActivation::Elementwise(a @ Activation::Maxout(_)) = self.output {
            return Err(NnError::new(format!(
                "output activation {a}: maxout is for hidden layers (its units are the largest \
                 of k pre-activations); use identity, sigmoid or softmax outputs"
            )));
        }
        let acts = self.hidden.iter().copied().chain(match self.output {
            OutputActivation::Elementwise(a) => Some(a),
            OutputActivation::Softmax => None,
        });
        for a in acts {
            check_activation(a)?;
        }
        let pieces: Vec<usize> = self.hidden.iter().map(|&a| pieces(a)).collect();
        let layout = params::Layout::with_pieces(s, &pieces).ok_or_else(|| {
            NnError::new(format!("layer sizes {s:?}: the parameter count overflows"))
        })?;
        let params = zeroed(layout.len(), &format!("layer sizes {s:?}"))?;
        Ok(Mlp {
            sizes: self.sizes,
            params,
            layout,
            hidden: self.hidden,
            output: self.output,
        })
    }
}

impl Mlp {
    /// Nielsen's classic network: sigmoid everywhere, weights and biases N(0, 1), seed 0.
    /// `Mlp::new(&[784, 30, 10])` is his `Network([784, 30, 10])`.
    ///
    /// # Errors
    /// As [`MlpBuilder::build`].
    pub fn new(sizes: &[usize]) -> Result<Mlp, NnError> {
        Mlp::builder(sizes).init(Init::Classic).build()
    }

    /// A builder for a network with these layer sizes (input first, output last); every
    /// activation defaults to sigmoid.
    pub fn builder(sizes: &[usize]) -> MlpBuilder {
        MlpBuilder {
            sizes: sizes.to_vec(),
            hidden: vec![Activation::Sigmoid; sizes.len().saturating_sub(2)],
            output: OutputActivation::Elementwise(Activation::Sigmoid),
            init: None,
            seed: 0,
            bad_index: None,
        }
    }

    /// A network from its parts: `params[l]` is layer l's (weights `sizes[l] × width`
    /// row-major, biases `width`, where the width is `sizes[l+1]`, or k·`sizes[l+1]` for a
    /// hidden layer of [`Activation::Maxout`]`(k)`: see [`Mlp::width`]).
    ///
    /// # Errors
    /// When the sizes, activations and parameters do not agree, or a parameter is not finite.
    pub fn from_parts(
        sizes: &[usize],
        hidden: &[Activation],
        output: OutputActivation,
        params: Vec<(Vec<f32>, Vec<f32>)>,
    ) -> Result<Mlp, NnError> {
        let mut b = Mlp::builder(sizes).output(output);
        if hidden.len() != sizes.len().saturating_sub(2) {
            return Err(NnError::new(format!(
                "layer sizes {sizes:?} need {} hidden activations, got {}",
                sizes.len().saturating_sub(2),
                hidden.len()
            )));
        }
        b.hidden = hidden.to_vec();
        // Every parameter is set below: no random initialisation to throw away.
        let mut net = b.unfilled()?;
        if params.len() != net.depth() {
            return Err(NnError::new(format!(
                "layer sizes {sizes:?} need {} layers of parameters, got {}",
                net.depth(),
                params.len()
            )));
        }
        for (l, (w, b)) in params.into_iter().enumerate() {
            let (i, o) = (sizes[l], net.width(l));
            if w.len() != i * o || b.len() != o {
                return Err(NnError::new(format!(
                    "layer {l}: weights have {} values and biases {}, a {i}→{o} layer needs {} and {o}",
                    w.len(),
                    b.len(),
                    i * o
                )));
            }
            if let Some(p) = w.iter().chain(&b).position(|v| !v.is_finite()) {
                return Err(NnError::new(format!(
                    "layer {l}: parameter {p} is not finite"
                )));
            }
            net.weights_mut(l).copy_from_slice(&w);
            net.biases_mut(l).copy_from_slice(&b);
        }
        Ok(net)
    }

    /// The layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The number of dense layers (one less than the number of sizes).
    pub fn depth(&self) -> usize {
        self.layout.depth()
    }

    /// The number of inputs.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// The number of outputs.
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The activations of the hidden layers.
    pub fn hidden_activations(&self) -> &[Activation] {
        &self.hidden
    }

    /// The output layer's activation.
    pub fn output_activation(&self) -> OutputActivation {
        self.output
    }

    /// Layer `l`'s pre-activations, the columns of its weights: `sizes[l+1]`, or k·`sizes[l+1]`
    /// for a hidden layer of [`Activation::Maxout`]`(k)`, whose unit j is the largest of
    /// columns j·k … j·k + k − 1 (panics if `l ≥ depth()`).
    pub fn width(&self, l: usize) -> usize {
        self.layout.width(l)
    }

    /// Layer `l`'s weights, `sizes[l] × width(l)` row-major (panics if `l ≥ depth()`).
    pub fn weights(&self, l: usize) -> &[f32] {
        &self.params[self.layout.w(l)]
    }

    /// Layer `l`'s biases.
    pub fn biases(&self, l: usize) -> &[f32] {
        &self.params[self.layout.b(l)]
    }

    /// Layer `l`'s weights, to change.
    pub fn weights_mut(&mut self, l: usize) -> &mut [f32] {
        let r = self.layout.w(l);
        &mut self.params[r]
    }

    /// Layer `l`'s biases, to change.
    pub fn biases_mut(&mut self, l: usize) -> &mut [f32] {
        let r = self.layout.b(l);
        &mut self.params[r]
    }

    /// Every weight and bias in one slice: layer 0's weights (row-major), its biases, then
    /// layer 1's, and so on.
    pub fn parameters(&self) -> &[f32] {
        &self.params
    }

    /// A copy, or an error when it does not fit in memory (`clone` aborts then).
    pub(crate) fn try_clone(&self) -> Result<Mlp, NnError> {
        let mut params = zeroed(self.params.len(), "a copy of the network")?;
        params.copy_from_slice(&self.params);
        Ok(Mlp {
            sizes: self.sizes.clone(),
            params,
            layout: self.layout.clone(),
            hidden: self.hidden.clone(),
            output: self.output,
        })
    }

    /// Copies every weight and bias of `src` into `self`, without allocating.
    ///
    /// # Errors
    /// When the two networks have different layer sizes.
    pub fn copy_params_from(&mut self, src: &Mlp) -> Result<(), NnError> {
        if self.sizes != src.sizes {
            return Err(NnError::new(format!(
                "cannot copy parameters of a {:?} network into a {:?} one",
                src.sizes, self.sizes
            )));
        }
        self.params.copy_from_slice(&src.params);
        Ok(())
    }

    /// The number of weights and biases.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// Whether every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.params.iter().all(|v| v.is_finite())
    }

    /// A description such as `784-128(relu)-10(softmax)`.
    pub fn describe(&self) -> String {
        let mut s = self.sizes[0].to_string();
        for (l, &n) in self.sizes[1..].iter().enumerate() {
            let act = match self.hidden.get(l) {
                Some(a) => a.to_string(),
                None => self.output.to_string(),
            };
            s.push_str(&format!("-{n}({act})"));
        }
        s
    }

    /// The outputs for `rows` samples (`x` holds `rows × inputs()` values, row-major), on the
    /// default backend with the kernels at the tier of `k`, allocating a workspace; for
    /// repeated calls, keep a [`Workspace`] and use [`Workspace::forward`].
    ///
    /// # Errors
    /// When `x` does not hold `rows × inputs()` values.
    pub fn predict(&self, k: &Kernels, x: &[f32], rows: usize) -> Result<Vec<f32>, NnError> {
        if rows.checked_mul(self.inputs()) != Some(x.len()) {
            return Err(NnError::new(format!(
                "input has {} values, {rows} samples × {} inputs need {}",
                x.len(),
                self.inputs(),
                rows.saturating_mul(self.inputs())
            )));
        }
        let mut ws = Workspace::new(self, rows.max(1), *k)?;
        Ok(ws.forward(self, x, rows)?.to_vec())
    }

    /// The most likely class (the index of the largest output) of each of `rows` samples.
    ///
    /// # Errors
    /// As [`predict`](Self::predict).
    pub fn classify(&self, k: &Kernels, x: &[f32], rows: usize) -> Result<Vec<usize>, NnError> {
        let out = self.predict(k, x, rows)?;
        Ok(out.chunks(self.outputs()).map(argmax).collect())
    }
}

/// The index of the largest value (the first one on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}
