//! koubei's engine: one DataFusion session over the workspace's tables.
//!
//! Every metric is a DataFusion plan run through [`Engine`]; front ends never
//! compute numbers themselves.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use datafusion::prelude::{SessionConfig, SessionContext};
use koubei_schema::{REJECTS, TableKind, rejects_schema};
use koubei_store::Workspace;

pub mod activity;
pub mod clv;
pub mod clv_report;
mod cols;
pub mod customers;
pub mod funnel_query;
pub mod growth;
pub mod purchases;
pub mod recs;
mod recs_model;
pub mod retention;
pub mod review_list;
pub mod review_scores;
pub mod review_terms;
pub mod rfm;
pub mod rfm_report;
pub mod sales;
pub mod satisfaction;
mod scan_filters;
pub mod wom;

pub use koubei_functions::matcher::FunnelOrder;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names something that does not exist or cannot be.
    #[error("{0}")]
    Request(String),
    /// One field of the request is invalid. Front ends name the field their
    /// own way (a flag on the command line, a parameter in the API).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] koubei_store::Error),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    DataFusion(Box<datafusion::error::DataFusionError>),
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::DataFusion(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Makes the session that an engine's plans run in, from the engine's
/// settings. How koubei runs on a cluster (koubei-cluster's client session)
/// without the engine depending on the cluster's crates.
pub type SessionMaker = Arc<
    dyn Fn(
            SessionConfig,
        )
            -> futures::future::BoxFuture<'static, datafusion::error::Result<SessionContext>>
        + Send
        + Sync,
>;

/// Where an engine runs its plans.
#[derive(Clone, Default)]
pub enum Runner {
    /// In this process.
    #[default]
    InProcess,
    /// On a cluster: the tables are registered as their snapshots' Parquet
    /// files, which the cluster's executors read at the same paths.
    Cluster {
        /// The scheduler, for messages.
        url: String,
        session: SessionMaker,
    },
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Runner::InProcess => f.write_str("InProcess"),
            Runner::Cluster { url, .. } => write!(f, "Cluster({url})"),
        }
    }
}

impl Runner {
    /// The session's view of one stored table.
    async fn provider(
        &self,
        t: &koubei_store::deltalake::DeltaTable,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        Ok(match self {
            Runner::InProcess => koubei_store::table_provider(t).await?,
            Runner::Cluster { .. } => koubei_store::parquet_provider(t).await?,
        })
    }
}

/// Answers made once per engine and key (each range, say), shared by the
/// requests that ask for the same: a report's sections and a dashboard's
/// pages ask some of them more than once. One that is being made is waited
/// for, not made again; a failure is not kept.
pub(crate) struct Memo<T>(std::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<T>>>>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo(Default::default())
    }
}

impl<T: Clone> Memo<T> {
    pub(crate) async fn get_or_try_init<F, Fut>(&self, key: &str, make: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.get_or_try_init_within(usize::MAX, key, make).await
    }

    /// How many answers are kept (or being made).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// [`Memo::get_or_try_init`] keeping at most `most` answers: all are
    /// forgotten when a new one would be one too many (a server's engine
    /// lives until the data changes, and each request may ask its own).
    pub(crate) async fn get_or_try_init_within<F, Fut>(
        &self,
        most: usize,
        key: &str,
        make: F,
    ) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let cell = {
            let mut cells = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if cells.len() >= most && !cells.contains_key(key) {
                cells.clear();
            }
            Arc::clone(cells.entry(key.to_string()).or_default())
        };
        cell.get_or_try_init(make).await.cloned()
    }
}

/// Answers as of the data's last paid day, made once per engine (that is,
/// per version of the data): a report's sections and a dashboard's pages
/// ask for the same RFM scores and CLV fit, each a pass over every customer
/// and a model fit. Kept while the engine lives: a few hundred bytes a
/// customer, and a report at a million customers peaks lower than when
/// each section made its own.
#[derive(Default)]
pub(crate) struct Latest {
    /// The days of the first and the last paid order.
    paid_days: tokio::sync::OnceCell<Option<(chrono::NaiveDate, chrono::NaiveDate)>>,
    /// The standard CLV model's report, with every customer's values.
    clv: tokio::sync::OnceCell<Arc<clv_report::ClvReport>>,
    /// Each customer's CLV from it, by id.
    clv_by_customer: tokio::sync::OnceCell<Arc<clv_report::ClvByCustomer>>,
    /// The RFM report, without a migration.
    rfm: tokio::sync::OnceCell<Arc<rfm_report::RfmReport>>,
}

