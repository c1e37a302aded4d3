//! Reverse-reachable (RR) sets: the nodes that would have activated a random
//! target in one random draw of the live arcs (Borgs, Brautbar, Chayes &
//! Lucier 2014). A seed set's expected spread is the scale times the share of
//! RR sets it touches.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::Graph;

/// What an RR set is drawn for: a random node (spread counts people), or a
/// random group drawn by weight (spread counts groups reached, such as
/// regions: a group is reached when any of its members is).
#[derive(Debug, Clone)]
pub enum Targets {
    Nodes,
    Groups(Groups),
}

/// Nodes in groups, each group with a weight.
#[derive(Debug, Clone)]
pub struct Groups {
    offsets: Vec<usize>,
    members: Vec<u32>,
    cumulative: Vec<f64>,
}

impl Groups {
    /// `group_of[v]` is the group of node v (or None); groups have weights.
    /// Groups without a member are left out.
    pub fn new(group_of: &[Option<u32>], weights: &[f64]) -> Groups {
        let g = weights.len();
        let mut counts = vec![0usize; g + 1];
        for x in group_of.iter().flatten() {
            counts[*x as usize + 1] += 1;
        }
        for i in 0..g {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut members = vec![0u32; counts[g]];
        for (v, x) in group_of.iter().enumerate() {
            if let Some(x) = x {
                members[fill[*x as usize]] = v as u32;
                fill[*x as usize] += 1;
            }
        }
        let mut cumulative = Vec::with_capacity(g);
        let mut total = 0.0;
        for i in 0..g {
            if counts[i + 1] > counts[i] {
                total += weights[i];
            }
            cumulative.push(total);
        }
        Groups {
            offsets: counts,
            members,
            cumulative,
        }
    }

    /// The total weight of the groups that have members.
    pub fn total_weight(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    fn draw(&self, rng: &mut SmallRng) -> &[u32] {
        let x = rng.random::<f64>() * self.total_weight();
        let i = self
            .cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1);
        &self.members[self.offsets[i]..self.offsets[i + 1]]
    }
}

impl Targets {
    /// What a fully covered collection of RR sets is worth: n people, or the
    /// total weight of the groups.
    pub fn scale(&self, graph: &Graph) -> f64 {
        match self {
            Targets::Nodes => graph.node_count() as f64,
            Targets::Groups(g) => g.total_weight(),
        }
    }
}

/// A growing collection of RR sets, stored flat.
#[derive(Debug, Clone, Default)]
pub struct RrSets {
    nodes: Vec<u32>,
    ends: Vec<usize>,
}

impl RrSets {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.nodes[start..self.ends[i]]
    }

    /// The total number of node entries.
    pub fn total(&self) -> usize {
        self.nodes.len()
    }

    /// How many sets contain at least one of `seeds`.
    pub fn covered_by(&self, seeds: &[u32], n: usize) -> usize {
        let mut is_seed = vec![false; n];
        for &s in seeds {
            is_seed[s as usize] = true;
        }
        (0..self.len())
            .into_par_iter()
            .filter(|&i| self.get(i).iter().any(|&v| is_seed[v as usize]))
            .count()
    }

    /// Adds `count` new sets, drawn on all threads. Chunks have fixed sizes and
    /// seeds, so the result does not depend on the number of threads.
    pub fn extend(&mut self, graph: &Graph, targets: &Targets, count: usize, seed: u64) {
        const CHUNK: usize = 2048;
        let first = self.len();
        let chunks: Vec<(usize, usize)> = (0..count.div_ceil(CHUNK))
            .map(|c| (c, CHUNK.min(count - c * CHUNK)))
            .collect();
        let n = graph.node_count();
        let parts: Vec<RrSets> = chunks
            .par_iter()
            .map_init(
                || Scratch::new(n),
                |scratch, &(c, len)| {
                    // A stream per chunk, keyed by where the chunk starts.
                    let stream = (first + c * CHUNK) as u64;
                    let mut rng =
                        SmallRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let mut out = RrSets::default();
                    for _ in 0..len {
                        scratch.sample(graph, targets, &mut rng, &mut out.nodes);
                        out.ends.push(out.nodes.len());
                    }
                    out
                },
            )
            .collect();
        let extra: usize = parts.iter().map(|p| p.nodes.len()).sum();
        self.nodes.reserve(extra);
        self.ends.reserve(count);
        for p in parts {
            let base = self.nodes.len();
            self.nodes.extend_from_slice(&p.nodes);
            self.ends.extend(p.ends.iter().map(|e| e + base));
        }
    }

