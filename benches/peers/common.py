"""What every side of the peer comparison shares: the kernel cases (names, inputs), the
training configurations, the timing protocol, the data loaders. Imports numpy only.

Every measurement runs in a process of its own (see harness.py); this module is imported by
the driver and by each Python peer process (peers.py), never with a peer library loaded.
"""
import gzip
import json
import os
import statistics
import struct
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# ---------------------------------------------------------------- kernel cases

ELEMENTWISE = ["exp", "sigmoid", "tanh"]
ROWS = ["softmax_rows", "log_softmax_rows"]
SHAPES = [(4096, 10), (1024, 128), (256, 1000)]


def case_list(quick):
    """The kernel measurements, each a dict: name, op, rows, cols, input.

    name is "op/size" on the ramp −10 … 10 and "op/size/input" on another input."""
    cases = []

    def add(op, rows, cols, inp):
        size = f"{rows}x{cols}" if op in ROWS else f"{cols}"
        name = f"{op}/{size}" + ("" if inp == "ramp" else f"/{inp}")
        cases.append(dict(name=name, op=op, rows=rows, cols=cols, input=inp))

    sizes = [65536] if quick else [4096, 65536, 1 << 20]
    for op in ELEMENTWISE:
        for n in sizes:
            add(op, 1, n, "ramp")
        add(op, 1, 65536, "uniform")
    add("exp", 1, 65536, "subnormal")
    add("sigmoid", 1, 65536, "saturated")
    add("tanh", 1, 65536, "saturated")
    for op in ROWS:
        for rows, cols in SHAPES:
            add(op, rows, cols, "ramp")
            add(op, rows, cols, "masked-inf")
            if op == "softmax_rows":
                add(op, rows, cols, "uniform")
                add(op, rows, cols, "masked-1e9")
    return cases


def make_input(case):
    """The case's input, f32, deterministic (seeded by the case's name)."""
    n = case["rows"] * case["cols"]
    rng = np.random.default_rng(abs(hash_name(case["name"])))
    kind = case["input"]
    if kind == "ramp":
        x = np.float32(-10.0) + np.float32(20.0) * (np.arange(n, dtype=np.float32) / np.float32(n))
    elif kind == "uniform":
        x = rng.uniform(-10.0, 10.0, n)
    elif kind == "subnormal":
        # e^x is subnormal for x < −87.34 and zero below −103.97.
        x = rng.uniform(-103.0, -88.0, n)
    elif kind == "saturated":
        x = rng.uniform(88.0, 103.0, n) * rng.choice([-1.0, 1.0], n)
    elif kind in ("masked-inf", "masked-1e9"):
        x = rng.uniform(-10.0, 10.0, n)
        fill = -np.inf if kind == "masked-inf" else -1e9
        x = x.reshape(case["rows"], case["cols"])
        # Half of each row masked: the right half (causal-style), at least one entry kept.
        keep = max(1, case["cols"] // 2)
        x[:, keep:] = fill
    else:
        raise ValueError(f"unknown input {kind}")
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(case["rows"], case["cols"]))


def hash_name(s):
    h = 1469598103934665603
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) % (1 << 63)
    return h


def file_name(name):
    return name.replace("/", "_") + ".f32"


