#!/usr/bin/env python3
"""The training runs the README reports, from one command.

    python3 benches/train_runs.py [--quick] > benches/results/train-DATE.md

Builds nothing: runs ./target/release/sigmo (build it first with `cargo build --release`),
each run with --report, and prints Markdown: the default digits command, the Fashion-MNIST
recipe of issue 4 over several seeds, and the longer recipe. Needs Fashion-MNIST installed
(`apt-get install dataset-fashion-mnist`). Run it on a quiet machine: the seconds are timed.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

SIGMO = os.path.join(os.path.dirname(__file__), "..", "target", "release", "sigmo")
FASHION = ["--dataset", "fashion-mnist", "--layers", "784,512,256,10", "--activation", "relu",
           "--loss", "softmax-ce", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9",
           "--l2", "1e-4", "--batch-size", "128"]


def run(args):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "r.json")
        subprocess.run([SIGMO, "train", "--quiet", "--report", path] + args, check=True,
                       stdout=subprocess.DEVNULL)
        with open(path) as f:
            return json.load(f)


def row(name, reports):
    accs = [r["epochs"][-1]["test_accuracy"] for r in reports]
    secs = [r["seconds_total"] for r in reports]
    rates = [statistics.median(e["samples_per_sec"] for e in r["epochs"]) for r in reports]
    return (f"| {name} | {len(reports)} | " + ", ".join(f"{a:.4f}" for a in accs)
            + f" | **{statistics.median(accs):.4f}** | {min(accs):.4f} | "
            + f"{statistics.median(secs):.2f} | {statistics.median(rates):,.0f} |")


def main():
    quick = "--quick" in sys.argv
    seeds = [0, 1] if quick else [0, 1, 2, 3, 4]
    long_seeds = [0] if quick else [0, 1, 2]
    runs = [
        ("digits, `sigmo train` (defaults)", [run(["--seed", str(s)]) for s in seeds]),
        ("Fashion-MNIST, issue recipe, 5 epochs",
         [run(FASHION + ["--epochs", "5", "--seed", str(s)]) for s in seeds]),
        ("Fashion-MNIST, 20 epochs, cosine schedule",
         [run(FASHION + ["--epochs", "20", "--schedule", "cosine", "--seed", str(s)])
          for s in long_seeds]),
    ]
    cfg = runs[1][1][0]["config"]
    print(f"kernels {cfg['kernels']}, GEMM {cfg['backend']}, {cfg['threads']} threads\n")
    print("| run | seeds | final test accuracy per seed | median | worst | seconds (median) "
          "| samples/s (median epoch) |")
    print("|---|---|---|---|---|---|---|")
    for name, reports in runs:
        print(row(name, reports))


if __name__ == "__main__":
    main()
