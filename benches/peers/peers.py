#!/usr/bin/env python3
"""The peers' side of the comparison: numpy, PyTorch (CPU, eager) and JAX (jit, CPU) on the
kernels exp, sigmoid, tanh and row softmax, and PyTorch, JAX, scikit-learn's MLPClassifier and
a numpy MLP on the two training configurations, with the protocol of sigmo's side
(examples/peers_sigmo.rs): the same inputs, sizes and hyper-parameters, warm-up, then the
median of several repetitions of loops lasting at least 20 ms.

    peers.py kernels OUT.json [--quick]     # run with 1 thread (run.sh sets the variables)
    peers.py train OUT.json [--quick]       # run with 2 threads

The thread count comes from the environment, which run.sh sets the same for every library
before Python starts: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, and XLA_FLAGS for
JAX; PyTorch is also told torch.set_num_threads().
"""
import gzip
import json
import os
import statistics
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
THREADS = int(os.environ.get("OMP_NUM_THREADS", "1"))
SIZES = [4096, 65536, 1 << 20]
SOFTMAX = [(4096, 10), (1024, 128), (256, 1000)]


def timeit(f, reps):
    """Seconds per call of f: warm-up (≥ 50 ms and 3 calls), then the median of `reps`
    timings of enough calls to last ≥ 20 ms."""
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


def ramp(n):
    # The same values as sigmo's side: -10 + 20·i/n, computed in f32.
    return (np.float32(-10.0) + np.float32(20.0) * (np.arange(n, dtype=np.float32) / np.float32(n))).astype(np.float32)


# ---------------------------------------------------------------- kernels

def ulp_of(want):
    """One unit in the last place of the f32 nearest `want` (as sigmo's reference::ulp_of)."""
    a = np.abs(want)
    e = np.maximum(np.floor(np.log2(np.where(a == 0, 2.0 ** -126, a))), -126)
    return np.power(2.0, e - 23)


def max_ulp(got, want):
    """The largest error of the f32 `got` against the f64 `want`, in ULP."""
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    return float(np.max(np.abs(got - want) / ulp_of(want)))


