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
    /// Up to three numbers, equal for equal rows, whose order (first, then
    /// second, then third) is the order merged rows come in. For times,
    /// which are never negative, their bits, which sort as the numbers.
    fn key(&self) -> [u64; 3];

    /// The row whose key this is.
    fn from_key(key: [u64; 3]) -> Self;
}

impl Key for Rft {
    fn key(&self) -> [u64; 3] {
        [self.x.to_bits(), self.t_x.to_bits(), self.t.to_bits()]
    }

    fn from_key([x, t_x, t]: [u64; 3]) -> Self {
        let [x, t_x, t] = [x, t_x, t].map(f64::from_bits);
        Rft { x, t_x, t }
    }
}

impl Key for Spend {
    fn key(&self) -> [u64; 3] {
        [self.x.to_bits(), self.m.to_bits(), 0]
    }

    fn from_key([x, m, _]: [u64; 3]) -> Self {
        let [x, m] = [x, m].map(f64::from_bits);
        Spend { x, m }
    }
}

impl Key for Discrete {
    fn key(&self) -> [u64; 3] {
        [self.x, self.t_x, self.n].map(u64::from)
    }

    fn from_key([x, t_x, n]: [u64; 3]) -> Self {
        // Keys are made from u32s.
        let [x, t_x, n] = [x, t_x, n].map(|v| v as u32);
        Discrete { x, t_x, n }
    }
}

/// Each key column's distinct values, in order, when there are few: a
/// row's key is then the three values' ranks packed into one number below
/// [`Ranks::MOST_KEYS`], in the same order as the key.
struct Ranks {
    /// Each column's values in order, and the rank of each.
    values: [Vec<u64>; 3],
    ranks: [HashMap<u64, u32, foldhash::fast::FixedState>; 3],
    /// The packed key is (r₀·n₁ + r₁)·n₂ + r₂, nᵢ values in column i.
    sizes: [usize; 3],
}

impl Ranks {
    /// Values a column may have for ranks; more, and merging hashes rows.
    const MOST: usize = 1 << 16;
    /// Packed keys there may be: a bit each is 32 MiB.
    const MOST_KEYS: usize = 1 << 28;

    fn of<R: Key>(rows: &[R]) -> Option<Ranks> {
        use rayon::prelude::*;
        type Seen = [std::collections::HashSet<u64, foldhash::fast::FixedState>; 3];
        let seen: Seen = rows
            .par_chunks(1 << 16)
            .map(|chunk| {
                let mut seen = Seen::default();
                for r in chunk {
                    for (set, v) in seen.iter_mut().zip(r.key()) {
                        set.insert(v);
                    }
                    if seen.iter().any(|s| s.len() > Self::MOST) {
                        return None;
                    }
                }
                Some(seen)
            })
            .try_reduce(Seen::default, |mut a, b| {
                for (a, b) in a.iter_mut().zip(b) {
                    a.extend(b);
                }
                a.iter().all(|s| s.len() <= Self::MOST).then_some(a)
            })?;
        let sizes = seen.each_ref().map(|s| s.len().max(1));
        if sizes.iter().product::<usize>() > Self::MOST_KEYS {
            return None;
        }
        let values = seen.map(|set| {
            let mut values: Vec<u64> = set.into_iter().collect();
            values.sort_unstable();
            values
        });
        let ranks = values
            .each_ref()
            .map(|v| v.iter().copied().zip(0..).collect());
        Some(Ranks {
            values,
            ranks,
            sizes,
        })
    }

    /// How many packed keys there may be.
    fn keys(&self) -> usize {
        self.sizes.iter().product()
    }

    fn pack(&self, key: [u64; 3]) -> u32 {
        let [a, b, c] = [0, 1, 2].map(|i| self.ranks[i][&key[i]] as usize);
        ((a * self.sizes[1] + b) * self.sizes[2] + c) as u32
    }

