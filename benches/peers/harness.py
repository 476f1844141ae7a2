#!/usr/bin/env python3
"""The peer comparison's driver: every library in its own process, one measurement group per
process, implementations interleaved in rounds, the FMA peak read before and after each
round. run.sh builds the binaries and calls it; report.py turns its JSON into tables and a
plot.

    harness.py OUT_PREFIX [--quick] [--rounds R] [--only GROUP[,GROUP]] [--openblas]

GROUP is kernels, W, N or digits. Per round: fma_peak, then each group in turn (kernels on
one thread; each training configuration at 1 and 2 threads), every implementation once per
group, the order rotated from round to round, then fma_peak again; fma_peak also runs on
both cores at once, before and after (a round is flagged when either reading differs by
more than 10%). A process's thread
variables (OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS, XLA_FLAGS,
RAYON_NUM_THREADS, SIGMO_THREADS) are set for it alone; one-thread processes run under
`taskset -c 0`. OPENBLAS_CORETYPE is passed through as the machine has it.

Writes OUT_PREFIX.json (an array of records, see README) and benches/results/peers-latest.json.
"""
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

import common

REPO = common.REPO
TMP = os.path.join(REPO, "benches", "results", "peers-tmp")
PY = sys.executable
PEERS_PY = os.path.join(common.HERE, "peers.py")
SIGMO = os.path.join(REPO, "target", "release", "examples", "peers_sigmo")
FMA = os.path.join(REPO, "target", "release", "examples", "fma_peak")
CANDLE = os.path.join(common.HERE, "candle", "target", "release", "peers-candle")
TRAIN_IMPLS = ["sigmo", "sigmo-matrixmultiply", "sigmo-openblas", "pytorch", "jax", "numpy", "scikit-learn", "candle"]
KERNEL_IMPLS = ["sigmo", "pytorch", "jax", "numpy", "candle"]
PEERS = ["pytorch", "jax", "numpy", "scikit-learn", "candle"]
OPENBLAS = False  # set by --openblas: peers_sigmo was built with the openblas feature


def thread_env(threads):
    env = dict(os.environ)
    t = str(threads)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS",
              "SIGMO_THREADS"):
        env[v] = t
    env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false" if threads == 1
                        else "--xla_cpu_multi_thread_eigen=true")
    env["PYTHONPATH"] = common.HERE
    return env


def pin(threads):
    return ["taskset", "-c", "0"] if threads == 1 else []


def command(impl, group, threads, out, quick, reps):
    q = ["--init", common.init_path(TMP, group)] + (["--quick"] if quick else [])
    if group == "kernels":
        if impl == "sigmo":
            return [SIGMO, "kernels", TMP, out, "--reps", str(reps)]
        if impl == "candle":
            return [CANDLE, "kernels", TMP, out, "--reps", str(reps)]
        return [PY, PEERS_PY, "kernels", impl, TMP, out, "--reps", str(reps)]
    if impl.startswith("sigmo"):
        be = {"sigmo-openblas": "openblas", "sigmo-matrixmultiply": "matrixmultiply"}.get(impl, "sigmo")
        return [SIGMO, "train", group, out, "--threads", str(threads), "--backend", be] + q
    if impl == "candle":
        return [CANDLE, "train", group, out] + q
    return [PY, PEERS_PY, "train", impl, group, out] + q


def runs_here(impl, group):
    """Which implementation can express which group."""
    if impl == "candle":
        return group in ("kernels", "W") and os.path.exists(CANDLE)
    if impl == "scikit-learn":
        return group in ("W", "digits")  # no quadratic loss on sigmoid outputs (N)
    if impl == "sigmo-openblas":
        return group != "kernels" and OPENBLAS
    return True


