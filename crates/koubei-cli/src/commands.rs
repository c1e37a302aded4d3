//! One arm per subcommand: take the flags' request (`requests`), call the
//! operation, render its report. Nothing here computes a number.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use koubei_app::views::{ToView, describe_reject};
use koubei_app::{ClvReport, Hint, RfmReport, RfmRequest, SqlRequest, StoreError, Workspace};
use serde::Serialize;

use crate::args::{Cli, Command, OutputFormat, RecommendCommand, ReviewsCommand, WomCommand};
use crate::output;
use crate::progress::Bars;

pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    if let Some(url) = &cli.cluster {
        crate::cluster::use_cluster(url)?;
    }
    let path = cli.workspace;
    let open = || Workspace::open(&path);
    match cli.command {
        Command::Demo(a) => {
            let ws = Workspace::create(&path)?;
            let report = koubei_app::demo(&ws, &a.request(), &Bars).await;
            let unfinished = report.as_ref().ok().and_then(|r| r.unfinished.clone());
            show(out, a.format, report)?;
            unfinished.map_or(Ok(()), |u| Err(anyhow!(u)))
        }
        Command::Import(a) => {
            let ws = Workspace::create(&path)?;
            let req = a.request();
            match koubei_app::import(&ws, &req, &Bars).await {
                // The import is committed: if its summary cannot be printed
                // (a full disk, a closed pipe), say so, not only that
                // writing failed.
                Ok(report) => {
                    render(out, a.output, &report)
                        .and_then(|()| Ok(out.flush()?))
                        .with_context(|| {
                            let r = &report.report;
                            format!(
                                "the import is committed ({} rows loaded, {} version {}), but its summary could not be printed",
                                r.loaded,
                                r.table,
                                r.version.map_or("unchanged".into(), |v| v.to_string())
                            )
                        })?;
                    // A step after the commit failed: the exit code says so.
                    report.unfinished.map_or(Ok(()), |u| Err(anyhow!(u)))
                }
                Err(koubei_app::Error::Store(StoreError::TooManyRejects {
                    rejected,
                    read,
                    max,
                    samples,
                })) => {
                    let source = req.file.display().to_string();
                    for r in samples.iter().take(5) {
                        eprintln!("{}", describe_reject(&source, r));
                    }
                    if rejected > 5 {
                        eprintln!("... and {} more", rejected - 5);
                    }
                    bail!(
                        "{rejected} of {read} rows rejected ({:.2}%), over --max-reject-ratio {max}; nothing was imported",
                        100.0 * rejected as f64 / read.max(1) as f64
                    )
                }
                Err(e) => Err(cli_error(e)),
            }
        }
        Command::Refresh => {
            koubei_app::refresh(&open()?, &Bars)
                .await
                .map_err(cli_error)?;
            Ok(())
        }
        Command::Tables(a) => show(out, a.format, koubei_app::tables(&open()?).await),
        Command::Overview(a) => show(
            out,
            a.format,
            koubei_app::overview(&open()?, &a.request()).await,
        ),
        Command::Report(a) => show(
            out,
            a.format,
            koubei_app::report(&open()?, &a.request()).await,
        ),
        Command::Sales(a) => show(
            out,
            a.format,
            koubei_app::sales(&open()?, &a.request()).await,
        ),
        Command::Funnel(a) => show(
            out,
            a.format,
            koubei_app::funnel(&open()?, &a.request()).await,
        ),
        Command::Retention(a) => show(
            out,
            a.format,
            koubei_app::retention(&open()?, &a.request()).await,
        ),
        Command::Rfm(a) => {
            let req = a.request();
            let report = koubei_app::rfm(&open()?, &req).await.map_err(cli_error)?;
            if let Some(file) = &a.export {
                let n = export_rfm(file, &report, &req)?;
                eprintln!("wrote {n} customers to {}", file.display());
            }
            render(out, a.format, &report)
        }
        Command::Clv(a) => {
            let report = koubei_app::clv(&open()?, &a.request())
                .await
                .map_err(cli_error)?;
            if let Some(file) = &a.export {
                export_clv(file, &report)?;
                eprintln!(
                    "wrote {} customers to {}",
                    report.per_customer.len(),
                    file.display()
                );
            }
            render(out, a.format, &report)
        }
        Command::Wom(a) => wom(&path, a.command, out).await,
        Command::Recommend(a) => {
            use koubei_app::recs;
            match a.command {
                RecommendCommand::Together(a) => {
                    show(out, a.format, recs::together(&open()?, &a.request()).await)
                }
                RecommendCommand::Similar(a) => {
                    show(out, a.format, recs::similar(&open()?, &a.request()).await)
                }
                RecommendCommand::For(a) => show(
                    out,
                    a.format,
                    recs::for_customer(&open()?, &a.request()).await,
                ),
                RecommendCommand::Evaluate(a) => {
                    show(out, a.format, recs::evaluate(&open()?, &a.request()).await)
                }
                RecommendCommand::Train(a) => show(
                    out,
                    a.format,
                    recs::train(&open()?, &a.request(), &Bars).await,
                ),
                RecommendCommand::Export(a) => {
                    let report = recs::export(&open()?, &a.request())
                        .await
                        .map_err(cli_error)?;
                    match &a.out {
                        Some(file) => {
                            let rows = export_recs(file, &report)?;
                            eprintln!(
                                "wrote {rows} rows ({} customers) to {}",
                                report.customers.len(),
                                file.display()
                            );
                            Ok(())
                        }
                        None => render(out, a.format, &report),
                    }
                }
            }
        }
        Command::Reviews(a) => match a.command {
            Some(ReviewsCommand::Score(a)) => {
                let ws = if a.model == "shop" {
                    Some(open()?)
                } else {
                    None
                };
                show(
                    out,
                    a.format,
                    koubei_app::reviews::score(ws.as_ref(), &a.request()),
                )
            }
            Some(ReviewsCommand::Terms(a)) => show(
                out,
                a.format,
                koubei_app::reviews::terms(&open()?, &a.request()).await,
            ),
            Some(ReviewsCommand::List(a)) => show(
                out,
                a.format,
                koubei_app::reviews::list(&open()?, &a.request()).await,
            ),
            Some(ReviewsCommand::Train(a)) => show(
                out,
                a.format,
                koubei_app::reviews::train(&open()?, &a.request(), &Bars).await,
            ),
            None => show(
                out,
                a.report.format,
                koubei_app::reviews::satisfaction(&open()?, &a.report.request()).await,
            ),
        },
        Command::Sql(a) => {
            let req = SqlRequest { query: a.query };
            let report = koubei_app::sql(&open()?, &req).await.map_err(cli_error)?;
            output::batches(out, a.format, &report.schema, &report.batches)
        }
        Command::Cluster(c) => crate::cluster::start(c).await,
        Command::Serve(a) => {
            open()?;
            let listener = tokio::net::TcpListener::bind(&a.addr)
                .await
                .with_context(|| format!("--addr {}: cannot listen there", a.addr))?;
            let config = koubei_server::Config {
                workspace: path.clone(),
                token: a.token.clone(),
                auth_reads: a.auth == crate::args::AuthArg::Read,
                allow_sql: a.allow_sql,
                capture: a.token.is_some().then(|| koubei_capture::Config {
                    flush_every: std::time::Duration::from_secs_f64(a.flush_seconds),
                    ..koubei_capture::Config::default()
                }),
                deadline: None,
                refresh_every: Some(std::time::Duration::from_secs_f64(a.refresh_seconds)),
            };
            let error = |e| match e {
                koubei_server::ConfigError::ReadsNeedToken => {
                    anyhow!("--auth read needs a token: --token or KOUBEI_TOKEN")
                }
                koubei_server::ConfigError::SqlNeedsToken => {
                    anyhow!("--allow-sql needs a token: --token or KOUBEI_TOKEN")
                }
                e => anyhow!(e),
            };
            let capturing = config.capture.is_some();
            // Capture first stores what its log holds from before.
            let app = koubei_server::app(config).await.map_err(error)?;
            eprintln!(
                "koubei: serving {} on http://{}/ (OpenAPI at /openapi.json); Ctrl-C stops",
                path.display(),
                listener.local_addr()?
            );
            if capturing {
                eprintln!("koubei: capturing at POST /v1/events and /v1/referrals (token needed)");
            }
            koubei_server::serve(listener, app).await.map_err(error)
        }
    }
}

