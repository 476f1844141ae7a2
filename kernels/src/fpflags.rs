//! The sticky floating-point exception flags of the x86-64 MXCSR register, to check what a
//! kernel call raised: clear them, run the call, read them.
//!
//! The flags that matter for speed are [`FpFlags::denormal`] (an operand was subnormal) and
//! [`FpFlags::underflow`] (a result was tiny and inexact): on Intel cores each such operation
//! takes a microcode assist of 100+ cycles unless FTZ/DAZ are set. sigmo-kernels raises
//! neither for inputs that are normal numbers, ±0, ±∞ or NaN (see the crate docs).
//!
//! ```
//! use sigmo_kernels::fpflags;
//!
//! let x = [-100.0f32, 0.0, 1.0];
//! let mut y = [0.0f32; 3];
//! fpflags::clear();
//! sigmo_kernels::exp(&x, &mut y); // e^-100 is subnormal: built without subnormal arithmetic
//! if let Some(f) = fpflags::read() {
//!     assert!(!f.denormal && !f.underflow, "{f}");
//! }
//! ```
//!
//! The flags are per thread and cover everything the thread computed between the two calls.
//! The compiler may move pure register arithmetic across them, but not a call that writes its
//! results to memory, which is what every kernel does.

use std::fmt;

/// Whether this target has the flags ([`read`] returns `Some`): x86-64 only.
pub const SUPPORTED: bool = cfg!(target_arch = "x86_64");

/// The six MXCSR exception flag bits (0–5); the control bits above them are left alone.
#[cfg(target_arch = "x86_64")]
const FLAG_BITS: u32 = 0x3f;

/// The sticky exception flags, as raised since the last [`clear`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FpFlags {
    /// IE (bit 0): an invalid operation, e.g. ∞ − ∞, 0·∞, or a signalling NaN operand.
    pub invalid: bool,
    /// DE (bit 1): an operand was subnormal.
    pub denormal: bool,
    /// ZE (bit 2): a finite nonzero number was divided by zero.
    pub divide_by_zero: bool,
    /// OE (bit 3): a result overflowed.
    pub overflow: bool,
    /// UE (bit 4): a result was tiny (below 2⁻¹²⁶) and inexact.
    pub underflow: bool,
    /// PE (bit 5): a result was rounded.
    pub inexact: bool,
}

impl FpFlags {
    /// The flags in the low six bits of an MXCSR value (the other bits are ignored).
    pub const fn from_mxcsr(bits: u32) -> FpFlags {
        FpFlags {
            invalid: bits & 1 != 0,
            denormal: bits & 2 != 0,
            divide_by_zero: bits & 4 != 0,
            overflow: bits & 8 != 0,
            underflow: bits & 16 != 0,
            inexact: bits & 32 != 0,
        }
    }

    /// The flags as MXCSR bits 0–5.
    pub const fn to_mxcsr(self) -> u32 {
        self.invalid as u32
            | (self.denormal as u32) << 1
            | (self.divide_by_zero as u32) << 2
            | (self.overflow as u32) << 3
            | (self.underflow as u32) << 4
            | (self.inexact as u32) << 5
    }

    /// Whether a subnormal was consumed or produced (DE or UE): the slow cases.
    pub const fn subnormal(self) -> bool {
        self.denormal || self.underflow
    }
}

impl fmt::Display for FpFlags {
    /// The raised flags by their MXCSR names, e.g. `DE UE PE`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = ["IE", "DE", "ZE", "OE", "UE", "PE"];
        let bits = self.to_mxcsr();
        let raised: Vec<&str> = (0..6)
            .filter(|i| bits >> i & 1 != 0)
            .map(|i| names[i])
            .collect();
        if raised.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&raised.join(" "))
        }
    }
}

/// Clears the sticky exception flags of this thread (nothing off x86-64).
pub fn clear() {
    #[cfg(target_arch = "x86_64")]
    write_mxcsr(read_mxcsr() & !FLAG_BITS);
}

/// The sticky exception flags of this thread; `None` off x86-64.
pub fn read() -> Option<FpFlags> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(FpFlags::from_mxcsr(read_mxcsr()))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
fn read_mxcsr() -> u32 {
    let mut v = 0u32;
    // SAFETY: `stmxcsr` (SSE, part of every x86-64 CPU) stores the 4-byte MXCSR into `v`, a
    // live, aligned, writable u32; it touches no other memory and no register state.
    unsafe {
        core::arch::asm!(
            "stmxcsr [{p}]",
            p = in(reg) &mut v as *mut u32,
            options(nostack, preserves_flags)
        );
    }
    v
}

#[cfg(target_arch = "x86_64")]
fn write_mxcsr(v: u32) {
    // SAFETY: `ldmxcsr` (SSE) loads MXCSR from `v`, a live, aligned u32. Callers pass the
    // current value with only sticky flag bits cleared: rounding mode, exception masks,
    // FTZ and DAZ stay as they were, so no code compiled under Rust's default floating-point
    // environment sees a different one.
    unsafe {
        core::arch::asm!(
            "ldmxcsr [{p}]",
            p = in(reg) &v as *const u32,
            options(nostack, preserves_flags, readonly)
        );
    }
}
