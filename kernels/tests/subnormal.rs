//! No subnormal arithmetic: on every tier, every kernel, over the inputs that drive today's
//! f32 kernels into subnormals (exp of −87…−104 and of masks, saturated sigmoid/tanh/ELU, tiny
//! normal inputs, softmax rows with masked or far-apart entries, short rows with padding lanes,
//! multi-chunk rows), the MXCSR flags DE (denormal operand) and UE (underflow) stay clear, and
//! the results still meet the documented bounds against the f64 references.
//!
//! Each check clears the flags, runs one kernel call, reads the flags. Failures are collected,
//! grouped by tier, kernel and input class, and reported together.

#![cfg(target_arch = "x86_64")]
#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

mod common;

use common::*;
use sigmo_kernels::{fpflags, reference, Activation, Kernels};
use std::collections::BTreeMap;

/// Failures grouped by (tier, kernel, class): how many calls raised DE/UE, and the lengths or
/// inputs of the first few.
#[derive(Default)]
struct Report {
    flags: BTreeMap<String, (usize, Vec<String>)>,
    wrong: Vec<String>,
}

impl Report {
    /// Runs `f` between a clear and a read of the flags; records DE/UE under `key`, with `at`.
    fn run(&mut self, key: &str, at: impl Fn() -> String, f: impl FnOnce()) {
        fpflags::clear();
        f();
        let fl = fpflags::read().expect("x86-64 has MXCSR");
        if fl.subnormal() {
            let e = self.flags.entry(key.to_string()).or_default();
            e.0 += 1;
            if e.1.len() < 4 {
                e.1.push(format!("{} [{fl}]", at()));
            }
        }
    }

    fn wrong(&mut self, msg: String) {
        if self.wrong.len() < 40 {
            self.wrong.push(msg);
        }
    }

    fn finish(self, what: &str) {
        let mut text = String::new();
        for (k, (n, at)) in &self.flags {
            text += &format!("  DE/UE: {k}: {n} calls, e.g. {}\n", at.join("; "));
        }
        for w in &self.wrong {
            text += &format!("  wrong: {w}\n");
        }
        assert!(text.is_empty(), "{what}:\n{text}");
    }
}

fn linspace(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
        .collect()
}

/// The elementwise input classes (all normal, ±0, ±∞: no subnormal input).
fn classes() -> Vec<(&'static str, Vec<f32>)> {
    let mut sub = linspace(-103.97, -87.3, 601);
    sub.extend([
        f32::NEG_INFINITY,
        -1e9,
        -104.0,
        -110.0,
        -120.0,
        -150.0,
        -103.972_08,
        -87.336_55,
    ]);
    let mut sat = linspace(15.0, 104.0, 357);
    sat.extend([1e9, f32::INFINITY, f32::MAX, 60.0, 88.0, 103.0]);
    let neg: Vec<f32> = sat.iter().map(|v| -v).collect();
    sat.extend(neg);
    let tiny_pos = [
        1e-30,
        f32::MIN_POSITIVE,
        1e-20,
        2.0 * f32::MIN_POSITIVE,
        1.5e-38,
        3e-37,
        1e-35,
        1e-25,
        1e-15,
        1e-10,
    ];
    let mut tiny: Vec<f32> = tiny_pos.to_vec();
    tiny.extend(tiny_pos.iter().map(|v| -v));
    let ramp = linspace(-10.0, 10.0, 401);
    vec![
        ("subnormal-exp", sub),
        ("saturated", sat),
        ("tiny", tiny),
        ("ramp", ramp),
    ]
}

type Run = fn(&Kernels, &[f32], &mut [f32]);
type Inplace = fn(&Kernels, &mut [f32]);

struct Unary {
    name: &'static str,
    run: Run,
    inplace: Inplace,
    reference: fn(f32) -> f64,
    max_ulp: f64,
}

fn leaky(x: f32, a: f32) -> f64 {
    if x < 0.0 {
        f64::from(a) * f64::from(x)
    } else {
        f64::from(x)
    }
}

