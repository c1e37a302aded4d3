//! Sales KPIs by period, with an optional breakdown.
//!
//! What is counted (see `docs/metrics.md`):
//! - only order lines with status `paid`: refunded and cancelled orders are
//!   out, so revenue is net of them;
//! - revenue is the sum of line amounts; orders are distinct `order_id`s;
//!   units the sum of `quantity`; buyers distinct `customer_id`s;
//! - a buyer is *new* in a period when their first paid order ever falls in
//!   it; their revenue in that period is new-buyer revenue, all other revenue
//!   is returning-buyer revenue;
//! - periods are `date_trunc` in UTC, weeks starting on Monday (ISO 8601);
//!   periods without sales are present with zeros;
//! - growth compares a period with the one before it, and with the same
//!   period a year earlier (365/366 days for days, 52 weeks for weeks,
//!   12 months otherwise).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};
use serde_with::DeserializeFromStr;

use crate::activity::{DayRange, Series, Tally};
use crate::clv::epoch_day;
use crate::cols::money;
use crate::{Engine, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, DeserializeFromStr)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    #[default]
    Month,
    Quarter,
    Year,
}

impl Period {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
        }
    }

    /// The start of the period after the one starting at `d`.
    pub fn next(self, d: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => d + TimeDelta::days(1),
            Period::Week => d + TimeDelta::days(7),
            Period::Month => d + Months::new(1),
            Period::Quarter => d + Months::new(3),
            Period::Year => d + Months::new(12),
        }
    }

    fn previous(self, d: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => d - TimeDelta::days(1),
            Period::Week => d - TimeDelta::days(7),
            Period::Month => d - Months::new(1),
            Period::Quarter => d - Months::new(3),
            Period::Year => d - Months::new(12),
        }
    }

    /// The first day of the period holding a timestamp in microseconds (UTC).
    pub fn of_micros(self, micros: i64) -> NaiveDate {
        let d = DateTime::from_timestamp_micros(micros)
            .unwrap_or_default()
            .date_naive();
        self.start(d)
    }

    /// The first day of every period from `first` to `last`, both included.
    pub fn range(self, first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut d = self.start(first);
        while d <= last {
            out.push(d);
            d = self.next(d);
        }
        out
    }

    /// The first day of the period that contains `d`.
    pub fn start(self, d: NaiveDate) -> NaiveDate {
        let first_of = |m: u32| NaiveDate::from_ymd_opt(d.year(), m, 1).unwrap_or(d);
        match self {
            Period::Day => d,
            Period::Week => d - TimeDelta::days(d.weekday().num_days_from_monday() as i64),
            Period::Month => first_of(d.month()),
            Period::Quarter => first_of(1 + 3 * ((d.month() - 1) / 3)),
            Period::Year => first_of(1),
        }
    }

    /// The period's number: periods counted from the one holding 0001-01-01
    /// (a Monday), so that every date since then has a number ≥ 0 and
    /// `k` periods later is the number plus `k`.
    pub fn index(self, d: NaiveDate) -> i64 {
        let (y, m) = (i64::from(d.year()) - 1, i64::from(d.month0()));
        match self {
            Period::Day => i64::from(d.num_days_from_ce()) - 1,
            Period::Week => (i64::from(d.num_days_from_ce()) - 1).div_euclid(7),
            Period::Month => y * 12 + m,
            Period::Quarter => y * 4 + m / 3,
            Period::Year => y,
        }
    }

    /// The first day of the period numbered `i` (see [`Period::index`]).
    pub fn from_index(self, i: i64) -> NaiveDate {
        let months = |n: i64| {
            NaiveDate::from_ymd_opt(
                (n.div_euclid(12) + 1) as i32,
                n.rem_euclid(12) as u32 + 1,
                1,
            )
            .unwrap_or_default()
        };
        let day = |n: i64| NaiveDate::from_num_days_from_ce_opt(n as i32 + 1).unwrap_or_default();
        match self {
            Period::Day => day(i),
            Period::Week => day(i * 7),
            Period::Month => months(i),
            Period::Quarter => months(i * 3),
            Period::Year => months(i * 12),
        }
    }

    /// A SQL expression for the start of the period holding a UTC
    /// timestamp column's value.
    pub(crate) fn trunc_sql(self, col: &str) -> String {
        format!("date_trunc('{}', {})", self.sql(), crate::utc_wall_sql(col))
    }

    /// A SQL expression for [`Period::index`] of a UTC timestamp column.
    pub(crate) fn index_sql(self, col: &str) -> String {
        // Days from 0001-01-01 to 1970-01-01.
        const UNIX_DAY0: i64 = 719_162;
        let day = crate::day_number_sql(col);
        let wall = crate::utc_wall_sql(col);
        let (y, m) = (
            format!("(CAST(date_part('year', {wall}) AS BIGINT) - 1)"),
            format!("(CAST(date_part('month', {wall}) AS BIGINT) - 1)"),
        );
        match self {
            Period::Day => format!("({day} + {UNIX_DAY0})"),
            Period::Week => format!("(({day} + {UNIX_DAY0}) / 7)"),
            Period::Month => format!("({y} * 12 + {m})"),
            Period::Quarter => format!("({y} * 4 + {m} / 3)"),
            Period::Year => y,
        }
    }

    fn year_before(self, d: NaiveDate) -> NaiveDate {
        match self {
            Period::Week => d - TimeDelta::weeks(52),
            Period::Day => d
                .with_year(d.year() - 1)
                .unwrap_or(d - TimeDelta::days(365)),
            _ => d - Months::new(12),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql())
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "day" | "daily" => Ok(Period::Day),
            "week" | "weekly" => Ok(Period::Week),
            "month" | "monthly" => Ok(Period::Month),
            "quarter" | "quarterly" => Ok(Period::Quarter),
            "year" | "yearly" => Ok(Period::Year),
            _ => Err(format!(
                "unknown period \"{s}\": expected day, week, month, quarter or year"
            )),
        }
    }
}

