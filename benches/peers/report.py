#!/usr/bin/env python3
"""Merges sigmo's and the peers' JSON results into OUT.json, OUT.md (tables) and OUT.png (a
plot), with the machine's description and the date.

    report.py OUT sigmo.json peers-kernels.json peers-train.json
"""
import datetime
import json
import os
import platform
import sys

PEERS = ["numpy", "pytorch", "jax"]
NAMES = {"numpy": "numpy", "pytorch": "PyTorch", "jax": "JAX", "scikit-learn": "scikit-learn"}


def cell(v):
    return "–" if v is None else f"{v:.2f}"


def machine():
    model = "unknown CPU"
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{os.cpu_count()} cores, {platform.machine()} {model} ({isa}), {platform.system()}"


def main():
    out, files = sys.argv[1], sys.argv[2:]
    docs = [json.load(open(f)) for f in files]
    rows = [r for d in docs for r in d["results"]]
    sigmo = next(d for d in docs if d["side"] == "sigmo")
    versions = next((d["versions"] for d in docs if d["side"] == "peers"), {})
    meta = {"date": datetime.date.today().isoformat(), "machine": machine(),
            "sigmo_kernels": sigmo.get("kernels"), "openblas_core": sigmo.get("openblas_core"),
            "versions": versions}
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=1)

    md = [f"# sigmo against its peers, {meta['date']}", "",
          f"Machine: {meta['machine']}. sigmo kernels: {meta['sigmo_kernels']}; OpenBLAS core: "
          f"{meta['openblas_core']}. Peers: "
          + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
          "Medians of 11 repetitions after a warm-up, measured one after the other in one run "
          "of `benches/peers/run.sh`.", "",
          "## Kernels, one thread (G elements/s; higher is better)", "",
          "| kernel | elements | sigmo | numpy | PyTorch | JAX | sigmo ÷ fastest peer |",
          "|---|---|---|---|---|---|---|"]
    kern = [r for r in rows if r["kind"] == "kernel"]
    keys = []
    for r in kern:
        k = (r["op"], r["n"], r.get("cols"))
        if k not in keys:
            keys.append(k)
    speedups = []
    for op, n, cols in keys:
        got = {r["impl"]: r["gelem_per_s"] for r in kern if (r["op"], r["n"], r.get("cols")) == (op, n, cols)}
        size = f"{n // cols}×{cols}" if cols else f"{n:,}"
        best = max(got.get(p, 0) for p in PEERS)
        ratio = got["sigmo"] / best if best else float("nan")
        speedups.append((f"{op} {size}", {p: got["sigmo"] / got[p] for p in PEERS if p in got}))
        md.append(f"| {op} | {size} | **{got['sigmo']:.2f}** | "
                  + " | ".join(f"{got.get(p, float('nan')):.2f}" for p in PEERS)
                  + f" | {ratio:.2f}× |")
    md += ["", "Largest error over the same inputs (the ramp −10 … 10), in ULP of the f32 result "
           "against an f64 reference:", "",
           "| kernel | elements | sigmo | numpy | PyTorch | JAX |", "|---|---|---|---|---|---|"]
    for op, n, cols in keys:
        got = {r["impl"]: r.get("max_ulp") for r in kern
               if (r["op"], r["n"], r.get("cols")) == (op, n, cols)}
        size = f"{n // cols}×{cols}" if cols else f"{n:,}"
        md.append(f"| {op} | {size} | **{cell(got.get('sigmo'))}** | "
                  + " | ".join(cell(got.get(p)) for p in PEERS) + " |")
    md += ["", "## Training, two threads (samples/s of the median epoch; final test accuracy)", "",
           "| configuration | implementation | samples/s | sigmo ÷ this | test accuracy |",
           "|---|---|---|---|---|"]
    train = [r for r in rows if r["kind"] == "train"]
    configs = []
    for r in train:
        if r["config"] not in configs:
            configs.append(r["config"])
    desc = {"digits": "digits 64-256-10, Adam, batch 32",
            "fashion": "Fashion-MNIST 784-512-256-10, SGD+momentum, L2, batch 128"}
    for c in configs:
        rs = [r for r in train if r["config"] == c]
        ref = max(r["samples_per_s"] for r in rs if r["impl"].startswith("sigmo"))
        for r in sorted(rs, key=lambda r: -r["samples_per_s"]):
            name = r["impl"] if r["impl"].startswith("sigmo") else NAMES.get(r["impl"], r["impl"])
            ep = f"{r['epochs']} epoch" + ("s" if r["epochs"] != 1 else "")
            md.append(f"| {desc.get(c, c)} ({ep}) | {name} | {r['samples_per_s']:,.0f} | "
                      f"{ref / r['samples_per_s']:.2f}× | {r['test_accuracy']:.4f} |")
    md += ["", f"![sigmo against its peers]({os.path.basename(out)}.png)", ""]
    with open(out + ".md", "w") as f:
        f.write("\n".join(md))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.27
    for i, p in enumerate(PEERS):
        xs = [j + (i - 1) * width for j in range(len(speedups))]
        a.bar(xs, [s[1].get(p, 0) for s in speedups], width, label=f"vs {NAMES[p]}")
    a.axhline(1.0, color="black", linewidth=0.8)
    a.set_yscale("log")
    a.set_xticks(range(len(speedups)))
    a.set_xticklabels([s[0] for s in speedups], rotation=60, ha="right", fontsize=8)
    a.set_ylabel("sigmo speed ÷ peer speed (log; > 1: sigmo faster)")
    a.set_title("Kernels, one thread")
    a.legend()
    impls = []
    for r in train:
        if r["impl"] not in impls:
            impls.append(r["impl"])
    w2 = 0.8 / max(1, len(impls))
    for i, im in enumerate(impls):
        xs = [j + (i - (len(impls) - 1) / 2) * w2 for j in range(len(configs))]
        ys = [next((r["samples_per_s"] for r in train if r["config"] == c and r["impl"] == im), 0)
              for c in configs]
        b.bar(xs, ys, w2, label=NAMES.get(im, im))
    b.set_yscale("log")
    b.set_xticks(range(len(configs)))
    b.set_xticklabels([desc.get(c, c).split(",")[0] for c in configs])
    b.set_ylabel("training samples/s (log)")
    b.set_title("One epoch, two threads")
    b.legend(fontsize=8)
    fig.suptitle(f"sigmo against its peers — {meta['machine']}, {meta['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=110)
    print(f"wrote {out}.json, {out}.md, {out}.png", file=sys.stderr)


if __name__ == "__main__":
    main()