fn unaries() -> Vec<Unary> {
    vec![
        Unary {
            name: "exp",
            run: |k, x, y| k.exp(x, y),
            inplace: |k, x| k.exp_inplace(x),
            reference: reference::exp,
            max_ulp: 1.0,
        },
        Unary {
            name: "sigmoid",
            run: |k, x, y| k.sigmoid(x, y),
            inplace: |k, x| k.sigmoid_inplace(x),
            reference: reference::sigmoid,
            max_ulp: 1.5,
        },
        Unary {
            name: "tanh",
            run: |k, x, y| k.tanh(x, y),
            inplace: |k, x| k.tanh_inplace(x),
            reference: reference::tanh,
            max_ulp: 2.0,
        },
        Unary {
            name: "elu(1)",
            run: |k, x, y| k.elu(x, y, 1.0),
            inplace: |k, x| k.elu_inplace(x, 1.0),
            reference: |x| reference::elu(x, 1.0),
            max_ulp: 2.0,
        },
        Unary {
            name: "elu(0.01)",
            run: |k, x, y| k.elu(x, y, 0.01),
            inplace: |k, x| k.elu_inplace(x, 0.01),
            reference: |x| reference::elu(x, 0.01),
            max_ulp: 2.0,
        },
        Unary {
            name: "leaky_relu(0.01)",
            run: |k, x, y| k.leaky_relu(x, y, 0.01),
            inplace: |k, x| k.leaky_relu_inplace(x, 0.01),
            reference: |x| leaky(x, 0.01),
            max_ulp: 0.5,
        },
        Unary {
            name: "leaky_relu(0)",
            run: |k, x, y| k.leaky_relu(x, y, 0.0),
            inplace: |k, x| k.leaky_relu_inplace(x, 0.0),
            reference: |x| f64::from(x).max(0.0),
            max_ulp: 0.0,
        },
        Unary {
            name: "relu",
            run: |k, x, y| k.relu(x, y),
            inplace: |k, x| k.relu_inplace(x),
            reference: |x| f64::from(x).max(0.0),
            max_ulp: 0.0,
        },
        Unary {
            name: "step",
            run: |k, x, y| k.step(x, y),
            inplace: |k, x| k.step_inplace(x),
            reference: |x| if x > 0.0 { 1.0 } else { 0.0 },
            max_ulp: 0.0,
        },
        Unary {
            name: "identity",
            run: |k, x, y| k.identity(x, y),
            inplace: |k, x| k.identity_inplace(x),
            reference: f64::from,
            max_ulp: 0.0,
        },
    ]
}

/// Checks `got` against the f64 reference of `x` within `max_ulp`.
fn check_unary(r: &mut Report, what: &str, x: &[f32], got: &[f32], u: &Unary) {
    for i in 0..x.len() {
        let want = (u.reference)(x[i]);
        let e = reference::ulp_error(got[i], want);
        if e > u.max_ulp {
            r.wrong(format!(
                "{what}: x = {:e} gives {:e}, want {want:e} ({e} ULP)",
                x[i], got[i]
            ));
        }
    }
}

#[test]
fn elementwise_kernels_raise_no_de_or_ue() {
    let mut r = Report::default();
    for k in tiers() {
        for (class, x) in classes() {
            for u in unaries() {
                let key = format!("{} {} on {class}", k.isa(), u.name);
                // The whole class at once (full registers and a tail), out of place and in place.
                let mut y = vec![0.0f32; x.len()];
                r.run(
                    &key,
                    || format!("len {}", x.len()),
                    || (u.run)(&k, &x, &mut y),
                );
                check_unary(&mut r, &key, &x, &y, &u);
                let mut z = x.clone();
                r.run(
                    &key,
                    || format!("in place, len {}", x.len()),
                    || (u.inplace)(&k, &mut z),
                );
                check_unary(&mut r, &format!("{key} in place"), &x, &z, &u);
                // Every element alone: one partial register whose other lanes are padding.
                for &v in &x {
                    let mut y1 = [0.0f32];
                    r.run(
                        &key,
                        || format!("x = {v:e} alone"),
                        || (u.run)(&k, &[v], &mut y1),
                    );
                }
            }
        }
    }
    r.finish("elementwise kernels");
}

