//! Ranking metrics at k, defined once for every model and for a peer's
//! recommendations read from a file.

use crate::Interactions;

/// Each metric averaged over the users that count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub k: usize,
    /// Users with at least one training and one test interaction.
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    /// Distinct items recommended to those users, over all items.
    pub coverage: f64,
}

/// Scores `recs` (each user's ranked items; a user missing or with fewer
/// than k gets what is there) against the `test` matrix, for the users with
/// at least one interaction in `train` and one in `test`. Relevance is
/// binary: an item is relevant when it is in the user's test row.
/// - precision@k: hits in the first k over k;
/// - recall@k: hits over the user's test items;
/// - NDCG@k: Σ 1/log2(rank + 1) over hits, over the same sum for
///   min(k, test items) hits at the top;
/// - MAP@k: Σ precision@rank over hits, over min(k, test items);
/// - coverage: distinct items in the first k of those users, over all items.
pub fn evaluate(recs: &[Vec<u32>], train: &Interactions, test: &Interactions, k: usize) -> Metrics {
    let mut sums = [0.0f64; 4];
    let mut users = 0usize;
    let mut seen = vec![false; test.cols().max(train.cols())];
    for u in 0..test.rows().min(train.rows()) {
        let (relevant, _) = test.row(u);
        if relevant.is_empty() || train.row(u).0.is_empty() {
            continue;
        }
        users += 1;
        let ranked = recs.get(u).map_or(&[][..], |r| &r[..r.len().min(k)]);
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0f64, 0.0f64);
        for (rank, item) in ranked.iter().enumerate() {
            if let Some(s) = seen.get_mut(*item as usize) {
                *s = true;
            }
            if relevant.binary_search(item).is_ok() {
                hits += 1;
                dcg += 1.0 / ((rank + 2) as f64).log2();
                ap += hits as f64 / (rank + 1) as f64;
            }
        }
        let ideal = relevant.len().min(k);
        let idcg: f64 = (0..ideal).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
        sums[0] += hits as f64 / k as f64;
        sums[1] += hits as f64 / relevant.len() as f64;
        sums[2] += dcg / idcg;
        sums[3] += ap / ideal as f64;
    }
    let mean = |s: f64| if users > 0 { s / users as f64 } else { 0.0 };
    Metrics {
        k,
        users,
        precision: mean(sums[0]),
        recall: mean(sums[1]),
        ndcg: mean(sums[2]),
        map: mean(sums[3]),
        coverage: if seen.is_empty() {
            0.0
        } else {
            seen.iter().filter(|s| **s).count() as f64 / seen.len() as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rows: usize, cells: &[(u32, u32)]) -> Interactions {
        Interactions::from_cells(rows, 6, cells.iter().map(|&(r, c)| (r, c, 1.0))).unwrap()
    }

    /// Worked by hand, k = 3.
    /// - User 0: test {1, 4}; recommended [1, 2, 4]: hits at ranks 1 and 3.
    ///   precision 2/3, recall 1, DCG 1 + 1/log2(4) = 1.5, IDCG (2 hits) 1 +
    ///   1/log2(3), AP (1/1 + 2/3) / 2.
    /// - User 1: test {5}; recommended [0, 2]: no hit.
    /// - User 2: no training row: left out. User 3: no test row: left out.
    #[test]
    fn metrics_by_hand() {
        let train = m(4, &[(0, 0), (1, 1), (3, 3)]);
        let test = m(4, &[(0, 1), (0, 4), (1, 5), (2, 2)]);
        let recs = vec![vec![1, 2, 4, 5], vec![0, 2], vec![2], vec![3]];
        let r = evaluate(&recs, &train, &test, 3);
        assert_eq!(r.users, 2);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} against {b}");
        close(r.precision, (2.0 / 3.0 + 0.0) / 2.0);
        close(r.recall, (1.0 + 0.0) / 2.0);
        let idcg = 1.0 + 1.0 / 3f64.log2();
        close(r.ndcg, (1.5 / idcg) / 2.0);
        close(r.map, ((1.0 + 2.0 / 3.0) / 2.0) / 2.0);
        // Items 0, 1, 2, 4 of 6 shown to the two users (5 is past k).
        close(r.coverage, 4.0 / 6.0);
    }

    /// A perfect ranking scores 1 on NDCG and MAP, whatever k.
    #[test]
    fn a_perfect_ranking() {
        let train = m(1, &[(0, 0)]);
        let test = m(1, &[(0, 1), (0, 2)]);
        for k in [1, 2, 5] {
            let r = evaluate(&[vec![2, 1]], &train, &test, k);
            assert!(
                (r.ndcg - 1.0).abs() < 1e-12 && (r.map - 1.0).abs() < 1e-12,
                "{k}: {r:?}"
            );
        }
    }
}
