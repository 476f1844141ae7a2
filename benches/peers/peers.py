#!/usr/bin/env python3
"""One Python peer, one measurement group, one process (harness.py starts it):

    peers.py kernels LIB CASES_DIR OUT.json [--reps R]
    peers.py train LIB CONFIG OUT.json --init INIT.f32 [--quick]

LIB is numpy, pytorch, jax or scikit-learn; CONFIG is W, N or digits (common.CONFIGS). The
process imports that library alone (numpy carries the data for all of them). The thread
count comes from the environment, which harness.py sets for this process only
(OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS, XLA_FLAGS); PyTorch is also told
torch.set_num_threads(). Kernel outputs are written beside the inputs for harness.py to
check against one f64 reference.
"""
import json
import os
import sys
import time

import numpy as np

import common

THREADS = int(os.environ.get("OMP_NUM_THREADS", "1"))


# ---------------------------------------------------------------- kernels

def kernel_fns(lib):
    """op → f(x, y) computing the op of x and returning it: into y where the library has
    `out=`; JAX returns a new array (and leaves y alone)."""
    if lib == "numpy":
        import scipy.special

        def np_softmax(x, y):
            m = x.max(axis=1, keepdims=True)
            np.subtract(x, m, out=y)
            np.exp(y, out=y)
            y /= y.sum(axis=1, keepdims=True)
            return y

        def np_log_softmax(x, y):
            m = x.max(axis=1, keepdims=True)
            np.subtract(x, m, out=y)
            s = np.log(np.exp(y).sum(axis=1, keepdims=True))
            y -= s
            return y

        return {
            "exp": lambda x, y: np.exp(x, out=y),
            "sigmoid": lambda x, y: scipy.special.expit(x, out=y),
            "tanh": lambda x, y: np.tanh(x, out=y),
            "softmax_rows": np_softmax,
            "log_softmax_rows": np_log_softmax,
        }, "numpy " + np.__version__
    if lib == "pytorch":
        import torch
        torch.set_num_threads(THREADS)
        t = torch.from_numpy
        return {
            "exp": lambda x, y: torch.exp(t(x), out=t(y)),
            "sigmoid": lambda x, y: torch.sigmoid(t(x), out=t(y)),
            "tanh": lambda x, y: torch.tanh(t(x), out=t(y)),
            "softmax_rows": lambda x, y: torch._softmax(t(x), 1, False, out=t(y)),
            "log_softmax_rows": lambda x, y: torch._log_softmax(t(x), 1, False, out=t(y)),
        }, "torch " + torch.__version__
    if lib == "jax":
        import jax
        import jax.numpy as jnp
        fns = {
            "exp": jax.jit(jnp.exp),
            "sigmoid": jax.jit(jax.nn.sigmoid),
            "tanh": jax.jit(jnp.tanh),
            "softmax_rows": jax.jit(lambda x: jax.nn.softmax(x, axis=1)),
            "log_softmax_rows": jax.jit(lambda x: jax.nn.log_softmax(x, axis=1)),
        }
        return {op: (lambda f: lambda jx, y: f(jx).block_until_ready())(f)
                for op, f in fns.items()}, "jax " + jax.__version__
    raise SystemExit(f"peers.py: no kernels for {lib}")


def kernels(lib, folder, out, reps):
    fns, version = kernel_fns(lib)
    outdir = os.path.join(folder, "out", lib)
    os.makedirs(outdir, exist_ok=True)
    recs = []
    for c in common.read_cases(folder):
        x = c["x"]
        if c["op"] in ("exp", "sigmoid", "tanh"):
            x = x.ravel()
        y = np.empty_like(x)
        f = fns[c["op"]]
        arg = x
        if lib == "jax":
            import jax.numpy as jnp
            arg = jnp.asarray(x)
        s = common.timeit(lambda: f(arg, y), reps)
        y = np.asarray(f(arg, y))
        y.astype(np.float32).tofile(os.path.join(outdir, common.file_name(c["name"])))
        recs.append({"name": c["name"], "impl": lib, "threads": THREADS, "seconds": s,
                     "elements": int(x.size)})
    write(out, recs, version)


# ---------------------------------------------------------------- training

def train_torch(cfg, data, rng):
    import torch
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in data)
    layers = []
    for w, b in cfg["init_params"]:
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
    mods = []
    for i, lin in enumerate(layers):
        mods.append(lin)
        if cfg["act"] == "sigmoid":
            mods.append(torch.nn.Sigmoid())
        elif i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods)
    weights = [m.weight for m in layers]
    biases = [m.bias for m in layers]
    groups = [{"params": weights, "weight_decay": cfg["l2"]},
              {"params": biases, "weight_decay": 0.0}]
    if cfg["opt"] == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"])
    else:
        opt = torch.optim.Adam(groups, lr=cfg["lr"])
    if cfg["loss"] == "quadratic":
        eye = torch.eye(10)

        def lossf(a, y):
            return 0.5 * ((a - eye[y]) ** 2).sum(1).mean()
    else:
        lossf = torch.nn.CrossEntropyLoss()
    secs = []
    for _ in range(cfg["epochs"]):
        perm = torch.from_numpy(rng.permutation(len(ytr)))
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


