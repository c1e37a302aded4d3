//! One function per subcommand: resolve the arguments, call the library, render.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use koubei_demo::DemoConfig;
use koubei_engine::Engine;
use koubei_engine::clv::{SummaryRequest, parse_horizon};
use koubei_engine::clv_report::{ClvReport, ClvRequest};
use koubei_engine::funnel_query::{FunnelRequest, parse_duration};
use koubei_engine::retention::RetentionRequest;
use koubei_engine::rfm::SEGMENTS;
use koubei_engine::sales::{Period, SalesReport, SalesRequest};
use koubei_schema::TableKind;
use koubei_store::{Delimiter, Format, ImportOptions, ImportReport, ImportTz, Workspace};

use crate::args::{Cli, Command, OutputFormat};
use crate::output::{self, Table};
use crate::progress::Bar;

pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    let path = cli.workspace;
    match cli.command {
        Command::Demo {
            customers,
            seed,
            replace,
            no_events,
            format,
        } => demo(&path, customers, seed, replace, !no_events, format, out).await,
        Command::Import {
            table,
            file,
            input_format,
            delimiter,
            columns,
            map,
            timezone,
            max_reject_ratio,
            output,
        } => {
            let table: TableKind = table.parse()?;
            let opts = ImportOptions {
                format: input_format
                    .map(|f| f.parse::<Format>())
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                delimiter: delimiter.map(|d| parse_delimiter(&d)).transpose()?,
                columns: (!columns.is_empty()).then_some(columns),
                mapping: map
                    .iter()
                    .map(|m| parse_mapping(m))
                    .collect::<Result<_>>()?,
                timezone: timezone
                    .parse::<ImportTz>()
                    .map_err(|e| anyhow::anyhow!("--timezone: {e}"))?,
                max_reject_ratio: check_ratio(max_reject_ratio)?,
            };
            let ws = Workspace::create(&path)?;
            let bar = Bar::new(table.name());
            let result = ws.import_file(table, &file, &opts, &bar).await;
            bar.finish();
            match result {
                Ok(report) => {
                    if table == TableKind::Orders {
                        store_purchases_after_import(&ws).await;
                    }
                    print_import(out, &report, output)
                }
                Err(koubei_store::Error::TooManyRejects {
                    rejected,
                    read,
                    max,
                    samples,
                }) => {
                    for r in samples.iter().take(5) {
                        eprintln!("{}", describe_reject(&file.display().to_string(), r));
                    }
                    if rejected > 5 {
                        eprintln!("... and {} more", rejected - 5);
                    }
                    bail!(koubei_store::Error::TooManyRejects {
                        rejected,
                        read,
                        max,
                        samples: Vec::new(),
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Refresh => store_purchases(&Workspace::open(&path)?).await,
        Command::Tables { format } => {
            let ws = Workspace::open(&path)?;
            let infos = ws.tables().await?;
            match format {
                OutputFormat::Json => output::json(out, &serde_json::json!({ "tables": infos })),
                f => {
                    let mut t = Table::new(&["table", "rows", "version", "last_import", "source"]);
                    for i in infos {
                        let dash = || "-".to_string();
                        t.row(vec![
                            i.name,
                            i.rows.map_or_else(dash, |r| r.to_string()),
                            i.version.map_or_else(dash, |v| v.to_string()),
                            i.last_import.unwrap_or_else(dash),
                            i.last_source.unwrap_or_else(dash),
                        ]);
                    }
                    t.write(out, f)
                }
            }
        }
        Command::Sales {
            by,
            breakdown,
            top,
            range,
            format,
        } => {
            let req = SalesRequest {
                by: by.parse().map_err(anyhow::Error::msg)?,
                breakdown,
                top,
                since: range.since,
                until: range.until,
            };
            let ws = Workspace::open(&path)?;
            let report = Engine::open(&ws).await?.sales(&req).await?;
            print_sales(out, &report, format)
        }
        Command::Funnel {
            steps,
            exclude,
            breakdown,
            trend,
            window,
            order,
            range,
            format,
        } => {
            let req = FunnelRequest {
                steps: split_steps(&steps),
                exclusions: exclude,
                breakdown,
                trend: trend
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                window_seconds: parse_duration(&window)
                    .map_err(|e| anyhow::anyhow!("--window: {e}"))?,
                order: order.parse().map_err(anyhow::Error::msg)?,
                since: range.since,
                until: range.until,
            };
            let ws = Workspace::open(&path)?;
            let report = Engine::open(&ws).await?.funnel(&req).await?;
            print_funnel(out, &report, format)
        }
        Command::Retention {
            period,
            periods,
            start_event,
            return_event,
            cumulative,
            recurring,
            breakdown,
            range,
            format,
        } => {
            let period: Period = period.parse().map_err(anyhow::Error::msg)?;
            if !matches!(period, Period::Day | Period::Week | Period::Month) {
                bail!("--period must be day, week or month");
            }
            let req = RetentionRequest {
                period,
                periods,
                start_event,
                return_event,
                cumulative,
                recurring,
                breakdown,
                since: range.since,
                until: range.until,
            };
            let ws = Workspace::open(&path)?;
            let report = Engine::open(&ws).await?.retention(&req).await?;
            if format == OutputFormat::Json {
                return output::json(out, &report);
            }
            let mut header = vec![
                "breakdown".to_string(),
                "cohort".to_string(),
                "size".to_string(),
            ];
            header.extend((0..=periods).map(|k| format!("{}{k}", &report.period.to_string()[..1])));
            if report.breakdown.is_none() {
                header.remove(0);
            }
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut t = Table::new(&header);
            let groups = std::iter::once(("", &report.cohorts)).chain(
                report
                    .breakdown
                    .iter()
                    .flatten()
                    .map(|g| (g.value.as_str(), &g.cohorts)),
            );
            for (i, (value, cohorts)) in groups.enumerate() {
                for c in cohorts {
                    let mut row = vec![c.cohort.to_string(), c.size.to_string()];
                    if report.breakdown.is_some() {
                        let label = match (i, value) {
                            (0, _) => "(all)",
                            (_, "") => "(empty)",
                            (_, v) => v,
                        };
                        row.insert(0, label.to_string());
                    }
                    row.extend(c.retained.iter().map(|n| match n {
                        None => String::new(),
                        Some(n) if format == OutputFormat::Csv => n.to_string(),
                        Some(n) => format!("{:.1}%", 100.0 * *n as f64 / c.size.max(1) as f64),
                    }));
                    t.row(row);
                }
            }
            t.write(out, format)?;
            if format == OutputFormat::Table {
                for r in &report.repeat_purchase {
                    let rate = r.rate.map_or("-".into(), |x| format!("{:.1}%", x * 100.0));
                    writeln!(
                        out,
                        "repeat purchase within {} days: {rate} ({} of {} first-time buyers)",
                        r.days, r.repeated, r.buyers
                    )?;
                }
            }
            Ok(())
        }
        Command::Rfm {
            as_of,
            from,
            export,
            segment,
            recompute,
            format,
        } => {
            for s in &segment {
                if !SEGMENTS.contains(&s.as_str()) {
                    bail!(
                        "unknown segment \"{s}\": expected one of {}",
                        SEGMENTS.join(", ")
                    );
                }
            }
            let ws = Workspace::open(&path)?;
            let report = open_engine(&ws, recompute)
                .await?
                .rfm_report(as_of, from)
                .await?;
            if let Some(file) = export {
                use std::fmt::Write as _;
                let chosen: Vec<_> = report
                    .per_customer
                    .iter()
                    .filter(|(c, _)| segment.is_empty() || segment.iter().any(|s| s == c.segment))
                    .collect();
                let header = [
                    "customer_id",
                    "recency_days",
                    "frequency",
                    "monetary",
                    "r",
                    "f",
                    "m",
                    "segment",
                    "clv",
                ];
                output::csv_file(&file, &header, chosen.len(), |i, line| {
                    let (c, clv) = chosen[i];
                    output::csv_cell(line, &c.customer_id);
                    // Writing to a String cannot fail.
                    let _ = write!(
                        line,
                        ",{},{},{:.2},{},{},{},",
                        c.recency_days, c.frequency, c.monetary, c.r, c.f, c.m
                    );
                    output::csv_cell(line, c.segment);
                    line.push(',');
                    if let Some(v) = clv {
                        let _ = write!(line, "{v:.2}");
                    }
                })?;
                eprintln!("wrote {} customers to {}", chosen.len(), file.display());
            }
            if format == OutputFormat::Json {
                return output::json(out, &report);
            }
            let mut t = Table::new(&[
                "segment",
                "customers",
                "share",
                "revenue",
                "revenue_share",
                "avg_clv",
            ]);
            let pct = |v: f64| {
                if format == OutputFormat::Csv {
                    format!("{v:.6}")
                } else {
                    format!("{:.1}%", v * 100.0)
                }
            };
            for r in &report.segments {
                t.row(vec![
                    r.segment.to_string(),
                    r.customers.to_string(),
                    pct(r.share),
                    format!("{:.2}", r.revenue),
                    pct(r.revenue_share),
                    r.avg_clv.map_or(String::new(), |v| format!("{v:.2}")),
                ]);
            }
            if format == OutputFormat::Table {
                writeln!(
                    out,
                    "RFM as of {}: {} customers",
                    report.as_of, report.customers
                )?;
            }
            t.write(out, format)?;
            if let (Some(m), OutputFormat::Table) = (&report.migration, format) {
                writeln!(out, "\nmoved since {}:", m.from)?;
                let mut t = Table::new(&["from", "to", "customers"]);
                for (a, b, n) in &m.moves {
                    t.row(vec![a.clone(), b.clone(), n.to_string()]);
                }
                t.write(out, format)?;
            }
            Ok(())
        }
        Command::Clv {
            model,
            unit,
            calibration_end,
            holdout_end,
            horizon,
            discount_rate,
            penalizer,
            compare,
            export,
            recompute,
            format,
        } => {
            let req = ClvRequest {
                summary: SummaryRequest {
                    unit: unit.parse().map_err(anyhow::Error::msg)?,
                    calibration_end,
                    holdout_end,
                },
                model: model.parse().map_err(anyhow::Error::msg)?,
                penalizer,
                horizon_days: parse_horizon(&horizon).map_err(anyhow::Error::msg)?,
                discount_rate,
                compare,
                per_customer: export.is_some(),
            };
            let ws = Workspace::open(&path)?;
            let report = open_engine(&ws, recompute).await?.clv(&req).await?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if let Some(file) = export {
                export_customers(&file, &report)?;
                eprintln!(
                    "wrote {} customers to {}",
                    report.per_customer.len(),
                    file.display()
                );
            }
            print_clv(out, &report, &horizon, format)
        }
        Command::Wom { command } => crate::wom::run(&path, command, out).await,
        Command::Sql { query, format } => {
            let ws = Workspace::open(&path)?;
            let engine = Engine::open(&ws).await?;
            let (schema, batches) = engine.sql(&query).await?;
            output::batches(out, format, &schema, &batches)
        }
    }
}

fn export_customers(file: &Path, report: &ClvReport) -> Result<()> {
    let header = [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
    ];
    let customers = &report.per_customer;
    output::csv_file(file, &header, customers.len(), |i, line| {
        let (id, c) = customers.get(i);
        output::csv_cell(line, id);
        for v in [
            c.frequency,
            c.recency,
            c.t,
            c.monetary_value,
            c.p_alive,
            c.expected_purchases,
            c.expected_spend,
            c.clv,
        ] {
            line.push(',');
            output::csv_number(line, v);
        }
    })
}

fn print_clv(
    out: &mut dyn Write,
    r: &ClvReport,
    horizon: &str,
    format: OutputFormat,
) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    let mut t = Table::new(&["model", "param", "value", "std_error"]);
    let models = std::iter::once(&r.fit).chain(r.spend.as_ref().filter(|s| s.model != r.fit.model));
    for m in models {
        for ((name, v), (_, se)) in m.params.0.iter().zip(&m.std_errors.0) {
            t.row(vec![
                m.model.into(),
                name.to_string(),
                format!("{v:.6}"),
                format!("{se:.6}"),
            ]);
        }
    }
    if format == OutputFormat::Csv {
        return t.write(out, format);
    }
    let end = r
        .calibration_end
        .map_or(String::new(), |d| format!(", calibration to {d}"));
    writeln!(
        out,
        "{} fitted to {} customers ({} repeat buyers), unit {}{end}",
        r.fit.model, r.customers, r.repeat_buyers, r.unit
    )?;
    t.write(out, format)?;
    writeln!(
        out,
        "log-likelihood {:.3}  AIC {:.1}  BIC {:.1}  ({} iterations)",
        r.fit.log_likelihood, r.fit.aic, r.fit.bic, r.fit.iterations
    )?;
    if r.histogram.iter().any(|h| h.predicted.is_finite()) {
        writeln!(out, "\nrepeat purchases in calibration, customers:")?;
        let mut h = Table::new(&["purchases", "actual", "predicted"]);
        let last = r.histogram.len().saturating_sub(1);
        for (i, row) in r.histogram.iter().enumerate() {
            let label = if i == last {
                format!("{}+", row.purchases)
            } else {
                row.purchases.to_string()
            };
            h.row(vec![
                label,
                format!("{:.0}", row.actual),
                format!("{:.1}", row.predicted),
            ]);
        }
        h.write(out, format)?;
    }
    if !r.holdout.is_empty() {
        writeln!(
            out,
            "\nholdout purchases per customer, by calibration frequency:"
        )?;
        let mut h = Table::new(&["frequency", "customers", "actual", "predicted"]);
        let last = r.holdout.len().saturating_sub(1);
        for (i, row) in r.holdout.iter().enumerate() {
            let label = if i == last && row.frequency as usize + 1 == r.histogram.len() {
                format!("{}+", row.frequency)
            } else {
                row.frequency.to_string()
            };
            h.row(vec![
                label,
                row.customers.to_string(),
                format!("{:.3}", row.actual),
                format!("{:.3}", row.predicted),
            ]);
        }
        h.write(out, format)?;
    }
    if !r.comparison.is_empty() {
        writeln!(out, "\nmodels on the same data:")?;
        let mut h = Table::new(&["model", "log_likelihood", "AIC", "BIC"]);
        for m in &r.comparison {
            h.row(vec![
                m.model.into(),
                format!("{:.3}", m.log_likelihood),
                format!("{:.1}", m.aic),
                format!("{:.1}", m.bic),
            ]);
        }
        h.write(out, format)?;
    }
    if r.spend.is_some() {
        writeln!(
            out,
            "\nnext {horizon}: {:.1} expected purchases, {:.2} expected revenue, CLV {:.2} (discounted at {:.1}% a year)",
            r.expected_purchases,
            r.expected_revenue,
            r.total_clv,
            r.discount_rate * 100.0
        )?;
    }
    Ok(())
}

fn print_sales(out: &mut dyn Write, r: &SalesReport, format: OutputFormat) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    let rows = if r.breakdown.is_some() {
        &r.groups
    } else {
        &r.total
    };
    let mut header = vec!["period"];
    if let Some(b) = &r.breakdown {
        header.push(b.as_str());
    }
    header.extend([
        "revenue",
        "orders",
        "units",
        "buyers",
        "aov",
        "units_per_order",
        "new_buyers",
        "new_revenue",
        "returning_revenue",
        "growth",
        "yoy",
    ]);
    let mut t = Table::new(&header);
    let money = |x: f64| format!("{x:.2}");
    let ratio = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.2}"));
    let pct = |x: Option<f64>| x.map_or(String::new(), |v| format!("{:+.1}%", v * 100.0));
    for row in rows {
        let m = &row.measures;
        let mut cells = vec![row.period.to_string()];
        if r.breakdown.is_some() {
            cells.push(row.group.clone().unwrap_or_default());
        }
        cells.extend([
            money(m.revenue),
            m.orders.to_string(),
            m.units.to_string(),
            m.buyers.to_string(),
            ratio(m.average_order_value),
            ratio(m.units_per_order),
            m.new_buyers.to_string(),
            money(m.new_buyer_revenue),
            money(m.returning_buyer_revenue),
            pct(row.revenue_growth),
            pct(row.revenue_yoy),
        ]);
        t.row(cells);
    }
    t.write(out, format)
}

fn parse_delimiter(d: &str) -> Result<Delimiter> {
    match d {
        "\\t" | "tab" => Ok(Delimiter::Byte(b'\t')),
        "whitespace" | "ws" => Ok(Delimiter::Whitespace),
        d if d.len() == 1 && d.is_ascii() => Ok(Delimiter::Byte(d.as_bytes()[0])),
        _ => bail!(
            "--delimiter must be one ASCII character, \\t, or whitespace (runs of blanks), not \"{d}\""
        ),
    }
}

fn parse_mapping(m: &str) -> Result<(String, String)> {
    match m.split_once('=') {
        Some((t, s)) if !t.trim().is_empty() && !s.trim().is_empty() => {
            Ok((t.trim().to_string(), s.trim().to_string()))
        }
        _ => {
            bail!("--map must be TARGET=SOURCE, such as --map customer_id=buyer_nick; got \"{m}\"")
        }
    }
}

fn check_ratio(r: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        bail!("--max-reject-ratio must be between 0 and 1, not {r}")
    }
}

