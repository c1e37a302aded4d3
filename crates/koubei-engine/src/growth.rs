//! The growth counts of a date range beside its sales: visitors and how
//! many of them bought (conversion), and the buyers who shared and the new
//! customers their shares brought (share rate, K-factor). The overview's
//! cards; `docs/metrics.md` defines each.

use arrow::array::RecordBatch;
use chrono::{Datelike, NaiveDate, NaiveTime};
use koubei_functions::DAY_US;
use serde::Serialize;

use crate::activity::{DayRange, Series, Tally};
use crate::cols::bit_counts;
use crate::sales::Period;
use crate::{Engine, Result};

/// A range's (or one period's) growth counts. None where the table they
/// come from is empty, so that a shop without events or referrals shows no
/// rate rather than 0.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GrowthCounts {
    /// Customers with a paid order, the base of the share rate and K-factor.
    pub buyers: i64,
    /// People with an event: customers by id, visitors not yet known by
    /// their anonymous id.
    pub visitors: Option<i64>,
    /// Visitors whose customer id has a paid order in the same range.
    pub converted_visitors: Option<i64>,
    /// Buyers of the range who shared in it.
    pub sharing_buyers: Option<i64>,
    /// Shares made in the range.
    pub shares: Option<i64>,
    /// Shares made in the range that brought a new customer.
    pub new_customers_from_shares: Option<i64>,
}

/// A range of whole days (UTC), both ends included.
pub type Days = (NaiveDate, NaiveDate);

/// What [`Engine::growth`] counted: one entry per range asked for, and one
/// per period of the series (every period, from the one holding its first
/// day).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Growth {
    pub ranges: Vec<GrowthCounts>,
    pub series: Vec<(NaiveDate, GrowthCounts)>,
}

/// Bits of a mask that [`Buckets`] uses: 63, so that masks stay positive.
const USED_BITS: usize = 63;

/// The date ranges and the series' periods of one [`Engine::growth`] call,
/// each a bit in the masks that a row (an event, an order line, a share)
/// gets: bit k for range k, then one per period. Counting a range's or a
/// period's distinct people is then counting the people with its bit set,
/// and all of them take one pass over each table.
struct Buckets {
    ranges: Vec<Days>,
    series: Option<(Days, Period)>,
    periods: Vec<NaiveDate>,
}

impl Buckets {
    fn new(ranges: &[Days], series: Option<(Days, Period)>) -> Self {
        let periods = series.map_or_else(Vec::new, |((since, until), by)| by.range(since, until));
        Buckets {
            ranges: ranges.to_vec(),
            series,
            periods,
        }
    }

    fn len(&self) -> usize {
        self.ranges.len() + self.periods.len()
    }

    /// Mask columns: `USED_BITS` buckets in each.
    fn columns(&self) -> usize {
        self.len().div_ceil(USED_BITS).max(1)
    }

    /// Rows in any of the ranges or in the series.
    fn any(&self, ts: &str) -> String {
        let all = self.ranges.iter().chain(self.series.as_ref().map(|s| &s.0));
        let parts: Vec<String> = all
            .map(|(s, u)| format!("({})", crate::ts_in_days(ts, Some(*s), Some(*u))))
            .collect();
        if parts.is_empty() {
            "FALSE".into()
        } else {
            parts.join(" OR ")
        }
    }

