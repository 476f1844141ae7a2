//! The MPI gradient exchange (feature `mpi`): data-parallel training over the ranks of
//! `mpirun -np P sigmo train …`, on one machine or several, with the bits of one process
//! running `P × T` threads.
//!
//! Each step, every rank contributes the records of the shards it computed — per shard a
//! 24-byte head (the summed loss as f64, the correct count, a failure flag) and the gradient
//! (4 bytes per parameter) — to one `MPI_Allgatherv`, after which every rank holds every
//! shard's record and sums the gradients in the trainer's fixed order (see
//! [`crate::exchange`]). With N shards and G parameters that is N·(4G + 24) bytes gathered
//! per step; a rank of `T` shards sends its `T·(4G + 24)` and receives the other
//! `(N − T)·(4G + 24)`.
//!
//! Why an all-gather and not a reduction: MPI's reductions add in an order of their own,
//! which changes the last bits, and the trainer's order (shard 1 added last) mixes the ranks'
//! shards, so neither a fixed-order reduce of per-rank partial sums nor an all-reduce can give
//! the one-process bits. A gather to rank 0 and a broadcast of the sum would move as many
//! bytes through rank 0 as the all-gather moves through every rank, in two collectives
//! instead of one; with the all-gather every rank takes the same optimizer step itself
//! (elementwise, and cheap beside the forward and backward passes), so the optimizer's state
//! never has to be sent.
//!
//! MPI is initialized with `MPI_THREAD_SERIALIZED` (the trainer calls MPI from one of its
//! pool's threads, never two at once) and the world communicator keeps MPI's default error
//! handler, `MPI_ERRORS_ARE_FATAL`: an MPI error aborts the job, and when a rank dies, OpenMPI's
//! `mpirun` ends the others and exits non-zero (as it does when a rank exits non-zero), so no
//! rank waits forever in a collective.

use crate::exchange::{local_shards, Disagreement, GradientExchange};
use crate::nn::BatchStats;
use crate::train::Shards;
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::{Threading, Universe};
use ::mpi::traits::{Communicator, CommunicatorCollectives};
use ::mpi::Count;

/// The bytes of a shard record before its gradient: loss (f64), correct (u64), failed (u64).
pub const RECORD_HEAD: usize = 24;

/// The longest failure message one rank sends the others, in bytes.
const MESSAGE_MAX: usize = 4096;

/// The environment variables by which MPI launchers (OpenMPI's mpirun, MPICH's hydra, PMIx
/// and Slurm's srun) tell a process its rank.
const LAUNCHER_VARS: [&str; 5] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
    "PMI_RANK",
    "PMI_SIZE",
    "SLURM_PROCID",
];

/// The MPI gradient exchange over `MPI_COMM_WORLD`; MPI is finalized when it is dropped.
pub struct MpiExchange {
    universe: Universe,
    rank: usize,
    size: usize,
    agreements: usize,
    send: Vec<u8>,
    recv: Vec<u8>,
    counts: Vec<Count>,
    displs: Vec<Count>,
}

impl std::fmt::Debug for MpiExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiExchange")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish()
    }
}

impl MpiExchange {
    /// Whether an MPI launcher started this process (its environment names a rank). Without
    /// one, `sigmo train` runs in process, as a build without the feature does.
    pub fn launched() -> bool {
        LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
    }

    /// Initializes MPI (at most once per process) and joins the world communicator.
    ///
    /// # Errors
    /// When MPI was initialized before, or cannot give `MPI_THREAD_SERIALIZED`.
    pub fn init() -> Result<MpiExchange, String> {
        let (universe, level) = ::mpi::initialize_with_threading(Threading::Serialized)
            .ok_or("MPI is initialized already: one exchange per process")?;
        if level < Threading::Serialized {
            return Err(format!(
                "this MPI library gives threading level {level:?}; sigmo needs Serialized \
                 (MPI called from one thread at a time, not always the main one)"
            ));
        }
        let world = universe.world();
        let (rank, size) = (world.rank(), world.size());
        Ok(MpiExchange {
            universe,
            rank: usize::try_from(rank).unwrap_or(0),
            size: usize::try_from(size).unwrap_or(1).max(1),
            agreements: 0,
            send: Vec::new(),
            recv: Vec::new(),
            counts: Vec::new(),
            displs: Vec::new(),
        })
    }

    /// How many times [`agree`](GradientExchange::agree) ran. 0 after a failure means the
    /// ranks never met (this rank failed before training): the caller should then
    /// [`agree`](GradientExchange::agree) on its failure, which meets the others' first
    /// agreement, so that they stop too.
    pub fn agreements(&self) -> usize {
        self.agreements
    }