struct Backward {
    name: &'static str,
    run: fn(&Kernels, &[f32], &[f32], &mut [f32]),
    inplace: fn(&Kernels, &[f32], &mut [f32]),
    /// The forward kernel whose outputs are the `y` inputs.
    forward: Run,
    reference: fn(f32, f32) -> f64,
    max_ulp: f64,
}

fn backwards() -> Vec<Backward> {
    vec![
        Backward {
            name: "sigmoid_backward",
            run: |k, y, d, o| k.sigmoid_backward(y, d, o),
            inplace: |k, y, d| k.sigmoid_backward_inplace(y, d),
            forward: |k, x, y| k.sigmoid(x, y),
            reference: |y, d| f64::from(d) * f64::from(y) * (1.0 - f64::from(y)),
            max_ulp: 2.0,
        },
        Backward {
            name: "tanh_backward",
            run: |k, y, d, o| k.tanh_backward(y, d, o),
            inplace: |k, y, d| k.tanh_backward_inplace(y, d),
            forward: |k, x, y| k.tanh(x, y),
            reference: |y, d| f64::from(d) * (1.0 - f64::from(y) * f64::from(y)),
            max_ulp: 1.5,
        },
        Backward {
            name: "relu_backward",
            run: |k, y, d, o| k.relu_backward(y, d, o),
            inplace: |k, y, d| k.relu_backward_inplace(y, d),
            forward: |k, x, y| k.relu(x, y),
            reference: |y, d| if y > 0.0 { f64::from(d) } else { 0.0 },
            max_ulp: 0.0,
        },
        Backward {
            name: "leaky_relu_backward(0.01)",
            run: |k, y, d, o| k.leaky_relu_backward(y, d, o, 0.01),
            inplace: |k, y, d| k.leaky_relu_backward_inplace(y, d, 0.01),
            forward: |k, x, y| k.leaky_relu(x, y, 0.01),
            reference: |y, d| {
                if y > 0.0 {
                    f64::from(d)
                } else {
                    f64::from(d) * f64::from(0.01f32)
                }
            },
            max_ulp: 0.5,
        },
        Backward {
            name: "elu_backward(1)",
            run: |k, y, d, o| k.elu_backward(y, d, o, 1.0),
            inplace: |k, y, d| k.elu_backward_inplace(y, d, 1.0),
            forward: |k, x, y| k.elu(x, y, 1.0),
            reference: |y, d| {
                if y > 0.0 {
                    f64::from(d)
                } else {
                    f64::from(d) * (f64::from(y) + 1.0)
                }
            },
            max_ulp: 1.5,
        },
    ]
}

#[test]
fn backward_kernels_raise_no_de_or_ue() {
    let mut r = Report::default();
    let scalar = Kernels::new(sigmo_kernels::Isa::Scalar).unwrap();
    for k in tiers() {
        for b in backwards() {
            for (class, x) in classes() {
                // y: the forward outputs of the class (the subnormal ones dropped: a subnormal
                // input is exempt), with gradients of ordinary size.
                let mut y = vec![0.0f32; x.len()];
                (b.forward)(&scalar, &x, &mut y);
                let y: Vec<f32> = y.into_iter().filter(|v| !v.is_subnormal()).collect();
                let dy: Vec<f32> = (0..y.len())
                    .map(|i| [1.0, -2.5, 0.75, 3.0][i % 4])
                    .collect();
                let key = format!("{} {} on y = f({class})", k.isa(), b.name);
                let mut dx = vec![0.0f32; y.len()];
                r.run(
                    &key,
                    || format!("len {}", y.len()),
                    || (b.run)(&k, &y, &dy, &mut dx),
                );
                let mut dd = dy.clone();
                r.run(
                    &key,
                    || format!("in place, len {}", y.len()),
                    || (b.inplace)(&k, &y, &mut dd),
                );
                // Without FMA, 1 − y² = (1 − y)(1 + y) rounds three times: up to 2 ULP near |y| = 1
                // (as before this test; the random y of elementwise.rs stay within 1.5).
                let bound = if !k.isa().has_fma() && b.name == "tanh_backward" {
                    2.0
                } else {
                    b.max_ulp
                };
                for i in 0..y.len() {
                    let want = (b.reference)(y[i], dy[i]);
                    for (got, how) in [(dx[i], ""), (dd[i], " in place")] {
                        let e = reference::ulp_error(got, want);
                        if e > bound {
                            r.wrong(format!(
                                "{key}{how}: y = {:e}, dy = {:e} gives {got:e}, want {want:e}",
                                y[i], dy[i]
                            ));
                        }
                    }
                }
            }
        }
    }
    r.finish("backward kernels");
}

