//! Cohort retention, with PostHog's first-time semantics.
//!
//! - A person's cohort is the period of their first start event: by default
//!   their first paid order; with `start_event`, their first such event.
//! - They are retained in period k (k ≥ 1) if they did a return event in the
//!   k-th period after their cohort's: by default any paid order, with
//!   `return_event` such an event. Element 0 is the cohort's size.
//! - `cumulative` counts them in period k if they returned in period k or
//!   any later one ("on or after" rather than "on").
//! - Periods are UTC `date_trunc` periods; weeks start on Monday.
//!
//! Persons are `customer_id` for orders, and `customer_id` or else
//! `anonymous_id` for events.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, NaiveDate};
use serde::Serialize;

use crate::sales::Period;
use crate::{Engine, Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct RetentionRequest {
    pub period: Period,
    /// Periods after the cohort's own to report.
    pub periods: usize,
    /// An event name from `events`; None means a paid order.
    pub start_event: Option<String>,
    pub return_event: Option<String>,
    pub cumulative: bool,
    /// Cohorts starting on or after this day (UTC).
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cohort {
    /// The cohort period's first day.
    pub cohort: NaiveDate,
    pub size: i64,
    /// Persons retained in periods 0, 1, 2, ...; element 0 is the size.
    pub retained: Vec<i64>,
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
    pub cumulative: bool,
    pub cohorts: Vec<Cohort>,
    /// Repeat-purchase rates at 30, 60 and 90 days (from orders, whatever the
    /// start and return events).
    pub repeat_purchase: Vec<RepeatRate>,
}

fn source(event: Option<&str>) -> String {
    match event {
        None => "SELECT customer_id AS person, ts FROM orders WHERE status = 'paid'".to_string(),
        Some(e) => format!(
            "SELECT COALESCE(customer_id, anonymous_id) AS person, ts FROM events
             WHERE event = '{}' AND COALESCE(customer_id, anonymous_id) IS NOT NULL",
            e.replace('\'', "''")
        ),
    }
}

fn day(v: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(v)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

impl Engine {
    pub async fn retention(&self, req: &RetentionRequest) -> Result<RetentionReport> {
        if req.periods == 0 || req.periods > 1000 {
            return Err(Error::Request(
                "--periods must be between 1 and 1000".into(),
            ));
        }
        let p = req.period.to_string();
        let cohort_range =
            crate::ts_in_days("cohort", req.since.map(|s| req.period.start(s)), req.until);
        let starts = source(req.start_event.as_deref());
        let returns = source(req.return_event.as_deref());
        let per_period = if req.cumulative {
            "max(r.period)"
        } else {
            "r.period"
        };
        let sql = format!(
            "WITH s AS (SELECT person, min(date_trunc('{p}', ts)) AS cohort FROM ({starts}) GROUP BY person),
                  r AS (SELECT DISTINCT person, date_trunc('{p}', ts) AS period FROM ({returns})),
                  s2 AS (SELECT * FROM s WHERE {cohort_range}),
                  sizes AS (SELECT cohort, count(*) AS n FROM s2 GROUP BY cohort),
                  back AS (
                    SELECT cohort, period, count(*) AS n FROM (
                      SELECT s2.person, s2.cohort, {per_period} AS period
                      FROM s2 JOIN r ON s2.person = r.person AND r.period > s2.cohort
                      GROUP BY s2.person, s2.cohort{group_period}
                    ) GROUP BY cohort, period
                  )
             SELECT cohort, CAST(NULL AS TIMESTAMP) AS period, n FROM sizes
             UNION ALL SELECT cohort, period, n FROM back",
            group_period = if req.cumulative { "" } else { ", r.period" },
        );
        let (_, batches) = self.sql(&sql).await?;
        let mut cohorts: BTreeMap<NaiveDate, Cohort> = BTreeMap::new();
        let mut later: Vec<(NaiveDate, NaiveDate, i64)> = Vec::new();
        for b in &batches {
            let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
            let c = cast(b.column(0), &ts)?;
            let c = c.as_primitive::<TimestampMicrosecondType>();
            let per = cast(b.column(1), &ts)?;
            let per = per.as_primitive::<TimestampMicrosecondType>();
            let n = cast(b.column(2), &DataType::Int64)?;
            let n = n.as_primitive::<Int64Type>();
            for row in 0..b.num_rows() {
                let cohort = day(c.value(row));
                if per.is_null(row) {
                    cohorts.insert(
                        cohort,
                        Cohort {
                            cohort,
                            size: n.value(row),
                            retained: vec![0; req.periods + 1],
                        },
                    );
                } else {
                    later.push((cohort, day(per.value(row)), n.value(row)));
                }
            }
        }
        for (cohort, period, n) in later {
            let Some(c) = cohorts.get_mut(&cohort) else {
                continue;
            };
            // The index of `period` counted from the cohort's period; past
            // the last period shown, it only matters to "on or after".
            let mut k = 0;
            let mut d = cohort;
            while d < period && k <= req.periods {
                d = req.period.next(d);
                k += 1;
            }
            let beyond = d < period;
            if !beyond && d != period {
                continue;
            }
            if req.cumulative {
                // Returned last in period k: retained on or after 1..=k.
                for slot in c.retained.iter_mut().take(k.min(req.periods) + 1).skip(1) {
                    *slot += n;
                }
            } else if !beyond && k <= req.periods {
                c.retained[k] += n;
            }
        }
        let cohorts = cohorts
            .into_values()
            .map(|mut c| {
                c.retained[0] = c.size;
                c
            })
            .collect();
        Ok(RetentionReport {
            period: req.period,
            cumulative: req.cumulative,
            cohorts,
            repeat_purchase: self.repeat_purchase(&[30, 60, 90]).await?,
        })
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
        let sql = format!(
            "WITH paid AS (SELECT customer_id, ts FROM orders WHERE status = 'paid'),
                  firsts AS (SELECT customer_id, min(ts) AS first_ts FROM paid GROUP BY customer_id),
                  nexts AS (
                    SELECT p.customer_id, min(p.ts) AS next_ts
                    FROM paid p JOIN firsts f ON p.customer_id = f.customer_id AND p.ts > f.first_ts
                    GROUP BY p.customer_id
                  ),
                  buyers AS (
                    SELECT f.first_ts, n.next_ts, (SELECT max(ts) FROM orders) AS last_ts
                    FROM firsts f LEFT JOIN nexts n ON f.customer_id = n.customer_id
                  )
             SELECT {} FROM buyers",
            columns.join(", ")
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
    const ORDERS: &str = "order_id,customer_id,ts,amount,status
1,a,2024-01-01T10:00:00Z,10,paid
2,a,2024-01-08T10:00:00Z,10,paid
3,a,2024-01-22T10:00:00Z,10,paid
4,b,2024-01-03T10:00:00Z,10,paid
5,b,2024-01-10T10:00:00Z,10,refunded
6,b,2024-01-15T10:00:00Z,10,paid
7,c,2024-01-09T10:00:00Z,10,paid
8,c,2024-01-11T10:00:00Z,10,paid
9,c,2024-01-16T10:00:00Z,10,paid
10,d,2024-01-02T10:00:00Z,10,cancelled
11,d,2024-06-01T10:00:00Z,10,cancelled
12,e,2024-01-02T10:00:00Z,10,paid
13,f,2024-01-10T10:00:00Z,10,paid
14,f,2024-02-24T10:00:00Z,10,paid
";

    fn req(cumulative: bool) -> RetentionRequest {
        RetentionRequest {
            period: Period::Week,
            periods: 3,
            start_event: None,
            return_event: None,
            cumulative,
            since: None,
            until: None,
        }
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
                    retained: vec![3, 1, 1, 1]
                },
                Cohort {
                    cohort: d("2024-01-08"),
                    size: 2,
                    retained: vec![2, 1, 0, 0]
                },
            ]
        );
        // On or after: a returned last in week 3, b in week 2; c in its
        // period 1 and f in its period 6, past the last period shown.
        let r = e.retention(&req(true)).await.unwrap();
        assert_eq!(r.cohorts[0].retained, vec![3, 2, 2, 1]);
        assert_eq!(r.cohorts[1].retained, vec![2, 2, 1, 1]);
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
}
