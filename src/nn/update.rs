//! The optimizer's inner loop: one pass over a block of parameters that sums two shards'
//! gradients, accumulates ‖g‖², applies the update rule and accumulates a finiteness check,
//! vectorized with [`pulp`] at the tier the caller's [`Kernels`] run (AVX-512 → pulp's `V4`,
//! AVX2 + FMA → `V3`, the other tiers → pulp's scalar `Scalar`).
//!
//! Every step is a fused multiply-add (or an IEEE division and square root), the same on
//! every tier, and the tail of a block goes through the same register code (pulp's masked
//! partial loads and stores), so the new weights and optimizer state have the same bits
//! whatever the tier. Only ‖g‖², a diagnostic, is summed lane by lane and may differ in its
//! last bits between tiers.

use crate::kernels::{Isa, Kernels};
use pulp::{Simd, WithSimd};

/// One step's constants.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rule {
    /// v ← μv + (g + λw), w ← w − ηv; with μ = 0, w ← w − η(g + λw) and v is not touched.
    Sgd { lr: f32, mu: f32 },
    /// m ← β₁m + (1 − β₁)g′, v ← β₂v + (1 − β₂)g′², w ← w − step·m/(√v·inv_sqrt_bc2 + ε),
    /// with g′ = g + λw, step = η/(1 − β₁ᵗ) and inv_sqrt_bc2 = 1/√(1 − β₂ᵗ).
    Adam {
        beta1: f32,
        beta2: f32,
        eps: f32,
        step: f32,
        inv_sqrt_bc2: f32,
    },
}

/// The slices one block update touches, all of one length; `g2` is empty when there is one
/// shard, `v` empty unless the rule is Adam. With `from` empty the update is in place (the
/// old weights are read from `w`); else the old weights are read from `from` and the new ones
/// written to `w`, which is not read: the caller keeps `from` as the weights before the step,
/// for no extra write.
pub(crate) struct Block<'a> {
    pub w: &'a mut [f32],
    pub from: &'a [f32],
    pub g: &'a [f32],
    pub g2: &'a [f32],
    pub m: &'a mut [f32],
    pub v: &'a mut [f32],
    pub rule: Rule,
    /// λ: the L2 coefficient for weights, 0 for biases.
    pub lam: f32,
}

/// Updates the block at `k`'s tier; returns (Σ g², Σ 0·w_new): the second is 0, or NaN when
/// an updated parameter is not finite.
pub(crate) fn update_block(k: Kernels, b: Block<'_>) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        match k.isa() {
            Isa::Avx512 => {
                if let Some(s) = pulp::x86::V4::try_new() {
                    return Simd::vectorize(s, b);
                }
                if let Some(s) = pulp::x86::V3::try_new() {
                    return Simd::vectorize(s, b);
                }
            }
            Isa::Avx2 => {
                if let Some(s) = pulp::x86::V3::try_new() {
                    return Simd::vectorize(s, b);
                }
            }
            _ => {}
        }
    }
    let _ = k;
    Simd::vectorize(pulp::Scalar::new(), b)
}

/// The rule on one register of lanes: returns (w_new, m_new, v_new) from the gradient `gi`
/// (shards summed), the weights `wi` and the state `mi`, `vi` (unused lanes are ignored).
#[inline(always)]
fn rule_v<S: Simd>(
    s: S,
    rule: Rule,
    lam: S::f32s,
    gi: S::f32s,
    wi: S::f32s,
    mi: S::f32s,
    vi: S::f32s,
) -> (S::f32s, S::f32s, S::f32s) {
    let gd = s.mul_add_f32s(lam, wi, gi);
    match rule {
        Rule::Sgd { lr, mu } => {
            if mu == 0.0 {
                (s.mul_add_f32s(s.splat_f32s(-lr), gd, wi), mi, vi)
            } else {
                let vn = s.mul_add_f32s(s.splat_f32s(mu), mi, gd);
                (s.mul_add_f32s(s.splat_f32s(-lr), vn, wi), vn, vi)
            }
        }
        Rule::Adam {
            beta1,
            beta2,
            eps,
            step,
            inv_sqrt_bc2,
        } => {
            let t1 = s.mul_f32s(s.splat_f32s(1.0 - beta1), gd);
            let mn = s.mul_add_f32s(s.splat_f32s(beta1), mi, t1);
            let t2 = s.mul_f32s(s.mul_f32s(s.splat_f32s(1.0 - beta2), gd), gd);
            let vn = s.mul_add_f32s(s.splat_f32s(beta2), vi, t2);
            let den = s.mul_add_f32s(
                s.sqrt_f32s(vn),
                s.splat_f32s(inv_sqrt_bc2),
                s.splat_f32s(eps),
            );
            (
                s.mul_add_f32s(s.splat_f32s(-step), s.div_f32s(mn, den), wi),
                mn,
                vn,
            )
        }
    }
}

