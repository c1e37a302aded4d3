//! What the models see of a customer, checked, and merged into weighted rows.

use std::collections::HashMap;
use std::hash::Hash;

use crate::error::ClvError;
use crate::fit::Weighted;

/// A customer's purchase history in continuous time, in the summary's unit
/// (days or weeks): `x` repeat purchase occasions, the last at `t_x` after the
/// first, and `t` from the first purchase to the end of the observation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rft {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
}

/// A repeat buyer's spend: `x` repeat purchases with mean value `m`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spend {
    pub x: f64,
    pub m: f64,
}

/// A customer's history in discrete time: purchases in `x` of `n` transaction
/// opportunities after the first, the last of them at opportunity `t_x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Discrete {
    pub x: u32,
    pub t_x: u32,
    pub n: u32,
}

/// Rows that `Weighted::from_rows` can merge.
pub trait Key: Copy + Send + Sync {
    type K: Eq + Hash + Ord + Send + Sync + Copy;
    fn key(&self) -> Self::K;
    /// A part of the key with few distinct values (T in whole days, a
    /// count): rows are first spread into these buckets, which a small map
    /// finds, then sorted within each.
    fn bucket(&self) -> u64;
}

/// Bucketed by T, which takes as many values as there are days in the data:
/// buckets of a few thousand customers each.
impl Key for Rft {
    type K = [u64; 3];
    fn key(&self) -> [u64; 3] {
        [self.x.to_bits(), self.t_x.to_bits(), self.t.to_bits()]
    }
    fn bucket(&self) -> u64 {
        self.t.to_bits()
    }
}

impl Key for Spend {
    type K = [u64; 2];
    fn key(&self) -> [u64; 2] {
        [self.x.to_bits(), self.m.to_bits()]
    }
    fn bucket(&self) -> u64 {
        self.x.to_bits()
    }
}

impl Key for Discrete {
    type K = Discrete;
    fn key(&self) -> Discrete {
        *self
    }
    fn bucket(&self) -> u64 {
        u64::from(self.n)
    }
}

impl<R: Key + Copy> Weighted<R> {
    /// Merges identical rows into one row with a weight, sorted by their key
    /// (for times, which are never negative, the order of the numbers), so
    /// that neighbours share terms that models compute once per chunk.
    pub fn from_rows(rows: &[R]) -> Weighted<R> {
        Self::merge(rows).0
    }

