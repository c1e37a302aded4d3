//! Each person's activity by day, stored beside the tables after an import:
//! one row per person with the days they visited, the days they paid for
//! orders (with that day's orders, revenue and units), and the days of their
//! shares; and each buyer's first paid time and the next. The overview's
//! cards and sparklines, the sales report's total series, and paid-order
//! retention count people and sum money over ranges of days; from these
//! rows that is one read of a row per person (2.3M at a million customers),
//! where the tables are 38M events, 4.5M order lines and 1.2M shares to
//! group again by person.
//!
//! The rows are used only while `orders`, `events` and `referrals` are at
//! the versions they were made from (see `koubei_store::Source`); otherwise,
//! or after [`Engine::recompute`], the same numbers come from the tables.
//! Counted on UTC days, as every range and period of the reports is.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, ListArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Field, Int32Type, Int64Type, Schema};
use chrono::NaiveDate;
use koubei_store::Workspace;
use rayon::prelude::*;

use crate::clv::epoch_day;
use crate::{Engine, Error, Result};

/// The derived table's name, in the workspace and in the session.
pub const ACTIVITY: &str = "activity";

/// How the rows are made: a table made by another format is stale.
const FORMAT: &str = "koubei.activity.2";

/// The columns read back, in this order.
const COLUMNS: [&str; 8] = [
    "first_day",
    "second_day",
    "paid",
    "visits",
    "shares",
    "won",
    "first_ts",
    "next_ts",
];

/// Days as numbers since 1970-01-01 (UTC), both ends included; open ends
/// are `i32::MIN` and `i32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DayRange {
    pub lo: i32,
    pub hi: i32,
}

impl DayRange {
    pub(crate) fn of(since: Option<NaiveDate>, until: Option<NaiveDate>) -> DayRange {
        DayRange {
            lo: since.map_or(i32::MIN, day_number),
            hi: until.map_or(i32::MAX, day_number),
        }
    }

    fn holds(self, d: i32) -> bool {
        self.lo <= d && d <= self.hi
    }
}

pub(crate) fn day_number(d: NaiveDate) -> i32 {
    epoch_day(d) as i32
}

/// A series of periods over a range of days: the days of `within` that fall
/// in the period starting at `starts[j]` count for period j.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub within: DayRange,
    pub starts: Vec<i32>,
}

impl Series {
    /// Periods starting on `starts` (in order), counting the days from
    /// `from` to `until`.
    pub(crate) fn new(
        from: NaiveDate,
        until: NaiveDate,
        starts: impl IntoIterator<Item = NaiveDate>,
    ) -> Series {
        Series {
            within: DayRange::of(Some(from), Some(until)),
            starts: starts.into_iter().map(day_number).collect(),
        }
    }

    fn period(&self, d: i32) -> Option<usize> {
        if !self.within.holds(d) {
            return None;
        }
        self.starts.partition_point(|&s| s <= d).checked_sub(1)
    }
}

/// What one range's or one period's days hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tally {
    /// Customers with a paid order.
    pub buyers: i64,
    /// Of them, those whose first paid day is in it (on or after its first
    /// day), and those with a second paid order by its last day.
    pub new_buyers: i64,
    pub repeat_buyers: i64,
    /// Orders (each day's distinct orders, summed), units, and revenue in
    /// units of 10^-`MONEY_SCALE`, all and of the new buyers.
    pub orders: i64,
    pub units: i64,
    pub revenue: i128,
    pub new_buyer_revenue: i128,
    /// People with an event; of them, those who also paid in it.
    pub visitors: i64,
    pub converted_visitors: i64,
    /// Buyers who shared in it; shares made in it, and those of them that
    /// brought a new customer.
    pub sharing_buyers: i64,
    pub shares: i64,
    pub won: i64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.buyers += o.buyers;
        self.new_buyers += o.new_buyers;
        self.repeat_buyers += o.repeat_buyers;
        self.orders += o.orders;
        self.units += o.units;
        self.revenue += o.revenue;
        self.new_buyer_revenue += o.new_buyer_revenue;
        self.visitors += o.visitors;
        self.converted_visitors += o.converted_visitors;
        self.sharing_buyers += o.sharing_buyers;
        self.shares += o.shares;
        self.won += o.won;
    }
}

/// The buckets counted: each range, then each period of each series.
struct Buckets<'a> {
    ranges: &'a [DayRange],
    series: Vec<&'a Series>,
    /// The buckets of each day from the earliest bound of any bucket to the
    /// latest, looked up rather than found: ten million visit days met
    /// every range and a binary search of the periods in each tally.
    by_day: Option<DayBuckets>,
}

/// The buckets of the days `first..first + offsets.len() - 1`: day `d`'s
/// are `buckets[offsets[d - first]..offsets[d - first + 1]]`.
struct DayBuckets {
    first: i32,
    offsets: Vec<u32>,
    buckets: Vec<u32>,
}

