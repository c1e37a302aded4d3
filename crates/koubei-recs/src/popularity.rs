//! The popularity baseline: the items most users have, for everyone.

use crate::{Interactions, Recommender, top_n};

/// Each item's score is how many users have it.
#[derive(Debug, Clone)]
pub struct Popularity {
    users: Vec<f32>,
}

impl Popularity {
    pub fn fit(m: &Interactions) -> Popularity {
        let mut users = vec![0.0f32; m.cols()];
        for u in 0..m.rows() {
            for &i in m.row(u).0 {
                users[i as usize] += 1.0;
            }
        }
        Popularity { users }
    }

    /// From stored scores, as [`Popularity::scores`] gives them.
    pub fn from_scores(users: Vec<f32>) -> Popularity {
        Popularity { users }
    }

    /// Each item's score: how many users have it.
    pub fn scores(&self) -> &[f32] {
        &self.users
    }
}

impl Recommender for Popularity {
    fn recommend(&self, _user: usize, exclude: &[u32], n: usize) -> Vec<(u32, f32)> {
        top_n(&self.users, exclude, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_users_first() {
        let m = Interactions::from_cells(
            3,
            3,
            [
                (0, 2, 1.0),
                (1, 2, 5.0),
                (2, 2, 1.0),
                (0, 1, 1.0),
                (1, 1, 1.0),
            ],
        )
        .unwrap();
        let p = Popularity::fit(&m);
        assert_eq!(p.recommend(0, &[], 3), [(2, 3.0), (1, 2.0), (0, 0.0)]);
        assert_eq!(p.recommend(2, &[2], 1), [(1, 2.0)]);
    }
}
