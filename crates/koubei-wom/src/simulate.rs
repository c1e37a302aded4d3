//! Monte-Carlo spread under the independent cascade model: each newly active
//! node gets one chance to activate each out-neighbour, with the arc's
//! probability.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::Graph;

/// The mean and standard error of a simulated quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub std_error: f64,
}

/// What simulated cascades reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub runs: usize,
    /// People activated, seeds included.
    pub people: Estimate,
    /// Distinct groups with an active member, when groups were given.
    pub groups: Option<Estimate>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    n: f64,
    s1: f64,
    s2: f64,
    g1: f64,
    g2: f64,
}

impl Sums {
    fn add(mut self, o: Sums) -> Sums {
        self.n += o.n;
        self.s1 += o.s1;
        self.s2 += o.s2;
        self.g1 += o.g1;
        self.g2 += o.g2;
        self
    }
}

fn estimate(n: f64, s1: f64, s2: f64) -> Estimate {
    let mean = s1 / n;
    let var = if n > 1.0 {
        ((s2 - n * mean * mean) / (n - 1.0)).max(0.0)
    } else {
        0.0
    };
    Estimate {
        mean,
        std_error: (var / n).sqrt(),
    }
}

/// Runs `runs` cascades from `seeds` on all threads. `group_of` (one entry per
/// node) also counts the distinct groups reached.
pub fn simulate(
    graph: &Graph,
    seeds: &[u32],
    runs: usize,
    seed: u64,
    group_of: Option<(&[Option<u32>], usize)>,
) -> Spread {
    const CHUNK: usize = 256;
    let n = graph.node_count();
    let chunks: Vec<(usize, usize)> = (0..runs.div_ceil(CHUNK))
        .map(|c| (c, CHUNK.min(runs - c * CHUNK)))
        .collect();
    let sums = chunks
        .par_iter()
        .map_init(
            || {
                (
                    vec![0u32; n],
                    0u32,
                    Vec::<u32>::new(),
                    vec![0u32; group_of.map_or(0, |g| g.1)],
                )
            },
            |(stamp, epoch, queue, gstamp), &(c, len)| {
                let mut rng =
                    SmallRng::seed_from_u64(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let mut sums = Sums::default();
                for _ in 0..len {
                    *epoch += 1;
                    let e = *epoch;
                    queue.clear();
                    for &s in seeds {
                        if stamp[s as usize] != e {
                            stamp[s as usize] = e;
                            queue.push(s);
                        }
                    }
                    let mut head = 0;
                    while head < queue.len() {
                        let u = queue[head];
                        head += 1;
                        let (dst, p) = graph.out_slices(u);
                        for (&v, &p) in dst.iter().zip(p) {
                            if stamp[v as usize] != e && rng.random::<f32>() < p {
                                stamp[v as usize] = e;
                                queue.push(v);
                            }
                        }
                    }
                    let reached = queue.len() as f64;
                    sums.n += 1.0;
                    sums.s1 += reached;
                    sums.s2 += reached * reached;
                    if let Some((group_of, _)) = group_of {
                        let mut g = 0.0;
                        for &v in queue.iter() {
                            if let Some(x) = group_of[v as usize]
                                && gstamp[x as usize] != e
                            {
                                gstamp[x as usize] = e;
                                g += 1.0;
                            }
                        }
                        sums.g1 += g;
                        sums.g2 += g * g;
                    }
                }
                sums
            },
        )
        .reduce(Sums::default, Sums::add);
    Spread {
        runs,
        people: estimate(sums.n, sums.s1, sums.s2),
        groups: group_of.map(|_| estimate(sums.n, sums.g1, sums.g2)),
    }
}