    /// The byte counts and offsets of each rank's part of a gather of `n` records of `rec`
    /// bytes, in `counts` and `displs`.
    fn partition(&mut self, n: usize, rec: usize) -> Result<(), String> {
        let total = n.checked_mul(rec).filter(|&t| Count::try_from(t).is_ok());
        if total.is_none() {
            return Err(format!(
                "{n} shards of {rec} bytes: more than one MPI message carries (2 GiB); use \
                 fewer threads per rank or a smaller network"
            ));
        }
        self.counts.clear();
        self.displs.clear();
        for r in 0..self.size {
            let b = local_shards(n, r, self.size);
            // Both below the checked total.
            self.counts.push((b.len() * rec) as Count);
            self.displs.push((b.start * rec) as Count);
        }
        Ok(())
    }
}

/// Writes shard `i`'s record into `out` (`RECORD_HEAD + 4·G` bytes).
fn encode(shards: &Shards<'_>, i: usize, out: &mut [u8]) {
    let (head, body) = out.split_at_mut(RECORD_HEAD);
    let (loss, correct, failed) = match shards.outcome(i) {
        Ok(s) => (s.loss, s.correct as u64, 0u64),
        Err(_) => (0.0, 0, 1),
    };
    head[0..8].copy_from_slice(&loss.to_bits().to_le_bytes());
    head[8..16].copy_from_slice(&correct.to_le_bytes());
    head[16..24].copy_from_slice(&failed.to_le_bytes());
    for (c, g) in body.chunks_exact_mut(4).zip(shards.grads(i)) {
        c.copy_from_slice(&g.to_bits().to_le_bytes());
    }
}

/// The u64 at `at` of `b`.
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl GradientExchange for MpiExchange {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.size
    }

    fn all_gather(&mut self, shards: &mut Shards<'_>) -> Result<(), String> {
        let n = shards.len();
        if n == 0 {
            return Ok(());
        }
        let rec = RECORD_HEAD + 4 * shards.grads(0).len();
        self.partition(n, rec)?;
        let local = shards.local();
        // Sized once, on the first step: later steps reuse the buffers.
        self.send.resize(local.len() * rec, 0);
        self.recv.resize(n * rec, 0);
        for (j, i) in local.clone().enumerate() {
            encode(shards, i, &mut self.send[j * rec..(j + 1) * rec]);
        }
        {
            let world = self.universe.world();
            let mut into =
                PartitionMut::new(&mut self.recv[..], &self.counts[..], &self.displs[..]);
            world.all_gather_varcount_into(&self.send[..], &mut into);
        }
        let mut any_failed = false;
        for i in 0..n {
            let r = &self.recv[i * rec..(i + 1) * rec];
            let failed = u64_at(r, 16) != 0;
            any_failed |= failed;
            if local.contains(&i) {
                continue;
            }
            for (g, c) in shards
                .grads_mut(i)
                .iter_mut()
                .zip(r[RECORD_HEAD..].chunks_exact(4))
            {
                *g = f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
            shards.set_outcome(
                i,
                Ok(BatchStats {
                    loss: f64::from_bits(u64_at(r, 0)),
                    correct: usize::try_from(u64_at(r, 8)).unwrap_or(usize::MAX),
                }),
            );
        }
        if any_failed {
            // Every rank saw the same flags: all of them meet here, for the messages.
            let mine = local.clone().find_map(|i| shards.outcome(i).err());
            if let Err(d) = self.agree(0, mine.as_deref()) {
                let text = format!(
                    "rank {}: {}",
                    d.rank,
                    d.message.unwrap_or_else(|| "a shard failed".into())
                );
                for i in (0..n).filter(|i| !local.contains(i)) {
                    if u64_at(&self.recv[i * rec..], 16) != 0 {
                        shards.set_outcome(i, Err(text.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    fn agree(&mut self, token: u64, failure: Option<&str>) -> Result<(), Disagreement> {
        self.agreements += 1;
        let msg = failure.map_or(&[][..], |m| {
            let mut end = m.len().min(MESSAGE_MAX);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            &m.as_bytes()[..end]
        });
        let head = [u64::from(failure.is_some()), token, msg.len() as u64];
        let mut all = vec![0u64; 3 * self.size];
        let world = self.universe.world();
        world.all_gather_into(&head[..], &mut all[..]);
        let failed = (0..self.size).find(|&r| all[3 * r] != 0);
        let Some(first) = failed else {
            return match (1..self.size).find(|&r| all[3 * r + 1] != all[1]) {
                Some(rank) => Err(Disagreement {
                    rank,
                    message: None,
                }),
                None => Ok(()),
            };
        };
        // Each length is at most MESSAGE_MAX.
        let counts: Vec<Count> = (0..self.size)
            .map(|r| all[3 * r + 2].min(MESSAGE_MAX as u64) as Count)
            .collect();
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let total: Count = counts.iter().sum();
        let mut text = vec![0u8; total as usize];
        {
            let mut into = PartitionMut::new(&mut text[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(msg, &mut into);
        }
        let (d, c) = (displs[first] as usize, counts[first] as usize);
        Err(Disagreement {
            rank: first,
            message: Some(String::from_utf8_lossy(&text[d..d + c]).into_owned()),
        })
    }
}
