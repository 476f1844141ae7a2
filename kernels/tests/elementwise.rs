//! Every elementwise kernel × every tier: lengths 0..=3·lanes+1 and larger, unaligned input
//! and output offsets, guard cells around the output (no write outside the slice), in-place
//! equals out-of-place, accuracy against the f64 reference in ULP, and bit-identity of the FMA
//! tiers with Scalar.

#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

mod common;

use common::*;
use sigmo_kernels::{reference, Kernels};

type Run = fn(&Kernels, &[f32], &mut [f32]);
type RunInplace = fn(&Kernels, &mut [f32]);

struct Unary {
    name: &'static str,
    run: Run,
    inplace: RunInplace,
    reference: fn(f32) -> f64,
    max_ulp: f64,
}

fn nan_or(x: f32, f: impl Fn(f64) -> f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else {
        f(f64::from(x))
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
            name: "relu",
            run: |k, x, y| k.relu(x, y),
            inplace: |k, x| k.relu_inplace(x),
            reference: |x| nan_or(x, |v| v.max(0.0)),
            max_ulp: 0.0,
        },
        Unary {
            name: "leaky_relu(0.1)",
            run: |k, x, y| k.leaky_relu(x, y, 0.1),
            inplace: |k, x| k.leaky_relu_inplace(x, 0.1),
            reference: |x| nan_or(x, |v| if v < 0.0 { f64::from(0.1f32) * v } else { v }),
            max_ulp: 0.5,
        },
        Unary {
            name: "elu(1)",
            run: |k, x, y| k.elu(x, y, 1.0),
            inplace: |k, x| k.elu_inplace(x, 1.0),
            reference: |x| reference::elu(x, 1.0),
            max_ulp: 2.0,
        },
        Unary {
            name: "elu(0.5)",
            run: |k, x, y| k.elu(x, y, 0.5),
            inplace: |k, x| k.elu_inplace(x, 0.5),
            reference: |x| reference::elu(x, 0.5),
            max_ulp: 2.0,
        },
        Unary {
            name: "step",
            run: |k, x, y| k.step(x, y),
            inplace: |k, x| k.step_inplace(x),
            reference: |x| nan_or(x, |v| if v > 0.0 { 1.0 } else { 0.0 }),
            max_ulp: 0.0,
        },
        Unary {
            name: "identity",
            run: |k, x, y| k.identity(x, y),
            inplace: |k, x| k.activate_inplace(sigmo_kernels::Activation::Identity, x),
            reference: |x| f64::from(x),
            max_ulp: 0.0,
        },
    ]
}

fn run_guarded(k: &Kernels, run: Run, x: &[f32], out_off: usize) -> Vec<f32> {
    guarded(x.len(), out_off, k.isa().name(), |y| run(k, x, y))
}

#[test]
fn unary_kernels_every_tier_length_and_offset() {
    let scalar = Kernels::new(sigmo_kernels::Isa::Scalar).unwrap();
    for u in unaries() {
        for k in tiers() {
            let l = k.isa().lanes();
            let mut worst = 0.0f64;
            for n in lengths(l) {
                for off in 0..l.max(2) {
                    let data = mixed(n + off, (n * 31 + off) as u64);
                    let x = &data[off..];
                    let y = run_guarded(&k, u.run, x, (off * 7) % l.max(1));
                    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
                        let e = reference::ulp_error(yi, (u.reference)(xi));
                        assert!(
                            e <= u.max_ulp,
                            "{} on {}: x[{i}] = {xi:e} ({:#010x}) gave {yi:e}, {e} ULP > {} (len {n}, offset {off})",
                            u.name,
                            k.isa(),
                            xi.to_bits(),
                            u.max_ulp
                        );
                        worst = worst.max(e);
                    }
                    // In place, at the same unaligned offset, gives the very same bits.
                    let mut z = data.clone();
                    (u.inplace)(&k, &mut z[off..]);
                    for i in 0..n {
                        assert_eq!(
                            z[off + i].to_bits(),
                            y[i].to_bits(),
                            "{} in place on {} differs at {i} (len {n})",
                            u.name,
                            k.isa()
                        );
                    }
                    // FMA tiers give Scalar's bits.
                    if k.isa().has_fma() {
                        let mut s = vec![0.0; n];
                        (u.run)(&scalar, x, &mut s);
                        for i in 0..n {
                            assert_eq!(
                                y[i].to_bits(),
                                s[i].to_bits(),
                                "{} on {} differs from scalar at x = {:e}",
                                u.name,
                                k.isa(),
                                x[i]
                            );
                        }
                    }
                }
            }
            println!("{:>16} {:>7}: max {worst:.3} ULP", u.name, k.isa().name());
        }
    }
}

struct Backward {
    name: &'static str,
    run: fn(&Kernels, &[f32], &[f32], &mut [f32]),
    inplace: fn(&Kernels, &[f32], &mut [f32]),
    reference: fn(f32, f32) -> f64,
    /// Forward outputs y the derivative is taken at.
    y_range: (f32, f32),
    max_ulp: f64,
}

