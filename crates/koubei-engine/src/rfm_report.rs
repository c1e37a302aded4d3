//! The report of `koubei rfm`: each segment's customers, revenue and mean
//! CLV, and the migration between two dates. It sits above both RFM and the
//! CLV report, which it joins.

use chrono::NaiveDate;
use serde::Serialize;

use crate::cols::{money, money_units_of};
use crate::customers::RFM_AGGREGATE;
use crate::rfm::{CustomerRfm, SEGMENTS, rfm_rows};
use crate::{Engine, Error, Result};

/// One segment's share of the customers and the revenue.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentRow {
    pub segment: &'static str,
    pub customers: usize,
    pub share: f64,
    pub revenue: f64,
    pub revenue_share: f64,
    /// Mean CLV of its customers (BG/NBD with Gamma–Gamma over one year at
    /// 10%), when the models could be fitted.
    pub avg_clv: Option<f64>,
}

/// The report of `koubei rfm`.
#[derive(Clone, Debug, Serialize)]
pub struct RfmReport {
    pub as_of: NaiveDate,
    pub customers: usize,
    pub segments: Vec<SegmentRow>,
    /// With a second date: how many customers moved from each segment (as of
    /// `from`) to each segment (as of `as_of`); customers new since are "(new)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
    #[serde(skip)]
    pub per_customer: Vec<(CustomerRfm, Option<f64>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Migration {
    pub from: NaiveDate,
    /// (from segment, to segment, customers), for every pair with customers.
    pub moves: Vec<(String, String, usize)>,
}

/// Each customer's value from `values`, or `None` where it has none. Both
/// come in id order (the RFM query's ORDER BY and the CLV summary's sort
/// compare bytes), so one pass pairs them; a hash map by id, should either
/// not be in order, does the same.
fn paired<'a>(
    rows: &[CustomerRfm],
    values: impl Iterator<Item = (&'a str, f64)>,
) -> Vec<Option<f64>> {
    let values: Vec<(&str, f64)> = values.collect();
    let ordered = rows.windows(2).all(|w| w[0].customer_id < w[1].customer_id)
        && values.windows(2).all(|w| w[0].0 < w[1].0);
    if !ordered {
        let by_id: std::collections::HashMap<&str, f64> = values.into_iter().collect();
        return rows
            .iter()
            .map(|c| by_id.get(c.customer_id.as_str()).copied())
            .collect();
    }
    let mut next = values.into_iter().peekable();
    rows.iter()
        .map(|c| {
            while next
                .next_if(|(id, _)| *id < c.customer_id.as_str())
                .is_some()
            {}
            next.next_if(|(id, _)| *id == c.customer_id.as_str())
                .map(|(_, v)| v)
        })
        .collect()
}

impl Engine {
    /// RFM segments as of a date, with their revenue and mean CLV, and the
    /// migration from an earlier date.
    pub async fn rfm_report(
        &self,
        as_of: Option<NaiveDate>,
        from: Option<NaiveDate>,
    ) -> Result<RfmReport> {
        let started = std::time::Instant::now();
        let asked = as_of;
        // The RFM values and the summary of the CLV beside them come from one
        // pass over the orders: both aggregates in one GROUP BY customer.
        // Unless a date was asked for, the calibration ends on the day of the
        // last paid order, which is `as_of`: left unset, the summary finds it
        // from its own rows. Where no summary can be made (a date before the
        // first order), RFM alone.
        let req = crate::clv_report::ClvRequest::standard(asked);
        let (as_of, rows, clv) = match self.clv_summary_and(&req.summary, RFM_AGGREGATE).await {
            Ok((summary, batches, order)) => {
                let (as_of, rows) = rfm_rows(&batches, &order, 2, asked)?;
                drop(batches);
                tracing::debug!(elapsed = ?started.elapsed(), customers = rows.len(), "rfm scored");
                let clv = crate::clv_report::clv_of_summary(&req, summary, started)
                    .ok()
                    .filter(|r| r.spend.is_some());
                (as_of, rows, clv)
            }
            Err(_) => {
                let (as_of, rows) = self.rfm(asked).await?;
                (as_of, rows, None)
            }
        };
        if let Some(f) = from
            && f >= as_of
        {
            return Err(Error::Request(format!(
                "the migration's start {f} must be before {as_of}"
            )));
        }
        let clv_of = clv.as_ref().map_or_else(
            || vec![None; rows.len()],
            |r| paired(&rows, r.customers().map(|(id, c)| (id, c.clv))),
        );
        tracing::debug!(elapsed = ?started.elapsed(), "rfm clv valued");
        // Revenue in exact units: each customer's is an exact sum, and so is
        // each segment's.
        let total_revenue: i128 = rows.iter().map(|c| money_units_of(c.monetary)).sum();
        let n = rows.len();
        // Customers, revenue, and the sum and count of CLVs, per segment, in
        // one pass over the customers in order.
        let mut per = vec![(0usize, 0i128, 0.0, 0usize); SEGMENTS.len()];
        for (c, v) in rows.iter().zip(&clv_of) {
            if let Some(k) = SEGMENTS.iter().position(|s| *s == c.segment) {
                let p = &mut per[k];
                p.0 += 1;
                p.1 += money_units_of(c.monetary);
                if let Some(v) = v {
                    p.2 += v;
                    p.3 += 1;
                }
            }
        }
        let segments = SEGMENTS
            .iter()
            .zip(per)
            .map(|(&s, (customers, revenue, clv_sum, clvs))| SegmentRow {
                segment: s,
                customers,
                share: customers as f64 / n.max(1) as f64,
                revenue: money(revenue),
                revenue_share: if total_revenue > 0 {
                    revenue as f64 / total_revenue as f64
                } else {
                    0.0
                },
                avg_clv: (clv.is_some() && clvs > 0).then(|| clv_sum / clvs as f64),
            })
            .collect();
        tracing::debug!(elapsed = ?started.elapsed(), "rfm segments");
        let migration = match from {
            None => None,
            Some(f) => {
                let (_, before) = self.rfm(Some(f)).await?;
                let was: std::collections::HashMap<&str, &str> = before
                    .iter()
                    .map(|c| (c.customer_id.as_str(), c.segment))
                    .collect();
                let mut counts: std::collections::BTreeMap<(usize, usize), usize> =
                    Default::default();
                let pos = |s: &str| {
                    SEGMENTS
                        .iter()
                        .position(|x| *x == s)
                        .unwrap_or(SEGMENTS.len())
                };
                for c in &rows {
                    let from = was
                        .get(c.customer_id.as_str())
                        .map_or(SEGMENTS.len(), |s| pos(s));
                    *counts.entry((from, pos(c.segment))).or_default() += 1;
                }
                let name = |i: usize| {
                    SEGMENTS
                        .get(i)
                        .map_or("(new)".to_string(), |s| s.to_string())
                };
                Some(Migration {
                    from: f,
                    moves: counts
                        .into_iter()
                        .map(|((a, b), n)| (name(a), name(b), n))
                        .collect(),
                })
            }
        };
        let per_customer = rows.into_iter().zip(clv_of).collect();
        tracing::debug!(elapsed = ?started.elapsed(), "rfm report");
        Ok(RfmReport {
            as_of,
            customers: n,
            segments,
            migration,
            per_customer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfm::segment;

    /// Values pair with the customers of the same id, in order or not, and
    /// customers without one get none.
    #[test]
    fn values_pair_by_id() {
        let row = |id: &str| CustomerRfm {
            customer_id: id.into(),
            recency_days: 0,
            frequency: 1,
            monetary: 1.0,
            r: 1,
            f: 1,
            m: 1,
            segment: segment(1, 1),
        };
        let rows: Vec<CustomerRfm> = ["a", "b", "d", "e"].map(row).into();
        let values = [("0", 9.0), ("b", 2.0), ("c", 3.0), ("e", 5.0), ("f", 6.0)];
        let want = vec![None, Some(2.0), None, Some(5.0)];
        assert_eq!(paired(&rows, values.into_iter()), want);
        // Out of order: by id all the same.
        let shuffled = [values[3], values[0], values[4], values[1], values[2]];
        assert_eq!(paired(&rows, shuffled.into_iter()), want);
    }
}