/// A query session over one snapshot of every table in a workspace.
pub struct Engine {
    ctx: SessionContext,
    /// Where its plans run.
    runner: Runner,
    /// The version of `orders` the session reads, if it exists.
    orders: Option<koubei_store::Source>,
    /// Whether the stored per-customer purchases (see [`purchases`]) are
    /// registered: made from that version of `orders`, of the shape this
    /// koubei makes, and not set aside by [`Engine::recompute`].
    stored_purchases: bool,
    /// Whether the stored activity by day (see [`activity`]) is registered.
    stored_activity: bool,
    /// Its rows, read once per engine: the overview's three tallies (and a
    /// dashboard's next ranges) count from one read.
    activity_rows: tokio::sync::OnceCell<Arc<Vec<RecordBatch>>>,
    /// Every person with their referrer and place, read once per engine
    /// (that is, per version of the data) for word of mouth's reports.
    people: tokio::sync::OnceCell<std::sync::Arc<wom::People>>,
    /// What a statement names to read each paid order once (see
    /// [`Engine::paid_orders`]).
    paid_orders: tokio::sync::OnceCell<String>,
    /// The answers as of the last paid day that several reports share.
    latest: Latest,
    /// The most frequent tags of the reviews, by range.
    review_tags: Memo<Vec<satisfaction::Tag>>,
    /// The activity's tallies, by their buckets: a report's sales by month,
    /// its sales by a breakdown and word of mouth's periods ask the same.
    activity_tallies: Memo<Arc<Vec<activity::Tally>>>,
    /// The distinct paid and refunded orders of a range, for reviews.
    review_order_totals: Memo<satisfaction::OrderTotals>,
    /// The version of `reviews` the session reads, if it exists.
    reviews: Option<koubei_store::Source>,
    /// The version of `events` the session reads, if it exists.
    events: Option<koubei_store::Source>,
    /// The version of `referrals` the session reads, if it exists.
    referrals: Option<koubei_store::Source>,
    /// Set once `review_scores` and `review_mentions` are registered (see
    /// [`review_scores`]): the model that scored.
    review_scores: tokio::sync::OnceCell<String>,
    /// The shop's sentiment model, when one is in use.
    shop_model: Option<review_scores::ShopModelInfo>,
    ws: Workspace,
}

/// The variable that sets DataFusion's ratio of groups to rows above which
/// a grouping skips its partial step; koubei's own default is 0.5.
const SKIP_PARTIAL_RATIO_VAR: &str =
    "DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_RATIO_THRESHOLD";

impl Engine {
    /// Registers each table at its latest version. Tables that were never
    /// imported are registered empty, with their canonical schema, so that
    /// queries over them plan and return no rows.
    pub async fn open(ws: &Workspace) -> Result<Self> {
        Self::open_on(ws, Runner::InProcess).await
    }

