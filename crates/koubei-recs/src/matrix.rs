//! The customer × product matrix in compressed sparse rows.

use crate::Error;

/// Rows are users, columns items; each stored cell a positive confidence.
/// Cells of one row are sorted by item, with no repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    rows: usize,
    cols: usize,
    /// Where each row starts in `items` and `values`, and the end.
    starts: Vec<usize>,
    items: Vec<u32>,
    values: Vec<f32>,
}

impl Interactions {
    /// A matrix of `rows` × `cols` from (row, column, value) cells; cells
    /// of the same row and column add up (two orders of one product).
    pub fn from_cells(
        rows: usize,
        cols: usize,
        cells: impl IntoIterator<Item = (u32, u32, f32)>,
    ) -> Result<Interactions, Error> {
        let mut cells: Vec<(u32, u32, f32)> = cells.into_iter().collect();
        if let Some(&(r, c, _)) = cells
            .iter()
            .find(|(r, c, _)| *r as usize >= rows || *c as usize >= cols)
        {
            return Err(Error::Input(format!(
                "cell ({r}, {c}) outside a {rows} × {cols} matrix"
            )));
        }
        if let Some(&(r, c, v)) = cells.iter().find(|(_, _, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::Input(format!(
                "cell ({r}, {c}) has weight {v}; weights must be above 0"
            )));
        }
        cells.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut starts = vec![0; rows + 1];
        let (mut items, mut values): (Vec<u32>, Vec<f32>) = (Vec::new(), Vec::new());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in cells {
            if last == Some((r, c)) {
                *values.last_mut().expect("a cell was pushed") += v;
                continue;
            }
            last = Some((r, c));
            starts[r as usize + 1] += 1;
            items.push(c);
            values.push(v);
        }
        for r in 0..rows {
            starts[r + 1] += starts[r];
        }
        Ok(Interactions {
            rows,
            cols,
            starts,
            items,
            values,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Stored cells.
    pub fn nnz(&self) -> usize {
        self.items.len()
    }

    /// A row's items (sorted) and their values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.starts[r], self.starts[r + 1]);
        (&self.items[a..b], &self.values[a..b])
    }

    /// The same cells, columns as rows.
    pub fn transpose(&self) -> Interactions {
        let mut cells = Vec::with_capacity(self.nnz());
        for r in 0..self.rows {
            let (items, values) = self.row(r);
            for (&c, &v) in items.iter().zip(values) {
                cells.push((c, r as u32, v));
            }
        }
        Interactions::from_cells(self.cols, self.rows, cells).expect("the cells fit, transposed")
    }

    /// Every value multiplied by `k`.
    pub fn scaled(&self, k: f32) -> Interactions {
        let mut m = self.clone();
        m.values.iter_mut().for_each(|v| *v *= k);
        m
    }

    /// Every value set to 1: bought or not.
    pub fn binary(&self) -> Interactions {
        let mut m = self.clone();
        m.values.iter_mut().for_each(|v| *v = 1.0);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_add_up_and_transpose() {
        let m =
            Interactions::from_cells(2, 3, [(1, 2, 1.0), (0, 1, 2.0), (1, 0, 1.0), (1, 2, 0.5)])
                .unwrap();
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.row(0), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(m.row(1), (&[0u32, 2][..], &[1.0f32, 1.5][..]));
        let t = m.transpose();
        assert_eq!((t.rows(), t.cols()), (3, 2));
        assert_eq!(t.row(2), (&[1u32][..], &[1.5f32][..]));
        assert_eq!(t.transpose(), m);
        assert_eq!(m.binary().row(1).1, &[1.0, 1.0]);
    }

    #[test]
    fn bad_cells_are_named() {
        let e = Interactions::from_cells(2, 2, [(2, 0, 1.0)]).unwrap_err();
        assert_eq!(e.to_string(), "cell (2, 0) outside a 2 × 2 matrix");
        let e = Interactions::from_cells(2, 2, [(0, 0, 0.0)]).unwrap_err();
        assert!(e.to_string().contains("above 0"), "{e}");
    }
}
