//! `koubei wom`: word-of-mouth metrics, cascades and reach from the shop's
//! tables; seeds and simulation over its referral graph or any edge list.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use koubei_engine::Engine;
use koubei_engine::wom::{
    ArcModel, CascadeReport, CascadeRequest, MetricsReport, MetricsRequest, ReachReport,
    ReachRequest,
};
use koubei_store::Workspace;
use koubei_wom::{EdgeModel, Graph, GraphBuilder, Groups, SeedRequest, Seeds, StopReason, Targets};
use serde_json::{Value, json};

use crate::args::{GraphArgs, OutputFormat, WomCommand};
use crate::output::{self, Table};
use crate::progress::Bar;

pub async fn run(workspace: &Path, command: WomCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        WomCommand::Metrics {
            by,
            share_window,
            no_clv,
            format,
        } => {
            let req = MetricsRequest {
                by: by.parse().map_err(anyhow::Error::msg)?,
                share_window_days: share_window,
                clv: !no_clv,
            };
            let engine = open(workspace).await?;
            let r = engine.wom_metrics(&req).await?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            print_metrics(out, &r, format)
        }
        WomCommand::Cascades {
            top,
            tree_nodes,
            by,
            format,
        } => {
            let req = CascadeRequest {
                top,
                tree_nodes,
                by: by.parse().map_err(anyhow::Error::msg)?,
            };
            let r = open(workspace).await?.cascades(&req).await?;
            if r.cycles_cut > 0 {
                eprintln!(
                    "warning: the referrals held {} cycle(s); each was cut at one customer",
                    r.cycles_cut
                );
            }
            print_cascades(out, &r, format)
        }
        WomCommand::Reach {
            home,
            by,
            top,
            format,
        } => {
            let req = ReachRequest {
                home,
                by: by.parse().map_err(anyhow::Error::msg)?,
                top,
            };
            let r = open(workspace).await?.reach(&req).await?;
            if !r.unresolved.is_empty() {
                eprintln!(
                    "warning: {} place name(s) match no ISO 3166 entry and count only as written: {}",
                    r.unresolved.len(),
                    r.unresolved
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            print_reach(out, &r, format)
        }
        WomCommand::Seeds {
            graph,
            k,
            epsilon,
            delta,
            objective,
            seed,
            min_rr_sets,
            precision,
            memory_budget,
            format,
        } => {
            let started = Instant::now();
            let loaded = load_graph(workspace, &graph).await?;
            let targets = loaded.targets(&objective)?;
            let req = SeedRequest {
                k,
                epsilon,
                delta,
                seed,
                min_rr_sets,
                precision: (precision > 0.0).then_some(precision),
                memory_budget: memory_budget.saturating_mul(1 << 20),
            };
            let bar = Bar::new("sampling RR sets");
            koubei_store::Progress::stage(&bar, "sampling RR sets", None);
            let seeds = koubei_wom::select_seeds_with(&loaded.graph, &targets, &req, &mut |r| {
                bar.message(&format!(
                    "round: {} sets, certified {:.3}",
                    r.rr_sets, r.approximation
                ))
            });
            bar.finish();
            let seeds = seeds?;
            print_seeds(out, &loaded, &seeds, &objective, epsilon, started, format)
        }
        WomCommand::Simulate {
            graph,
            seeds,
            runs,
            objective,
            seed,
            format,
        } => {
            if runs == 0 {
                bail!("--runs must be at least 1");
            }
            let loaded = load_graph(workspace, &graph).await?;
            let groups = match objective.as_deref() {
                None | Some("people") => None,
                Some(o) => Some(loaded.group_of(o)?),
            };
            let ids = read_seed_file(&seeds, &loaded.graph)?;
            let spread = koubei_wom::simulate(&loaded.graph, &ids, runs, seed, groups);
            if format == OutputFormat::Json {
                let mut v = json!({
                    "seeds": ids.len(),
                    "runs": spread.runs,
                    "spread": spread.people.mean,
                    "std_error": spread.people.std_error,
                    "model": loaded.model,
                });
                if let Some(g) = spread.groups {
                    v["groups"] =
                        json!({"objective": objective, "mean": g.mean, "std_error": g.std_error});
                }
                return output::json(out, &v);
            }
            let mut t = Table::new(&["seeds", "runs", "spread", "std_error"]);
            t.row(vec![
                ids.len().to_string(),
                spread.runs.to_string(),
                format!("{:.2}", spread.people.mean),
                format!("{:.2}", spread.people.std_error),
            ]);
            if let Some(g) = spread.groups {
                t.header
                    .extend([objective.clone().unwrap_or_default(), "std_error".into()]);
                t.rows[0].extend([format!("{:.2}", g.mean), format!("{:.2}", g.std_error)]);
            }
            t.write(out, format)
        }
    }
}

async fn open(workspace: &Path) -> Result<Engine> {
    let ws = Workspace::open(workspace)?;
    Ok(Engine::open(&ws).await?)
}

/// A graph ready for the algorithms, with how its probabilities were set.
pub struct Loaded {
    pub graph: Graph,
    pub model: String,
    /// Node ids print as JSON numbers when every id in the file is one.
    pub numeric_ids: bool,
    /// Each node's region and country, on shop data.
    pub places: Option<Places>,
}

pub struct Places {
    region_of: Vec<Option<u32>>,
    regions: usize,
    country_of: Vec<Option<u32>>,
    countries: usize,
}

impl Loaded {
    fn group_of(&self, objective: &str) -> Result<(&[Option<u32>], usize)> {
        let Some(p) = &self.places else {
            bail!(
                "--objective {objective} needs the customers' places: it works on shop data, not with --graph"
            );
        };
        match objective {
            "regions" => Ok((&p.region_of, p.regions)),
            "countries" => Ok((&p.country_of, p.countries)),
            _ => bail!("unknown objective \"{objective}\": expected people, regions or countries"),
        }
    }

    fn targets(&self, objective: &str) -> Result<Targets> {
        if objective == "people" {
            return Ok(Targets::Nodes);
        }
        let (group_of, n) = self.group_of(objective)?;
        if n == 0 {
            bail!("no customer in the referral graph has a known {objective}");
        }
        Ok(Targets::Groups(Groups::new(group_of, &vec![1.0; n])))
    }
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

async fn load_graph(workspace: &Path, args: &GraphArgs) -> Result<Loaded> {
    let Some(file) = &args.graph else {
        if args.undirected {
            bail!("--undirected applies to --graph FILE; shares have a direction");
        }
        let model: ArcModel = args
            .model
            .as_deref()
            .unwrap_or("learned")
            .parse()
            .map_err(anyhow::Error::msg)?;
        let g = open(workspace).await?.referral_graph(model).await?;
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
        places: None,
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
    objective: &str,
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
                "objective": objective,
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
                "stopped_by": s.stopped_by.as_str(),
                "cumulative_spread": s.cumulative_spread,
                "rounds": s.rounds.iter().map(|r| json!({
                    "rr_sets": r.rr_sets,
                    "approximation": r.approximation,
                })).collect::<Vec<_>>(),
                "seconds": seconds,
            }),
        );
    }
    let unit = if objective == "people" {
        "spread"
    } else {
        objective
    };
    let mut t = Table::new(&["rank", "node", unit, "marginal"]);
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
            "expected {} {:.1}; at least {:.1}, and the best {} seeds at most {:.1}, each with probability {:.4}",
            if objective == "people" {
                "people reached"
            } else {
                objective
            },
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
            "{} RR sets in each of 2 collections, {} rounds ({}), {:.2} s",
            s.rr_sets,
            s.rounds.len(),
            match s.stopped_by {
                StopReason::Met => "stopped when met",
                StopReason::MemoryBudget => "stopped by the memory budget",
                StopReason::Cap => "stopped at the sample cap",
            },
            seconds
        )?;
    }
    Ok(())
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        String::new()
    }
}

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        String::new()
    }
}