    /// As [`Engine::open`], with its plans run by `runner`.
    pub async fn open_on(ws: &Workspace, runner: Runner) -> Result<Self> {
        // DATAFUSION_* variables tune the engine, as in datafusion-cli.
        let mut config = SessionConfig::from_env()?
            .with_information_schema(true)
            .with_default_catalog_and_schema("koubei", "public");
        // A grouping whose first 100,000 rows make more than half as many
        // groups (order lines by order, customers by month) skips its
        // partial step, as DataFusion's own default does at 80%: the
        // partial step shrinks such rows little and hashes each twice. Sales
        // by month and country at a million customers took 12% less time.
        if std::env::var_os(SKIP_PARTIAL_RATIO_VAR).is_none() {
            config
                .options_mut()
                .execution
                .skip_partial_aggregation_probe_ratio_threshold = 0.5;
        }
        // Partitions far beyond the cores only add work: 100,000 of them
        // made a funnel over a small shop take minutes.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let most = 16 * cores;
        if config.target_partitions() > most {
            tracing::warn!(
                "{} target partitions on {cores} cores: using {most}",
                config.target_partitions()
            );
            config = config.with_target_partitions(most);
        }
        let ctx = match &runner {
            Runner::InProcess => {
                let state = SessionStateBuilder::new()
                    .with_config(config)
                    .with_default_features()
                    .with_physical_optimizer_rule(Arc::new(scan_filters::ScanFilters))
                    .build();
                let ctx = SessionContext::new_with_state(state);
                koubei_functions::register_functions(&ctx);
                ctx
            }
            Runner::Cluster { url, session } => session(config).await.map_err(|e| {
                Error::Request(format!(
                    "cannot reach the cluster at {url}: {}",
                    e.message()
                ))
            })?,
        };
        let tables = TableKind::ALL
            .iter()
            .map(|t| (t.name(), t.schema()))
            .chain(std::iter::once((REJECTS, rejects_schema())));
        let (mut orders, mut reviews, mut events, mut referrals) = (None, None, None, None);
        for (name, schema) in tables {
            match ws.load_table(name).await? {
                Some(t) => {
                    if name == TableKind::Orders.name() {
                        orders = Some(koubei_store::Source::of(&t)?);
                    }
                    if name == TableKind::Reviews.name() {
                        reviews = Some(koubei_store::Source::of(&t)?);
                    }
                    if name == TableKind::Events.name() {
                        events = Some(koubei_store::Source::of(&t)?);
                    }
                    if name == TableKind::Referrals.name() {
                        referrals = Some(koubei_store::Source::of(&t)?);
                    }
                    ctx.register_table(name, runner.provider(&t).await?)?;
                }
                None => match runner {
                    Runner::InProcess => {
                        ctx.register_table(name, Arc::new(empty(schema)?))?;
                    }
                    Runner::Cluster { .. } => {
                        ctx.register_table(name, koubei_store::empty_parquet_provider(schema)?)?;
                    }
                },
            }
        }
        let mut engine = Engine {
            ctx,
            runner,
            orders,
            stored_purchases: false,
            stored_activity: false,
            activity_rows: Default::default(),
            people: Default::default(),
            paid_orders: Default::default(),
            latest: Default::default(),
            review_tags: Default::default(),
            activity_tallies: Default::default(),
            review_order_totals: Default::default(),
            reviews,
            events,
            referrals,
            review_scores: Default::default(),
            shop_model: review_scores::shop_model_info(ws)?.filter(|m| m.in_use),
            ws: ws.clone(),
        };
        engine.register_stored_purchases(ws).await?;
        engine.register_stored_activity(ws).await?;
        engine.register_stored_review_scores(ws).await?;
        Ok(engine)
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The column names of a table, for checking a column a user names.
    pub(crate) async fn columns(&self, table: &str) -> Result<Vec<String>> {
        let t = self.ctx.table_provider(table).await?;
        Ok(t.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect())
    }

    /// Runs one SQL statement and returns its schema and rows.
    pub async fn sql(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let started = std::time::Instant::now();
        let out = collect(self.ctx.sql(query).await?).await;
        // KOUBEI_LOG=koubei_engine=debug: where a command's time goes;
        // =trace gives each statement whole, to run again with `koubei sql`.
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(elapsed = ?started.elapsed(), "sql {query}");
        } else {
            tracing::debug!(elapsed = ?started.elapsed(), query = %query.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(160).collect::<String>(), "sql");
        }
        out
    }

    /// Runs one query that reads: SELECT (or VALUES, EXPLAIN, SHOW,
    /// DESCRIBE). DDL (CREATE, DROP), DML (INSERT, UPDATE, DELETE, COPY) and
    /// statements (SET, transactions) are refused before anything runs:
    /// the tables change only through koubei's checked, atomic writes, and
    /// a query must not write files.
    pub async fn sql_read_only(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self
            .ctx
            .sql_with_options(query, options)
            .await
            .map_err(|e| match e {
                datafusion::error::DataFusionError::Plan(m) if m.contains("not supported") => {
                    Error::invalid(
                        "query",
                        format!(
                            "{m}: a query may only read (SELECT, VALUES, EXPLAIN, SHOW, DESCRIBE); \
                             tables change through imports"
                        ),
                    )
                }
                e => e.into(),
            })?;
        collect(df).await
    }