/// What `koubei sales` computes; the same type serves every front end.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SalesRequest {
    pub by: Period,
    /// A column of `orders` (country, region, city, channel, category,
    /// product_id, or any extra column).
    pub breakdown: Option<String>,
    /// Keep the N groups with the most revenue; the rest become "(other)".
    pub top: Option<usize>,
    /// First day included (UTC).
    pub since: Option<NaiveDate>,
    /// Last day included (UTC).
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SalesMeasures {
    pub revenue: f64,
    pub orders: i64,
    pub units: i64,
    pub buyers: i64,
    pub average_order_value: Option<f64>,
    pub units_per_order: Option<f64>,
    pub new_buyers: i64,
    pub new_buyer_revenue: f64,
    pub returning_buyer_revenue: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SalesRow {
    /// The period's first day.
    pub period: NaiveDate,
    /// The breakdown value; None in the total series.
    pub group: Option<String>,
    #[serde(flatten)]
    pub measures: SalesMeasures,
    /// Revenue change against the previous period, as a fraction (0.1 = +10%).
    pub revenue_growth: Option<f64>,
    /// Revenue change against the same period a year earlier.
    pub revenue_yoy: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SalesReport {
    pub by: Period,
    pub breakdown: Option<String>,
    /// One row per period, all groups together.
    pub total: Vec<SalesRow>,
    /// One row per period and group, when there is a breakdown.
    pub groups: Vec<SalesRow>,
}

/// [`Engine::sales_totals`]: a date range's measures taken together.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SalesTotals {
    #[serde(flatten)]
    pub measures: SalesMeasures,
    /// Buyers in the range with two or more paid orders up to its end.
    pub repeat_buyers: i64,
}

/// The group that collects everything outside the top N.
pub const OTHER: &str = "(other)";

impl Engine {
    pub async fn sales(&self, req: &SalesRequest) -> Result<SalesReport> {
        let dim = match &req.breakdown {
            Some(d) => Some(self.orders_column(d).await?),
            None => None,
        };
        let total = match self.stored_series(req, true).await? {
            Some(rows) => rows,
            None => self.sales_series(req, None, true).await?,
        };
        let groups = match &dim {
            Some(col) => self.sales_series(req, Some(col), true).await?,
            None => Vec::new(),
        };
        Ok(SalesReport {
            by: req.by,
            breakdown: req.breakdown.clone(),
            total,
            groups,
        })
    }

    /// The total series of [`Engine::sales`] without its growth against the
    /// period before and the year before, so without reading the year
    /// before `since`: a sparkline's values.
    pub async fn sales_trend(&self, req: &SalesRequest) -> Result<Vec<SalesRow>> {
        match self.stored_series(req, false).await? {
            Some(rows) => Ok(rows),
            None => self.sales_series(req, None, false).await,
        }
    }

    /// The total series of [`Engine::sales`] (`growth`) or
    /// [`Engine::sales_trend`] from the stored activity; None when it is not
    /// stored, or the range is open.
    async fn stored_series(
        &self,
        req: &SalesRequest,
        growth: bool,
    ) -> Result<Option<Vec<SalesRow>>> {
        let Some((series, periods)) = stored_series_periods(req, growth) else {
            return Ok(None);
        };
        let Some(tallies) = self.activity_tally(&[], Some(&series)).await? else {
            return Ok(None);
        };
        let cells = periods
            .into_iter()
            .zip(&tallies)
            .filter(|(_, t)| t.buyers > 0)
            .map(|(period, t)| ((None, period), measures_of(t)))
            .collect();
        Ok(Some(dense_rows(req, cells)))
    }

    /// The measures of every paid order line from `since` to `until`
    /// (inclusive days, UTC) taken together: buyers and orders counted once
    /// over the whole range, as a KPI over a date range needs (a sum of
    /// daily buyers would count a buyer once a day). A new buyer's first
    /// paid order falls in the range; a repeat buyer has two or more paid
    /// orders up to `until`.
    pub async fn sales_totals(
        &self,
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
    ) -> Result<SalesTotals> {
        let mut t = self.sales_totals_of(&[(since, until)]).await?;
        Ok(t.remove(0))
    }

    /// [`Engine::sales_totals`] of several ranges (at most 63) in one pass
    /// over their order lines: an overview's range, the one before it and
    /// the year before. Each line gets a bit per range it falls in; its
    /// customer's and its order's bits, OR-ed, count the buyers and orders
    /// of every range at once (`bit_counts`), where a `count(DISTINCT ...)`
    /// per range and measure would hash every line again.
    pub async fn sales_totals_of(
        &self,
        ranges: &[(Option<NaiveDate>, Option<NaiveDate>)],
    ) -> Result<Vec<SalesTotals>> {
        if ranges.is_empty() || ranges.len() > 63 {
            return Err(Error::Request(format!(
                "sales totals of {} ranges: 1 to 63 at once",
                ranges.len()
            )));
        }
        if let Some(tallies) = self.activity_tally(&totals_days(ranges), None).await? {
            return Ok(tallies
                .iter()
                .map(|t| SalesTotals {
                    repeat_buyers: t.repeat_buyers,
                    measures: measures_of(t),
                })
                .collect());
        }
        let bits = |cond: &dyn Fn(usize) -> String| {
            let parts: Vec<String> = (0..ranges.len())
                .map(|k| format!("CASE WHEN {} THEN {} ELSE 0 END", cond(k), 1i64 << k))
                .collect();
            format!("CAST({} AS BIGINT)", parts.join(" | "))
        };
        let any = ranges
            .iter()
            .map(|(s, u)| format!("({})", crate::ts_in_days("ts", *s, *u)))
            .collect::<Vec<_>>()
            .join(" OR ");
        let flags = ranges
            .iter()
            .enumerate()
            .map(|(k, (s, u))| format!("{} AS in{k}", crate::ts_in_days("ts", *s, *u)))
            .collect::<Vec<_>>()
            .join(", ");
        let line_bits = bits(&|k| format!("in{k}"));
        let is_new = |k: usize| {
            ranges[k].0.map_or("TRUE".to_string(), |s| {
                format!("b.first_day >= {}", epoch_day(s))
            })
        };
        let repeat = |k: usize| {
            ranges[k]
                .1
                .map_or("b.second_day IS NOT NULL".to_string(), |u| {
                    format!("b.second_day <= {}", epoch_day(u))
                })
        };
        let mut per_customer = Vec::new();
        let mut sums = Vec::new();
        for k in 0..ranges.len() {
            per_customer.push(format!(
                "sum(CASE WHEN in{k} THEN amount END) AS r{k}, sum(CASE WHEN in{k} THEN quantity END) AS u{k}"
            ));
            sums.push(format!(
                "sum(r{k}), sum(u{k}), sum(CASE WHEN {new} THEN r{k} ELSE 0 END),
                 sum(CASE WHEN NOT ({new}) THEN r{k} ELSE 0 END)",
                new = is_new(k),
            ));
        }
        let sql = format!(
            "WITH b AS ({buyers}),
             l AS (SELECT customer_id, order_id, amount, quantity, {flags}
                   FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL AND ({any})),
             c AS (SELECT customer_id, bit_or({line_bits}) AS m, {per_customer}
                   FROM l GROUP BY customer_id),
             o AS (SELECT order_id, bit_or({line_bits}) AS m FROM l GROUP BY order_id),
             x AS (SELECT bit_counts(c.m), bit_counts(c.m & {new_bits}),
                          bit_counts(c.m & {repeat_bits}), {sums}
                   FROM c JOIN b ON b.customer_id = c.customer_id),
             y AS (SELECT bit_counts(m) FROM o)
             SELECT * FROM x CROSS JOIN y",
            buyers = self.buyer_days_sql(),
            per_customer = per_customer.join(", "),
            new_bits = bits(&is_new),
            repeat_bits = bits(&repeat),
            sums = sums.join(", "),
        );
        let (_, batches) = self.sql(&sql).await?;
        let b = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| Error::Request("no totals".into()))?;
        let f = |i: usize| -> Result<f64> {
            let c = cast(b.column(i), &DataType::Float64)?;
            let c = c.as_primitive::<Float64Type>();
            Ok(if c.is_null(0) { 0.0 } else { c.value(0) })
        };
        let n = |i: usize| -> Result<i64> {
            let c = cast(b.column(i), &DataType::Int64)?;
            let c = c.as_primitive::<Int64Type>();
            Ok(if c.is_null(0) { 0 } else { c.value(0) })
        };
        let counts = |i: usize| crate::cols::bit_counts(b.column(i));
        let (buyers, new, repeat) = (counts(0)?, counts(1)?, counts(2)?);
        let orders = counts(3 + 4 * ranges.len())?;
        (0..ranges.len())
            .map(|k| {
                let at = |i: usize| 3 + 4 * k + i;
                let mut m = SalesMeasures {
                    revenue: f(at(0))?,
                    orders: orders[k],
                    units: n(at(1))?,
                    buyers: buyers[k],
                    average_order_value: None,
                    units_per_order: None,
                    new_buyers: new[k],
                    new_buyer_revenue: f(at(2))?,
                    returning_buyer_revenue: f(at(3))?,
                };
                if m.orders > 0 {
                    m.average_order_value = Some(m.revenue / m.orders as f64);
                    m.units_per_order = Some(m.units as f64 / m.orders as f64);
                }
                Ok(SalesTotals {
                    repeat_buyers: repeat[k],
                    measures: m,
                })
            })
            .collect()
    }

    /// The days of the first and the last paid order (UTC). The stored
    /// purchases (buyers with a customer id) hold each buyer's first and
    /// last day: a million rows to read rather than every order line. Read
    /// once per engine.
    pub async fn paid_day_span(&self) -> Result<Option<(NaiveDate, NaiveDate)>> {
        self.latest
            .paid_days
            .get_or_try_init(|| self.paid_day_span_read())
            .await
            .copied()
    }

    async fn paid_day_span_read(&self) -> Result<Option<(NaiveDate, NaiveDate)>> {
        let sql = if self.reads_stored_purchases() {
            format!(
                "SELECT CAST(min(first_ts) AS BIGINT), CAST(max(last_ts) AS BIGINT) FROM {}",
                crate::purchases::CUSTOMER_PURCHASES
            )
        } else {
            "SELECT CAST(min(ts) AS BIGINT), CAST(max(ts) AS BIGINT) FROM orders
             WHERE status = 'paid'"
                .to_string()
        };
        let (_, b) = self.sql(&sql).await?;
        let Some(b) = b.iter().find(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let day = |i: usize| -> Result<Option<NaiveDate>> {
            let c = cast(b.column(i), &DataType::Int64)?;
            let c = c.as_primitive::<Int64Type>();
            Ok((!c.is_null(0))
                .then(|| DateTime::from_timestamp_micros(c.value(0)).map(|d| d.date_naive()))
                .flatten())
        };
        Ok(day(0)?.zip(day(1)?))
    }

    /// The day of the last paid order (UTC).
    pub async fn last_paid_day(&self) -> Result<Option<NaiveDate>> {
        Ok(self.paid_day_span().await?.map(|(_, last)| last))
    }

    /// Whether a report as of `day` is one as of the last paid day (no day
    /// given, or that day): those are made once per engine.
    pub(crate) async fn is_latest(&self, day: Option<NaiveDate>) -> Result<bool> {
        Ok(match day {
            None => true,
            Some(d) => self.last_paid_day().await? == Some(d),
        })
    }

    /// Checks that `name` is a column of `orders` and returns it quoted for SQL.
    pub(crate) async fn orders_column(&self, name: &str) -> Result<String> {
        let schema = self.ctx.table("orders").await?.schema().clone();
        let found = schema
            .fields()
            .iter()
            .find(|f| f.name() == name)
            .or_else(|| {
                let alias = match name {
                    "product" => "product_id",
                    "customer" => "customer_id",
                    _ => name,
                };
                schema
                    .fields()
                    .iter()
                    .find(|f| f.name().eq_ignore_ascii_case(alias))
            })
            .ok_or_else(|| {
                Error::Request(format!(
                    "orders has no column \"{name}\" to break down by; its columns are: {}",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        Ok(format!("\"{}\"", found.name().replace('"', "\"\"")))
    }

    async fn sales_series(
        &self,
        req: &SalesRequest,
        dim: Option<&str>,
        growth: bool,
    ) -> Result<Vec<SalesRow>> {
        // A line's buyer is new in its period when their first day falls in
        // it: the first day is never after the line's.
        let range = if growth {
            range_filter(req)
        } else {
            crate::ts_in_days("ts", req.since.map(|s| req.by.start(s)), req.until)
        };
        let grp = match dim {
            None => "CAST(NULL AS VARCHAR)".to_string(),
            Some(d) => {
                let base = format!("COALESCE(CAST({d} AS VARCHAR), '(none)')");
                match req.top {
                    None => base,
                    Some(top) => {
                        let kept = self.top_groups(&base, req, top).await?;
                        let list = kept
                            .iter()
                            .map(|g| format!("'{}'", g.replace('\'', "''")))
                            .collect::<Vec<_>>()
                            .join(", ");
                        if kept.is_empty() {
                            format!("'{OTHER}'")
                        } else {
                            format!("CASE WHEN {base} IN ({list}) THEN {base} ELSE '{OTHER}' END")
                        }
                    }
                }
            }
        };
        // Lines grouped by order, then by buyer, then counted: two groupings
        // where three `count(DISTINCT ...)` per cell took 1.6× as long. (An
        // order id with lines of two customers counts once per customer.)
        let sql = format!(
            "WITH paid AS (
               SELECT customer_id, order_id, ts, amount, quantity, {grp} AS grp
               FROM orders WHERE status = 'paid' AND {range}
             ),
             o AS (SELECT {period} AS period{g}, customer_id, order_id,
                          sum(amount) AS r, sum(quantity) AS u
                   FROM paid GROUP BY period{g}, customer_id, order_id),
             c AS (SELECT period{g}, customer_id, count(*) AS orders, sum(r) AS r, sum(u) AS u
                   FROM o GROUP BY period{g}, customer_id),
             b AS ({buyers}),
             x AS (SELECT c.*, b.first_day >= CAST(CAST(period AS DATE) AS BIGINT) AS is_new
                   FROM c JOIN b ON c.customer_id = b.customer_id)
             SELECT period, {grp_out} AS grp,
                    sum(r) AS revenue,
                    sum(orders) AS orders,
                    sum(u) AS units,
                    count(*) AS buyers,
                    sum(CASE WHEN is_new THEN 1 ELSE 0 END) AS new_buyers,
                    sum(CASE WHEN is_new THEN r ELSE 0 END) AS new_revenue,
                    sum(CASE WHEN is_new THEN 0 ELSE r END) AS returning_revenue
             FROM x GROUP BY period{g}",
            buyers = self.buyer_days_sql(),
            period = req.by.trunc_sql("ts"),
            // No group: no constant key, which DataFusion takes for a
            // sorted one and groups 25× slower.
            g = if dim.is_some() { ", grp" } else { "" },
            grp_out = if dim.is_some() {
                "grp"
            } else {
                "CAST(NULL AS VARCHAR)"
            },
        );
        let (_, batches) = self.sql(&sql).await?;
        // (group, period) → measures
        let mut cells: BTreeMap<(Option<String>, NaiveDate), SalesMeasures> = BTreeMap::new();
        for b in &batches {
            let period = cast(
                b.column(0),
                &arrow::datatypes::DataType::Timestamp(
                    arrow::datatypes::TimeUnit::Microsecond,
                    None,
                ),
            )?;
            let period = period.as_primitive::<TimestampMicrosecondType>();
            let grp = cast(b.column(1), &DataType::Utf8)?;
            let grp = grp.as_string::<i32>();
            let f = |i: usize| -> Result<arrow::array::Float64Array> {
                Ok(cast(b.column(i), &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone())
            };
            let n = |i: usize| -> Result<arrow::array::Int64Array> {
                Ok(cast(b.column(i), &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone())
            };
            // Sums of money are exact decimals, each made a float once.
            let (revenue, orders, units, buyers, new_buyers, new_revenue, returning_revenue) =
                (f(2)?, n(3)?, n(4)?, n(5)?, n(6)?, f(7)?, f(8)?);
            for r in 0..b.num_rows() {
                let day = DateTime::from_timestamp_micros(period.value(r))
                    .map(|d| d.date_naive())
                    .unwrap_or_default();
                let g = (!grp.is_null(r)).then(|| grp.value(r).to_string());
                cells.insert(
                    (g, day),
                    SalesMeasures {
                        revenue: revenue.value(r),
                        orders: orders.value(r),
                        units: if units.is_null(r) { 0 } else { units.value(r) },
                        buyers: buyers.value(r),
                        average_order_value: None,
                        units_per_order: None,
                        new_buyers: new_buyers.value(r),
                        new_buyer_revenue: new_revenue.value(r),
                        returning_buyer_revenue: returning_revenue.value(r),
                    },
                );
            }
        }
        Ok(dense_rows(req, cells))
    }

    /// The `top` groups by revenue within the range.
    async fn top_groups(&self, grp: &str, req: &SalesRequest, top: usize) -> Result<Vec<String>> {
        let range = crate::ts_in_days("ts", req.since.map(|s| req.by.start(s)), req.until);
        let sql = format!(
            "SELECT {grp} AS grp, sum(amount) AS revenue FROM orders
             WHERE status = 'paid' AND {range}
             GROUP BY 1 ORDER BY revenue DESC, grp LIMIT {top}"
        );
        let (_, batches) = self.sql(&sql).await?;
        let mut out = Vec::new();
        for b in &batches {
            let g = cast(b.column(0), &DataType::Utf8)?;
            out.extend(g.as_string::<i32>().iter().flatten().map(str::to_string));
        }
        Ok(out)
    }
}

/// The measures of a range's or a period's tally of the stored activity:
/// the same sums as the order lines give, each made a float once.
fn measures_of(t: &Tally) -> SalesMeasures {
    let mut m = SalesMeasures {
        revenue: money(t.revenue),
        orders: t.orders,
        units: t.units,
        buyers: t.buyers,
        average_order_value: None,
        units_per_order: None,
        new_buyers: t.new_buyers,
        new_buyer_revenue: money(t.new_buyer_revenue),
        returning_buyer_revenue: money(t.revenue - t.new_buyer_revenue),
    };
    if m.orders > 0 {
        m.average_order_value = Some(m.revenue / m.orders as f64);
        m.units_per_order = Some(m.units as f64 / m.orders as f64);
    }
    m
}

/// The rows to read: from a year before `since`'s period, so that the first
/// periods shown still have their growth figures.
fn range_filter(req: &SalesRequest) -> String {
    let from = req.since.map(|s| req.by.year_before(req.by.start(s)));
    crate::ts_in_days("ts", from, req.until)
}

/// Every period from the first to the last, for every group, with ratios and
/// growth; rows by period, and within a period by the group's total revenue.
fn dense_rows(
    req: &SalesRequest,
    cells: BTreeMap<(Option<String>, NaiveDate), SalesMeasures>,
) -> Vec<SalesRow> {
    let shown_from = req.since.map(|s| req.by.start(s));
    let in_range = |d: NaiveDate| shown_from.is_none_or(|f| d >= f);
    let days: Vec<NaiveDate> = cells.keys().map(|k| k.1).filter(|d| in_range(*d)).collect();
    let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else {
        return Vec::new();
    };
    let mut totals: BTreeMap<Option<String>, f64> = BTreeMap::new();
    for ((g, d), m) in &cells {
        if in_range(*d) {
            *totals.entry(g.clone()).or_default() += m.revenue;
        }
    }
    let mut groups: Vec<(Option<String>, f64)> = totals.into_iter().collect();
    let other = Some(OTHER.to_string());
    groups.sort_by(|a, b| {
        (a.0 == other)
            .cmp(&(b.0 == other))
            .then(b.1.total_cmp(&a.1))
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut rows = Vec::new();
    let mut day = first;
    while day <= last {
        for (g, _) in &groups {
            let mut m = cells.get(&(g.clone(), day)).cloned().unwrap_or_default();
            if m.orders > 0 {
                m.average_order_value = Some(m.revenue / m.orders as f64);
                m.units_per_order = Some(m.units as f64 / m.orders as f64);
            }
            let growth = |other: NaiveDate| {
                let before = cells.get(&(g.clone(), other)).map_or(0.0, |m| m.revenue);
                (before > 0.0).then(|| m.revenue / before - 1.0)
            };
            let revenue_growth = growth(req.by.previous(day));
            let revenue_yoy = growth(req.by.year_before(day));
            rows.push(SalesRow {
                period: day,
                group: g.clone(),
                revenue_growth,
                revenue_yoy,
                measures: m,
            });
        }
        day = req.by.next(day);
    }
    rows
}

koubei_schema::text_schema!(Period, "day, week (from Monday), month, quarter or year");

/// The days of each range of [`Engine::sales_totals_of`].
pub(crate) fn totals_days(ranges: &[(Option<NaiveDate>, Option<NaiveDate>)]) -> Vec<DayRange> {
    ranges.iter().map(|(s, u)| DayRange::of(*s, *u)).collect()
}

/// The periods of a sales series counted from the stored activity, and
/// their first days; None for an open range. They are the periods the
/// order lines read (see `range_filter`): from a year before with `growth`.
pub(crate) fn stored_series_periods(
    req: &SalesRequest,
    growth: bool,
) -> Option<(Series, Vec<NaiveDate>)> {
    let (Some(since), Some(until)) = (req.since, req.until) else {
        return None;
    };
    let from = match growth {
        true => req.by.year_before(req.by.start(since)),
        false => req.by.start(since),
    };
    let periods = req.by.range(from, until);
    Some((Series::new(from, until, periods.iter().copied()), periods))
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    /// Period numbers: the first day of period i is numbered i, the next
    /// period is i + 1, and the SQL expression agrees with the Rust one,
    /// before 1970 too.
    #[tokio::test]
    async fn period_indices() {
        let ctx = datafusion::prelude::SessionContext::new();
        let days = [
            "0001-01-01",
            "1969-12-31",
            "1970-01-01",
            "2023-12-31",
            "2024-01-01",
            "2024-02-29",
            "2024-12-30",
            "2026-11-26",
        ];
        for p in [
            Period::Day,
            Period::Week,
            Period::Month,
            Period::Quarter,
            Period::Year,
        ] {
            assert_eq!(p.index(NaiveDate::from_ymd_opt(1, 1, 1).unwrap()), 0);
            for d in days {
                let d: NaiveDate = d.parse().unwrap();
                let i = p.index(d);
                assert_eq!(p.from_index(i), p.start(d), "{p} {d}");
                assert_eq!(p.index(p.next(p.start(d))), i + 1, "{p} {d}");
                let us = d
                    .and_hms_opt(23, 59, 59)
                    .unwrap()
                    .and_utc()
                    .timestamp_micros();
                let sql = format!(
                    "SELECT {} FROM (VALUES (arrow_cast({us}, 'Timestamp(Microsecond, None)'))) AS t(ts)",
                    p.index_sql("ts")
                );
                let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                let got = crate::cols::i64s(b[0].column(0)).unwrap()[0];
                assert_eq!(got, Some(i), "{p} {d}");
            }
        }
    }

    /// Three customers over three months; every figure below is worked out by hand.
    const ORDERS: &str = "order_id,line,customer_id,ts,quantity,amount,status,country
A1,1,a,2024-01-05T10:00:00Z,1,10,paid,CN
A1,2,a,2024-01-05T10:00:00Z,2,20,paid,CN
A2,1,a,2024-02-10T10:00:00Z,1,30,paid,CN
A3,1,a,2024-02-11T10:00:00Z,1,100,refunded,CN
B1,1,b,2024-02-03T10:00:00Z,5,50,paid,US
C1,1,c,2024-01-20T10:00:00Z,1,70,cancelled,CN
C2,1,c,2024-03-01T10:00:00Z,1,5,paid,CN
";

    async fn engine() -> (tempfile::TempDir, Engine) {
        crate::test_engine(TableKind::Orders, ORDERS).await
    }

    fn req(by: Period) -> SalesRequest {
        SalesRequest {
            by,
            breakdown: None,
            top: None,
            since: None,
            until: None,
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn monthly_kpis_by_hand() {
        let (_dir, e) = engine().await;
        let r = e.sales(&req(Period::Month)).await.unwrap();
        let got: Vec<_> = r
            .total
            .iter()
            .map(|r| {
                let m = &r.measures;
                (
                    r.period,
                    m.revenue,
                    m.orders,
                    m.units,
                    m.buyers,
                    m.new_buyers,
                    m.new_buyer_revenue,
                    m.returning_buyer_revenue,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (d("2024-01-01"), 30.0, 1, 3, 1, 1, 30.0, 0.0),
                (d("2024-02-01"), 80.0, 2, 6, 2, 1, 50.0, 30.0),
                (d("2024-03-01"), 5.0, 1, 1, 1, 1, 5.0, 0.0),
            ]
        );
        assert_eq!(r.total[1].measures.average_order_value, Some(40.0));
        assert_eq!(r.total[1].measures.units_per_order, Some(3.0));
        let g: Vec<_> = r
            .total
            .iter()
            .map(|r| r.revenue_growth.map(|x| (x * 1e4).round() / 1e4))
            .collect();
        assert_eq!(g, vec![None, Some(1.6667), Some(-0.9375)]);
        assert!(r.total.iter().all(|r| r.revenue_yoy.is_none()));
    }

    #[tokio::test]
    async fn weeks_start_on_monday_and_gaps_are_zero() {
        let (_dir, e) = engine().await;
        let r = e.sales(&req(Period::Week)).await.unwrap();
        // 2024-01-05 is a Friday: its week starts on Monday 2024-01-01.
        assert_eq!(r.total[0].period, d("2024-01-01"));
        assert_eq!(r.total.last().unwrap().period, d("2024-02-26"));
        assert_eq!(r.total.len(), 9);
        assert_eq!(r.total[1].measures, SalesMeasures::default());
        let revenue: f64 = r.total.iter().map(|r| r.measures.revenue).sum();
        assert_eq!(revenue, 115.0);
    }

    #[tokio::test]
    async fn breakdown_top_and_range() {
        let (_dir, e) = engine().await;
        let mut q = req(Period::Quarter);
        q.breakdown = Some("country".into());
        let r = e.sales(&q).await.unwrap();
        let by: Vec<_> = r
            .groups
            .iter()
            .map(|r| {
                (
                    r.group.clone().unwrap(),
                    r.measures.revenue,
                    r.measures.buyers,
                )
            })
            .collect();
        assert_eq!(by, vec![("CN".into(), 65.0, 2), ("US".into(), 50.0, 1)]);
        q.top = Some(1);
        let r = e.sales(&q).await.unwrap();
        let by: Vec<_> = r.groups.iter().map(|r| r.group.clone().unwrap()).collect();
        assert_eq!(by, vec!["CN".to_string(), "(other)".to_string()]);

        // Only February; c's March order is outside, a is returning.
        let mut q = req(Period::Month);
        q.since = Some(d("2024-02-01"));
        q.until = Some(d("2024-02-29"));
        let r = e.sales(&q).await.unwrap();
        assert_eq!(r.total.len(), 1);
        assert_eq!(r.total[0].measures.returning_buyer_revenue, 30.0);
        // Growth still compares with January, outside the range.
        assert_eq!(
            r.total[0].revenue_growth.map(|g| (g * 1e4).round() / 1e4),
            Some(1.6667)
        );

        let mut q = req(Period::Month);
        q.breakdown = Some("nope".into());
        let err = e.sales(&q).await.unwrap_err().to_string();
        assert!(
            err.contains("no column \"nope\"") && err.contains("country"),
            "{err}"
        );
    }

    #[test]
    fn year_before() {
        assert_eq!(Period::Week.year_before(d("2025-03-03")), d("2024-03-04"));
        assert_eq!(Period::Day.year_before(d("2024-02-29")), d("2023-03-01"));
        assert_eq!(Period::Month.year_before(d("2025-03-01")), d("2024-03-01"));
        assert_eq!(Period::Week.start(d("2024-03-03")), d("2024-02-26"));
        assert_eq!(Period::Quarter.start(d("2024-08-31")), d("2024-07-01"));
        assert_eq!(Period::Year.start(d("2024-08-31")), d("2024-01-01"));
    }
}