    fn unpack(&self, packed: usize) -> [u64; 3] {
        let [_, n1, n2] = self.sizes;
        let ranks = [packed / (n1 * n2), packed / n2 % n1, packed % n2];
        [0, 1, 2].map(|i| self.values[i][ranks[i]])
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
    /// merged row (a `u32`, half the memory of a `usize`), so that per-row
    /// results can be spread back to customers.
    ///
    /// By ranks where each key column has few values
    /// (`merge_ranked`), else by hashing
    /// (`merge_hashed`); both give the same result. Weights
    /// are whole counts, so the result is the same on any number of
    /// threads. Positions are kept as `u32`: up to four billion rows.
    pub fn merge(rows: &[R]) -> (Weighted<R>, Vec<u32>) {
        match Ranks::of(rows) {
            Some(ranks) => Self::merge_ranked(rows, &ranks),
            None => Self::merge_hashed(rows),
        }
    }

    /// [`Weighted::merge`] when the key columns have few distinct values
    /// each (as days, weeks and counts do): each row's packed ranks, a
    /// bitmap of those that occur, and from it each row's merged row by
    /// counting the bits below its own. Rows are read in order and the
    /// look-ups stay within the bitmap (6.4 MB for the 51 million possible
    /// keys of ten million customers): there this took 0.55–0.8 s, where
    /// hashing rows into shards took about 1.0 s, and sorting the packed
    /// keys 0.73 s (its writes of each row's merged row were cache misses).
    fn merge_ranked(rows: &[R], ranks: &Ranks) -> (Weighted<R>, Vec<u32>) {
        use rayon::prelude::*;
        let words = ranks.keys().div_ceil(64);
        // One part of the rows per thread, each with its own bitmap.
        let part = rows.len().div_ceil(rayon::current_num_threads()).max(1);
        let mut of = vec![0u32; rows.len()];
        let bitmaps: Vec<Vec<u64>> = of
            .par_chunks_mut(part)
            .zip(rows.par_chunks(part))
            .map(|(keys, rows)| {
                let mut bits = vec![0u64; words];
                for (k, r) in keys.iter_mut().zip(rows) {
                    *k = ranks.pack(r.key());
                    bits[*k as usize / 64] |= 1 << (*k % 64);
                }
                bits
            })
            .collect();
        let mut bits = vec![0u64; words];
        for b in &bitmaps {
            bits.iter_mut().zip(b).for_each(|(a, b)| *a |= b);
        }
        drop(bitmaps);
        // The keys in the words before each word: a key's merged row is
        // that plus the keys below it in its word.
        let mut before = Vec::with_capacity(words);
        let mut distinct = 0u32;
        for w in &bits {
            before.push(distinct);
            distinct += w.count_ones();
        }
        let counts: Vec<Vec<u32>> = of
            .par_chunks_mut(part)
            .map(|keys| {
                let mut counts = vec![0u32; distinct as usize];
                for k in keys {
                    let (w, bit) = (*k as usize / 64, *k % 64);
                    *k = before[w] + (bits[w] & ((1u64 << bit) - 1)).count_ones();
                    counts[*k as usize] += 1;
                }
                counts
            })
            .collect();
        let mut weights = vec![0.0; distinct as usize];
        for c in &counts {
            weights
                .iter_mut()
                .zip(c)
                .for_each(|(w, &n)| *w += f64::from(n));
        }
        let mut merged = Vec::with_capacity(distinct as usize);
        for (w, &word) in bits.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let packed = w * 64 + word.trailing_zeros() as usize;
                merged.push(R::from_key(ranks.unpack(packed)));
                word &= word - 1;
            }
        }
        let merged = Weighted {
            rows: merged,
            weights,
        };
        (merged, of)
    }

    /// [`Weighted::merge`] for any rows. They are spread by a hash of their
    /// key into shards small enough that each one's hash map stays in
    /// cache, and the shards are merged on all threads; the distinct rows
    /// are then sorted once. A single map over ten million rows had cost a
    /// cache miss or two per row, and sorting every row (rather than only
    /// the distinct ones) took 1.7 times as long.
    fn merge_hashed(rows: &[R]) -> (Weighted<R>, Vec<u32>) {
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
                let mut seen: HashMap<[u64; 3], u32, foldhash::fast::RandomState> =
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

    /// 150,000 rows whose T takes up to `times` values: of whole numbers, or
    /// of numbers with fractions.
    fn generated(times: u64, whole: bool) -> Vec<Rft> {
        let mut state = 7u64;
        (0..150_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = ((state >> 33) % 4) as f64;
                let mut t = 10.0 + ((state >> 40) % times) as f64;
                if !whole {
                    t /= 7.0;
                }
                let t_x = if x == 0.0 {
                    0.0
                } else {
                    ((state >> 20) % 10) as f64 * t / 20.0
                };
                Rft { x, t_x, t }
            })
            .collect()
    }

    /// Each way of merging, over many shards and chunks of rows, equals a
    /// plain ordered map.
    #[test]
    fn merging_equals_one_map() {
        type Merge = fn(&[Rft]) -> (Weighted<Rft>, Vec<u32>);
        let ranked: Merge = |rows| Weighted::merge_ranked(rows, &Ranks::of(rows).unwrap());
        let hashed: Merge = Weighted::merge_hashed;
        // Few times take ranks; some 140,000 do not.
        for (times, whole) in [(50, true), (700, false), (1_000_000, false)] {
            let rows = generated(times, whole);
            let mut want: std::collections::BTreeMap<[u64; 3], f64> = Default::default();
            for r in &rows {
                *want.entry(r.key()).or_default() += 1.0;
            }
            let want: Vec<([u64; 3], f64)> = want.into_iter().collect();
            let with_ranks = Ranks::of(&rows).is_some();
            assert_eq!(with_ranks, times < 1_000_000);
            let ways = [
                Some(Weighted::merge as Merge),
                Some(hashed),
                with_ranks.then_some(ranked),
            ];
            for merge in ways.into_iter().flatten() {
                let (w, of) = merge(&rows);
                let got: Vec<([u64; 3], f64)> = w
                    .rows
                    .iter()
                    .map(|r| r.key())
                    .zip(w.weights.clone())
                    .collect();
                assert_eq!(got, want);
                assert!(rows.iter().zip(&of).all(|(r, &i)| w.rows[i as usize] == *r));
            }
        }
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
