//! Greedy maximum coverage over RR sets, with the bound that OPIM-C needs: an
//! upper bound on the coverage that any k nodes could reach.
//!
//! After i greedy picks that cover Cᵢ sets, no k nodes can cover more than Cᵢ
//! plus the k largest marginal coverages left (submodularity). The smallest of
//! these over the steps is the bound (Tang, Tang, Xiao & Yuan 2018, §4).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::rr::RrSets;

/// The greedy's picks and what they cover.
#[derive(Debug, Clone)]
pub struct Cover {
    pub seeds: Vec<u32>,
    /// Sets newly covered by each pick, in pick order.
    pub gains: Vec<u64>,
    /// Sets covered by all picks.
    pub covered: u64,
    /// No k nodes cover more sets than this.
    pub upper_bound: u64,
}

/// Picks `k` nodes greedily. Ties go to the lower node index, so that a run
/// is reproducible.
pub fn greedy(sets: &RrSets, n: usize, k: usize) -> Cover {
    let (off, by_node) = sets.by_node(n);
    let mut coverage: Vec<u64> = (0..n).map(|v| (off[v + 1] - off[v]) as u64).collect();
    let mut done = vec![false; sets.len()];
    let mut chosen = vec![false; n];
    let mut heap: BinaryHeap<(u64, Reverse<u32>)> =
        (0..n).map(|v| (coverage[v], Reverse(v as u32))).collect();
    // The top-k sum costs O(n); take it at every step while that is cheap,
    // else at a spread of steps (any step's bound is valid).
    let every = ((k as u64 * n as u64) / 200_000_000).max(1) as usize;
    let mut scratch: Vec<u64> = Vec::with_capacity(n);
    let mut upper = u64::MAX;
    let mut covered = 0u64;
    let mut seeds = Vec::with_capacity(k);
    let mut gains = Vec::with_capacity(k);
    let mut bounded = usize::MAX;
    loop {
        let step = seeds.len();
        // Once per step: stale heap entries come back to this loop too.
        if bounded != step && (step % every == 0 || step == k) {
            bounded = step;
            scratch.clear();
            scratch.extend(
                coverage
                    .iter()
                    .zip(&chosen)
                    .filter(|&(_, &c)| !c)
                    .map(|(&g, _)| g),
            );
            let top = top_k_sum(&mut scratch, k);
            upper = upper.min(covered + top);
        }
        if step == k {
            break;
        }
        let Some((gain, Reverse(v))) = heap.pop() else {
            break;
        };
        if gain != coverage[v as usize] {
            heap.push((coverage[v as usize], Reverse(v)));
            continue;
        }
        chosen[v as usize] = true;
        seeds.push(v);
        gains.push(gain);
        covered += gain;
        for &s in &by_node[off[v as usize]..off[v as usize + 1]] {
            if std::mem::replace(&mut done[s as usize], true) {
                continue;
            }
            for &u in sets.get(s as usize) {
                coverage[u as usize] -= 1;
            }
        }
        coverage[v as usize] = 0;
    }
    Cover {
        seeds,
        gains,
        covered,
        upper_bound: upper,
    }
}

fn top_k_sum(values: &mut [u64], k: usize) -> u64 {
    if values.len() > k && k > 0 {
        values.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
        values[..k].iter().sum()
    } else {
        values.iter().take(k).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(list: &[&[u32]]) -> RrSets {
        let mut s = RrSets::default();
        for l in list {
            s.push(l);
        }
        s
    }

    #[test]
    fn greedy_takes_the_largest_gain_and_bounds_the_optimum() {
        // Node 0 covers 3 sets; then 1 and 2 each add one.
        let s = sets(&[&[0], &[0, 1], &[0, 2], &[1], &[2], &[3]]);
        let c = greedy(&s, 4, 2);
        assert_eq!(c.seeds, vec![0, 1]);
        assert_eq!(c.gains, vec![3, 1]);
        assert_eq!(c.covered, 4);
        // Optimum for k = 2 is 4 (e.g. {0, 1}); the bound is at least that,
        // and here: min(3 + 2, 3 + 1 + 1, 4 + 1) = 5.
        assert_eq!(c.upper_bound, 5);
    }

    #[test]
    fn a_bound_never_falls_below_the_brute_force_optimum() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let n = rng.random_range(2..8usize);
            let m = rng.random_range(1..20usize);
            let mut s = RrSets::default();
            for _ in 0..m {
                let mut set: Vec<u32> = (0..n as u32).filter(|_| rng.random_bool(0.3)).collect();
                if set.is_empty() {
                    set.push(rng.random_range(0..n as u32));
                }
                s.push(&set);
            }
            let k = rng.random_range(1..=n);
            let c = greedy(&s, n, k);
            let best = (0u32..1 << n)
                .filter(|m| m.count_ones() as usize == k)
                .map(|mask| {
                    (0..s.len())
                        .filter(|&i| s.get(i).iter().any(|&v| mask >> v & 1 == 1))
                        .count() as u64
                })
                .max()
                .unwrap();
            assert!(
                c.covered <= best && best <= c.upper_bound,
                "{} {best} {}",
                c.covered,
                c.upper_bound
            );
            assert!(c.covered as f64 >= (1.0 - (-1f64).exp()) * best as f64 - 1e-9);
            assert_eq!(c.covered, c.gains.iter().sum::<u64>());
        }
    }
}
