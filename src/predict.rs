//! Predictions for unlabelled samples, as CSV: one row per sample with its index, the
//! predicted class and the network's outputs (class probabilities for a softmax network).
//!
//! ```
//! use sigmo::kernels::Kernels;
//! use sigmo::nn::{Mlp, OutputActivation};
//!
//! let net = Mlp::builder(&[4, 3]).output(OutputActivation::Softmax).seed(1).build()?;
//! let x = [0.0f32, 0.5, 1.0, 0.25, 1.0, 1.0, 0.0, 0.0];
//! let csv = String::from_utf8(sigmo::predict::csv(&net, &x, 2, Default::default(), Kernels::best())?)?;
//! let lines: Vec<&str> = csv.lines().collect();
//! assert_eq!(lines[0], "index,predicted,p0,p1,p2");
//! assert_eq!(lines.len(), 3);
//! assert!(lines[1].starts_with("0,"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::gemm::Backend;
use crate::kernels::Kernels;
use crate::nn::{argmax, Mlp, NnError, Workspace};
use std::fmt::Write as _;

/// Samples per forward pass.
pub const BATCH: usize = 256;

/// The CSV of `net`'s predictions for `rows` samples `x` (`rows × inputs`, row-major), on
/// `backend` with the kernels at the tier of `kernels`: a header `index,predicted,p0,…,p{k−1}`, then one line per sample: its index
/// (from 0), the index of its largest output, and the `k` outputs (for a softmax network the
/// class probabilities; else the output activations), each printed as the shortest decimal
/// that reads back as the same `f32`.
///
/// # Errors
/// When `x` does not hold `rows × inputs` values, or the buffers cannot be allocated.
pub fn csv(
    net: &Mlp,
    x: &[f32],
    rows: usize,
    backend: Backend,
    kernels: Kernels,
) -> Result<Vec<u8>, NnError> {
    let d = net.inputs();
    if rows.checked_mul(d) != Some(x.len()) {
        return Err(NnError::new(format!(
            "input has {} values, {rows} samples × {d} inputs need {}",
            x.len(),
            rows.saturating_mul(d)
        )));
    }
    let k = net.outputs();
    let mut ws = Workspace::new(net, BATCH.min(rows.max(1)), kernels)?.with_backend(backend);
    let mut s = String::from("index,predicted");
    for c in 0..k {
        let _ = write!(s, ",p{c}");
    }
    s.push('\n');
    let mut start = 0;
    while start < rows {
        let n = BATCH.min(rows - start);
        let out = ws.forward(net, &x[start * d..(start + n) * d], n)?;
        for (i, row) in out.chunks(k).enumerate() {
            let _ = write!(s, "{},{}", start + i, argmax(row));
            for p in row {
                let _ = write!(s, ",{p}");
            }
            s.push('\n');
        }
        start += n;
    }
    Ok(s.into_bytes())
}