def write_cases(folder, quick):
    """Writes every case's input to folder/inputs/ and the list to folder/cases.json."""
    os.makedirs(os.path.join(folder, "inputs"), exist_ok=True)
    cases = case_list(quick)
    for c in cases:
        c["file"] = os.path.join(folder, "inputs", file_name(c["name"]))
        make_input(c).tofile(c["file"])
    with open(os.path.join(folder, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    return cases


def read_cases(folder):
    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    for c in cases:
        c["x"] = np.fromfile(c["file"], dtype=np.float32).reshape(c["rows"], c["cols"])
    return cases


def reference(op, x):
    """The f64 result of `op` on the f32 input x."""
    x = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if op == "exp":
            return np.exp(x)
        if op == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if op == "tanh":
            return np.tanh(x)
        m = x.max(axis=1, keepdims=True)
        if op == "softmax_rows":
            e = np.exp(x - m)
            return e / e.sum(axis=1, keepdims=True)
        return (x - m) - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def max_ulp(got, want):
    """The largest error of the f32 `got` against the f64 `want`, in ULP of the f32 nearest
    `want` (subnormal ULP 2⁻¹⁴⁹ below 2⁻¹²⁶); equal values (±∞ included) count 0."""
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    a = np.abs(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.maximum(np.floor(np.log2(np.where((a == 0) | ~np.isfinite(a), 2.0 ** -126, a))), -126)
        err = np.abs(got - want) / np.power(2.0, e - 23)
    err = np.where(got == want, 0.0, err)
    err = np.where(np.isnan(err), np.inf, err)
    return float(np.max(err)) if err.size else 0.0


def timeit(f, reps):
    """Seconds per call of f: a warm-up (≥ 50 ms and 3 calls), then the median of `reps`
    timings of enough calls to last ≥ 20 ms. The same protocol as peers_sigmo.rs and the
    candle side."""
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05 or calls < 3:
        f()
        calls += 1
    per = (time.perf_counter() - start) / calls
    inner = max(1, int(np.ceil(0.02 / per)))
    ts = []
    for _ in range(reps):
        s = time.perf_counter()
        for _ in range(inner):
            f()
        ts.append((time.perf_counter() - s) / inner)
    return statistics.median(ts)


# ---------------------------------------------------------------- training

# name: layers, hidden/output activation, loss, optimizer, lr, momentum, l2, batch, epochs.
CONFIGS = {
    "W": dict(data="fashion", layers=[784, 512, 256, 10], act="relu", loss="softmax-ce",
              init="he", opt="sgd", lr=0.05, momentum=0.9, l2=1e-4, batch=128, epochs=5,
              quick_epochs=2),
    "N": dict(data="fashion", layers=[784, 30, 10], act="sigmoid", loss="quadratic",
              init="classic", opt="sgd", lr=3.0, momentum=0.0, l2=0.0, batch=10, epochs=3,
              quick_epochs=2),
    "digits": dict(data="digits", layers=[64, 256, 10], act="relu", loss="softmax-ce",
                   init="he", opt="adam", lr=1e-3, momentum=0.0, l2=0.0, batch=32, epochs=30,
                   quick_epochs=5),
}


def epochs_of(config, quick):
    c = CONFIGS[config]
    return c["quick_epochs"] if quick else c["epochs"]


def epoch_rate(n, secs):
    """Samples/s of the median epoch, the first left out when there are several (JAX
    compiles in its first epoch); the same rule for every side."""
    use = secs[1:] if len(secs) > 1 else secs
    return n / statistics.median(use)


def idx(path):
    with open(path, "rb") as f:
        b = f.read()
    if b[:2] == b"\x1f\x8b":
        b = gzip.decompress(b)
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def digits():
    """The embedded digits with sigmo's split: every 5th sample of each class, in file order,
    to test; pixels / 16."""
    x = idx(os.path.join(REPO, "data", "digits8x8-images-idx3-ubyte.gz")).reshape(-1, 64)
    y = idx(os.path.join(REPO, "data", "digits8x8-labels-idx1-ubyte.gz"))
    seen = np.zeros(10, int)
    test = np.zeros(len(y), bool)
    for i, label in enumerate(y):
        seen[label] += 1
        test[i] = seen[label] % 5 == 0
    x = x.astype(np.float32) / np.float32(16)
    return x[~test], y[~test].astype(np.int64), x[test], y[test].astype(np.int64)


def fashion():
    f = lambda n: os.path.join(FASHION_DIR, n)  # noqa: E731
    xtr = idx(f("train-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / np.float32(255)
    ytr = idx(f("train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = idx(f("t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / np.float32(255)
    yte = idx(f("t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return xtr, ytr, xte, yte


def load(config):
    return digits() if CONFIGS[config]["data"] == "digits" else fashion()


def write_inits(folder):
    """Writes each configuration's initial parameters to folder/init-NAME.f32 (per layer: the
    fan_in × fan_out weights row-major, then the biases), so that every side starts from the
    same network: with Nielsen's N(0, 1) initialisation the test accuracy after 3 epochs
    moves by ±5 points from seed to seed."""
    for name, cfg in CONFIGS.items():
        parts = []
        for w, b in init_params(np.random.default_rng(0), cfg):
            parts += [w.ravel(), b]
        np.concatenate(parts).astype(np.float32).tofile(init_path(folder, name))


def init_path(folder, name):
    return os.path.join(folder, f"init-{name}.f32")


def read_init(path, cfg):
    flat = np.fromfile(path, dtype=np.float32)
    L, out, at = cfg["layers"], [], 0
    for i in range(len(L) - 1):
        w = flat[at:at + L[i] * L[i + 1]].reshape(L[i], L[i + 1]).copy()
        at += L[i] * L[i + 1]
        b = flat[at:at + L[i + 1]].copy()
        at += L[i + 1]
        out.append((w, b))
    if at != flat.size:
        raise ValueError(f"{path}: {flat.size} values, the network has {at}")
    return out


def init_params(rng, cfg):
    """Weights (fan_in × fan_out) and biases, f32: He N(0, 2/fan_in) with zero biases, or
    Nielsen's classic N(0, 1) for both."""
    L = cfg["layers"]
    out = []
    for i in range(len(L) - 1):
        if cfg["init"] == "he":
            w = rng.standard_normal((L[i], L[i + 1])) * np.sqrt(2.0 / L[i])
            b = np.zeros(L[i + 1])
        else:
            w = rng.standard_normal((L[i], L[i + 1]))
            b = rng.standard_normal(L[i + 1])
        out.append((w.astype(np.float32), b.astype(np.float32)))
    return out