impl<'a> Buckets<'a> {
    /// Days beyond this many from the first bound to the last are found
    /// one at a time (a range without a start or an end has no bound).
    const MOST_DAYS: i64 = 100_000;

    fn new(ranges: &'a [DayRange], series: Vec<&'a Series>) -> Buckets<'a> {
        let mut b = Buckets {
            ranges,
            series,
            by_day: None,
        };
        let bounds = ranges
            .iter()
            .chain(b.series.iter().map(|s| &s.within))
            .flat_map(|r| [r.lo, r.hi])
            .filter(|&d| d != i32::MIN && d != i32::MAX);
        let (Some(first), Some(last)) = (bounds.clone().min(), bounds.max()) else {
            return b;
        };
        if i64::from(last) - i64::from(first) >= Self::MOST_DAYS {
            return b;
        }
        let mut by_day = DayBuckets {
            first,
            offsets: vec![0],
            buckets: Vec::new(),
        };
        for d in first..=last {
            b.find(d, |k| by_day.buckets.push(k as u32));
            by_day.offsets.push(by_day.buckets.len() as u32);
        }
        b.by_day = Some(by_day);
        b
    }
}

impl Buckets<'_> {
    fn len(&self) -> usize {
        self.ranges.len() + self.series.iter().map(|s| s.starts.len()).sum::<usize>()
    }

    /// Calls `f` with each bucket that holds day `d`.
    fn each(&self, d: i32, mut f: impl FnMut(usize)) {
        if let Some(t) = &self.by_day
            && let Some(i) = d.checked_sub(t.first).and_then(|i| usize::try_from(i).ok())
            && i + 1 < t.offsets.len()
        {
            for &k in &t.buckets[t.offsets[i] as usize..t.offsets[i + 1] as usize] {
                f(k as usize);
            }
            return;
        }
        self.find(d, f);
    }

    /// [`Buckets::each`], by comparing `d` with each range and period.
    fn find(&self, d: i32, mut f: impl FnMut(usize)) {
        for (k, r) in self.ranges.iter().enumerate() {
            if r.holds(d) {
                f(k);
            }
        }
        let mut first = self.ranges.len();
        for s in &self.series {
            if let Some(j) = s.period(d) {
                f(first + j);
            }
            first += s.starts.len();
        }
    }

    /// The first and last day of bucket `k`, for "new" and "repeat".
    fn bounds(&self, k: usize) -> DayRange {
        let Some(mut j) = k.checked_sub(self.ranges.len()) else {
            return self.ranges[k];
        };
        for s in &self.series {
            if j < s.starts.len() {
                let next = s.starts.get(j + 1).map_or(i32::MAX, |n| n - 1);
                return DayRange {
                    lo: s.starts[j],
                    hi: next,
                };
            }
            j -= s.starts.len();
        }
        unreachable!("bucket {k} is one of the ranges or periods")
    }
}

/// The activity's tallies kept per engine, at most.
const TALLIES_KEPT: usize = 64;

/// What an activity tally is kept by: its buckets.
fn tally_key(ranges: &[DayRange], series: Option<&Series>) -> String {
    format!("{ranges:?} {series:?}")
}

/// The stored columns of one batch, typed.
struct Rows<'a> {
    first: Vec<Option<i32>>,
    second: Vec<Option<i32>>,
    paid: &'a ListArray,
    paid_day: Vec<i32>,
    paid_orders: Vec<i64>,
    paid_units: Vec<i64>,
    paid_revenue: Vec<i128>,
    visits: DayLists<'a>,
    shares: DayLists<'a>,
    won: DayLists<'a>,
}

fn list(b: &RecordBatch, i: usize) -> Result<&ListArray> {
    b.column(i)
        .as_list_opt::<i32>()
        .ok_or_else(|| Error::Request(format!("{ACTIVITY}: column {} is not a list", COLUMNS[i])))
}

fn int32s(a: &dyn Array) -> Result<Vec<Option<i32>>> {
    let c = cast(a, &DataType::Int32)?;
    Ok(c.as_primitive::<Int32Type>().iter().collect())
}

impl<'a> Rows<'a> {
    fn of(b: &'a RecordBatch) -> Result<Rows<'a>> {
        let paid = list(b, 2)?;
        let fields = paid
            .values()
            .as_struct_opt()
            .ok_or_else(|| Error::Request(format!("{ACTIVITY}: paid is not a list of rows")))?;
        let field = |name: &str| {
            fields
                .column_by_name(name)
                .ok_or_else(|| Error::Request(format!("{ACTIVITY}: paid has no {name}")))
        };
        let day = cast(field("d")?, &DataType::Int32)?;
        let orders = cast(field("n")?, &DataType::Int64)?;
        let units = cast(field("u")?, &DataType::Int64)?;
        let revenue = cast(
            field("r")?,
            &DataType::Decimal128(38, koubei_schema::MONEY_SCALE),
        )?;
        Ok(Rows {
            first: int32s(b.column(0))?,
            second: int32s(b.column(1))?,
            paid,
            paid_day: day.as_primitive::<Int32Type>().values().to_vec(),
            paid_orders: orders.as_primitive::<Int64Type>().values().to_vec(),
            // A day whose lines have no quantity adds no units.
            paid_units: units
                .as_primitive::<Int64Type>()
                .iter()
                .map(|u| u.unwrap_or(0))
                .collect(),
            paid_revenue: revenue
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|r| r.unwrap_or(0))
                .collect(),
            visits: DayLists::of(list(b, 3)?),
            shares: DayLists::of(list(b, 4)?),
            won: DayLists::of(list(b, 5)?),
        })
    }
}

