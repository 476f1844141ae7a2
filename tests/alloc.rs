//! No allocation inside an epoch: a counting global allocator, read from the trainer's own
//! hooks at the start and the end of each epoch (the batches and the test pass between them).
//!
//! sigmo's own code allocates nothing there: on the sigmo backend (the trainer's default, as
//! the `sigmo` command runs it) and on OpenBLAS the count is 0. matrixmultiply
//! allocates its packing buffer on every product (it takes no caller-provided one), so there
//! the count is exactly one per GEMM call: 3L − 1 per training batch and shard of an L-layer
//! network (L forward, L for ∂W, L − 1 for δ), L per test chunk and shard.

use sigmo::data::{self, Dataset};
use sigmo::gemm::Backend;
use sigmo::kernels::{Activation, Kernels};
use sigmo::nn::{Mlp, Optimizer, OutputActivation};
use sigmo::train::{fit, EpochStats, Observer, Schedule, TrainConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Records the allocation count at each epoch's start and end (and per batch).
#[derive(Default)]
struct Count {
    start: usize,
    per_epoch: Vec<usize>,
    batches: usize,
}

impl Observer for Count {
    fn epoch_start(&mut self, _: usize, _: usize) {
        self.start = ALLOCS.load(Ordering::SeqCst);
    }
    fn batch_end(&mut self, _: usize, _: f64) {
        self.batches += 1;
    }
    fn epoch_end(&mut self, _: &EpochStats) {
        let n = ALLOCS.load(Ordering::SeqCst) - self.start;
        // Pushing to a vector with room allocates nothing.
        self.per_epoch.push(n);
    }
}

fn run(data: &Dataset, net: &mut Mlp, cfg: &TrainConfig) -> Count {
    // A first run for what is set up once per process (thread-locals, lazily detected
    // settings), then the measured one.
    fit(
        &mut net.clone(),
        data,
        Some(data),
        &TrainConfig {
            epochs: 1,
            ..cfg.clone()
        },
        &mut (),
    )
    .unwrap();
    let mut c = Count {
        per_epoch: Vec::with_capacity(cfg.epochs),
        ..Count::default()
    };
    fit(net, data, Some(data), cfg, &mut c).unwrap();
    c
}

/// The counter is process-wide: the tests here take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The allocations matrixmultiply makes in one epoch: one per GEMM call it runs (products
/// with a short side run on sigmo's engine, which allocates nothing once warm), for a network
/// of `sizes`, training batches (shards) of `train_rows` rows and evaluation chunks of
/// `eval_rows`: per layer a forward X·W and a dW = Xᵀ·δ, and δ·Wᵀ for every layer but the
/// first; evaluation runs the forward products only.
fn packing_buffers(sizes: &[usize], train_rows: &[usize], eval_rows: &[usize]) -> usize {
    use sigmo::gemm::{Engine, MatMut, MatRef};
    let on_mm = |m: usize, k: usize, n: usize, ta: bool, tb: bool| {
        let (a, b, mut c) = (
            vec![0.0f32; m * k],
            vec![0.0f32; k * n],
            vec![0.0f32; m * n],
        );
        let av = if ta {
            MatRef::new(&a, k, m).unwrap().t()
        } else {
            MatRef::new(&a, m, k).unwrap()
        };
        let bv = if tb {
            MatRef::new(&b, n, k).unwrap().t()
        } else {
            MatRef::new(&b, k, n).unwrap()
        };
        let cv = MatMut::new(&mut c, m, n).unwrap();
        usize::from(Backend::MatrixMultiply.engine_for(&av, &bv, &cv) == Engine::MatrixMultiply)
    };
    let mut calls = 0;
    for &r in train_rows {
        for (l, p) in sizes.windows(2).enumerate() {
            calls += on_mm(r, p[0], p[1], false, false) + on_mm(p[0], r, p[1], true, false);
            if l > 0 {
                calls += on_mm(r, p[1], p[0], false, true);
            }
        }
    }
    for &r in eval_rows {
        for p in sizes.windows(2) {
            calls += on_mm(r, p[0], p[1], false, false);
        }
    }
    calls
}

/// Rows of each batch of `batch` over `n` samples.
fn batch_rows(n: usize, batch: usize) -> Vec<usize> {
    (0..n.div_ceil(batch))
        .map(|b| batch.min(n - b * batch))
        .collect()
}

fn expected(backend: Backend, gemm_calls: usize) -> usize {
    match backend {
        Backend::MatrixMultiply => gemm_calls,
        _ => 0,
    }
}

#[test]
fn an_epoch_allocates_nothing_on_one_thread() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let s = data::digits();
    let backends: Vec<Backend> = Backend::available()
        .into_iter()
        .filter(|b| *b != Backend::GemmCrate) // the gemm crate sizes its own scratch per call
        .collect();
    // The default command's settings (digits, 64-256-10, batch 32) on its default backend.
    assert!(backends.contains(&Backend::for_training()));
    assert_eq!(
        TrainConfig::new(Kernels::best()).backend,
        Backend::for_training()
    );
    for backend in backends {
        for (opt, schedule) in [
            (Optimizer::sgd(0.05, 0.9), Schedule::Constant),
            (Optimizer::adam(0.001), Schedule::Cosine),
        ] {
            let mut net = Mlp::builder(&[64, 256, 10])
                .hidden(Activation::Relu)
                .output(OutputActivation::Softmax)
                .build()
                .unwrap();
            let cfg = TrainConfig {
                epochs: 3,
                batch_size: 32,
                optimizer: opt,
                schedule,
                threads: 1,
                backend,
                ..TrainConfig::new(Kernels::best())
            };
            let c = run(&s.train, &mut net, &cfg);
            let batches = s.train.len().div_ceil(32);
            assert_eq!(c.batches, 3 * batches);
            let rows = batch_rows(s.train.len(), 32);
            let want = expected(backend, packing_buffers(&[64, 256, 10], &rows, &rows));
            assert_eq!(
                c.per_epoch,
                vec![want; 3],
                "allocations per epoch, {backend}, {opt}"
            );
        }
    }
}