fn describe_reject(source: &str, r: &koubei_store::Reject) -> String {
    let col = r
        .column
        .as_deref()
        .map(|c| format!(", column {c}"))
        .unwrap_or_default();
    format!("rejected: {source}, line {}{col}: {}", r.line, r.reason)
}

fn print_import(out: &mut dyn Write, r: &ImportReport, format: OutputFormat) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    let mut t = Table::new(&[
        "table",
        "read",
        "loaded",
        "already_present",
        "rejected",
        "version",
    ]);
    t.row(vec![
        r.table.to_string(),
        r.rows_read.to_string(),
        r.loaded.to_string(),
        r.already_present.to_string(),
        r.rejected.to_string(),
        r.version.map_or("-".into(), |v| v.to_string()),
    ]);
    t.write(out, format)?;
    if format == OutputFormat::Table {
        for x in r.first_rejects.iter().take(5) {
            writeln!(out, "{}", describe_reject(&r.source, x))?;
        }
        if r.rejected > 0 {
            writeln!(
                out,
                "hint: all rejects are in the rejects table: koubei sql \"SELECT line, column_name, reason FROM rejects WHERE import_id = '{}'\"",
                r.import_id
            )?;
        }
        if !r.extra_columns.is_empty() {
            writeln!(out, "kept extra columns: {}", r.extra_columns.join(", "))?;
        }
    }
    Ok(())
}