/// A list column of days, its parts found once per batch rather than for
/// each row.
struct DayLists<'a> {
    offsets: &'a [i32],
    values: &'a [i32],
    nulls: Option<&'a arrow::buffer::NullBuffer>,
}

impl<'a> DayLists<'a> {
    fn of(l: &'a ListArray) -> DayLists<'a> {
        DayLists {
            offsets: l.value_offsets(),
            values: l
                .values()
                .as_primitive_opt::<Int32Type>()
                .map_or(&[], |v| v.values()),
            nulls: l.nulls(),
        }
    }

    /// The days of row `i`.
    fn days(&self, i: usize) -> &'a [i32] {
        if self.nulls.is_some_and(|n| n.is_null(i)) {
            return &[];
        }
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        self.values.get(a..b).unwrap_or(&[])
    }
}

/// Counts one batch's rows into `out` (one tally per bucket).
fn tally_batch(rows: &Rows, buckets: &Buckets, out: &mut [Tally]) {
    const PAID: u8 = 1;
    const VISITED: u8 = 2;
    const SHARED: u8 = 4;
    let n = buckets.len();
    // Per row: what it did in each bucket, and its revenue there (for the
    // new buyers' share). Only the buckets a row touched are visited and
    // cleared: a row has a few days, and a series may have hundreds of
    // buckets.
    let mut did = vec![0u8; n];
    let mut revenue = vec![0i128; n];
    let mut touched: Vec<usize> = Vec::with_capacity(n);
    fn mark(did: &mut [u8], touched: &mut Vec<usize>, k: usize, what: u8) {
        if did[k] == 0 {
            touched.push(k);
        }
        did[k] |= what;
    }
    let offsets = rows.paid.value_offsets();
    for i in 0..rows.first.len() {
        if !rows.paid.is_null(i) {
            for p in offsets[i] as usize..offsets[i + 1] as usize {
                buckets.each(rows.paid_day[p], |k| {
                    mark(&mut did, &mut touched, k, PAID);
                    revenue[k] += rows.paid_revenue[p];
                    out[k].orders += rows.paid_orders[p];
                    out[k].units += rows.paid_units[p];
                });
            }
        }
        for &d in rows.visits.days(i) {
            buckets.each(d, |k| mark(&mut did, &mut touched, k, VISITED));
        }
        for &d in rows.shares.days(i) {
            buckets.each(d, |k| {
                mark(&mut did, &mut touched, k, SHARED);
                out[k].shares += 1;
            });
        }
        for &d in rows.won.days(i) {
            buckets.each(d, |k| out[k].won += 1);
        }
        for &k in &touched {
            let (what, r) = (did[k], revenue[k]);
            did[k] = 0;
            revenue[k] = 0;
            let t = &mut out[k];
            let visited = what & VISITED != 0;
            t.visitors += i64::from(visited);
            if what & PAID == 0 {
                continue;
            }
            let bounds = buckets.bounds(k);
            t.buyers += 1;
            t.revenue += r;
            t.converted_visitors += i64::from(visited);
            t.sharing_buyers += i64::from(what & SHARED != 0);
            if rows.first[i].is_some_and(|f| f >= bounds.lo) {
                t.new_buyers += 1;
                t.new_buyer_revenue += r;
            }
            t.repeat_buyers += i64::from(rows.second[i].is_some_and(|s| s <= bounds.hi));
        }
        touched.clear();
    }
}

