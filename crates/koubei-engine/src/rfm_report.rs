//! The report of `koubei rfm`: each segment's customers, revenue and mean
//! CLV, and the migration between two dates. It sits above both RFM and the
//! CLV report, which it joins.

use std::sync::Arc;

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
    /// Shared, not copied, by the requests that read it.
    #[serde(skip)]
    pub per_customer: std::sync::Arc<Vec<(CustomerRfm, Option<f64>)>>,
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
        // As of the last paid day, scored once per engine.
        let latest = if self.is_latest(as_of).await? {
            let latest = self
                .latest
                .rfm
                .get_or_try_init(|| async {
                    Ok::<_, Error>(Arc::new(self.rfm_scored(None).await?))
                })
                .await?;
            // A day given is the day found.
            as_of
                .is_none_or(|d| latest.as_of == d)
                .then(|| Arc::clone(latest))
        } else {
            None
        };
        let mut report = match latest {
            Some(r) => (*r).clone(),
            None => self.rfm_scored(as_of).await?,
        };
        if let Some(f) = from {
            if f >= report.as_of {
                return Err(Error::Request(format!(
                    "the migration's start {f} must be before {}",
                    report.as_of
                )));
            }
            report.migration = Some(self.rfm_migration(&report.per_customer, f).await?);
        }
        Ok(report)
    }

    /// The segments as of a date, without a migration.
    async fn rfm_scored(&self, asked: Option<NaiveDate>) -> Result<RfmReport> {
        let started = std::time::Instant::now();
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
                // As of the last paid day, the standard model's report is
                // kept for the other reports that show it (see
                // `Engine::standard_clv`); made here from this pass's summary
                // when none has been made yet.
                let clv = match self.latest.clv.get() {
                    Some(kept) if asked.is_none() => Some(Arc::clone(kept)),
                    _ => crate::clv_report::clv_of_summary(&req, summary, started)
                        .ok()
                        .map(|r| {
                            let r = Arc::new(r);
                            if asked.is_none() {
                                // Another request may have kept one meanwhile:
                                // the same report.
                                let _ = self.latest.clv.set(Arc::clone(&r));
                            }
                            r
                        }),
                }
                .filter(|r| r.spend.is_some());
                (as_of, rows, clv)
            }
            Err(_) => {
                let (as_of, rows) = self.rfm(asked).await?;
                (as_of, rows, None)
            }
        };
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
        let per_customer = Arc::new(rows.into_iter().zip(clv_of).collect());
        tracing::debug!(elapsed = ?started.elapsed(), "rfm report");
        Ok(RfmReport {
            as_of,
            customers: n,
            segments,
            migration: None,
            per_customer,
        })
    }

    /// How many customers moved from each segment as of `from` to their
    /// segment in `rows`.
    async fn rfm_migration(
        &self,
        rows: &[(CustomerRfm, Option<f64>)],
        from: NaiveDate,
    ) -> Result<Migration> {
        let (_, before) = self.rfm(Some(from)).await?;
        let was: std::collections::HashMap<&str, &str> = before
            .iter()
            .map(|c| (c.customer_id.as_str(), c.segment))
            .collect();
        let mut counts: std::collections::BTreeMap<(usize, usize), usize> = Default::default();
        let pos = |s: &str| {
            SEGMENTS
                .iter()
                .position(|x| *x == s)
                .unwrap_or(SEGMENTS.len())
        };
        for (c, _) in rows {
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
        Ok(Migration {
            from,
            moves: counts
                .into_iter()
                .map(|((a, b), n)| (name(a), name(b), n))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfm::segment;

    /// A shop of 300 customers over 2024, simulated as BG/NBD supposes:
    /// each buys at their own rate until, after some purchase, they leave;
    /// spends vary around each customer's own mean. Enough for the CLV
    /// models to fit.
    fn shop() -> String {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut uniform = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut csv = String::from("order_id,customer_id,ts,amount,status\n");
        let mut n = 0;
        for c in 0..300 {
            let rate = 0.01 + 0.08 * uniform();
            let mean = 20.0 + 80.0 * uniform();
            let mut day = (200.0 * uniform()) as i64;
            while day < 365 {
                n += 1;
                let date = NaiveDate::from_yo_opt(2024, 1 + day as u32).unwrap();
                let amount = mean * (0.5 + uniform());
                csv += &format!("o{n},c{c:03},{date}T10:00:00Z,{amount:.2},paid\n");
                if uniform() < 0.2 {
                    break;
                }
                day += 1 + (-uniform().max(1e-9).ln() / rate) as i64;
            }
        }
        csv
    }

    /// The RFM report and the standard CLV report as of the last paid day
    /// are made once per engine, whichever comes first and however the day
    /// is asked (none, or that day), and are those made afresh; a report as
    /// of another day is made for it.
    #[tokio::test]
    async fn latest_reports_kept_once_and_unchanged() {
        use crate::clv_report::ClvRequest;
        let (_dir, rfm_first) = crate::test_engine(koubei_schema::TableKind::Orders, &shop()).await;
        let ws = rfm_first.ws.clone();
        let fresh = || async { Engine::open(&ws).await.unwrap() };
        let last = rfm_first.last_paid_day().await.unwrap().unwrap();
        let earlier = last.pred_opt().unwrap().pred_opt().unwrap();
        let standard = ClvRequest::standard(None);
        let dbg = |x: &dyn std::fmt::Debug| format!("{x:?}");

        // Made afresh, not kept.
        let made = fresh().await;
        let clv_made = made.clv_fitted(&standard).await.unwrap();
        assert!(clv_made.spend.is_some() && clv_made.per_customer.len() == 300);
        let clv_made = dbg(&clv_made);
        let rfm_made = dbg(&made.rfm_scored(Some(last)).await.unwrap());
        assert!(made.latest.rfm.get().is_none() && made.latest.clv.get().is_none());
        // As of the last paid day, its pass's summary makes the CLV report
        // kept.
        assert_eq!(dbg(&made.rfm_scored(None).await.unwrap()), rfm_made);
        assert!(made.latest.rfm.get().is_none());
        assert_eq!(dbg(made.latest.clv.get().unwrap()), clv_made);

        // RFM first: its pass's summary makes the CLV report that is kept.
        assert_eq!(
            dbg(&rfm_first.rfm_report(None, None).await.unwrap()),
            rfm_made
        );
        assert!(rfm_first.latest.rfm.get().is_some() && rfm_first.latest.clv.get().is_some());
        assert_eq!(dbg(&rfm_first.clv(&standard).await.unwrap()), clv_made);
        let on_day = ClvRequest::standard(Some(last));
        assert_eq!(dbg(&rfm_first.clv(&on_day).await.unwrap()), clv_made);
        // The same day asked: the kept report.
        assert_eq!(
            dbg(&rfm_first.rfm_report(Some(last), None).await.unwrap()),
            rfm_made
        );

        // CLV first, then RFM as of that day.
        let clv_first = fresh().await;
        assert_eq!(dbg(&clv_first.clv(&on_day).await.unwrap()), clv_made);
        assert_eq!(
            dbg(&clv_first.rfm_report(Some(last), None).await.unwrap()),
            rfm_made
        );
        // Without every customer's values, the same report less them.
        let mut bare = standard.clone();
        bare.per_customer = false;
        let r = clv_first.clv(&bare).await.unwrap();
        assert!(r.per_customer.is_empty() && r.total_clv > 0.0);
        assert_eq!(dbg(&r), dbg(&made.clv_fitted(&bare).await.unwrap()));

        // Another day, or another model, is made for it, not read from what
        // is kept.
        for engine in [&rfm_first, &clv_first] {
            let other = fresh().await;
            assert_eq!(
                dbg(&engine.rfm_report(Some(earlier), None).await.unwrap()),
                dbg(&other.rfm_scored(Some(earlier)).await.unwrap())
            );
            let before = ClvRequest::standard(Some(earlier));
            let r = engine.clv(&before).await.unwrap();
            assert_eq!(r.calibration_end, Some(earlier));
            assert_eq!(dbg(&r), dbg(&other.clv_fitted(&before).await.unwrap()));
            let mut pareto = standard.clone();
            pareto.model = crate::clv_report::ModelKind::Pareto;
            assert_eq!(
                dbg(&engine.clv(&pareto).await.unwrap()),
                dbg(&other.clv_fitted(&pareto).await.unwrap())
            );
        }
        // A migration on top of the kept report.
        let moved = rfm_first.rfm_report(None, Some(earlier)).await.unwrap();
        let m = moved.migration.expect("a migration");
        assert_eq!(m.from, earlier);
        assert_eq!(m.moves.iter().map(|(_, _, n)| n).sum::<usize>(), 300);
        assert!(rfm_first.rfm_report(None, Some(last)).await.is_err());
    }

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
