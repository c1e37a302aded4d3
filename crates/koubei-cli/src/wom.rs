//! `koubei wom`: seeds and simulation over a referral graph or an edge list.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use koubei_wom::{EdgeModel, Graph, GraphBuilder, SeedRequest, Seeds, Targets};
use serde_json::{Value, json};

use crate::args::{GraphArgs, OutputFormat, WomCommand};
use crate::output::{self, Table};

pub async fn run(_workspace: &Path, command: WomCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        WomCommand::Seeds {
            graph,
            k,
            epsilon,
            delta,
            seed,
            min_rr_sets,
            precision,
            format,
        } => {
            let started = Instant::now();
            let loaded = load_graph(&graph)?;
            let req = SeedRequest {
                k,
                epsilon,
                delta,
                seed,
                min_rr_sets,
                precision: (precision > 0.0).then_some(precision),
            };
            let seeds = koubei_wom::select_seeds(&loaded.graph, &Targets::Nodes, &req)?;
            print_seeds(out, &loaded, &seeds, epsilon, started, format)
        }
        WomCommand::Simulate {
            graph,
            seeds,
            runs,
            seed,
            format,
        } => {
            if runs == 0 {
                bail!("--runs must be at least 1");
            }
            let loaded = load_graph(&graph)?;
            let ids = read_seed_file(&seeds, &loaded.graph)?;
            let spread = koubei_wom::simulate(&loaded.graph, &ids, runs, seed, None);
            if format == OutputFormat::Json {
                return output::json(
                    out,
                    &json!({
                        "seeds": ids.len(),
                        "runs": spread.runs,
                        "spread": spread.people.mean,
                        "std_error": spread.people.std_error,
                        "model": loaded.model,
                    }),
                );
            }
            let mut t = Table::new(&["seeds", "runs", "spread", "std_error"]);
            t.row(vec![
                ids.len().to_string(),
                spread.runs.to_string(),
                format!("{:.2}", spread.people.mean),
                format!("{:.2}", spread.people.std_error),
            ]);
            t.write(out, format)
        }
    }
}

/// A graph ready for the algorithms, with how its probabilities were set.
pub struct Loaded {
    pub graph: Graph,
    pub model: String,
    /// Node ids print as JSON numbers when every id in the file is one.
    pub numeric_ids: bool,
}

fn parse_model(s: &str) -> Result<EdgeModel> {
    Ok(match s {
        "wc" | "weighted-cascade" => EdgeModel::WeightedCascade,
        "given" => EdgeModel::Given,
        _ => match s.strip_prefix("const:") {
            Some(p) => {
                let p: f64 = p
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--model const:P needs a number, not \"{p}\""))?;
                if !(0.0..=1.0).contains(&p) {
                    bail!("--model const:{p}: the probability is outside [0, 1]");
                }
                EdgeModel::Constant(p)
            }
            None => bail!("unknown --model \"{s}\": expected learned, wc, const:P or given"),
        },
    })
}

fn load_graph(args: &GraphArgs) -> Result<Loaded> {
    let Some(file) = &args.graph else {
        bail!("seeds from the shop's referrals are not available yet: pass --graph FILE");
    };
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut builder = GraphBuilder::new();
    let info = koubei_wom::read_edge_list(&text, &mut builder)
        .with_context(|| format!("{} is not a valid edge list", file.display()))?;
    drop(text);
    if info.edges == 0 {
        bail!("{} has no edges", file.display());
    }
    let model = match args.model.as_deref() {
        Some("learned") => bail!(
            "--model learned learns from the shop's referrals; with --graph use given, wc or const:P"
        ),
        Some(m) => parse_model(m)?,
        None if info.all_probabilities => EdgeModel::Given,
        None => EdgeModel::WeightedCascade,
    };
    let graph = builder
        .build(model, args.undirected)
        .with_context(|| format!("{}", file.display()))?;
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
        model: model_name(model),
        numeric_ids,
    })
}

fn model_name(m: EdgeModel) -> String {
    match m {
        EdgeModel::Given => "given".into(),
        EdgeModel::WeightedCascade => "wc".into(),
        EdgeModel::Constant(p) => format!("const:{p}"),
    }
}

fn id_value(loaded: &Loaded, v: u32) -> Value {
    let label = loaded.graph.label(v);
    if loaded.numeric_ids
        && let Ok(n) = label.parse::<u64>()
    {
        return json!(n);
    }
    json!(label)
}

/// Seed ids, one per line, or the `seeds` array of `wom seeds --format json`.
fn read_seed_file(file: &Path, graph: &Graph) -> Result<Vec<u32>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut labels: Vec<(usize, String)> = Vec::new();
    if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", file.display()))?;
        let Some(list) = v.get("seeds").and_then(Value::as_array) else {
            bail!("{} has no \"seeds\" array", file.display());
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
    if labels.is_empty() {
        bail!("{} names no seeds", file.display());
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
            None if line > 0 => bail!(
                "{}: line {line}: node \"{l}\" is not in the graph",
                file.display()
            ),
            None => bail!("{}: node \"{l}\" is not in the graph", file.display()),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn print_seeds(
    out: &mut dyn Write,
    loaded: &Loaded,
    s: &Seeds,
    epsilon: f64,
    started: Instant,
    format: OutputFormat,
) -> Result<()> {
    let seconds = started.elapsed().as_secs_f64();
    if format == OutputFormat::Json {
        let seeds: Vec<Value> = s.seeds.iter().map(|&v| id_value(loaded, v)).collect();
        return output::json(
            out,
            &json!({
                "seeds": seeds,
                "spread": s.spread,
                "approximation": s.approximation,
                "spread_lower": s.spread_lower,
                "optimum_upper": s.optimum_upper,
                "target": s.target,
                "epsilon": epsilon,
                "delta": s.delta,
                "model": loaded.model,
                "nodes": loaded.graph.node_count(),
                "arcs": loaded.graph.arc_count(),
                "rr_sets": s.rr_sets,
                "cumulative_spread": s.cumulative_spread,
                "rounds": s.rounds.iter().map(|r| json!({
                    "rr_sets": r.rr_sets,
                    "approximation": r.approximation,
                })).collect::<Vec<_>>(),
                "seconds": seconds,
            }),
        );
    }
    let mut t = Table::new(&["rank", "node", "spread", "marginal"]);
    let mut prev = 0.0;
    for (i, (&v, &c)) in s.seeds.iter().zip(&s.cumulative_spread).enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            loaded.graph.label(v).to_string(),
            format!("{c:.1}"),
            format!("{:.1}", c - prev),
        ]);
        prev = c;
    }
    t.write(out, format)?;
    if format == OutputFormat::Table {
        writeln!(
            out,
            "\n{} seeds on {} nodes and {} arcs ({} probabilities)",
            s.seeds.len(),
            loaded.graph.node_count(),
            loaded.graph.arc_count(),
            loaded.model
        )?;
        writeln!(
            out,
            "expected spread {:.1}; at least {:.1}, and the best {} seeds at most {:.1}, each with probability {:.4}",
            s.spread,
            s.spread_lower,
            s.seeds.len(),
            s.optimum_upper,
            1.0 - s.delta / 3.0
        )?;
        writeln!(
            out,
            "certified approximation {:.3} of the optimum (guaranteed: 1 - 1/e - {epsilon} = {:.3})",
            s.approximation, s.target
        )?;
        writeln!(
            out,
            "{} RR sets in each of 2 collections, {} rounds, {:.2} s",
            s.rr_sets,
            s.rounds.len(),
            seconds
        )?;
    }
    Ok(())
}
