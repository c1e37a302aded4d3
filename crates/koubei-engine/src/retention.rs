//! Cohort retention, with PostHog's first-time semantics.
//!
//! - A person's cohort is the period of their first start event: by default
//!   their first paid order; with `start_event`, their first such event.
//! - They are retained in period k (k ≥ 1) if they did a return event in the
//!   k-th period after their cohort's: by default any paid order, with
//!   `return_event` such an event. Element 0 is the cohort's size.
//! - `cumulative` counts them in period k if they returned in period k or
//!   any later one ("on or after" rather than "on").
//! - `recurring` puts a person in the cohort of every period in which they did
//!   the start event, not only the first (PostHog's recurring retention).
//! - `breakdown` splits each cohort by a column of the start events, taken on
//!   the person's first start event of the cohort period (first touch).
//! - Periods that start after the last return event in the data have not
//!   elapsed: they are `null`, not 0.
//! - Periods are UTC `date_trunc` periods; weeks start on Monday.
//!
//! Persons are `customer_id` for orders, and `customer_id` or else
//! `anonymous_id` for events.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::clv::from_epoch_day;
use crate::sales::Period;
use crate::{Engine, Error, HAS_PERSON, PERSON, Result, cols};
use koubei_functions::{CohortRule, RETENTION_STRIDE as STRIDE};

/// A cell that no cohort has (cells are `cohort * STRIDE + k`, with `k`
/// below `STRIDE`): see [`Engine::cells_sql`].
const NO_CELL: i64 = i64::MIN + 1;

