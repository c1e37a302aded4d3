//! Referral cascades as trees, and their shape.
//!
//! Structural virality is Goel, Anderson, Hofman & Watts (2016): the mean
//! shortest-path distance over all pairs of distinct nodes of the tree. In a
//! tree, the edge above a subtree of s nodes (out of n) lies on the path of
//! exactly s·(n − s) pairs, so the sum of all distances (the Wiener index) is
//! Σ s·(n − s) over edges: linear time instead of all pairs.

use crate::WomError;

/// One cascade's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeShape {
    /// The root's node index.
    pub root: u32,
    pub size: usize,
    /// Generations below the root: 0 for a lone root.
    pub depth: usize,
    /// The most nodes at any one depth.
    pub max_breadth: usize,
    /// Mean distance over pairs of nodes; None for a lone root.
    pub structural_virality: Option<f64>,
}

/// A forest given by each node's parent.
#[derive(Debug, Clone)]
pub struct Forest {
    /// Nodes in breadth-first order, tree by tree.
    order: Vec<u32>,
    /// Where each tree starts in `order`, and one past the end.
    tree_starts: Vec<usize>,
    depth: Vec<u32>,
    parent: Vec<Option<u32>>,
}

impl Forest {
    /// Builds the forest. Fails on a parent outside the nodes or on a cycle,
    /// naming a node on it.
    pub fn new(parent: &[Option<u32>]) -> Result<Forest, WomError> {
        let n = parent.len();
        let mut child_off = vec![0usize; n + 1];
        for (v, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                if *p as usize >= n {
                    return Err(WomError::Invalid(format!(
                        "node {v} has parent {p}, outside the {n} nodes"
                    )));
                }
                child_off[*p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            child_off[i + 1] += child_off[i];
        }
        let mut fill = child_off.clone();
        let mut children = vec![0u32; child_off[n]];
        for (v, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[fill[*p as usize]] = v as u32;
                fill[*p as usize] += 1;
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut tree_starts = Vec::new();
        let mut depth = vec![0u32; n];
        for (r, p) in parent.iter().enumerate() {
            if p.is_some() {
                continue;
            }
            tree_starts.push(order.len());
            let mut head = order.len();
            order.push(r as u32);
            while head < order.len() {
                let v = order[head] as usize;
                head += 1;
                for &c in &children[child_off[v]..child_off[v + 1]] {
                    depth[c as usize] = depth[v] + 1;
                    order.push(c);
                }
            }
        }
        if order.len() < n {
            let mut seen = vec![false; n];
            for &v in &order {
                seen[v as usize] = true;
            }
            let v = seen.iter().position(|s| !s).unwrap_or(0);
            return Err(WomError::Invalid(format!(
                "the referrals form a cycle through node {v}: nobody on it was the first"
            )));
        }
        tree_starts.push(n);
        Ok(Forest {
            order,
            tree_starts,
            depth,
            parent: parent.to_vec(),
        })
    }

    pub fn tree_count(&self) -> usize {
        self.tree_starts.len() - 1
    }

    /// The nodes of tree `t`, root first, in breadth-first order.
    pub fn tree(&self, t: usize) -> &[u32] {
        &self.order[self.tree_starts[t]..self.tree_starts[t + 1]]
    }

    /// The generation of node v below its root.
    pub fn depth(&self, v: u32) -> u32 {
        self.depth[v as usize]
    }

    pub fn parent(&self, v: u32) -> Option<u32> {
        self.parent[v as usize]
    }

    /// The shape of every tree, in root order.
    pub fn shapes(&self) -> Vec<CascadeShape> {
        let mut subtree = vec![1u64; self.parent.len()];
        let mut out = Vec::with_capacity(self.tree_count());
        let mut breadth: Vec<usize> = Vec::new();
        for t in 0..self.tree_count() {
            let nodes = self.tree(t);
            let size = nodes.len();
            breadth.clear();
            for &v in nodes {
                let d = self.depth[v as usize] as usize;
                if breadth.len() <= d {
                    breadth.resize(d + 1, 0);
                }
                breadth[d] += 1;
            }
            // Children come after parents, so a reverse pass sums subtrees.
            let mut wiener = 0u128;
            for &v in nodes.iter().rev() {
                if let Some(p) = self.parent[v as usize] {
                    let s = subtree[v as usize];
                    subtree[p as usize] += s;
                    wiener += s as u128 * (size as u64 - s) as u128;
                }
            }
            let pairs = size as u128 * (size as u128 - 1) / 2;
            out.push(CascadeShape {
                root: nodes[0],
                size,
                depth: breadth.len() - 1,
                max_breadth: breadth.iter().copied().max().unwrap_or(1),
                structural_virality: (size > 1).then(|| wiener as f64 / pairs as f64),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The definition: mean over pairs of breadth-first distances.
    fn all_pairs(parent: &[Option<u32>], nodes: &[u32]) -> f64 {
        let n = parent.len();
        let mut adj = vec![Vec::new(); n];
        for (v, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                adj[v].push(*p as usize);
                adj[*p as usize].push(v);
            }
        }
        let mut total = 0usize;
        for &s in nodes {
            let mut dist = vec![usize::MAX; n];
            dist[s as usize] = 0;
            let mut q = std::collections::VecDeque::from([s as usize]);
            while let Some(u) = q.pop_front() {
                for &w in &adj[u] {
                    if dist[w] == usize::MAX {
                        dist[w] = dist[u] + 1;
                        q.push_back(w);
                    }
                }
            }
            total += nodes.iter().map(|&t| dist[t as usize]).sum::<usize>();
        }
        let m = nodes.len();
        total as f64 / (m * (m - 1)) as f64
    }

    #[test]
    fn shapes_of_a_star_and_a_chain() {
        // Star: root 0 with 4 leaves. Pairs: 4 at distance 1, 6 at 2 → 1.6.
        let star = [None, Some(0), Some(0), Some(0), Some(0)];
        let s = &Forest::new(&star).unwrap().shapes()[0];
        assert_eq!((s.size, s.depth, s.max_breadth), (5, 1, 4));
        assert!((s.structural_virality.unwrap() - 1.6).abs() < 1e-12);
        // Chain of 5: mean distance (n + 1) / 3 = 2.
        let chain = [None, Some(0), Some(1), Some(2), Some(3)];
        let s = &Forest::new(&chain).unwrap().shapes()[0];
        assert_eq!((s.size, s.depth, s.max_breadth), (5, 4, 1));
        assert!((s.structural_virality.unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn virality_equals_the_all_pairs_definition_on_random_forests() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..50 {
            let n = rng.random_range(1..120usize);
            // Random recursive forest: each node's parent is an earlier node,
            // or none; then shuffle the labels so parents are not ordered.
            let mut perm: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                perm.swap(i, rng.random_range(0..=i));
            }
            let mut parent = vec![None; n];
            for i in 1..n {
                if rng.random_bool(0.9) {
                    let p = rng.random_range(0..i);
                    parent[perm[i] as usize] = Some(perm[p]);
                }
            }
            let f = Forest::new(&parent).unwrap();
            let shapes = f.shapes();
            assert_eq!(shapes.iter().map(|s| s.size).sum::<usize>(), n);
            for (t, s) in shapes.iter().enumerate() {
                let nodes = f.tree(t);
                match s.structural_virality {
                    None => assert_eq!(s.size, 1),
                    Some(v) => {
                        let want = all_pairs(&parent, nodes);
                        assert!((v - want).abs() < 1e-9 * want.max(1.0), "{v} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_cycle_is_an_error() {
        let err = Forest::new(&[None, Some(2), Some(1)]).unwrap_err();
        assert!(err.to_string().contains("cycle through node 1"), "{err}");
    }
}

/// Cuts referral cycles, which bad attribution data can contain: on each
/// cycle, the node reached first in index order loses its parent and becomes
/// a root. Returns how many cycles were cut.
pub fn break_cycles(parent: &mut [Option<u32>]) -> usize {
    // 0: not seen, 1: on the current path, 2: done.
    let mut state = vec![0u8; parent.len()];
    let mut cut = 0;
    let mut path = Vec::new();
    for start in 0..parent.len() {
        path.clear();
        let mut v = start;
        let mut closed = false;
        while state[v] == 0 {
            state[v] = 1;
            path.push(v);
            match parent[v] {
                Some(p) if (p as usize) < parent.len() => v = p as usize,
                _ => break,
            }
            // The walk came back to a node of its own path: a cycle.
            closed = state[v] == 1;
        }
        if closed {
            parent[v] = None;
            cut += 1;
        }
        for &u in &path {
            state[u] = 2;
        }
    }
    cut
}

#[cfg(test)]
mod cycle_tests {
    use super::*;

    #[test]
    fn cycles_are_cut_once_each() {
        let mut p = vec![Some(1), Some(2), Some(0), Some(0), Some(3), Some(5)];
        assert_eq!(break_cycles(&mut p), 2);
        assert!(Forest::new(&p).is_ok());
        // A forest is left alone.
        let mut q = vec![None, Some(0), Some(1)];
        assert_eq!(break_cycles(&mut q), 0);
        assert_eq!(q, vec![None, Some(0), Some(1)]);
    }
}
