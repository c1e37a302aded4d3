//! Word of mouth: metrics, cascades and reach over the shop's tables; seeds
//! and simulation over its referral graph or any edge list.

use crate::Op;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use koubei_engine::wom::ArcModel;
use koubei_store::Workspace;
use koubei_wom::{EdgeModel, Graph, GraphBuilder, Groups, SeedRequest, StopReason, Targets};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use serde_with::DeserializeFromStr;

use crate::{Error, Progress, Result};

pub use koubei_engine::wom::{
    CascadeReport, CascadeRequest, MetricsReport, MetricsRequest, ReachReport, ReachRequest,
};

crate::engine_ops! {
    /// Share rate, the referral funnel, K-factor, channels, referred customers.
    metrics = wom_metrics(MetricsRequest) -> MetricsReport;
    /// Cascade shapes, the largest trees, reach over time.
    cascades = cascades(CascadeRequest) -> CascadeReport;
    /// Places reached: cities, regions, countries, coverage.
    reach = reach(ReachRequest) -> ReachReport;
}

/// How arcs get their probabilities: the one grammar for shop data and
/// edge lists alike.
#[derive(Debug, Clone, Copy, PartialEq, DeserializeFromStr)]
pub enum GraphModel {
    /// Each sharer's share-to-order rate (shop data only).
    Learned,
    /// 1 / in-degree.
    WeightedCascade,
    Constant(f64),
    /// The edge list's third column.
    Given,
}

impl FromStr for GraphModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "learned" => GraphModel::Learned,
            "wc" | "weighted-cascade" => GraphModel::WeightedCascade,
            "given" => GraphModel::Given,
            _ => match s.strip_prefix("const:") {
                Some(p) => {
                    let p: f64 = p
                        .parse()
                        .map_err(|_| format!("const:P needs a number, not \"{p}\""))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!("const:{p}: the probability is outside [0, 1]"));
                    }
                    GraphModel::Constant(p)
                }
                None => {
                    return Err(format!(
                        "unknown model \"{s}\": expected learned, wc, const:P or given"
                    ));
                }
            },
        })
    }
}

/// What to maximise, or count, beside people reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, DeserializeFromStr)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    #[default]
    People,
    Regions,
    Countries,
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "people" => Ok(Objective::People),
            "regions" => Ok(Objective::Regions),
            "countries" => Ok(Objective::Countries),
            _ => Err(format!(
                "unknown objective \"{s}\": expected people, regions or countries"
            )),
        }
    }
}

impl Objective {
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::People => "people",
            Objective::Regions => "regions",
            Objective::Countries => "countries",
        }
    }
}

/// Where the graph comes from: the shop's referrals, or an edge list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GraphSource {
    /// An edge list (`source target [probability]` per line) instead of the
    /// workspace's referrals.
    pub graph: Option<PathBuf>,
    /// With a graph file: every line is an edge in both directions.
    pub undirected: bool,
    /// Default: learned on shop data; given when the file has
    /// probabilities, else wc.
    pub model: Option<GraphModel>,
}

/// A graph ready for the algorithms, with how its probabilities were set.
struct Loaded {
    graph: Graph,
    model: String,
    /// Node ids print as JSON numbers when every id in the file is one.
    numeric_ids: bool,
    /// Each node's region and country, on shop data.
    places: Option<Places>,
}

struct Places {
    region_of: Vec<Option<u32>>,
    regions: usize,
    country_of: Vec<Option<u32>>,
    countries: usize,
}

/// Each node's group (region or country), and how many groups there are.
type GroupOf<'a> = (&'a [Option<u32>], usize);

impl Loaded {
    fn group_of(&self, objective: Objective) -> Result<Option<GroupOf<'_>>> {
        if objective == Objective::People {
            return Ok(None);
        }
        let Some(p) = &self.places else {
            return Err(Error::invalid(
                "objective",
                format!(
                    "{} needs the customers' places: it works on shop data, not with a graph file",
                    objective.as_str()
                ),
            ));
        };
        Ok(Some(match objective {
            Objective::Regions => (&p.region_of, p.regions),
            _ => (&p.country_of, p.countries),
        }))
    }

    fn targets(&self, objective: Objective) -> Result<Targets> {
        let Some((group_of, n)) = self.group_of(objective)? else {
            return Ok(Targets::Nodes);
        };
        if n == 0 {
            return Err(Error::Request(format!(
                "no customer in the referral graph has a known {}",
                objective.as_str()
            )));
        }
        Ok(Targets::Groups(Groups::new(group_of, &vec![1.0; n])))
    }

    /// A node's id as JSON: a number when every id in the file is one.
    fn id_value(&self, v: u32) -> Value {
        let label = self.graph.label(v);
        if self.numeric_ids
            && let Ok(n) = label.parse::<u64>()
        {
            return json!(n);
        }
        json!(label)
    }
}