impl WithSimd for Block<'_> {
    type Output = (f64, f64);

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> (f64, f64) {
        let Block {
            w,
            from,
            g,
            g2,
            m,
            v,
            rule,
            lam,
        } = self;
        let n = w.len();
        let (g, m) = (&g[..n], &mut m[..n]);
        let oop = !from.is_empty();
        let two = !g2.is_empty();
        let g2 = if two { &g2[..n] } else { g };
        let uses_m = !matches!(rule, Rule::Sgd { mu, .. } if mu == 0.0);
        let adam = matches!(rule, Rule::Adam { .. });
        let v: &mut [f32] = if adam { &mut v[..n] } else { &mut [] };
        let zero = s.splat_f32s(0.0);
        let (mut acc, mut check) = (zero, zero);
        let lam = s.splat_f32s(lam);
        // Whole registers, then one masked partial register for the tail, through the same
        // rule_v: the same operations on every element.
        let (wh, wt) = S::as_mut_simd_f32s(w);
        let (fh, ft) = S::as_simd_f32s(if oop { &from[..n] } else { &[] });
        let (gh, gt) = S::as_simd_f32s(g);
        let (hh, ht) = S::as_simd_f32s(g2);
        let (mh, mt) = S::as_mut_simd_f32s(m);
        let (vh, vt) = S::as_mut_simd_f32s(v);
        let regs = wh.len();
        let (gh, hh, mh) = (&gh[..regs], &hh[..regs], &mut mh[..regs]);
        let fh = if oop { &fh[..regs] } else { fh };
        let vh = if adam { &mut vh[..regs] } else { vh };
        for j in 0..regs {
            let gi = if two { s.add_f32s(gh[j], hh[j]) } else { gh[j] };
            acc = s.mul_add_f32s(gi, gi, acc);
            let mi = if uses_m { mh[j] } else { zero };
            let vi = if adam { vh[j] } else { zero };
            let wi = if oop { fh[j] } else { wh[j] };
            let (wn, mn, vn) = rule_v(s, rule, lam, gi, wi, mi, vi);
            wh[j] = wn;
            if uses_m {
                mh[j] = mn;
            }
            if adam {
                vh[j] = vn;
            }
            check = s.mul_add_f32s(zero, wn, check);
        }
        if !wt.is_empty() {
            let gi = if two {
                s.add_f32s(s.partial_load_f32s(gt), s.partial_load_f32s(ht))
            } else {
                s.partial_load_f32s(gt)
            };
            acc = s.mul_add_f32s(gi, gi, acc);
            let wi = s.partial_load_f32s(if oop { ft } else { wt });
            let mi = if uses_m {
                s.partial_load_f32s(mt)
            } else {
                zero
            };
            let vi = if adam { s.partial_load_f32s(vt) } else { zero };
            let (wn, mn, vn) = rule_v(s, rule, lam, gi, wi, mi, vi);
            s.partial_store_f32s(wt, wn);
            if uses_m {
                s.partial_store_f32s(mt, mn);
            }
            if adam {
                s.partial_store_f32s(vt, vn);
            }
            check = s.mul_add_f32s(zero, wn, check);
        }
        (
            s.reduce_sum_f32s(acc) as f64,
            s.reduce_sum_f32s(check) as f64,
        )
    }
}