/// The query whose rows are stored, over this session's tables (the
/// buyers' first and second days and first paid times from the stored
/// purchases when there are some).
fn stored_sql(engine: &Engine) -> String {
    let day = |ts: &str| format!("CAST({} AS INT)", crate::day_number_sql(ts));
    format!(
        "WITH b AS ({buyers}), fn AS ({first_and_next}), {with_shares},
         pd AS (SELECT customer_id, {day_ts} AS d, count(DISTINCT order_id) AS n,
                       sum(amount) AS r, sum(quantity) AS u
                FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL
                GROUP BY 1, 2),
         paid AS (SELECT customer_id,
                         array_agg(named_struct('d', d, 'n', n, 'r', r, 'u', u)) AS paid
                  FROM pd GROUP BY customer_id),
         vd AS (SELECT DISTINCT customer_id,
                       CASE WHEN customer_id IS NULL THEN anonymous_id END AS a, {day_ts} AS d
                FROM events),
         v AS (SELECT customer_id, a, array_agg(d) AS visits FROM vd GROUP BY customer_id, a),
         s AS (SELECT sharer_id, array_agg({day_ts}) AS shares,
                      array_agg({day_ts}) FILTER (WHERE new_customer) AS won
               FROM sh GROUP BY sharer_id),
         c AS (SELECT COALESCE(paid.customer_id, s.sharer_id) AS customer_id, paid.paid,
                      s.shares, s.won
               FROM paid FULL JOIN s ON s.sharer_id = paid.customer_id),
         known AS (SELECT COALESCE(c.customer_id, v.customer_id) AS customer_id,
                          c.paid, v.visits, c.shares, c.won
                   FROM c FULL JOIN (SELECT * FROM v WHERE customer_id IS NOT NULL) v
                     ON v.customer_id = c.customer_id)
         SELECT CAST(known.customer_id AS VARCHAR) AS customer_id,
                CAST(NULL AS VARCHAR) AS anonymous_id,
                CAST(b.first_day AS INT) AS first_day, CAST(b.second_day AS INT) AS second_day,
                known.paid, known.visits, known.shares, known.won,
                CAST(fn.first_ts AS BIGINT) AS first_ts, CAST(fn.next_ts AS BIGINT) AS next_ts
         FROM known LEFT JOIN b ON b.customer_id = known.customer_id
           LEFT JOIN fn ON fn.customer_id = known.customer_id
         UNION ALL
         SELECT NULL, CAST(a AS VARCHAR), NULL, NULL, NULL, visits, NULL, NULL, NULL, NULL
         FROM v WHERE customer_id IS NULL",
        buyers = engine.buyer_days_sql(),
        first_and_next = engine.first_and_next_sql(),
        with_shares = engine.shares(),
        day_ts = day("ts"),
    )
}

impl Engine {
    /// What the stored activity is made from: `orders`, `events` and
    /// `referrals` at this session's versions. None without orders.
    fn activity_source(&self) -> Option<koubei_store::Source> {
        let orders = self.orders.as_ref()?;
        let tag = |s: &Option<koubei_store::Source>| s.as_ref().map_or("none".into(), |s| s.tag());
        Some(orders.made_with(&format!(
            "{FORMAT};events={};referrals={}",
            tag(&self.events),
            tag(&self.referrals)
        )))
    }

    /// Registers the stored activity if it was made from the tables this
    /// session reads, by this format.
    pub(crate) async fn register_stored_activity(&mut self, ws: &Workspace) -> Result<()> {
        let Some(source) = self.activity_source() else {
            return Ok(());
        };
        let Some(t) = ws.load_derived(ACTIVITY, &source).await? else {
            return Ok(());
        };
        let provider = self.runner.provider(&t).await?;
        let schema = provider.schema();
        let list_of = |name: &str, item: &dyn Fn(&DataType) -> bool| {
            schema
                .field_with_name(name)
                .is_ok_and(|f| match f.data_type() {
                    DataType::List(i) => item(i.data_type()),
                    _ => false,
                })
        };
        let days = |t: &DataType| *t == DataType::Int32;
        let paid = |t: &DataType| match t {
            DataType::Struct(fs) => ["d", "n", "r", "u"]
                .iter()
                .all(|n| fs.iter().any(|f| f.name() == n)),
            _ => false,
        };
        let same = list_of("paid", &paid)
            && ["visits", "shares", "won"]
                .iter()
                .all(|c| list_of(c, &days))
            && ["first_day", "second_day", "first_ts", "next_ts"]
                .iter()
                .all(|c| schema.field_with_name(c).is_ok());
        if same {
            self.ctx.register_table(ACTIVITY, provider)?;
            self.stored_activity = true;
        }
        Ok(())
    }

    /// Leaves the stored activity unused (see [`Engine::recompute`]).
    pub(crate) fn forget_stored_activity(&mut self) -> Result<()> {
        if self.stored_activity {
            self.ctx.deregister_table(ACTIVITY)?;
            self.stored_activity = false;
            self.activity_rows = Default::default();
            // Counted from the stored rows, and never read again.
            self.activity_tallies = Default::default();
        }
        Ok(())
    }

    /// Whether reports read the stored activity.
    pub fn reads_stored_activity(&self) -> bool {
        self.stored_activity
    }

