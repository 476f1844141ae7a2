//! The forward pass on a batch and backpropagation, in buffers allocated once.
//!
//! For layer l with input X (rows × nₗ), weights W (nₗ × nₗ₊₁) and error δ = ∂L/∂Z
//! (rows × nₗ₊₁):
//!
//! - ∂L/∂W = Xᵀ·δ and ∂L/∂b = Σ_rows δ,
//! - δ_prev = (δ·Wᵀ) ⊙ f′(X), f′ taken from the previous layer's output X.
//!
//! A maxout layer of k pieces computes Z (rows × k·nₗ₊₁) and reduces it by `maxout_rows`; its
//! δ goes back to each row's winning piece (`maxout_rows_backward`). With dropout, a hidden
//! layer's output is multiplied by its mask before the next layer, and δ_prev by the same
//! mask before f′; with input noise, the first layer sees the noisy inputs.
//!
//! Both products are GEMMs on transposed *views* (strides swapped), never transposed copies.

use super::params::Layout;
use super::{argmax, Loss, Mlp, NnError, Noise, NoiseAt, OutputActivation};
use crate::gemm::{Backend, MatMut, MatRef};
use crate::kernels::{Activation, Kernels};

/// Gradients of the loss with respect to every weight and bias, shaped as the network's.
#[derive(Clone, Debug, PartialEq)]
pub struct Grads {
    /// Laid out as the network's parameters ([`Mlp::parameters`]).
    pub(crate) data: Vec<f32>,
    pub(crate) layout: Layout,
}

impl Grads {
    /// Zero gradients shaped as `net`. Aborts, as a `Vec` does, when memory runs out; see
    /// [`Grads::try_new`] for the error instead.
    pub fn new(net: &Mlp) -> Grads {
        Grads {
            data: vec![0.0; net.num_params()],
            layout: net.layout.clone(),
        }
    }

    /// Zero gradients shaped as `net`, or an error when they do not fit in memory.
    ///
    /// # Errors
    /// When the buffer cannot be allocated.
    pub fn try_new(net: &Mlp) -> Result<Grads, NnError> {
        Ok(Grads {
            data: super::zeroed(net.num_params(), "the gradients")?,
            layout: net.layout.clone(),
        })
    }

    /// ∂L/∂W of layer `l`, shaped as its weights.
    pub fn weights(&self, l: usize) -> &[f32] {
        &self.data[self.layout.w(l)]
    }

    /// ∂L/∂b of layer `l`.
    pub fn biases(&self, l: usize) -> &[f32] {
        &self.data[self.layout.b(l)]
    }

    /// All gradients in one slice, laid out as [`Mlp::parameters`].
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Whether these gradients are shaped for `net`.
    pub fn fits(&self, net: &Mlp) -> bool {
        self.layout == net.layout
    }

    /// self ← self + other (shards of one batch).
    ///
    /// # Errors
    /// When the two are shaped for different networks; `self` is then unchanged.
    pub fn add(&mut self, k: &Kernels, other: &Grads) -> Result<(), NnError> {
        if self.layout != other.layout {
            return Err(NnError::new("cannot add gradients of different networks"));
        }
        k.axpy(1.0, &other.data, &mut self.data);
        Ok(())
    }
}

/// The loss summed over a batch and how many samples it classified right (the largest
/// output at the target's largest entry).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Σ loss over the samples.
    pub loss: f64,
    /// Samples whose largest output is where the target's largest entry is.
    pub correct: usize,
}

/// Every buffer a forward and backward pass needs, for batches of up to `capacity` rows;
/// allocated once, reused for every batch.
#[derive(Clone, Debug)]
pub struct Workspace {
    capacity: usize,
    sizes: Vec<usize>,
    /// Each layer's pre-activations (its weights' columns): k·sizes[l+1] for maxout.
    widths: Vec<usize>,
    backend: Backend,
    kernels: Kernels,
    /// acts[l]: the output of layer l after its activation (capacity × sizes[l+1]).
    acts: Vec<Vec<f32>>,
    /// pre[l]: a maxout layer's pieces before the max (capacity × widths[l]); empty for the
    /// other hidden layers.
    pre: Vec<Vec<f32>>,
    /// The output layer's pre-activation z (capacity × outputs).
    logits: Vec<f32>,
    /// Two δ buffers, used in turn going backward (capacity × the widest layer).
    delta: [Vec<f32>; 2],
    /// One row of the output width, for the loss.
    scratch: Vec<f32>,
    /// The training-time noise ([`Workspace::with_noise`]).
    noise: Noise,
    /// masks[l]: hidden layer l's dropout scales (capacity × sizes[l+1], when it drops).
    masks: Vec<Vec<f32>>,
    /// dropped[l]: hidden layer l's output after dropout, the next layer's input.
    dropped: Vec<Vec<f32>>,
    /// The inputs with their Gaussian noise (capacity × inputs, when σ > 0).
    noisy: Vec<f32>,
    /// Whether the last pass drew noise.
    drew: bool,
}

