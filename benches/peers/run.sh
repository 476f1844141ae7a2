#!/usr/bin/env bash
# The peer comparison in one command: sigmo's side (examples/peers_sigmo.rs), then the peers'
# side (peers.py: numpy, PyTorch, JAX, scikit-learn), then the report (report.py):
# benches/results/peers-DATE.{json,md,png}.
#
#   benches/peers/setup.sh           # once: the Python packages, into benches/peers/.venv
#   benches/peers/run.sh [--quick]   # --quick: fewer repetitions and epochs, to try it out
#
# Kernels run on 1 thread, training on 2, for every library: the variables below are set
# the same for all of them. Run it on a quiet machine (nothing else timed at the same time).
set -euo pipefail
cd "$(dirname "$0")/../.."
quick="${1-}"
py=benches/peers/.venv/bin/python
if [ ! -x "$py" ]; then
    echo "no benches/peers/.venv: run benches/peers/setup.sh first" >&2
    exit 1
fi
tmp=benches/results/peers-tmp
mkdir -p "$tmp"
out="benches/results/peers-$(date +%F)"
features=""
if pkg-config --exists openblas 2>/dev/null || [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ]; then
    features="--features openblas"
fi

one_thread() {
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
}
two_threads() {
    export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2
    export XLA_FLAGS="--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2"
}

echo "== sigmo (kernels on 1 thread, training on 2)" >&2
# shellcheck disable=SC2086
cargo build --release --quiet $features --example peers_sigmo
two_threads
./target/release/examples/peers_sigmo "$tmp/sigmo.json" $quick

echo "== peers: kernels, 1 thread" >&2
one_thread
"$py" benches/peers/peers.py kernels "$tmp/peers-kernels.json" $quick

echo "== peers: training, 2 threads" >&2
two_threads
"$py" benches/peers/peers.py train "$tmp/peers-train.json" $quick

"$py" benches/peers/report.py "$out" "$tmp/sigmo.json" "$tmp/peers-kernels.json" "$tmp/peers-train.json"