    /// Runs a query with an aggregate that keeps every row of a group (such
    /// as `purchase_days`, or a funnel's paths). A partial aggregation before the shuffle would
    /// shrink nothing, since its state is the rows themselves, and would
    /// wrap each row in one-element lists for the shuffle. So the rows are
    /// shuffled as they are, by group key, into one aggregation per
    /// partition (see [`shuffle_rows_first`]). At ten million customers the
    /// CLV command took 14% less time than with DataFusion skipping the
    /// partial step (16.6 s → 14.3 s, three runs each in turns); a funnel
    /// over 30M events took 15% less time and a quarter less memory.
    pub(crate) async fn sql_gathering(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let df = self.ctx.sql(query).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let task = Arc::new(df.task_ctx());
        let plan = shuffle_rows_first(df.create_physical_plan().await?)?;
        tracing::debug!(
            plan = %datafusion::physical_plan::displayable(plan.as_ref()).indent(false),
            "gathering"
        );
        let batches = datafusion::physical_plan::collect(plan, task).await?;
        Ok((schema, batches))
    }
}

/// Each paid order once: its buyer, first line's time, amount and channel.
/// An order is a (buyer, order id) pair, as in sales and reviews.
const PAID_ORDERS_SQL: &str = "SELECT customer_id, MIN(ts) AS ts,
        SUM(amount) AS amount, MIN(COALESCE(channel, '')) AS channel
    FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL
    GROUP BY customer_id, order_id";

impl Engine {
    /// What a statement names in its FROM clause to read each paid order
    /// once ([`PAID_ORDERS_SQL`]'s rows). Word of mouth's share flags and
    /// cohorts and the reviews' rating outcomes each grouped the order
    /// lines by order: the rows are made at the first ask and kept, split
    /// over the session's partitions, while the engine (one version of the
    /// data) lives. At 1M customers (3.06M paid orders) reviews by month
    /// after word of mouth take 2.7 → 2.2 CPU-s, and a server holds 240 MB
    /// more. On a cluster, which cannot be sent rows held here, the name is
    /// the query itself, run again by each statement.
    pub(crate) async fn paid_orders(&self) -> Result<&str> {
        self.paid_orders
            .get_or_try_init(|| async {
                if let Runner::Cluster { .. } = self.runner {
                    return Ok(format!("({PAID_ORDERS_SQL})"));
                }
                let (schema, batches) = self.sql(PAID_ORDERS_SQL).await?;
                let parts = self.ctx.copied_config().target_partitions().max(1);
                let mut split = vec![Vec::new(); parts];
                for (i, b) in batches.into_iter().enumerate() {
                    split[i % parts].push(b);
                }
                let name = "koubei_paid_orders";
                self.ctx
                    .register_table(name, Arc::new(MemTable::try_new(schema, split)?))?;
                Ok(name.to_string())
            })
            .await
            .map(String::as_str)
    }
}

/// Rewrites each two-step grouped aggregation (partial, hash shuffle,
/// final) of a gathering aggregate ([`koubei_functions::GATHERING`]) into a
/// hash shuffle of the input rows followed by one aggregation per
/// partition, which sees each group's rows whole. Other aggregations in the
/// plan (a funnel breakdown's first value, retention's count of cells) keep
/// their partial step, which shrinks their rows before the shuffle.
fn shuffle_rows_first(
    plan: Arc<dyn ExecutionPlan>,
) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    plan.transform_down(|node| {
        let Some((partial, partitions)) = partial_under_final(&node) else {
            return Ok(Transformed::no(node));
        };
        let keys = partial.group_expr().input_exprs();
        let shuffled = RepartitionExec::try_new(
            Arc::clone(partial.input()),
            Partitioning::Hash(keys, partitions),
        )?;
        let single = AggregateExec::try_new(
            AggregateMode::SinglePartitioned,
            partial.group_expr().clone(),
            partial.aggr_expr().to_vec(),
            partial.filter_expr().to_vec(),
            Arc::new(shuffled),
            partial.input_schema(),
        )?;
        if single.schema() != node.schema() {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(Arc::new(single) as Arc<dyn ExecutionPlan>))
    })
    .data()
}