/// Whether hidden layer `l` drops units in a pass at `at`.
fn drops(noise: &Noise, at: Option<NoiseAt>, l: usize) -> bool {
    at.is_some() && noise.dropout_of(l) > 0.0
}

impl Workspace {
    /// Buffers for `net` and batches of up to `capacity` rows, on the default backend, running
    /// every kernel (epilogues, losses, backward passes, sigmo's GEMM engine) at the tier of
    /// `kernels`, which the caller chooses once ([`Kernels::best`], or a forced tier).
    ///
    /// # Errors
    /// When the buffers do not fit in memory.
    pub fn new(net: &Mlp, capacity: usize, kernels: Kernels) -> Result<Workspace, NnError> {
        let widths: Vec<usize> = (0..net.depth()).map(|l| net.width(l)).collect();
        let widest = net.sizes[1..]
            .iter()
            .chain(&widths)
            .copied()
            .max()
            .unwrap_or(0);
        let buf = |width: usize| buffer(capacity, width);
        Ok(Workspace {
            capacity,
            sizes: net.sizes.clone(),
            backend: Backend::default(),
            kernels,
            acts: net.sizes[1..]
                .iter()
                .map(|&n| buf(n))
                .collect::<Result<_, _>>()?,
            pre: net
                .hidden
                .iter()
                .zip(&widths)
                .map(|(a, &w)| {
                    buf(if matches!(a, Activation::Maxout(_)) {
                        w
                    } else {
                        0
                    })
                })
                .collect::<Result<_, _>>()?,
            widths,
            logits: buf(net.outputs())?,
            delta: [buf(widest)?, buf(widest)?],
            scratch: vec![0.0; net.outputs()],
            noise: Noise::default(),
            masks: vec![Vec::new(); net.depth() - 1],
            dropped: vec![Vec::new(); net.depth() - 1],
            noisy: Vec::new(),
            drew: false,
        })
    }

    /// The same buffers, with those `noise` needs, for
    /// [`loss_and_grad_noisy`](Self::loss_and_grad_noisy).
    ///
    /// # Errors
    /// When the noise's values are out of range ([`Noise::check`]), its dropout list does
    /// not fit the network's hidden layers, or the buffers do not fit in memory.
    pub fn with_noise(mut self, noise: Noise) -> Result<Workspace, NnError> {
        let hidden = self.sizes.len() - 2;
        noise.check(hidden)?;
        for l in 0..hidden {
            let n = if noise.dropout_of(l) > 0.0 {
                self.sizes[l + 1]
            } else {
                0
            };
            self.masks[l] = buffer(self.capacity, n)?;
            self.dropped[l] = buffer(self.capacity, n)?;
        }
        let n = if noise.input_noise > 0.0 {
            self.sizes[0]
        } else {
            0
        };
        self.noisy = buffer(self.capacity, n)?;
        self.noise = noise;
        Ok(self)
    }

    /// The same buffers, running their GEMMs on `backend`.
    pub fn with_backend(mut self, backend: Backend) -> Workspace {
        self.backend = backend;
        self
    }

    /// The largest batch these buffers take.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The kernels in use.
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// The noise these buffers apply in [`loss_and_grad_noisy`](Self::loss_and_grad_noisy).
    pub fn noise(&self) -> &Noise {
        &self.noise
    }

    /// Hidden layer `l`'s dropout mask (0 or 1/(1 − p) per unit) of the last pass of
    /// [`loss_and_grad_noisy`](Self::loss_and_grad_noisy), for its first `rows` rows; `None`
    /// when that layer does not drop or the last pass drew no noise.
    pub fn dropout_mask(&self, l: usize, rows: usize) -> Option<&[f32]> {
        let m = self.masks.get(l)?;
        (self.drew && !m.is_empty()).then(|| &m[..rows.min(self.capacity) * self.sizes[l + 1]])
    }