def reference(op, x):
    x = x.astype(np.float64)
    if op == "exp":
        return np.exp(x)
    if op == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if op == "tanh":
        return np.tanh(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def kernels(reps):
    import jax
    import jax.numpy as jnp
    import scipy.special
    import torch
    torch.set_num_threads(THREADS)
    out = []

    def add(op, n, impl, s, note="", rows=None, cols=None, got=None, x=None):
        r = {"kind": "kernel", "op": op, "n": n, "impl": impl, "threads": THREADS, "seconds": s,
             "gelem_per_s": n / s / 1e9}
        if got is not None:
            r["max_ulp"] = max_ulp(np.asarray(got), reference(op, x))
        if rows:
            r.update(rows=rows, cols=cols)
        if note:
            r["note"] = note
        out.append(r)

    jexp, jsig, jtanh = jax.jit(jnp.exp), jax.jit(jax.nn.sigmoid), jax.jit(jnp.tanh)
    jsoft = jax.jit(lambda x: jax.nn.softmax(x, axis=1))
    for n in SIZES:
        x = ramp(n)
        y = np.empty_like(x)
        tx, ty = torch.from_numpy(x), torch.empty(n)
        jx = jnp.asarray(x)
        add("exp", n, "numpy", timeit(lambda: np.exp(x, out=y), reps), got=y.copy(), x=x)
        add("sigmoid", n, "numpy", timeit(lambda: scipy.special.expit(x, out=y), reps),
            "scipy.special.expit", got=y.copy(), x=x)
        add("tanh", n, "numpy", timeit(lambda: np.tanh(x, out=y), reps), got=y.copy(), x=x)
        add("exp", n, "pytorch", timeit(lambda: torch.exp(tx, out=ty), reps),
            got=ty.numpy().copy(), x=x)
        add("sigmoid", n, "pytorch", timeit(lambda: torch.sigmoid(tx, out=ty), reps),
            got=ty.numpy().copy(), x=x)
        add("tanh", n, "pytorch", timeit(lambda: torch.tanh(tx, out=ty), reps),
            got=ty.numpy().copy(), x=x)
        for op, f in [("exp", jexp), ("sigmoid", jsig), ("tanh", jtanh)]:
            add(op, n, "jax", timeit(lambda: f(jx).block_until_ready(), reps),
                "jit; allocates its output (no out=)", got=np.asarray(f(jx)), x=x)
    for rows, cols in SOFTMAX:
        x = ramp(rows * cols).reshape(rows, cols)
        y = np.empty_like(x)
        m = np.empty((rows, 1), np.float32)
        s = np.empty((rows, 1), np.float32)

        def np_softmax():
            np.max(x, axis=1, keepdims=True, out=m)
            np.subtract(x, m, out=y)
            np.exp(y, out=y)
            np.sum(y, axis=1, keepdims=True, out=s)
            np.divide(y, s, out=y)

        n = rows * cols
        add("softmax_rows", n, "numpy", timeit(np_softmax, reps), "max, exp, sum, divide with out=",
            rows, cols, got=y.copy(), x=x)
        tx, ty = torch.from_numpy(x), torch.empty(rows, cols)
        add("softmax_rows", n, "pytorch",
            timeit(lambda: torch._softmax(tx, 1, False, out=ty), reps), "aten _softmax.out", rows,
            cols, got=ty.numpy().copy(), x=x)
        jx = jnp.asarray(x)
        add("softmax_rows", n, "jax", timeit(lambda: jsoft(jx).block_until_ready(), reps),
            "jit; allocates its output", rows, cols, got=np.asarray(jsoft(jx)), x=x)
        print(f"peers kernels: softmax {rows}x{cols} done", file=sys.stderr)
    return out


# ---------------------------------------------------------------- data

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
    for i, l in enumerate(y):
        seen[l] += 1
        test[i] = seen[l] % 5 == 0
    x = x.astype(np.float32) / np.float32(16)
    return x[~test], y[~test].astype(np.int64), x[test], y[test].astype(np.int64)


def fashion():
    d = "/usr/share/datasets/fashion-mnist"
    f = lambda n: os.path.join(d, n)
    xtr = idx(f("train-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / np.float32(255)
    ytr = idx(f("train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = idx(f("t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / np.float32(255)
    yte = idx(f("t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return xtr, ytr, xte, yte


# The two configurations: layers, optimizer, lr, momentum, l2, batch, epochs.
CONFIGS = {
    "digits": dict(layers=[64, 256, 10], opt="adam", lr=1e-3, momentum=0.0, l2=0.0, batch=32,
                   epochs=30),
    "fashion": dict(layers=[784, 512, 256, 10], opt="sgd", lr=0.05, momentum=0.9, l2=1e-4,
                    batch=128, epochs=5),
}


def he(rng, fan_in, fan_out):
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def train_torch(cfg, data, seed):
    import torch
    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in data)
    L = cfg["layers"]
    mods = []
    for i in range(len(L) - 1):
        mods.append(torch.nn.Linear(L[i], L[i + 1]))
        if i < len(L) - 2:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in net if isinstance(m, torch.nn.Linear)]
    groups = [{"params": weights, "weight_decay": cfg["l2"]}, {"params": biases, "weight_decay": 0.0}]
    if cfg["opt"] == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"])
    else:
        opt = torch.optim.Adam(groups, lr=cfg["lr"])
    lossf = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    secs = []
    for _ in range(cfg["epochs"]):
        perm = torch.randperm(len(ytr), generator=g)
        t = time.perf_counter()
        for s in range(0, len(ytr), cfg["batch"]):
            ix = perm[s:s + cfg["batch"]]
            opt.zero_grad(set_to_none=False)
            loss = lossf(net(xtr[ix]), ytr[ix])
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t)
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    return secs, acc


def train_jax(cfg, data, seed):
    import jax
    import jax.numpy as jnp
    xtr, ytr, xte, yte = data
    L = cfg["layers"]
    rng = np.random.default_rng(seed)
    params = [(jnp.asarray(he(rng, L[i], L[i + 1])), jnp.zeros(L[i + 1], jnp.float32))
              for i in range(len(L) - 1)]

    def forward(p, x):
        for w, b in p[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = p[-1]
        return x @ w + b

    def loss(p, x, y):
        logits = forward(p, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    lr, mu, l2 = cfg["lr"], cfg["momentum"], cfg["l2"]
    if cfg["opt"] == "sgd":
        state = [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in params]

        @jax.jit
        def step(p, st, t, x, y):
            g = jax.grad(loss)(p, x, y)
            new_p, new_st = [], []
            for (w, b), (gw, gb), (vw, vb) in zip(p, g, st):
                vw = mu * vw + gw + l2 * w
                vb = mu * vb + gb
                new_p.append((w - lr * vw, b - lr * vb))
                new_st.append((vw, vb))
            return new_p, new_st
    else:
        state = [tuple(jnp.zeros_like(a) for a in (w, b, w, b)) for w, b in params]
        b1, b2, eps = 0.9, 0.999, 1e-8

        @jax.jit
        def step(p, st, t, x, y):
            g = jax.grad(loss)(p, x, y)
            new_p, new_st = [], []
            for (w, b), (gw, gb), (mw, mb, vw, vb) in zip(p, g, st):
                gw = gw + l2 * w
                mw, mb = b1 * mw + (1 - b1) * gw, b1 * mb + (1 - b1) * gb
                vw, vb = b2 * vw + (1 - b2) * gw * gw, b2 * vb + (1 - b2) * gb * gb
                c1, c2 = 1 - b1 ** t, 1 - b2 ** t
                w = w - lr / c1 * mw / (jnp.sqrt(vw) / jnp.sqrt(c2) + eps)
                b = b - lr / c1 * mb / (jnp.sqrt(vb) / jnp.sqrt(c2) + eps)
                new_p.append((w, b))
                new_st.append((mw, mb, vw, vb))
            return new_p, new_st

    xj, yj = jnp.asarray(xtr), jnp.asarray(ytr)
    secs = []
    t_step = 0
    for _ in range(cfg["epochs"]):
        perm = rng.permutation(len(ytr))
        t = time.perf_counter()
        for s in range(0, len(ytr), cfg["batch"]):
            ix = jnp.asarray(perm[s:s + cfg["batch"]])
            t_step += 1
            params, state = step(params, state, jnp.float32(t_step), xj[ix], yj[ix])
        jax.block_until_ready(params)
        secs.append(time.perf_counter() - t)
    acc = float(jnp.mean(jnp.argmax(forward(params, jnp.asarray(xte)), 1) == jnp.asarray(yte)))
    return secs, acc


def train_sklearn(cfg, data, seed):
    from sklearn.neural_network import MLPClassifier
    xtr, ytr, xte, yte = data
    kw = dict(hidden_layer_sizes=tuple(cfg["layers"][1:-1]), activation="relu",
              batch_size=cfg["batch"], learning_rate_init=cfg["lr"], random_state=seed,
              shuffle=True, max_iter=1, tol=0.0,
              # sklearn divides alpha·W by the batch size: alpha = λ·batch gives λ·W.
              alpha=cfg["l2"] * cfg["batch"])
    if cfg["opt"] == "sgd":
        kw.update(solver="sgd", momentum=cfg["momentum"], nesterovs_momentum=False,
                  learning_rate="constant")
    else:
        kw.update(solver="adam")
    clf = MLPClassifier(**kw)
    secs = []
    classes = np.arange(10)
    for _ in range(cfg["epochs"]):
        t = time.perf_counter()
        clf.partial_fit(xtr, ytr, classes=classes)
        secs.append(time.perf_counter() - t)
    return secs, float(clf.score(xte, yte))


def train_numpy(cfg, data, seed):
    xtr, ytr, xte, yte = data
    L = cfg["layers"]
    rng = np.random.default_rng(seed)
    W = [he(rng, L[i], L[i + 1]) for i in range(len(L) - 1)]
    B = [np.zeros(L[i + 1], np.float32) for i in range(len(L) - 1)]
    M = [np.zeros_like(p) for p in W + B]
    V = [np.zeros_like(p) for p in W + B]
    lr, mu, l2 = np.float32(cfg["lr"]), np.float32(cfg["momentum"]), np.float32(cfg["l2"])
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)

    def forward(x):
        acts = [x]
        for i in range(len(W)):
            z = acts[-1] @ W[i] + B[i]
            if i < len(W) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        return acts

    secs = []
    t_step = 0
    for _ in range(cfg["epochs"]):
        perm = rng.permutation(len(ytr))
        t = time.perf_counter()
        for s in range(0, len(ytr), cfg["batch"]):
            ix = perm[s:s + cfg["batch"]]
            x, y = xtr[ix], ytr[ix]
            acts = forward(x)
            z = acts[-1]
            z -= z.max(1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(1, keepdims=True)
            z[np.arange(len(y)), y] -= 1
            d = z / np.float32(len(y))
            grads = [None] * (2 * len(W))
            for i in range(len(W) - 1, -1, -1):
                grads[i] = acts[i].T @ d + l2 * W[i]
                grads[len(W) + i] = d.sum(0)
                if i > 0:
                    d = (d @ W[i].T) * (acts[i] > 0)
            t_step += 1
            params = W + B
            for j, (p, g) in enumerate(zip(params, grads)):
                if cfg["opt"] == "sgd":
                    M[j] *= mu
                    M[j] += g
                    p -= lr * M[j]
                else:
                    M[j] *= b1
                    M[j] += (1 - b1) * g
                    V[j] *= b2
                    V[j] += (1 - b2) * g * g
                    c1, c2 = 1 - b1 ** t_step, 1 - b2 ** t_step
                    p -= (lr / c1) * M[j] / (np.sqrt(V[j]) / np.sqrt(c2) + eps)
        secs.append(time.perf_counter() - t)
    acc = float(np.mean(forward(xte)[-1].argmax(1) == yte))
    return secs, acc


def train(quick):
    out = []
    sets = {"digits": digits}
    if os.path.isdir("/usr/share/datasets/fashion-mnist"):
        sets["fashion"] = fashion
    for name, load in sets.items():
        data = load()
        cfg = dict(CONFIGS[name])
        if quick:
            cfg["epochs"] = 5 if name == "digits" else 1
        for impl, f in [("pytorch", train_torch), ("jax", train_jax), ("numpy", train_numpy),
                        ("scikit-learn", train_sklearn)]:
            secs, acc = f(cfg, data, 0)
            # The first epoch of JAX includes compiling; the median leaves it out.
            med = statistics.median(secs)
            print(f"{name} {impl}: {len(data[1]) / med:,.0f} samples/s, test accuracy {acc:.4f}",
                  file=sys.stderr)
            out.append({"kind": "train", "config": name, "impl": impl, "threads": THREADS,
                        "epochs": cfg["epochs"], "epoch_seconds": med,
                        "samples_per_s": len(data[1]) / med, "test_accuracy": acc})
    return out


def main():
    what, path = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    reps = 3 if quick else 11
    results = kernels(reps) if what == "kernels" else train(quick)
    import jax
    import sklearn
    import torch
    doc = {"side": "peers", "threads": THREADS,
           "versions": {"numpy": np.__version__, "torch": torch.__version__,
                        "jax": jax.__version__, "scikit-learn": sklearn.__version__,
                        "python": sys.version.split()[0]},
           "results": results}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
