//! The per-customer purchase summary the CLV models need, computed from
//! `orders` with DataFusion, and the CLV report built on the models of
//! `koubei-clv`.
//!
//! The summary follows `lifetimes.utils.summary_data_from_transaction_data` and
//! `calibration_and_holdout_data`: paid order lines are summed per customer and
//! UTC day; the first day is the first purchase, each later day one repeat
//! purchase occasion.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_with::{DeserializeFromStr, SerializeDisplay};

use crate::cols::i64s;
use crate::customers::{BatchRows, CustomerIds};
use crate::{Engine, Error, Result};
use koubei_clv::{Discrete, Rft};
use rayon::prelude::*;

/// The time unit of frequency, recency and T.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, DeserializeFromStr)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Day,
    #[default]
    Week,
    Month,
    Year,
}

impl Unit {
    /// Days in one unit: a week is 7 days, a month 365.25 / 12 and a year 365.25.
    pub fn days(self) -> f64 {
        match self {
            Unit::Day => 1.0,
            Unit::Week => 7.0,
            Unit::Month => 365.25 / 12.0,
            Unit::Year => 365.25,
        }
    }
}

impl std::str::FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "day" => Ok(Unit::Day),
            "week" => Ok(Unit::Week),
            "month" => Ok(Unit::Month),
            "year" => Ok(Unit::Year),
            _ => Err(format!(
                "unknown unit \"{s}\": expected day, week, month or year"
            )),
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
            Unit::Year => "year",
        })
    }
}

/// How far ahead to predict: `90d`, `26w`, `12m` or `1y`, kept as written
/// for the report's text.
#[derive(Clone, Debug, PartialEq, SerializeDisplay, DeserializeFromStr)]
pub struct Horizon {
    text: String,
    days: f64,
}

impl Horizon {
    /// A year: the horizon of the lifetime value other reports show.
    pub fn year() -> Horizon {
        Horizon {
            text: "1y".into(),
            days: 365.25,
        }
    }

    pub fn days(&self) -> f64 {
        self.days
    }
}

impl Default for Horizon {
    fn default() -> Self {
        Horizon::year()
    }
}

impl std::str::FromStr for Horizon {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(Horizon {
            text: s.trim().to_string(),
            days: parse_horizon(s)?,
        })
    }
}

impl std::fmt::Display for Horizon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A prediction horizon such as `90d`, `26w`, `12m` or `1y`, in days (a month
/// is 365.25 / 12 days, a year 365.25).
fn parse_horizon(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().map_err(|_| {
        format!(
            "invalid horizon \"{s}\": expected a number and a unit, such as 90d, 26w, 12m or 1y"
        )
    })?;
    let days = match unit {
        "d" => 1.0,
        "w" => 7.0,
        "m" => 365.25 / 12.0,
        "y" => 365.25,
        _ => {
            return Err(format!(
                "invalid horizon \"{s}\": the unit must be d, w, m or y"
            ));
        }
    };
    if !(n > 0.0 && n.is_finite()) {
        return Err(format!("invalid horizon \"{s}\": it must be positive"));
    }
    Ok(n * days)
}

/// Which orders make the summary.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SummaryRequest {
    pub unit: Unit,
    /// The last day of the calibration period (inclusive); default: the day of
    /// the last paid order.
    pub calibration_end: Option<NaiveDate>,
    /// The last day of the holdout period, which starts the day after
    /// `calibration_end`.
    pub holdout_end: Option<NaiveDate>,
}

/// One row per customer with a paid order up to the calibration end, in id
/// order.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub unit: Option<Unit>,
    pub calibration_end: Option<NaiveDate>,
    pub holdout_end: Option<NaiveDate>,
    pub customer_id: CustomerIds,
    /// Repeat purchase occasions, recency and T in the unit.
    pub rows: Vec<Rft>,
    /// Mean spend per repeat purchase occasion (0 without any).
    pub spend: Vec<f64>,
    /// Purchase occasions in the holdout period, and their mean spend.
    pub holdout: Option<Vec<(f64, f64)>>,
    /// Each customer's discrete-time summary, from
    /// [`Engine::clv_summary_with_opportunities`] (see
    /// [`Summary::discrete`]); n = 0 before a first whole opportunity.
    pub opportunities: Option<Vec<Discrete>>,
}

