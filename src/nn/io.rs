//! Saving and loading networks: safetensors for the weights, the architecture in its
//! metadata, written atomically.
//!
//! Tensors `layers.{l}.weight` (F32, `[fan_in, width]`) and `layers.{l}.bias` (F32,
//! `[width]`), where the width is fan_out, or k·fan_out for a maxout layer of k pieces (unit j
//! is the largest of columns j·k … j·k + k − 1); metadata `format` = [`FORMAT`], `sizes`
//! (`784,128,10`), `hidden` (`relu,relu`; `maxout=2` for maxout), `output` (`softmax`), and
//! the training loss when known (`loss`).

use super::{Loss, Mlp, NnError, OutputActivation};
use crate::kernels::Activation;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// The value of the `format` metadata key of sigmo's model files.
pub const FORMAT: &str = "sigmo-mlp/1";

/// The largest safetensors header (the JSON with the tensor list and the metadata) [`load`]
/// reads: 1 MiB, room for thousands of layers. A larger one is an error before it is parsed.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;

fn act_name(a: &Activation) -> String {
    match a {
        Activation::LeakyRelu(al) | Activation::Elu(al) => format!("{}={al}", a.name()),
        Activation::Maxout(k) => format!("maxout={k}"),
        _ => a.name().to_string(),
    }
}