type RowFn = fn(&Kernels, &[f32], &mut [f32]);
type RowInplace = fn(&Kernels, &mut [f32]);

/// Every softmax entry point, as a function of one row (the `_rows` forms get 3 copies of it).
fn softmaxes() -> Vec<(&'static str, bool, RowFn, RowInplace)> {
    vec![
        (
            "softmax",
            false,
            |k, x, y| k.softmax(x, y),
            |k, x| k.softmax_inplace(x),
        ),
        (
            "softmax_online",
            false,
            |k, x, y| k.softmax_online(x, y),
            |k, x| k.softmax_online_inplace(x),
        ),
        (
            "log_softmax",
            true,
            |k, x, y| k.log_softmax(x, y),
            |k, x| k.log_softmax_inplace(x),
        ),
        (
            "softmax_rows",
            false,
            |k, x, y| rows3(x, y, |a, b| k.softmax_rows(a, x.len(), b)),
            |k, x| rows3_inplace(x, |a, n| k.softmax_rows_inplace(a, n)),
        ),
        (
            "softmax_online_rows",
            false,
            |k, x, y| rows3(x, y, |a, b| k.softmax_online_rows(a, x.len(), b)),
            |k, x| rows3_inplace(x, |a, n| k.softmax_online_rows_inplace(a, n)),
        ),
        (
            "log_softmax_rows",
            true,
            |k, x, y| rows3(x, y, |a, b| k.log_softmax_rows(a, x.len(), b)),
            |k, x| rows3_inplace(x, |a, n| k.log_softmax_rows_inplace(a, n)),
        ),
    ]
}

/// Three copies of the row `x` as a matrix, through `f`; the last row's output into `y`.
fn rows3(x: &[f32], y: &mut [f32], f: impl FnOnce(&[f32], &mut [f32])) {
    let m: Vec<f32> = x.iter().chain(x).chain(x).copied().collect();
    let mut out = vec![0.0f32; m.len()];
    f(&m, &mut out);
    y.copy_from_slice(&out[2 * x.len()..]);
}

fn rows3_inplace(x: &mut [f32], f: impl FnOnce(&mut [f32], usize)) {
    let mut m: Vec<f32> = x.iter().chain(x.iter()).chain(x.iter()).copied().collect();
    let n = x.len();
    f(&mut m, n);
    x.copy_from_slice(&m[2 * n..]);
}

/// Softmax rows of length `n` for each row class.
fn row_classes(n: usize) -> Vec<(&'static str, Vec<f32>)> {
    let ramp = |i: usize| ((i * 7919) % 2001) as f32 / 100.0 - 10.0;
    let masked = |fill: f32| -> Vec<f32> {
        (0..n)
            .map(|i| if i % 2 == 1 { fill } else { ramp(i) })
            .collect()
    };
    let cycle = |pat: &[f32]| -> Vec<f32> { (0..n).map(|i| pat[i % pat.len()]).collect() };
    vec![
        ("ramp", (0..n).map(ramp).collect()),
        ("half -inf", masked(f32::NEG_INFINITY)),
        ("half -1e9", masked(-1e9)),
        (
            "spread [0,-100,-1000,-1e6]",
            cycle(&[0.0, -100.0, -1000.0, -1e6]),
        ),
        (
            "subnormal entries",
            cycle(&[0.0, -87.5, -90.0, -95.0, -100.0, -103.9, -103.97, -104.5]),
        ),
        (
            "tiny-normal entries",
            cycle(&[0.0, -70.0, -75.5, -80.0, -86.0, -87.0]),
        ),
        (
            "mixed masks",
            cycle(&[3.0, f32::NEG_INFINITY, -1e9, -95.0, 2.0, -40.0, f32::MIN]),
        ),
    ]
}