impl Summary {
    /// The discrete-time summary for BG/BB, from
    /// [`Engine::clv_summary_with_opportunities`]: after the first purchase, each
    /// whole unit up to the calibration end is one transaction opportunity
    /// (the i-th covers days (i−1)·u < d ≤ i·u after the first purchase); x
    /// counts the opportunities with a purchase, tₓ is the last of them, n
    /// how many there were. Customers with no whole opportunity yet are left
    /// out: the result holds the summary rows kept, and theirs.
    pub fn discrete(&self) -> Option<(Vec<usize>, Vec<Discrete>)> {
        let all = self.opportunities.as_ref()?;
        Some(
            all.iter()
                .enumerate()
                .filter(|(_, o)| o.n >= 1)
                .map(|(i, o)| (i, *o))
                .unzip(),
        )
    }

    /// The holdout period's length in the unit.
    pub fn holdout_duration(&self) -> Option<f64> {
        let (c, h, u) = (self.calibration_end?, self.holdout_end?, self.unit?);
        Some((h - c).num_days() as f64 / u.days())
    }
}

pub(crate) fn epoch_day(d: NaiveDate) -> i64 {
    (d - NaiveDate::default()).num_days()
}

pub(crate) fn from_epoch_day(d: i64) -> NaiveDate {
    DateTime::from_timestamp(d * 86_400, 0)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// The query of [`Engine::purchase_days`].
pub(crate) fn purchase_days_sql(
    end: Option<NaiveDate>,
    holdout_end: Option<NaiveDate>,
    unit: Option<f64>,
    extra: Option<&str>,
) -> String {
    let split = end.filter(|_| holdout_end.is_some());
    format!(
        "SELECT customer_id, {f}(ts, amount{unit}{split}) AS p{extra}
         FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL AND {range}
         GROUP BY customer_id",
        f = if unit.is_some() {
            "purchase_days_by_unit"
        } else {
            "purchase_days"
        },
        unit = unit.map_or(String::new(), |u| format!(", CAST({u} AS DOUBLE)")),
        split = split.map_or(String::new(), |e| format!(", {}", epoch_day(e))),
        extra = extra.map_or(String::new(), |e| format!(", {e}")),
        range = crate::ts_in_days("ts", None, holdout_end.or(end)),
    )
}

/// The fields of a `purchase_days` result.
struct PurchaseDaysColumns<'a> {
    days: &'a [i64],
    /// Null for a customer none of whose lines had an amount.
    first: &'a Int64Array,
    last: &'a Int64Array,
    spend: &'a [f64],
    first_spend: &'a [f64],
    /// `purchase_days_by_unit`'s units: how many, the last, the one before.
    units: Option<[&'a [i64]; 3]>,
    /// With a calibration end given: the holdout's distinct days and spend.
    holdout: Option<(&'a [i64], &'a [f64])>,
}

impl<'a> PurchaseDaysColumns<'a> {
    fn new(a: &'a ArrayRef) -> Result<Self> {
        let s = a.as_struct_opt().ok_or_else(|| {
            Error::Request(format!(
                "purchase_days gave {}, not a struct",
                a.data_type()
            ))
        })?;
        let f64s = |i: usize| s.column(i).as_primitive::<Float64Type>().values().as_ref();
        Ok(PurchaseDaysColumns {
            days: s.column(0).as_primitive::<Int64Type>().values(),
            first: s.column(1).as_primitive::<Int64Type>(),
            last: s.column(2).as_primitive::<Int64Type>(),
            spend: f64s(3),
            first_spend: f64s(4),
            units: match ["units", "last_unit", "unit_before"].map(|n| s.column_by_name(n)) {
                [Some(u), Some(l), Some(b)] => {
                    Some([u, l, b].map(|c| c.as_primitive::<Int64Type>().values().as_ref()))
                }
                _ => None,
            },
            holdout: s
                .column_by_name("holdout_days")
                .zip(s.column_by_name("holdout_spend"))
                .map(|(d, m)| {
                    (
                        d.as_primitive::<Int64Type>().values().as_ref(),
                        m.as_primitive::<Float64Type>().values().as_ref(),
                    )
                }),
        })
    }
}

impl Engine {
    /// The first and last days with a paid order of a customer, or `None`
    /// without any. The stored purchases hold each buyer's first and last
    /// day, so where they serve these are [`Engine::paid_day_span`]'s, read
    /// once per engine rather than by a pass over every order line (74 ms
    /// of the 0.47 s of `clv --calibration-end` at a million customers).
    async fn order_days(&self) -> Result<Option<(NaiveDate, NaiveDate)>> {
        if self.reads_stored_purchases() {
            return self.paid_day_span().await;
        }
        let sql = format!(
            "SELECT {lo}, {hi}
             FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL",
            lo = crate::day_number_sql("MIN(ts)"),
            hi = crate::day_number_sql("MAX(ts)"),
        );
        let (_, batches) = self.sql(&sql).await?;
        let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let (lo, hi) = (i64s(b.column(0))?[0], i64s(b.column(1))?[0]);
        Ok(lo
            .zip(hi)
            .map(|(lo, hi)| (from_epoch_day(lo), from_epoch_day(hi))))
    }

    /// The calibration end a request asks for, checked against the data.
    async fn calibration_end(&self, req: &SummaryRequest) -> Result<NaiveDate> {
        let Some((first, last)) = self.order_days().await? else {
            return Err(Error::Request(
                "there are no paid orders with a customer_id: import orders first".into(),
            ));
        };
        let end = req.calibration_end.unwrap_or(last);
        if end < first {
            return Err(Error::Request(format!(
                "the calibration end {end} is before the first paid order, on {first}"
            )));
        }
        if let Some(h) = req.holdout_end
            && h <= end
        {
            return Err(Error::Request(format!(
                "the holdout end {h} must be after the calibration end {end}"
            )));
        }
        Ok(end)
    }

    /// Per customer with a paid order up to `end` (all of them without):
    /// `purchase_days` (see [`koubei_functions::PurchaseDays`]), in no particular
    /// order. With a holdout, the lines after `end` and up to its last day
    /// are its holdout, from the same pass, and customers whose first order
    /// is in the holdout are left out. `extra`, another gathering aggregate
    /// over the same lines, comes as a third column. Without dates, from the
    /// stored purchases where they serve (see [`crate::purchases`]); there,
    /// without `ids`, the ids are left unread (all null).
    pub(crate) async fn purchase_days(
        &self,
        end: Option<NaiveDate>,
        holdout_end: Option<NaiveDate>,
        unit: Option<f64>,
        extra: Option<&str>,
        ids: bool,
    ) -> Result<Vec<RecordBatch>> {
        // An end on or after the last paid day keeps every line, so the
        // stored rows are the query's (RFM as of the last day, as the
        // dashboard and the report ask for it, read them).
        // Asked only where the stored rows could serve.
        let every_line = holdout_end.is_none()
            && unit.is_none()
            && match end {
                None => true,
                Some(e) => {
                    self.reads_stored_purchases()
                        && self.last_paid_day().await?.is_some_and(|last| e >= last)
                }
            };
        if every_line && let Some(stored) = self.stored_purchase_days(extra, ids).await? {
            return Ok(stored);
        }
        if extra.is_none()
            && let Some(stored) = self
                .stored_purchase_days_to(end, holdout_end, unit, ids)
                .await?
        {
            return Ok(stored);
        }
        let split = end.filter(|_| holdout_end.is_some());
        let sql = purchase_days_sql(end, holdout_end, unit, extra);
        let batches = self.sql_gathering(&sql).await?.1;
        if split.is_none() {
            return Ok(batches);
        }
        batches
            .iter()
            .map(|b| {
                let p = PurchaseDaysColumns::new(b.column(1))?;
                let bought = BooleanArray::from_iter(p.days.iter().map(|&d| Some(d > 0)));
                Ok(arrow::compute::filter_record_batch(b, &bought)?)
            })
            .collect()
    }

    /// Frequency, recency, T and mean repeat spend per customer.
    pub async fn clv_summary(&self, req: &SummaryRequest) -> Result<Summary> {
        Ok(self.summary_of(req, false, None, true).await?.0)
    }

    /// [`Engine::clv_summary`] with each customer's transaction
    /// opportunities, from which [`Summary::discrete`] makes the BG/BB
    /// summary.
    pub async fn clv_summary_with_opportunities(&self, req: &SummaryRequest) -> Result<Summary> {
        Ok(self.summary_of(req, true, None, true).await?.0)
    }

    /// [`Engine::clv_summary`] with the batches of its query, whose third
    /// column is `extra`, another gathering aggregate over the same lines
    /// (such as RFM's `customer_orders`): one pass over the orders for both.
    /// The batches' rows in id order come third.
    pub(crate) async fn clv_summary_and(
        &self,
        req: &SummaryRequest,
        extra: &str,
    ) -> Result<(Summary, Vec<RecordBatch>, Vec<u32>)> {
        self.summary_of(req, false, Some(extra), true).await
    }

    /// The summary for `req`, with each customer's opportunities if
    /// `by_unit`, and the batches it was made from (see
    /// [`Engine::clv_summary_and`]). Without `ids`, its `customer_id` is
    /// empty, and the stored purchases' ids are not read: at a million
    /// customers the CLV command took 0.265 s without them, against 0.315 s
    /// (medians of 10).
    pub(crate) async fn summary_of(
        &self,
        req: &SummaryRequest,
        by_unit: bool,
        extra: Option<&str>,
        ids: bool,
    ) -> Result<(Summary, Vec<RecordBatch>, Vec<u32>)> {
        let unit = req.unit.days();
        let units = by_unit.then_some(unit);
        let started = std::time::Instant::now();
        // Without a calibration end, it is the last day with a paid order:
        // read from the customers' last days, which saves a pass over the
        // orders (unless there are none, or a holdout needs the end first).
        let (end, batches) = match (req.calibration_end, req.holdout_end) {
            (None, None) => {
                let batches = self.purchase_days(None, None, units, extra, ids).await?;
                let mut last = None;
                for b in &batches {
                    let p = PurchaseDaysColumns::new(b.column(1))?;
                    last = arrow::compute::max(p.last).into_iter().chain(last).max();
                }
                match last {
                    Some(l) => (from_epoch_day(l), batches),
                    None => (self.calibration_end(req).await?, batches),
                }
            }
            _ => {
                let end = self.calibration_end(req).await?;
                let batches = self
                    .purchase_days(Some(end), req.holdout_end, units, extra, ids)
                    .await?;
                (end, batches)
            }
        };
        tracing::debug!(elapsed = ?started.elapsed(), "clv summary queried");
        let end_day = epoch_day(end);
        let mut s = Summary {
            unit: Some(req.unit),
            calibration_end: Some(end),
            holdout_end: req.holdout_end,
            ..Summary::default()
        };
        // The engine groups customers in whatever order its threads finish;
        // in id order, every sum over customers, and so every number in the
        // report, is the same from one run to the next. The rows are made
        // straight in that order, on all threads.
        // Stored purchases carry each row's place in id order.
        let (order, read) = match crate::customers::id_order(&batches) {
            Some(order) => (order, None),
            None => {
                let read = CustomerIds::from_batches(&batches)?;
                (read.sorted(), Some(read))
            }
        };
        tracing::debug!(elapsed = ?started.elapsed(), "clv summary ids sorted");
        if ids {
            let read = match read {
                Some(read) => read,
                None => CustomerIds::from_batches(&batches)?,
            };
            s.customer_id = read.take(order.iter().copied());
        }
        tracing::debug!(elapsed = ?started.elapsed(), "clv summary ids in order");
        let columns = batches
            .iter()
            .map(|b| PurchaseDaysColumns::new(b.column(1)))
            .collect::<Result<Vec<_>>>()?;
        // The columns and row within its batch of the i-th row overall.
        let rows = BatchRows::of(batches.iter().map(RecordBatch::num_rows));
        let at = |i: u32| {
            let (b, i) = rows.locate(i as usize);
            (&columns[b], i)
        };
        // A customer's row and mean repeat spend, and (for BG/BB) their
        // opportunities at the end.
        let row_of = |i: u32| {
            let (p, i) = at(i);
            let x = p.days[i] - 1;
            let day = |a: &Int64Array| a.is_valid(i).then(|| a.value(i));
            let first = day(p.first).unwrap_or(end_day);
            let last = day(p.last).unwrap_or(first);
            let row = Rft {
                x: x as f64,
                t_x: (last - first) as f64 / unit,
                t: (end_day - first) as f64 / unit,
            };
            let spend = if x > 0 {
                (p.spend[i] - p.first_spend[i]) / x as f64
            } else {
                0.0
            };
            let opportunities = p.units.map(|[units, last, before]| {
                let clamp = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
                let u = koubei_functions::Units {
                    units: units[i],
                    last: last[i],
                    before: before[i],
                };
                let o = u.at_end(first, end_day, unit);
                Discrete {
                    x: clamp(o.x),
                    t_x: clamp(o.t_x),
                    n: clamp(o.n),
                }
            });
            (row, spend, opportunities)
        };
        if by_unit {
            let opportunities;
            (s.rows, (s.spend, opportunities)) = order
                .par_iter()
                .map(|&i| {
                    let (row, spend, o) = row_of(i);
                    (row, (spend, o.unwrap_or_default()))
                })
                .unzip();
            s.opportunities = Some(opportunities);
        } else {
            (s.rows, s.spend) = order
                .par_iter()
                .map(|&i| {
                    let (row, spend, _) = row_of(i);
                    (row, spend)
                })
                .unzip();
        }
        tracing::debug!(elapsed = ?started.elapsed(), "clv summary in id order");
        if req.holdout_end.is_some() {
            s.holdout = Some(
                order
                    .par_iter()
                    .map(|&i| {
                        let (p, i) = at(i);
                        let (days, spend) = p.holdout.map_or((0, 0.0), |(d, m)| (d[i], m[i]));
                        let n = days as f64;
                        (n, if n > 0.0 { spend / n } else { 0.0 })
                    })
                    .collect(),
            );
        }
        drop(columns);
        Ok((s, batches, order))
    }

    /// The discrete-time summary for BG/BB (see [`Summary::discrete`]), with
    /// the ids of the customers it keeps, in id order.
    pub async fn clv_discrete(&self, req: &SummaryRequest) -> Result<(CustomerIds, Vec<Discrete>)> {
        let summary = self.clv_summary_with_opportunities(req).await?;
        let (kept, rows) = summary
            .discrete()
            .ok_or_else(|| Error::Request("the summary has no transaction opportunities".into()))?;
        Ok((
            summary.customer_id.take(kept.iter().map(|&i| i as u32)),
            rows,
        ))
    }
}

koubei_schema::text_schema!(Unit, "day, week or month");
koubei_schema::text_schema!(Horizon, "a number and a unit: 90d, 26w, 6m, 1y");

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    // Worked by hand: c1 buys on 1 Jan (twice, one occasion), 8 Jan and 22 Jan;
    // c2 on 15 Jan only; c3 on 2 Jan, then a refund on 9 Jan, then 29 Jan
    // (holdout); c4 buys first in the holdout, on 1 Feb, and so is left out
    // of the calibration summary.
    const ORDERS: &str = "order_id,customer_id,ts,amount,status
o1,c1,2024-01-01T09:00:00Z,10,paid
o2,c1,2024-01-01T18:00:00Z,5,paid
o3,c1,2024-01-08T10:00:00Z,20,paid
o4,c1,2024-01-22T10:00:00Z,40,paid
o5,c2,2024-01-15T10:00:00Z,7,paid
o6,c3,2024-01-02T10:00:00Z,9,paid
o7,c3,2024-01-09T10:00:00Z,9,refunded
o8,c3,2024-01-29T10:00:00Z,30,paid
o9,c1,2024-01-30T10:00:00Z,11,paid
o10,c1,2024-01-30T11:00:00Z,1,paid
o11,c4,2024-02-01T10:00:00Z,8,paid
";

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The prefix comparison gives plain text order, where eight bytes tie
    /// and where one id is the other's prefix.
    #[test]
    fn ids_sort_as_text() {
        // Ids that share a long prefix, one of them the prefix itself.
        let shared = [
            "customer_0010",
            "customer_0002",
            "customer_",
            "customer_00021",
            "customer_0002",
        ];
        let c: CustomerIds = shared.iter().collect();
        let got: Vec<&str> = c.sorted().into_iter().map(|i| c.get(i as usize)).collect();
        let mut want = shared.to_vec();
        want.sort();
        assert_eq!(got, want);

        let ids = [
            "customer_0010",
            "b",
            "customer_0002",
            "",
            "customer",
            "customer_",
            "a\u{0}",
            "a",
            "顾客2",
            "顾客10",
            "customer_0002x",
        ];
        let c: CustomerIds = ids.iter().collect();
        let got: Vec<&str> = c.sorted().into_iter().map(|i| c.get(i as usize)).collect();
        let mut want = ids.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    /// Rows over batches of every size, empty ones and ones that span
    /// blocks, each found in its own batch.
    #[test]
    fn rows_are_found_in_their_batches() {
        let lens = [5000, 0, 3, 9000, 0, 1, 4096];
        let rows = BatchRows::of(lens);
        assert_eq!(rows.len(), lens.iter().sum::<usize>());
        let mut want = Vec::new();
        for (b, &n) in lens.iter().enumerate() {
            want.extend((0..n).map(|i| (b, i)));
        }
        let got: Vec<_> = (0..rows.len()).map(|r| rows.locate(r)).collect();
        assert!(
            got == want,
            "first difference at row {:?}",
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
        assert_eq!(BatchRows::of([]).len(), 0);
    }

    /// Ids read in several batches, with a null, put in order and then a
    /// part of them taken: each step orders positions over the batches.
    #[test]
    fn ids_over_batches_keep_their_order() {
        use arrow::array::StringArray;
        use std::sync::Arc;
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("customer_id", arrow::datatypes::DataType::Utf8, true),
        ]));
        let batch = |ids: &[Option<&str>]| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(ids.to_vec()))],
            )
            .unwrap()
        };
        let batches = [
            batch(&[Some("d"), Some("b")]),
            batch(&[]),
            batch(&[Some("e"), None, Some("a")]),
            batch(&[Some("c")]),
        ];
        let read = CustomerIds::from_batches(&batches).unwrap();
        assert_eq!(read.len(), 6);
        assert_eq!(
            read.iter().collect::<Vec<_>>(),
            ["d", "b", "e", "", "a", "c"]
        );
        let sorted = read.take(read.sorted());
        assert_eq!(
            sorted.iter().collect::<Vec<_>>(),
            ["", "a", "b", "c", "d", "e"]
        );
        let some = sorted.take([5, 1, 1, 3]);
        assert_eq!(some.len(), 4);
        assert_eq!(format!("{some:?}"), r#"["e", "a", "a", "c"]"#);
        assert!(CustomerIds::default().is_empty());
    }

    /// Many ids over many buckets, of mixed lengths and with duplicates,
    /// some alike in their first eight bytes; and ids that all tie there.
    #[test]
    fn many_ids_sort_as_text() {
        // A fixed linear congruential sequence: the same ids on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % m
        };
        let ids: Vec<String> = (0..50_000)
            .map(|_| match next(4) {
                0 => format!("c{}", next(1_000_000)),
                1 => format!("c{:07}", next(100_000)),
                2 => format!("c12345678{}", next(50)),
                _ => format!("z{}", next(10)),
            })
            .collect();
        let same: Vec<String> = (0..3000)
            .map(|i| format!("id-00000000-{}", 3000 - i))
            .collect();
        for ids in [ids, same] {
            let c: CustomerIds = ids.iter().collect();
            let got: Vec<&str> = c.sorted().into_iter().map(|i| c.get(i as usize)).collect();
            let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
            want.sort();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn horizons_parse() {
        assert_eq!(parse_horizon("90d"), Ok(90.0));
        assert_eq!(parse_horizon("39w"), Ok(273.0));
        assert_eq!(parse_horizon("1y"), Ok(365.25));
        assert!(parse_horizon("3x").unwrap_err().contains("d, w, m or y"));
        assert!(parse_horizon("0d").is_err());
    }

    #[tokio::test]
    async fn summary_by_hand() {
        let (_dir, engine) = crate::test_engine(TableKind::Orders, ORDERS).await;
        let req = SummaryRequest {
            unit: Unit::Week,
            calibration_end: Some(d("2024-01-28")),
            holdout_end: Some(d("2024-02-04")),
        };
        let s = engine.clv_summary(&req).await.unwrap();
        assert_eq!(s.customer_id.iter().collect::<Vec<_>>(), ["c1", "c2", "c3"]);
        // c1: occasions 1, 8, 22 Jan → x = 2, recency 21 days, T = 27 days; mean repeat spend (20 + 40) / 2.
        assert_eq!(
            s.rows[0],
            Rft {
                x: 2.0,
                t_x: 3.0,
                t: 27.0 / 7.0
            }
        );
        assert_eq!(s.spend[0], 30.0);
        assert_eq!(
            s.rows[1],
            Rft {
                x: 0.0,
                t_x: 0.0,
                t: 13.0 / 7.0
            }
        );
        // The refund is not a purchase.
        assert_eq!(
            s.rows[2],
            Rft {
                x: 0.0,
                t_x: 0.0,
                t: 26.0 / 7.0
            }
        );
        // Holdout: c1 one occasion on 30 Jan worth 12; c3 one worth 30.
        assert_eq!(
            s.holdout.as_deref().unwrap(),
            &[(1.0, 12.0), (0.0, 0.0), (1.0, 30.0)]
        );
        assert_eq!(s.holdout_duration(), Some(1.0));
    }

    #[tokio::test]
    async fn discrete_summary_by_hand() {
        let (_dir, engine) = crate::test_engine(TableKind::Orders, ORDERS).await;
        let req = SummaryRequest {
            unit: Unit::Week,
            calibration_end: Some(d("2024-01-28")),
            holdout_end: None,
        };
        let (ids, rows) = engine.clv_discrete(&req).await.unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["c1", "c2", "c3"]);
        // c1: 27 days → 3 whole weeks; day 7 is in week 1, day 21 in week 3.
        assert_eq!(rows[0], Discrete { x: 2, t_x: 3, n: 3 });
        assert_eq!(rows[1], Discrete { x: 0, t_x: 0, n: 1 });
        assert_eq!(rows[2], Discrete { x: 0, t_x: 0, n: 3 });
    }

    /// The days a calibration end is checked against are the paid days,
    /// from the order lines or the stored purchases alike: refunds before
    /// and after them are not among them.
    #[tokio::test]
    async fn order_days_stored_or_queried() {
        let orders = format!(
            "{ORDERS}o12,c5,2023-12-25T10:00:00Z,4,refunded\no13,c1,2024-02-20T10:00:00Z,4,refunded\n"
        );
        let (_dir, ws) = crate::test_workspace_with(&[(TableKind::Orders, &orders)]).await;
        let queried = Engine::open(&ws).await.unwrap();
        assert!(!queried.reads_stored_purchases());
        let span = Some((d("2024-01-01"), d("2024-02-01")));
        assert_eq!(queried.order_days().await.unwrap(), span);
        Engine::store_purchases(&ws).await.unwrap();
        let stored = Engine::open(&ws).await.unwrap();
        assert!(stored.reads_stored_purchases());
        assert_eq!(stored.order_days().await.unwrap(), span);
    }

    #[tokio::test]
    async fn dates_out_of_order_are_refused() {
        let (_dir, engine) = crate::test_engine(TableKind::Orders, ORDERS).await;
        let early = SummaryRequest {
            unit: Unit::Day,
            calibration_end: Some(d("2023-12-01")),
            holdout_end: None,
        };
        let e = engine.clv_summary(&early).await.unwrap_err().to_string();
        assert!(
            e.contains("before the first paid order, on 2024-01-01"),
            "{e}"
        );
        let backwards = SummaryRequest {
            unit: Unit::Day,
            calibration_end: Some(d("2024-01-20")),
            holdout_end: Some(d("2024-01-10")),
        };
        let e = engine
            .clv_summary(&backwards)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be after the calibration end"), "{e}");
    }
}
