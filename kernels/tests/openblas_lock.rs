//! OpenBLAS's thread count is set under the same lock that every OpenBLAS call of this crate
//! holds: `set_num_threads` waits for the calls in flight, and a call at its own thread count
//! (`sgemm` with `Some(threads)`) leaves the count as it found it. One test, so that nothing
//! else in this binary calls OpenBLAS meanwhile.
#![cfg(feature = "openblas")]

use sigmo_kernels::gemm::openblas::{calls_in_flight, num_threads, set_num_threads, sgemm};
use sigmo_kernels::gemm::{Gemm, Layout};

/// C ← A·B (all three `l`) with OpenBLAS on `threads` (`None`: the count set).
fn mul(threads: Option<usize>, a: &[f32], b: &[f32], c: &mut [f32], l: Layout) {
    let op = Gemm {
        alpha: 1.0,
        a,
        al: l,
        b,
        bl: l,
        beta: 0.0,
        c,
        cl: l,
    };
    sgemm(op, threads).unwrap();
}
use std::time::{Duration, Instant};

fn square(n: usize, seed: u32) -> Vec<f32> {
    (0..n * n)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as f32 / 256.0)
        .collect()
}

#[test]
fn the_thread_count_changes_only_between_calls() {
    // A product long enough (~0.1 s on one thread) to be caught in flight.
    let n = 768;
    let l = Layout::row_major(n, n);
    let (a, b) = (square(n, 1), square(n, 2));
    set_num_threads(1);
    assert_eq!(num_threads(), 1);
    let mut want = vec![0.0f32; n * n];
    mul(None, &a, &b, &mut want, l);

    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let mut c = vec![0.0f32; n * n];
            mul(Some(1), &a, &b, &mut c, l);
            c
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while calls_in_flight() == 0 && !worker.is_finished() {
            assert!(Instant::now() < deadline, "the call never started");
            std::hint::spin_loop();
        }
        let caught = calls_in_flight() == 1;
        set_num_threads(2);
        // The setter waited for the call: none is in flight once it returns.
        assert_eq!(
            calls_in_flight(),
            0,
            "set_num_threads returned during a call"
        );
        assert!(
            caught || worker.is_finished(),
            "neither in flight nor finished"
        );
        assert_eq!(worker.join().unwrap(), want, "the product in flight");
    });
    assert_eq!(num_threads(), 2);

    // A call at its own count sets the count back after it.
    let mut c = vec![0.0f32; n * n];
    mul(Some(1), &a, &b, &mut c, l);
    assert_eq!(c, want);
    assert_eq!(
        num_threads(),
        2,
        "a call at 1 thread left the count changed"
    );
    set_num_threads(1);
    mul(Some(2), &a, &b, &mut c, l);
    assert_eq!(
        num_threads(),
        1,
        "a call at 2 threads left the count changed"
    );

    // Setters racing one-thread and threaded calls: every product stays right.
    let small = 96;
    let sl = Layout::row_major(small, small);
    let (sa, sb) = (square(small, 3), square(small, 4));
    let mut swant = vec![0.0f32; small * small];
    mul(None, &sa, &sb, &mut swant, sl);
    std::thread::scope(|s| {
        for t in 0..3usize {
            let (sa, sb, swant) = (&sa, &sb, &swant);
            s.spawn(move || {
                for i in 0..40 {
                    let mut c = vec![0.0f32; small * small];
                    mul(Some(1 + (t + i) % 2), sa, sb, &mut c, sl);
                    assert!(
                        c.iter()
                            .zip(swant)
                            .all(|(x, y)| (x - y).abs() <= 1e-3 * y.abs().max(1.0)),
                        "thread {t}, call {i}"
                    );
                }
            });
        }
        s.spawn(|| {
            for i in 0..40 {
                set_num_threads(1 + i % 2);
            }
            set_num_threads(1);
        });
    });
    assert_eq!(num_threads(), 1);
    assert_eq!(calls_in_flight(), 0);
}