/// The engine over the workspace; with `recompute`, without the stored
/// per-customer purchases.
async fn open_engine(ws: &Workspace, recompute: bool) -> Result<Engine> {
    let engine = Engine::open(ws).await?;
    Ok(if recompute {
        engine.recompute()?
    } else {
        engine
    })
}

/// Brings the per-customer purchases stored beside `orders` up to date,
/// with a spinner while it groups the orders.
async fn store_purchases(ws: &Workspace) -> Result<()> {
    let bar = Bar::new("customer purchases");
    koubei_store::Progress::stage(&bar, "summarising", None);
    let started = std::time::Instant::now();
    let stored = Engine::store_purchases(ws).await;
    bar.finish();
    if let Some(n) = stored? {
        tracing::info!(customers = n, elapsed = ?started.elapsed(), "stored the customers' purchases");
    }
    Ok(())
}

/// [`store_purchases`] after an import, which stands whether or not they
/// could be stored: without them, reports group the order lines.
async fn store_purchases_after_import(ws: &Workspace) {
    if let Err(e) = store_purchases(ws).await {
        eprintln!(
            "warning: the import is committed, but the customers' purchases were not stored ({e:#}); \
             clv and rfm group the order lines until `koubei refresh` stores them"
        );
    }
}

const DEMO_FILE: &str = "demo.json";