    /// For each node, the sets that contain it, in set order: the inverted
    /// index that greedy maximum coverage walks. Each thread fills the lists
    /// of one range of nodes (all reading every set), so that the scattered
    /// writes are shared out and the lists are the same for any thread count.
    pub(crate) fn by_node(&self, n: usize) -> (Vec<usize>, Vec<u32>) {
        let mut off = vec![0usize; n + 1];
        for &v in &self.nodes {
            off[v as usize + 1] += 1;
        }
        for i in 0..n {
            off[i + 1] += off[i];
        }
        let mut sets = vec![0u32; self.nodes.len()];
        // Node ranges of about equal entries, one per thread.
        let parts = rayon::current_num_threads().max(1);
        let mut bounds = vec![0usize];
        for p in 1..parts {
            let want = self.nodes.len() * p / parts;
            bounds.push(
                off.partition_point(|&o| o < want)
                    .min(n)
                    .max(*bounds.last().unwrap_or(&0)),
            );
        }
        bounds.push(n);
        let mut slices = Vec::with_capacity(parts);
        let mut rest: &mut [u32] = &mut sets;
        for w in bounds.windows(2) {
            let (here, after) = rest.split_at_mut(off[w[1]] - off[w[0]]);
            slices.push((w[0], w[1], here));
            rest = after;
        }
        slices.into_par_iter().for_each(|(lo, hi, out)| {
            let base = off[lo];
            let mut fill: Vec<usize> = off[lo..hi].iter().map(|o| o - base).collect();
            for i in 0..self.len() {
                for &v in self.get(i) {
                    let v = v as usize;
                    if (lo..hi).contains(&v) {
                        out[fill[v - lo]] = i as u32;
                        fill[v - lo] += 1;
                    }
                }
            }
        });
        (off, sets)
    }
}

/// How far ahead in the queue a node's record is read early.
const AHEAD: usize = 4;

/// Per-thread work space: one bit per node reached, so that the bits of
/// a million nodes (128 KiB) stay in cache; a set's bits are cleared when
/// it is done.
struct Scratch {
    seen: Vec<u64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            seen: vec![0; n.div_ceil(64)],
        }
    }

    /// Marks `v` and says whether it was new.
    fn mark(&mut self, v: u32) -> bool {
        let (word, bit) = ((v >> 6) as usize, 1u64 << (v & 63));
        let new = self.seen[word] & bit == 0;
        self.seen[word] |= bit;
        new
    }

    /// Appends one RR set to `out` by a reverse breadth-first search that
    /// flips each arc's coin when it is first looked at.
    fn sample(&mut self, graph: &Graph, targets: &Targets, rng: &mut SmallRng, out: &mut Vec<u32>) {
        let start = out.len();
        match targets {
            Targets::Nodes => {
                let v = rng.random_range(0..graph.node_count() as u32);
                self.mark(v);
                out.push(v);
            }
            Targets::Groups(g) => {
                for &v in g.draw(rng) {
                    if self.mark(v) {
                        out.push(v);
                    }
                }
            }
        }
        let mut head = start;
        while head < out.len() {
            let v = out[head];
            head += 1;
            // Nodes reached lie anywhere in memory: reading a later node's
            // record now lets its cache miss overlap this node's work.
            if let Some(&ahead) = out.get(head + AHEAD) {
                std::hint::black_box(graph.in_node(ahead).start);
            }
            let node = graph.in_node(v);
            let q = node.q;
            if q.is_nan() {
                let (src, p) = graph.in_slices(v);
                for (&u, &p) in src.iter().zip(p) {
                    if !self.seen_already(u) && rng.random::<f32>() < p {
                        self.mark(u);
                        out.push(u);
                    }
                }
                continue;
            }
            if q <= 0.0 {
                continue;
            }
            let src = graph.in_sources(&node);
            // The gap to the next arc that fires is geometric: one draw per
            // firing arc instead of one per arc (a popular node can have
            // thousands of in-arcs, each at 1 / in-degree).
            let log_miss = node.log_miss;
            let mut i = 0usize;
            loop {
                if q < 1.0 {
                    let u01: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
                    let gap = (u01.ln() / log_miss).floor();
                    if gap >= (src.len() - i) as f64 {
                        break;
                    }
                    i += gap as usize;
                }
                if i >= src.len() {
                    break;
                }
                let u = src[i];
                if self.mark(u) {
                    out.push(u);
                }
                i += 1;
            }
        }
        for &v in &out[start..] {
            self.seen[(v >> 6) as usize] = 0;
        }
    }

    fn seen_already(&self, v: u32) -> bool {
        self.seen[(v >> 6) as usize] & (1u64 << (v & 63)) != 0
    }
}

#[cfg(test)]
impl RrSets {
    pub(crate) fn push(&mut self, set: &[u32]) {
        self.nodes.extend_from_slice(set);
        self.ends.push(self.nodes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inverted index lists each node's sets in set order, whatever the
    /// number of threads that fill it.
    #[test]
    fn by_node_is_the_same_on_any_thread_count() {
        let n = 50;
        let mut rng = SmallRng::seed_from_u64(3);
        let mut sets = RrSets::default();
        for _ in 0..400 {
            let len = rng.random_range(1..8);
            let mut set: Vec<u32> = (0..len).map(|_| rng.random_range(0..n as u32)).collect();
            set.sort_unstable();
            set.dedup();
            sets.push(&set);
        }
        let mut want: Vec<Vec<u32>> = vec![Vec::new(); n];
        for i in 0..sets.len() {
            for &v in sets.get(i) {
                want[v as usize].push(i as u32);
            }
        }
        for threads in [1, 2, 3, 7] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (off, by) = pool.install(|| sets.by_node(n));
            let got: Vec<Vec<u32>> = (0..n).map(|v| by[off[v]..off[v + 1]].to_vec()).collect();
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