    /// The inputs with their Gaussian noise of the last pass of
    /// [`loss_and_grad_noisy`](Self::loss_and_grad_noisy), first `rows` rows; `None` without
    /// input noise.
    pub fn noisy_inputs(&self, rows: usize) -> Option<&[f32]> {
        (self.drew && !self.noisy.is_empty())
            .then(|| &self.noisy[..rows.min(self.capacity) * self.sizes[0]])
    }

    fn check(&self, net: &Mlp, x: &[f32], rows: usize, y: Option<&[f32]>) -> Result<(), NnError> {
        if net.sizes != self.sizes || (0..net.depth()).any(|l| net.width(l) != self.widths[l]) {
            return Err(NnError::new(format!(
                "the workspace was made for layer sizes {:?} (layer widths {:?}), the network \
                 has {:?} ({})",
                self.sizes,
                self.widths,
                net.sizes,
                net.describe()
            )));
        }
        if rows > self.capacity {
            return Err(NnError::new(format!(
                "a batch of {rows} rows, the workspace holds at most {}",
                self.capacity
            )));
        }
        if x.len() != rows * net.inputs() {
            return Err(NnError::new(format!(
                "input has {} values, {rows} samples × {} inputs need {}",
                x.len(),
                net.inputs(),
                rows * net.inputs()
            )));
        }
        if let Some(y) = y {
            if y.len() != rows * net.outputs() {
                return Err(NnError::new(format!(
                    "targets have {} values, {rows} samples × {} outputs need {}",
                    y.len(),
                    net.outputs(),
                    rows * net.outputs()
                )));
            }
        }
        Ok(())
    }

    /// The outputs of `net` for `rows` samples (`x` is `rows × inputs`, row-major): each
    /// layer is one `gemm_bias_act` (a maxout layer's then reduced by `maxout_rows`), the
    /// output layer's activation a pass over its logits. Never drops units or adds noise.
    ///
    /// # Errors
    /// When `x` does not hold `rows × inputs` values, `rows` is above the capacity, or the
    /// workspace was made for other layer sizes.
    pub fn forward(&mut self, net: &Mlp, x: &[f32], rows: usize) -> Result<&[f32], NnError> {
        self.check(net, x, rows, None)?;
        self.run_forward(net, x, rows, None)?;
        let last = self.acts.len() - 1;
        Ok(&self.acts[last][..rows * net.outputs()])
    }

    /// The output layer's logits z from the last forward pass (`rows × outputs`; rows past
    /// the capacity are not there).
    pub fn logits(&self, rows: usize) -> &[f32] {
        &self.logits[..rows.min(self.capacity) * self.sizes[self.sizes.len() - 1]]
    }

    /// The forward pass; with `at`, the workspace's noise drawn for those rows.
    fn run_forward(
        &mut self,
        net: &Mlp,
        x: &[f32],
        rows: usize,
        at: Option<NoiseAt>,
    ) -> Result<(), NnError> {
        let depth = net.depth();
        let Workspace {
            acts,
            pre,
            logits,
            noise,
            masks,
            dropped,
            noisy,
            drew,
            backend,
            kernels,
            ..
        } = self;
        let at = at.filter(|_| !noise.is_none());
        *drew = at.is_some();
        let noisy_in = at.is_some() && noise.input_noise > 0.0;
        if let Some(at) = at {
            let hidden_widths = &net.sizes[1..depth];
            super::noise::draw(
                noise,
                at,
                rows,
                x,
                net.inputs(),
                noisy,
                masks,
                hidden_widths,
            );
        }
        for l in 0..depth {
            let (n_in, n_out, width) = (net.sizes[l], net.sizes[l + 1], net.width(l));
            let (acts_before, acts_rest) = acts.split_at_mut(l);
            let (drop_before, drop_rest) = dropped.split_at_mut(l);
            let input: &[f32] = if l == 0 {
                if noisy_in {
                    &noisy[..rows * n_in]
                } else {
                    x
                }
            } else if drops(noise, at, l - 1) {
                &drop_before[l - 1][..rows * n_in]
            } else {
                &acts_before[l - 1][..rows * n_in]
            };
            let a = MatRef::new(input, rows, n_in)?;
            let w = MatRef::new(net.weights(l), n_in, width)?;
            let out = &mut acts_rest[0][..rows * n_out];
            if l + 1 < depth {
                match net.hidden[l] {
                    Activation::Maxout(k) => {
                        let z = &mut pre[l][..rows * width];
                        backend.gemm_bias_act(
                            kernels,
                            a,
                            w,
                            net.biases(l),
                            Activation::Identity,
                            MatMut::new(z, rows, width)?,
                        )?;
                        kernels.maxout_rows(z, k, out);
                    }
                    f => {
                        let c = MatMut::new(out, rows, n_out)?;
                        backend.gemm_bias_act(kernels, a, w, net.biases(l), f, c)?;
                    }
                }
                if drops(noise, at, l) {
                    kernels.dropout(
                        out,
                        &masks[l][..rows * n_out],
                        &mut drop_rest[0][..rows * n_out],
                    );
                }
            } else {
                let z = &mut logits[..rows * n_out];
                let c = MatMut::new(z, rows, n_out)?;
                backend.gemm_bias_act(kernels, a, w, net.biases(l), Activation::Identity, c)?;
                match net.output {
                    OutputActivation::Softmax => kernels.softmax_rows(z, n_out, out),
                    OutputActivation::Elementwise(f) => kernels.activate(f, z, out),
                }
            }
        }
        Ok(())
    }

