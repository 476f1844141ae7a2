//! The IDX format (LeCun's MNIST files): a big-endian header, then the values.
//!
//! Header: two zero bytes, a type code (0x08 = u8), the number of dimensions d, then d
//! big-endian u32 sizes. Images are `idx3` (count × rows × cols), labels `idx1` (count).
//! Files may be gzip-compressed; that is told by the gzip magic bytes, not by the file name.

use super::DataError;
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// The u8 type code of the IDX header.
const TYPE_U8: u8 = 0x08;

/// The decoded contents of one IDX file of u8 values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The size of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major, `dims.iter().product()` of them.
    pub values: Vec<u8>,
}

/// Reads an IDX file of u8 values with `ndim` dimensions (3 for images, 1 for labels), gzip or
/// raw.
///
/// # Errors
/// When the file cannot be read, is empty, is not valid gzip, has the wrong magic number or
/// number of dimensions, or holds more or fewer bytes than its header announces. The message
/// names the file.
pub fn read(path: &Path, ndim: u8) -> Result<Idx, DataError> {
    let bytes =
        std::fs::read(path).map_err(|e| DataError::new(path, format!("cannot read: {e}")))?;
    parse(&bytes, ndim).map_err(|what| DataError::new(path, what))
}

/// Parses IDX bytes (gzip or raw) as [`read`] does; the error says what is wrong, without a
/// file name.
///
/// # Errors
/// As [`read`].
pub fn parse(bytes: &[u8], ndim: u8) -> Result<Idx, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let raw;
    let data: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| format!("corrupt gzip data: {e}"))?;
        raw = out;
        &raw
    } else {
        bytes
    };
    let header_len = 4 + 4 * ndim as usize;
    if data.len() < 4 {
        return Err(format!(
            "truncated: {} bytes, shorter than the 4-byte magic number",
            data.len()
        ));
    }
    let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let expected = u32::from_be_bytes([0, 0, TYPE_U8, ndim]);
    if magic != expected {
        let kind = if ndim == 1 {
            "labels (idx1)"
        } else {
            "images (idx3)"
        };
        return Err(format!(
            "wrong magic number 0x{magic:08X}: IDX u8 {kind} files start with 0x{expected:08X}"
        ));
    }
    if data.len() < header_len {
        return Err(format!(
            "truncated header: {} bytes, the header of a {ndim}-dimensional IDX file is {header_len}",
            data.len()
        ));
    }
    let dims: Vec<usize> = data[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let body = &data[header_len..];
    let shape = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×");
    if body.len() < count {
        return Err(format!(
            "truncated: the header announces {shape} = {count} values, the file holds {}",
            body.len()
        ));
    }
    if body.len() > count {
        return Err(format!(
            "{} bytes after the {shape} = {count} values the header announces",
            body.len() - count
        ));
    }
    Ok(Idx {
        dims,
        values: body.to_vec(),
    })
}

/// Encodes u8 values as a raw (uncompressed) IDX file; for tests and tools.
pub fn encode(dims: &[usize], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(values);
    out
}
