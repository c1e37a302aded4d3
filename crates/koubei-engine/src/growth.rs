//! The growth counts of a date range beside its sales: visitors and how
//! many of them bought (conversion), and the buyers who shared and the new
//! customers their shares brought (share rate, K-factor). The overview's
//! cards; `docs/metrics.md` defines each.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use chrono::{DateTime, NaiveDate};
use serde::Serialize;

use crate::cols::i64s;
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

impl Engine {
    /// The growth counts from `since` to `until` (days, UTC), for the whole
    /// range when `by` is None, else for each of its periods.
    pub async fn growth(
        &self,
        since: NaiveDate,
        until: NaiveDate,
        by: Option<Period>,
    ) -> Result<Vec<(Option<NaiveDate>, GrowthCounts)>> {
        let period = |col: &str| match by {
            Some(p) => format!("date_trunc('{}', {col})", p.sql()),
            None => "CAST(NULL AS TIMESTAMP)".to_string(),
        };
        let (has_events, has_referrals) =
            futures::try_join!(self.has_rows("events"), self.has_rows("referrals"))?;
        let buyers = format!(
            "b AS (SELECT DISTINCT {p} AS period, customer_id FROM orders
                   WHERE status = 'paid' AND customer_id IS NOT NULL AND {range})",
            p = period("ts"),
            range = crate::ts_in_days("ts", Some(since), Some(until)),
        );
        let visits = format!(
            "WITH {buyers},
             v AS (SELECT DISTINCT {p} AS period, customer_id,
                          CASE WHEN customer_id IS NULL THEN anonymous_id END AS anonymous_id
                   FROM events WHERE {range})
             SELECT v.period, count(*), count(b.customer_id)
             FROM v LEFT JOIN b ON b.customer_id = v.customer_id
               AND b.period IS NOT DISTINCT FROM v.period
             GROUP BY v.period",
            p = period("ts"),
            range = crate::ts_in_days("ts", Some(since), Some(until)),
        );
        let shares = format!(
            "WITH {buyers}, {with_shares},
             s AS (SELECT {p} AS period, sharer_id, new_customer FROM sh WHERE {range})
             SELECT s.period,
                    count(DISTINCT CASE WHEN b.customer_id IS NOT NULL THEN s.sharer_id END),
                    count(*), sum(CASE WHEN s.new_customer THEN 1 ELSE 0 END)
             FROM s LEFT JOIN b ON b.customer_id = s.sharer_id
               AND b.period IS NOT DISTINCT FROM s.period
             GROUP BY s.period",
            with_shares = self.shares(),
            p = period("sh.ts"),
            range = crate::ts_in_days("sh.ts", Some(since), Some(until)),
        );
        let nothing = || async { Ok((None, Vec::new())) };
        let buyer_counts = format!("WITH {buyers} SELECT period, count(*) FROM b GROUP BY period");
        let (visits, shares, buyer_counts) = futures::try_join!(
            async {
                if has_events {
                    self.sql(&visits).await.map(|(s, b)| (Some(s), b))
                } else {
                    nothing().await
                }
            },
            async {
                if has_referrals {
                    self.sql(&shares).await.map(|(s, b)| (Some(s), b))
                } else {
                    nothing().await
                }
            },
            self.sql(&buyer_counts)
        )?;
        let mut out: std::collections::BTreeMap<Option<NaiveDate>, GrowthCounts> =
            Default::default();
        let zero = GrowthCounts {
            buyers: 0,
            visitors: has_events.then_some(0),
            converted_visitors: has_events.then_some(0),
            sharing_buyers: has_referrals.then_some(0),
            shares: has_referrals.then_some(0),
            new_customers_from_shares: has_referrals.then_some(0),
        };
        // The whole range has its row even where nothing happened.
        if by.is_none() {
            out.insert(None, zero.clone());
        }
        for b in &buyer_counts.1 {
            let days = period_days(b.column(0))?;
            let n = i64s(b.column(1))?;
            for (i, day) in days.into_iter().enumerate() {
                out.entry(day).or_insert_with(|| zero.clone()).buyers = n[i].unwrap_or(0);
            }
        }
        for b in &visits.1 {
            let days = period_days(b.column(0))?;
            let (n, c) = (i64s(b.column(1))?, i64s(b.column(2))?);
            for (i, day) in days.into_iter().enumerate() {
                let row = out.entry(day).or_insert_with(|| zero.clone());
                row.visitors = Some(n[i].unwrap_or(0));
                row.converted_visitors = Some(c[i].unwrap_or(0));
            }
        }
        for b in &shares.1 {
            let days = period_days(b.column(0))?;
            let (sb, n, won) = (i64s(b.column(1))?, i64s(b.column(2))?, i64s(b.column(3))?);
            for (i, day) in days.into_iter().enumerate() {
                let row = out.entry(day).or_insert_with(|| zero.clone());
                row.sharing_buyers = Some(sb[i].unwrap_or(0));
                row.shares = Some(n[i].unwrap_or(0));
                row.new_customers_from_shares = Some(won[i].unwrap_or(0));
            }
        }
        Ok(out.into_iter().collect())
    }

    async fn has_rows(&self, table: &str) -> Result<bool> {
        let (_, b) = self.sql(&format!("SELECT 1 FROM {table} LIMIT 1")).await?;
        Ok(b.iter().any(|b| b.num_rows() > 0))
    }
}

/// A column of period starts (or nulls, for a whole range) as days.
fn period_days(a: &dyn Array) -> Result<Vec<Option<NaiveDate>>> {
    let t = cast(
        a,
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
    )?;
    let t = t.as_primitive::<TimestampMicrosecondType>();
    Ok((0..t.len())
        .map(|i| {
            (!t.is_null(i))
                .then(|| DateTime::from_timestamp_micros(t.value(i)).map(|d| d.date_naive()))
                .flatten()
        })
        .collect())
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
            .growth(day("2024-01-01"), day("2024-01-31"), None)
            .await
            .unwrap();
        let want = GrowthCounts {
            buyers: 3,
            visitors: Some(3),
            converted_visitors: Some(1),
            sharing_buyers: Some(1),
            shares: Some(3),
            new_customers_from_shares: Some(1),
        };
        assert_eq!(jan, [(None, want)]);
        // By month over both: February's visitor c2 bought in February.
        let months = engine
            .growth(day("2024-01-01"), day("2024-02-29"), Some(Period::Month))
            .await
            .unwrap();
        assert_eq!(months.len(), 2);
        assert_eq!(months[1].0, Some(day("2024-02-01")));
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
            .growth(day("2024-01-01"), day("2024-01-31"), None)
            .await
            .unwrap();
        let want = GrowthCounts {
            buyers: 1,
            ..GrowthCounts::default()
        };
        assert_eq!(g, [(None, want)]);
    }
}
