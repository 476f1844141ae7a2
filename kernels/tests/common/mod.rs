//! Shared test helpers: the tiers, the special values, a deterministic RNG, hashing.
#![allow(dead_code)]

use sigmo_kernels::{Isa, Kernels, EXP_OVERFLOW, EXP_UNDERFLOW};

/// Every tier this CPU runs (always includes Scalar).
pub fn tiers() -> Vec<Kernels> {
    Isa::available()
        .into_iter()
        .map(|i| Kernels::new(i).expect("available tier must construct"))
        .collect()
}

/// Lengths to test for a tier of `lanes`: 0..=3·max(lanes, 16)+1 and a few large ones.
/// (16 is the virtual-lane width of the reductions; walking past 3·16 covers every block/tail
/// split of them at every tier.)
pub fn lengths(lanes: usize) -> Vec<usize> {
    let top = 3 * lanes.max(16) + 1;
    let mut v: Vec<usize> = (0..=top).collect();
    v.extend([100, 1000, 1023, 1024, 1025, 4099]);
    v
}

pub fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

pub fn next_down(x: f32) -> f32 {
    -next_up(-x)
}

/// x and its two neighbours on each side.
pub fn around(x: f32) -> [f32; 5] {
    [
        next_down(next_down(x)),
        next_down(x),
        x,
        next_up(x),
        next_up(next_up(x)),
    ]
}

/// The special inputs every kernel meets: signed zeros, ±1, ±FLT_MIN, the smallest subnormal,
/// ±FLT_MAX, ±inf, NaNs of both signs and several payloads (quiet and signalling), the
/// cut-offs of exp, sigmoid and tanh with their neighbours, ±4.29e26 and ±5e29.
pub fn specials() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        -f32::from_bits(0x007f_ffff),
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_0000),
        f32::from_bits(0xffc0_0000),
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xff80_0001),
        f32::from_bits(0x7fa1_2345),
        f32::from_bits(0xffc5_4321),
        4.29e26,
        -4.29e26,
        5e29,
        -5e29,
        1e-7,
        -1e-7,
        0.5,
        -0.5,
    ];
    for c in [
        EXP_OVERFLOW,
        EXP_UNDERFLOW,
        -87.336_55, // exp(x) = FLT_MIN
        17.328_679, // sigmoid saturates to 1
        -17.328_679,
        9.010_913, // tanh saturates to 1
        -9.010_913,
        88.0,
        -88.0,
        89.0,
        -104.0,
        104.0,
        -20.0,
        -10.0,
    ] {
        v.extend(around(c));
    }
    v
}

/// Deterministic xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    /// Any finite or special f32 bit pattern.
    pub fn any_f32(&mut self) -> f32 {
        f32::from_bits(self.next_u64() as u32)
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Mixed test data: specials, wide random bit patterns, and activations' working range.
pub fn mixed(n: usize, seed: u64) -> Vec<f32> {
    let sp = specials();
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| match i % 4 {
            0 => sp[(r.next_u64() as usize) % sp.len()],
            1 => r.any_f32(),
            _ => r.uniform(-30.0, 30.0),
        })
        .collect()
}

/// FNV-1a over the bits of a slice.
pub fn hash(v: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in v {
        for b in x.to_bits().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Guard cells around every output written through [`guarded`]: a NaN pattern no kernel makes.
pub const GUARD: usize = 17;
pub const POISON: u32 = 0x7fb0_dead;

/// Runs `f` on an output of `n` elements placed at `out_off` inside a poisoned buffer, checks
/// that nothing outside it was written, and returns the output.
pub fn guarded(n: usize, out_off: usize, what: &str, f: impl FnOnce(&mut [f32])) -> Vec<f32> {
    let lo = GUARD + out_off;
    let mut buf = vec![f32::from_bits(POISON); lo + n + GUARD];
    f(&mut buf[lo..lo + n]);
    for (i, v) in buf.iter().enumerate() {
        if !(lo..lo + n).contains(&i) {
            assert_eq!(
                v.to_bits(),
                POISON,
                "{what}: write outside the output at cell {i} (len {n}, offset {out_off})"
            );
        }
    }
    buf[lo..lo + n].to_vec()
}

/// Same bits, or both NaN (used where a test compares values, not tiers).
pub fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
