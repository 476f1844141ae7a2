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

/// The first step by which the buffer of decompressed values grows (then it doubles).
const STEP: usize = 64 << 10;

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
    // Regular files only: a device or FIFO would be read forever, or block.
    let bytes =
        crate::atomic::read_regular(path, u64::MAX).map_err(|what| DataError::new(path, what))?;
    parse(&bytes, ndim).map_err(|what| DataError::new(path, what))
}

/// Parses IDX bytes (gzip or raw) as [`read`] does; the error says what is wrong, without a
/// file name. Memory grows with the data actually there, never with what the header
/// announces: raw data is measured against the header before anything is allocated, and gzip
/// data is decompressed in bounded steps (64 KiB, then doubling, never past the header's
/// count), so a 16-byte header announcing gigabytes is "truncated" at once. Decompression
/// stops at the header's count (plus a little to see that nothing follows), so a small file
/// cannot expand into a huge buffer, and data that does not fit in memory is an error.
///
/// # Errors
/// As [`read`].
pub fn parse(bytes: &[u8], ndim: u8) -> Result<Idx, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read + '_> = if gz {
        Box::new(MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let io = |e: std::io::Error| {
        if gz {
            format!("corrupt gzip data: {e}")
        } else {
            format!("cannot read: {e}")
        }
    };
    // Reads up to `buf.len()` bytes; returns how many (fewer only at the end of the data).
    let fill = |r: &mut dyn Read, buf: &mut [u8]| -> Result<usize, String> {
        let mut got = 0;
        while got < buf.len() {
            match r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(got)
    };
    let header_len = 4 + 4 * ndim as usize;
    let mut header = vec![0u8; header_len];
    let got = fill(&mut reader, &mut header)?;
    if got < 4 {
        return Err(format!(
            "truncated: {got} bytes, shorter than the 4-byte magic number"
        ));
    }
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let expected = u32::from_be_bytes([0, 0, TYPE_U8, ndim]);
    if magic != expected {
        let kind = match ndim {
            1 => "labels (idx1)".to_string(),
            3 => "images (idx3)".to_string(),
            d => format!("{d}-dimensional (idx{d})"),
        };
        return Err(format!(
            "wrong magic number 0x{magic:08X}: IDX u8 {kind} files start with 0x{expected:08X}"
        ));
    }
    if got < header_len {
        return Err(format!(
            "truncated header: {got} bytes, the header of a {ndim}-dimensional IDX file is {header_len}"
        ));
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let shape = shape_of(&dims);
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {shape} overflow"))?;
    let values = if gz {
        let mut values = Vec::new();
        while values.len() < count {
            let have = values.len();
            let step = (count - have).min(have.max(STEP));
            values.try_reserve_exact(step).map_err(|_| {
                format!(
                    "the header announces {shape} = {count} values: more than memory holds \
                     (after {have})"
                )
            })?;
            values.resize(have + step, 0);
            let got = fill(&mut reader, &mut values[have..])?;
            values.truncate(have + got);
            if got < step {
                break;
            }
        }
        values
    } else {
        // Raw: the bytes are all here; compare before allocating anything.
        let body = &bytes[header_len..];
        if body.len() < count {
            return Err(format!(
                "truncated: the header announces {shape} = {count} values, the file holds {}",
                body.len()
            ));
        }
        if body.len() > count {
            let extra = body.len() - count;
            return Err(format!(
                "{extra} bytes after the {shape} = {count} values the header announces"
            ));
        }
        let mut values = Vec::new();
        values.try_reserve_exact(count).map_err(|_| {
            format!("the header announces {shape} = {count} values: more than memory holds")
        })?;
        values.extend_from_slice(body);
        values
    };
    let got = values.len();
    if got < count {
        return Err(format!(
            "truncated: the header announces {shape} = {count} values, the file holds {got}"
        ));
    }
    // Anything after the values is an error too; count it, up to 1 MiB. (Raw data was
    // measured above.)
    if gz {
        let extra = std::io::copy(&mut reader.take(1 << 20), &mut std::io::sink()).map_err(io)?;
        if extra > 0 {
            let more = if extra == 1 << 20 { "at least " } else { "" };
            return Err(format!(
                "{more}{extra} bytes after the {shape} = {count} values the header announces"
            ));
        }
    }
    Ok(Idx { dims, values })
}

/// The dimensions as `60000×28×28`; past four of them, the first three and the last (an
/// error message stays one short line whatever the header holds).
fn shape_of(dims: &[usize]) -> String {
    let join = |d: &[usize]| {
        d.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×")
    };
    match dims.len() {
        0..=4 => join(dims),
        n => format!("{}×…×{} ({n} dimensions)", join(&dims[..3]), dims[n - 1]),
    }
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
