#!/usr/bin/env python3
"""Turns the harness's records (OUT.json) into OUT.md (tables) and OUT.png (sigmo's ratio to
the fastest peer, 1.0 marked).

    report.py OUT        # reads OUT.json
"""
import json
import os
import sys

NAMES = {"sigmo": "sigmo", "sigmo-matrixmultiply": "sigmo (matrixmultiply)", "sigmo-openblas": "sigmo (OpenBLAS)", "pytorch": "PyTorch",
         "jax": "JAX", "numpy": "numpy", "scikit-learn": "scikit-learn", "candle": "candle"}
PEERS = ["pytorch", "jax", "numpy", "scikit-learn", "candle"]
KERNEL_COLS = ["sigmo", "pytorch", "jax", "numpy", "candle"]
CONFIG_DESC = {
    "W": "W: Fashion-MNIST 784-512-256-10 ReLU, softmax-CE, SGD η 0.05 + momentum 0.9, L2 1e-4, batch 128",
    "N": "N: Fashion-MNIST 784-30-10 sigmoid, quadratic, SGD η 3.0, batch 10",
    "digits": "digits: 64-256-10 ReLU, softmax-CE, Adam η 0.001, batch 32",
}


def fmt(v, digits=2):
    if v is None:
        return "–"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def spread(r, digits=2):
    if r["min"] == r["max"]:
        return fmt(r["value"], digits)
    return f"{fmt(r['value'], digits)} ({fmt(r['min'], digits)}–{fmt(r['max'], digits)})"


def best_peer(rows, kind, name, threads):
    peers = [r for r in rows if r["kind"] == kind and r["name"] == name
             and r["threads"] == threads and r["impl"] in PEERS]
    return max(peers, key=lambda r: r["value"]) if peers else None


def ratio(sigmo, peer):
    if sigmo is None or peer is None:
        return None
    return sigmo.get("ratio_to", {}).get(peer["impl"])


