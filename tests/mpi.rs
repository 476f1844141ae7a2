//! `mpirun -np P sigmo train`: the bits of one process with as many threads in total, and
//! every rank stopped, with one message, when one fails or dies. Needs `--features mpi` and
//! OpenMPI's `mpirun` (Debian: openmpi-bin).

#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SIGMO: &str = env!("CARGO_BIN_EXE_sigmo");

/// `mpirun --oversubscribe` with `groups`, each a rank count and its arguments to sigmo
/// (several groups: MPMD, one command per group).
fn mpirun(groups: &[(usize, Vec<String>)]) -> Command {
    let mut c = Command::new("mpirun");
    c.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env_remove("SIGMO_THREADS")
        .arg("--oversubscribe");
    for (i, (np, args)) in groups.iter().enumerate() {
        if i > 0 {
            c.arg(":");
        }
        c.arg("-np").arg(np.to_string()).arg(SIGMO).args(args);
    }
    c
}

fn run(mut c: Command) -> Output {
    c.output()
        .expect("run mpirun (Debian: apt-get install openmpi-bin)")
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Training arguments whose batches split: 64-256-10 on batches of 512 makes one shard per
/// thread up to 6 (see `shards_for`); 3 steps an epoch, the last one of 418 samples. Adam
/// runs with dropout and input noise.
fn train_args(optimizer: &str, threads: usize, save: &Path) -> Vec<String> {
    let mut a = strings(&[
        "train",
        "--layers",
        "64,256,10",
        "--batch-size",
        "512",
        "--epochs",
        "3",
        "--seed",
        "11",
        "--optimizer",
        optimizer,
        "--quiet",
    ]);
    if optimizer == "adam" {
        // Dropout masks and input noise are drawn per batch row: the same on any rank.
        a.extend(strings(&["--dropout", "0.2", "--input-noise", "0.05"]));
    }
    a.extend(strings(&["--threads", &threads.to_string()]));
    a.extend(strings(&["--save", save.to_str().unwrap()]));
    a
}

/// The `sigmo: error:` lines of a run's stderr (mpirun adds its own banner around them).
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("sigmo: error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn ranks_give_the_bits_of_one_process_with_as_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    for optimizer in ["sgd", "adam"] {
        let single = |threads: usize| {
            let path = dir.path().join(format!("{optimizer}-one-{threads}.st"));
            let out = Command::new(SIGMO)
                .args(train_args(optimizer, threads, &path))
                .env_remove("SIGMO_THREADS")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            std::fs::read(&path).unwrap()
        };
        let one_thread = single(1);
        for per_rank in [1, 2] {
            for ranks in [1, 2, 3] {
                let total = ranks * per_rank;
                let want = single(total);
                // The batches do split: another thread count gives other bits.
                if total > 1 {
                    assert_ne!(want, one_thread, "{optimizer}, {total} threads: no split");
                }
                let path = dir
                    .path()
                    .join(format!("{optimizer}-{ranks}x{per_rank}.st"));
                let out = run(mpirun(&[(ranks, train_args(optimizer, per_rank, &path))]));
                assert!(out.status.success(), "{ranks}×{per_rank}: {out:?}");
                let stdout = String::from_utf8_lossy(&out.stdout);
                // Rank 0 alone prints its final line.
                assert_eq!(
                    stdout.matches("test accuracy").count(),
                    1,
                    "{ranks}×{per_rank}: {stdout}"
                );
                let got = std::fs::read(&path).unwrap();
                assert!(
                    got == want,
                    "{optimizer}: {ranks} ranks × {per_rank} threads differ from one process \
                     with {total} threads"
                );
            }
        }
    }
}

