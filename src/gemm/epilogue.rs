//! C ← act(A·B + bias): the product by blocks of rows, each finished by the kernels' fused
//! bias + activation while it is still in cache.

use super::{check_shapes, Activation, Backend, MatMut, MatRef, ShapeError};
use sigmo_kernels::Kernels;

impl Backend {
    /// C ← act(A·B + bias), the bias added to every row. The bias and the activation are
    /// applied to each block of rows of C right after it is computed, while it is still in
    /// cache, rather than in passes over the whole of C. The epilogue (and sigmo's own
    /// GEMM engine) run at the tier of `k`, which the caller chooses once.
    ///
    /// ```
    /// use sigmo::gemm::{Activation, Backend, MatMut, MatRef};
    /// use sigmo::kernels::Kernels;
    ///
    /// let x = [1.0, -2.0];                     // 1×2
    /// let w = [1.0, 0.0, 0.0, 1.0];            // 2×2
    /// let mut y = [0.0f32; 2];
    /// Backend::default().gemm_bias_act(
    ///     &Kernels::best(),
    ///     MatRef::new(&x, 1, 2)?, MatRef::new(&w, 2, 2)?, &[0.5, 0.5], Activation::Relu,
    ///     MatMut::new(&mut y, 1, 2)?,
    /// )?;
    /// assert_eq!(y, [1.5, 0.0]);
    /// # Ok::<(), sigmo::gemm::ShapeError>(())
    /// ```
    ///
    /// # Errors
    /// When the shapes do not chain, or `bias` does not have one element per column of C.
    pub fn gemm_bias_act(
        &self,
        k: &Kernels,
        a: MatRef<'_>,
        b: MatRef<'_>,
        bias: &[f32],
        act: Activation,
        mut c: MatMut<'_>,
    ) -> Result<(), ShapeError> {
        check_shapes("gemm_bias_act", &a, &b, &c)?;
        if bias.len() != c.cols() {
            return Err(ShapeError::new(format!(
                "gemm_bias_act: bias has {} elements but C is {} (one per column needed)",
                bias.len(),
                c.shape()
            )));
        }
        let (rows, cols) = (c.rows(), c.cols());
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let block = epilogue_block_rows(cols);
        let mut start = 0;
        let mut rest = c.reborrow();
        while start < rows {
            let (mut blk, tail) = match rest.split_rows((rows - start).min(block)) {
                Ok(p) => p,
                Err(whole) => (whole, MatMut::new(&mut [], 0, 0).expect("empty view")),
            };
            let blk_rows = blk.rows();
            // C_blk ← A_blk·B (itself split over the threads when large enough), then
            // C_blk ← act(C_blk + bias) in one pass while the block is in cache.
            let a_blk = a.rows_range(start, start + blk_rows);
            self.gemm(k, 1.0, a_blk, b, 0.0, blk.reborrow())?;
            bias_activate_rows(k, &mut blk, bias, act);
            start += blk_rows;
            rest = tail;
        }
        Ok(())
    }
}

/// Rows per epilogue block: about 1 MiB of C, which stays in L2 between the GEMM and the
/// activation. Each block is its own GEMM call and repacks B, so blocks must not be small: at
/// 32 rows the repacking cost a third of the time (measured), at 256 it is a few percent.
fn epilogue_block_rows(cols: usize) -> usize {
    ((1 << 20) / 4 / cols.max(1)).max(64)
}

fn bias_activate_rows(k: &Kernels, c: &mut MatMut<'_>, bias: &[f32], act: Activation) {
    let rows = c.rows();
    if rows == 0 || c.cols() == 0 {
        return;
    }
    if c.col_stride() == 1 || c.cols() <= 1 {
        for i in 0..rows {
            if let Some(row) = c.row_mut(i) {
                k.bias_activate_inplace(row, bias, act);
            }
        }
    } else {
        // Strided rows: gather, apply, scatter.
        let (cols, rs, cs) = (c.cols(), c.row_stride(), c.col_stride());
        let (data, _) = c.parts();
        let mut row = vec![0.0f32; cols];
        for i in 0..rows {
            for (j, v) in row.iter_mut().enumerate() {
                *v = data[i * rs + j * cs];
            }
            k.bias_activate_inplace(&mut row, bias, act);
            for (j, v) in row.iter().enumerate() {
                data[i * rs + j * cs] = *v;
            }
        }
    }
}