/// Multi-chunk rows (the online normalizer merges 1024-element chunks) with far-apart maxima.
fn long_rows() -> Vec<(&'static str, Vec<f32>)> {
    let chunked = |maxima: &[f32], fill: f32| -> Vec<f32> {
        let mut v = Vec::new();
        for &m in maxima {
            v.extend((0..1024).map(|i| if i % 97 == 5 { m } else { fill.min(m - 1.0) }));
        }
        v.extend([maxima[0] - 3.0; 77]);
        v
    };
    vec![
        (
            "chunk maxima 0,-1000,1000",
            chunked(&[0.0, -1000.0, 1000.0], -1e6),
        ),
        (
            "chunk maxima 1000,0,-1000",
            chunked(&[1000.0, 0.0, -1000.0], -1e6),
        ),
        (
            "chunk maxima 0,-90,-800,0",
            chunked(&[0.0, -90.0, -800.0, 0.0], -95.0),
        ),
        (
            "chunk maxima 5,-100 masked",
            chunked(&[5.0, -100.0, 4.0], f32::NEG_INFINITY),
        ),
        ("chunk maxima -80 spread", chunked(&[0.0, 0.0, 0.0], -80.0)),
        ("long -1e9 masked", {
            let mut v = vec![-1e9f32; 3000];
            for i in (0..3000).step_by(3) {
                v[i] = (i % 13) as f32;
            }
            v
        }),
    ]
}

fn check_row(r: &mut Report, what: &str, log: bool, x: &[f32], y: &[f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let want = if log {
        reference::log_softmax(x)
    } else {
        reference::softmax(x)
    };
    for i in 0..x.len() {
        let (g, w) = (f64::from(y[i]), want[i]);
        let d = x[i] - m;
        let inexact = f64::from(d) != f64::from(x[i]) - f64::from(m);
        let ok = if w.is_infinite() || g.is_infinite() {
            g == w
        } else if log {
            // 2 ULP plus what ln S inherits from the f32 exponentials, plus the rounding of
            // x − m where inexact.
            let slack = if inexact {
                f64::from(d.abs()) * 2f64.powi(-24)
            } else {
                0.0
            };
            (g - w).abs() <= 2.0 * reference::ulp_of(w) + 2f64.powi(-23) + slack
        } else {
            let slack = if inexact {
                f64::from(d.abs()) * 2f64.powi(-24)
            } else {
                0.0
            };
            (g - w).abs() <= (1e-6 + slack) * w + 1e-40
        };
        if !ok {
            r.wrong(format!(
                "{what}: element {i} of {} (x = {:e}) is {g:e}, want {w:e}",
                x.len(),
                x[i]
            ));
        }
    }
}

#[test]
fn softmax_kernels_raise_no_de_or_ue() {
    let mut r = Report::default();
    for k in tiers() {
        let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
        for n in 1..=40 {
            for (c, x) in row_classes(n) {
                rows.push((c.to_string(), x));
            }
        }
        for (c, x) in long_rows() {
            rows.push((c.to_string(), x));
        }
        for (class, x) in &rows {
            for (name, log, f, finplace) in softmaxes() {
                let key = format!("{} {name} on {class}", k.isa());
                let n = x.len();
                let mut y = vec![0.0f32; n];
                r.run(&key, || format!("len {n}"), || f(&k, x, &mut y));
                check_row(&mut r, &format!("{key} (len {n})"), log, x, &y);
                let mut z = x.clone();
                r.run(
                    &key,
                    || format!("in place, len {n}"),
                    || finplace(&k, &mut z),
                );
                check_row(&mut r, &format!("{key} in place (len {n})"), log, x, &z);
            }
        }
    }
    r.finish("softmax kernels");
}

#[test]
fn fused_epilogue_raises_no_de_or_ue() {
    let mut r = Report::default();
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::LeakyRelu(0.0),
        Activation::Elu(1.0),
        Activation::Elu(0.01),
        Activation::Step,
    ];
    for k in tiers() {
        for (class, x) in classes() {
            // Zero bias (x itself reaches the activation) and a bias that shifts by ±0.5.
            let zero = vec![0.0f32; x.len()];
            let half: Vec<f32> = (0..x.len())
                .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
                .collect();
            for (bname, bias) in [("0", &zero), ("±0.5", &half)] {
                for act in acts {
                    let key = format!(
                        "{} bias_activate_inplace({act}) on {class} + {bname}",
                        k.isa()
                    );
                    let mut v = x.clone();
                    r.run(
                        &key,
                        || format!("len {}", x.len()),
                        || k.bias_activate_inplace(&mut v, bias, act),
                    );
                    // Same bits as add-then-activate (on the tier itself).
                    let mut two: Vec<f32> = x.iter().zip(bias.iter()).map(|(a, b)| a + b).collect();
                    k.activate_inplace(act, &mut two);
                    if hash(&v) != hash(&two) {
                        r.wrong(format!("{key}: differs from add-then-activate"));
                    }
                    for (i, &xv) in x.iter().enumerate() {
                        let mut one = [xv];
                        r.run(
                            &key,
                            || format!("x = {xv:e} alone"),
                            || k.bias_activate_inplace(&mut one, &bias[i..i + 1], act),
                        );
                    }
                }
            }
        }
    }
    r.finish("fused bias + activation epilogue");
}

