//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`, minimized with `cargo fuzz
//! cmin`) through the fuzz targets' own bodies (`tests/fuzz_harness/mod.rs`), on stable: no
//! input may panic, every error must be one clean line, and the memory an input makes sigmo
//! allocate is bounded by the input's size (a counting allocator measures the peak).
//!
//! One test, so that no other test allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "fuzz_harness/mod.rs"]
mod harness;

struct Peak;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = NOW.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; only counts the bytes.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        grow(n);
        // SAFETY: as above.
        let q = unsafe { System.realloc(p, l, n) };
        NOW.fetch_sub(if q.is_null() { n } else { l.size() }, Ordering::Relaxed);
        q
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// The most bytes one input may make the harness allocate, beyond a fixed 1 MiB: 64 per
/// input byte, and for gzip input (which expands up to 1032 times) 64 per decompressed byte.
fn allowed(target: &str, len: usize) -> usize {
    let per_byte = if target.starts_with("idx") {
        64 * 1032
    } else {
        64
    };
    (1 << 20) + per_byte * len
}

#[test]
fn every_corpus_input_runs_clean_within_its_memory_bound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (target, run) in harness::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no corpus", dir.display());
        let (mut errors, mut worst, mut most) = (0, (0.0f64, String::new()), 0);
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            let base = NOW.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            let used = PEAK.load(Ordering::Relaxed) - base;
            let errs = outcome.unwrap_or_else(|_| panic!("{target}: {} panicked", f.display()));
            errors += errs.len();
            assert!(
                used <= allowed(target, bytes.len()),
                "{target}: {} ({} bytes) allocated {used} bytes",
                f.display(),
                bytes.len()
            );
            most = most.max(used);
            // Per byte, for inputs large enough that the fixed costs (a gzip decoder's
            // window, the first 64 KiB step) do not dominate.
            let ratio = used as f64 / bytes.len().max(1) as f64;
            if bytes.len() >= 512 && ratio > worst.0 {
                worst = (ratio, f.display().to_string());
            }
        }
        println!(
            "{target}: {} inputs, {errors} clean errors; the peak allocation of one input {most} \
             bytes, at most {:.0} per input byte from 512 bytes on ({})",
            files.len(),
            worst.0,
            worst.1
        );
        total += files.len();
    }
    assert!(total > 0);
}
