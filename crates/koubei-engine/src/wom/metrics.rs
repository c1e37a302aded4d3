//! `koubei wom metrics`: share rate, the referral funnel, K-factor, and
//! referred customers beside the others. docs/metrics.md gives each count.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use chrono::{NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};

use super::Period;
use crate::cols::{f64s, i64s, money, money_units, opt_strings, sum_sorted};
use crate::{Engine, Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct MetricsRequest {
    pub by: Period,
    /// An order counts as shared when its buyer shares within this many days.
    pub share_window_days: u32,
    /// Also fit the standard CLV model and compare mean CLV.
    pub clv: bool,
    /// Also count the referral funnel over all shares, and by the share's
    /// channel (the dashboard draws the periods only and leaves it out).
    pub funnel: bool,
}

impl Default for MetricsRequest {
    fn default() -> Self {
        MetricsRequest {
            by: Period::Month,
            share_window_days: 7,
            clv: true,
            funnel: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PeriodMetrics {
    pub period: String,
    /// Customers with a paid order in the period.
    pub buyers: u64,
    pub orders: u64,
    /// Buyers of the period who shared in it.
    pub sharing_buyers: u64,
    /// sharing_buyers / buyers.
    pub customer_share_rate: f64,
    /// Paid orders whose buyer shared within the share window after them.
    pub shared_orders: u64,
    /// shared_orders / orders.
    pub order_share_rate: f64,
    pub shares: u64,
    /// Shares that brought a new customer.
    pub new_customers_from_shares: u64,
    /// Shares per buyer.
    pub invites_per_buyer: f64,
    /// Share of shares that brought a new customer.
    pub invite_conversion: f64,
    /// invites_per_buyer × invite_conversion.
    pub k_factor: f64,
    /// Customers whose first paid order fell in the period.
    pub new_customers: u64,
    /// Of those, how many had a referrer.
    pub referred_new_customers: u64,
    pub referred_share_of_new: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Funnel {
    pub shares: u64,
    /// Shares with a known recipient.
    pub with_recipient: u64,
    pub clicked: u64,
    /// Shares followed by the recipient's order.
    pub ordered: u64,
    /// Shares that brought a new customer.
    pub new_customers: u64,
    pub click_rate: f64,
    /// ordered / clicked.
    pub order_rate_after_click: f64,
    /// ordered / shares: the referral conversion rate.
    pub conversion_rate: f64,
    /// Days from the share to the recipient's first order, for new customers.
    pub days_to_order_mean: Option<f64>,
    pub days_to_order_median: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelMetrics {
    pub channel: String,
    pub shares: u64,
    pub sharers: u64,
    pub clicked: u64,
    pub ordered: u64,
    pub new_customers: u64,
    pub click_rate: f64,
    pub conversion_rate: f64,
    /// This channel's part of all shares.
    pub share_of_shares: f64,
}

/// Sharing after orders, by the order's channel (`orders.channel`).
#[derive(Debug, Clone, Serialize)]
pub struct OrderChannel {
    pub channel: String,
    pub orders: u64,
    /// Orders whose buyer shared within the share window after them.
    pub shared_orders: u64,
    pub order_share_rate: f64,
    pub buyers: u64,
    /// Buyers with at least one shared order in this channel.
    pub sharing_buyers: u64,
    pub customer_share_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cohort {
    /// "referred" or "not referred".
    pub group: &'static str,
    pub customers: u64,
    pub revenue: f64,
    pub revenue_per_customer: f64,
    pub orders_per_customer: f64,
    /// Customers with a second paid order on a later day.
    pub repeat_rate: f64,
    /// Of customers whose first order is at least 90 days before the last
    /// order in the data: the share who ordered again within 90 days.
    pub retained_90d: Option<f64>,
    /// Mean discounted CLV over a year (BG/NBD and Gamma–Gamma).
    pub mean_clv: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    pub by: Period,
    pub share_window_days: u32,
    /// Absent when the request left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funnel: Option<Funnel>,
    pub periods: Vec<PeriodMetrics>,
    /// By the share's channel (none when the funnel was left out).
    pub channels: Vec<ChannelMetrics>,
    /// By the order's channel.
    pub order_channels: Vec<OrderChannel>,
    pub referred: Vec<Cohort>,
    pub warnings: Vec<String>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn col_u64(b: &RecordBatch, i: usize) -> Result<Vec<u64>> {
    Ok(i64s(b.column(i))?
        .into_iter()
        .map(|v| v.unwrap_or(0).max(0) as u64)
        .collect())
}

impl Engine {
    pub async fn wom_metrics(&self, req: &MetricsRequest) -> Result<MetricsReport> {
        let started = std::time::Instant::now();
        let with_shares = self.shares();
        if self.referral_count().await? == 0 {
            return Err(Error::Request(
                "the referrals table is empty: import referrals first".into(),
            ));
        }
        let p = req.by;
        let w = req.share_window_days;
        // The funnel over all shares, and the same counts by channel.
        let funnel_sql = format!(
            "WITH {with_shares}
                 SELECT grouping(ch), ch, COUNT(*), COUNT(recipient_id),
                        SUM(CASE WHEN clicked THEN 1 ELSE 0 END),
                        SUM(CASE WHEN converted THEN 1 ELSE 0 END),
                        SUM(CASE WHEN new_customer THEN 1 ELSE 0 END),
                        SUM(CAST({lag} AS DECIMAL(38, 0))),
                        MEDIAN({lag}) / 86400e6,
                        COUNT(DISTINCT sharer_id), COUNT({lag})
                 FROM (SELECT *, COALESCE(channel, '') AS ch FROM sh)
                 GROUP BY GROUPING SETS ((), (ch))
                 ORDER BY 1 DESC, 3 DESC, 2",
            // Microseconds from a share to its new customer's first order,
            // summed exactly: a float sum's last digits followed the order
            // in which the threads added it up.
            lag = "CASE WHEN new_customer AND first_order IS NOT NULL
                   THEN CAST(first_order - ts AS BIGINT) END",
        );
        // Each paid order, flagged when its buyer shared within the window
        // after it; counted by the order's period and by its channel. Each
        // order meets its buyer's list of share times once (not once per
        // share), and a channel's buyers are its (channel, buyer) groups
        // rather than a distinct count.
        let flagged_sql = |po: &str| {
            format!(
            "WITH sl AS (SELECT sharer_id, array_agg(CAST(ts AS BIGINT)) AS times
                         FROM referrals WHERE sharer_id IS NOT NULL AND sharer_id <> ''
                         GROUP BY sharer_id),
                 flagged AS (SELECT po.customer_id, po.channel,
                                    CAST({trunc} AS DATE) AS period,
                                    CASE WHEN koubei_any_between(sl.times, CAST(po.ts AS BIGINT),
                                                                 CAST(po.ts AS BIGINT) + {window_us})
                                         THEN 1 ELSE 0 END AS shared
                             FROM {po} po LEFT JOIN sl ON sl.sharer_id = po.customer_id),
                 per AS (SELECT grouping(period) AS by_channel, period, channel,
                                COUNT(*) AS orders, SUM(shared) AS shared
                         FROM flagged GROUP BY GROUPING SETS ((period), (channel, customer_id)))
             SELECT by_channel, period, channel, SUM(orders), SUM(shared), COUNT(*),
                    SUM(CASE WHEN shared > 0 THEN 1 ELSE 0 END)
             FROM per GROUP BY by_channel, period, channel
             ORDER BY 1, 2, 4 DESC, 3",
            trunc = p.trunc_sql("po.ts"),
            window_us = i64::from(w) * crate::DAY_US,
            )
        };
        // Referred customers beside the others, by first-touch attribution:
        // each buyer's orders, revenue, first, second and last order: the
        // second is the first on a later day, found in the same grouping
        // (no join with each buyer's first order).
        let cohort_sql = |po: &str| {
            format!(
                "WITH c AS (SELECT po.customer_id, COUNT(*) AS orders, SUM(po.amount) AS revenue,
                               MIN(po.ts) AS first_ts,
                               koubei_next_after_min(po.ts, {day_us}) AS second_ts,
                               MAX(po.ts) AS last_ts
                        FROM {po} po GROUP BY po.customer_id)
             SELECT customer_id, orders, revenue, CAST(first_ts AS BIGINT),
                    CAST(second_ts AS BIGINT), CAST(last_ts AS BIGINT),
                    CAST({cohort} AS DATE) AS cohort
             FROM c",
                day_us = crate::DAY_US,
                cohort = p.trunc_sql("first_ts"),
            )
        };
        let per_order = async {
            // Each paid order once, kept per engine (see `paid_orders`).
            let po = self.paid_orders().await?;
            let (flagged, cohorts) = (flagged_sql(po), cohort_sql(po));
            let (flagged, cohorts) = tokio::try_join!(self.sql(&flagged), self.sql(&cohorts))?;
            Ok::<_, crate::Error>((flagged.1, cohorts.1))
        };
        let clv = async {
            if req.clv {
                Ok(Some(self.standard_clv_by_customer().await))
            } else {
                Ok(None)
            }
        };
        // Buyers, sharing buyers, shares and their new customers in each
        // period from the first paid order's to the last's: the overview's
        // counts (one definition of the share rate and K-factor).
        let span = self.paid_day_span().await?;
        let growth = async {
            match span {
                Some((first, last)) => {
                    let (since, until) =
                        (p.start(first), p.next(p.start(last)) - TimeDelta::days(1));
                    Ok(Some(self.sharing(&[], Some(((since, until), p))).await?))
                }
                None => Ok(None),
            }
        };
        // Independent: asked for at once, so that a small shop's answer
        // does not wait for each query's start in turn.
        let funnel_rows = async {
            match req.funnel {
                true => Ok(Some(self.sql(&funnel_sql).await?.1)),
                false => Ok::<_, Error>(None),
            }
        };
        let (funnel_rows, (flagged, cohorts), people, clv, growth) =
            tokio::try_join!(funnel_rows, per_order, self.people(), clv, growth)?;
        tracing::debug!(elapsed = ?started.elapsed(), "wom metrics queried");
        let funnel_of =
            |shares, with_recipient, clicked, ordered, new_customers, mean, median| Funnel {
                shares,
                with_recipient,
                clicked,
                ordered,
                new_customers,
                click_rate: ratio(clicked, shares),
                order_rate_after_click: ratio(ordered, clicked),
                conversion_rate: ratio(ordered, shares),
                days_to_order_mean: mean,
                days_to_order_median: median,
            };
        // No share with a sharer: no row at all, and no rate.
        let mut funnel = funnel_of(0, 0, 0, 0, 0, None, None);
        let mut channels = Vec::new();
        for b in funnel_rows.iter().flatten() {
            // grouping(ch) is 1 on the row of all shares.
            let whole = i64s(b.column(0))?;
            let name = opt_strings(b.column(1))?;
            let c: Vec<Vec<u64>> = [2, 3, 4, 5, 6, 9]
                .into_iter()
                .map(|i| col_u64(b, i))
                .collect::<Result<_>>()?;
            let lag_sum =
                arrow::compute::cast(b.column(7), &arrow::datatypes::DataType::Decimal128(38, 0))?;
            let lag_sum = lag_sum.as_primitive::<arrow::datatypes::Decimal128Type>();
            let lags = i64s(b.column(10))?;
            let mean: Vec<Option<f64>> = (0..b.num_rows())
                .map(|i| match lags[i] {
                    Some(n) if n > 0 && lag_sum.is_valid(i) => {
                        Some(lag_sum.value(i) as f64 / n as f64 / 86400e6)
                    }
                    _ => None,
                })
                .collect();
            let median = f64s(b.column(8))?;
            for i in 0..b.num_rows() {
                let (shares, with_recipient, clicked, ordered, new_customers, sharers) =
                    (c[0][i], c[1][i], c[2][i], c[3][i], c[4][i], c[5][i]);
                if whole[i] == Some(1) {
                    funnel = funnel_of(
                        shares,
                        with_recipient,
                        clicked,
                        ordered,
                        new_customers,
                        mean[i],
                        median[i],
                    );
                } else {
                    channels.push(ChannelMetrics {
                        channel: name[i].clone().unwrap_or_default(),
                        shares,
                        sharers,
                        clicked,
                        ordered,
                        new_customers,
                        click_rate: ratio(clicked, shares),
                        conversion_rate: ratio(ordered, shares),
                        share_of_shares: 0.0,
                    });
                }
            }
        }
        for c in &mut channels {
            c.share_of_shares = ratio(c.shares, funnel.shares);
        }

        // (period, orders, shared orders), in order.
        let mut order_periods: Vec<(NaiveDate, u64, u64)> = Vec::new();
        let mut order_channels = Vec::new();
        for b in &flagged {
            // grouping(period) is 1 on the rows by channel; on a row by
            // period, the last two counts are not read.
            let by_channel = i64s(b.column(0))?;
            let (period, channel) = (opt_strings(b.column(1))?, opt_strings(b.column(2))?);
            let c: Vec<Vec<u64>> = (3..7).map(|i| col_u64(b, i)).collect::<Result<_>>()?;
            for i in 0..b.num_rows() {
                if by_channel[i] == Some(0) {
                    let Some(day) = period[i].as_deref().and_then(|d| d.parse().ok()) else {
                        continue;
                    };
                    order_periods.push((day, c[0][i], c[1][i]));
                } else {
                    order_channels.push(OrderChannel {
                        channel: channel[i].clone().unwrap_or_default(),
                        orders: c[0][i],
                        shared_orders: c[1][i],
                        order_share_rate: ratio(c[1][i], c[0][i]),
                        buyers: c[2][i],
                        sharing_buyers: c[3][i],
                        customer_share_rate: ratio(c[3][i], c[2][i]),
                    });
                }
            }
        }

        let mut periods = Vec::new();
        if let Some(growth) = growth {
            let counts: HashMap<NaiveDate, &crate::growth::GrowthCounts> =
                growth.series.iter().map(|(d, g)| (*d, g)).collect();
            for (day, orders, shared) in order_periods {
                let g = counts.get(&day);
                let n = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
                let buyers = g.map_or(0, |g| n(Some(g.buyers)));
                let sharing = g.map_or(0, |g| n(g.sharing_buyers));
                let shares = g.map_or(0, |g| n(g.shares));
                let won = g.map_or(0, |g| n(g.new_customers_from_shares));
                periods.push(PeriodMetrics {
                    period: day.to_string(),
                    buyers,
                    orders,
                    sharing_buyers: sharing,
                    customer_share_rate: ratio(sharing, buyers),
                    shared_orders: shared,
                    order_share_rate: ratio(shared, orders),
                    shares,
                    new_customers_from_shares: won,
                    invites_per_buyer: ratio(shares, buyers),
                    invite_conversion: ratio(won, shares),
                    k_factor: ratio(won, buyers),
                    ..Default::default()
                });
            }
        }

        // Referred customers beside the others, by first-touch attribution.
        let referred: HashMap<&str, bool, foldhash::fast::RandomState> = people
            .ids
            .iter()
            .zip(&people.parent)
            .map(|(id, p)| (id.as_str(), p.is_some()))
            .collect();
        let mut warnings = Vec::new();
        let clv = match clv {
            Some(Ok(clv)) => clv,
            Some(Err(e)) => {
                warnings.push(format!("no CLV comparison: {e}"));
                Default::default()
            }
            None => Default::default(),
        };
        #[derive(Default)]
        struct Acc {
            n: u64,
            revenue: i128,
            orders: u64,
            repeated: u64,
            eligible: u64,
            retained: u64,
            clvs: Vec<f64>,
        }
        let mut acc = [Acc::default(), Acc::default()];
        // Each first-order period's new and referred new customers, by the
        // period's first day (days since 1970).
        let mut new_by_period: HashMap<i64, (u64, u64), foldhash::fast::RandomState> =
            HashMap::default();
        // The last paid order's time, which the 90 days must fit before.
        let mut last = None;
        for b in &cohorts {
            last = last.max(i64s(b.column(5))?.into_iter().flatten().max());
        }
        const DAYS_90: i64 = 90 * crate::DAY_US;
        // A row per buyer: the ids are read in place, not copied.
        for b in &cohorts {
            let ids = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
            let id = ids.as_string::<i32>();
            let orders = col_u64(b, 1)?;
            let revenue = money_units(b.column(2))?;
            let (first, second) = (i64s(b.column(3))?, i64s(b.column(4))?);
            let cohort = i64s(b.column(6))?;
            for i in 0..b.num_rows() {
                let r = referred.get(id.value(i)).copied().unwrap_or(false);
                let a = &mut acc[usize::from(!r)];
                a.n += 1;
                a.revenue += revenue[i].unwrap_or(0);
                a.orders += orders[i];
                // A second paid order on a later day; within 90 days of the
                // first, for buyers whose first is 90 days before the last.
                a.repeated += u64::from(second[i].is_some());
                if let (Some(f), Some(l)) = (first[i], last)
                    && f <= l - DAYS_90
                {
                    a.eligible += 1;
                    a.retained += u64::from(second[i].is_some_and(|s| s < f + DAYS_90));
                }
                if let Some(v) = clv.get(id.value(i)).filter(|v| v.is_finite()) {
                    a.clvs.push(*v);
                }
                if let Some(c) = cohort[i] {
                    let e = new_by_period.entry(c).or_default();
                    e.0 += 1;
                    e.1 += u64::from(r);
                }
            }
        }
        for pm in &mut periods {
            let key = pm.period.parse().ok().map(crate::clv::epoch_day);
            let (n, r) = key
                .and_then(|k| new_by_period.get(&k).copied())
                .unwrap_or_default();
            pm.new_customers = n;
            pm.referred_new_customers = r;
            pm.referred_share_of_new = ratio(r, n);
        }
        let referred = ["referred", "not referred"]
            .into_iter()
            .zip(acc)
            .map(|(group, a)| Cohort {
                group,
                customers: a.n,
                revenue: money(a.revenue),
                revenue_per_customer: money(a.revenue) / a.n.max(1) as f64,
                orders_per_customer: a.orders as f64 / a.n.max(1) as f64,
                repeat_rate: ratio(a.repeated, a.n),
                retained_90d: (a.eligible > 0).then(|| ratio(a.retained, a.eligible)),
                mean_clv: (!a.clvs.is_empty()).then(|| {
                    let n = a.clvs.len() as f64;
                    sum_sorted(a.clvs) / n
                }),
            })
            .collect();
        tracing::debug!(elapsed = ?started.elapsed(), "wom metrics counted");
        Ok(MetricsReport {
            by: req.by,
            share_window_days: w,
            funnel: funnel_rows.is_some().then_some(funnel),
            periods,
            channels,
            order_channels,
            referred,
            warnings,
        })
    }
}