def train_jax(cfg, data, rng):
    import jax
    import jax.numpy as jnp
    xtr, ytr, xte, yte = data
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in cfg["init_params"]]
    sigmoid_net = cfg["act"] == "sigmoid"

    def forward(p, x):
        for w, b in p[:-1]:
            z = x @ w + b
            x = jax.nn.sigmoid(z) if sigmoid_net else jax.nn.relu(z)
        w, b = p[-1]
        z = x @ w + b
        return jax.nn.sigmoid(z) if sigmoid_net else z

    def loss(p, x, y):
        out = forward(p, x)
        if cfg["loss"] == "quadratic":
            return 0.5 * jnp.mean(jnp.sum((out - jax.nn.one_hot(y, 10)) ** 2, axis=1))
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(out), y[:, None], 1))

    lr, mu, l2 = cfg["lr"], cfg["momentum"], cfg["l2"]
    if cfg["opt"] == "sgd":
        state = [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in params]

        @jax.jit
        def step(p, st, t, xs, ys, ix):
            # The batch is gathered inside the compiled step: one dispatch per step.
            x, y = xs[ix], ys[ix]
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
        def step(p, st, t, xs, ys, ix):
            x, y = xs[ix], ys[ix]
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
            ix = perm[s:s + cfg["batch"]]
            t_step += 1
            params, state = step(params, state, np.float32(t_step), xj, yj, ix)
        jax.block_until_ready(params)
        secs.append(time.perf_counter() - t)
    acc = float(jnp.mean(jnp.argmax(forward(params, jnp.asarray(xte)), 1) == jnp.asarray(yte)))
    return secs, acc


def train_sklearn(cfg, data, rng):
    from sklearn.neural_network import MLPClassifier
    if cfg["loss"] == "quadratic":
        raise SystemExit("scikit-learn cannot express a quadratic loss on sigmoid outputs")
    xtr, ytr, xte, yte = data
    kw = dict(hidden_layer_sizes=tuple(cfg["layers"][1:-1]), activation="relu",
              batch_size=cfg["batch"], learning_rate_init=cfg["lr"], random_state=0,
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


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def train_numpy(cfg, data, rng):
    xtr, ytr, xte, yte = data
    ps = cfg["init_params"]
    W = [w for w, _ in ps]
    B = [b for _, b in ps]
    M = [np.zeros_like(p) for p in W + B]
    V = [np.zeros_like(p) for p in W + B]
    lr, mu, l2 = np.float32(cfg["lr"]), np.float32(cfg["momentum"]), np.float32(cfg["l2"])
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    sig = cfg["act"] == "sigmoid"
    eye = np.eye(10, dtype=np.float32)

    def forward(x):
        acts = [x]
        for i in range(len(W)):
            z = acts[-1] @ W[i] + B[i]
            if sig:
                z = sigmoid(z)
            elif i < len(W) - 1:
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
            a = acts[-1]
            if cfg["loss"] == "quadratic":
                d = (a - eye[y]) * a * (1 - a) / np.float32(len(y))
            else:
                a -= a.max(1, keepdims=True)
                np.exp(a, out=a)
                a /= a.sum(1, keepdims=True)
                a[np.arange(len(y)), y] -= 1
                d = a / np.float32(len(y))
            grads = [None] * (2 * len(W))
            for i in range(len(W) - 1, -1, -1):
                grads[i] = acts[i].T @ d
                if l2:
                    grads[i] += l2 * W[i]
                grads[len(W) + i] = d.sum(0)
                if i > 0:
                    d = d @ W[i].T
                    d *= acts[i] * (1 - acts[i]) if sig else (acts[i] > 0)
            t_step += 1
            params = W + B
            for j, (p, g) in enumerate(zip(params, grads)):
                if cfg["opt"] == "sgd" and not mu:
                    p -= lr * g
                elif cfg["opt"] == "sgd":
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


TRAINERS = {"pytorch": train_torch, "jax": train_jax, "numpy": train_numpy,
            "scikit-learn": train_sklearn}


def version(lib):
    mod = {"pytorch": "torch", "scikit-learn": "sklearn"}.get(lib, lib)
    return f"{lib} {__import__(mod).__version__}"


def train(lib, config, out, init, quick):
    cfg = dict(common.CONFIGS[config])
    cfg["epochs"] = common.epochs_of(config, quick)
    cfg["init_params"] = common.read_init(init, cfg)
    data = common.load(config)
    secs, acc = TRAINERS[lib](cfg, data, np.random.default_rng(0))
    rate = common.epoch_rate(len(data[1]), secs)
    print(f"{config} {lib} {THREADS} thread(s): {rate:,.0f} samples/s, test accuracy {acc:.4f}",
          file=sys.stderr)
    write(out, [{"name": config, "impl": lib, "threads": THREADS, "samples_per_s": rate,
                 "accuracy": acc, "epochs": cfg["epochs"], "epoch_seconds": secs}], version(lib))


def write(path, recs, version):
    with open(path, "w") as f:
        json.dump({"version": version, "results": recs}, f, indent=1)


def main():
    args = sys.argv[1:]
    if len(args) < 4 or args[0] not in ("kernels", "train"):
        raise SystemExit(__doc__)
    what, lib = args[0], args[1]
    if what == "kernels":
        reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 11
        kernels(lib, args[2], args[3], reps)
    else:
        train(lib, args[2], args[3], args[args.index("--init") + 1], "--quick" in args)


if __name__ == "__main__":
    main()
