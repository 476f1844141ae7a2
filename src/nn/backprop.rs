//! The forward pass on a batch and backpropagation, in buffers allocated once.
//!
//! For layer l with input X (rows × nₗ), weights W (nₗ × nₗ₊₁) and error δ = ∂L/∂Z
//! (rows × nₗ₊₁):
//!
//! - ∂L/∂W = Xᵀ·δ and ∂L/∂b = Σ_rows δ,
//! - δ_prev = (δ·Wᵀ) ⊙ f′(X), f′ taken from the previous layer's output X.
//!
//! Both products are GEMMs on transposed *views* (strides swapped), never transposed copies.

use super::params::Layout;
use super::{argmax, Loss, Mlp, NnError, OutputActivation};
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
    backend: Backend,
    kernels: Kernels,
    /// acts[l]: the output of layer l after its activation (capacity × sizes[l+1]).
    acts: Vec<Vec<f32>>,
    /// The output layer's pre-activation z (capacity × outputs).
    logits: Vec<f32>,
    /// Two δ buffers, used in turn going backward (capacity × the widest layer).
    delta: [Vec<f32>; 2],
    /// One row of the output width, for the loss.
    scratch: Vec<f32>,
}

impl Workspace {
    /// Buffers for `net` and batches of up to `capacity` rows, on the default backend and
    /// the best kernels this CPU runs (or those `SIGMO_ISA` forces).
    ///
    /// # Errors
    /// When `SIGMO_ISA` names a tier this CPU cannot run.
    pub fn new(net: &Mlp, capacity: usize) -> Result<Workspace, NnError> {
        let kernels = Kernels::try_best().map_err(|e| NnError::new(e.to_string()))?;
        let widest = net.sizes[1..].iter().copied().max().unwrap_or(0);
        let buf = |width: usize| {
            let n = capacity.checked_mul(width).ok_or_else(|| {
                NnError::new(format!(
                    "a workspace of {capacity} rows × {width} overflows"
                ))
            })?;
            super::zeroed(n, &format!("a workspace of {capacity} rows"))
        };
        Ok(Workspace {
            capacity,
            sizes: net.sizes.clone(),
            backend: Backend::default(),
            kernels,
            acts: net.sizes[1..]
                .iter()
                .map(|&n| buf(n))
                .collect::<Result<_, _>>()?,
            logits: buf(net.outputs())?,
            delta: [buf(widest)?, buf(widest)?],
            scratch: vec![0.0; net.outputs()],
        })
    }