async fn wom(path: &Path, command: WomCommand, out: &mut dyn Write) -> Result<()> {
    use koubei_app::wom;
    let open = || Workspace::open(path);
    match command {
        WomCommand::Metrics(a) => show(out, a.format, wom::metrics(&open()?, &a.request()).await),
        WomCommand::Cascades(a) => show(out, a.format, wom::cascades(&open()?, &a.request()).await),
        WomCommand::Reach(a) => show(out, a.format, wom::reach(&open()?, &a.request()).await),
        WomCommand::Seeds(a) => show(out, a.format, wom::seeds(path, &a.request(), &Bars).await),
        WomCommand::Simulate(a) => show(out, a.format, wom::simulate(path, &a.request()).await),
    }
}

/// An operation's report, rendered; or its error, with a field named as
/// its flag.
fn show<R: Serialize + ToView>(
    out: &mut dyn Write,
    format: OutputFormat,
    result: koubei_app::Result<R>,
) -> Result<()> {
    render(out, format, &result.map_err(cli_error)?)
}

/// The report as JSON (its serde form), or its view as a table or CSV;
/// the view's warnings go to stderr.
fn render(
    out: &mut dyn Write,
    format: OutputFormat,
    report: &(impl Serialize + ToView),
) -> Result<()> {
    let view = report.view();
    for w in &view.warnings {
        eprintln!("warning: {w}");
    }
    match format {
        OutputFormat::Json => output::json(out, report),
        OutputFormat::Table => Ok(out.write_all(view.text().as_bytes())?),
        OutputFormat::Csv => Ok(out.write_all(view.csv().as_bytes())?),
    }
}

