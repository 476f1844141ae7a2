//! The fuzz targets' bodies, shared by `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly) and
//! `tests/fuzz_corpus.rs` (which replays every file of `fuzz/corpus/<target>/` on stable).
//!
//! Each function feeds one input through sigmo's real entry points for untrusted bytes and
//! checks what must hold whatever the bytes: no panic, and any error a clean one (see
//! [`clean`]). It returns the error messages it saw, so that the replay can check them too.

use sigmo::checkpoint::{checksum, Checkpoint, MAGIC, VERSION};
use sigmo::data::idx;
use sigmo::kernels::Kernels;
use std::io::Write;

/// The longest error message sigmo may give for one bad input.
pub const MAX_ERROR_CHARS: usize = 400;

/// A target's body: the input in, the (clean) error messages it gave out.
pub type Target = fn(&[u8]) -> Vec<String>;

/// The targets, by the name of their folder under `fuzz/corpus/`.
pub const TARGETS: [(&str, Target); 4] = [
    ("idx", idx_raw),
    ("idx_gzip", idx_gzip),
    ("model", model),
    ("checkpoint", checkpoint),
];

/// Panics unless `e` is a clean error: one non-empty line of at most [`MAX_ERROR_CHARS`]
/// characters.
pub fn clean(e: &str, what: &str) {
    assert!(!e.trim().is_empty(), "{what}: an empty error message");
    assert!(
        !e.contains('\n') && !e.contains('\r'),
        "{what}: an error of more than one line: {e:?}"
    );
    let n = e.chars().count();
    assert!(
        n <= MAX_ERROR_CHARS,
        "{what}: an error message of {n} characters (at most {MAX_ERROR_CHARS}): {:?}…",
        e.chars().take(200).collect::<String>()
    );
}

/// Parses `data` as IDX with `ndim` dimensions; checks the result's shape or the error.
fn parse_checked(data: &[u8], ndim: u8, what: &str) -> Result<idx::Idx, String> {
    match idx::parse(data, ndim) {
        Ok(v) => {
            assert_eq!(v.dims.len(), ndim as usize, "{what}: dimensions");
            assert_eq!(
                Some(v.values.len()),
                v.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)),
                "{what}: the values and the dimensions disagree"
            );
            Ok(v)
        }
        Err(e) => {
            clean(&e, what);
            Err(e)
        }
    }
}

/// The dimension counts tried on one input: labels, images, and whatever its header says.
fn ndims(data: &[u8]) -> Vec<u8> {
    let mut n = vec![1, 3];
    if let Some(&d) = data.get(3) {
        if !n.contains(&d) {
            n.push(d);
        }
    }
    n
}

/// `idx`: the bytes as an IDX file (raw, or gzip when they start with its magic) of 1, 3 and
/// the header's number of dimensions.
pub fn idx_raw(data: &[u8]) -> Vec<String> {
    ndims(data)
        .into_iter()
        .filter_map(|d| parse_checked(data, d, "idx").err())
        .collect()
}

/// gzip-compresses `data` (one member).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("write to a Vec");
    e.finish().expect("finish a Vec")
}

/// `idx_gzip`: the bytes gzip-compressed must parse exactly as they do raw (the same values,
/// or an error both ways); and the bytes after a gzip magic (a corrupt or hostile stream)
/// are parsed too.
pub fn idx_gzip(data: &[u8]) -> Vec<String> {
    let mut errors = Vec::new();
    let z = gzip(data);
    for d in ndims(data) {
        let raw = parse_checked(data, d, "idx_gzip (raw)");
        let gz = parse_checked(&z, d, "idx_gzip (compressed)");
        match (raw, gz) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "gzip and raw parse differently"),
            (Err(_), Err(e)) => errors.push(e),
            (a, b) => panic!(
                "gzip and raw disagree ({d} dimensions): raw {:?}, gzip {:?}",
                a.map(|v| v.dims),
                b.map(|v| v.dims)
            ),
        }
    }
    let mut hostile = vec![0x1f, 0x8b];
    hostile.extend_from_slice(data);
    errors.extend(
        ndims(data)
            .into_iter()
            .filter_map(|d| parse_checked(&hostile, d, "idx_gzip (after the magic)").err()),
    );
    errors
}

/// `model`: the bytes as a safetensors model file; a network that loads must run a sample.
pub fn model(data: &[u8]) -> Vec<String> {
    match sigmo::nn::load_bytes(data) {
        Ok((net, loss)) => {
            if let Some(l) = loss {
                l.check(net.output_activation())
                    .expect("a loaded loss fits the loaded network");
            }
            // Bounded by the file: the weights of the first layer hold inputs() values.
            let x = vec![0.5f32; net.inputs()];
            let y = net
                .predict(&Kernels::best(), &x, 1)
                .expect("one sample of the right size");
            assert_eq!(y.len(), net.outputs());
            Vec::new()
        }
        Err(e) => {
            let e = e.to_string();
            clean(&e, "model");
            vec![e]
        }
    }
}

/// The bytes of a checkpoint file whose body is `body`: the magic, this version, and the
/// body's length and checksum, all correct (so that fuzzing reaches past the checksum).
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION.len() as u8);
    out.extend_from_slice(VERSION.as_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// `checkpoint`: the first byte picks the mode. Odd: the rest is a checkpoint's body,
/// framed correctly ([`framed`]); even: the rest is the whole file.
pub fn checkpoint(data: &[u8]) -> Vec<String> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    let file = if mode & 1 == 1 {
        framed(rest)
    } else {
        rest.to_vec()
    };
    match Checkpoint::from_bytes(&file) {
        Ok(ck) => {
            let net = ck.network();
            assert_eq!(ck.epochs_done(), ck.history().epochs.len());
            assert!(ck.config().batch_size > 0 && ck.config().threads > 0);
            let x = vec![0.5f32; net.inputs()];
            let y = net
                .predict(&Kernels::best(), &x, 1)
                .expect("one sample of the right size");
            assert_eq!(y.len(), net.outputs());
            Vec::new()
        }
        Err(e) => {
            let e = e.to_string();
            clean(&e, "checkpoint");
            vec![e]
        }
    }
}
