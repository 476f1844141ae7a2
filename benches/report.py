#!/usr/bin/env python3
"""Turns the last criterion run into Markdown tables: median throughput per benchmark.

usage: python3 benches/report.py [GROUP_PREFIX ...] [--dir target/criterion]

Reads target/criterion/**/new/{benchmark,estimates}.json (written by `cargo bench`); prints one
table per group with G elements/s (median) per tier and size, and the ratio to the
`std-scalar-loop` baseline of the same size where the group has one.
"""
import json
import os
import sys


def load(root):
    rows = []
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            e = json.load(f)
        tp = b.get("throughput") or {}
        n = tp.get("Elements") or tp.get("Bytes") or tp.get("ElementsAndBytes", {}).get("elements")
        median_ns = e["median"]["point_estimate"]
        rows.append({
            "group": b["group_id"],
            "function": b.get("function_id") or "",
            "value": b.get("value_str") or "",
            "gps": (n / median_ns) if n else None,
            "median_ns": median_ns,
        })
    return rows


def main():
    args = sys.argv[1:]
    root = "target/criterion"
    if "--dir" in args:
        i = args.index("--dir")
        root = args[i + 1]
        del args[i:i + 2]
    rows = load(root)
    groups = sorted({r["group"] for r in rows})
    for g in groups:
        if args and not any(g.startswith(p) for p in args):
            continue
        rs = [r for r in rows if r["group"] == g]
        funcs = sorted({r["function"] for r in rs}, key=lambda f: (f != "std-scalar-loop", f))
        values = sorted({r["value"] for r in rs}, key=lambda v: (len(v), v))
        print(f"\n**{g}** — G elements/s (median)" + (", ×: ratio to std-scalar-loop" if "std-scalar-loop" in funcs else ""))
        print("| | " + " | ".join(values) + " |")
        print("|---" * (len(values) + 1) + "|")
        for fn in funcs:
            cells = []
            for v in values:
                r = next((r for r in rs if r["function"] == fn and r["value"] == v), None)
                if r is None or r["gps"] is None:
                    cells.append("")
                    continue
                cell = f"{r['gps']:.2f}"
                base = next((b for b in rs if b["function"] == "std-scalar-loop" and b["value"] == v), None)
                if base and fn != "std-scalar-loop" and base["gps"]:
                    cell += f" ({r['gps'] / base['gps']:.1f}×)"
                cells.append(cell)
            print(f"| {fn or g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