    /// [`Weighted::from_rows`], and for each of `rows` the index of its
    /// merged row, so that per-row results can be spread back to customers.
    ///
    /// Rows are spread into their buckets by a counting sort (one pass, and
    /// a map small enough to stay in cache), and each bucket is sorted and
    /// merged on its own, on all threads. A hash map over ten million rows
    /// had cost a cache miss or two per row. Weights are whole counts, so the
    /// result is the same on any number of threads.
    pub fn merge(rows: &[R]) -> (Weighted<R>, Vec<usize>) {
        use rayon::prelude::*;
        // The distinct buckets, in order, and each one's number.
        let mut buckets: Vec<u64> = rows
            .par_chunks(1 << 16)
            .map(|c| {
                let mut seen: std::collections::HashSet<u64, foldhash::fast::RandomState> =
                    Default::default();
                seen.extend(c.iter().map(Key::bucket));
                seen
            })
            .reduce(Default::default, |mut a, b| {
                a.extend(b);
                a
            })
            .into_iter()
            .collect();
        buckets.sort_unstable();
        let number: HashMap<u64, usize, foldhash::fast::RandomState> =
            buckets.iter().enumerate().map(|(i, &b)| (b, i)).collect();
        let of_row: Vec<usize> = rows.par_iter().map(|r| number[&r.bucket()]).collect();
        // Counting sort of row positions by bucket.
        let mut start = vec![0usize; buckets.len() + 1];
        for &b in &of_row {
            start[b + 1] += 1;
        }
        for b in 0..buckets.len() {
            start[b + 1] += start[b];
        }
        // Each position carries its key, so that the sorts below read
        // neighbouring memory rather than the rows at random.
        let mut next = start.clone();
        let Some(first) = rows.first() else {
            return (Weighted::unmerged(Vec::new()), Vec::new());
        };
        let mut order = vec![(first.key(), 0usize); rows.len()];
        for (i, &b) in of_row.iter().enumerate() {
            order[next[b]] = (rows[i].key(), i);
            next[b] += 1;
        }
        drop(of_row);
        // Each bucket sorted by key and merged: its distinct rows, their
        // counts, and each row's index among them.
        let mut slices: Vec<&mut [(R::K, usize)]> = Vec::with_capacity(buckets.len());
        let mut rest = order.as_mut_slice();
        for b in 0..buckets.len() {
            let (head, tail) = rest.split_at_mut(start[b + 1] - start[b]);
            slices.push(head);
            rest = tail;
        }
        type Part<R> = (Vec<R>, Vec<f64>, Vec<(usize, usize)>);
        let parts: Vec<Part<R>> = slices
            .into_par_iter()
            .map(|idx| {
                idx.sort_unstable_by_key(|&(key, _)| key);
                let (mut distinct, mut counts, mut local) =
                    (Vec::new(), Vec::new(), Vec::with_capacity(idx.len()));
                for (k, &(key, i)) in idx.iter().enumerate() {
                    if k == 0 || idx[k - 1].0 != key {
                        distinct.push(rows[i]);
                        counts.push(0.0);
                    }
                    *counts.last_mut().expect("pushed above") += 1.0;
                    local.push((i, distinct.len() - 1));
                }
                (distinct, counts, local)
            })
            .collect();
        let mut out = Weighted {
            rows: Vec::new(),
            weights: Vec::new(),
        };
        let mut of = vec![0usize; rows.len()];
        for (distinct, counts, local) in parts {
            let base = out.rows.len();
            for (i, g) in local {
                of[i] = base + g;
            }
            out.rows.extend(distinct);
            out.weights.extend(counts);
        }
        // The distinct rows in key order: neighbours share x and tₓ, which
        // the models' per-chunk memos rely on (in T order, the Pareto/NBD fit
        // took half as long again).
        let mut perm: Vec<usize> = (0..out.rows.len()).collect();
        perm.par_sort_unstable_by_key(|&g| out.rows[g].key());
        let mut new_pos = vec![0usize; perm.len()];
        for (p, &g) in perm.iter().enumerate() {
            new_pos[g] = p;
        }
        let sorted = Weighted {
            rows: perm.iter().map(|&g| out.rows[g]).collect(),
            weights: perm.iter().map(|&g| out.weights[g]).collect(),
        };
        of.par_iter_mut().for_each(|o| *o = new_pos[*o]);
        (sorted, of)
    }
}

/// Repeat purchases per unit of time over all customers: where the purchase
/// rate's search starts (at least 1e-6; 1 without any time observed).
pub(crate) fn repeat_rate(rows: &[Rft]) -> f64 {
    let (x, t) = rows.iter().fold((0.0, 0.0), |(x, t), r| (x + r.x, t + r.t));
    if t > 0.0 { (x / t).max(1e-6) } else { 1.0 }
}

/// Histories with no, few and many repeat purchases, one ending at T: for
/// the models' gradient checks.
#[cfg(test)]
pub(crate) fn sample_rows() -> Vec<Rft> {
    [
        (0.0, 0.0, 38.86),
        (2.0, 30.43, 38.86),
        (7.0, 11.0, 30.0),
        (1.0, 30.0, 30.0),
        (40.0, 29.0, 30.0),
    ]
    .into_iter()
    .map(|(x, t_x, t)| Rft { x, t_x, t })
    .collect()
}

