//! Item-to-item similarity from co-purchase: "customers who bought this
//! also bought".

use rayon::prelude::*;

use crate::{Interactions, Recommender, top_n_of};

/// How two items' buyers are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Similarity {
    /// Buyers of both over √(buyers of one × buyers of the other).
    Cosine,
    /// Buyers of both over buyers of either.
    Jaccard,
}

/// Each item's nearest items, by a similarity shrunk towards 0 for items
/// with few buyers: buyers of both / (the similarity's denominator +
/// `shrink`), so two items bought together once by their only buyers do not
/// look like twins.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    pub similarity: Similarity,
    pub shrink: f32,
    /// Neighbours kept per item.
    pub neighbours: usize,
}

impl Default for ItemKnn {
    fn default() -> Self {
        ItemKnn {
            similarity: Similarity::Cosine,
            shrink: 10.0,
            neighbours: 100,
        }
    }
}

/// A fitted item-to-item model.
#[derive(Debug, Clone)]
pub struct ItemKnnModel {
    /// Per item, its neighbours and their similarity, most similar first.
    similar: Vec<Vec<(u32, f32)>>,
    /// The users' rows it recommends from.
    users: Interactions,
}

thread_local! {
    /// A score per item (−∞ where none) and the items scored, for
    /// [`ItemKnnModel::score_items`]: all −∞ and empty between calls.
    static SCORES: std::cell::RefCell<(Vec<f32>, Vec<u32>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// Up to this many items squared, buyers of both are counted for every
/// pair of items in one pass over the users (16 MB of counts); beyond, item
/// by item.
const DENSE_PAIRS: usize = 1 << 22;

impl ItemKnn {
    pub fn fit(&self, m: &Interactions) -> ItemKnnModel {
        self.fit_counting(m, DENSE_PAIRS)
    }

    /// Fits with buyers of both counted for all pairs at once when there
    /// are at most `dense_pairs` of them.
    fn fit_counting(&self, m: &Interactions, dense_pairs: usize) -> ItemKnnModel {
        let users = m.binary();
        let items = users.transpose();
        let buyers = buyers(&items);
        let n = items.rows();
        let similar = if n.saturating_mul(n) <= dense_pairs {
            // Each user's row read once, in order, rather than once per item
            // they bought: at a million users and 240 items, 5× faster.
            let both = pair_counts(&users, n);
            (0..n)
                .into_par_iter()
                .map(|i| {
                    let counts = both[i * n..(i + 1) * n]
                        .iter()
                        .enumerate()
                        .filter(|&(j, &c)| c > 0 && j != i)
                        .map(|(j, &c)| (j as u32, c));
                    self.ranked(i, counts, &buyers)
                })
                .collect()
        } else {
            (0..n)
                .into_par_iter()
                .map_init(
                    || vec![0u32; n],
                    |both, i| self.row(&users, &items, &buyers, both, i),
                )
                .collect()
        };
        ItemKnnModel { similar, users }
    }

    /// The items most similar to `item` alone, most similar first: what a
    /// fitted model's [`ItemKnnModel::similar`] gives, without the others.
    pub fn neighbours_of(&self, m: &Interactions, item: usize) -> Vec<(u32, f32)> {
        let users = m.binary();
        let items = users.transpose();
        let buyers = buyers(&items);
        self.row(&users, &items, &buyers, &mut vec![0u32; items.rows()], item)
    }

    /// Item `i`'s neighbours, counting buyers of both in `both` (all 0
    /// before and after).
    fn row(
        &self,
        users: &Interactions,
        items: &Interactions,
        buyers: &[f32],
        both: &mut [u32],
        i: usize,
    ) -> Vec<(u32, f32)> {
        let mut touched = Vec::new();
        for &u in items.row(i).0 {
            for &j in users.row(u as usize).0 {
                if j as usize != i {
                    if both[j as usize] == 0 {
                        touched.push(j);
                    }
                    both[j as usize] += 1;
                }
            }
        }
        let near = self.ranked(i, touched.iter().map(|&j| (j, both[j as usize])), buyers);
        for &j in &touched {
            both[j as usize] = 0;
        }
        near
    }

    /// Item `i`'s nearest items, from the buyers of both it and each item
    /// that shares one.
    fn ranked(
        &self,
        i: usize,
        counts: impl Iterator<Item = (u32, u32)>,
        buyers: &[f32],
    ) -> Vec<(u32, f32)> {
        let mut near: Vec<(u32, f32)> = counts
            .map(|(j, c)| {
                let c = c as f32;
                let (a, b) = (buyers[i], buyers[j as usize]);
                let denominator = match self.similarity {
                    Similarity::Cosine => (a * b).sqrt(),
                    Similarity::Jaccard => a + b - c,
                };
                (j, c / (denominator + self.shrink))
            })
            .collect();
        near.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        near.truncate(self.neighbours);
        near
    }
}

/// For every pair of the `n` items, the users who have both (row-major,
/// `n × n`): each user's items paired, a block of users per task.
fn pair_counts(users: &Interactions, n: usize) -> Vec<u32> {
    let tasks = 2 * rayon::current_num_threads();
    let block = users.rows().div_ceil(tasks).max(1);
    (0..users.rows().div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let mut both = vec![0u32; n * n];
            for u in b * block..((b + 1) * block).min(users.rows()) {
                let row = users.row(u).0;
                for &a in row {
                    let at = &mut both[a as usize * n..(a as usize + 1) * n];
                    for &c in row {
                        at[c as usize] += 1;
                    }
                }
            }
            both
        })
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0u32; n * n])
}