async fn load_graph(ws: &Path, src: &GraphSource) -> Result<Loaded> {
    let Some(file) = &src.graph else {
        if src.undirected {
            return Err(Error::invalid(
                "undirected",
                "applies to a graph file; shares have a direction",
            ));
        }
        let model = match src.model.unwrap_or(GraphModel::Learned) {
            GraphModel::Learned => ArcModel::Learned { prior: 10.0 },
            GraphModel::WeightedCascade => ArcModel::WeightedCascade,
            GraphModel::Constant(p) => ArcModel::Constant(p),
            GraphModel::Given => {
                return Err(Error::invalid(
                    "model",
                    "given reads a graph file's probabilities; on shop data use learned, wc or const:P",
                ));
            }
        };
        let ws = Workspace::open(ws)?;
        let g = crate::engines::engine(&ws)
            .await?
            .referral_graph(model)
            .await?;
        let model = match model {
            ArcModel::Learned { prior } => format!(
                "learned: each sharer's conversion rate, smoothed by {prior} shares at the shop's {:.2}%",
                100.0 * g.conversions as f64 / g.shares.max(1) as f64
            ),
            ArcModel::WeightedCascade => "wc".into(),
            ArcModel::Constant(p) => format!("const:{p}"),
        };
        return Ok(Loaded {
            numeric_ids: false,
            places: Some(Places {
                regions: g.regions.len(),
                countries: g.countries.len(),
                region_of: g.region_of,
                country_of: g.country_of,
            }),
            graph: g.graph,
            model,
        });
    };
    let text = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let mut builder = GraphBuilder::new();
    let info = koubei_wom::read_edge_list(&text, &mut builder)
        .map_err(|e| Error::Request(format!("{} is not a valid edge list: {e}", file.display())))?;
    drop(text);
    if info.edges == 0 {
        return Err(Error::Request(format!("{} has no edges", file.display())));
    }
    let model = match src.model {
        Some(GraphModel::Learned) => {
            return Err(Error::invalid(
                "model",
                "learned learns from the shop's referrals; with a graph file use given, wc or const:P",
            ));
        }
        Some(GraphModel::Given) => EdgeModel::Given,
        Some(GraphModel::WeightedCascade) => EdgeModel::WeightedCascade,
        Some(GraphModel::Constant(p)) => EdgeModel::Constant(p),
        None if info.all_probabilities => EdgeModel::Given,
        None => EdgeModel::WeightedCascade,
    };
    let graph = builder
        .build(model, src.undirected)
        .map_err(|e| Error::Request(format!("{}: {e}", file.display())))?;
    let numeric_ids = graph
        .labels()
        .iter()
        .all(|l| l.parse::<u64>().is_ok_and(|v| v.to_string() == *l));
    tracing::info!(
        nodes = graph.node_count(),
        arcs = graph.arc_count(),
        self_loops = info.self_loops,
        "read {}",
        file.display()
    );
    Ok(Loaded {
        graph,
        model: match model {
            EdgeModel::Given => "given".into(),
            EdgeModel::WeightedCascade => "wc".into(),
            EdgeModel::Constant(p) => format!("const:{p}"),
        },
        numeric_ids,
        places: None,
    })
}

/// What `koubei wom seeds` chooses.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SeedsRequest {
    #[serde(flatten)]
    pub graph: GraphSource,
    /// How many seeds.
    pub k: usize,
    /// The guarantee is 1 − 1/e − epsilon of the optimum.
    pub epsilon: f64,
    /// The chance that the guarantee fails (default: 1 / nodes).
    pub delta: Option<f64>,
    pub objective: Objective,
    /// The same seed gives the same answer.
    pub seed: u64,
    /// Keep sampling until each collection has this many RR sets.
    pub min_rr_sets: usize,
    /// Keep sampling until the spread's lower bound is within this fraction
    /// of the estimate (0 stops once the guarantee holds).
    pub precision: f64,
    /// Sampling past the guarantee stops before the RR sets take more than
    /// this many MiB.
    pub memory_budget_mib: usize,
}

