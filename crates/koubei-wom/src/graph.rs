//! A directed graph with an activation probability on every arc, stored twice
//! (by target for reverse-reachable sampling, by source for simulation) in
//! compressed sparse rows.

use std::collections::HashMap;

use crate::WomError;

/// How each arc gets its activation probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EdgeModel {
    /// The probability given with each edge (in the file, or learned from the
    /// shop's referrals). Parallel edges combine as independent chances:
    /// 1 − Π(1 − pᵢ).
    Given,
    /// Weighted cascade: p(u→v) = 1 / in-degree(v), counted after parallel
    /// edges are merged and self-loops dropped (Kempe, Kleinberg & Tardos 2003).
    WeightedCascade,
    /// The same probability on every arc.
    Constant(f64),
}

/// Collects labelled nodes and edges, then builds a [`Graph`].
///
/// Labels that are plain non-negative integers take a fast path (a vector
/// index instead of a hash), which matters for edge lists of millions of lines.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    labels: Vec<String>,
    by_number: Vec<u32>,
    by_text: HashMap<String, u32>,
    /// (source, target, probability or NaN when none was given, line).
    edges: Vec<(u32, u32, f32)>,
    missing_probability: Option<usize>,
}

const ABSENT: u32 = u32::MAX;

/// A canonical decimal (no sign, no leading zero) small enough to index by.
fn small_number(label: &str) -> Option<usize> {
    let b = label.as_bytes();
    if b.is_empty() || b.len() > 9 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    let mut v = 0usize;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as usize;
    }
    Some(v)
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of the node with this label, added if new.
    pub fn node(&mut self, label: &str) -> u32 {
        if let Some(v) = small_number(label) {
            if let Some(&i) = self.by_number.get(v)
                && i != ABSENT
            {
                return i;
            }
            // Far-out numbers go to the hash, so that a few large ids do not
            // allocate a huge vector; a number hashed earlier stays there.
            if v <= 64 * (self.labels.len() + 1024) && !self.by_text.contains_key(label) {
                if v >= self.by_number.len() {
                    self.by_number
                        .resize((v + 1).max(self.by_number.len() * 2), ABSENT);
                }
                let i = self.labels.len() as u32;
                self.by_number[v] = i;
                self.labels.push(label.to_string());
                return i;
            }
        }
        if let Some(&i) = self.by_text.get(label) {
            return i;
        }
        let i = self.labels.len() as u32;
        self.labels.push(label.to_string());
        self.by_text.insert(label.to_string(), i);
        i
    }

    /// The index of a node already added.
    pub fn lookup(&self, label: &str) -> Option<u32> {
        if let Some(&i) = small_number(label).and_then(|v| self.by_number.get(v))
            && i != ABSENT
        {
            return Some(i);
        }
        self.by_text.get(label).copied()
    }

    pub fn node_count(&self) -> usize {
        self.labels.len()
    }

    /// Adds an arc. `line` is only used to name the first edge without a
    /// probability, should the model need one.
    pub fn edge(&mut self, source: u32, target: u32, probability: Option<f64>, line: usize) {
        if probability.is_none() && self.missing_probability.is_none() {
            self.missing_probability = Some(line);
        }
        self.edges
            .push((source, target, probability.map_or(f32::NAN, |p| p as f32)));
    }

    /// Builds the graph: drops self-loops, adds the reverse of every edge when
    /// `undirected`, merges parallel arcs and assigns probabilities.
    pub fn build(self, model: EdgeModel, undirected: bool) -> Result<Graph, WomError> {
        if let EdgeModel::Constant(p) = model
            && !(0.0..=1.0).contains(&p)
        {
            return Err(WomError::Invalid(format!(
                "the constant probability {p} is outside [0, 1]"
            )));
        }
        if model == EdgeModel::Given
            && let Some(line) = self.missing_probability
        {
            return Err(WomError::EdgeList {
                line,
                reason: "no probability is given, and the model needs one on every edge \
                         (use weighted cascade or a constant instead)"
                    .into(),
            });
        }
        let n = self.labels.len();
        let mut arcs = self.edges;
        arcs.retain(|&(u, v, _)| u != v);
        if undirected {
            let m = arcs.len();
            arcs.reserve(m);
            for i in 0..m {
                let (u, v, p) = arcs[i];
                arcs.push((v, u, p));
            }
        }
        // By target, then source: parallel arcs become neighbours.
        arcs.sort_unstable_by_key(|&(u, v, _)| ((v as u64) << 32) | u as u64);
        let mut merged: Vec<(u32, u32, f32)> = Vec::with_capacity(arcs.len());
        for (u, v, p) in arcs {
            match merged.last_mut() {
                Some(last) if last.0 == u && last.1 == v => {
                    // Independent chances: 1 − (1 − p₁)(1 − p₂).
                    last.2 = 1.0 - (1.0 - last.2) * (1.0 - p);
                }
                _ => merged.push((u, v, p)),
            }
        }
        drop(self.by_text);
        let mut in_off = vec![0usize; n + 1];
        for &(_, v, _) in &merged {
            in_off[v as usize + 1] += 1;
        }
        for i in 0..n {
            in_off[i + 1] += in_off[i];
        }
        let in_src: Vec<u32> = merged.iter().map(|a| a.0).collect();
        let in_p: Vec<f32> = match model {
            EdgeModel::Given => merged.iter().map(|a| a.2).collect(),
            EdgeModel::Constant(p) => vec![p as f32; merged.len()],
            EdgeModel::WeightedCascade => merged
                .iter()
                .map(|&(_, v, _)| {
                    let d = in_off[v as usize + 1] - in_off[v as usize];
                    1.0 / d as f32
                })
                .collect(),
        };
        drop(merged);
        // Nodes whose in-arcs all share one probability (every node under
        // weighted cascade or a constant): sampling can jump between the arcs
        // that fire instead of flipping a coin for each.
        let in_nodes: Vec<InNode> = (0..n)
            .map(|v| {
                let ps = &in_p[in_off[v]..in_off[v + 1]];
                let q = match ps.first() {
                    Some(&p0) if ps.iter().all(|&p| p == p0) => p0,
                    _ => f32::NAN,
                };
                InNode {
                    start: in_off[v] as u64,
                    len: ps.len() as u32,
                    q,
                    log_miss: if q >= 1.0 {
                        f64::NEG_INFINITY
                    } else {
                        (-(q as f64)).ln_1p()
                    },
                }
            })
            .collect();
        // The same arcs by source, by a counting sort.
        let mut out_off = vec![0usize; n + 1];
        for &u in &in_src {
            out_off[u as usize + 1] += 1;
        }
        for i in 0..n {
            out_off[i + 1] += out_off[i];
        }
        let mut fill = out_off.clone();
        let mut out_dst = vec![0u32; in_src.len()];
        let mut out_p = vec![0f32; in_src.len()];
        for v in 0..n {
            for e in in_off[v]..in_off[v + 1] {
                let u = in_src[e] as usize;
                out_dst[fill[u]] = v as u32;
                out_p[fill[u]] = in_p[e];
                fill[u] += 1;
            }
        }
        Ok(Graph {
            labels: self.labels,
            in_off,
            in_src,
            in_p,
            in_nodes,
            out_off,
            out_dst,
            out_p,
        })
    }
}

