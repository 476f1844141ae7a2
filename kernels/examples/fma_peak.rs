//! Measures this CPU's fused multiply-add throughput at 256 and 512 bits: the ceiling every
//! polynomial kernel here runs into. Twelve independent FMA chains per width, so latency does
//! not limit the count.
//!
//! ```text
//! cargo run --release -p sigmo-kernels --example fma_peak
//! ```

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    const CHAINS: usize = 12;

    #[target_feature(enable = "avx2,fma")]
    pub fn fma256(n: usize) -> f32 {
        let mut a = [_mm256_set1_ps(1.0); CHAINS];
        let (b, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..n {
            for v in a.iter_mut() {
                *v = _mm256_fmadd_ps(*v, b, c);
            }
        }
        let mut out = [0.0f32; 8];
        let s = a
            .iter()
            .fold(_mm256_setzero_ps(), |s, v| _mm256_add_ps(s, *v));
        // SAFETY: `out` holds 8 f32, the width of one __m256.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f")]
    pub fn fma512(n: usize) -> f32 {
        let mut a = [_mm512_set1_ps(1.0); CHAINS];
        let (b, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..n {
            for v in a.iter_mut() {
                *v = _mm512_fmadd_ps(*v, b, c);
            }
        }
        _mm512_reduce_add_ps(
            a.iter()
                .fold(_mm512_setzero_ps(), |s, v| _mm512_add_ps(s, *v)),
        )
    }

    pub fn run() {
        let n = 50_000_000usize;
        let report = |name: &str, lanes: usize, f: &dyn Fn() -> f32| {
            let t = std::time::Instant::now();
            let r = std::hint::black_box(f());
            let s = t.elapsed().as_secs_f64();
            let ops = (n * CHAINS) as f64 / s;
            println!(
                "{name}: {:.2} G FMA instructions/s = {:.0} GFLOP/s f32 ({r:.3})",
                ops / 1e9,
                ops * lanes as f64 * 2.0 / 1e9
            );
        };
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were detected just above.
            report("256-bit", 8, &|| unsafe { fma256(n) });
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected just above.
            report("512-bit", 16, &|| unsafe { fma512(n) });
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    x86::run();
    #[cfg(not(target_arch = "x86_64"))]
    println!("fma_peak measures x86-64 only");
}