fn backwards() -> Vec<Backward> {
    vec![
        Backward {
            name: "sigmoid_backward",
            run: |k, y, d, o| k.sigmoid_backward(y, d, o),
            inplace: |k, y, d| k.sigmoid_backward_inplace(y, d),
            reference: |y, d| f64::from(d) * f64::from(y) * (1.0 - f64::from(y)),
            y_range: (0.0, 1.0),
            max_ulp: 2.0,
        },
        Backward {
            name: "tanh_backward",
            run: |k, y, d, o| k.tanh_backward(y, d, o),
            inplace: |k, y, d| k.tanh_backward_inplace(y, d),
            reference: |y, d| f64::from(d) * (1.0 - f64::from(y) * f64::from(y)),
            y_range: (-1.0, 1.0),
            max_ulp: 1.5,
        },
        Backward {
            name: "relu_backward",
            run: |k, y, d, o| k.relu_backward(y, d, o),
            inplace: |k, y, d| k.relu_backward_inplace(y, d),
            reference: |y, d| if y > 0.0 { f64::from(d) } else { 0.0 },
            y_range: (-3.0, 3.0),
            max_ulp: 0.0,
        },
        Backward {
            name: "leaky_relu_backward(0.1)",
            run: |k, y, d, o| k.leaky_relu_backward(y, d, o, 0.1),
            inplace: |k, y, d| k.leaky_relu_backward_inplace(y, d, 0.1),
            reference: |y, d| {
                if y > 0.0 {
                    f64::from(d)
                } else {
                    f64::from(d) * f64::from(0.1f32)
                }
            },
            y_range: (-3.0, 3.0),
            max_ulp: 0.5,
        },
        Backward {
            name: "elu_backward(1)",
            run: |k, y, d, o| k.elu_backward(y, d, o, 1.0),
            inplace: |k, y, d| k.elu_backward_inplace(y, d, 1.0),
            reference: |y, d| {
                if y > 0.0 {
                    f64::from(d)
                } else {
                    f64::from(d) * (f64::from(y) + 1.0)
                }
            },
            y_range: (-1.0, 3.0),
            max_ulp: 1.5,
        },
    ]
}