    fn stats(&mut self, net: &Mlp, loss: Loss, y: &[f32], rows: usize) -> BatchStats {
        let out_n = net.outputs();
        let a = &self.acts[self.acts.len() - 1];
        let mut s = BatchStats::default();
        for r in 0..rows {
            let span = r * out_n..(r + 1) * out_n;
            let (zr, ar, yr) = (&self.logits[span.clone()], &a[span.clone()], &y[span]);
            s.loss += loss.value(&self.kernels, zr, ar, yr, &mut self.scratch);
            s.correct += usize::from(argmax(ar) == argmax(yr));
        }
        s
    }

    /// The loss summed over `rows` samples against targets `y` (`rows × outputs`), and how
    /// many are classified right; forward only, without noise.
    ///
    /// # Errors
    /// As [`forward`](Self::forward), when `y` has the wrong length, or `loss` does not fit
    /// the output layer.
    pub fn evaluate(
        &mut self,
        net: &Mlp,
        loss: Loss,
        x: &[f32],
        y: &[f32],
        rows: usize,
    ) -> Result<BatchStats, NnError> {
        loss.check(net.output)?;
        self.check(net, x, rows, Some(y))?;
        self.run_forward(net, x, rows, None)?;
        Ok(self.stats(net, loss, y, rows))
    }

    /// Forward and backward on `rows` samples: returns the summed loss (and the count
    /// classified right), and sets `grads` ← `scale`·∂(Σ loss)/∂θ. With `scale = 1/rows`
    /// that is the gradient of the mean loss; shards of one batch each pass 1/(whole batch)
    /// and their gradients add up. Without noise (see
    /// [`loss_and_grad_noisy`](Self::loss_and_grad_noisy)).
    ///
    /// # Errors
    /// As [`evaluate`](Self::evaluate), or when `grads` is shaped for another network.
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad(
        &mut self,
        net: &Mlp,
        loss: Loss,
        x: &[f32],
        y: &[f32],
        rows: usize,
        scale: f32,
        grads: &mut Grads,
    ) -> Result<BatchStats, NnError> {
        self.backprop(net, loss, x, y, rows, scale, grads, None)
    }

    /// [`loss_and_grad`](Self::loss_and_grad) with the workspace's training-time noise
    /// ([`with_noise`](Self::with_noise)): Gaussian noise on the inputs and dropout after the
    /// hidden layers, drawn for optimizer step `at.step` and batch rows `at.row..at.row +
    /// rows` (see [`Noise`]). The gradient is that of the loss with those draws fixed.
    ///
    /// # Errors
    /// As [`loss_and_grad`](Self::loss_and_grad).
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad_noisy(
        &mut self,
        net: &Mlp,
        loss: Loss,
        x: &[f32],
        y: &[f32],
        rows: usize,
        scale: f32,
        grads: &mut Grads,
        at: NoiseAt,
    ) -> Result<BatchStats, NnError> {
        self.backprop(net, loss, x, y, rows, scale, grads, Some(at))
    }