/// Writes `net` (and the loss it was trained with, if given) to `path` as safetensors. The
/// bytes go to a temporary file in the same folder, which is flushed to disk and then renamed
/// over `path`: a crash leaves either the old file or the new one, never half of one.
///
/// # Errors
/// When the folder cannot be written or the rename fails; `path` is then unchanged.
pub fn save(net: &Mlp, loss: Option<Loss>, path: &Path) -> Result<(), NnError> {
    let err = |what: String| NnError::new(format!("{}: {what}", path.display()));
    if !net.is_finite() {
        return Err(err(
            "not saved: the network has parameters that are NaN or infinite".into(),
        ));
    }
    let mut bytes: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
    for l in 0..net.depth() {
        let (i, o) = (net.sizes[l], net.width(l));
        let w = format!("layers.{l}.weight");
        let b = format!("layers.{l}.bias");
        let wb = le_bytes(net.weights(l)).ok_or_else(|| err(format!("{w}: {OOM}")))?;
        let bb = le_bytes(net.biases(l)).ok_or_else(|| err(format!("{b}: {OOM}")))?;
        bytes.push((w, wb, vec![i, o]));
        bytes.push((b, bb, vec![o]));
    }
    let views = bytes
        .iter()
        .map(|(name, b, shape)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| err(format!("cannot encode {name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert(
        "sizes".to_string(),
        net.sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    meta.insert(
        "hidden".to_string(),
        net.hidden
            .iter()
            .map(act_name)
            .collect::<Vec<_>>()
            .join(","),
    );
    let out = match net.output {
        OutputActivation::Softmax => "softmax".to_string(),
        OutputActivation::Elementwise(a) => act_name(&a),
    };
    meta.insert("output".to_string(), out);
    if let Some(loss) = loss {
        meta.insert("loss".to_string(), loss.name().to_string());
    }
    let data = safetensors::serialize(views, Some(meta))
        .map_err(|e| err(format!("cannot encode: {e}")))?;
    let data = canonical(data).map_err(|e| err(format!("cannot encode: {e}")))?;

    crate::atomic::write(path, &data).map_err(err)
}

/// The safetensors bytes `data` with the header's keys in sorted order: the metadata comes
/// from a `HashMap`, whose order changes from process to process, and the same network must
/// give the same file. The tensors' offsets are relative to the end of the header, so they
/// stay as they are.
fn canonical(data: Vec<u8>) -> Result<Vec<u8>, String> {
    let n = data
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .filter(|&n| n <= data.len() - 8)
        .ok_or("a header longer than the file")?;
    // serde_json's maps are sorted by key (no `preserve_order`).
    let header: serde_json::Value =
        serde_json::from_slice(&data[8..8 + n]).map_err(|e| e.to_string())?;
    let mut h = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    // Padded with spaces to a multiple of 8 bytes, as safetensors pads it.
    h.resize(h.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::new();
    out.try_reserve_exact(8 + h.len() + data.len() - 8 - n)
        .map_err(|_| OOM.to_string())?;
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&data[8 + n..]);
    Ok(out)
}

/// What a save says when its buffers do not fit in memory.
const OOM: &str = "not saved: cannot allocate the bytes to encode it";

/// The little-endian bytes of `v`, or `None` when they do not fit in memory.
fn le_bytes(v: &[f32]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    out.try_reserve_exact(v.len().checked_mul(4)?).ok()?;
    out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    Some(out)
}

/// Reads a network written by [`save`], and the loss it was trained with if recorded.
///
/// # Errors
/// When the file cannot be read, is not a regular file (a folder, device or FIFO), is not
/// safetensors, has a header larger than [`MAX_HEADER_BYTES`], is not a sigmo model, or its
/// tensors do not match its architecture; the message names the file.
pub fn load(path: &Path) -> Result<(Mlp, Option<Loss>), NnError> {
    let err = |what: String| NnError::new(format!("{}: {what}", path.display()));
    let buf = crate::atomic::read_regular(path, u64::MAX).map_err(&err)?;
    decode(&buf).map_err(err)
}

/// Reads a network from the bytes of a model file, as [`load`] does from the file (which it
/// reads whole, then decodes with this): the same checks, the error without a file name.
/// Memory is bounded by `bytes`: every tensor must be there, and the header is capped at
/// [`MAX_HEADER_BYTES`].
///
/// # Errors
/// As [`load`], but for reading the file.
pub fn load_bytes(bytes: &[u8]) -> Result<(Mlp, Option<Loss>), NnError> {
    decode(bytes).map_err(NnError::new)
}

/// The network in `buf`, or what is wrong with it (one short line, no file name).
fn decode(buf: &[u8]) -> Result<(Mlp, Option<Loss>), String> {
    decode_any(buf).map_err(|e| crate::one_line(&e))
}

/// [`decode`], its errors as they come (they may quote the file: see [`crate::one_line`]).
fn decode_any(buf: &[u8]) -> Result<(Mlp, Option<Loss>), String> {
    if buf.is_empty() {
        return Err("the file is empty".into());
    }
    if let Some(n) = buf.get(..8) {
        let n = u64::from_le_bytes(n.try_into().expect("8 bytes"));
        let rest = buf.len() as u64 - 8;
        if n > rest {
            return Err(format!(
                "not a safetensors file: its header length is {n} bytes, and {rest} follow"
            ));
        }
        if n > MAX_HEADER_BYTES {
            return Err(format!(
                "the safetensors header is {n} bytes: larger than the {MAX_HEADER_BYTES}-byte \
                 cap for a sigmo model's metadata"
            ));
        }
    }
    let (_, header) =
        SafeTensors::read_metadata(buf).map_err(|e| format!("not a safetensors file: {e}"))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or("no metadata: not a sigmo model")?;
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| format!("metadata has no {k:?}: not a sigmo model"))
    };
    let format = get("format")?;
    if format != FORMAT {
        return Err(format!("format {format:?}, expected {FORMAT:?}"));
    }
    let sizes = get("sizes")?
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad sizes {:?}: {e}", meta["sizes"]))?;
    let hidden_s = get("hidden")?;
    let hidden = if hidden_s.is_empty() {
        Vec::new()
    } else {
        hidden_s
            .split(',')
            .map(|s| s.parse::<Activation>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad hidden activations: {e}"))?
    };
    let output: OutputActivation = get("output")?
        .parse()
        .map_err(|e| format!("bad output activation: {e}"))?;
    let loss = match meta.get("loss") {
        Some(l) => Some(l.parse::<Loss>()?),
        None => None,
    };
    let depth = sizes.len().saturating_sub(1);
    // Each layer's width from its activation, checked before any tensor is read.
    for &a in &hidden {
        super::check_activation(a).map_err(|e| format!("bad hidden activations: {e}"))?;
    }
    let width = |l: usize| -> Result<usize, String> {
        let k = hidden.get(l).map_or(1, |&a| super::pieces(a));
        sizes[l + 1]
            .checked_mul(k)
            .ok_or_else(|| format!("layer {l}: its width overflows"))
    };
    let st = SafeTensors::deserialize(buf).map_err(|e| format!("corrupt tensors: {e}"))?;
    // The tensors in the file, not the metadata, bound what is reserved.
    if st.len() != 2 * depth {
        return Err(format!(
            "{} tensors, a {depth}-layer network has {}",
            st.len(),
            2 * depth
        ));
    }
    let mut params = Vec::with_capacity(depth);
    for (l, &fan_in) in sizes.iter().enumerate().take(depth) {
        let read = |name: String, shape: Vec<usize>| -> Result<Vec<f32>, String> {
            let t = st.tensor(&name).map_err(|_| format!("no tensor {name}"))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                    t.dtype(),
                    t.shape()
                ));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let wl = width(l)?;
        let w = read(format!("layers.{l}.weight"), vec![fan_in, wl])?;
        let b = read(format!("layers.{l}.bias"), vec![wl])?;
        params.push((w, b));
    }
    let net = Mlp::from_parts(&sizes, &hidden, output, params).map_err(|e| e.to_string())?;
    if let Some(l) = loss {
        l.check(output).map_err(|e| e.to_string())?;
    }
    Ok((net, loss))
}

impl Mlp {
    /// Saves to `path` as safetensors, atomically (see [`save`]).
    ///
    /// # Errors
    /// As [`save`].
    pub fn save(&self, path: &Path) -> Result<(), NnError> {
        save(self, None, path)
    }

    /// Loads a network saved by [`Mlp::save`] or [`save`].
    ///
    /// # Errors
    /// As [`load`].
    pub fn load(path: &Path) -> Result<Mlp, NnError> {
        load(path).map(|(n, _)| n)
    }
}