impl Default for SeedsRequest {
    fn default() -> Self {
        SeedsRequest {
            graph: GraphSource::default(),
            k: 50,
            epsilon: 0.1,
            delta: None,
            objective: Objective::People,
            seed: 0,
            min_rr_sets: 0,
            precision: 0.03,
            memory_budget_mib: 2048,
        }
    }
}

/// One round of sampling.
#[derive(Debug, Clone, Serialize)]
pub struct SeedRound {
    pub rr_sets: usize,
    pub approximation: f64,
}

/// The seeds, their spread, and what the run certifies.
#[derive(Debug, Clone, Serialize)]
pub struct SeedsReport {
    /// Node ids in pick order: numbers when every id in the graph file is one.
    pub seeds: Vec<Value>,
    pub objective: Objective,
    pub spread: f64,
    pub approximation: f64,
    pub spread_lower: f64,
    pub optimum_upper: f64,
    pub target: f64,
    pub epsilon: f64,
    pub delta: f64,
    pub model: String,
    pub nodes: usize,
    pub arcs: usize,
    pub rr_sets: usize,
    pub stopped_by: &'static str,
    pub cumulative_spread: Vec<f64>,
    pub rounds: Vec<SeedRound>,
    /// The random seed the RR sets were sampled with: the same seed and
    /// data give the same seeds on any number of threads.
    pub random_seed: u64,
    /// How long it took: shown in the terminal, not in JSON, which is the
    /// same from run to run.
    #[serde(skip)]
    pub seconds: f64,
    /// The seeds' ids as text.
    #[serde(skip)]
    pub labels: Vec<String>,
    #[serde(skip)]
    pub stop: StopReason,
}

/// Builds the index of countries and their names (read from ISO 3166 data
/// embedded in the binary at first use) so that the first reach asked for
/// does not wait for it: a server calls it while it waits for requests.
pub fn load_places() {
    koubei_geo::country_count();
}

/// Chooses the seeds whose word of mouth reaches furthest (OPIM-C).
#[inline(never)]
pub fn seeds<'a>(
    ws: &'a Path,
    req: &'a SeedsRequest,
    progress: &'a dyn Progress,
) -> Op<'a, SeedsReport> {
    Box::pin(async move {
        let started = Instant::now();
        let loaded = load_graph(ws, &req.graph).await?;
        let targets = loaded.targets(req.objective)?;
        let run = SeedRequest {
            k: req.k,
            epsilon: req.epsilon,
            delta: req.delta,
            seed: req.seed,
            min_rr_sets: req.min_rr_sets,
            precision: (req.precision > 0.0).then_some(req.precision),
            memory_budget: req.memory_budget_mib.saturating_mul(1 << 20),
        };
        let task = progress.task("sampling RR sets");
        task.stage("sampling RR sets", None);
        let s = koubei_wom::select_seeds_with(&loaded.graph, &targets, &run, &mut |r| {
            task.message(&format!(
                "round: {} sets, certified {:.3}",
                r.rr_sets, r.approximation
            ))
        });
        task.finish();
        let s = s.map_err(|e| Error::Request(e.to_string()))?;
        Ok(SeedsReport {
            seeds: s.seeds.iter().map(|&v| loaded.id_value(v)).collect(),
            labels: s
                .seeds
                .iter()
                .map(|&v| loaded.graph.label(v).to_string())
                .collect(),
            objective: req.objective,
            spread: s.spread,
            approximation: s.approximation,
            spread_lower: s.spread_lower,
            optimum_upper: s.optimum_upper,
            target: s.target,
            epsilon: req.epsilon,
            delta: s.delta,
            model: loaded.model,
            nodes: loaded.graph.node_count(),
            arcs: loaded.graph.arc_count(),
            rr_sets: s.rr_sets,
            stopped_by: s.stopped_by.as_str(),
            stop: s.stopped_by,
            cumulative_spread: s.cumulative_spread,
            rounds: s
                .rounds
                .iter()
                .map(|r| SeedRound {
                    rr_sets: r.rr_sets,
                    approximation: r.approximation,
                })
                .collect(),
            random_seed: req.seed,
            seconds: started.elapsed().as_secs_f64(),
        })
    })
}