    /// The same buffers, running their kernels (epilogues, losses, backward passes) at the
    /// tier of `kernels` instead of the detected one.
    pub fn with_kernels(mut self, kernels: Kernels) -> Workspace {
        self.kernels = kernels;
        self
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

    fn check(&self, net: &Mlp, x: &[f32], rows: usize, y: Option<&[f32]>) -> Result<(), NnError> {
        if net.sizes != self.sizes {
            return Err(NnError::new(format!(
                "the workspace was made for layer sizes {:?}, the network has {:?}",
                self.sizes, net.sizes
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
    /// layer is one `gemm_bias_act`, the output layer's activation a pass over its logits.
    ///
    /// # Errors
    /// When `x` does not hold `rows × inputs` values, `rows` is above the capacity, or the
    /// workspace was made for other layer sizes.
    pub fn forward(&mut self, net: &Mlp, x: &[f32], rows: usize) -> Result<&[f32], NnError> {
        self.check(net, x, rows, None)?;
        self.run_forward(net, x, rows)?;
        let last = self.acts.len() - 1;
        Ok(&self.acts[last][..rows * net.outputs()])
    }

    /// The output layer's logits z from the last forward pass (`rows × outputs`; rows past
    /// the capacity are not there).
    pub fn logits(&self, rows: usize) -> &[f32] {
        &self.logits[..rows.min(self.capacity) * self.sizes[self.sizes.len() - 1]]
    }

    fn run_forward(&mut self, net: &Mlp, x: &[f32], rows: usize) -> Result<(), NnError> {
        let depth = net.depth();
        for l in 0..depth {
            let (n_in, n_out) = (net.sizes[l], net.sizes[l + 1]);
            let (before, rest) = self.acts.split_at_mut(l);
            let input = if l == 0 {
                x
            } else {
                &before[l - 1][..rows * n_in]
            };
            let a = MatRef::new(input, rows, n_in)?;
            let w = MatRef::new(net.weights(l), n_in, n_out)?;
            let out = &mut rest[0][..rows * n_out];
            if l + 1 < depth {
                let c = MatMut::new(out, rows, n_out)?;
                self.backend.gemm_bias_act_with(
                    &self.kernels,
                    a,
                    w,
                    net.biases(l),
                    net.hidden[l],
                    c,
                )?;
            } else {
                let z = &mut self.logits[..rows * n_out];
                let c = MatMut::new(z, rows, n_out)?;
                self.backend.gemm_bias_act_with(
                    &self.kernels,
                    a,
                    w,
                    net.biases(l),
                    Activation::Identity,
                    c,
                )?;
                match net.output {
                    OutputActivation::Softmax => self.kernels.softmax_rows(z, n_out, out),
                    OutputActivation::Elementwise(f) => self.kernels.activate(f, z, out),
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
    /// many are classified right; forward only.
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
        self.run_forward(net, x, rows)?;
        Ok(self.stats(net, loss, y, rows))
    }

    /// Forward and backward on `rows` samples: returns the summed loss (and the count
    /// classified right), and sets `grads` ← `scale`·∂(Σ loss)/∂θ. With `scale = 1/rows`
    /// that is the gradient of the mean loss; shards of one batch each pass 1/(whole batch)
    /// and their gradients add up.
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
        loss.check(net.output)?;
        self.check(net, x, rows, Some(y))?;
        let shaped = grads.fits(net);
        if !shaped {
            return Err(NnError::new(
                "the gradients are shaped for another network".to_string(),
            ));
        }
        self.run_forward(net, x, rows)?;
        let stats = self.stats(net, loss, y, rows);

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
        let mut cur = 0;
        for l in (0..depth).rev() {
            let (n_in, n_out) = (net.sizes[l], net.sizes[l + 1]);
            let (d0, d1) = self.delta.split_at_mut(1);
            let (d, d_prev) = if cur == 0 {
                (&d0[0], &mut d1[0])
            } else {
                (&d1[0], &mut d0[0])
            };
            let d = &d[..rows * n_out];
            let input = if l == 0 {
                x
            } else {
                &self.acts[l - 1][..rows * n_in]
            };
            let dm = MatRef::new(d, rows, n_out)?;
            let (wr, br) = (grads.layout.w(l), grads.layout.b(l));
            let (gw, gb) = grads.data[wr.start..br.end].split_at_mut(wr.len());
            // ∂L/∂W = scale · Xᵀ·δ (Xᵀ a view).
            self.backend.gemm_with(
                &self.kernels,
                scale,
                MatRef::new(input, rows, n_in)?.t(),
                dm,
                0.0,
                MatMut::new(gw, n_in, n_out)?,
            )?;
            // ∂L/∂b = scale · Σ_rows δ.
            gb.fill(0.0);
            for row in d.chunks_exact(n_out) {
                k.axpy(scale, row, gb);
            }
            if l > 0 {
                // δ_prev = (δ·Wᵀ) ⊙ f′, f′ from the previous layer's output.
                let dp = &mut d_prev[..rows * n_in];
                self.backend.gemm_with(
                    &self.kernels,
                    1.0,
                    dm,
                    MatRef::new(net.weights(l), n_in, n_out)?.t(),
                    0.0,
                    MatMut::new(dp, rows, n_in)?,
                )?;
                k.activate_backward_inplace(net.hidden[l - 1], input, dp);
                cur ^= 1;
            }
        }
        Ok(stats)
    }
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