    /// The index of the series' period that holds `ts`: whole periods since
    /// the one holding the series' first day.
    fn period_index(&self, ts: &str) -> String {
        let Some(((since, _), by)) = self.series else {
            return "0".into();
        };
        let start = by.start(since);
        let micros = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
        let month = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
        let months = |n: i64| {
            format!(
                "((CAST(date_part('year', {wall}) AS BIGINT) * 12
                   + CAST(date_part('month', {wall}) AS BIGINT) - 1) / {n} - {})",
                month(start) / n,
                wall = crate::utc_wall_sql(ts),
            )
        };
        match by {
            Period::Day => format!("((CAST({ts} AS BIGINT) - {}) / {DAY_US})", micros(start)),
            Period::Week => format!(
                "((CAST({ts} AS BIGINT) - {}) / {})",
                micros(start),
                7 * DAY_US
            ),
            Period::Month => months(1),
            Period::Quarter => months(3),
            Period::Year => months(12),
        }
    }

    /// The mask columns of a row whose time is `ts` and whose series period
    /// is `pidx` (see [`Buckets::period_index`]), named `m0`, `m1`, ...
    fn masks(&self, ts: &str, pidx: &str) -> String {
        let n = self.ranges.len();
        (0..self.columns())
            .map(|c| {
                let (lo, hi) = (c * USED_BITS, (c + 1) * USED_BITS);
                let mut parts: Vec<String> = self
                    .ranges
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| (lo..hi).contains(k))
                    .map(|(k, (s, u))| {
                        format!(
                            "CASE WHEN {} THEN {} ELSE 0 END",
                            crate::ts_in_days(ts, Some(*s), Some(*u)),
                            1i64 << (k - lo)
                        )
                    })
                    .collect();
                if let Some(((s, u), _)) = self.series
                    && n + self.periods.len() > lo
                    && n < hi
                {
                    parts.push(format!(
                        "CASE WHEN {in_series} AND {pidx} + {n} >= {lo} AND {pidx} + {n} < {hi}
                              THEN CAST(1 AS BIGINT) << ({pidx} + {n} - {lo}) ELSE 0 END",
                        in_series = crate::ts_in_days(ts, Some(s), Some(u)),
                    ));
                }
                if parts.is_empty() {
                    parts.push("0".into());
                }
                format!("CAST({} AS BIGINT) AS m{c}", parts.join(" | "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `bit_or` of every mask column, for a GROUP BY.
    fn bit_ors(&self, of: &str) -> String {
        (0..self.columns())
            .map(|c| format!("bit_or({of}m{c}) AS m{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `bit_counts` of a measure over every mask column: `expr` with `{m}`
    /// standing for the column.
    fn counts(&self, expr: &str) -> Vec<String> {
        (0..self.columns())
            .map(|c| format!("bit_counts({})", expr.replace("{m}", &format!("m{c}"))))
            .collect()
    }

    /// Each bucket's count of a measure whose [`Buckets::counts`] lists
    /// start at column `first` of the row.
    fn read(&self, b: &RecordBatch, first: usize) -> Result<Vec<i64>> {
        let lists = (0..self.columns())
            .map(|c| bit_counts(b.column(first + c)))
            .collect::<Result<Vec<_>>>()?;
        Ok((0..self.len())
            .map(|i| lists[i / USED_BITS][i % USED_BITS])
            .collect())
    }
}

/// The days of each range and the periods of the series that
/// [`Engine::growth`] tallies from the stored activity.
fn growth_buckets(
    ranges: &[Days],
    series: Option<(Days, Period)>,
) -> (Vec<DayRange>, Option<Series>) {
    let days = ranges
        .iter()
        .map(|(s, u)| DayRange::of(Some(*s), Some(*u)))
        .collect();
    (
        days,
        series.map(|((s, u), by)| Series::new(s, u, by.range(s, u))),
    )
}

impl Engine {
    /// What an overview reads from the stored activity, counted in one pass
    /// rather than three: the sales totals of `ranges`
    /// ([`Engine::sales_totals_of`]), the sales trend `trend`
    /// ([`Engine::sales_trend`]) and the growth counts of `ranges` and
    /// `series` ([`Engine::growth`]). Those calls then read what is kept.
    /// Nothing is counted when the activity is not stored.
    pub async fn overview_ahead(
        &self,
        ranges: &[Days],
        trend: &crate::sales::SalesRequest,
        series: Option<(Days, Period)>,
    ) -> Result<()> {
        let totals: Vec<_> = ranges.iter().map(|(s, u)| (Some(*s), Some(*u))).collect();
        let mut sets = vec![(crate::sales::totals_days(&totals), None)];
        if let Some((periods, _)) = crate::sales::stored_series_periods(trend, false) {
            sets.push((Vec::new(), Some(periods)));
        }
        sets.push(growth_buckets(ranges, series));
        self.activity_tally_ahead(&sets).await
    }

    /// The growth counts of each range, and of each period of `series`:
    /// every count in one pass over each of orders, events and referrals.
    pub async fn growth(&self, ranges: &[Days], series: Option<(Days, Period)>) -> Result<Growth> {
        self.growth_counts(ranges, series, true).await
    }

    /// [`Engine::growth`] without the visitors (None), which take a pass
    /// over the events: the buyers and their shares only.
    pub async fn sharing(&self, ranges: &[Days], series: Option<(Days, Period)>) -> Result<Growth> {
        self.growth_counts(ranges, series, false).await
    }

    async fn growth_counts(
        &self,
        ranges: &[Days],
        series: Option<(Days, Period)>,
        visitors: bool,
    ) -> Result<Growth> {
        let buckets = Buckets::new(ranges, series);
        let (has_events, has_referrals) =
            futures::try_join!(self.has_rows("events"), self.has_rows("referrals"))?;
        let has_events = visitors && has_events;
        let (days, periods) = growth_buckets(ranges, series);
        if let Some(t) = self.activity_tally(&days, periods.as_ref()).await? {
            let counts = |t: &Tally| GrowthCounts {
                buyers: t.buyers,
                visitors: has_events.then_some(t.visitors),
                converted_visitors: has_events.then_some(t.converted_visitors),
                sharing_buyers: has_referrals.then_some(t.sharing_buyers),
                shares: has_referrals.then_some(t.shares),
                new_customers_from_shares: has_referrals.then_some(t.won),
            };
            let n = ranges.len();
            return Ok(Growth {
                ranges: t[..n].iter().map(counts).collect(),
                series: buckets
                    .periods
                    .iter()
                    .zip(&t[n..])
                    .map(|(d, t)| (*d, counts(t)))
                    .collect(),
            });
        }
        let ors = buckets.bit_ors("");
        let buyers = format!(
            "b AS (SELECT customer_id, {ors}
                   FROM (SELECT customer_id, {masks}
                         FROM (SELECT customer_id, ts, {pidx} AS pidx FROM orders
                               WHERE status = 'paid' AND customer_id IS NOT NULL AND ({any})))
                   GROUP BY customer_id)",
            masks = buckets.masks("ts", "pidx"),
            pidx = buckets.period_index("ts"),
            any = buckets.any("ts"),
        );
        let joined = |a: &str| {
            let mut v = buckets.counts(&format!("{a}.{{m}}"));
            v.extend(buckets.counts(&format!("{a}.{{m}} & b.{{m}}")));
            v.join(", ")
        };
        let visits = format!(
            "WITH {buyers},
             v AS (SELECT customer_id, a, {ors}
                   FROM (SELECT customer_id, a, {masks}
                         FROM (SELECT customer_id,
                                      CASE WHEN customer_id IS NULL THEN anonymous_id END AS a,
                                      ts, {pidx} AS pidx
                               FROM events WHERE {any}))
                   GROUP BY customer_id, a)
             SELECT {counts} FROM v LEFT JOIN b ON b.customer_id = v.customer_id",
            masks = buckets.masks("ts", "pidx"),
            pidx = buckets.period_index("ts"),
            any = buckets.any("ts"),
            counts = joined("v"),
        );
        let shares = format!(
            "WITH {buyers}, {with_shares},
             s AS (SELECT sharer_id, new_customer, {masks}
                   FROM (SELECT sharer_id, new_customer, ts, {pidx} AS pidx FROM sh WHERE {any})),
             per AS (SELECT sharer_id, {ors} FROM s GROUP BY sharer_id),
             x AS (SELECT {sharing} FROM per LEFT JOIN b ON b.customer_id = per.sharer_id),
             y AS (SELECT {made} FROM s)
             SELECT * FROM x CROSS JOIN y",
            with_shares = self.shares(),
            masks = buckets.masks("ts", "pidx"),
            pidx = buckets.period_index("ts"),
            any = buckets.any("ts"),
            sharing = buckets.counts("per.{m} & b.{m}").join(", "),
            made = [
                buckets.counts("{m}"),
                buckets.counts("CASE WHEN new_customer THEN {m} END"),
            ]
            .concat()
            .join(", "),
        );
        let buyer_counts = format!(
            "WITH {buyers} SELECT {} FROM b",
            buckets.counts("{m}").join(", ")
        );
        let nothing = || async { Ok(Vec::new()) };
        let (visits, shares, buyer_counts) = futures::try_join!(
            async {
                match has_events {
                    true => self.sql(&visits).await.map(|r| r.1),
                    false => nothing().await,
                }
            },
            async {
                match has_referrals {
                    true => self.sql(&shares).await.map(|r| r.1),
                    false => nothing().await,
                }
            },
            async { self.sql(&buyer_counts).await.map(|r| r.1) }
        )?;
        let one_row = |batches: &[RecordBatch]| batches.iter().find(|b| b.num_rows() > 0).cloned();
        let c = buckets.columns();
        let zeros = vec![0; buckets.len()];
        let buyers = match one_row(&buyer_counts) {
            Some(b) => buckets.read(&b, 0)?,
            None => zeros.clone(),
        };
        let (visitors, converted) = match one_row(&visits) {
            Some(b) => (Some(buckets.read(&b, 0)?), Some(buckets.read(&b, c)?)),
            None => (
                has_events.then(|| zeros.clone()),
                has_events.then(|| zeros.clone()),
            ),
        };
        let (sharing, made, won) = match one_row(&shares) {
            Some(b) => (
                Some(buckets.read(&b, 0)?),
                Some(buckets.read(&b, c)?),
                Some(buckets.read(&b, 2 * c)?),
            ),
            None => {
                let z = has_referrals.then(|| zeros.clone());
                (z.clone(), z.clone(), z)
            }
        };
        let at = |v: &Option<Vec<i64>>, i: usize| v.as_ref().map(|v| v[i]);
        let counts = |i: usize| GrowthCounts {
            buyers: buyers[i],
            visitors: at(&visitors, i),
            converted_visitors: at(&converted, i),
            sharing_buyers: at(&sharing, i),
            shares: at(&made, i),
            new_customers_from_shares: at(&won, i),
        };
        let n = buckets.ranges.len();
        Ok(Growth {
            ranges: (0..n).map(counts).collect(),
            series: buckets
                .periods
                .iter()
                .enumerate()
                .map(|(j, d)| (*d, counts(n + j)))
                .collect(),
        })
    }

    async fn has_rows(&self, table: &str) -> Result<bool> {
        let (_, b) = self.sql(&format!("SELECT 1 FROM {table} LIMIT 1")).await?;
        Ok(b.iter().any(|b| b.num_rows() > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_engine_with;
    use koubei_schema::TableKind;

    /// Counted by hand: in January, visitors c1, c2 and one anonymous; c1
    /// and c3 bought, so one visitor converted. c1 shared twice (once
    /// bringing c4, new), c2 shared once without buying: one sharing buyer.
    #[tokio::test]
    async fn growth_counts_by_hand() {
        let (_dir, engine) = test_engine_with(&[
            (
                TableKind::Orders,
                "order_id,customer_id,ts,amount\n\
                 o1,c1,2024-01-03T10:00:00Z,10\n\
                 o2,c3,2024-01-05T10:00:00Z,5\n\
                 o3,c4,2024-01-20T10:00:00Z,7\n\
                 o4,c2,2024-02-02T10:00:00Z,7\n",
            ),
            (
                TableKind::Events,
                "ts,customer_id,anonymous_id,event\n\
                 2024-01-02T10:00:00Z,c1,,view\n\
                 2024-01-02T11:00:00Z,c1,,view\n\
                 2024-01-04T10:00:00Z,c2,,view\n\
                 2024-01-04T10:00:00Z,,a9,view\n\
                 2024-02-01T10:00:00Z,c2,,view\n",
            ),
            (
                TableKind::Referrals,
                "ts,sharer_id,recipient_id\n\
                 2024-01-04T10:00:00Z,c1,c4\n\
                 2024-01-06T10:00:00Z,c1,c9\n\
                 2024-01-07T10:00:00Z,c2,c5\n",
            ),
        ])
        .await;
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let jan = engine
            .growth(&[(day("2024-01-01"), day("2024-01-31"))], None)
            .await
            .unwrap()
            .ranges;
        let want = GrowthCounts {
            buyers: 3,
            visitors: Some(3),
            converted_visitors: Some(1),
            sharing_buyers: Some(1),
            shares: Some(3),
            new_customers_from_shares: Some(1),
        };
        assert_eq!(jan, [want]);
        // By month over both: February's visitor c2 bought in February.
        let months = engine
            .growth(
                &[],
                Some(((day("2024-01-01"), day("2024-02-29")), Period::Month)),
            )
            .await
            .unwrap()
            .series;
        assert_eq!(months.len(), 2);
        assert_eq!(months[1].0, day("2024-02-01"));
        assert_eq!(
            (
                months[1].1.visitors,
                months[1].1.converted_visitors,
                months[1].1.shares
            ),
            (Some(1), Some(1), Some(0))
        );
        // With no events or referrals, no rate: None, not 0.
        let (_bare_dir, bare) = test_engine_with(&[(
            TableKind::Orders,
            "order_id,customer_id,ts,amount\no1,c1,2024-01-03T10:00:00Z,10\n",
        )])
        .await;
        let g = bare
            .growth(&[(day("2024-01-01"), day("2024-01-31"))], None)
            .await
            .unwrap()
            .ranges;
        let want = GrowthCounts {
            buyers: 1,
            ..GrowthCounts::default()
        };
        assert_eq!(g, [want]);
    }

    /// Every range's and every period's counts against counting sets by
    /// hand, for each kind of period, over a series long enough by day to
    /// need two mask columns and starting mid-week and mid-month.
    #[tokio::test]
    async fn counts_equal_sets_counted_by_hand() {
        use std::collections::{BTreeMap, BTreeSet};
        let mut seed = 11u64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let first = day("2023-12-20");
        let when = |n: &mut dyn FnMut(u64) -> u64| {
            first.and_hms_opt(0, 0, 0).unwrap() + chrono::TimeDelta::seconds(n(112 * 86_400) as i64)
        };
        let (mut events, mut orders, mut referrals) = (
            String::from("ts,customer_id,anonymous_id,event\n"),
            String::from("order_id,customer_id,ts,amount\n"),
            String::from("ts,sharer_id,recipient_id,ordered\n"),
        );
        // (time, person) of each event, order and share.
        let mut seen = Vec::new();
        let mut bought = Vec::new();
        let mut shared = Vec::new();
        for i in 0..600 {
            let t = when(&mut next);
            let p = next(40);
            let (c, a) = if p < 30 {
                (format!("c{p}"), String::new())
            } else {
                (String::new(), format!("a{p}"))
            };
            events.push_str(&format!(
                "{}Z,{c},{a},view\n",
                t.format("%Y-%m-%dT%H:%M:%S")
            ));
            seen.push((t, if c.is_empty() { a } else { c }));
            if i % 3 == 0 {
                let (t, c) = (when(&mut next), format!("c{}", next(30)));
                orders.push_str(&format!("o{i},{c},{}Z,1\n", t.format("%Y-%m-%dT%H:%M:%S")));
                bought.push((t, c));
            }
            if i % 4 == 0 {
                let (t, c, won) = (when(&mut next), format!("c{}", next(30)), next(2) == 1);
                referrals.push_str(&format!(
                    "{}Z,{c},r{},{won}\n",
                    t.format("%Y-%m-%dT%H:%M:%S"),
                    next(10)
                ));
                shared.push((t, c, won));
            }
        }
        let (_dir, engine) = test_engine_with(&[
            (TableKind::Events, events.as_str()),
            (TableKind::Orders, orders.as_str()),
            (TableKind::Referrals, referrals.as_str()),
        ])
        .await;
        let ranges = [
            (day("2024-01-03"), day("2024-01-20")),
            (day("2024-02-01"), day("2024-03-15")),
            (day("2023-12-25"), day("2024-01-05")),
        ];
        let series = (day("2024-01-03"), day("2024-03-31"));
        for by in [Period::Day, Period::Week, Period::Month, Period::Quarter] {
            let got = engine.growth(&ranges, Some((series, by))).await.unwrap();
            // Buckets by hand: each range, then each period of the series.
            let mut keys: Vec<Box<dyn Fn(NaiveDate) -> bool>> = ranges
                .iter()
                .map(|&(s, u)| {
                    Box::new(move |d| s <= d && d <= u) as Box<dyn Fn(NaiveDate) -> bool>
                })
                .collect();
            let periods = by.range(series.0, series.1);
            for &p in &periods {
                keys.push(Box::new(move |d| {
                    series.0 <= d && d <= series.1 && by.start(d) == p
                }));
            }
            let mut want = BTreeMap::new();
            for (k, inside) in keys.iter().enumerate() {
                let set = |v: &[(chrono::NaiveDateTime, String)]| -> BTreeSet<String> {
                    v.iter()
                        .filter(|(t, _)| inside(t.date()))
                        .map(|x| x.1.clone())
                        .collect()
                };
                let (visitors, buyers) = (set(&seen), set(&bought));
                let mine: Vec<_> = shared.iter().filter(|s| inside(s.0.date())).collect();
                let sharers: BTreeSet<&String> = mine.iter().map(|s| &s.1).collect();
                want.insert(
                    k,
                    GrowthCounts {
                        buyers: buyers.len() as i64,
                        visitors: Some(visitors.len() as i64),
                        converted_visitors: Some(visitors.intersection(&buyers).count() as i64),
                        sharing_buyers: Some(
                            sharers.iter().filter(|s| buyers.contains(**s)).count() as i64,
                        ),
                        shares: Some(mine.len() as i64),
                        new_customers_from_shares: Some(mine.iter().filter(|s| s.2).count() as i64),
                    },
                );
            }
            let got_all: Vec<_> = got
                .ranges
                .iter()
                .chain(got.series.iter().map(|s| &s.1))
                .cloned()
                .collect();
            let want_all: Vec<_> = want.into_values().collect();
            assert_eq!(
                got.series.iter().map(|s| s.0).collect::<Vec<_>>(),
                periods,
                "{by}"
            );
            assert_eq!(got_all, want_all, "{by}");
            // Without the visitors: the same buyers and shares.
            let sharing = engine.sharing(&ranges, Some((series, by))).await.unwrap();
            let without = |g: &GrowthCounts| GrowthCounts {
                visitors: None,
                converted_visitors: None,
                ..g.clone()
            };
            assert_eq!(
                sharing
                    .ranges
                    .iter()
                    .chain(sharing.series.iter().map(|s| &s.1))
                    .cloned()
                    .collect::<Vec<_>>(),
                got_all.iter().map(without).collect::<Vec<_>>(),
                "{by}"
            );
            let busy = got_all.iter().filter(|g| g.visitors > Some(0));
            assert!(
                busy.count() * 4 >= got_all.len() * 3,
                "{by}: most buckets have data"
            );
        }
    }
}
