//! Loop drivers: full registers over the body, one partial register for the tail (masked on
//! AVX-512, a padded stack buffer elsewhere). No driver reads or writes outside its slices.
//!
//! They are macros, not functions taking closures: a closure is compiled as a function of its
//! own without the tier's `#[target_feature]`s, so the intrinsics inside it would not inline.
//! A macro pastes the element expression straight into the tier's instantiation.

/// Out-of-place maps of at least this many elements use non-temporal stores: the output then
/// bypasses the caches, which pays once it no longer fits in the last-level cache.
pub const STREAM_MIN_LEN: usize = 1 << 22;

/// Lanes of the tier `s`.
#[inline(always)]
pub(crate) fn lanes<S: crate::simd::Simd>(_: S) -> usize {
    S::LANES
}

/// Panics unless two slice lengths match.
#[inline(always)]
#[track_caller]
pub(crate) fn same_len(a: usize, b: usize) {
    assert_eq!(
        a, b,
        "sigmo-kernels: input has {a} elements but output has {b}"
    );
}

/// `y[i] = body(x[i])` with `$v` bound to a register of `x`. Panics if the lengths differ.
macro_rules! map {
    ($s:ident, $x:expr, $y:expr, |$v:ident| $body:expr) => {{
        let (x, y): (&[f32], &mut [f32]) = ($x, $y);
        $crate::drive::same_len(x.len(), y.len());
        let l = $crate::drive::lanes($s);
        let (mut x, mut y) = (x, y);
        let streaming = l > 1 && x.len() >= $crate::drive::STREAM_MIN_LEN;
        if streaming {
            // Peel a partial register so that the output starts on a register boundary.
            let misaligned = (y.as_ptr() as usize / ::core::mem::size_of::<f32>()) % l;
            if misaligned != 0 {
                let head = l - misaligned;
                let (xh, xt) = x.split_at(head);
                let (yh, yt) = y.split_at_mut(head);
                let $v = $s.load_partial(xh, 0.0);
                $s.store_partial(yh, $body);
                (x, y) = (xt, yt);
            }
        }
        let mut xc = x.chunks_exact(l);
        let mut yc = y.chunks_exact_mut(l);
        if streaming {
            for (a, b) in (&mut xc).zip(&mut yc) {
                let $v = $s.load(a);
                $s.stream(b, $body);
            }
            $s.stream_fence();
        } else {
            for (a, b) in (&mut xc).zip(&mut yc) {
                let $v = $s.load(a);
                $s.store(b, $body);
            }
        }
        let xr = xc.remainder();
        if !xr.is_empty() {
            let $v = $s.load_partial(xr, 0.0);
            $s.store_partial(yc.into_remainder(), $body);
        }
    }};
}
pub(crate) use map;

/// `x[i] = body(x[i])`.
macro_rules! map_inplace {
    ($s:ident, $x:expr, |$v:ident| $body:expr) => {{
        let x: &mut [f32] = $x;
        let mut xc = x.chunks_exact_mut($crate::drive::lanes($s));
        for a in &mut xc {
            let $v = $s.load(a);
            $s.store(a, $body);
        }
        let r = xc.into_remainder();
        if !r.is_empty() {
            let $v = $s.load_partial(r, 0.0);
            $s.store_partial(r, $body);
        }
    }};
}
pub(crate) use map_inplace;

/// `out[i] = body(a[i], b[i])`. Panics if the lengths differ.
macro_rules! map2 {
    ($s:ident, $a:expr, $b:expr, $out:expr, |$va:ident, $vb:ident| $body:expr) => {{
        let (a, b, out): (&[f32], &[f32], &mut [f32]) = ($a, $b, $out);
        $crate::drive::same_len(a.len(), b.len());
        $crate::drive::same_len(a.len(), out.len());
        let l = $crate::drive::lanes($s);
        let (mut ac, mut bc, mut oc) = (
            a.chunks_exact(l),
            b.chunks_exact(l),
            out.chunks_exact_mut(l),
        );
        for ((p, q), o) in (&mut ac).zip(&mut bc).zip(&mut oc) {
            let ($va, $vb) = ($s.load(p), $s.load(q));
            $s.store(o, $body);
        }
        let (ar, br) = (ac.remainder(), bc.remainder());
        if !ar.is_empty() {
            let ($va, $vb) = ($s.load_partial(ar, 0.0), $s.load_partial(br, 0.0));
            $s.store_partial(oc.into_remainder(), $body);
        }
    }};
}
pub(crate) use map2;

/// `b[i] = body(a[i], b[i])`. Panics if the lengths differ.
macro_rules! map2_inplace {
    ($s:ident, $a:expr, $b:expr, |$va:ident, $vb:ident| $body:expr) => {{
        let (a, b): (&[f32], &mut [f32]) = ($a, $b);
        $crate::drive::same_len(a.len(), b.len());
        let l = $crate::drive::lanes($s);
        let (mut ac, mut bc) = (a.chunks_exact(l), b.chunks_exact_mut(l));
        for (p, q) in (&mut ac).zip(&mut bc) {
            let ($va, $vb) = ($s.load(p), $s.load(q));
            $s.store(q, $body);
        }
        let ar = ac.remainder();
        if !ar.is_empty() {
            let br = bc.into_remainder();
            let ($va, $vb) = ($s.load_partial(ar, 0.0), $s.load_partial(br, 0.0));
            $s.store_partial(br, $body);
        }
    }};
}
pub(crate) use map2_inplace;