/// Each item's buyers.
fn buyers(items: &Interactions) -> Vec<f32> {
    (0..items.rows())
        .map(|i| items.row(i).0.len() as f32)
        .collect()
}

impl ItemKnnModel {
    /// A model from stored neighbour lists (as [`ItemKnnModel::neighbour_lists`]
    /// gives them), to score users' rows given to [`ItemKnnModel::score_items`].
    pub fn from_neighbour_lists(similar: Vec<Vec<(u32, f32)>>) -> ItemKnnModel {
        let users = Interactions::from_cells(0, similar.len(), []).expect("no cells");
        ItemKnnModel { similar, users }
    }

    /// Per item, its neighbours and their similarity, most similar first.
    pub fn neighbour_lists(&self) -> &[Vec<(u32, f32)>] {
        &self.similar
    }

    /// The items most similar to `item`, most similar first.
    pub fn similar(&self, item: usize, n: usize) -> &[(u32, f32)] {
        let s = &self.similar[item];
        &s[..s.len().min(n)]
    }

    /// The `n` best items for a user who has `items`: each scores the sum
    /// of its similarity to them.
    pub fn score_items(&self, items: &[u32], exclude: &[u32], n: usize) -> Vec<(u32, f32)> {
        // Only the neighbours of the user's items score: they are summed in
        // a vector of every item kept per thread, and only they are read
        // back and reset, rather than a vector filled and scanned per user
        // (at 20,000 items, most of an export's time).
        SCORES.with_borrow_mut(|(scores, touched)| {
            if scores.len() < self.similar.len() {
                scores.resize(self.similar.len(), f32::NEG_INFINITY);
            }
            for &i in items {
                for &(j, s) in &self.similar[i as usize] {
                    let v = &mut scores[j as usize];
                    if *v == f32::NEG_INFINITY {
                        touched.push(j);
                        *v = s;
                    } else {
                        *v += s;
                    }
                }
            }
            let best = top_n_of(
                touched.iter().map(|&j| (j, scores[j as usize])),
                self.similar.len(),
                exclude,
                n,
            );
            for j in touched.drain(..) {
                scores[j as usize] = f32::NEG_INFINITY;
            }
            best
        })
    }
}