    /// Stores the activity of the workspace's tables as they are now,
    /// unless it is stored already; returns how many people it stored.
    pub async fn store_activity(ws: &Workspace) -> Result<Option<usize>> {
        let engine = Engine::open(ws).await?;
        let Some(source) = engine.activity_source() else {
            return Ok(None);
        };
        if engine.stored_activity {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let batches = engine.sql(&stored_sql(&engine)).await?.1;
        tracing::debug!(elapsed = ?started.elapsed(), "activity grouped");
        let n = batches.iter().map(RecordBatch::num_rows).sum();
        let batches = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(plain_strings)
            .collect::<Result<Vec<_>>>()?;
        ws.replace_derived(ACTIVITY, &source, batches).await?;
        tracing::debug!(elapsed = ?started.elapsed(), "activity stored");
        Ok(Some(n))
    }

    /// The stored rows, read once per engine.
    async fn activity_batches(&self) -> Result<&Arc<Vec<RecordBatch>>> {
        self.activity_rows
            .get_or_try_init(|| async {
                let sql = format!("SELECT {} FROM {ACTIVITY}", COLUMNS.join(", "));
                Ok::<_, Error>(Arc::new(self.sql(&sql).await?.1))
            })
            .await
    }

    /// Each range's and each period's tally from the stored activity; None
    /// when it is not stored (the caller counts from the tables).
    pub(crate) async fn activity_tally(
        &self,
        ranges: &[DayRange],
        series: Option<&Series>,
    ) -> Result<Option<Vec<Tally>>> {
        if !self.stored_activity {
            return Ok(None);
        }
        let tallies = self
            .activity_tallies
            .get_or_try_init_within(TALLIES_KEPT, &tally_key(ranges, series), || async {
                Ok(Arc::new(
                    self.activity_tallied(ranges, series.into_iter().collect())
                        .await?,
                ))
            })
            .await?;
        Ok(Some(tallies.to_vec()))
    }

    /// The tallies of several calls of [`Engine::activity_tally`] counted in
    /// one pass and kept for those calls: the overview asks for three
    /// (sales totals, the sales trend, growth), each a pass over every
    /// customer's days.
    pub(crate) async fn activity_tally_ahead(
        &self,
        sets: &[(Vec<DayRange>, Option<Series>)],
    ) -> Result<()> {
        if !self.stored_activity {
            return Ok(());
        }
        let ranges: Vec<DayRange> = sets.iter().flat_map(|(r, _)| r.iter().copied()).collect();
        let series: Vec<&Series> = sets.iter().filter_map(|(_, s)| s.as_ref()).collect();
        let all = self.activity_tallied(&ranges, series).await?;
        // Each set's ranges, then its series' periods.
        let (mut at_range, mut at_period) = (0, ranges.len());
        for (r, s) in sets {
            let mut mine = all[at_range..at_range + r.len()].to_vec();
            at_range += r.len();
            if let Some(s) = s {
                mine.extend_from_slice(&all[at_period..at_period + s.starts.len()]);
                at_period += s.starts.len();
            }
            let mine = Arc::new(mine);
            self.activity_tallies
                .get_or_try_init_within(TALLIES_KEPT, &tally_key(r, s.as_ref()), || async {
                    Ok(mine)
                })
                .await?;
        }
        Ok(())
    }

    /// Each bucket's tally, counted now.
    async fn activity_tallied(
        &self,
        ranges: &[DayRange],
        series: Vec<&Series>,
    ) -> Result<Vec<Tally>> {
        let started = std::time::Instant::now();
        let batches = self.activity_batches().await?;
        let buckets = Buckets::new(ranges, series);
        let n = buckets.len();
        let tallies = batches
            .par_iter()
            .map(|b| {
                let mut out = vec![Tally::default(); n];
                tally_batch(&Rows::of(b)?, &buckets, &mut out);
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut total = vec![Tally::default(); n];
        for t in &tallies {
            for (a, b) in total.iter_mut().zip(t) {
                a.add(b);
            }
        }
        tracing::debug!(elapsed = ?started.elapsed(), buckets = n, "activity tallied");
        Ok(total)
    }
}

impl Engine {
    /// Paid-order retention from the stored activity: how many customers
    /// are in each cell of `rule` (a customer's periods are those of their
    /// paid days, numbered by `index`), and the last paid day. None when it
    /// is not stored.
    pub(crate) async fn activity_cells(
        &self,
        rule: koubei_functions::CohortRule,
        index: impl Fn(i32) -> i64 + Sync,
    ) -> Result<Option<(HashMap<i64, i64>, Option<i32>)>> {
        if !self.stored_activity {
            return Ok(None);
        }
        let batches = self.activity_batches().await?;
        let per_batch = batches
            .par_iter()
            .map(|b| {
                let rows = Rows::of(b)?;
                let offsets = rows.paid.value_offsets();
                let (mut counts, mut last) = (HashMap::new(), None::<i32>);
                let (mut periods, mut cells) = (Vec::new(), Vec::new());
                for i in 0..rows.first.len() {
                    if rows.paid.is_null(i) {
                        continue;
                    }
                    let days = &rows.paid_day[offsets[i] as usize..offsets[i + 1] as usize];
                    periods.clear();
                    periods.extend(days.iter().map(|&d| index(d)));
                    periods.sort_unstable();
                    periods.dedup();
                    cells.clear();
                    rule.cells(&periods, &periods, &mut cells);
                    for &c in &cells {
                        *counts.entry(c).or_insert(0i64) += 1;
                    }
                    last = last.max(days.iter().copied().max());
                }
                Ok((counts, last))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut counts = HashMap::new();
        let mut last = None;
        for (c, l) in per_batch {
            for (cell, n) in c {
                *counts.entry(cell).or_insert(0) += n;
            }
            last = last.max(l);
        }
        Ok(Some((counts, last)))
    }
}

impl Engine {
    /// For each window of days: the buyers whose window after their first
    /// paid time ends by the last order, and how many of them paid again
    /// within it; from the stored activity, or None.
    pub(crate) async fn activity_repeat(&self, windows: &[i64]) -> Result<Option<Vec<(i64, i64)>>> {
        if !self.stored_activity {
            return Ok(None);
        }
        let batches = self.activity_batches().await?;
        // The last order of any status, as the tables' query reads it.
        let (_, last) = self
            .sql("SELECT CAST(max(ts) AS BIGINT) FROM orders")
            .await?;
        let last = last
            .first()
            .map(|b| crate::cols::i64s(b.column(0)))
            .transpose()?
            .and_then(|v| v.first().copied().flatten());
        let Some(last) = last else {
            return Ok(Some(vec![(0, 0); windows.len()]));
        };
        let spans: Vec<i64> = windows.iter().map(|d| d * crate::DAY_US).collect();
        let per_batch = batches
            .par_iter()
            .map(|b| {
                let first = crate::cols::i64s(b.column(6))?;
                let next = crate::cols::i64s(b.column(7))?;
                let mut out = vec![(0i64, 0i64); spans.len()];
                for (f, n) in first.iter().zip(&next) {
                    let Some(f) = *f else { continue };
                    for (o, span) in out.iter_mut().zip(&spans) {
                        if f + span <= last {
                            o.0 += 1;
                            o.1 += i64::from(n.is_some_and(|n| n <= f + span));
                        }
                    }
                }
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut total = vec![(0, 0); windows.len()];
        for b in per_batch {
            for (t, o) in total.iter_mut().zip(b) {
                t.0 += o.0;
                t.1 += o.1;
            }
        }
        Ok(Some(total))
    }
}

/// Ids as plain strings and lists as plain lists, which Delta stores.
fn plain_strings(b: &RecordBatch) -> Result<RecordBatch> {
    let columns: Vec<Arc<dyn Array>> = b
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => Ok(cast(c, &DataType::Utf8)?),
            _ => Ok(Arc::clone(c)),
        })
        .collect::<Result<_>>()?;
    let schema = Schema::new(
        b.schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::Growth;
    use crate::sales::{Period, SalesRequest, SalesRow, SalesTotals};
    use koubei_schema::TableKind;
    use koubei_store::{ImportOptions, Quiet};

    const ORDERS: &str = "order_id,line,customer_id,ts,amount,quantity,status
o1,1,c1,2023-12-30T10:00:00Z,10.25,1,paid
o2,1,c1,2024-01-03T10:00:00Z,5.5,2,paid
o2,2,c1,2024-01-03T10:00:00Z,4.5,,paid
o3,1,c1,2024-01-03T20:00:00Z,7,1,paid
o4,1,c2,2024-01-05T10:00:00Z,20,3,paid
o5,1,c2,2024-02-10T10:00:00Z,30,1,refunded
o6,1,c3,2024-02-11T23:59:59Z,12.3333,1,paid
o7,1,c3,2024-03-01T00:00:00Z,1,1,paid
o8,1,c4,2024-01-20T10:00:00Z,7,1,paid
o9,1,c2,2024-03-15T10:00:00Z,8,,paid
";

    const EVENTS: &str = "ts,customer_id,anonymous_id,event
2024-01-02T10:00:00Z,c1,,view
2024-01-02T11:00:00Z,c1,,view
2024-01-04T10:00:00Z,c2,,view
2024-01-04T10:00:00Z,,a9,view
2024-01-09T10:00:00Z,,a9,view
2024-02-01T10:00:00Z,c2,,view
2024-02-11T10:00:00Z,c3,,view
2024-03-02T10:00:00Z,c9,,view
";

    const REFERRALS: &str = "ts,sharer_id,recipient_id
2024-01-04T10:00:00Z,c1,c4
2024-01-06T10:00:00Z,c1,c9
2024-01-07T10:00:00Z,c2,c5
2024-02-12T10:00:00Z,c3,c8
2024-03-03T10:00:00Z,c7,c2
";

    async fn workspace() -> (tempfile::TempDir, Workspace) {
        crate::test_workspace_with(&[
            (TableKind::Orders, ORDERS),
            (TableKind::Events, EVENTS),
            (TableKind::Referrals, REFERRALS),
        ])
        .await
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The days' table gives each day the buckets that comparing finds,
    /// inside the bounds, beyond them, and with ranges open at one end.
    #[test]
    fn looked_up_buckets_are_the_found_ones() {
        let series = Series::new(
            day("2024-01-10"),
            day("2024-03-20"),
            [day("2024-01-01"), day("2024-02-01"), day("2024-03-01")],
        );
        let ranges = [
            DayRange::of(Some(day("2024-01-05")), Some(day("2024-02-10"))),
            DayRange::of(None, Some(day("2024-01-20"))),
            DayRange::of(Some(day("2024-03-15")), None),
        ];
        for (ranges, series) in [
            (&ranges[..], Some(&series)),
            (&ranges[..1], None),
            (&ranges[1..2], None),
        ] {
            let b = Buckets::new(ranges, series.into_iter().collect());
            assert!(b.by_day.is_some());
            let from = day_number(day("2023-12-01"));
            let mut differ = 0;
            let mut looked_up = 0;
            for d in from..from + 150 {
                let (mut each, mut found) = (Vec::new(), Vec::new());
                b.each(d, |k| each.push(k));
                b.find(d, |k| found.push(k));
                looked_up += each.len();
                differ += usize::from(each != found);
            }
            assert_eq!(differ, 0);
            assert!(looked_up > 0);
        }
        // Without a bound, no table: every day is compared.
        let open = [DayRange::of(None, None)];
        assert!(Buckets::new(&open, Vec::new()).by_day.is_none());
    }

    async fn answers(e: &Engine) -> (Vec<SalesTotals>, Vec<Vec<SalesRow>>, Vec<Growth>) {
        let ranges = [
            (Some(day("2024-01-01")), Some(day("2024-01-31"))),
            (Some(day("2024-02-01")), Some(day("2024-03-31"))),
            (None, Some(day("2024-01-03"))),
            (Some(day("2024-01-04")), None),
            (None, None),
        ];
        let totals = e.sales_totals_of(&ranges).await.unwrap();
        let mut trends = Vec::new();
        let mut growth = Vec::new();
        for (since, until, by) in [
            ("2024-01-03", "2024-03-20", Period::Week),
            ("2024-01-15", "2024-03-31", Period::Month),
            ("2024-01-01", "2024-01-10", Period::Day),
            ("2023-12-01", "2024-12-31", Period::Quarter),
        ] {
            let req = SalesRequest {
                by,
                since: Some(day(since)),
                until: Some(day(until)),
                ..SalesRequest::default()
            };
            trends.push(e.sales_trend(&req).await.unwrap());
            trends.push(e.sales(&req).await.unwrap().total);
            let closed = [
                (day("2024-01-01"), day("2024-01-31")),
                (day("2024-01-04"), day("2024-02-11")),
            ];
            growth.push(
                e.growth(&closed, Some(((day(since), day(until)), by)))
                    .await
                    .unwrap(),
            );
        }
        (totals, trends, growth)
    }

    async fn overview_counts(
        e: &Engine,
        ranges: &[crate::growth::Days],
        trend: &SalesRequest,
        series: Option<(crate::growth::Days, Period)>,
    ) -> (Vec<SalesTotals>, Vec<SalesRow>, Growth) {
        let totals: Vec<_> = ranges.iter().map(|&(s, u)| (Some(s), Some(u))).collect();
        (
            e.sales_totals_of(&totals).await.unwrap(),
            e.sales_trend(trend).await.unwrap(),
            e.growth(ranges, series).await.unwrap(),
        )
    }

    /// What an overview reads, counted ahead in one pass (three sets of
    /// buckets, two series among them), is what each call counts alone, and
    /// each call then reads what was kept.
    #[tokio::test]
    async fn counted_ahead_as_alone() {
        let (_dir, ws) = workspace().await;
        Engine::store_activity(&ws).await.unwrap();
        for (since, until, by) in [
            ("2024-01-03", "2024-03-20", Period::Week),
            ("2024-01-15", "2024-03-31", Period::Month),
            ("2024-01-01", "2024-01-10", Period::Day),
        ] {
            let ranges = [
                (day(since), day(until)),
                (day("2024-01-01"), day("2024-01-31")),
                (day("2023-12-01"), day("2024-02-11")),
            ];
            let trend = SalesRequest {
                by,
                since: Some(day(since)),
                until: Some(day(until)),
                ..SalesRequest::default()
            };
            let series = Some(((day(since), day(until)), by));
            let ahead = Engine::open(&ws).await.unwrap();
            ahead.overview_ahead(&ranges, &trend, series).await.unwrap();
            assert_eq!(ahead.activity_tallies.len(), 3);
            let got = overview_counts(&ahead, &ranges, &trend, series).await;
            assert_eq!(ahead.activity_tallies.len(), 3, "read what was kept");
            let alone = Engine::open(&ws).await.unwrap();
            let want = overview_counts(&alone, &ranges, &trend, series).await;
            assert_eq!(got.0, want.0);
            assert_eq!(got.1, want.1);
            assert_eq!(got.2, want.2);
            assert!(got.0[0].measures.buyers > 0 && !got.2.series.is_empty());
        }
    }

    /// The stored rows give what the tables give, for open and closed
    /// ranges and every kind of period; and a few counts by hand.
    #[tokio::test]
    async fn stored_activity_counts_as_the_tables_do() {
        let (_dir, ws) = workspace().await;
        assert!(!Engine::open(&ws).await.unwrap().reads_stored_activity());
        // c1..c4 bought, c7 and c9 shared or visited, a9 is anonymous.
        assert_eq!(Engine::store_activity(&ws).await.unwrap(), Some(7));
        assert_eq!(Engine::store_activity(&ws).await.unwrap(), None);
        let stored = Engine::open(&ws).await.unwrap();
        assert!(stored.reads_stored_activity());
        let tables = Engine::open(&ws).await.unwrap().recompute().unwrap();
        assert!(!tables.reads_stored_activity());
        let (a, b) = (answers(&stored).await, answers(&tables).await);
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert_eq!(a.2, b.2);

        // January: c1 (o2, o3 on the 3rd), c2 (o4), c4 (o8): three buyers,
        // four orders, 5.5 + 4.5 + 7 + 20 + 7 = 44 and 1 + 2 + 1 + 3 + 1 = 8
        // units; c2 and c4 new; c1 repeat by the 31st (o1, o2).
        let jan = &a.0[0];
        assert_eq!(
            (jan.measures.buyers, jan.measures.orders, jan.measures.units),
            (3, 4, 8)
        );
        assert_eq!(jan.measures.revenue, 44.0);
        assert_eq!(jan.measures.new_buyers, 2);
        assert_eq!(jan.measures.new_buyer_revenue, 27.0);
        assert_eq!(jan.repeat_buyers, 1);
        // February to March: c3 twice (12.3333 + 1) and c2's o9.
        assert_eq!(a.0[1].measures.revenue, 21.3333);
        // Visitors in January: c1, c2, a9; converted c1, c2. Shares: c1
        // twice (bringing c4, new on the 20th), c2 once.
        let g = &a.2[0].ranges[0];
        assert_eq!(
            (g.buyers, g.visitors, g.converted_visitors),
            (3, Some(3), Some(2))
        );
        assert_eq!(
            (g.sharing_buyers, g.shares, g.new_customers_from_shares),
            (Some(2), Some(3), Some(1))
        );
    }

    /// Paid-order retention: the same cohorts from the stored days as from
    /// the order lines, for every period and flag.
    #[tokio::test]
    async fn stored_activity_gives_the_same_retention() {
        use crate::retention::RetentionRequest;
        let (_dir, ws) = workspace().await;
        Engine::store_activity(&ws).await.unwrap();
        let stored = Engine::open(&ws).await.unwrap();
        let tables = Engine::open(&ws).await.unwrap().recompute().unwrap();
        for period in [Period::Day, Period::Week, Period::Month] {
            for (cumulative, recurring) in [(false, false), (true, false), (false, true)] {
                for (since, periods) in [(None, 8), (Some(day("2024-01-04")), 2)] {
                    let req = RetentionRequest {
                        period,
                        periods,
                        cumulative,
                        recurring,
                        since,
                        ..RetentionRequest::default()
                    };
                    let (a, b) = (
                        stored.retention(&req).await.unwrap(),
                        tables.retention(&req).await.unwrap(),
                    );
                    let json = |r| serde_json::to_string(r).unwrap();
                    assert_eq!(json(&a), json(&b), "{req:?}");
                    assert!(!a.cohorts.is_empty());
                }
            }
        }
        // By month: c1 from December 2023 (back in January), c2 and c4
        // from January (c2 back in March), c3 from February (back in March).
        let req = RetentionRequest {
            period: Period::Month,
            periods: 2,
            ..RetentionRequest::default()
        };
        let r = stored.retention(&req).await.unwrap();
        let sizes: Vec<(String, i64, Vec<Option<i64>>)> = r
            .cohorts
            .iter()
            .map(|c| (c.cohort.to_string(), c.size, c.retained.clone()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("2023-12-01".into(), 1, vec![Some(1), Some(1), Some(0)]),
                ("2024-01-01".into(), 2, vec![Some(2), Some(0), Some(1)]),
                ("2024-02-01".into(), 1, vec![Some(1), Some(1), None]),
            ]
        );
    }

    #[tokio::test]
    async fn stored_activity_goes_stale_with_any_of_its_tables() {
        let (dir, ws) = workspace().await;
        Engine::store_activity(&ws).await.unwrap();
        assert!(Engine::open(&ws).await.unwrap().reads_stored_activity());
        let file = dir.path().join("more.csv");
        std::fs::write(
            &file,
            "ts,customer_id,anonymous_id,event\n2024-04-01T10:00:00Z,c1,,view\n",
        )
        .unwrap();
        ws.import_file(TableKind::Events, &file, &ImportOptions::default(), &Quiet)
            .await
            .unwrap();
        let engine = Engine::open(&ws).await.unwrap();
        assert!(!engine.reads_stored_activity());
        let april = (day("2024-04-01"), day("2024-04-30"));
        let g = engine.growth(&[april], None).await.unwrap();
        assert_eq!(g.ranges[0].visitors, Some(1));
        Engine::store_activity(&ws).await.unwrap();
        let engine = Engine::open(&ws).await.unwrap();
        assert!(engine.reads_stored_activity());
        assert_eq!(engine.growth(&[april], None).await.unwrap(), g);
    }
}