/// The seeds to simulate: a file (one node id per line, or the JSON that
/// `seeds` reports), or the ids themselves.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SeedSet {
    File(PathBuf),
    Ids(Vec<String>),
}

/// What `koubei wom simulate` estimates.
#[derive(Debug, Clone, Deserialize)]
pub struct SimulateRequest {
    #[serde(flatten)]
    pub graph: GraphSource,
    pub seeds: SeedSet,
    /// Cascades to simulate.
    #[serde(default = "default_runs")]
    pub runs: usize,
    /// Also count the distinct regions or countries reached (shop data only).
    #[serde(default)]
    pub objective: Option<Objective>,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
}

fn default_runs() -> usize {
    10_000
}

/// Groups reached, beside people.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSpread {
    pub objective: Objective,
    pub mean: f64,
    pub std_error: f64,
}

/// How far a seed set spreads, by Monte Carlo.
#[derive(Debug, Clone, Serialize)]
pub struct SimulateReport {
    pub seeds: usize,
    pub runs: usize,
    pub spread: f64,
    pub std_error: f64,
    pub model: String,
    /// The random seed of the runs.
    pub random_seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupSpread>,
}

#[inline(never)]
pub fn simulate<'a>(ws: &'a Path, req: &'a SimulateRequest) -> Op<'a, SimulateReport> {
    Box::pin(async move {
        // Each run's state is a few words, held for all runs at once: a count
        // in the billions asked for terabytes.
        const MAX_RUNS: usize = 10_000_000;
        if req.runs == 0 || req.runs > MAX_RUNS {
            return Err(Error::invalid(
                "runs",
                format!("must be from 1 to {MAX_RUNS}, not {}", req.runs),
            ));
        }
        let loaded = load_graph(ws, &req.graph).await?;
        let objective = req.objective.unwrap_or_default();
        let groups = loaded.group_of(objective)?;
        let ids = seed_ids(&req.seeds, &loaded.graph)?;
        let spread = koubei_wom::simulate(&loaded.graph, &ids, req.runs, req.seed, groups);
        Ok(SimulateReport {
            seeds: ids.len(),
            runs: spread.runs,
            spread: spread.people.mean,
            std_error: spread.people.std_error,
            model: loaded.model,
            random_seed: req.seed,
            groups: spread.groups.map(|g| GroupSpread {
                objective,
                mean: g.mean,
                std_error: g.std_error,
            }),
        })
    })
}

/// The graph's nodes named by a seed set, sorted, each once.
fn seed_ids(set: &SeedSet, graph: &Graph) -> Result<Vec<u32>> {
    // (line, id); line 0 where the source has no lines.
    let (labels, origin): (Vec<(usize, String)>, String) = match set {
        SeedSet::Ids(ids) => (
            ids.iter().map(|s| (0, s.clone())).collect(),
            "seeds".to_string(),
        ),
        SeedSet::File(file) => (read_seed_file(file)?, file.display().to_string()),
    };
    if labels.is_empty() {
        return Err(Error::invalid("seeds", format!("{origin} names no seeds")));
    }
    let index: std::collections::HashMap<&str, u32> = graph
        .labels()
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let mut ids = Vec::with_capacity(labels.len());
    for (line, l) in labels {
        match index.get(l.as_str()) {
            Some(&v) => ids.push(v),
            None if line > 0 => {
                return Err(Error::invalid(
                    "seeds",
                    format!("{origin}: line {line}: node \"{l}\" is not in the graph"),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "seeds",
                    format!("{origin}: node \"{l}\" is not in the graph"),
                ));
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Seed ids, one per line (`#` starts a comment), or the `seeds` array of
/// the seeds report's JSON.
fn read_seed_file(file: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let mut labels = Vec::new();
    if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                "seeds",
                format!("{} is not valid JSON: {e}", file.display()),
            )
        })?;
        let Some(list) = v.get("seeds").and_then(Value::as_array) else {
            return Err(Error::invalid(
                "seeds",
                format!("{} has no \"seeds\" array", file.display()),
            ));
        };
        for x in list {
            labels.push((
                0,
                match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            ));
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                labels.push((i + 1, line.to_string()));
            }
        }
    }
    Ok(labels)
}

koubei_schema::text_schema!(GraphModel, "learned, wc, given, or const:P");
koubei_schema::text_schema!(Objective, "people, regions or countries");