/// An operation's error, with a request field named as its flag, and a
/// hint given as the flag that would help.
fn cli_error(e: koubei_app::Error) -> anyhow::Error {
    match e {
        koubei_app::Error::Invalid { field, reason } => anyhow!("{}: {reason}", flag(&field)),
        koubei_app::Error::Store(StoreError::Columns {
            path,
            reason,
            hint: Some(hint),
        }) => {
            let hint = match hint {
                Hint::Delimiter(d) => {
                    let d = d.escape_default();
                    format!("the header looks separated by '{d}': try --delimiter '{d}'")
                }
                Hint::Map(target) => {
                    format!("name the source column with --map, e.g. --map {target}=YOUR_COLUMN")
                }
            };
            anyhow!("{}: {reason}\nhint: {hint}", path.display())
        }
        e => e.into(),
    }
}

/// The flag that sets a request's field.
fn flag(field: &str) -> String {
    match field {
        "query" => "the query".into(),
        "exclusions" => "--exclude".into(),
        "segments" => "--segment".into(),
        "event_weights" => "--events".into(),
        "window_seconds" => "--window".into(),
        "share_window_days" => "--share-window".into(),
        "memory_budget_mib" => "--memory-budget".into(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

/// Writes the customers of the chosen segments (all without any) with
/// their scores and CLV; returns how many.
fn export_rfm(file: &Path, report: &RfmReport, req: &RfmRequest) -> Result<usize> {
    use std::fmt::Write as _;
    let chosen = koubei_app::segment_customers(report, req);
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
    output::csv_file(file, &header, chosen.len(), |i, line| {
        let (c, clv) = chosen[i];
        koubei_app::view::csv_cell(line, &c.customer_id);
        // Writing to a String cannot fail.
        let _ = write!(
            line,
            ",{},{},{:.2},{},{},{},",
            c.recency_days, c.frequency, c.monetary, c.r, c.f, c.m
        );
        koubei_app::view::csv_cell(line, c.segment);
        line.push(',');
        if let Some(v) = clv {
            let _ = write!(line, "{v:.2}");
        }
    })?;
    Ok(chosen.len())
}

/// Writes one row per customer and rank, as CSV or Parquet by the file's
/// extension; returns the rows written.
fn export_recs(file: &Path, report: &koubei_app::recs::ExportReport) -> Result<usize> {
    use std::fmt::Write as _;
    let rows: Vec<(&koubei_app::recs::CustomerRecs, usize)> = report
        .customers
        .iter()
        .flat_map(|c| (0..c.products.len()).map(move |r| (c, r)))
        .collect();
    let segments = report.customers.iter().any(|c| c.segment.is_some());
    let parquet = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if parquet {
        output::recs_parquet(file, &rows, segments)?;
        return Ok(rows.len());
    }
    let mut header = vec!["customer_id"];
    if segments {
        header.push("segment");
    }
    header.extend(["rank", "product_id", "score"]);
    output::csv_file(file, &header, rows.len(), |i, line| {
        let (c, r) = rows[i];
        koubei_app::view::csv_cell(line, &c.customer_id);
        if segments {
            line.push(',');
            koubei_app::view::csv_cell(line, c.segment.unwrap_or(""));
        }
        // Writing to a String cannot fail.
        let _ = write!(line, ",{},", r + 1);
        koubei_app::view::csv_cell(line, &c.products[r].product);
        // The score is an f32: its shortest form, not its f64 expansion.
        let _ = write!(line, ",{}", c.products[r].score as f32);
    })?;
    Ok(rows.len())
}

/// Writes one row per customer: the summary, P(alive), expected purchases
/// and spend, and CLV.
fn export_clv(file: &Path, report: &ClvReport) -> Result<()> {
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
        koubei_app::view::csv_cell(line, id);
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
            koubei_app::view::csv_number(line, v);
        }
    })
}
