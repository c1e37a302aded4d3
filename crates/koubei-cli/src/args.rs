//! The command line as typed: clap definitions only. Each value is parsed
//! by the library's own type, so that a flag and an API field share one
//! grammar; `commands` turns these into the operations' requests.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use koubei_app::reviews::Grouping;
use koubei_app::wom::{GraphModel, Objective};
use koubei_app::{
    Delimiter, Exclusion, Format, FunnelOrder, Horizon, ImportTz, Mapping, ModelKind, Period, Step,
    TableKind, Unit,
};

#[derive(Debug, Parser)]
#[command(
    name = "koubei",
    version,
    about = "Customer-growth analytics for online shops: sales, funnels, retention, CLV and word of mouth.",
    after_help = "Start with `koubei demo`, then `koubei tables` and `koubei sql \"SELECT ...\"`."
)]
pub struct Cli {
    /// The workspace folder holding the tables.
    #[arg(
        long,
        short = 'w',
        global = true,
        env = "KOUBEI_WORKSPACE",
        default_value = "koubei-data"
    )]
    pub workspace: PathBuf,

    /// Run the queries on a Ballista cluster: its scheduler, as
    /// df://HOST:PORT. The workspace folder must be at the same path on
    /// every executor. Needs a koubei built with the `cluster` feature.
    #[arg(long, global = true, env = "KOUBEI_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// `--since` and `--until`: whole UTC days, both included.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct DayRange {
    /// First day included, YYYY-MM-DD (UTC).
    #[arg(long, value_parser = parse_day)]
    pub since: Option<NaiveDate>,
    /// Last day included, YYYY-MM-DD (UTC).
    #[arg(long, value_parser = parse_day)]
    pub until: Option<NaiveDate>,
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    s.parse()
        .map_err(|_| format!("expected a date such as 2024-03-01, not \"{s}\""))
}

/// Funnel steps in one flag: `view,add_to_cart,purchase[channel=app]`.
#[derive(Debug, Clone)]
pub struct Steps(pub Vec<Step>);

fn parse_steps(s: &str) -> Result<Steps, String> {
    koubei_app::parse_steps(s).map(Steps)
}

fn parse_window(s: &str) -> Result<i64, String> {
    koubei_app::parse_duration(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a demo shop into the workspace and import it.
    Demo(DemoArgs),
    /// Import a CSV, JSON Lines or Parquet file (optionally .gz) into a table.
    Import(ImportArgs),
    /// Store each customer's purchases, each person's activity by day and
    /// each review's sentiment, as an import does (for a workspace imported
    /// before koubei kept them, or events captured since).
    Refresh,
    /// List the tables with their rows, Delta versions and last import.
    Tables(TablesArgs),
    /// The headline numbers over a date range (30 days to the last order by
    /// default), against the range before it and a year before.
    Overview(OverviewArgs),
    /// Write a self-contained HTML report (overview and sales) to send:
    /// it opens in any browser with no network. A year to the last order
    /// by default.
    Report(ReportArgs),
    /// Sales KPIs by period: revenue net of refunds, orders, units, buyers,
    /// average order value, new against returning buyers, and growth.
    Sales(SalesArgs),
    /// Conversion funnel over events: persons per step, conversion and drop-off.
    Funnel(FunnelArgs),
    /// Cohort retention: persons by the period of their first start event,
    /// and how many came back in each later period.
    Retention(RetentionArgs),
    /// RFM scores and segments, with revenue, mean CLV and migration between two dates.
    Rfm(RfmArgs),
    /// Fit a customer-lifetime-value model to the orders and value every customer.
    Clv(ClvArgs),
    /// Word of mouth: choose seed customers, simulate spread.
    Wom(WomArgs),
    /// Recommendations from the orders: bought together, similar products,
    /// a customer's top N, and each model measured on the latest orders.
    Recommend(RecommendArgs),
    /// Reviews: satisfaction (ratings, CSAT, review and refund rates, the
    /// service dimensions, what customers praise and complain about), and
    /// the sentiment of review texts.
    Reviews(ReviewsArgs),
    /// Run a DataFusion SQL query over all the tables.
    Sql(SqlArgs),
    /// Serve every query over HTTP (JSON), with its OpenAPI document at
    /// /openapi.json.
    Serve(ServeArgs),
    /// Start a Ballista scheduler or executor with koubei's functions, for
    /// `--cluster` (needs a koubei built with the `cluster` feature).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans each query's stages and hands their tasks to
    /// the executors.
    Scheduler(SchedulerArgs),
    /// An executor: runs the tasks, reading the workspace's Parquet files
    /// at the same paths as the client.
    Executor(ExecutorArgs),
}

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// The host name that executors and clients reach it by.
    #[arg(long, default_value = "localhost")]
    pub external_host: String,
    /// Seconds without a heartbeat after which an executor is lost and its
    /// tasks run elsewhere.
    #[arg(long, default_value_t = 30)]
    pub executor_timeout: u64,
}