async fn demo(
    path: &Path,
    customers: usize,
    seed: u64,
    replace: bool,
    events: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let ws = Workspace::create(path)?;
    let cfg = DemoConfig {
        events,
        ..DemoConfig::new(customers, seed)
    };
    let recorded: Option<DemoConfig> = ws
        .read_file(DEMO_FILE)?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let has_data = ws.tables().await?.iter().any(|t| t.rows.is_some());
    if has_data && recorded.as_ref() != Some(&cfg) {
        if !replace {
            bail!(
                "{} already holds other data; use --replace to delete its tables, or choose another --workspace",
                ws.root().display()
            );
        }
        for dir in ["tables", "derived"].map(|d| ws.root().join(d)) {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
        }
    }
    ws.write_file(DEMO_FILE, &serde_json::to_vec_pretty(&cfg)?)?;

    let bar = Bar::new("demo");
    bar.counting(customers as u64, "customers");
    bar.message("generating");
    let mut data = koubei_demo::generate(&cfg, &mut |n| bar.set(n)).map_err(anyhow::Error::msg)?;
    bar.finish();
    let opts = ImportOptions::default();
    for t in TableKind::ALL {
        let bar = Bar::new(t.name());
        // Hand each table over, so that its memory is freed once imported.
        let batches = std::mem::take(data.table_mut(t));
        let r = ws
            .import_batches(t, &format!("demo:{}", t.name()), batches, &opts, &bar)
            .await;
        bar.finish();
        let r = r?;
        if r.rejected > 0 {
            bail!(
                "the demo generator made {} invalid {} rows: {:?}",
                r.rejected,
                t,
                r.first_rejects.first()
            );
        }
    }
    drop(data);
    store_purchases_after_import(&ws).await;

    let engine = Engine::open(&ws).await?;
    let (_, b) = engine
        .sql(
            "SELECT
               (SELECT count(*) FROM customers) AS customers,
               (SELECT count(DISTINCT order_id) FROM orders WHERE status = 'paid') AS paid_orders,
               (SELECT round(sum(amount), 2) FROM orders WHERE status = 'paid') AS revenue,
               (SELECT count(*) FROM events) AS events,
               (SELECT count(*) FROM reviews) AS reviews,
               (SELECT count(*) FROM referrals) AS referrals,
               (SELECT count(DISTINCT country) FROM customers) AS countries,
               (SELECT CAST(min(ts) AS DATE) FROM orders) AS first_order,
               (SELECT CAST(max(ts) AS DATE) FROM orders) AS last_order",
        )
        .await?;
    let batch = b.first().context("the summary query returned nothing")?;
    let mut summary = serde_json::Map::new();
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let col = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
        let v = col.as_string::<i32>();
        let text = if v.is_null(0) {
            String::new()
        } else {
            v.value(0).to_string()
        };
        let value = match (text.parse::<i64>(), text.parse::<f64>()) {
            (Ok(n), _) if f.data_type().is_numeric() => serde_json::json!(n),
            (_, Ok(x)) if f.data_type().is_numeric() => serde_json::json!(x),
            _ => serde_json::json!(text),
        };
        summary.insert(f.name().clone(), value);
    }
    let next = [
        "koubei tables",
        "koubei sql \"SELECT country, count(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC LIMIT 10\"",
        "koubei sql \"SELECT date_trunc('month', ts) AS month, round(sum(amount)) AS revenue FROM orders WHERE status = 'paid' GROUP BY 1 ORDER BY 1\"",
    ];
    let ws_shown = ws.root().display().to_string();
    match format {
        OutputFormat::Json => output::json(
            out,
            &serde_json::json!({
                "workspace": ws_shown,
                "seed": seed,
                "summary": summary,
                "try_next": next,
            }),
        ),
        f => {
            let mut t = Table::new(&["measure", "value"]);
            for (k, v) in &summary {
                t.row(vec![
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                ]);
            }
            t.write(out, f)?;
            if f == OutputFormat::Table {
                writeln!(
                    out,
                    "\nThe demo shop is in {ws_shown} (seed {seed}). Try next:"
                )?;
                for n in next {
                    writeln!(out, "  {n}")?;
                }
            }
            Ok(())
        }
    }
}