#[test]
fn a_checkpoint_of_two_ranks_resumes_in_one_process_with_the_same_bits() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, model) = (dir.path().join("ck"), dir.path().join("m.st"));
    let mut a = train_args("adam", 1, &dir.path().join("first.st"));
    // 2 of the 3 epochs.
    let at = a.iter().position(|x| x == "--epochs").unwrap();
    a[at + 1] = "2".into();
    a.extend(strings(&["--checkpoint", ck.to_str().unwrap()]));
    let out = run(mpirun(&[(2, a)]));
    assert!(out.status.success(), "{out:?}");
    // The checkpoint keeps 2 threads (2 ranks × 1): one process with 2 threads continues it.
    let out = Command::new(SIGMO)
        .args([
            "train",
            "--resume",
            ck.to_str().unwrap(),
            "--epochs",
            "3",
            "--quiet",
            "--save",
            model.to_str().unwrap(),
        ])
        .env_remove("SIGMO_THREADS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let whole = dir.path().join("whole.st");
    let out = Command::new(SIGMO)
        .args(train_args("adam", 2, &whole))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(&model).unwrap() == std::fs::read(&whole).unwrap());
}

#[test]
fn an_error_on_one_rank_stops_every_rank_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let images = format!("{repo}/data/digits8x8-images-idx3-ubyte.gz");
    let labels = format!("{repo}/data/digits8x8-labels-idx1-ubyte.gz");
    let save = dir.path().join("m.st");
    let files = |train_images: &str| {
        let mut a = train_args("sgd", 1, &save);
        a.extend(strings(&[
            "--pixel-max",
            "16",
            "--train-images",
            train_images,
            "--train-labels",
            &labels,
            "--test-images",
            &images,
            "--test-labels",
            &labels,
        ]));
        a
    };
    // A file only rank 1 cannot read.
    let out = run(mpirun(&[
        (1, files(&images)),
        (1, files("/no/such/images.gz")),
    ]));
    assert!(!out.status.success());
    let errs = error_lines(&out);
    assert_eq!(errs.len(), 1, "{errs:?}\n{out:?}");
    assert!(errs[0].contains("rank 1: /no/such/images.gz"), "{errs:?}");
    // A rank whose settings differ.
    let mut other = train_args("sgd", 1, &save);
    other.extend(strings(&["--lr", "0.07"]));
    let out = run(mpirun(&[(1, train_args("sgd", 1, &save)), (1, other)]));
    assert!(!out.status.success());
    let errs = error_lines(&out);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("rank 1 does not run what rank 0 runs"),
        "{errs:?}"
    );
    // Divergence: every rank sees it at the same step; rank 0 tells it.
    let mut a = train_args("sgd", 1, &save);
    a.extend(strings(&["--lr", "1e30"]));
    let out = run(mpirun(&[(3, a)]));
    assert!(!out.status.success());
    let errs = error_lines(&out);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("diverged at epoch 1, batch"), "{errs:?}");
    assert!(!save.exists(), "a failed run saved its model");
}

/// The pids of the processes whose environment says they are MPI rank `rank` and whose
/// command line holds `marker`.
fn pids_of_rank(rank: usize, marker: &str) -> Vec<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let has = |b: &[u8], s: &str| b.split(|&c| c == 0).any(|w| w == s.as_bytes());
        if has(&cmd, marker) && has(&env, &want) && has(&cmd, SIGMO) {
            v.push(pid);
        }
    }
    v
}

#[test]
fn a_killed_rank_ends_the_job() {
    // A run long enough to be killed in the middle; its seed marks its processes.
    let marker = format!("{}", 900_000 + std::process::id() % 100_000);
    let args = strings(&[
        "train",
        "--epochs",
        "100000",
        "--threads",
        "1",
        "--quiet",
        "--seed",
        &marker,
    ]);
    let mut child = mpirun(&[(2, args)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mpirun");
    let start = Instant::now();
    let victim = loop {
        if let Some(&pid) = pids_of_rank(1, &marker).first() {
            if !pids_of_rank(0, &marker).is_empty() {
                break pid;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "rank 1 never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let both ranks reach the training loop, then kill rank 1 outright.
    std::thread::sleep(Duration::from_secs(1));
    let killed = Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let killed_at = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if killed_at.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("rank 0 still runs 30 s after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{status:?}");
    assert!(
        pids_of_rank(0, &marker).is_empty(),
        "rank 0 outlived the job"
    );
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("signal 9"), "{err}");
}
