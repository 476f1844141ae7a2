//! f64 references and the ULP measure the tests and the exhaustive sweep use.
//!
//! Public so that users can check the kernels on their own data the same way.

/// Size of one unit in the last place of the f32 result nearest `want`:
/// 2^(e − 23) where e = ⌊log₂|want|⌋, clamped at the subnormal spacing 2⁻¹⁴⁹.
pub fn ulp_of(want: f64) -> f64 {
    let a = want.abs();
    let e = if a == 0.0 {
        -126
    } else {
        (a.log2().floor() as i32).max(-126)
    };
    (2.0f64).powi(e - 23)
}

/// Error of the f32 `got` against the exact `want`, in ULP of the f32 result.
///
/// NaN matches only NaN (0 ULP, otherwise ∞). Where `want` rounds to ±∞ in f32 (or is
/// infinite), `got` must be that infinity. Otherwise `|got − want| / ulp_of(want)`.
pub fn ulp_error(got: f32, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let rounded = want as f32;
    if rounded.is_infinite() || got.is_infinite() {
        return if got == rounded { 0.0 } else { f64::INFINITY };
    }
    (f64::from(got) - want).abs() / ulp_of(want)
}

/// eˣ.
pub fn exp(x: f32) -> f64 {
    f64::from(x).exp()
}

/// 1/(1 + e⁻ˣ), computed without overflow.
pub fn sigmoid(x: f32) -> f64 {
    let x = f64::from(x);
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// tanh x.
pub fn tanh(x: f32) -> f64 {
    f64::from(x).tanh()
}

/// x for x > 0, α(eˣ − 1) otherwise.
pub fn elu(x: f32, alpha: f32) -> f64 {
    let x = f64::from(x);
    if x > 0.0 {
        x
    } else {
        f64::from(alpha) * x.exp_m1()
    }
}

/// softmax of a row in f64 (max subtracted).
pub fn softmax(x: &[f32]) -> Vec<f64> {
    let m = x
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let e: Vec<f64> = x.iter().map(|&v| (f64::from(v) - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// log-softmax of a row in f64.
pub fn log_softmax(x: &[f32]) -> Vec<f64> {
    let m = x
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let s: f64 = x.iter().map(|&v| (f64::from(v) - m).exp()).sum();
    let lse = m + s.ln();
    x.iter().map(|&v| f64::from(v) - lse).collect()
}