fn print_metrics(out: &mut dyn Write, r: &MetricsReport, format: OutputFormat) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    let mut t = Table::new(&[
        "period",
        "buyers",
        "customer_share_rate",
        "order_share_rate",
        "shares",
        "invites_per_buyer",
        "invite_conversion",
        "k_factor",
        "new_customers",
        "referred_share_of_new",
    ]);
    for p in &r.periods {
        t.row(vec![
            p.period.clone(),
            p.buyers.to_string(),
            pct(p.customer_share_rate),
            pct(p.order_share_rate),
            p.shares.to_string(),
            num(p.invites_per_buyer, 3),
            pct(p.invite_conversion),
            num(p.k_factor, 3),
            p.new_customers.to_string(),
            pct(p.referred_share_of_new),
        ]);
    }
    if format == OutputFormat::Csv {
        return t.write(out, format);
    }
    let f = &r.funnel;
    writeln!(out, "Referral funnel")?;
    let mut ft = Table::new(&["step", "count", "rate"]);
    ft.row(vec!["shares".into(), f.shares.to_string(), String::new()]);
    ft.row(vec![
        "clicked".into(),
        f.clicked.to_string(),
        pct(f.click_rate),
    ]);
    ft.row(vec![
        "ordered".into(),
        f.ordered.to_string(),
        pct(f.order_rate_after_click),
    ]);
    ft.row(vec![
        "new customers".into(),
        f.new_customers.to_string(),
        String::new(),
    ]);
    ft.write(out, format)?;
    writeln!(
        out,
        "referral conversion {} of shares; share to first order: mean {} days, median {} days",
        pct(f.conversion_rate),
        f.days_to_order_mean.map_or(String::new(), |d| num(d, 1)),
        f.days_to_order_median.map_or(String::new(), |d| num(d, 1)),
    )?;
    writeln!(
        out,
        "\nBy {} (an order counts as shared when its buyer shares within {} days)",
        r.by, r.share_window_days
    )?;
    t.write(out, format)?;
    writeln!(out, "\nBy channel")?;
    let mut ct = Table::new(&[
        "channel",
        "shares",
        "of_all",
        "sharers",
        "click_rate",
        "conversion_rate",
        "new_customers",
    ]);
    for c in &r.channels {
        ct.row(vec![
            c.channel.clone(),
            c.shares.to_string(),
            pct(c.share_of_shares),
            c.sharers.to_string(),
            pct(c.click_rate),
            pct(c.conversion_rate),
            c.new_customers.to_string(),
        ]);
    }
    ct.write(out, format)?;
    writeln!(out, "\nBy order channel")?;
    let mut oc = Table::new(&[
        "channel",
        "orders",
        "order_share_rate",
        "buyers",
        "customer_share_rate",
    ]);
    for c in &r.order_channels {
        oc.row(vec![
            c.channel.clone(),
            c.orders.to_string(),
            pct(c.order_share_rate),
            c.buyers.to_string(),
            pct(c.customer_share_rate),
        ]);
    }
    oc.write(out, format)?;
    writeln!(out, "\nReferred customers beside the others")?;
    let mut rt = Table::new(&[
        "group",
        "customers",
        "revenue",
        "revenue_per_customer",
        "orders_per_customer",
        "repeat_rate",
        "retained_90d",
        "mean_clv",
    ]);
    for c in &r.referred {
        rt.row(vec![
            c.group.into(),
            c.customers.to_string(),
            num(c.revenue, 2),
            num(c.revenue_per_customer, 2),
            num(c.orders_per_customer, 2),
            pct(c.repeat_rate),
            c.retained_90d.map_or(String::new(), pct),
            c.mean_clv.map_or(String::new(), |v| num(v, 2)),
        ]);
    }
    rt.write(out, format)
}

