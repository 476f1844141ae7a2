#!/usr/bin/env python3
"""Where a training batch's time goes: samples `sigmo train` with `perf record` (the
cpu-clock software event, which works inside a VM without hardware counters) and sorts the
samples into GEMM (packing included), bias + activation (forward and backward), loss,
optimizer and the rest, by symbol name. It runs E and E + 2 epochs and takes the
difference, so that what is done once drops out; only the samples of the trainer's pool
threads (`sigmo-train-N`) count, so that loading and decompressing the data set (on the
main thread) is out too.

    python3 benches/time_split.py [--sigmo PATH] W|N [--threads T] [--backend B]

Needs perf (Debian: linux-perf) and Fashion-MNIST. Runs 1 epoch (W) or 2 (N) pinned to
one core for one thread. Prints one Markdown table row: the share of each part and the
milliseconds per epoch. Time it on a quiet machine.
"""
import os
import re
import subprocess
import sys
import tempfile

CONFIGS = {
    "W": ["--layers", "784,512,256,10", "--activation", "relu", "--loss", "softmax-ce",
          "--init", "he", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9",
          "--l2", "1e-4", "--batch-size", "128"],
    "N": ["--layers", "784,30,10", "--activation", "sigmoid", "--output", "sigmoid",
          "--loss", "quadratic", "--init", "classic", "--optimizer", "sgd", "--lr", "3.0",
          "--momentum", "0", "--batch-size", "10"],
}

# Checked in order: the first pattern a symbol matches names its bucket.
BUCKETS = [
    ("optimizer", r"optim|update_block|update_part|nn::update|with_simd|vectorize|in_parts"),
    ("GEMM", r"matrixmultiply|sgemm|gemm|cblas|openblas|dgemm|kernel_x86|pack"),
    ("epilogue", r"bias_activate|epilogue|relu|sigmoid|tanh|activate|elu|step"),
    ("loss", r"softmax|loss|delta|log_softmax|exp"),
]


def main():
    args = sys.argv[1:]
    sigmo = "target/release/sigmo"
    if "--sigmo" in args:
        i = args.index("--sigmo")
        sigmo = args[i + 1]
        del args[i:i + 2]
    backend = "matrixmultiply"
    if "--backend" in args:
        i = args.index("--backend")
        backend = args[i + 1]
        del args[i:i + 2]
    threads = "1"
    if "--threads" in args:
        i = args.index("--threads")
        threads = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1 or args[0] not in CONFIGS:
        raise SystemExit(__doc__)
    cfg = args[0]
    pin = ["taskset", "-c", "0"] if threads == "1" else []
    rate = 4000

    def profile(epochs):
        counts = {name: 0 for name, _ in BUCKETS}
        counts["the rest"] = 0
        with tempfile.TemporaryDirectory() as d:
            data = os.path.join(d, "perf.data")
            cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(rate), "-o", data, "--"]
            cmd += pin + [sigmo, "train", "--dataset", "fashion-mnist", "--threads", threads,
                          "--backend", backend, "--quiet", "--epochs", str(epochs)] + CONFIGS[cfg]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            # The trainer's pool threads only: loading the data set (the main thread) drops
            # out, and with it the noise of a second's decompression.
            rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort",
                                  "symbol", "--stdio", "-q", "-n",
                                  "--comm", ",".join(f"sigmo-train-{i}" for i in range(8))],
                                 check=True, capture_output=True, text=True).stdout
        for line in rep.splitlines():
            m = re.match(r"\s*[0-9.]+%\s+([0-9]+)\s+\[[.kH]\]\s+(.*)", line)
            if not m:
                continue
            n, sym = int(m.group(1)), m.group(2)
            for name, pat in BUCKETS:
                if re.search(pat, sym, re.I):
                    counts[name] += n
                    break
            else:
                counts["the rest"] += n
        return counts

    a, b = profile(1), profile(3)
    per = {k: max(0, b[k] - a[k]) / 2 for k in a}
    total = sum(per.values()) or 1
    ms = total / rate * 1000
    order = ["GEMM", "epilogue", "loss", "optimizer", "the rest"]
    cells = " | ".join(f"{100 * per[k] / total:.0f}%" for k in order)
    print(f"| {cfg}, {threads} thread(s), {backend}, {sigmo} | {cells} | {ms:.0f} ms |")


if __name__ == "__main__":
    main()
