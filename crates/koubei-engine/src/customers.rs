//! Per-customer building blocks shared by the CLV summary, RFM and the
//! stored purchases: customer ids kept as the Arrow arrays a query gave,
//! where a row lies among its batches, and the stored rows' places in id
//! order. They sit below those modules so that none imports another's.

use arrow::array::{Array, AsArray, RecordBatch, StringViewArray};
use arrow::datatypes::Int32Type;
use rayon::prelude::*;

use crate::Result;

/// The aggregate of RFM's values, per customer.
pub(crate) const RFM_AGGREGATE: &str = "customer_orders(ts, amount, order_id)";

/// The column of each stored row's place in id order, counted from 0
/// (Delta has no unsigned integers: up to 2^31 customers).
pub(crate) const PLACE: &str = "id_place";

/// Row positions in id order, as [`CustomerIds::sorted`] gives
/// them, from the places of stored purchases read back (in any order); None
/// for rows without them, or places that are not each row's own.
pub(crate) fn id_order(batches: &[RecordBatch]) -> Option<Vec<u32>> {
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut order = vec![u32::MAX; n];
    let mut row = 0u32;
    for b in batches {
        let places = b.column_by_name(PLACE)?.as_primitive_opt::<Int32Type>()?;
        for &p in places.values() {
            *order.get_mut(usize::try_from(p).ok()?)? = row;
            row += 1;
        }
    }
    // n places below n, each written once: no slot is left unwritten.
    order.iter().all(|&r| r != u32::MAX).then_some(order)
}

/// Where each row of a query's result lies among its batches: a row's batch
/// is found from the batch of the first row of its block of 4096 rows (a
/// binary search per row over the batches took a quarter of the summary's
/// step that reads them).
#[derive(Clone, Debug, Default)]
pub(crate) struct BatchRows {
    /// Where each batch starts, and the total at the end.
    starts: Vec<usize>,
    /// The batch of the first row of each block.
    block_batch: Vec<u32>,
}

impl BatchRows {
    const BLOCK: usize = 12;

    pub(crate) fn of(lens: impl IntoIterator<Item = usize>) -> BatchRows {
        let mut starts = vec![0];
        for n in lens {
            starts.push(starts[starts.len() - 1] + n);
        }
        let block_batch = (0..starts[starts.len() - 1].div_ceil(1 << Self::BLOCK))
            .map(|j| (starts.partition_point(|&start| start <= j << Self::BLOCK) - 1) as u32)
            .collect();
        BatchRows {
            starts,
            block_batch,
        }
    }

    /// All rows.
    pub(crate) fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The batch of a row, and the row within it.
    pub(crate) fn locate(&self, row: usize) -> (usize, usize) {
        let mut b = self.block_batch[row >> Self::BLOCK] as usize;
        while self.starts[b + 1] <= row {
            b += 1;
        }
        (b, row - self.starts[b])
    }
}

/// Customer ids, in the order of a summary's rows, kept as the Arrow arrays
/// the query gave and the order to give them in: ten million `String`s took
/// seconds to make, and most reports never look at the ids. Putting them in
/// another order only orders their positions; at a million customers,
/// gathering the arrays into one and taking it in id order had cost 21–29 ms
/// of a 0.3 s CLV command.
#[derive(Clone, Default)]
pub struct CustomerIds {
    /// The arrays as read, as views (which most reads give already).
    chunks: Vec<StringViewArray>,
    /// Where each row read lies among the chunks.
    rows: BatchRows,
    /// The row read of each id in order; None: the order they were read in.
    order: Option<Vec<u32>>,
}

impl CustomerIds {
    /// The ids in the first column of each batch, in order.
    pub(crate) fn from_batches(batches: &[RecordBatch]) -> Result<Self> {
        let chunks = batches
            .iter()
            .map(|b| {
                let view =
                    arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8View)?;
                Ok(view.as_string_view().clone())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CustomerIds::of_chunks(chunks))
    }

    fn of_chunks(chunks: Vec<StringViewArray>) -> Self {
        CustomerIds {
            rows: BatchRows::of(chunks.iter().map(Array::len)),
            chunks,
            order: None,
        }
    }

    pub fn len(&self) -> usize {
        self.order
            .as_ref()
            .map_or_else(|| self.rows.len(), Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The i-th id ("" for a null).
    pub fn get(&self, i: usize) -> &str {
        let row = self.order.as_ref().map_or(i, |o| o[i] as usize);
        let (c, at) = self.rows.locate(row);
        let chunk = &self.chunks[c];
        if chunk.is_null(at) {
            ""
        } else {
            chunk.value(at)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Row positions in id order (`u32`: up to four billion customers). Ids
    /// are compared by eight bytes as one integer, and by the whole text only
    /// where those tie: the eight bytes after the prefix all ids share, so
    /// that ids such as `customer_0001234` do not all tie on `customer`.
    pub fn sorted(&self) -> Vec<u32> {
        let first = self.iter().next().unwrap_or_default().as_bytes();
        let shared = (0..self.len())
            .into_par_iter()
            .map(|i| {
                let id = self.get(i).as_bytes();
                first.iter().zip(id).take_while(|(a, b)| a == b).count()
            })
            .min()
            .unwrap_or(0);
        let key = |s: &str| {
            let rest = &s.as_bytes()[shared..];
            let mut b = [0u8; 8];
            let n = rest.len().min(8);
            b[..n].copy_from_slice(&rest[..n]);
            u64::from_be_bytes(b)
        };
        let mut keys: Vec<(u64, u32)> = (0..self.len())
            .into_par_iter()
            .map(|i| (key(self.get(i)), i as u32))
            .collect();
        keys.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.get(a.1 as usize).cmp(self.get(b.1 as usize)))
        });
        keys.into_iter().map(|(_, i)| i).collect()
    }

    /// The ids at `order`'s positions.
    pub(crate) fn take(&self, order: impl IntoIterator<Item = u32>) -> CustomerIds {
        let rows = order.into_iter();
        let order = match &self.order {
            Some(o) => rows.map(|i| o[i as usize]).collect(),
            None => rows.collect(),
        };
        CustomerIds {
            chunks: self.chunks.clone(),
            rows: self.rows.clone(),
            order: Some(order),
        }
    }
}

/// The ids in order, however they are held.
impl std::fmt::Debug for CustomerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for CustomerIds {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        CustomerIds::of_chunks(vec![StringViewArray::from_iter_values(iter)])
    }
}