fn print_cascades(out: &mut dyn Write, r: &CascadeReport, format: OutputFormat) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    let mut lt = Table::new(&[
        "root",
        "size",
        "depth",
        "max_breadth",
        "structural_virality",
        "started",
        "duration_days",
    ]);
    for c in &r.largest {
        lt.row(vec![
            c.root.clone(),
            c.size.to_string(),
            c.depth.to_string(),
            c.max_breadth.to_string(),
            c.structural_virality.map_or(String::new(), |v| num(v, 3)),
            c.started.clone().unwrap_or_default(),
            c.duration_days.map_or(String::new(), |v| num(v, 1)),
        ]);
    }
    if format == OutputFormat::Csv {
        return lt.write(out, format);
    }
    writeln!(
        out,
        "{} people, {} referred; {} cascades of two or more, {} roots nobody followed",
        r.people, r.referred, r.cascades, r.singletons
    )?;
    writeln!(out, "\nOver the cascades")?;
    let mut dt = Table::new(&["measure", "mean", "median", "p90", "p99", "max"]);
    for d in &r.distribution {
        dt.row(vec![
            d.measure.into(),
            num(d.mean, 2),
            num(d.median, 2),
            num(d.p90, 2),
            num(d.p99, 2),
            num(d.max, 2),
        ]);
    }
    dt.write(out, format)?;
    writeln!(out, "\nSizes")?;
    let mut st = Table::new(&["size", "cascades", "customers"]);
    for b in &r.sizes {
        st.row(vec![
            b.size.into(),
            b.cascades.to_string(),
            b.customers.to_string(),
        ]);
    }
    st.write(out, format)?;
    writeln!(out, "\nLargest cascades")?;
    lt.write(out, format)?;
    writeln!(out, "\nReach over time")?;
    let mut ot = Table::new(&["period", "referred", "referred_total", "cascades_total"]);
    for p in &r.over_time {
        ot.row(vec![
            p.period.clone(),
            p.referred.to_string(),
            p.referred_total.to_string(),
            p.cascades_total.to_string(),
        ]);
    }
    ot.write(out, format)
}