def run_one(cmd, out, env, threads):
    """Runs one process; returns (records, version, peak RSS in MB, seconds, error)."""
    if os.path.exists(out):
        os.remove(out)
    t = time.perf_counter()
    p = subprocess.Popen(pin(threads) + cmd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    _, status, ru = os.wait4(p.pid, 0)
    err = p.stderr.read()
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.perf_counter() - t
    if p.returncode != 0 or not os.path.exists(out):
        return None, None, None, secs, err.strip().splitlines()[-1:] or ["exit " + str(p.returncode)]
    with open(out) as f:
        doc = json.load(f)
    return doc["results"], doc.get("version"), ru.ru_maxrss / 1024.0, secs, None


def gflops(fma_output):
    """The larger of fma_peak's 256- and 512-bit GFLOP/s readings."""
    vals = [float(v) for v in re.findall(r"= ([0-9.]+) GFLOP/s", fma_output)]
    return max(vals) if vals else float("nan")


def fma_peak():
    """The FMA loop's GFLOP/s on core 0."""
    return gflops(subprocess.run(["taskset", "-c", "0", FMA], capture_output=True, text=True).stdout)


def fma_both():
    """The FMA loop on both cores at once, the slower core's GFLOP/s: a second vCPU that the
    host shares with another guest at the moment shows here (and halves every two-thread
    run), while core 0 alone and the steal time can look normal."""
    ps = [subprocess.Popen(["taskset", "-c", str(c), FMA], stdout=subprocess.PIPE, text=True)
          for c in (0, 1)]
    return min(gflops(p.communicate()[0]) for p in ps)


def steal_ticks():
    """The host's steal time so far (USER_HZ ticks, all cores): time this VM's cores were
    ready to run but the hypervisor ran something else."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) if fields[0] == "cpu" and len(fields) > 8 else 0
    except (OSError, ValueError):
        return 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def ulp_table(cases):
    """Largest error in ULP of each implementation's output of each case, against one f64
    reference (common.reference)."""
    out = {}
    for c in cases:
        want = common.reference(c["op"], c["x"])
        for impl in KERNEL_IMPLS:
            path = os.path.join(TMP, "out", impl, common.file_name(c["name"]))
            if os.path.exists(path):
                got = np.fromfile(path, dtype=np.float32)
                if got.size == want.size:
                    out[(c["name"], impl)] = common.max_ulp(got, want)
    return out


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("--"):
        raise SystemExit(__doc__)
    prefix = args[0]
    quick = "--quick" in args
    global OPENBLAS
    OPENBLAS = "--openblas" in args
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else (1 if quick else 3)
    groups = ["kernels", "W", "N", "digits"]
    if "--only" in args:
        groups = args[args.index("--only") + 1].split(",")
    reps = 5 if quick else 11
    if os.path.isdir(os.path.join(TMP, "out")):
        shutil.rmtree(os.path.join(TMP, "out"))
    common.write_cases(TMP, quick)
    common.write_inits(TMP)
    have_fashion = os.path.isdir(common.FASHION_DIR)
    plan = []  # (group, threads)
    for g in groups:
        if g == "kernels":
            plan.append((g, 1))
        elif g == "digits" or have_fashion:
            plan += [(g, 1), (g, 2)]
        else:
            print(f"harness: {g} skipped: no Fashion-MNIST in {common.FASHION_DIR}", file=sys.stderr)
    impls = {g: [i for i in (KERNEL_IMPLS if g == "kernels" else TRAIN_IMPLS) if runs_here(i, g)]
             for g in groups}
    values = {}  # (kind, name, impl, threads) -> [value per round]
    extra = {}   # same key -> accuracy, rss
    versions = {}
    round_info = []
    for r in range(rounds):
        before, both_before = fma_peak(), fma_both()
        t0 = time.perf_counter()
        steal0 = steal_ticks()
        for g, threads in plan:
            order = impls[g][r % len(impls[g]):] + impls[g][:r % len(impls[g])]
            for impl in order:
                out = os.path.join(TMP, f"{impl}-{g}-{threads}.json")
                cmd = command(impl, g, threads, out, quick, reps)
                recs, version, rss, secs, err = run_one(cmd, out, thread_env(threads), threads)
                if err:
                    print(f"round {r + 1}: {impl} {g} {threads}t FAILED: {err[0]}", file=sys.stderr)
                    continue
                versions[impl] = version
                for rec in recs:
                    if g == "kernels":
                        key = ("kernel", rec["name"], impl, 1)
                        v = rec["elements"] / rec["seconds"] / 1e9
                    else:
                        key = ("train", rec["name"], impl, threads)
                        v = rec["samples_per_s"]
                        extra.setdefault(key, {"accuracy": [], "rss_mb": []})
                        extra[key]["accuracy"].append(rec["accuracy"])
                        extra[key]["rss_mb"].append(rss)
                    values.setdefault(key, [None] * rounds)[r] = v
                print(f"round {r + 1}/{rounds}: {impl} {g} {threads}t done in {secs:.1f} s",
                      file=sys.stderr)
        after, both_after = fma_peak(), fma_both()
        drift = abs(after - before) / max(before, after)
        shared = min(both_before, both_after) < 0.9 * max(before, after)
        round_info.append({"round": r + 1, "fma_before_gflops": before, "fma_after_gflops": after,
                           "fma_both_before_gflops": both_before,
                           "fma_both_after_gflops": both_after,
                           "seconds": time.perf_counter() - t0, "flagged": drift > 0.10 or shared,
                           "steal_seconds": (steal_ticks() - steal0) / os.sysconf("SC_CLK_TCK")})
        print(f"round {r + 1}: FMA peak {before:.1f} → {after:.1f} GFLOP/s, "
              f"steal {round_info[-1]['steal_seconds']:.1f} s"
              f"; both cores at once {both_before:.1f} → {both_after:.1f}"
              + ("  ** differs by more than 10%" if drift > 0.10 or shared else ""), file=sys.stderr)

    ulps = ulp_table(common.read_cases(TMP)) if "kernels" in groups else {}
    records = [{"kind": "machine", "cpu": cpu_model(),
                "fma_peak_gflops": statistics.median(
                    [x for ri in round_info for x in (ri["fma_before_gflops"], ri["fma_after_gflops"])]),
                "date": datetime.date.today().isoformat(), "cores": os.cpu_count(),
                "os": f"{platform.system()} {platform.release()}",
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
                "rounds": round_info, "quick": quick, "versions": versions}]
    for key, vs in values.items():
        kind, name, impl, threads = key
        got = [v for v in vs if v is not None]
        rec = {"kind": kind, "name": name, "impl": impl, "threads": threads,
               "value": statistics.median(got), "min": min(got), "max": max(got),
               "rounds": vs, "unit": "G elements/s" if kind == "kernel" else "samples/s"}
        if kind == "kernel":
            rec["accuracy"] = ulps.get((name, impl))
        else:
            rec["accuracy"] = statistics.median(extra[key]["accuracy"])
            rec["rss_mb"] = max(extra[key]["rss_mb"])
        if impl.startswith("sigmo"):
            ratios = {}
            for peer in PEERS:
                pv = values.get((kind, name, peer, threads))
                if pv:
                    per = [a / b for a, b in zip(vs, pv) if a and b]
                    if per:
                        ratios[peer] = statistics.median(per)
            rec["ratio_to"] = ratios
        records.append(rec)
    text = json.dumps(records, indent=1)
    # peers-latest.json is the last complete run: not a run of some groups only.
    paths = [prefix + ".json"]
    if "--only" not in args:
        paths.append(os.path.join(REPO, "benches", "results", "peers-latest.json"))
    for path in paths:
        with open(path, "w") as f:
            f.write(text)
    print("wrote " + " and ".join(paths), file=sys.stderr)


if __name__ == "__main__":
    main()