#[test]
fn backward_kernels_every_tier_length_and_offset() {
    let scalar = Kernels::new(sigmo_kernels::Isa::Scalar).unwrap();
    for b in backwards() {
        for k in tiers() {
            let l = k.isa().lanes();
            for n in lengths(l) {
                for off in [0, 1, l.saturating_sub(1)] {
                    let mut r = Rng::new((n * 131 + off) as u64);
                    let y: Vec<f32> = r.vec(n + off, b.y_range.0, b.y_range.1);
                    // dy at another offset; both slices end where their allocations end.
                    let off2 = (off + 1) % l.max(2);
                    let dy: Vec<f32> = r.vec(n + off2, -2.0, 2.0);
                    let (y, dy) = (&y[off..], &dy[off2..]);
                    let dx = guarded(n, (off * 5) % l.max(1), b.name, |o| (b.run)(&k, y, dy, o));
                    for i in 0..n {
                        let e = reference::ulp_error(dx[i], (b.reference)(y[i], dy[i]));
                        assert!(
                            e <= b.max_ulp,
                            "{} on {}: y = {:e}, dy = {:e} gave {:e}: {e} ULP",
                            b.name,
                            k.isa(),
                            y[i],
                            dy[i],
                            dx[i]
                        );
                    }
                    let mut d2 = dy.to_vec();
                    (b.inplace)(&k, y, &mut d2);
                    assert_eq!(hash(&d2), hash(&dx), "{} in place on {}", b.name, k.isa());
                    if k.isa().has_fma() {
                        let mut s = vec![0.0; n];
                        (b.run)(&scalar, y, dy, &mut s);
                        assert_eq!(
                            hash(&s),
                            hash(&dx),
                            "{} on {} differs from scalar",
                            b.name,
                            k.isa()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn activation_enum_matches_the_kernels() {
    use sigmo_kernels::Activation;
    let k = Kernels::best();
    let x = mixed(300, 5);
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Elu(0.7),
        Activation::Step,
        Activation::Maxout(3),
    ];
    for act in acts {
        let mut a = vec![0.0; x.len()];
        let mut b = x.clone();
        k.activate(act, &x, &mut a);
        k.activate_inplace(act, &mut b);
        assert_eq!(hash(&a), hash(&b), "{act}");
        let direct: Vec<f32> = match act {
            Activation::Identity | Activation::Maxout(_) => x.clone(),
            Activation::Sigmoid => {
                let mut v = vec![0.0; x.len()];
                k.sigmoid(&x, &mut v);
                v
            }
            Activation::Tanh => {
                let mut v = vec![0.0; x.len()];
                k.tanh(&x, &mut v);
                v
            }
            Activation::Relu => {
                let mut v = vec![0.0; x.len()];
                k.relu(&x, &mut v);
                v
            }
            Activation::LeakyRelu(al) => {
                let mut v = vec![0.0; x.len()];
                k.leaky_relu(&x, &mut v, al);
                v
            }
            Activation::Elu(al) => {
                let mut v = vec![0.0; x.len()];
                k.elu(&x, &mut v, al);
                v
            }
            Activation::Step => {
                let mut v = vec![0.0; x.len()];
                k.step(&x, &mut v);
                v
            }
        };
        assert_eq!(hash(&a), hash(&direct), "{act}");
        // Backward through the enum: identity passes dy, step gives zeros.
        let dy = Rng::new(9).vec(x.len(), -1.0, 1.0);
        let mut dx = vec![f32::NAN; x.len()];
        k.activate_backward(act, &a, &dy, &mut dx);
        let mut dx2 = dy.clone();
        k.activate_backward_inplace(act, &a, &mut dx2);
        assert_eq!(hash(&dx), hash(&dx2), "{act} backward");
        match act {
            Activation::Identity | Activation::Maxout(_) => assert_eq!(dx, dy),
            Activation::Step => assert!(dx.iter().all(|&v| v == 0.0)),
            _ => {}
        }
    }
    assert_eq!(
        "leaky_relu=0.2".parse::<Activation>().unwrap(),
        Activation::LeakyRelu(0.2)
    );
    assert_eq!("ELU".parse::<Activation>().unwrap(), Activation::Elu(1.0));
    let err = "swish".parse::<Activation>().unwrap_err().to_string();
    assert!(err.contains("swish") && err.contains("relu"), "{err}");
    assert!("elu=-1".parse::<Activation>().is_err());
    assert_eq!(
        "maxout".parse::<Activation>().unwrap(),
        Activation::Maxout(2)
    );
    assert_eq!(
        "Maxout=5".parse::<Activation>().unwrap(),
        Activation::Maxout(5)
    );
    for bad in ["maxout=0", "maxout=1.5", "maxout=-2", "maxout2", "maxout=x"] {
        let err = bad.parse::<Activation>().unwrap_err().to_string();
        assert!(
            err.contains(bad) && err.contains("maxout[=k]"),
            "{bad}: {err}"
        );
    }
    assert_eq!(Activation::Maxout(4).to_string(), "maxout(4)");
}

#[test]
#[should_panic(expected = "input has 3 elements but output has 2")]
fn length_mismatch_panics_with_the_lengths() {
    sigmo_kernels::exp(&[1.0, 2.0, 3.0], &mut [0.0; 2]);
}

#[test]
#[should_panic(expected = "elements")]
fn backward_length_mismatch_panics() {
    let k = Kernels::best();
    k.sigmoid_backward(&[0.5; 4], &[1.0; 3], &mut [0.0; 4]);
}

#[test]
fn streaming_stores_for_long_outputs_at_every_output_offset() {
    // Out-of-place maps from STREAM_MIN_LEN elements use non-temporal stores after a peeled,
    // partial head; check the head, body, tail and guards at every output alignment.
    for k in tiers() {
        let l = k.isa().lanes();
        let n = sigmo_kernels::STREAM_MIN_LEN + l + 1;
        let x = Rng::new(42).vec(n, -20.0, 20.0);
        let mut want = x.clone();
        k.exp_inplace(&mut want);
        for out_off in 0..l.max(1) {
            let y = guarded(n, out_off, k.isa().name(), |y| k.exp(&x, y));
            assert!(
                hash(&y) == hash(&want),
                "{}: streamed exp differs from in-place at offset {out_off}",
                k.isa()
            );
        }
        let y = guarded(n, 1, k.isa().name(), |y| k.relu(&x, y));
        assert!(y.iter().zip(&x).all(|(a, b)| *a == b.max(0.0)));
    }
}

#[test]
fn bias_activate_equals_add_then_activate_on_every_tier() {
    use sigmo_kernels::Activation;
    let acts = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::LeakyRelu(0.0),
        Activation::Elu(1.0),
        Activation::Step,
    ];
    for k in tiers() {
        let l = k.isa().lanes();
        for act in acts {
            for n in lengths(l) {
                let off = n % l.max(2);
                let data = mixed(n + off, n as u64 + 1);
                let bias = Rng::new(n as u64).vec(n, -3.0, 3.0);
                let mut fused = data.clone();
                k.bias_activate_inplace(&mut fused[off..], &bias, act);
                let mut two: Vec<f32> = data[off..].iter().zip(&bias).map(|(x, b)| x + b).collect();
                k.activate_inplace(act, &mut two);
                assert_eq!(
                    hash(&fused[off..]),
                    hash(&two),
                    "{act} on {} (len {n})",
                    k.isa()
                );
                assert_eq!(
                    hash(&fused[..off]),
                    hash(&data[..off]),
                    "wrote before the slice"
                );
            }
        }
    }
}
