//! Strided f32 matrix views: [`MatRef`] to read, [`MatMut`] to write. No copies: `.t()` swaps
//! the strides.

use super::ShapeError;
use sigmo_kernels::gemm::Layout;

/// A read-only `rows × cols` view of f32 data: element (i, j) is
/// `data[i·row_stride + j·col_stride]`.
///
/// ```
/// use sigmo::gemm::MatRef;
///
/// let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = MatRef::new(&data, 2, 3)?;      // [[1, 2, 3], [4, 5, 6]]
/// assert_eq!(a.get(1, 0), Some(4.0));
/// let at = a.t();                         // 3×2, no copy
/// assert_eq!((at.rows(), at.cols()), (3, 2));
/// assert_eq!(at.get(0, 1), Some(4.0));
/// assert!(MatRef::new(&data, 4, 2).is_err()); // 8 elements do not fit in 6
/// # Ok::<(), sigmo::gemm::ShapeError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    layout: Layout,
}

/// A mutable `rows × cols` view of f32 data; no element is addressed twice.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    layout: Layout,
}

fn checked(what: &str, len: usize, layout: Layout) -> Result<Layout, ShapeError> {
    layout
        .check_within(len)
        .map_err(|e| ShapeError::new(format!("{what}: {e}")))?;
    Ok(layout)
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` view of `data` (which may be longer).
    ///
    /// # Errors
    /// When `data` holds fewer than `rows·cols` elements.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::from_strides(data, rows, cols, cols, 1)
    }

    /// A view with any strides (in elements).
    ///
    /// # Errors
    /// When some element would lie outside `data`.
    pub fn from_strides(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ShapeError> {
        let layout = Layout {
            rows,
            cols,
            row_stride,
            col_stride,
        };
        Ok(MatRef {
            data,
            layout: checked("matrix view", data.len(), layout)?,
        })
    }

    /// The transposed view (`cols × rows`), without a copy.
    pub fn t(&self) -> MatRef<'a> {
        MatRef {
            data: self.data,
            layout: self.layout.t(),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.layout.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.layout.cols
    }
    /// Distance between rows, in elements.
    pub fn row_stride(&self) -> usize {
        self.layout.row_stride
    }
    /// Distance between columns, in elements.
    pub fn col_stride(&self) -> usize {
        self.layout.col_stride
    }
    /// Element (i, j), or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows() && j < self.cols())
            .then(|| self.data[i * self.row_stride() + j * self.col_stride()])
    }
    /// The shape as `rows×cols`, for messages.
    pub fn shape(&self) -> String {
        format!("{}×{}", self.rows(), self.cols())
    }
    /// Rows `start..end` as a view (clamped to the matrix).
    pub fn rows_range(&self, start: usize, end: usize) -> MatRef<'a> {
        let end = end.min(self.rows());
        let start = start.min(end);
        // With no columns (or no rows) nothing is addressed, and the stride may be anything:
        // never multiply it out then. Otherwise the product is within the data (the view was
        // checked), but saturate anyway rather than trust it.
        let offset = if start < end && self.cols() > 0 {
            start.saturating_mul(self.row_stride())
        } else {
            0
        };
        MatRef {
            data: &self.data[offset.min(self.data.len())..],
            layout: Layout {
                rows: end - start,
                ..self.layout
            },
        }
    }
    pub(crate) fn parts(&self) -> (&'a [f32], Layout) {
        (self.data, self.layout)
    }
}

impl<'a> MatMut<'a> {
    /// A row-major `rows × cols` view of `data` (which may be longer).
    ///
    /// # Errors
    /// When `data` holds fewer than `rows·cols` elements.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::from_strides(data, rows, cols, cols, 1)
    }

    /// A view with any strides (in elements) that address each element once.
    ///
    /// # Errors
    /// When some element would lie outside `data`, or two elements would share a place.
    pub fn from_strides(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ShapeError> {
        let layout = checked(
            "output matrix view",
            data.len(),
            Layout {
                rows,
                cols,
                row_stride,
                col_stride,
            },
        )?;
        layout
            .check_disjoint()
            .map_err(|e| ShapeError::new(e.to_string()))?;
        Ok(MatMut { data, layout })
    }

    /// The transposed view, without a copy.
    pub fn t(self) -> MatMut<'a> {
        MatMut {
            data: self.data,
            layout: self.layout.t(),
        }
    }

    /// A read-only view of the same elements.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            data: self.data,
            layout: self.layout,
        }
    }

    /// A shorter-lived mutable view of the same elements.
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut {
            data: self.data,
            layout: self.layout,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.layout.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.layout.cols
    }
    /// Distance between rows, in elements.
    pub fn row_stride(&self) -> usize {
        self.layout.row_stride
    }
    /// Distance between columns, in elements.
    pub fn col_stride(&self) -> usize {
        self.layout.col_stride
    }
    /// The shape as `rows×cols`, for messages.
    pub fn shape(&self) -> String {
        format!("{}×{}", self.rows(), self.cols())
    }

    /// Splits off the first `r` rows, when rows are separate in memory (row stride ≥ the
    /// extent of one row), which lets two threads write the halves. `None` otherwise.
    pub(crate) fn split_rows(self, r: usize) -> Result<(MatMut<'a>, MatMut<'a>), MatMut<'a>> {
        let l = self.layout;
        let row_extent = if l.cols == 0 {
            0
        } else {
            (l.cols - 1) * l.col_stride + 1
        };
        if r > l.rows || l.row_stride < row_extent || l.rows < 2 {
            return Err(self);
        }
        let at = (r * l.row_stride).min(self.data.len());
        let (top, bottom) = self.data.split_at_mut(at);
        Ok((
            MatMut {
                data: top,
                layout: Layout { rows: r, ..l },
            },
            MatMut {
                data: bottom,
                layout: Layout {
                    rows: l.rows - r,
                    ..l
                },
            },
        ))
    }

    /// Row `i` as a slice, when columns are contiguous.
    pub(crate) fn row_mut(&mut self, i: usize) -> Option<&mut [f32]> {
        if self.layout.col_stride != 1 && self.layout.cols > 1 {
            return None;
        }
        let start = i * self.layout.row_stride;
        Some(&mut self.data[start..start + self.layout.cols])
    }

    pub(crate) fn parts(&mut self) -> (&mut [f32], Layout) {
        (self.data, self.layout)
    }
}
