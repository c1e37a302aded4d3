//! Seed selection by OPIM-C (Tang, Tang, Xiao & Yuan, SIGMOD 2018).
//!
//! Two independent collections of RR sets grow by doubling. Greedy maximum
//! coverage picks seeds on the first; the second gives an unbiased estimate
//! and a lower confidence bound of their spread; the greedy's own bound gives
//! an upper confidence bound of the optimum. The run stops once the ratio of
//! the two bounds reaches 1 − 1/e − ε, so that the seeds are a
//! (1 − 1/e − ε)-approximation with probability at least 1 − δ; the ratio it
//! reached is reported as the approximation the run certifies.

use crate::maxcover::greedy;
use crate::rr::{RrSets, Targets};
use crate::{Graph, WomError};

/// What to run.
#[derive(Debug, Clone)]
pub struct SeedRequest {
    pub k: usize,
    /// The guarantee is 1 − 1/e − ε.
    pub epsilon: f64,
    /// The chance that the guarantee fails; `None` takes 1/n as the paper does.
    pub delta: Option<f64>,
    /// The seed of the random draws: the same seed gives the same answer.
    pub seed: u64,
    /// Stop only once this many RR sets are in each collection, even when the
    /// bounds are met earlier: more sets give better seeds than the guarantee
    /// needs.
    pub min_rr_sets: usize,
    /// Also stop only once the spread's lower confidence bound is within this
    /// fraction of its estimate, so that the spread reported is known that
    /// well. The guarantee alone can stop on a few thousand sets, whose seeds
    /// are measurably worse; `None` stops at the guarantee, as the paper does.
    pub precision: Option<f64>,
    /// Sampling past the guarantee (for `precision` and `min_rr_sets`) stops
    /// before the RR sets would take more than this many bytes.
    pub memory_budget: usize,
}

impl Default for SeedRequest {
    fn default() -> Self {
        SeedRequest {
            k: 50,
            epsilon: 0.1,
            delta: None,
            seed: 0,
            min_rr_sets: 0,
            precision: Some(0.03),
            memory_budget: 2 << 30,
        }
    }
}

/// One doubling round.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub rr_sets: usize,
    pub approximation: f64,
}

/// The chosen seeds and what the run can say about them.
#[derive(Debug, Clone)]
pub struct Seeds {
    /// Node indices in pick order.
    pub seeds: Vec<u32>,
    /// The estimated spread of the first i + 1 seeds, by the independent
    /// collection (so it is not biased by the picking).
    pub cumulative_spread: Vec<f64>,
    /// The estimated spread of all k seeds.
    pub spread: f64,
    /// With probability 1 − δ/3 or more, the spread is at least this.
    pub spread_lower: f64,
    /// With probability 1 − δ/3 or more, no k seeds spread further than this.
    pub optimum_upper: f64,
    /// spread_lower / optimum_upper: the fraction of the optimum certified.
    pub approximation: f64,
    /// The target of the run: 1 − 1/e − ε.
    pub target: f64,
    /// RR sets in each of the two collections at the end.
    pub rr_sets: usize,
    /// Node entries over both collections, a measure of the work done.
    pub rr_entries: usize,
    pub rounds: Vec<Round>,
    pub delta: f64,
    /// Why sampling stopped.
    pub stopped_by: StopReason,
}

/// What ended the sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The certified ratio reached 1 − 1/e − ε and every extra ask was met.
    Met,
    /// The guarantee held, but more sets would pass the memory budget.
    MemoryBudget,
    /// The paper's cap on rounds or sets: the guarantee holds by θ_max.
    Cap,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Met => "met",
            StopReason::MemoryBudget => "memory budget",
            StopReason::Cap => "sample cap",
        }
    }
}

/// Bytes held by the two collections and the greedy's inverted index.
fn footprint(r1: &RrSets, r2: &RrSets) -> usize {
    (2 * r1.total() + r2.total()) * 4 + (r1.len() + r2.len()) * 12
}

/// ln C(n, k).
fn ln_choose(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k)
        .map(|i| ((n - i) as f64).ln() - ((k - i) as f64).ln())
        .sum()
}

/// Chooses `k` seeds that maximise the expected spread to `targets`.
pub fn select_seeds(
    graph: &Graph,
    targets: &Targets,
    req: &SeedRequest,
) -> Result<Seeds, WomError> {
    select_seeds_with(graph, targets, req, &mut |_| {})
}