/// What sampling reads of a node's in-arcs, in one place: one cache miss
/// per node reached rather than one per array.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InNode {
    /// Where its in-arcs start in `in_src`, and how many there are.
    pub start: u64,
    pub len: u32,
    /// The probability all its in-arcs share, or NaN when they differ (or
    /// there are none).
    pub q: f32,
    /// ln(1 − q), for the geometric gaps between the arcs that fire.
    pub log_miss: f64,
}

/// A directed graph with a probability on every arc.
#[derive(Debug, Clone)]
pub struct Graph {
    labels: Vec<String>,
    in_off: Vec<usize>,
    in_src: Vec<u32>,
    in_p: Vec<f32>,
    in_nodes: Vec<InNode>,
    out_off: Vec<usize>,
    out_dst: Vec<u32>,
    out_p: Vec<f32>,
}

impl Graph {
    /// Nodes are numbered 0..n.
    pub fn node_count(&self) -> usize {
        self.labels.len()
    }

    /// Arcs after merging and dropping self-loops.
    pub fn arc_count(&self) -> usize {
        self.in_src.len()
    }

    pub fn label(&self, v: u32) -> &str {
        &self.labels[v as usize]
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The node with this label, by a linear scan: for a handful of look-ups.
    pub fn find(&self, label: &str) -> Option<u32> {
        self.labels
            .iter()
            .position(|l| l == label)
            .map(|i| i as u32)
    }

    /// (source, probability) of each arc into `v`.
    pub fn in_arcs(&self, v: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let r = self.in_off[v as usize]..self.in_off[v as usize + 1];
        self.in_src[r.clone()]
            .iter()
            .copied()
            .zip(self.in_p[r].iter().copied())
    }

    /// (target, probability) of each arc out of `u`.
    pub fn out_arcs(&self, u: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let r = self.out_off[u as usize]..self.out_off[u as usize + 1];
        self.out_dst[r.clone()]
            .iter()
            .copied()
            .zip(self.out_p[r].iter().copied())
    }

    /// What sampling reads of the arcs into `v`.
    pub(crate) fn in_node(&self, v: u32) -> InNode {
        self.in_nodes[v as usize]
    }

    /// Sources of the arcs into a node, from its [`InNode`].
    pub(crate) fn in_sources(&self, node: &InNode) -> &[u32] {
        let start = node.start as usize;
        &self.in_src[start..start + node.len as usize]
    }

    pub(crate) fn in_slices(&self, v: u32) -> (&[u32], &[f32]) {
        let r = self.in_off[v as usize]..self.in_off[v as usize + 1];
        (&self.in_src[r.clone()], &self.in_p[r])
    }

    pub(crate) fn out_slices(&self, u: u32) -> (&[u32], &[f32]) {
        let r = self.out_off[u as usize]..self.out_off[u as usize + 1];
        (&self.out_dst[r.clone()], &self.out_p[r])
    }

    pub fn in_degree(&self, v: u32) -> usize {
        self.in_off[v as usize + 1] - self.in_off[v as usize]
    }

    pub fn out_degree(&self, u: u32) -> usize {
        self.out_off[u as usize + 1] - self.out_off[u as usize]
    }

    /// Bytes held by the graph's arrays (labels counted by their text).
    pub fn heap_bytes(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 24).sum::<usize>()
            + (self.in_off.len() + self.out_off.len()) * 8
            + (self.in_src.len() + self.out_dst.len()) * 4
            + (self.in_p.len() + self.out_p.len()) * 4
            + self.in_nodes.len() * std::mem::size_of::<InNode>()
    }