/// The partial aggregation and partition count of a final aggregation fed by
/// a hash shuffle of a partial one, grouped by plain keys.
fn partial_under_final(node: &Arc<dyn ExecutionPlan>) -> Option<(&AggregateExec, usize)> {
    let last = node.downcast_ref::<AggregateExec>()?;
    let shuffle = last.input().downcast_ref::<RepartitionExec>()?;
    let first = shuffle.input().downcast_ref::<AggregateExec>()?;
    let &Partitioning::Hash(_, partitions) = shuffle.partitioning() else {
        return None;
    };
    let gathers = first
        .aggr_expr()
        .iter()
        .any(|a| koubei_functions::GATHERING.contains(&a.fun().name()));
    (*last.mode() == AggregateMode::FinalPartitioned
        && *first.mode() == AggregateMode::Partial
        && first.group_expr().is_single()
        && gathers)
        .then_some((first, partitions))
}

async fn collect(df: datafusion::dataframe::DataFrame) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((schema, batches))
}

pub(crate) use koubei_functions::DAY_US;

/// The UTC day number (days since 1970-01-01) of a timestamp column, by
/// integer division, which is much cheaper than date_trunc; flooring for times
/// before 1970.
pub(crate) fn day_number_sql(col: &str) -> String {
    format!(
        "((CAST({col} AS BIGINT) - CASE WHEN CAST({col} AS BIGINT) < 0 THEN {} ELSE 0 END) / {DAY_US})",
        DAY_US - 1
    )
}

/// A UTC timestamp column as a timestamp without a time zone, the same
/// wall time: `date_trunc` and `date_part` on it skip the time-zone
/// conversion of every value, which made them take most of a sales query
/// (1.4 s against 0.5 s to group 3M order lines by month).
pub(crate) fn utc_wall_sql(col: &str) -> String {
    // Microseconds still, as stored: `CAST(... AS TIMESTAMP)` would make
    // nanoseconds, which overflow before 1677.
    format!("arrow_cast({col}, 'Timestamp(Microsecond, None)')")
}

/// The person behind an event: the customer when known, else the anonymous id.
pub(crate) const PERSON: &str = "COALESCE(customer_id, anonymous_id)";

/// Events that have a person. The same rows as `PERSON IS NOT NULL`, but
/// decided from the null masks alone: DataFusion evaluates the COALESCE by
/// building a new string column, which cost a funnel a tenth of its time.
pub(crate) const HAS_PERSON: &str = "(customer_id IS NOT NULL OR anonymous_id IS NOT NULL)";

/// A SQL condition keeping the timestamp column `col` within whole UTC days,
/// `from` to `until` inclusive; `TRUE` when neither is set.
pub(crate) fn ts_in_days(
    col: &str,
    from: Option<chrono::NaiveDate>,
    until: Option<chrono::NaiveDate>,
) -> String {
    let mut parts = Vec::new();
    if let Some(f) = from {
        parts.push(format!("{col} >= TIMESTAMP '{f}T00:00:00Z'"));
    }
    if let Some(u) = until {
        let next = u + chrono::TimeDelta::days(1);
        parts.push(format!("{col} < TIMESTAMP '{next}T00:00:00Z'"));
    }
    if parts.is_empty() {
        "TRUE".to_string()
    } else {
        parts.join(" AND ")
    }
}

fn empty(schema: SchemaRef) -> Result<MemTable> {
    Ok(MemTable::try_new(schema, vec![vec![]])?)
}

/// An engine over a temporary workspace holding one imported CSV table.
#[cfg(test)]
pub(crate) async fn test_engine(table: TableKind, csv: &str) -> (tempfile::TempDir, Engine) {
    test_engine_with(&[(table, csv)]).await
}