def round_ratio(a, b):
    """The median over rounds of a's value ÷ b's value (rounds where both ran)."""
    if a is None or b is None:
        return None
    per = sorted(x / y for x, y in zip(a["rounds"], b["rounds"]) if x and y)
    if not per:
        return None
    n = len(per)
    return per[n // 2] if n % 2 else (per[n // 2 - 1] + per[n // 2]) / 2


def ulp_cell(a):
    if a is None:
        return "–"
    if a == float("inf"):
        return "∞"
    return f"{a:.2f}" if a < 1000 else f"{a:.1e}"


def find(rows, kind, name, impl, threads):
    return next((r for r in rows if r["kind"] == kind and r["name"] == name
                 and r["impl"] == impl and r["threads"] == threads), None)


def split_name(name):
    parts = name.split("/")
    return parts[0], parts[1].replace("x", "×"), parts[2] if len(parts) > 2 else "ramp"


def main():
    out = sys.argv[1]
    with open(out + ".json") as f:
        rows = json.load(f)
    m = next(r for r in rows if r["kind"] == "machine")
    flagged = [ri["round"] for ri in m["rounds"] if ri["flagged"]]
    vers = ", ".join(sorted({v for v in m["versions"].values() if v}))
    cmd = "benches/peers/run.sh" + (" --quick" if m.get("quick") else "")
    md = [f"# sigmo against its peers, {m['date']}", "",
          f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; FMA peak {m['fma_peak_gflops']:.0f} "
          f"GFLOP/s per core (`fma_peak`, median of the readings before and after each round). "
          f"OPENBLAS_CORETYPE: {m['openblas_coretype'] or 'unset'}.", "",
          f"Command: `{cmd}`. {len(m['rounds'])} round(s); each round runs every implementation "
          "once per measurement group, each in its own process, one-thread runs pinned "
          "(`taskset -c 0`). Values are medians over the rounds with (min–max); ratios are the "
          "median of the per-round ratios.", "",
          "FMA peak per round (core 0 before → after; both cores at once, the slower one, "
          "before → after; and the host's steal time during the round): "
          + "; ".join(f"{ri['fma_before_gflops']:.0f} → {ri['fma_after_gflops']:.0f}"
                      + (f", both {ri['fma_both_before_gflops']:.0f} → "
                         f"{ri['fma_both_after_gflops']:.0f}" if "fma_both_before_gflops" in ri
                         else ", both cores not measured")
                      + f" ({ri.get('steal_seconds', 0):.1f} s stolen of {ri['seconds']:.0f} s)"
                      for ri in m["rounds"])
          + (f". **Rounds {flagged} drifted by more than 10%.**" if flagged else
             " (no round drifted by more than 10%)."), "",
          "One-thread values repeat to a few percent; two-thread values can drop to half for a "
          "whole process when the host runs something else beside the second core, which the "
          "median over rounds absorbs and the min–max shows.", "",
          f"Versions: {vers}.", ""]

    kern = [r for r in rows if r["kind"] == "kernel"]
    names = []
    for r in kern:
        if r["name"] not in names:
            names.append(r["name"])
    plot = []
    if kern:
        md += ["## Kernels, one thread (G elements/s; higher is better)", "",
               "| kernel | size | input | " + " | ".join(NAMES[c] for c in KERNEL_COLS)
               + " | sigmo ÷ fastest peer |",
               "|---|---|---|" + "---|" * len(KERNEL_COLS) + "---|"]
        for n in names:
            op, size, inp = split_name(n)
            cells = [spread(find(rows, "kernel", n, c, 1)) if find(rows, "kernel", n, c, 1)
                     else "–" for c in KERNEL_COLS]
            cells[0] = f"**{cells[0]}**"
            bp = best_peer(rows, "kernel", n, 1)
            q = ratio(find(rows, "kernel", n, "sigmo", 1), bp)
            plot.append(("kernel", f"{op} {size} {inp}", q))
            tail = f" | {fmt(q)}× ({NAMES[bp['impl']]}) |" if bp else " | – |"
            md.append(f"| {op} | {size} | {inp} | " + " | ".join(cells) + tail)
        md += ["", "Largest error on the same inputs, in ULP of the f32 result against one f64 "
               "reference (computed by the harness from each side's output):", "",
               "| kernel | size | input | " + " | ".join(NAMES[c] for c in KERNEL_COLS) + " |",
               "|---|---|---|" + "---|" * len(KERNEL_COLS)]
        for n in names:
            op, size, inp = split_name(n)
            cells = []
            for c in KERNEL_COLS:
                r = find(rows, "kernel", n, c, 1)
                a = r.get("accuracy") if r else None
                cells.append(ulp_cell(a))
            md.append(f"| {op} | {size} | {inp} | " + " | ".join(cells) + " |")
        md.append("")

    train = [r for r in rows if r["kind"] == "train"]
    if train:
        md += ["## Training (samples/s of the median epoch, the first left out; test accuracy "
               "after the last epoch; peak RSS of the process)", ""]
        md += ["| configuration | threads | sigmo | sigmo (OpenBLAS) | fastest peer | "
               "sigmo ÷ fastest peer | sigmo (OpenBLAS) ÷ fastest peer |",
               "|---|---|---|---|---|---|---|"]
        configs = []
        for r in train:
            if r["name"] not in configs:
                configs.append(r["name"])
        for c in configs:
            for t in (1, 2):
                bp = best_peer(rows, "train", c, t)
                s = find(rows, "train", c, "sigmo", t)
                so = find(rows, "train", c, "sigmo-openblas", t)
                if not (bp or s):
                    continue
                q, qo = ratio(s, bp), ratio(so, bp)
                plot.append(("train", f"{c} {t}t", q))
                if qo is not None:
                    plot.append(("train", f"{c} {t}t OpenBLAS", qo))
                md.append(f"| {c} | {t} | {spread(s, 0) if s else '–'} | "
                          f"{spread(so, 0) if so else '–'} | "
                          f"{NAMES[bp['impl']] + ' ' + fmt(bp['value']) if bp else '–'} | "
                          f"{fmt(q)}× | {fmt(qo)}× |")
        md.append("")
        for c in configs:
            md += [f"### {CONFIG_DESC.get(c, c)}", "",
                   "| threads | implementation | samples/s | sigmo ÷ this | test accuracy | peak RSS MB |",
                   "|---|---|---|---|---|---|"]
            for t in (1, 2):
                rs = sorted([r for r in train if r["name"] == c and r["threads"] == t],
                            key=lambda r: -r["value"])
                s = find(rows, "train", c, "sigmo", t)
                for r in rs:
                    q = round_ratio(s, r)
                    md.append(f"| {t} | {NAMES.get(r['impl'], r['impl'])} | {spread(r, 0)} | "
                              f"{fmt(q)}× | {r['accuracy']:.4f} | {r['rss_mb']:.0f} |")
            md.append("")
    md += [f"![sigmo ÷ the fastest peer]({os.path.basename(out)}.png)", ""]
    with open(out + ".md", "w") as f:
        f.write("\n".join(md))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    panels = [(k, [p for p in plot if p[0] == k and p[2] is not None]) for k in ("kernel", "train")]
    panels = [(k, ps) for k, ps in panels if ps]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 6),
                             gridspec_kw={"width_ratios": [max(4, len(ps)) for _, ps in panels]},
                             squeeze=False)
    for ax, (k, ps) in zip(axes[0], panels):
        ys = [p[2] for p in ps]
        ax.bar(range(len(ps)), ys, color=["tab:green" if y >= 1 else "tab:red" for y in ys])
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_yticks([t for t in (0.25, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10)
                       if min(ys) / 1.5 <= t <= max(ys) * 1.5])
        ax.set_xticks(range(len(ps)))
        ax.set_xticklabels([p[1] for p in ps], rotation=70, ha="right", fontsize=7)
        ax.set_ylabel("sigmo ÷ fastest peer (log; > 1: sigmo faster)")
        ax.set_title("Kernels, one thread" if k == "kernel" else "Training (sigmo on matrixmultiply / OpenBLAS)")
    fig.suptitle(f"sigmo against the fastest peer — {m['cpu']}, FMA peak "
                 f"{m['fma_peak_gflops']:.0f} GFLOP/s/core, {m['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=100)
    print(f"wrote {out}.md and {out}.png", file=sys.stderr)


if __name__ == "__main__":
    main()