impl Recommender for ItemKnnModel {
    /// Each item scores the sum of its similarity to the user's items.
    fn recommend(&self, user: usize, exclude: &[u32], n: usize) -> Vec<(u32, f32)> {
        let items = if user < self.users.rows() {
            self.users.row(user).0
        } else {
            &[]
        };
        self.score_items(items, exclude, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers below a bound, the same for a seed (a linear congruential
    /// generator's high bits).
    fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |bound| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        }
    }

    /// Counting buyers of both for all pairs at once gives each item the
    /// neighbours (and similarities, to the bit) that counting item by item
    /// gives, with both similarities, on random purchases with ties.
    #[test]
    fn pair_counts_as_item_by_item() {
        let mut next = below(7);
        let (users, items) = (2_000, 60);
        let cells: Vec<(u32, u32, f32)> = (0..9_000)
            .map(|_| {
                // A few popular items, so some users share many.
                let item = if next(3) == 0 { next(6) } else { next(items) };
                (next(users) as u32, item as u32, 1.0 + next(3) as f32)
            })
            .collect();
        let m = Interactions::from_cells(users as usize, items as usize, cells).unwrap();
        for similarity in [Similarity::Cosine, Similarity::Jaccard] {
            let knn = ItemKnn {
                similarity,
                neighbours: 25,
                ..ItemKnn::default()
            };
            let dense = knn.fit_counting(&m, usize::MAX);
            let sparse = knn.fit_counting(&m, 0);
            assert_eq!(dense.neighbour_lists(), sparse.neighbour_lists());
            assert!(dense.neighbour_lists().iter().all(|n| n.len() == 25));
            // The default takes the dense path at this size.
            assert_eq!(knn.fit(&m).neighbour_lists(), sparse.neighbour_lists());
        }
    }

    /// A user's top N from the neighbours of their items alone is the top
    /// N of a score for every item (to the bit), with and without
    /// exclusions, and for n beyond the items scored.
    #[test]
    fn scores_of_neighbours_as_of_every_item() {
        let mut next = below(11);
        let (users, items) = (500, 300);
        let cells: Vec<(u32, u32, f32)> = (0..3_000)
            .map(|_| (next(users) as u32, next(items) as u32, 1.0))
            .collect();
        let m = Interactions::from_cells(users as usize, items as usize, cells).unwrap();
        let model = ItemKnn {
            neighbours: 20,
            ..ItemKnn::default()
        }
        .fit(&m);
        let every_item = |bought: &[u32], exclude: &[u32], n: usize| {
            let mut scores = vec![f32::NEG_INFINITY; items as usize];
            for &i in bought {
                for &(j, s) in model.similar(i as usize, usize::MAX) {
                    let v = &mut scores[j as usize];
                    *v = if *v == f32::NEG_INFINITY { s } else { *v + s };
                }
            }
            crate::top_n(&scores, exclude, n)
        };
        let mut compared = 0;
        for u in 0..users as usize {
            let bought = m.row(u).0;
            for (exclude, n) in [(&[][..], 10), (bought, 10), (bought, 1000)] {
                let got = model.score_items(bought, exclude, n);
                assert_eq!(got, every_item(bought, exclude, n), "user {u}");
                compared += got.len();
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    /// Items 0 and 1 share two of their buyers: cosine 2 / (√(3 × 2) +
    /// shrink); Jaccard 2 / (3 + 2 − 2 + shrink).
    #[test]
    fn similarity_by_hand() {
        let m = Interactions::from_cells(
            4,
            3,
            [
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 3.0),
                (2, 0, 1.0),
                (3, 2, 1.0),
            ],
        )
        .unwrap();
        let knn = ItemKnn {
            shrink: 1.0,
            ..ItemKnn::default()
        };
        let model = knn.fit(&m);
        let s = model.similar(0, 5);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, 1);
        assert!((s[0].1 - 2.0 / (6f32.sqrt() + 1.0)).abs() < 1e-6);
        let jaccard = ItemKnn {
            similarity: Similarity::Jaccard,
            shrink: 1.0,
            ..ItemKnn::default()
        }
        .fit(&m);
        assert!((jaccard.similar(1, 5)[0].1 - 2.0 / 4.0).abs() < 1e-6);
        assert_eq!(knn.neighbours_of(&m, 0), s);
        // User 2 has item 0: item 1 is recommended; item 2 shares no buyer.
        assert_eq!(model.recommend(2, &[0], 5).len(), 1);
        assert_eq!(model.recommend(2, &[0], 5)[0].0, 1);
        // Stored lists score a row as the fitted model does.
        let stored = ItemKnnModel::from_neighbour_lists(model.neighbour_lists().to_vec());
        for u in 0..4 {
            let row = m.row(u).0;
            assert_eq!(stored.score_items(row, &[], 5), model.recommend(u, &[], 5));
        }
    }
}