/// Checks continuous-time rows: 0 ≤ t_x ≤ T, whole x, and t_x = 0 exactly when
/// x = 0. T = 0 (first bought on the last day) is allowed and tells nothing.
pub fn check_rft(rows: &[Rft]) -> Result<(), ClvError> {
    for (index, r) in rows.iter().enumerate() {
        let reason = if !(r.x.is_finite() && r.t_x.is_finite() && r.t.is_finite()) {
            Some("frequency, recency and T must be finite numbers".to_string())
        } else if r.x < 0.0 || r.x.fract() != 0.0 {
            Some(format!(
                "frequency {} is not a whole number of repeat purchases",
                r.x
            ))
        } else if r.t_x < 0.0 || r.t_x > r.t {
            Some(format!(
                "recency {} is not between 0 and T = {}",
                r.t_x, r.t
            ))
        } else if r.t < 0.0 {
            Some(format!(
                "T = {} is negative: the observation ends before the first purchase",
                r.t
            ))
        } else if (r.x == 0.0) != (r.t_x == 0.0) {
            Some(format!(
                "frequency {} with recency {}: a repeat purchase has a positive recency, and none has 0",
                r.x, r.t_x
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ClvError::InvalidRow { index, reason });
        }
    }
    Ok(())
}

/// Checks rows for a counting model: valid, at least two customers, and some
/// repeat buying.
pub fn check_counting(model: &'static str, rows: &[Rft]) -> Result<(), ClvError> {
    if rows.is_empty() {
        return Err(ClvError::Empty);
    }
    check_rft(rows)?;
    if rows.len() < 2 {
        return Err(ClvError::TooFew {
            model,
            needed: 2,
            got: rows.len(),
        });
    }
    if rows.iter().all(|r| r.x == 0.0) {
        return Err(ClvError::NoRepeatBuyers { model });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows_merge_into_weights() {
        let rows = [
            Rft {
                x: 0.0,
                t_x: 0.0,
                t: 5.0,
            },
            Rft {
                x: 1.0,
                t_x: 2.0,
                t: 5.0,
            },
            Rft {
                x: 0.0,
                t_x: 0.0,
                t: 5.0,
            },
        ];
        let w = Weighted::from_rows(&rows);
        assert_eq!(w.rows.len(), 2);
        assert_eq!(w.weights, vec![2.0, 1.0]);
        assert_eq!(w.total(), 3.0);
        // Sorted by (x, tₓ, T), with each input row's merged row.
        let rows = [rows[1], rows[0], rows[1], rows[2]];
        let (w, of) = Weighted::merge(&rows);
        assert_eq!(w.rows, vec![rows[1], rows[0]]);
        assert_eq!(w.weights, vec![2.0, 2.0]);
        assert_eq!(of, vec![1, 0, 1, 0]);
        let (none, of) = Weighted::<Rft>::merge(&[]);
        assert!(none.rows.is_empty() && of.is_empty());
    }

    /// Over many buckets and more rows than one chunk, the merge equals a
    /// plain ordered map's.
    #[test]
    fn merging_in_slices_equals_one_map() {
        let mut state = 7u64;
        let rows: Vec<Rft> = (0..300_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = ((state >> 33) % 4) as f64;
                let t = 10.0 + ((state >> 40) % 50) as f64;
                let t_x = if x == 0.0 {
                    0.0
                } else {
                    ((state >> 20) % 10) as f64
                };
                Rft { x, t_x, t }
            })
            .collect();
        let mut want: std::collections::BTreeMap<[u64; 3], f64> = Default::default();
        for r in &rows {
            *want.entry(r.key()).or_default() += 1.0;
        }
        let (w, of) = Weighted::merge(&rows);
        let got: Vec<([u64; 3], f64)> = w
            .rows
            .iter()
            .map(|r| r.key())
            .zip(w.weights.clone())
            .collect();
        assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        assert!(rows.iter().zip(&of).all(|(r, &i)| w.rows[i] == *r));
    }

    #[test]
    fn bad_rows_are_named() {
        let bad = [Rft {
            x: 1.0,
            t_x: 6.0,
            t: 5.0,
        }];
        let err = check_rft(&bad).unwrap_err().to_string();
        assert!(err.contains("row 0") && err.contains("recency 6"), "{err}");
        let none = [
            Rft {
                x: 0.0,
                t_x: 0.0,
                t: 5.0,
            },
            Rft {
                x: 0.0,
                t_x: 0.0,
                t: 3.0,
            },
        ];
        assert!(matches!(
            check_counting("bgnbd", &none),
            Err(ClvError::NoRepeatBuyers { .. })
        ));
        let one = [Rft {
            x: 2.0,
            t_x: 3.0,
            t: 5.0,
        }];
        assert!(matches!(
            check_counting("bgnbd", &one),
            Err(ClvError::TooFew { .. })
        ));
    }
}
