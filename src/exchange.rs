//! The gradient exchange: how the shards of one batch meet when they are computed by several
//! processes (ranks), each holding a copy of the network.
//!
//! The trainer splits every batch into N shards, as one process with `P·T` threads would
//! (`P` ranks of `T` threads each; see [`crate::train::shards_for`]). Rank `r` computes the
//! contiguous block [`local_shards`]`(N, r, P)` of them — for N = `P·T`, shards `r·T..(r+1)·T` —
//! and the exchange fills in the other ranks' shards: their gradients, losses and correct
//! counts, bit for bit. Every rank then sums all N gradients in the trainer's one fixed
//! order and takes the same optimizer step, so every rank holds the same weights, and
//! they are those a one-process run with `P·T` threads computes.
//!
//! A sum in a free order (an all-reduce) would not give those bits; neither would per-rank
//! partial sums, since the trainer's order adds shard 1 last (see [`GradientExchange`]). The
//! exchange therefore moves every shard's gradient: an all-gather.
//!
//! [`InProcess`] is the exchange of a single process (nothing to move); the `mpi` feature
//! adds `sigmo::mpi::MpiExchange`. Another transport plugs in by implementing the trait.

use crate::train::Shards;
use std::ops::Range;

/// The shards rank `rank` of `ranks` computes, of `n`: near-equal contiguous blocks, rank 0's
/// first (for `n = ranks·T`, exactly `rank·T..(rank + 1)·T`).
pub fn local_shards(n: usize, rank: usize, ranks: usize) -> Range<usize> {
    let ranks = ranks.max(1);
    n * rank / ranks..n * (rank + 1) / ranks
}

/// Why the ranks did not agree to go on (see [`GradientExchange::agree`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The lowest rank that failed, or whose token differs from rank 0's.
    pub rank: usize,
    /// That rank's message; `None` when it did not fail but its token differs from rank 0's.
    pub message: Option<String>,
}

/// How the ranks of a data-parallel run share the shards of each batch, and agree on whether
/// to go on.
///
/// Contract, for every implementation:
/// - every rank calls the same methods in the same order with the same shard count (the
///   trainer does: each rank runs the same steps on the same data), so an implementation may
///   use collective operations;
/// - after [`all_gather`](Self::all_gather), every shard on every rank holds exactly the bits
///   the rank that computed it produced;
/// - the sum of the shards is the trainer's, not the exchange's: with shards g₀…g_{N−1} it is
///   ((g₀ + g₂) + g₃ + … + g_{N−1}) + g₁, element by element, on every rank. That order mixes
///   ranks' shards, so partial sums per rank would change the bits;
/// - a rank that dies must not leave the others waiting forever (MPI's default error handler
///   aborts the job).
pub trait GradientExchange: Send {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;

    /// How many ranks take part (1: this process alone).
    fn ranks(&self) -> usize;

    /// On entry, the shards in [`Shards::local`] hold this rank's results; on return, every
    /// shard holds the result of the rank that computed it (its gradient, loss and correct
    /// count, or its failure).
    ///
    /// # Errors
    /// When the transport fails in a way it can report (MPI's default handler aborts the job
    /// instead).
    fn all_gather(&mut self, shards: &mut Shards<'_>) -> Result<(), String>;

    /// Every rank says whether it can go on (`failure`: why not) and gives a `token` that
    /// must be the same on every rank (a fingerprint of the settings and the data); returns
    /// `Ok` on every rank when none failed and all tokens equal rank 0's, else the same
    /// [`Disagreement`] on every rank.
    ///
    /// # Errors
    /// The [`Disagreement`].
    fn agree(&mut self, token: u64, failure: Option<&str>) -> Result<(), Disagreement>;
}

/// The exchange of a run in one process: every shard is local, nothing moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InProcess;

impl GradientExchange for InProcess {
    fn rank(&self) -> usize {
        0
    }

    fn ranks(&self) -> usize {
        1
    }

    fn all_gather(&mut self, _shards: &mut Shards<'_>) -> Result<(), String> {
        Ok(())
    }

    fn agree(&mut self, _token: u64, failure: Option<&str>) -> Result<(), Disagreement> {
        match failure {
            None => Ok(()),
            Some(m) => Err(Disagreement {
                rank: 0,
                message: Some(m.to_string()),
            }),
        }
    }
}