#[test]
fn nielsens_network_at_batch_10_allocates_nothing_on_any_backend() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // 784-30-10 at batch 10: every product has a short side, δ·W₂ᵀ included (its transposed
    // B is copied into the thread's panels), so all run on sigmo's engine.
    let (n, dim) = (200, 784);
    let features: Vec<f32> = (0..n * dim)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let d = Dataset::new("synthetic", features, labels, dim, 10).unwrap();
    let rows = batch_rows(n, 10);
    assert_eq!(packing_buffers(&[dim, 30, 10], &rows, &rows), 0);
    for backend in Backend::available()
        .into_iter()
        .filter(|b| *b != Backend::GemmCrate)
    {
        let mut net = Mlp::builder(&[dim, 30, 10])
            .hidden(Activation::Sigmoid)
            .output(OutputActivation::Elementwise(Activation::Sigmoid))
            .build()
            .unwrap();
        let cfg = TrainConfig {
            epochs: 2,
            batch_size: 10,
            threads: 1,
            backend,
            optimizer: Optimizer::sgd(3.0, 0.0),
            loss: sigmo::nn::Loss::Quadratic,
            ..TrainConfig::new(Kernels::best())
        };
        let c = run(&d, &mut net, &cfg);
        assert_eq!(c.per_epoch, vec![0; 2], "allocations per epoch, {backend}");
    }
}

#[test]
fn an_epoch_allocates_nothing_on_two_threads() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // A batch large enough that two threads split it into two shards.
    let (n, dim) = (1024, 784);
    let features: Vec<f32> = (0..n * dim)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let d = Dataset::new("synthetic", features, labels, dim, 10).unwrap();
    for backend in Backend::available()
        .into_iter()
        .filter(|b| *b != Backend::GemmCrate)
    {
        let mut wide = Mlp::builder(&[dim, 256, 10])
            .hidden(Activation::Relu)
            .output(OutputActivation::Softmax)
            .build()
            .unwrap();
        assert_eq!(sigmo::train::shards_for(&wide, 128, 2), 2);
        let cfg = TrainConfig {
            epochs: 3,
            batch_size: 128,
            threads: 2,
            backend,
            optimizer: Optimizer::sgd(0.01, 0.9),
            ..TrainConfig::new(Kernels::best())
        };
        let c = run(&d, &mut wide, &cfg);
        // 8 batches of 2 shards of 64 rows; the test pass in 8 chunks of 2 × 64 rows.
        let want = expected(
            backend,
            packing_buffers(&[dim, 256, 10], &[64; 16], &[64; 16]),
        );
        assert_eq!(
            c.per_epoch,
            vec![want; 3],
            "allocations per epoch on two threads, {backend}"
        );
    }
}

#[test]
fn dropout_and_input_noise_allocate_nothing_per_epoch() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let s = data::digits();
    for backend in Backend::available()
        .into_iter()
        .filter(|b| *b != Backend::GemmCrate)
    {
        let mut net = Mlp::builder(&[64, 32, 10])
            .hidden(Activation::Relu)
            .output(OutputActivation::Softmax)
            .build()
            .unwrap();
        let cfg = TrainConfig {
            epochs: 3,
            batch_size: 32,
            optimizer: Optimizer::adam(0.001),
            threads: 1,
            backend,
            dropout: vec![0.3],
            input_noise: 0.1,
            ..TrainConfig::new(Kernels::best())
        };
        let c = run(&s.train, &mut net, &cfg);
        // The masks and the noise are drawn into buffers made before the first epoch: the
        // count is the GEMMs' packing buffers alone, as without them.
        let rows = batch_rows(s.train.len(), 32);
        let want = expected(backend, packing_buffers(&[64, 32, 10], &rows, &rows));
        assert_eq!(
            c.per_epoch,
            vec![want; 3],
            "allocations per epoch, {backend}"
        );
    }
}
