#!/usr/bin/env bash
# The peer comparison in one command: builds sigmo's side (examples/peers_sigmo.rs), the FMA
# loop (kernels/examples/fma_peak.rs) and candle's side (benches/peers/candle), then runs
# harness.py (every library in its own process, interleaved rounds) and report.py:
# benches/results/peers-DATE.{json,md,png} and benches/results/peers-latest.json.
#
#   benches/peers/setup.sh                 # once: the Python packages, into benches/peers/.venv
#   benches/peers/run.sh [--quick] [harness options]
#                                          # --quick: 1 round, fewer epochs (under 10 minutes)
#
# Run it on a quiet machine: nothing else may be timed, or even run, at the same time.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=benches/peers/.venv/bin/python
if [ ! -x "$py" ]; then
    echo "no benches/peers/.venv: run benches/peers/setup.sh first" >&2
    exit 1
fi
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed to pin 1-thread runs" >&2; exit 1; }
features="" openblas=""
if pkg-config --exists openblas 2>/dev/null || [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ]; then
    features="--features openblas" openblas="--openblas"
fi
echo "== building sigmo's side${features:+ ($features)}, fma_peak and candle's side" >&2
# shellcheck disable=SC2086
cargo build --release --quiet $features --example peers_sigmo
cargo build --release --quiet -p sigmo-kernels --example fma_peak
if ! (cd benches/peers/candle && cargo build --release --quiet); then
    echo "candle's side did not build: its rows are left out" >&2
    rm -f benches/peers/candle/target/release/peers-candle
fi
mkdir -p benches/results/peers-tmp
out="benches/results/peers-$(date +%F)"
PYTHONPATH=benches/peers "$py" benches/peers/harness.py "$out" $openblas "$@"
PYTHONPATH=benches/peers "$py" benches/peers/report.py "$out"