/// An engine over a temporary workspace holding imported CSV tables.
#[cfg(test)]
pub(crate) async fn test_engine_with(tables: &[(TableKind, &str)]) -> (tempfile::TempDir, Engine) {
    let (dir, ws) = test_workspace_with(tables).await;
    let engine = Engine::open(&ws).await.unwrap();
    (dir, engine)
}

/// A workspace in a temporary folder with each table imported from its CSV.
#[cfg(test)]
pub(crate) async fn test_workspace_with(
    tables: &[(TableKind, &str)],
) -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::create(dir.path().join("ws")).unwrap();
    for (table, csv) in tables {
        let file = dir.path().join(format!("{table}.csv"));
        std::fs::write(&file, csv).unwrap();
        ws.import_file(
            *table,
            &file,
            &koubei_store::ImportOptions::default(),
            &koubei_store::Quiet,
        )
        .await
        .unwrap();
    }
    (dir, ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer is made once per key; a failure is not kept; past the
    /// most kept, all are forgotten and made again when asked.
    #[tokio::test]
    async fn memo_makes_each_answer_once_within_its_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let memo: Memo<String> = Memo::default();
        let made = AtomicUsize::new(0);
        let ask = |key: &'static str| {
            let (memo, made) = (&memo, &made);
            async move {
                memo.get_or_try_init_within(2, key, || async {
                    made.fetch_add(1, SeqCst);
                    if key == "bad" {
                        return Err(Error::Request("no".into()));
                    }
                    Ok(key.to_uppercase())
                })
                .await
            }
        };
        assert_eq!(ask("a").await.unwrap(), "A");
        assert_eq!(ask("a").await.unwrap(), "A");
        assert_eq!(made.load(SeqCst), 1);
        assert!(ask("bad").await.is_err());
        assert!(ask("bad").await.is_err());
        assert_eq!(made.load(SeqCst), 3);
        // "a" and "bad" kept (the failure's cell is empty): a third key
        // forgets both, so "a" is made again.
        assert_eq!(ask("b").await.unwrap(), "B");
        assert_eq!(ask("a").await.unwrap(), "A");
        assert_eq!(made.load(SeqCst), 5);
        assert_eq!(ask("b").await.unwrap(), "B");
        assert_eq!(made.load(SeqCst), 5);
    }

    /// The first value of a query's first column, as a whole number.
    fn first_i64(b: &[RecordBatch]) -> i64 {
        crate::cols::i64s(b[0].column(0)).unwrap()[0].unwrap()
    }

    #[tokio::test]
    async fn empty_workspace_answers_with_zero_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        let engine = Engine::open(&ws).await.unwrap();
        let (_, b) = engine
            .sql("SELECT count(*) AS n FROM orders JOIN customers USING (customer_id)")
            .await
            .unwrap();
        assert_eq!(first_i64(&b), 0);
        let e = engine
            .sql("SELECT * FROM nope")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }

    /// Every form that writes is refused before it runs, and the table and
    /// the files are as they were; reading forms run.
    #[tokio::test]
    async fn sql_only_reads() {
        let (dir, engine) = test_engine(
            TableKind::Orders,
            "order_id,customer_id,ts,amount\n1,a,2024-01-01,5\n",
        )
        .await;
        let target = dir.path().join("out.csv");
        let refused = [
            format!(
                "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
                target.display()
            ),
            "INSERT INTO orders SELECT * FROM orders".to_string(),
            "DELETE FROM orders".to_string(),
            "UPDATE orders SET amount = 0".to_string(),
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'".to_string(),
            "CREATE TABLE t AS SELECT 1".to_string(),
            "CREATE VIEW v AS SELECT 1".to_string(),
            "DROP TABLE orders".to_string(),
            "SET datafusion.execution.target_partitions = 1".to_string(),
            format!(
                "EXPLAIN COPY (SELECT 1) TO '{}' STORED AS CSV",
                target.display()
            ),
        ];
        for q in &refused {
            match engine.sql_read_only(q).await {
                Err(Error::Invalid {
                    field: "query",
                    reason,
                }) => {
                    assert!(reason.contains("may only read"), "{q}: {reason}")
                }
                Err(e) => panic!("{q}: {e}"),
                Ok(_) => panic!("{q}: ran"),
            }
        }
        assert!(!target.exists());
        let (_, b) = engine
            .sql_read_only("SELECT count(*) FROM orders")
            .await
            .unwrap();
        assert_eq!(first_i64(&b), 1);
        for q in [
            "VALUES (1)",
            "EXPLAIN SELECT * FROM orders",
            "SHOW TABLES",
            "DESCRIBE orders",
            "SELECT * FROM information_schema.columns",
        ] {
            engine
                .sql_read_only(q)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    /// The gathering plan groups each key's rows in one place, with no
    /// partial step, and gives the same groups as DataFusion's own plan;
    /// an aggregation with no gathering aggregate keeps its partial step.
    #[tokio::test]
    async fn gathering_shuffles_rows_first() {
        use arrow::array::{AsArray, Int64Array};
        use arrow::datatypes::{DataType, Field, Int64Type, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let part = |k: Vec<i64>, v: Vec<i64>| {
            vec![
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v))],
                )
                .unwrap(),
            ]
        };
        let table = MemTable::try_new(
            schema.clone(),
            vec![
                part(vec![1, 2, 3, 1], vec![10, 20, 30, 40]),
                part(vec![3, 1, 4], vec![5, 6, 7]),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
        ctx.register_table("t", Arc::new(table)).unwrap();
        koubei_functions::register_functions(&ctx);
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine {
            ctx,
            runner: Runner::InProcess,
            orders: None,
            stored_purchases: false,
            stored_activity: false,
            activity_rows: Default::default(),
            people: Default::default(),
            paid_orders: Default::default(),
            latest: Default::default(),
            review_tags: Default::default(),
            activity_tallies: Default::default(),
            review_order_totals: Default::default(),
            reviews: None,
            events: None,
            referrals: None,
            review_scores: Default::default(),
            shop_model: None,
            ws: Workspace::create(dir.path().join("ws")).unwrap(),
        };
        let plan_of = |query: &'static str| {
            let ctx = engine.ctx.clone();
            async move {
                ctx.sql(query)
                    .await
                    .unwrap()
                    .create_physical_plan()
                    .await
                    .unwrap()
            }
        };
        let shown = |p: &Arc<dyn ExecutionPlan>| {
            datafusion::physical_plan::displayable(p.as_ref())
                .indent(false)
                .to_string()
        };
        // `window_funnel` keeps each group's rows (its level is 1 here).
        let query = "SELECT k, SUM(v) AS s, COUNT(*) AS n,
                            window_funnel(CAST(0 AS BIGINT), 'ordered', v, v > 0) AS level
                     FROM t GROUP BY k";
        let plan = plan_of(query).await;
        assert!(shown(&plan).contains("mode=Partial"), "{}", shown(&plan));
        let rewritten = shuffle_rows_first(plan).unwrap();
        let text = shown(&rewritten);
        assert!(text.contains("mode=SinglePartitioned"), "{text}");
        assert!(!text.contains("mode=Partial"), "{text}");
        let mut got: Vec<(i64, i64, i64)> = Vec::new();
        for b in engine.sql_gathering(query).await.unwrap().1 {
            let col = |i: usize| b.column(i).as_primitive::<Int64Type>().values().to_vec();
            let (k, s, n) = (col(0), col(1), col(2));
            let level = arrow::compute::cast(b.column(3), &DataType::Int64).unwrap();
            assert!(
                level
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .all(|&l| l == 1)
            );
            got.extend((0..b.num_rows()).map(|i| (k[i], s[i], n[i])));
        }
        got.sort();
        assert_eq!(got, [(1, 56, 3), (2, 20, 1), (3, 35, 2), (4, 7, 1)]);
        // Sums and counts shrink before the shuffle: left as DataFusion planned.
        let plain = plan_of("SELECT k, SUM(v) AS s, COUNT(*) AS n FROM t GROUP BY k").await;
        let kept = shown(&shuffle_rows_first(plain).unwrap());
        assert!(kept.contains("mode=Partial"), "{kept}");
    }
}