fn print_reach(out: &mut dyn Write, r: &ReachReport, format: OutputFormat) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    let mut ot = Table::new(&[
        "period",
        "reached",
        "cities",
        "regions",
        "countries",
        "home_regions",
        "home_coverage",
        "overseas_countries",
        "continents",
        "global_coverage",
    ]);
    for p in &r.over_time {
        let x = &p.places;
        ot.row(vec![
            p.period.clone(),
            p.reached.to_string(),
            x.cities.to_string(),
            x.regions.to_string(),
            x.countries.to_string(),
            x.home_regions.to_string(),
            pct(x.home_coverage),
            x.overseas_countries.to_string(),
            x.continents.to_string(),
            pct(x.global_coverage),
        ]);
    }
    if format == OutputFormat::Csv {
        return ot.write(out, format);
    }
    let x = &r.places;
    writeln!(
        out,
        "{} referred customers reached {} cities, {} regions and {} countries",
        r.reached, x.cities, x.regions, x.countries
    )?;
    writeln!(
        out,
        "home {}: {} of {} subdivisions ({})",
        r.home,
        x.home_regions,
        r.home_regions_total,
        pct(x.home_coverage)
    )?;
    if !r.home_regions_missing.is_empty() {
        writeln!(out, "  not reached: {}", r.home_regions_missing.join(", "))?;
    }
    writeln!(
        out,
        "overseas: {} countries ({}); continents: {} ({})",
        x.overseas_countries,
        r.overseas.join(", "),
        x.continents,
        r.continent_list.join(", ")
    )?;
    writeln!(
        out,
        "worldwide: {} of {} ISO 3166-1 countries ({})",
        x.countries,
        r.countries_total,
        pct(x.global_coverage)
    )?;
    writeln!(out, "\nOver time")?;
    ot.write(out, format)?;
    writeln!(out, "\nWidest-reaching cascades")?;
    let mut ct = Table::new(&[
        "root",
        "size",
        "cities",
        "regions",
        "countries",
        "home_coverage",
    ]);
    for c in &r.cascades {
        ct.row(vec![
            c.root.clone(),
            c.size.to_string(),
            c.places.cities.to_string(),
            c.places.regions.to_string(),
            c.places.countries.to_string(),
            pct(c.places.home_coverage),
        ]);
    }
    ct.write(out, format)
}
