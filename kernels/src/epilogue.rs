//! The layer epilogue: x ← f(x + b) for one row x of a layer's output and its bias b, in one
//! pass (the sum rounds once, then the activation runs on it exactly as its own kernel does).
//! Maxout's pieces get the bias alone (the identity): `maxout_rows` reduces them afterwards.

use crate::activation::Activation;
use crate::drive::map2_inplace;
use crate::relu::{elu_v, leaky_relu_v, relu_v, step_v};
use crate::sigmoid::sigmoid_v;
use crate::simd::Simd;
use crate::tanh::tanh_v;

/// x ← act(x + bias). Panics if the lengths differ.
#[inline(always)]
pub(crate) fn bias_activate_inplace<S: Simd>(s: S, x: &mut [f32], bias: &[f32], act: Activation) {
    match act {
        Activation::Identity | Activation::Maxout(_) => {
            map2_inplace!(s, bias, x, |b, v| s.add(v, b))
        }
        Activation::Sigmoid => map2_inplace!(s, bias, x, |b, v| sigmoid_v(s, s.add(v, b))),
        Activation::Tanh => map2_inplace!(s, bias, x, |b, v| tanh_v(s, s.add(v, b))),
        Activation::Relu => map2_inplace!(s, bias, x, |b, v| relu_v(s, s.add(v, b))),
        Activation::LeakyRelu(0.0) => {
            map2_inplace!(s, bias, x, |b, v| relu_v(s, s.add(v, b)))
        }
        Activation::LeakyRelu(a) => {
            map2_inplace!(s, bias, x, |b, v| leaky_relu_v(s, s.add(v, b), a))
        }
        Activation::Elu(a) => map2_inplace!(s, bias, x, |b, v| elu_v(s, s.add(v, b), a)),
        Activation::Step => map2_inplace!(s, bias, x, |b, v| step_v(s, s.add(v, b))),
    }
}
