//! Where each layer's parameters sit in one flat buffer: layer l's weights (fan_in × fan_out,
//! row-major), then its biases, then layer l + 1's. One buffer makes an optimizer step, the
//! sum of two shards' gradients and a copy of the whole network single passes over memory,
//! easy to split between threads.

use std::ops::Range;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    sizes: Vec<usize>,
    /// widths[l]: layer l's pre-activations, the columns of its weights (k·sizes[l+1] for a
    /// maxout layer of k pieces, sizes[l+1] otherwise).
    widths: Vec<usize>,
    /// starts[l]: where layer l's weights begin; starts[depth] is the total.
    starts: Vec<usize>,
}

impl Layout {
    /// The layout of a network with these sizes whose layer l has `pieces[l]` pre-activations
    /// per output (1 past the end of `pieces`); `None` when a count overflows.
    pub(crate) fn with_pieces(sizes: &[usize], pieces: &[usize]) -> Option<Layout> {
        let mut starts = vec![0usize];
        let mut widths = Vec::new();
        for (l, p) in sizes.windows(2).enumerate() {
            let last = starts[starts.len() - 1];
            let width = p[1].checked_mul(pieces.get(l).copied().unwrap_or(1))?;
            let n = p[0].checked_mul(width)?.checked_add(width)?;
            starts.push(last.checked_add(n)?);
            widths.push(width);
        }
        Some(Layout {
            sizes: sizes.to_vec(),
            widths,
            starts,
        })
    }

    /// Layer l's pre-activations (the columns of its weights).
    pub(crate) fn width(&self, l: usize) -> usize {
        self.widths[l]
    }

    pub(crate) fn depth(&self) -> usize {
        self.starts.len() - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.starts[self.starts.len() - 1]
    }

    /// Layer l's weights.
    pub(crate) fn w(&self, l: usize) -> Range<usize> {
        let s = self.starts[l];
        s..s + self.sizes[l] * self.widths[l]
    }

    /// Layer l's biases.
    pub(crate) fn b(&self, l: usize) -> Range<usize> {
        let e = self.starts[l + 1];
        e - self.widths[l]..e
    }

    /// Calls `f(range, is_weights)` for each run of weights or biases that overlaps
    /// `off..off + len`, the range made relative to `off`.
    pub(crate) fn runs(&self, off: usize, len: usize, mut f: impl FnMut(Range<usize>, bool)) {
        let end = off + len;
        for l in 0..self.depth() {
            for (r, is_w) in [(self.w(l), true), (self.b(l), false)] {
                let (s, e) = (r.start.max(off), r.end.min(end));
                if s < e {
                    f(s - off..e - off, is_w);
                }
            }
        }
    }
}
