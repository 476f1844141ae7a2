//! Shuffled mini-batches: one permutation per epoch from a seeded RNG.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The sample order of each epoch, reshuffled by a ChaCha8 RNG seeded once: the same seed
/// gives the same sequence of epochs on every machine.
///
/// ```
/// use sigmo::data::Batches;
///
/// let mut a = Batches::new(10, 7);
/// let mut b = Batches::new(10, 7);
/// a.shuffle();
/// b.shuffle();
/// assert_eq!(a.order(), b.order());
/// let sizes: Vec<usize> = a.batches(4).map(|ix| ix.len()).collect();
/// assert_eq!(sizes, [4, 4, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    rng: ChaCha8Rng,
}

impl Batches {
    /// The samples 0..n in order, with an RNG seeded by `seed`.
    pub fn new(n: usize, seed: u64) -> Batches {
        Batches {
            order: (0..n).collect(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Reshuffles the order (Fisher–Yates), without allocating.
    pub fn shuffle(&mut self) {
        self.order.shuffle(&mut self.rng);
    }

    /// The current order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The current order in consecutive batches of `size` (the last one may be shorter;
    /// `size = 0` is taken as 1).
    pub fn batches(&self, size: usize) -> std::slice::Chunks<'_, usize> {
        self.order.chunks(size.max(1))
    }
}