/// [`select_seeds`], calling `progress` after each round.
pub fn select_seeds_with(
    graph: &Graph,
    targets: &Targets,
    req: &SeedRequest,
    progress: &mut dyn FnMut(&Round),
) -> Result<Seeds, WomError> {
    let n = graph.node_count();
    let k = req.k;
    if n == 0 {
        return Err(WomError::EmptyGraph);
    }
    if k == 0 {
        return Err(WomError::Invalid("k must be at least 1".into()));
    }
    if k > n {
        return Err(WomError::KTooLarge { k, nodes: n });
    }
    if !(req.epsilon > 0.0 && req.epsilon < 1.0 - (-1f64).exp()) {
        return Err(WomError::Invalid(format!(
            "epsilon {} must be above 0 and below 1 - 1/e",
            req.epsilon
        )));
    }
    // The paper's 1/n, kept below 1 for a graph of one node.
    let delta = req.delta.unwrap_or(1.0 / n.max(2) as f64);
    if let Some(p) = req.precision
        && !(p > 0.0 && p < 1.0)
    {
        return Err(WomError::Invalid(format!(
            "precision {p} must be in (0, 1)"
        )));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(WomError::Invalid(format!(
            "delta {delta} must be in (0, 1)"
        )));
    }
    let scale = targets.scale(graph);
    if scale <= 0.0 {
        return Err(WomError::Invalid("no target has any weight".into()));
    }
    let eps = req.epsilon;
    let e1 = 1.0 - (-1f64).exp();
    // θ_max and θ₀ (the paper's Algorithm 2, with OPT ≥ k for people; for
    // groups OPT can be smaller, so the cap is only a cap on work).
    let alpha = (6.0 / delta).ln().sqrt();
    let beta = (e1 * (ln_choose(n, k) + (6.0 / delta).ln())).sqrt();
    let base = 2.0 * (e1 * alpha + beta).powi(2);
    let theta_max = base * scale / (k as f64 * eps * eps);
    let theta0 = (base.ceil() as usize).max(1);
    let i_max = ((theta_max / theta0 as f64).log2().ceil() as usize).max(1) + 1;
    let a = (3.0 * i_max as f64 / delta).ln();

    let mut r1 = RrSets::default();
    let mut r2 = RrSets::default();
    let mut rounds = Vec::new();
    let mut size = theta0;
    let mut round = 0u64;
    loop {
        let add = size - r1.len();
        r1.extend(graph, targets, add, req.seed.wrapping_add(2 * round));
        r2.extend(
            graph,
            targets,
            add,
            req.seed.wrapping_add(2 * round + 1) ^ 0x5bd1_e995,
        );
        round += 1;
        let theta = r1.len() as f64;
        let cover = greedy(&r1, n, k);
        let covered2 = r2.covered_by(&cover.seeds, n) as f64;
        let lower = ((covered2 + 2.0 * a / 9.0).sqrt() - (a / 2.0).sqrt()).powi(2) - a / 18.0;
        let upper = ((cover.upper_bound as f64 + a / 2.0).sqrt() + (a / 2.0).sqrt()).powi(2);
        let approximation = (lower / upper).max(0.0);
        let round = Round {
            rr_sets: r1.len(),
            approximation,
        };
        progress(&round);
        rounds.push(round);
        let capped = rounds.len() >= i_max || theta >= theta_max;
        let met = approximation >= e1 - eps;
        let precise = req
            .precision
            .is_none_or(|p| lower > 0.0 && lower >= (1.0 - p) * covered2);
        let satisfied = precise && r1.len() >= req.min_rr_sets;
        let over_budget = 2 * footprint(&r1, &r2) > req.memory_budget;
        let stop = if met && satisfied {
            Some(StopReason::Met)
        } else if capped {
            Some(StopReason::Cap)
        } else if met && over_budget {
            Some(StopReason::MemoryBudget)
        } else {
            None
        };
        if let Some(stopped_by) = stop {
            let mut cumulative = Vec::with_capacity(k);
            // Spread of each prefix on the independent collection.
            let hits = prefix_hits(&r2, &cover.seeds, n);
            let mut acc = 0u64;
            for h in hits {
                acc += h;
                cumulative.push(acc as f64 * scale / theta);
            }
            return Ok(Seeds {
                spread: covered2 * scale / theta,
                spread_lower: lower.max(0.0) * scale / theta,
                optimum_upper: upper * scale / theta,
                approximation,
                target: e1 - eps,
                rr_sets: r1.len(),
                rr_entries: r1.total() + r2.total(),
                seeds: cover.seeds,
                cumulative_spread: cumulative,
                rounds,
                delta,
                stopped_by,
            });
        }
        size *= 2;
    }
}

/// For each seed in order, how many sets of `sets` it is the first to touch.
fn prefix_hits(sets: &RrSets, seeds: &[u32], n: usize) -> Vec<u64> {
    let mut rank = vec![u32::MAX; n];
    for (i, &s) in seeds.iter().enumerate() {
        rank[s as usize] = i as u32;
    }
    let mut hits = vec![0u64; seeds.len()];
    for i in 0..sets.len() {
        if let Some(r) = sets.get(i).iter().map(|&v| rank[v as usize]).min()
            && r != u32::MAX
        {
            hits[r as usize] += 1;
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph of one node (a self-loop) has its seed, without a delta
    /// given: the default 1/n would be 1, outside (0, 1).
    #[test]
    fn one_node_graph_has_its_seed() {
        let mut b = crate::GraphBuilder::new();
        let v = b.node("1");
        b.edge(v, v, None, 1);
        let g = b.build(crate::EdgeModel::WeightedCascade, true).unwrap();
        let req = SeedRequest {
            k: 1,
            ..SeedRequest::default()
        };
        let s = select_seeds(&g, &Targets::Nodes, &req).unwrap();
        assert_eq!(s.seeds, [v]);
        assert!((s.spread - 1.0).abs() < 1e-9, "{}", s.spread);
        assert_eq!(s.delta, 0.5);
    }

    #[test]
    fn ln_choose_matches_small_cases() {
        assert!((ln_choose(5, 2) - 10f64.ln()).abs() < 1e-12);
        assert!((ln_choose(10, 10)).abs() < 1e-12);
        assert!((ln_choose(52, 5) - 2_598_960f64.ln()).abs() < 1e-9);
    }
}
