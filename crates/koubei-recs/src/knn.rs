//! Item-to-item similarity from co-purchase: "customers who bought this
//! also bought".

use rayon::prelude::*;

use crate::{Interactions, Recommender, top_n};

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

impl ItemKnn {
    pub fn fit(&self, m: &Interactions) -> ItemKnnModel {
        let users = m.binary();
        let items = users.transpose();
        let buyers = buyers(&items);
        let similar = (0..items.rows())
            .into_par_iter()
            .map_init(
                || vec![0u32; items.rows()],
                |both, i| self.row(&users, &items, &buyers, both, i),
            )
            .collect();
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
        let mut near: Vec<(u32, f32)> = touched
            .iter()
            .map(|&j| {
                let c = both[j as usize] as f32;
                let (a, b) = (buyers[i], buyers[j as usize]);
                let denominator = match self.similarity {
                    Similarity::Cosine => (a * b).sqrt(),
                    Similarity::Jaccard => a + b - c,
                };
                (j, c / (denominator + self.shrink))
            })
            .collect();
        for &j in &touched {
            both[j as usize] = 0;
        }
        near.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        near.truncate(self.neighbours);
        near
    }
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
        let mut scores = vec![f32::NEG_INFINITY; self.similar.len()];
        for &i in items {
            for &(j, s) in &self.similar[i as usize] {
                let v = &mut scores[j as usize];
                *v = if *v == f32::NEG_INFINITY { s } else { *v + s };
            }
        }
        top_n(&scores, exclude, n)
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
