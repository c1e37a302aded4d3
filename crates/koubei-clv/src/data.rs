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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Discrete {
    pub x: u32,
    pub t_x: u32,
    pub n: u32,
}

/// Rows that `Weighted::from_rows` can merge.
pub trait Key: Copy + Send + Sync {
    type K: Eq + Hash + Ord + Send + Sync + Copy;
    fn key(&self) -> Self::K;
}

impl Key for Rft {
    type K = [u64; 3];
    fn key(&self) -> [u64; 3] {
        [self.x.to_bits(), self.t_x.to_bits(), self.t.to_bits()]
    }
}

impl Key for Spend {
    type K = [u64; 2];
    fn key(&self) -> [u64; 2] {
        [self.x.to_bits(), self.m.to_bits()]
    }
}

impl Key for Discrete {
    type K = Discrete;
    fn key(&self) -> Discrete {
        *self
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
    /// merged row (a `u32`, half the memory of a `usize`), so that per-row results can be spread back to customers.
    ///
    /// Rows are spread by a hash of their key into shards small enough that
    /// each one's hash map stays in cache, and the shards are merged on all
    /// threads; the distinct rows are then sorted once. A single map over
    /// ten million rows had cost a cache miss or two per row, and sorting
    /// every row (rather than only the distinct ones) took 1.7 times as
    /// long. Weights are whole counts, so the result is the same on any
    /// number of threads. Positions are kept as `u32`: up to four billion
    /// rows.
    pub fn merge(rows: &[R]) -> (Weighted<R>, Vec<u32>) {
        use rayon::prelude::*;
        use std::hash::BuildHasher;
        // Which shard a row goes to: a fixed hash, unlike the maps' own.
        let shards = (rows.len() / 50_000).clamp(1, 256);
        let spread = foldhash::fast::FixedState::with_seed(0x6b6f_7562_6569);
        let shard_of: Vec<u8> = rows
            .par_iter()
            .map(|r| ((spread.hash_one(r.key()) as u128 * shards as u128) >> 64) as u8)
            .collect();
        // Each row, with its position, into its shard, from contiguous
        // chunks of rows on all threads. A shard is its part of every chunk,
        // in chunk order: its rows in row order, read from neighbouring
        // memory rather than from the rows at random.
        let chunk = rows
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(1 << 16);
        type Spread<R> = Vec<Vec<(R, u32)>>;
        let spread: Vec<Spread<R>> = rows
            .par_chunks(chunk)
            .zip(shard_of.par_chunks(chunk))
            .enumerate()
            .map(|(c, (rows, shard_of))| {
                let mut sizes = vec![0usize; shards];
                for &s in shard_of {
                    sizes[s as usize] += 1;
                }
                let mut out: Spread<R> = sizes.iter().map(|&n| Vec::with_capacity(n)).collect();
                for (j, (&s, &row)) in shard_of.iter().zip(rows).enumerate() {
                    out[s as usize].push((row, (c * chunk + j) as u32));
                }
                out
            })
            .collect();
        drop(shard_of);
        let shard = |s: usize| spread.iter().flat_map(move |c| c[s].iter());
        // Each shard's distinct rows in order of first sight, their counts,
        // and each of its rows' index among them.
        type Part<R> = (Vec<R>, Vec<f64>, Vec<u32>);
        let parts: Vec<Part<R>> = (0..shards)
            .into_par_iter()
            .map(|s| {
                let n: usize = spread.iter().map(|c| c[s].len()).sum();
                let mut seen: HashMap<R::K, u32, foldhash::fast::RandomState> =
                    HashMap::with_capacity_and_hasher(n / 4, Default::default());
                let (mut distinct, mut counts) = (Vec::new(), Vec::new());
                let mut local = Vec::with_capacity(n);
                for &(row, _) in shard(s) {
                    let g = *seen.entry(row.key()).or_insert_with(|| {
                        distinct.push(row);
                        counts.push(0.0);
                        (distinct.len() - 1) as u32
                    });
                    counts[g as usize] += 1.0;
                    local.push(g);
                }
                (distinct, counts, local)
            })
            .collect();
        // The distinct rows in key order: neighbours share x and tₓ, which
        // the models' per-chunk memos rely on (in T order, the Pareto/NBD fit
        // took half as long again). Each carries its count and where it was.
        let mut base = Vec::with_capacity(parts.len());
        let mut keyed: Vec<(R, f64, u32)> = Vec::new();
        for (distinct, counts, _) in &parts {
            let at = keyed.len();
            base.push(at);
            let numbered = distinct.iter().zip(counts).enumerate();
            keyed.extend(numbered.map(|(j, (&r, &n))| (r, n, (at + j) as u32)));
        }
        keyed.par_sort_unstable_by_key(|(r, _, _)| r.key());
        let mut new_pos = vec![0u32; keyed.len()];
        for (p, &(_, _, g)) in keyed.iter().enumerate() {
            new_pos[g as usize] = p as u32;
        }
        let (sorted_rows, weights): (Vec<R>, Vec<f64>) =
            keyed.into_iter().map(|(r, n, _)| (r, n)).unzip();
        let mut of = vec![0u32; rows.len()];
        for (s, (_, _, local)) in parts.iter().enumerate() {
            for (&(_, i), &g) in shard(s).zip(local) {
                of[i as usize] = new_pos[base[s] + g as usize];
            }
        }
        let sorted = Weighted {
            rows: sorted_rows,
            weights,
        };
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

    /// Over many shards and chunks of rows, the merge equals a
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
        assert!(rows.iter().zip(&of).all(|(r, &i)| w.rows[i as usize] == *r));
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