#[test]
fn reductions_raise_no_de_or_ue() {
    let mut r = Report::default();
    for k in tiers() {
        for (class, x) in classes() {
            for n in [1, 2, 3, 5, 8, 13, 16, 17, 31, x.len()] {
                let x = &x[..n.min(x.len())];
                let n = x.len();
                let key = |f: &str| format!("{} {f} on {class}", k.isa());
                let mut got = 0.0f32;
                r.run(&key("sum"), || format!("len {n}"), || got = k.sum(x));
                let want: f64 = x.iter().map(|&v| f64::from(v)).sum();
                let mag: f64 = x.iter().map(|&v| f64::from(v).abs()).sum();
                if want.is_finite() && (f64::from(got) - want).abs() > 2f64.powi(-23) * mag {
                    r.wrong(format!("{}: len {n}: {got:e} vs {want:e}", key("sum")));
                }
                r.run(&key("max"), || format!("len {n}"), || got = k.max(x));
                let want = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                if got != want {
                    r.wrong(format!("{}: len {n}: {got:e} vs {want:e}", key("max")));
                }
                // Products by 1 and 2 (exact), so that no correct result is subnormal.
                let ones = vec![1.0f32; n];
                r.run(&key("dot"), || format!("len {n}"), || got = k.dot(x, &ones));
                let want: f64 = x.iter().map(|&v| f64::from(v)).sum();
                if want.is_finite()
                    && (f64::from(got) - want).abs() > n as f64 * 2f64.powi(-23) * mag
                {
                    r.wrong(format!("{}: len {n}: {got:e} vs {want:e}", key("dot")));
                }
                let mut y = ones.clone();
                r.run(
                    &key("axpy"),
                    || format!("len {n}"),
                    || k.axpy(2.0, x, &mut y),
                );
                for i in 0..n {
                    let want = 2.0 * f64::from(x[i]) + 1.0;
                    if reference::ulp_error(y[i], want) > 0.5 {
                        r.wrong(format!("{}: x = {:e}: {:e}", key("axpy"), x[i], y[i]));
                    }
                }
            }
        }
    }
    r.finish("reductions");
}