    /// Builds a graph from index pairs, each node labelled by its index.
    pub fn from_edges(
        n: usize,
        edges: &[(u32, u32, Option<f64>)],
        model: EdgeModel,
        undirected: bool,
    ) -> Result<Graph, WomError> {
        let mut b = GraphBuilder::new();
        for i in 0..n {
            b.node(&i.to_string());
        }
        for (line, &(u, v, p)) in edges.iter().enumerate() {
            if u as usize >= n || v as usize >= n {
                return Err(WomError::Invalid(format!(
                    "edge {u} -> {v} names a node outside 0..{n}"
                )));
            }
            b.edge(u, v, p, line + 1);
        }
        b.build(model, undirected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_parallel_edges_and_drops_self_loops() {
        let g = Graph::from_edges(
            3,
            &[(0, 1, None), (0, 1, None), (1, 1, None), (2, 1, None)],
            EdgeModel::WeightedCascade,
            false,
        )
        .unwrap();
        assert_eq!(g.arc_count(), 2);
        assert_eq!(g.in_degree(1), 2);
        let p: Vec<_> = g.in_arcs(1).collect();
        assert_eq!(p, vec![(0, 0.5), (2, 0.5)]);
        assert_eq!(g.out_arcs(0).collect::<Vec<_>>(), vec![(1, 0.5)]);
    }

    #[test]
    fn undirected_adds_both_directions_and_given_probabilities_combine() {
        let g = Graph::from_edges(
            2,
            &[(0, 1, Some(0.5)), (1, 0, Some(0.5))],
            EdgeModel::Given,
            true,
        )
        .unwrap();
        // Each direction gets two parallel chances of 1/2: 1 - 1/4.
        assert_eq!(g.in_arcs(1).collect::<Vec<_>>(), vec![(0, 0.75)]);
        assert_eq!(g.in_arcs(0).collect::<Vec<_>>(), vec![(1, 0.75)]);
    }

    #[test]
    fn given_model_needs_every_probability() {
        let err = Graph::from_edges(
            2,
            &[(0, 1, Some(0.5)), (1, 0, None)],
            EdgeModel::Given,
            false,
        )
        .unwrap_err();
        assert!(matches!(err, WomError::EdgeList { line: 2, .. }), "{err}");
    }

    #[test]
    fn labels_take_the_number_and_the_text_paths() {
        let mut b = GraphBuilder::new();
        let a = b.node("17");
        let c = b.node("017");
        let d = b.node("alice");
        assert_eq!((a, c, d), (0, 1, 2));
        assert_eq!(b.node("17"), 0);
        assert_eq!(b.lookup("017"), Some(1));
        assert_eq!(b.lookup("alice"), Some(2));
        assert_eq!(b.lookup("18"), None);
    }
}
