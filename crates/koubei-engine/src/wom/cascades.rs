//! `koubei wom cascades`: one tree per customer who was not referred, and the
//! shape of each (size, depth, breadth, structural virality, duration).

use serde::{Deserialize, Serialize};

use super::{Distribution, People, Period, forest};
use crate::{Engine, Result};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CascadeRequest {
    /// How many of the largest cascades to list.
    pub top: usize,
    /// The most nodes drawn per listed tree.
    pub tree_nodes: usize,
    /// The period of the reach-over-time series.
    pub by: Period,
}

impl Default for CascadeRequest {
    fn default() -> Self {
        CascadeRequest {
            top: 10,
            tree_nodes: 200,
            by: Period::Month,
        }
    }
}

/// A tree for the dashboard: the id and the children.
#[derive(Debug, Clone, Serialize)]
pub struct TreeNode {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TreeNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CascadeSummary {
    pub root: String,
    pub size: usize,
    pub depth: usize,
    pub max_breadth: usize,
    pub structural_virality: Option<f64>,
    /// When the root joined, YYYY-MM-DD.
    pub started: Option<String>,
    /// Days from the root's joining to the last referred customer's.
    pub duration_days: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeNode>,
    /// Whether the tree was cut at the requested number of nodes.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeBucket {
    pub size: &'static str,
    pub cascades: usize,
    pub customers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReachPoint {
    /// The period's first day.
    pub period: String,
    /// Customers referred in the period.
    pub referred: usize,
    /// Referred customers up to the period's end.
    pub referred_total: usize,
    /// Cascades that had grown past their root by the period's end.
    pub cascades_total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CascadeReport {
    /// Everyone: customers and referrers known only by id.
    pub people: usize,
    /// People with a referrer.
    pub referred: usize,
    /// Trees of two people or more.
    pub cascades: usize,
    /// Roots whom nobody followed.
    pub singletons: usize,
    /// Size, depth, breadth, structural virality and duration over the
    /// cascades (trees of two or more).
    pub distribution: Vec<Distribution>,
    pub sizes: Vec<SizeBucket>,
    pub largest: Vec<CascadeSummary>,
    pub over_time: Vec<ReachPoint>,
    pub cycles_cut: usize,
}

const BUCKETS: [(usize, usize, &str); 7] = [
    (2, 2, "2"),
    (3, 4, "3-4"),
    (5, 9, "5-9"),
    (10, 19, "10-19"),
    (20, 49, "20-49"),
    (50, 99, "50-99"),
    (100, usize::MAX, "100+"),
];

const DAY_US: f64 = 86_400e6;

impl Engine {
    pub async fn cascades(&self, req: &CascadeRequest) -> Result<CascadeReport> {
        let people = self.people().await?;
        if people.ids.is_empty() {
            return Err(crate::Error::Request(
                "there are no customers: import customers or orders first".into(),
            ));
        }
        let f = forest(&people)?;
        let shapes = f.shapes();
        let mut summaries: Vec<(usize, CascadeSummary)> = Vec::new();
        let (mut sizes, mut depths, mut breadths, mut virality, mut durations) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut buckets: Vec<SizeBucket> = BUCKETS
            .iter()
            .map(|b| SizeBucket {
                size: b.2,
                cascades: 0,
                customers: 0,
            })
            .collect();
        for (t, s) in shapes.iter().enumerate() {
            if s.size < 2 {
                continue;
            }
            sizes.push(s.size as f64);
            depths.push(s.depth as f64);
            breadths.push(s.max_breadth as f64);
            virality.extend(s.structural_virality);
            let duration = duration(&people, f.tree(t));
            durations.extend(duration);
            if let Some(b) = BUCKETS.iter().position(|b| s.size >= b.0 && s.size <= b.1) {
                buckets[b].cascades += 1;
                buckets[b].customers += s.size;
            }
            summaries.push((
                t,
                CascadeSummary {
                    root: people.ids[s.root as usize].clone(),
                    size: s.size,
                    depth: s.depth,
                    max_breadth: s.max_breadth,
                    structural_virality: s.structural_virality,
                    started: people.joined[s.root as usize]
                        .map(|j| Period::Day.of_micros(j).to_string()),
                    duration_days: duration,
                    tree: None,
                    truncated: false,
                },
            ));
        }
        let cascades = summaries.len();
        // Largest first; ties by the earlier start, then the root id.
        summaries.sort_by(|a, b| {
            b.1.size
                .cmp(&a.1.size)
                .then_with(|| a.1.started.cmp(&b.1.started))
                .then_with(|| a.1.root.cmp(&b.1.root))
        });
        summaries.truncate(req.top);
        let largest = summaries
            .into_iter()
            .map(|(t, mut s)| {
                let nodes = f.tree(t);
                s.truncated = nodes.len() > req.tree_nodes;
                // No nodes asked for: no tree, rather than a tree of none.
                let shown = &nodes[..nodes.len().min(req.tree_nodes)];
                s.tree = (!shown.is_empty()).then(|| tree(&people, &f, shown));
                s
            })
            .collect();
        let referred = people.parent.iter().filter(|p| p.is_some()).count();
        Ok(CascadeReport {
            people: people.ids.len(),
            referred,
            cascades,
            singletons: shapes.len() - cascades,
            distribution: vec![
                Distribution::of("size", sizes),
                Distribution::of("depth", depths),
                Distribution::of("max_breadth", breadths),
                Distribution::of("structural_virality", virality),
                Distribution::of("duration_days", durations),
            ],
            sizes: buckets,
            largest,
            over_time: over_time(&people, &f, req.by),
            cycles_cut: people.cycles_cut,
        })
    }
}

/// Days from the root's joining to the latest joining in the tree.
fn duration(p: &People, nodes: &[u32]) -> Option<f64> {
    let root = p.joined[nodes[0] as usize]?;
    let last = nodes.iter().filter_map(|&v| p.joined[v as usize]).max()?;
    Some((last - root).max(0) as f64 / DAY_US)
}

/// The first nodes of a tree (breadth first), nested.
fn tree(p: &People, f: &koubei_wom::Forest, nodes: &[u32]) -> TreeNode {
    let pos: std::collections::HashMap<u32, usize> =
        nodes.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, &v) in nodes.iter().enumerate().skip(1) {
        if let Some(&pi) = f.parent(v).and_then(|u| pos.get(&u)) {
            kids[pi].push(i);
        }
    }
    fn build(i: usize, nodes: &[u32], kids: &[Vec<usize>], p: &People) -> TreeNode {
        TreeNode {
            id: p.ids[nodes[i] as usize].clone(),
            children: kids[i].iter().map(|&c| build(c, nodes, kids, p)).collect(),
        }
    }
    build(0, nodes, &kids, p)
}

fn over_time(p: &People, f: &koubei_wom::Forest, by: Period) -> Vec<ReachPoint> {
    // Each referred person's joining, and each cascade's first referral.
    let mut referred: Vec<i64> = Vec::new();
    let mut first_growth: std::collections::HashMap<u32, i64> = Default::default();
    for t in 0..f.tree_count() {
        let nodes = f.tree(t);
        for &v in &nodes[1..] {
            if let Some(j) = p.joined[v as usize] {
                referred.push(j);
                let e = first_growth.entry(nodes[0]).or_insert(j);
                *e = (*e).min(j);
            }
        }
    }
    let mut per: std::collections::BTreeMap<chrono::NaiveDate, (usize, usize)> = Default::default();
    for j in referred {
        per.entry(by.of_micros(j)).or_default().0 += 1;
    }
    for j in first_growth.into_values() {
        per.entry(by.of_micros(j)).or_default().1 += 1;
    }
    let (Some(&first), Some(&last)) = (per.keys().next(), per.keys().next_back()) else {
        return Vec::new();
    };
    let (mut total, mut cascades) = (0, 0);
    by.range(first, last)
        .into_iter()
        .map(|d| {
            let (r, c) = per.get(&d).copied().unwrap_or_default();
            total += r;
            cascades += c;
            ReachPoint {
                period: d.to_string(),
                referred: r,
                referred_total: total,
                cascades_total: cascades,
            }
        })
        .collect()
}
