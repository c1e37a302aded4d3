//! The n best of a score per item.

/// The `n` items of highest score, best first (ties by lower item), leaving
/// out `exclude` (sorted) and items scored NaN or −∞.
pub fn top_n(scores: &[f32], exclude: &[u32], n: usize) -> Vec<(u32, f32)> {
    top_n_of(
        scores.iter().enumerate().map(|(i, &s)| (i as u32, s)),
        scores.len(),
        exclude,
        n,
    )
}

/// The same over the items scored, each once, in any order, among
/// `items` in all: a user's few candidates rather than every item.
pub fn top_n_of(
    scored: impl Iterator<Item = (u32, f32)>,
    items: usize,
    exclude: &[u32],
    n: usize,
) -> Vec<(u32, f32)> {
    // No more than there are items: a huge n asks for all of them.
    let n = n.min(items);
    if n == 0 {
        return Vec::new();
    }
    let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
    for (i, s) in scored {
        if s.is_nan() || s == f32::NEG_INFINITY {
            continue;
        }
        // Most items are no better than the n-th best so far: that is one
        // comparison, the exclusions a search.
        if best.len() == n && better(&best[n - 1], &(i, s)).is_le() {
            continue;
        }
        if exclude.binary_search(&i).is_ok() {
            continue;
        }
        let at = best.partition_point(|x| better(x, &(i, s)).is_lt());
        best.insert(at, (i, s));
        best.truncate(n);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_first_without_the_excluded() {
        let s = [0.5, 0.9, 0.1, 0.9, f32::NAN, 0.7];
        assert_eq!(top_n(&s, &[], 3), [(1, 0.9), (3, 0.9), (5, 0.7)]);
        assert_eq!(top_n(&s, &[1, 5], 2), [(3, 0.9), (0, 0.5)]);
        assert_eq!(top_n(&s, &[], 10).len(), 5);
        assert!(top_n(&s, &[], 0).is_empty());
        assert_eq!(top_n(&s, &[], usize::MAX).len(), 5);
    }
}