    #[allow(clippy::too_many_arguments)]
    fn backprop(
        &mut self,
        net: &Mlp,
        loss: Loss,
        x: &[f32],
        y: &[f32],
        rows: usize,
        scale: f32,
        grads: &mut Grads,
        at: Option<NoiseAt>,
    ) -> Result<BatchStats, NnError> {
        loss.check(net.output)?;
        self.check(net, x, rows, Some(y))?;
        let shaped = grads.fits(net);
        if !shaped {
            return Err(NnError::new(
                "the gradients are shaped for another network".to_string(),
            ));
        }
        self.run_forward(net, x, rows, at)?;
        let stats = self.stats(net, loss, y, rows);
        let at = at.filter(|_| self.drew);

        let depth = net.depth();
        let out_n = net.outputs();
        let k = self.kernels;
        // δ of the output layer, one sample at a time.
        {
            let a = &self.acts[depth - 1];
            let d = &mut self.delta[0];
            for r in 0..rows {
                let span = r * out_n..(r + 1) * out_n;
                loss.delta(
                    &k,
                    net.output,
                    &a[span.clone()],
                    &y[span.clone()],
                    &mut d[span],
                );
            }
        }
        let noisy_in = at.is_some() && self.noise.input_noise > 0.0;
        let mut cur = 0;
        for l in (0..depth).rev() {
            let (n_in, width) = (net.sizes[l], net.width(l));
            let (d0, d1) = self.delta.split_at_mut(1);
            let (d, other) = if cur == 0 {
                (&mut d0[0], &mut d1[0])
            } else {
                (&mut d1[0], &mut d0[0])
            };
            let input: &[f32] = if l == 0 {
                if noisy_in {
                    &self.noisy[..rows * n_in]
                } else {
                    x
                }
            } else if drops(&self.noise, at, l - 1) {
                &self.dropped[l - 1][..rows * n_in]
            } else {
                &self.acts[l - 1][..rows * n_in]
            };
            let dm = MatRef::new(&d[..rows * width], rows, width)?;
            let (wr, br) = (grads.layout.w(l), grads.layout.b(l));
            let (gw, gb) = grads.data[wr.start..br.end].split_at_mut(wr.len());
            // ∂L/∂W = scale · Xᵀ·δ (Xᵀ a view).
            self.backend.gemm(
                &self.kernels,
                scale,
                MatRef::new(input, rows, n_in)?.t(),
                dm,
                0.0,
                MatMut::new(gw, n_in, width)?,
            )?;
            // ∂L/∂b = scale · Σ_rows δ.
            gb.fill(0.0);
            for row in d[..rows * width].chunks_exact(width) {
                k.axpy(scale, row, gb);
            }
            if l > 0 {
                // δ_prev = (δ·Wᵀ) ⊙ dropout mask ⊙ f′, f′ from the previous layer's output
                // (before dropout), or maxout's winners.
                let h = l - 1;
                let dp = &mut other[..rows * n_in];
                self.backend.gemm(
                    &self.kernels,
                    1.0,
                    dm,
                    MatRef::new(net.weights(l), n_in, width)?.t(),
                    0.0,
                    MatMut::new(dp, rows, n_in)?,
                )?;
                if drops(&self.noise, at, h) {
                    k.dropout_backward_inplace(&self.masks[h][..rows * n_in], dp);
                }
                match net.hidden[h] {
                    Activation::Maxout(pieces) => {
                        // The pieces' δ goes where δ was: that buffer is free now.
                        let wh = net.width(h);
                        k.maxout_rows_backward(
                            &self.pre[h][..rows * wh],
                            pieces,
                            dp,
                            &mut d[..rows * wh],
                        );
                    }
                    f => {
                        k.activate_backward_inplace(f, &self.acts[h][..rows * n_in], dp);
                        cur ^= 1;
                    }
                }
            }
        }
        Ok(stats)
    }
}

/// A zeroed buffer of `rows × width` values for a workspace.
fn buffer(rows: usize, width: usize) -> Result<Vec<f32>, NnError> {
    let n = rows
        .checked_mul(width)
        .ok_or_else(|| NnError::new(format!("a workspace of {rows} rows × {width} overflows")))?;
    super::zeroed(n, &format!("a workspace of {rows} rows"))
}

/// Writes one-hot rows: row r of `out` (`labels.len() × classes`) is 1 at `labels[r]`, else 0.
///
/// # Errors
/// When `out` is shorter than `labels.len() × classes` or a label is not below `classes`;
/// `out` is then unchanged.
pub fn one_hot(labels: &[u8], classes: usize, out: &mut [f32]) -> Result<(), NnError> {
    let n = labels.len().saturating_mul(classes);
    if out.len() < n {
        return Err(NnError::new(format!(
            "one_hot: {} labels × {classes} classes need {n} values, the output holds {}",
            labels.len(),
            out.len()
        )));
    }
    if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(NnError::new(format!(
            "one_hot: label {} at index {i} is not below {classes}",
            labels[i]
        )));
    }
    let out = &mut out[..n];
    out.fill(0.0);
    for (r, &l) in labels.iter().enumerate() {
        out[r * classes + l as usize] = 1.0;
    }
    Ok(())
}