/// Splits `a,b[x=1,y=2],c` at the commas outside brackets.
fn split_steps(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

fn funnel_table(steps: &[koubei_engine::funnel_query::FunnelStep]) -> Table {
    let mut t = Table::new(&[
        "step",
        "event",
        "persons",
        "from_previous",
        "from_first",
        "dropoff",
        "median_time",
        "mean_time",
    ]);
    let pct = |x: Option<f64>| x.map_or(String::new(), |v| format!("{:.1}%", v * 100.0));
    let dur = |x: Option<f64>| x.map_or(String::new(), human_seconds);
    for (i, s) in steps.iter().enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            s.name.clone(),
            s.persons.to_string(),
            pct(s.conversion_from_previous),
            pct(s.conversion_from_first),
            s.dropoff.to_string(),
            dur(s.median_seconds_from_previous),
            dur(s.mean_seconds_from_previous),
        ]);
    }
    t
}

/// 90 → "1.5m", 7200 → "2.0h".
fn human_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3600.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}

fn print_funnel(
    out: &mut dyn Write,
    r: &koubei_engine::funnel_query::FunnelReport,
    format: OutputFormat,
) -> Result<()> {
    if format == OutputFormat::Json {
        return output::json(out, r);
    }
    if format == OutputFormat::Csv {
        // One table: the total, then each breakdown value.
        let mut t = funnel_table(&r.steps);
        t.header.insert(0, "breakdown".into());
        for row in &mut t.rows {
            row.insert(0, String::new());
        }
        for g in r.breakdown.iter().flatten() {
            for mut row in funnel_table(&g.steps).rows {
                row.insert(0, g.value.clone());
                t.rows.push(row);
            }
        }
        return t.write(out, format);
    }
    funnel_table(&r.steps).write(out, format)?;
    if r.excluded > 0 {
        writeln!(out, "{} persons left out by exclusions", r.excluded)?;
    }
    for g in r.breakdown.iter().flatten() {
        let label = if g.value.is_empty() {
            "(empty)"
        } else {
            &g.value
        };
        writeln!(out, "\n{label}")?;
        funnel_table(&g.steps).write(out, format)?;
    }
    if r.time_to_convert.iter().any(|b| b.persons > 0) {
        writeln!(out, "\nTime from the first step to the last")?;
        let mut t = Table::new(&["up_to", "persons"]);
        for b in &r.time_to_convert {
            t.row(vec![
                b.up_to_seconds
                    .map_or("longer".into(), |s| human_seconds(s as f64)),
                b.persons.to_string(),
            ]);
        }
        t.write(out, format)?;
    }
    if let Some(trend) = &r.trend {
        writeln!(out, "\nConversion by the period of entry")?;
        let mut t = Table::new(&["period", "entered", "converted", "conversion"]);
        for p in trend {
            t.row(vec![
                p.period.clone(),
                p.entered.to_string(),
                p.converted.to_string(),
                p.conversion
                    .map_or(String::new(), |c| format!("{:.1}%", c * 100.0)),
            ]);
        }
        t.write(out, format)?;
    }
    Ok(())
}
