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

    /// Where the RNG is in its stream, in 32-bit words from its start: with the seed and
    /// [`order`](Self::order), everything [`Batches::restore`] needs to continue.
    pub fn word_pos(&self) -> u128 {
        self.rng.get_word_pos()
    }

    /// Batches that continue from a saved position: the RNG seeded by `seed` and moved to
    /// `word_pos` (see [`word_pos`](Self::word_pos)), the current order `order`.
    ///
    /// # Errors
    /// When `order` is not a permutation of 0..order.len().
    pub fn restore(order: Vec<usize>, seed: u64, word_pos: u128) -> Result<Batches, String> {
        let mut seen = vec![false; order.len()];
        for &i in &order {
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(format!(
                        "the batch order is not a permutation of 0..{} (index {i})",
                        order.len()
                    ))
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_word_pos(word_pos);
        Ok(Batches { order, rng })
    }

    /// The current order in consecutive batches of `size` (the last one may be shorter;
    /// `size = 0` is taken as 1).
    pub fn batches(&self, size: usize) -> std::slice::Chunks<'_, usize> {
        self.order.chunks(size.max(1))
    }
}