#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler, as df://HOST:PORT.
    #[arg(long, default_value = "df://localhost:50050")]
    pub scheduler: String,
    /// The host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// The host name others reach it by (default: the address the
    /// scheduler sees it connect from).
    #[arg(long)]
    pub external_host: Option<String>,
    /// Its Arrow Flight port, where other executors fetch its shuffled
    /// partitions.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Its gRPC port.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Where to write shuffled partitions (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (default: the cores).
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 5)]
    pub heartbeat: u64,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Customers to generate.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Random seed: the same seed gives the same shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Delete the workspace's tables first, when it already holds data.
    #[arg(long)]
    pub replace: bool,
    /// Leave out behavioural events and reviews (a different, smaller shop):
    /// ten million customers then fit in memory, for CLV and RFM at scale.
    #[arg(long)]
    pub no_events: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// customers, orders, events, reviews or referrals.
    pub table: TableKind,
    pub file: PathBuf,
    /// The file's format: csv, tsv, jsonl or parquet. Taken from the extension by default.
    #[arg(long = "format")]
    pub input_format: Option<Format>,
    /// The field separator of a CSV file: one character, \t, or `whitespace` for
    /// fields separated by runs of blanks (no quoting).
    #[arg(long)]
    pub delimiter: Option<Delimiter>,
    /// The file has no header line: these are its column names, in order (NAME,NAME,...).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub columns: Vec<String>,
    /// TARGET=SOURCE: read the table's column TARGET from the file's column SOURCE.
    #[arg(long = "map", value_name = "TARGET=SOURCE")]
    pub map: Vec<Mapping>,
    /// Time zone of timestamps without one: an IANA name (Asia/Shanghai) or an offset (+08:00).
    #[arg(long, default_value = "UTC", allow_hyphen_values = true)]
    pub timezone: ImportTz,
    /// Commit nothing when more than this share of rows is rejected.
    #[arg(long, default_value_t = 0.01)]
    pub max_reject_ratio: f64,
    /// How to print the import's summary (--format names the file's format here).
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct TablesArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct OverviewArgs {
    #[command(flatten)]
    pub range: DayRange,
    /// The sparklines' period: day, week, month, quarter or year.
    #[arg(long)]
    pub by: Option<Period>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(long, default_value = "koubei-report.html")]
    pub out: PathBuf,
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct SalesArgs {
    /// day, week (from Monday), month, quarter or year.
    #[arg(long, default_value = "month")]
    pub by: Period,
    /// Break down by a column of orders: country, region, city, channel, category, product_id, ...
    #[arg(long)]
    pub breakdown: Option<String>,
    /// Keep the N groups with the most revenue; the others become "(other)".
    #[arg(long)]
    pub top: Option<usize>,
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct FunnelArgs {
    /// Steps in order, comma-separated: event names, each optionally with
    /// filters on events columns, e.g. view,add_to_cart,purchase[channel=app].
    #[arg(long, required = true, value_parser = parse_steps)]
    pub steps: Steps,
    /// Leave out persons who did EVENT between steps FROM and TO
    /// (EVENT[:FROM-TO], repeatable; the whole funnel by default).
    #[arg(long, value_name = "EVENT[:FROM-TO]")]
    pub exclude: Vec<Exclusion>,
    /// Break down by an events column (first touch: its value on the
    /// step-1 event of each person's path), with a total row.
    #[arg(long)]
    pub breakdown: Option<String>,
    /// Conversion by the period in which persons entered: day, week, month, quarter or year.
    #[arg(long)]
    pub trend: Option<Period>,
    /// Conversion window from the step-1 event: 30m, 12h, 7d, 2w.
    #[arg(long, default_value = "14d", value_parser = parse_window)]
    pub window: i64,
    /// ordered (other events may come between steps), strict (none may), or unordered.
    #[arg(long, default_value = "ordered")]
    pub order: FunnelOrder,
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// day, week (from Monday) or month.
    #[arg(long, default_value = "week")]
    pub period: Period,
    /// Periods after the cohort's own.
    #[arg(long, default_value_t = 8)]
    pub periods: usize,
    /// Start event from events; a first paid order by default.
    #[arg(long)]
    pub start_event: Option<String>,
    /// Return event from events; any paid order by default.
    #[arg(long)]
    pub return_event: Option<String>,
    /// Count a person in every period up to their last return ("on or after").
    #[arg(long)]
    pub cumulative: bool,
    /// Put a person in the cohort of every period with a start event, not
    /// only their first.
    #[arg(long)]
    pub recurring: bool,
    /// Split cohorts by a column of the start events (orders, or events
    /// with --start-event), taken on each person's first start event.
    #[arg(long)]
    pub breakdown: Option<String>,
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RfmArgs {
    /// Score as of this day (default: the last paid order's day).
    #[arg(long, value_parser = parse_day)]
    pub as_of: Option<NaiveDate>,
    /// Also show how customers moved between segments since this day.
    #[arg(long, value_parser = parse_day)]
    pub from: Option<NaiveDate>,
    /// Write the customers (scores, segment, CLV) to this CSV file.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Export only these segments (repeatable), e.g. --segment "At Risk".
    #[arg(long)]
    pub segment: Vec<String>,
    /// Group the order lines again instead of reading the per-customer
    /// purchases stored at import (same numbers; for checking).
    #[arg(long)]
    pub recompute: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ClvArgs {
    /// bgnbd, mbgnbd, pareto (Pareto/NBD), bgbb (discrete time) or gamma-gamma (spend).
    #[arg(long, default_value = "bgnbd")]
    pub model: ModelKind,
    /// Time unit of frequency, recency and T: day, week (days / 7), month or year.
    #[arg(long, default_value = "week")]
    pub unit: Unit,
    /// Last day of the calibration period (default: the last order's day).
    #[arg(long, value_parser = parse_day)]
    pub calibration_end: Option<NaiveDate>,
    /// Last day of a holdout period after it, to check predictions against.
    #[arg(long, value_parser = parse_day)]
    pub holdout_end: Option<NaiveDate>,
    /// How far ahead to predict purchases and value: 90d, 26w, 12m, 1y.
    #[arg(long, default_value = "1y")]
    pub horizon: Horizon,
    /// Yearly discount rate for the lifetime value.
    #[arg(long, default_value_t = 0.1)]
    pub discount_rate: f64,
    /// L2 penalty on the parameters, as in lifetimes' penalizer_coef.
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// Also fit BG/NBD, MBG/NBD and Pareto/NBD to the same data and compare.
    #[arg(long)]
    pub compare: bool,
    /// Write one row per customer (P(alive), expected purchases, spend, CLV) to this CSV file.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Group the order lines again instead of reading the per-customer
    /// purchases stored at import (same numbers; for checking).
    #[arg(long)]
    pub recompute: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct WomArgs {
    #[command(subcommand)]
    pub command: WomCommand,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReviewsArgs {
    #[command(subcommand)]
    pub command: Option<ReviewsCommand>,
    #[command(flatten)]
    pub report: SatisfactionArgs,
}

/// `koubei reviews` without a subcommand: the satisfaction report.
#[derive(Debug, clap::Args)]
pub struct SatisfactionArgs {
    /// Rows by day, week, month, quarter, year, product, category, or a
    /// column of the reviewed order (region, country, channel).
    #[arg(long)]
    pub by: Option<Grouping>,
    /// Keep the N groups with the most reviews.
    #[arg(long)]
    pub top: Option<usize>,
    /// The Bayesian mean's prior weight, in ratings (default: the median
    /// number of ratings of a group).
    #[arg(long)]
    pub prior_reviews: Option<f64>,
    /// Order the groups by their Bayesian mean, highest first (after --top
    /// keeps the most reviewed).
    #[arg(long)]
    pub rank_by_bayesian_mean: bool,
    /// Leave out each rating's mean predicted CLV (which fits the CLV
    /// model).
    #[arg(long)]
    pub no_clv: bool,
    /// Compared with the range of the same length before, when both ends
    /// are given.
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum ReviewsCommand {
    /// Score the texts of a CSV file without importing it: each row's
    /// language, probability of being positive, label, and the words that
    /// weighed most.
    Score(ReviewsScoreArgs),
    /// Train the shop's own sentiment model on its rated reviews (4–5★
    /// positive, 1–2★ negative), or on a labelled file; report its
    /// cross-validated accuracy against the default model's, and use it
    /// when it does better.
    Train(ReviewsTrainArgs),
    /// The terms that set bad reviews (1–2★) apart from good ones (4–5★),
    /// by log-odds, with each term's rating drag and example reviews.
    Terms(ReviewsTermsArgs),
    /// The reviews behind a tag, a term, a rating or a label, newest first,
    /// with how the model read each.
    List(ReviewsListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReviewsListArgs {
    /// Only reviews with a clause of this tag (物流很快), as `koubei
    /// reviews` lists them.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only reviews that mention this aspect: description, service,
    /// logistics or price.
    #[arg(long)]
    pub aspect: Option<String>,
    /// Only reviews that use this word, as `koubei reviews terms` lists
    /// them.
    #[arg(long)]
    pub term: Option<String>,
    /// Only reviews of this many stars.
    #[arg(long)]
    pub rating: Option<i64>,
    /// Only reviews read as positive, negative or neutral.
    #[arg(long)]
    pub label: Option<String>,
    /// Only this product's reviews.
    #[arg(long)]
    pub product: Option<String>,
    /// Only the reviews of this category's products.
    #[arg(long)]
    pub category: Option<String>,
    /// Reviews listed.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ReviewsTermsArgs {
    /// Only this product's reviews.
    #[arg(long)]
    pub product: Option<String>,
    /// Only the reviews of this category's products.
    #[arg(long)]
    pub category: Option<String>,
    /// Terms listed of each kind.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// The prior's weight, in terms.
    #[arg(long, default_value_t = 1000.0)]
    pub prior_terms: f64,
    #[command(flatten)]
    pub range: DayRange,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ReviewsTrainArgs {
    /// A CSV file of labelled texts (default: the workspace's reviews).
    pub file: Option<PathBuf>,
    /// The file's column of texts.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// The file's column of labels: 1/0, true/false, positive/negative, or
    /// stars 1–5.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Folds of the cross-validation.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ReviewsScoreArgs {
    /// A CSV file with a header row.
    pub file: PathBuf,
    /// The column holding each review's text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// The column naming each review (default: `id` where there is one,
    /// else the row's number).
    #[arg(long)]
    pub id_column: Option<String>,
    /// The model: default (a lexicon for Chinese, VADER for English), shop
    /// (the workspace's, from `reviews train`), or a model file's path.
    #[arg(long, default_value = "default")]
    pub model: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where to listen: loopback unless another address is given.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The bearer token that writes need (and reads, with --auth read).
    #[arg(long, env = "KOUBEI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// What needs the token: write (the default) or read (everything but
    /// /v1/health).
    #[arg(long, value_enum, default_value_t)]
    pub auth: AuthArg,
    /// Serve read-only SQL at POST /v1/sql, behind the token.
    #[arg(long)]
    pub allow_sql: bool,
    /// How often captured records are stored in their tables, in seconds
    /// (sooner when many are waiting). Capture (POST /v1/events and
    /// /v1/referrals) is on whenever a token is set.
    #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
    pub flush_seconds: f64,
    /// With capture: how often, in seconds, what reports read instead of
    /// the tables (each customer's purchases, activity by day, review
    /// scores) is brought up to date with the captured records. Until it
    /// is, reports count from the tables: the same numbers, more slowly.
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    pub refresh_seconds: f64,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("expected seconds between 0 and 86400, not {s:?}")),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    #[default]
    Write,
    Read,
}

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    pub query: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Where the graph comes from and how its arcs get probabilities.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// Read this edge list (`source target [probability]` per line) instead
    /// of the workspace's referrals.
    #[arg(long, value_name = "FILE")]
    pub graph: Option<PathBuf>,
    /// With --graph: every line is an edge in both directions.
    #[arg(long)]
    pub undirected: bool,
    /// Arc probabilities: learned (from the referrals' conversions), wc
    /// (1 / in-degree), const:P, or given (the file's third column). Default:
    /// learned on shop data; given when the file has probabilities, else wc.
    #[arg(long)]
    pub model: Option<GraphModel>,
}

#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    #[command(subcommand)]
    pub command: RecommendCommand,
}

#[derive(Debug, Subcommand)]
pub enum RecommendCommand {
    /// Products bought in the same orders, with support, confidence and
    /// lift: a product's best companions, or the shop's strongest rules.
    Together(TogetherArgs),
    /// The products most like one, by the customers who bought both.
    Similar(SimilarArgs),
    /// A customer's top N, from the model `recommend train` stored (fitted
    /// now when there is none).
    For(ForArgs),
    /// Fit a model on every paid order (and weighted events) and store it
    /// in the workspace with the data's version: `for` then answers in
    /// milliseconds, and `export` lists every customer.
    Train(RecTrainArgs),
    /// Every customer's top N (or one RFM segment's) for a CRM or an e-mail
    /// tool: one row per customer and rank.
    Export(RecExportArgs),
    /// Train on the earliest orders, test on the latest: precision, recall,
    /// NDCG, MAP and coverage at k of each model, against popularity.
    Evaluate(EvaluateArgs),
}

#[derive(Debug, clap::Args)]
pub struct TogetherArgs {
    /// This product's companions (default: the shop's strongest rules).
    #[arg(long)]
    pub product: Option<String>,
    /// Orders that must hold both products.
    #[arg(long, default_value_t = 5)]
    pub min_orders: u64,
    /// Of the orders with the first product, the share that must hold the
    /// second.
    #[arg(long, default_value_t = 0.0)]
    pub min_confidence: f64,
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct SimilarArgs {
    #[arg(long)]
    pub product: String,
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// cosine or jaccard.
    #[arg(long, default_value = "cosine")]
    pub similarity: String,
    /// Added to the similarity's denominator: products with few buyers do
    /// not look alike by chance.
    #[arg(long, default_value_t = 10.0)]
    pub shrink: f32,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// An event's weight beside a paid order line's 1: `view=0.1`.
fn parse_weight(s: &str) -> Result<(String, f32), String> {
    let (name, w) = s
        .split_once('=')
        .ok_or_else(|| format!("expected EVENT=WEIGHT such as view=0.1, not \"{s}\""))?;
    let w: f32 = w
        .parse()
        .map_err(|_| format!("{name}: the weight \"{w}\" is not a number"))?;
    Ok((name.to_string(), w))
}

/// Events learnt from beside the orders, shared by the recommend commands.
#[derive(Debug, clap::Args)]
pub struct EventWeightArgs {
    /// Also learn from these events, each with its weight beside a paid
    /// order line's 1: `--events view=0.1,add_to_cart=0.5`.
    #[arg(long, value_delimiter = ',', value_parser = parse_weight)]
    pub events: Vec<(String, f32)>,
}

impl EventWeightArgs {
    pub fn weights(&self) -> koubei_app::recs::EventWeights {
        self.events.iter().cloned().collect()
    }
}

/// Which model answers `for` and `export`, and how.
#[derive(Debug, clap::Args)]
pub struct RecPickArgs {
    /// als, itemknn or pop.
    #[arg(long, default_value = "als")]
    pub model: koubei_app::recs::RecModel,
    /// Recommend products the customer has bought already (consumables).
    #[arg(long)]
    pub allow_repeat: bool,
    #[command(flatten)]
    pub events: EventWeightArgs,
    /// Fit on the latest data now instead of using the stored model.
    #[arg(long)]
    pub refit: bool,
}

#[derive(Debug, clap::Args)]
pub struct ForArgs {
    #[arg(long)]
    pub customer: String,
    /// Products to recommend.
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,
    #[command(flatten)]
    pub pick: RecPickArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RecTrainArgs {
    /// Models to train and store (default: als).
    #[arg(long, value_delimiter = ',')]
    pub model: Vec<koubei_app::recs::RecModel>,
    #[command(flatten)]
    pub events: EventWeightArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct RecExportArgs {
    /// Write to this file: .csv, or .parquet (default: the rows to stdout
    /// in --format).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Products per customer.
    #[arg(short, long, default_value_t = 10)]
    pub n: usize,
    /// Only the customers of these RFM segments (repeatable), e.g.
    /// --segment "At Risk" for a win-back campaign.
    #[arg(long)]
    pub segment: Vec<String>,
    #[command(flatten)]
    pub pick: RecPickArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// Models to measure (default: als, itemknn, pop).
    #[arg(long, value_delimiter = ',')]
    pub model: Vec<koubei_app::recs::RecModel>,
    /// The share of order lines, earliest first, that train.
    #[arg(long, default_value_t = 0.8)]
    pub split: f64,
    #[arg(short, default_value_t = 10)]
    pub k: usize,
    #[command(flatten)]
    pub events: EventWeightArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum WomCommand {
    /// Share rate, the referral funnel, K-factor by period, share channels,
    /// and referred customers beside the others.
    Metrics(MetricsArgs),
    /// Referral cascades: size, depth, breadth, structural virality and
    /// duration; the largest trees; reach over time.
    Cascades(CascadesArgs),
    /// How far word of mouth travels: cities, regions and countries reached,
    /// coverage of the home country, overseas and worldwide, over time.
    Reach(ReachArgs),
    /// Choose the k seeds whose word of mouth reaches furthest (OPIM-C, with a
    /// certified approximation to the optimum).
    Seeds(SeedsArgs),
    /// Estimate by Monte Carlo how far a seed set spreads.
    Simulate(SimulateArgs),
}

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// day, week (from Monday), month, quarter or year.
    #[arg(long, default_value = "month")]
    pub by: Period,
    /// An order counts as shared when its buyer shares within this many days.
    #[arg(long, default_value_t = 7)]
    pub share_window: u32,
    /// Skip the CLV fit behind the referred customers' mean CLV.
    #[arg(long)]
    pub no_clv: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct CascadesArgs {
    /// How many of the largest cascades to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// The most nodes of each listed tree in the JSON output.
    #[arg(long, default_value_t = 200)]
    pub tree_nodes: usize,
    /// day, week, month, quarter or year, for reach over time.
    #[arg(long, default_value = "month")]
    pub by: Period,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ReachArgs {
    /// The home country (ISO 3166-1 code or name).
    #[arg(long, default_value = "CN")]
    pub home: String,
    /// day, week, month, quarter or year.
    #[arg(long, default_value = "month")]
    pub by: Period,
    /// How many cascades to list, widest reach first.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct SeedsArgs {
    #[command(flatten)]
    pub graph: GraphArgs,
    /// How many seeds.
    #[arg(long, short = 'k', default_value_t = 50)]
    pub k: usize,
    /// The guarantee is 1 - 1/e - epsilon of the optimum.
    #[arg(long, default_value_t = 0.1)]
    pub epsilon: f64,
    /// The chance that the guarantee fails (default: 1 / nodes).
    #[arg(long)]
    pub delta: Option<f64>,
    /// What to maximise: people reached, or distinct regions or countries
    /// reached (shop data only).
    #[arg(long, default_value = "people")]
    pub objective: Objective,
    /// Random seed: the same seed gives the same answer.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep sampling until each collection has at least this many RR sets,
    /// even once the guarantee is met: more sets, better seeds.
    #[arg(long, default_value_t = 0)]
    pub min_rr_sets: usize,
    /// Keep sampling until the spread's lower confidence bound is within
    /// this fraction of the estimate (0 stops as soon as the guarantee holds).
    #[arg(long, default_value_t = 0.03)]
    pub precision: f64,
    /// Sampling past the guarantee stops before the RR sets take more than
    /// this many MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory_budget: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub graph: GraphArgs,
    /// The seeds: one node id per line, or the JSON that `wom seeds` prints.
    #[arg(long, value_name = "FILE")]
    pub seeds: PathBuf,
    /// Cascades to simulate.
    #[arg(long, default_value_t = 10_000)]
    pub runs: usize,
    /// Also count the distinct regions or countries reached (shop data only).
    #[arg(long)]
    pub objective: Option<Objective>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}
