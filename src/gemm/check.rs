//! The self-check `sigmo info` runs on a backend: a few products against f64.

use super::{Backend, MatMut, MatRef};
use sigmo_kernels::Kernels;

/// Runs a few products on `backend` (sigmo's engine at the tier of `kernels`) (plain, transposed and strided operands, odd sizes)
/// against an f64 reference and returns the largest error as a fraction of the allowed
/// 2(K+2)·ε·(|A||B|)ᵢⱼ; `sigmo info` prints it, so that the kernels OpenBLAS actually loaded
/// (after any `OPENBLAS_CORETYPE` choice) are checked, not assumed.
///
/// # Errors
/// When a product is out of tolerance, with the shape and the error.
pub fn self_check(backend: Backend, kernels: &Kernels) -> Result<f64, String> {
    let mut seed = 0x9E37_79B9u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let mut worst = 0.0f64;
    for &(m, k, n, ta, tb) in &[
        (67, 129, 35, false, false),
        (64, 256, 96, true, false),
        (33, 517, 65, false, true),
        (128, 128, 128, true, true),
    ] {
        let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
        let av = if ta {
            MatRef::new(&a, k, m).map(|v| v.t())
        } else {
            MatRef::new(&a, m, k)
        }
        .map_err(|e| e.to_string())?;
        let bv = if tb {
            MatRef::new(&b, n, k).map(|v| v.t())
        } else {
            MatRef::new(&b, k, n)
        }
        .map_err(|e| e.to_string())?;
        let mut c = vec![f32::NAN; m * n];
        backend
            .gemm(
                kernels,
                1.0,
                av,
                bv,
                0.0,
                MatMut::new(&mut c, m, n).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for p in 0..k {
                    let x = f64::from(av.get(i, p).unwrap_or(f32::NAN))
                        * f64::from(bv.get(p, j).unwrap_or(f32::NAN));
                    s += x;
                    mag += x.abs();
                }
                let tol = 2.0 * (k as f64 + 2.0) * f64::from(f32::EPSILON) * mag + 1e-30;
                let e = (f64::from(c[i * n + j]) - s).abs() / tol;
                if e.is_nan() || e > 1.0 {
                    return Err(format!(
                        "{backend}: {m}×{k}·{k}×{n} gives C[{i},{j}] = {}, want {s}",
                        c[i * n + j]
                    ));
                }
                worst = worst.max(e);
            }
        }
    }
    Ok(worst)
}