/// What `koubei retention` computes; the same type serves every front end.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RetentionRequest {
    /// day, week or month.
    pub period: Period,
    /// Periods after the cohort's own to report.
    pub periods: usize,
    /// An event name from `events`; None means a paid order.
    pub start_event: Option<String>,
    pub return_event: Option<String>,
    pub cumulative: bool,
    pub recurring: bool,
    /// A column of `orders` (or of `events`, with a start event).
    pub breakdown: Option<String>,
    /// Cohorts starting on or after this day (UTC).
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl Default for RetentionRequest {
    fn default() -> Self {
        RetentionRequest {
            period: Period::Week,
            periods: 8,
            start_event: None,
            return_event: None,
            cumulative: false,
            recurring: false,
            breakdown: None,
            since: None,
            until: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cohort {
    /// The cohort period's first day.
    pub cohort: NaiveDate,
    pub size: i64,
    /// Persons retained in periods 0, 1, 2, ...; element 0 is the size;
    /// `None` for periods not yet elapsed.
    pub retained: Vec<Option<i64>>,
}

/// The cohorts of one breakdown value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CohortGroup {
    pub value: String,
    pub cohorts: Vec<Cohort>,
}

/// The share of first-time buyers who ordered again within N days.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RepeatRate {
    pub days: i64,
    /// Buyers whose first paid order is at least `days` before the last
    /// order in the data, so that their window is complete.
    pub buyers: i64,
    /// Of those, the ones with another paid order after the first, within `days`.
    pub repeated: i64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    pub period: Period,
    /// Periods after the cohort's own, as asked for.
    #[serde(skip)]
    pub periods: usize,
    pub cumulative: bool,
    pub recurring: bool,
    /// All persons (the total under a breakdown).
    pub cohorts: Vec<Cohort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<CohortGroup>>,
    /// Repeat-purchase rates at 30, 60 and 90 days (from orders, whatever the
    /// start and return events).
    pub repeat_purchase: Vec<RepeatRate>,
}

/// The persons and times of start or return events: paid orders, or the
/// events with a name.
fn source(event: Option<&str>) -> String {
    source_with(event, "NULL")
}

/// [`source`] with one more column, `b`.
fn source_with(event: Option<&str>, b: &str) -> String {
    match event {
        None => format!(
            "SELECT customer_id AS person, ts, {b} AS b FROM orders
             WHERE status = 'paid' AND customer_id IS NOT NULL"
        ),
        Some(e) => format!(
            "SELECT {PERSON} AS person, ts, {b} AS b FROM events
             WHERE event = {} AND {HAS_PERSON}",
            quote(e)
        ),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Start and return events in one relation, with a flag for each: one scan
/// when both come from the same table.
fn marks(start: Option<&str>, ret: Option<&str>) -> String {
    match (start, ret) {
        (None, None) => format!(
            "SELECT person, ts, TRUE AS is_start, TRUE AS is_return FROM ({})",
            source(None)
        ),
        (Some(s), Some(r)) => format!(
            "SELECT {PERSON} AS person, ts,
                    event = {s} AS is_start, event = {r} AS is_return
             FROM events
             WHERE event IN ({s}, {r}) AND {HAS_PERSON}",
            s = quote(s),
            r = quote(r)
        ),
        _ => format!(
            "SELECT person, ts, TRUE AS is_start, FALSE AS is_return FROM ({})
             UNION ALL
             SELECT person, ts, FALSE AS is_start, TRUE AS is_return FROM ({})",
            source(start),
            source(ret)
        ),
    }
}

fn day(v: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(v)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

impl Engine {
    /// An event name that no event has is most likely a typo: say so, with
    /// the names there are, rather than answer with an empty table.
    async fn check_event(&self, field: &'static str, event: &str) -> Result<()> {
        let (_, b) = self
            .sql(&format!(
                "SELECT 1 FROM events WHERE event = {} LIMIT 1",
                quote(event)
            ))
            .await?;
        if b.iter().any(|b| b.num_rows() > 0) {
            return Ok(());
        }
        let (_, b) = self
            .sql("SELECT DISTINCT event FROM events ORDER BY event LIMIT 21")
            .await?;
        let mut names = Vec::new();
        for batch in &b {
            names.extend(crate::cols::strings(batch.column(0))?);
        }
        let listed = match names.len() {
            0 => "events is empty".to_string(),
            n if n > 20 => format!("events has {}, ...", names[..20].join(", ")),
            _ => format!("events has {}", names.join(", ")),
        };
        Err(Error::invalid(
            field,
            format!("no event is named \"{event}\" ({listed})"),
        ))
    }

    pub async fn retention(&self, req: &RetentionRequest) -> Result<RetentionReport> {
        if !matches!(req.period, Period::Day | Period::Week | Period::Month) {
            return Err(Error::invalid("period", "must be day, week or month"));
        }
        if req.periods == 0 || req.periods > 1000 {
            return Err(Error::invalid("periods", "must be between 1 and 1000"));
        }
        if let Some(b) = &req.breakdown {
            let table = if req.start_event.is_some() {
                "events"
            } else {
                "orders"
            };
            let names = self.columns(table).await?;
            let ok = b.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok || !names.contains(b) {
                return Err(Error::invalid(
                    "breakdown",
                    format!(
                        "{b}: {table} has no such column (it has {})",
                        names.join(", ")
                    ),
                ));
            }
        }
        let (start, ret) = (req.start_event.as_deref(), req.return_event.as_deref());
        // (breakdown value, cell, persons), and the last day with a return.
        let cells = async {
            match (start, ret, &req.breakdown) {
                (None, None, None) => match self.stored_cells(req).await? {
                    Some(found) => Ok(found),
                    None => self.cells_sql(req).await,
                },
                _ => self.cells_sql(req).await,
            }
        };
        let ((rows, last_day), repeat_purchase) =
            futures::try_join!(cells, self.repeat_purchase(&[30, 60, 90]))?;
        // Only an event that no person did leaves no cohort, or no last
        // return: look for the name then, not on every request.
        if let Some(e) = start
            && rows.is_empty()
        {
            self.check_event("start_event", e).await?;
        }
        if let Some(e) = ret
            && last_day.is_none()
        {
            self.check_event("return_event", e).await?;
        }
        let first_cohort = req.since.map(|s| req.period.start(s));
        let mut groups: BTreeMap<String, BTreeMap<NaiveDate, Cohort>> = BTreeMap::new();
        for (value, cell, n) in rows {
            let cohort = req.period.from_index(cell / STRIDE);
            if first_cohort.is_some_and(|f| cohort < f) || req.until.is_some_and(|u| cohort > u) {
                continue;
            }
            let c = groups
                .entry(value)
                .or_default()
                .entry(cohort)
                .or_insert_with(|| Cohort {
                    cohort,
                    size: 0,
                    retained: vec![Some(0); req.periods + 1],
                });
            match (cell % STRIDE) as usize {
                0 => c.size = n,
                k => c.retained[k] = Some(n),
            }
        }
        let finish = |mut c: Cohort| {
            c.retained[0] = Some(c.size);
            // Blank the periods that start after the data ends.
            let mut d = c.cohort;
            for slot in c.retained.iter_mut().skip(1) {
                d = req.period.next(d);
                if last_day.is_none_or(|l| d > l) {
                    *slot = None;
                }
            }
            c
        };
        // The total adds the groups up: a person is in one group per cohort.
        let mut total: BTreeMap<NaiveDate, Cohort> = BTreeMap::new();
        for g in groups.values() {
            for c in g.values() {
                let t = total.entry(c.cohort).or_insert_with(|| Cohort {
                    cohort: c.cohort,
                    size: 0,
                    retained: vec![Some(0); req.periods + 1],
                });
                t.size += c.size;
                for (a, b) in t.retained.iter_mut().zip(&c.retained) {
                    *a = Some(a.unwrap_or(0) + b.unwrap_or(0));
                }
            }
        }
        let breakdown = req.breakdown.as_ref().map(|_| {
            let mut out: Vec<CohortGroup> = groups
                .into_iter()
                .map(|(value, g)| CohortGroup {
                    value,
                    cohorts: g.into_values().map(finish).collect(),
                })
                .collect();
            out.sort_by_key(|g| std::cmp::Reverse(g.cohorts.iter().map(|c| c.size).sum::<i64>()));
            out
        });
        Ok(RetentionReport {
            period: req.period,
            periods: req.periods,
            cumulative: req.cumulative,
            recurring: req.recurring,
            cohorts: total.into_values().map(finish).collect(),
            breakdown,
            repeat_purchase,
        })
    }

    /// Paid-order retention's cells from the stored activity: the same
    /// rule over each customer's paid days as the aggregate applies to
    /// their order lines.
    async fn stored_cells(
        &self,
        req: &RetentionRequest,
    ) -> Result<Option<(Vec<(String, i64, i64)>, Option<NaiveDate>)>> {
        let rule = CohortRule {
            periods: req.periods as i64,
            cumulative: req.cumulative,
            recurring: req.recurring,
        };
        let period = req.period;
        let index = |d: i32| period.index(from_epoch_day(i64::from(d)));
        let Some((counts, last)) = self.activity_cells(rule, index).await? else {
            return Ok(None);
        };
        let rows = counts
            .into_iter()
            .map(|(cell, n)| (String::new(), cell, n))
            .collect();
        let last = last.map(|d| from_epoch_day(i64::from(d)));
        Ok(Some((rows, last)))
    }

    /// [`Engine::stored_cells`] from the tables, for any start and return
    /// event and a breakdown.
    async fn cells_sql(
        &self,
        req: &RetentionRequest,
    ) -> Result<(Vec<(String, i64, i64)>, Option<NaiveDate>)> {
        let idx = req.period.index_sql("ts");
        let (start, ret) = (req.start_event.as_deref(), req.return_event.as_deref());
        let per = format!(
            "SELECT person,
                    retention_cells(CAST({periods} AS BIGINT), {cumulative}, {recurring},
                                    {idx}, is_start, is_return) AS cells,
                    max(CASE WHEN is_return THEN ts END) AS last_return
             FROM ({marks}) GROUP BY person",
            periods = req.periods,
            cumulative = req.cumulative,
            recurring = req.recurring,
            marks = marks(start, ret),
        );
        let (batches, last_day) = match &req.breakdown {
            // Each person adds one `NO_CELL`, so that its group carries the
            // last return of every person, in a cohort or not: one scan.
            None => {
                let sql = format!(
                    "SELECT '' AS bd, cell, count(*) AS n, CAST(max(last_return) AS BIGINT) AS last
                     FROM (SELECT unnest(array_append(cells, CAST({NO_CELL} AS BIGINT))) AS cell,
                                  last_return
                           FROM ({per}))
                     GROUP BY cell"
                );
                // Each person's marks are shuffled as rows (see
                // `sql_gathering`): a partial step would copy them all again.
                let (_, batches) = self.sql_gathering(&sql).await?;
                let mut last = None;
                for b in &batches {
                    let (cells, lasts) = (cols::i64s(b.column(1))?, cols::i64s(b.column(3))?);
                    if let Some(i) = cells.iter().position(|&c| c == Some(NO_CELL)) {
                        last = lasts[i];
                    }
                }
                (batches, last)
            }
            // The value on the person's first start event in the cohort's period.
            Some(b) => {
                let sql = format!(
                    "WITH per AS ({per}),
                          cells AS (SELECT person, unnest(cells) AS cell FROM per),
                          bd AS (SELECT person, {idx} AS cohort,
                                        first_value(COALESCE(CAST(b AS VARCHAR), '') ORDER BY ts) AS bd
                                 FROM ({starts}) GROUP BY person, {idx})
                     SELECT bd.bd, cells.cell, count(*) AS n
                     FROM cells JOIN bd
                       ON cells.person = bd.person AND cells.cell / {STRIDE} = bd.cohort
                     GROUP BY bd.bd, cells.cell",
                    starts = source_with(start, b),
                );
                let last_sql = format!("SELECT CAST(max(ts) AS BIGINT) FROM ({})", source(ret));
                let ((_, batches), (_, last)) =
                    futures::try_join!(self.sql_gathering(&sql), self.sql(&last_sql))?;
                let last = match last.first() {
                    Some(b) => cols::i64s(b.column(0))?.first().copied().flatten(),
                    None => None,
                };
                (batches, last)
            }
        };
        // The last day with a return event: later periods have not elapsed.
        let last_day = last_day.map(day);
        let mut rows = Vec::new();
        for b in &batches {
            let bd = cast(b.column(0), &DataType::Utf8)?;
            let bd = bd.as_string::<i32>();
            let cells = cols::i64s(b.column(1))?;
            let n = cols::i64s(b.column(2))?;
            for row in 0..b.num_rows() {
                if let (Some(cell), Some(n)) = (cells[row], n[row])
                    && cell != NO_CELL
                {
                    let value = if bd.is_null(row) { "" } else { bd.value(row) };
                    rows.push((value.to_string(), cell, n));
                }
            }
        }
        Ok((rows, last_day))
    }

    /// For each window, the buyers whose window lies within the data, and how
    /// many of them placed another paid order after their first within it.
    pub async fn repeat_purchase(&self, windows: &[i64]) -> Result<Vec<RepeatRate>> {
        let columns: Vec<String> = windows
            .iter()
            .map(|d| {
                let complete = format!("first_ts + INTERVAL '{d} days' <= last_ts");
                format!(
                    "count(*) FILTER (WHERE {complete}) AS buyers_{d},
                     count(*) FILTER (WHERE {complete} AND next_ts <= first_ts + INTERVAL '{d} days') AS repeated_{d}"
                )
            })
            .collect();
        if let Some(stored) = self.activity_repeat(windows).await? {
            return Ok(stored
                .into_iter()
                .zip(windows)
                .map(|((buyers, repeated), &days)| RepeatRate {
                    days,
                    buyers,
                    repeated,
                    rate: (buyers > 0).then(|| repeated as f64 / buyers as f64),
                })
                .collect());
        }
        let sql = format!(
            "WITH b AS ({first_and_next}),
                  buyers AS (
                    SELECT first_ts, next_ts, (SELECT max(ts) FROM orders) AS last_ts FROM b
                  )
             SELECT {columns} FROM buyers",
            first_and_next = self.first_and_next_sql(),
            columns = columns.join(", "),
        );
        let (_, batches) = self.sql(&sql).await?;
        let mut out = Vec::new();
        for (i, &days) in windows.iter().enumerate() {
            let (mut buyers, mut repeated) = (0, 0);
            for b in &batches {
                let n = cast(b.column(2 * i), &DataType::Int64)?;
                let r = cast(b.column(2 * i + 1), &DataType::Int64)?;
                buyers += n.as_primitive::<Int64Type>().value(0);
                repeated += r.as_primitive::<Int64Type>().value(0);
            }
            out.push(RepeatRate {
                days,
                buyers,
                repeated,
                rate: (buyers > 0).then(|| repeated as f64 / buyers as f64),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    /// Weekly cohorts worked out by hand (2024-01-01 is a Monday):
    /// - a: first order in week 0 (Jan 1), returns in weeks 1 and 3;
    /// - b: first order in week 0 (Jan 3), returns in week 2; a refunded order in week 1 does not count;
    /// - c: first order in week 1 (Jan 9), a second order the same week, returns in week 2 (its period 1);
    /// - d: only cancelled orders: in no cohort (the last one ends the data on 2024-06-01);
    /// - e: one order in week 0 (Jan 2), never again;
    /// - f: first order in week 1 (Jan 10), again 45 days later (week 6).
    const ORDERS: &str = "order_id,customer_id,ts,amount,status,channel
1,a,2024-01-01T10:00:00Z,10,paid,app
2,a,2024-01-08T10:00:00Z,10,paid,web
3,a,2024-01-22T10:00:00Z,10,paid,web
4,b,2024-01-03T10:00:00Z,10,paid,web
5,b,2024-01-10T10:00:00Z,10,refunded,app
6,b,2024-01-15T10:00:00Z,10,paid,app
7,c,2024-01-09T10:00:00Z,10,paid,web
8,c,2024-01-11T10:00:00Z,10,paid,app
9,c,2024-01-16T10:00:00Z,10,paid,app
10,d,2024-01-02T10:00:00Z,10,cancelled,app
11,d,2024-06-01T10:00:00Z,10,cancelled,app
12,e,2024-01-02T10:00:00Z,10,paid,app
13,f,2024-01-10T10:00:00Z,10,paid,app
14,f,2024-02-24T10:00:00Z,10,paid,web
";

    fn req(cumulative: bool) -> RetentionRequest {
        RetentionRequest {
            period: Period::Week,
            periods: 3,
            start_event: None,
            return_event: None,
            cumulative,
            recurring: false,
            breakdown: None,
            since: None,
            until: None,
        }
    }

    fn some(v: &[i64]) -> Vec<Option<i64>> {
        v.iter().copied().map(Some).collect()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn weekly_first_order_cohorts_by_hand() {
        let (_dir, e) = crate::test_engine(TableKind::Orders, ORDERS).await;
        let r = e.retention(&req(false)).await.unwrap();
        assert_eq!(
            r.cohorts,
            vec![
                Cohort {
                    cohort: d("2024-01-01"),
                    size: 3,
                    retained: some(&[3, 1, 1, 1])
                },
                Cohort {
                    cohort: d("2024-01-08"),
                    size: 2,
                    retained: some(&[2, 1, 0, 0])
                },
            ]
        );
        // On or after: a returned last in week 3, b in week 2; c in its
        // period 1 and f in its period 6, past the last period shown.
        let r = e.retention(&req(true)).await.unwrap();
        assert_eq!(r.cohorts[0].retained, some(&[3, 2, 2, 1]));
        assert_eq!(r.cohorts[1].retained, some(&[2, 2, 1, 1]));
        // Buyers a, b, c, e, f: a, b, c again within 30 days, f within 60.
        let rates: Vec<_> = r
            .repeat_purchase
            .iter()
            .map(|x| (x.days, x.buyers, x.repeated))
            .collect();
        assert_eq!(rates, vec![(30, 5, 3), (60, 5, 4), (90, 5, 4)]);
        assert_eq!(r.repeat_purchase[0].rate, Some(0.6));

        let mut q = req(false);
        q.since = Some(d("2024-01-10"));
        let r = e.retention(&q).await.unwrap();
        assert_eq!(r.cohorts.len(), 1);
        assert_eq!(r.cohorts[0].cohort, d("2024-01-08"));
    }

    #[tokio::test]
    async fn recurring_cohorts_and_unelapsed_periods_by_hand() {
        let (_dir, e) = crate::test_engine(TableKind::Orders, ORDERS).await;
        let mut q = req(false);
        q.recurring = true;
        let r = e.retention(&q).await.unwrap();
        let got: Vec<(String, Vec<Option<i64>>)> = r
            .cohorts
            .iter()
            .map(|c| (c.cohort.to_string(), c.retained.clone()))
            .collect();
        // Every week with a paid order puts the buyer in that week's cohort;
        // the data end on 2024-02-24, so f's weeks after 2024-02-19 are blank.
        assert_eq!(
            got,
            vec![
                ("2024-01-01".into(), some(&[3, 1, 1, 1])),
                ("2024-01-08".into(), some(&[3, 1, 1, 0])),
                ("2024-01-15".into(), some(&[2, 0, 0, 0])),
                ("2024-01-22".into(), some(&[1, 0, 0, 0])),
                ("2024-02-19".into(), vec![Some(1), None, None, None]),
            ]
        );
    }

    #[tokio::test]
    async fn breakdown_by_the_first_orders_channel() {
        let (_dir, e) = crate::test_engine(TableKind::Orders, ORDERS).await;
        let mut q = req(false);
        q.breakdown = Some("channel".into());
        let r = e.retention(&q).await.unwrap();
        // The total is the plain report.
        assert_eq!(r.cohorts[0].retained, some(&[3, 1, 1, 1]));
        assert_eq!(r.cohorts[1].retained, some(&[2, 1, 0, 0]));
        let groups: Vec<(String, Vec<Vec<Option<i64>>>)> = r
            .breakdown
            .unwrap()
            .into_iter()
            .map(|g| (g.value, g.cohorts.into_iter().map(|c| c.retained).collect()))
            .collect();
        assert_eq!(
            groups,
            vec![
                ("app".into(), vec![some(&[2, 1, 0, 1]), some(&[1, 0, 0, 0])]),
                ("web".into(), vec![some(&[1, 0, 1, 0]), some(&[1, 1, 0, 0])]),
            ]
        );
        q.breakdown = Some("colour".into());
        let err = e.retention(&q).await.unwrap_err().to_string();
        assert!(
            err.contains("breakdown: colour: orders has no such column"),
            "{err}"
        );
    }

    /// The data ends at the last return event of anyone, also of a person
    /// who never started: periods up to it are 0, later ones not yet known.
    #[tokio::test]
    async fn the_last_return_of_a_person_without_a_cohort_ends_the_data() {
        let (_dir, e) = crate::test_engine(
            TableKind::Events,
            "ts,customer_id,event\n2024-01-01T10:00:00Z,a,view\n2024-01-16T10:00:00Z,b,purchase\n",
        )
        .await;
        let mut q = req(false);
        q.start_event = Some("view".into());
        q.return_event = Some("purchase".into());
        let r = e.retention(&q).await.unwrap();
        assert_eq!(r.cohorts.len(), 1);
        assert_eq!(r.cohorts[0].retained, vec![Some(1), Some(0), Some(0), None]);
        q.breakdown = Some("channel".into());
        let r = e.retention(&q).await.unwrap();
        assert_eq!(r.cohorts[0].retained, vec![Some(1), Some(0), Some(0), None]);
    }

    /// The field and reason of an invalid request.
    fn invalid(e: Error) -> (&'static str, String) {
        match e {
            Error::Invalid { field, reason } => (field, reason),
            e => panic!("{e}"),
        }
    }

    /// An event that no event is named: an error that names the field and
    /// the events there are, not an empty table.
    #[tokio::test]
    async fn unknown_events_are_named() {
        let (_dir, e) = crate::test_engine(
            TableKind::Events,
            "ts,customer_id,event\n2024-01-01T10:00:00Z,a,view\n2024-01-02T10:00:00Z,a,purchase\n",
        )
        .await;
        let mut q = req(false);
        q.start_event = Some("veiw".into());
        q.return_event = Some("purchase".into());
        assert_eq!(
            invalid(e.retention(&q).await.unwrap_err()),
            (
                "start_event",
                "no event is named \"veiw\" (events has purchase, view)".into()
            )
        );
        q.start_event = Some("view".into());
        q.return_event = Some("purchse".into());
        assert_eq!(
            invalid(e.retention(&q).await.unwrap_err()),
            (
                "return_event",
                "no event is named \"purchse\" (events has purchase, view)".into()
            )
        );
        q.return_event = Some("purchase".into());
        let r = e.retention(&q).await.unwrap();
        assert_eq!(r.cohorts[0].retained[0], Some(1));
    }
}
