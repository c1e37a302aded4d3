//! The overview: each headline number over a date range, against the range
//! just before it and the same range a year before, with its series for a
//! sparkline. The dashboard's first page and the report's first section.

use crate::Op;
use chrono::{Months, NaiveDate, TimeDelta};
use koubei_engine::growth::{Growth, GrowthCounts};
use koubei_engine::sales::{Period, SalesRequest, SalesTotals};
use koubei_engine::satisfaction::Csat;
use koubei_store::Workspace;
use serde::{Deserialize, Serialize};

use crate::Error;

/// What `overview` shows.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct OverviewRequest {
    /// First day included (default: 29 days before `until`, so 30 days).
    pub since: Option<NaiveDate>,
    /// Last day included (default: the last paid order's day).
    pub until: Option<NaiveDate>,
    /// The sparklines' period (default: day for up to 62 days, week for up
    /// to a year, month beyond).
    pub by: Option<Period>,
    /// Which cards: all, or only the sales cards or only the growth cards
    /// (conversion, share rate, K-factor), so that a page can draw the
    /// quick ones first.
    pub cards: Cards,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cards {
    #[default]
    All,
    Sales,
    Growth,
}

/// A range of days, both ends included.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Range {
    pub since: NaiveDate,
    pub until: NaiveDate,
}

/// One headline number.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Kpi {
    pub key: &'static str,
    pub label: &'static str,
    /// money, count or share.
    pub unit: &'static str,
    /// None when it is undefined (an average over no orders).
    pub value: Option<f64>,
    pub previous: Option<f64>,
    /// value ÷ previous − 1.
    pub change: Option<f64>,
    pub year_before: Option<f64>,
    /// value ÷ year_before − 1.
    pub yoy: Option<f64>,
    /// The value in each period of the range, for a sparkline.
    pub series: Vec<Point>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub period: NaiveDate,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OverviewReport {
    pub range: Range,
    pub previous: Range,
    pub year_before: Range,
    pub by: Period,
    pub kpis: Vec<Kpi>,
}

/// A range's (or a period's) sales and growth counts.
#[derive(Default)]
struct Totals {
    sales: SalesTotals,
    growth: GrowthCounts,
    csat: Csat,
}

/// Each KPI: its key, label, unit, which cards it is one of, and how it is
/// read from a range's totals. One list, so the cards, the comparison and
/// the sparkline agree.
type Read = fn(&Totals) -> Option<f64>;
const KPIS: &[(&str, &str, &str, Cards, Read)] = &[
    ("revenue", "Revenue", "money", Cards::Sales, |t| {
        Some(t.sales.measures.revenue)
    }),
    ("orders", "Orders", "count", Cards::Sales, |t| {
        Some(t.sales.measures.orders as f64)
    }),
    ("buyers", "Buyers", "count", Cards::Sales, |t| {
        Some(t.sales.measures.buyers as f64)
    }),
    (
        "average_order_value",
        "Average order value",
        "money",
        Cards::Sales,
        |t| t.sales.measures.average_order_value,
    ),
    (
        "units_per_order",
        "Units per order",
        "number",
        Cards::Sales,
        |t| t.sales.measures.units_per_order,
    ),
    ("new_buyers", "New buyers", "count", Cards::Sales, |t| {
        Some(t.sales.measures.new_buyers as f64)
    }),
    (
        "repeat_rate",
        "Repeat buyer rate",
        "share",
        Cards::Sales,
        |t| per(Some(t.sales.repeat_buyers), Some(t.sales.measures.buyers)),
    ),
    (
        "conversion_rate",
        "Conversion rate",
        "share",
        Cards::Growth,
        |t| per(t.growth.converted_visitors, t.growth.visitors),
    ),
    ("share_rate", "Share rate", "share", Cards::Growth, |t| {
        per(t.growth.sharing_buyers, Some(t.growth.buyers))
    }),
    ("k_factor", "K-factor", "number", Cards::Growth, |t| {
        per(t.growth.new_customers_from_shares, Some(t.growth.buyers))
    }),
    ("csat", "CSAT (4–5★)", "share", Cards::Growth, |t| {
        t.csat.share()
    }),
];

/// a ÷ b, None when either is unknown or b is 0.
fn per(a: Option<i64>, b: Option<i64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

/// The overview's default range, which every dashboard page starts from:
/// the 30 days to the last paid order. None when there is no paid order.
#[inline(never)]
pub fn default_range<'a>(ws: &'a Workspace) -> Op<'a, Option<Range>> {
    Box::pin(async move {
        let engine = crate::engines::engine(ws).await?;
        Ok(engine.last_paid_day().await?.map(|until| Range {
            since: default_since(until),
            until,
        }))
    })
}

fn default_since(until: NaiveDate) -> NaiveDate {
    until - TimeDelta::days(29)
}

#[inline(never)]
pub fn overview<'a>(ws: &'a Workspace, req: &'a OverviewRequest) -> Op<'a, OverviewReport> {
    Box::pin(async move {
        let engine = crate::engines::engine(ws).await?;
        let until = match req.until {
            Some(u) => u,
            None => engine.last_paid_day().await?.ok_or_else(|| {
                Error::Request("there are no paid orders: import orders first".into())
            })?,
        };
        let since = req.since.unwrap_or_else(|| default_since(until));
        if since > until {
            return Err(Error::invalid(
                "since",
                format!("{since} is after until ({until})"),
            ));
        }
        let days = (until - since).num_days() + 1;
        let previous = Range {
            since: since - TimeDelta::days(days),
            until: since - TimeDelta::days(1),
        };
        let year = |d: NaiveDate| d.checked_sub_months(Months::new(12)).unwrap_or(d);
        let year_before = Range {
            since: year(since),
            until: year(until),
        };
        let by = req.by.unwrap_or(match days {
            ..=62 => Period::Day,
            63..=366 => Period::Week,
            _ => Period::Month,
        });
        // Independent queries, run together: each leaves cores idle in its
        // single-threaded phases.
        let series = SalesRequest {
            by,
            since: Some(since),
            until: Some(until),
            ..SalesRequest::default()
        };
        let engine = &engine;
        let (sales, growth) = (req.cards != Cards::Growth, req.cards != Cards::Sales);
        let ranges = [Range { since, until }, previous, year_before];
        if sales && growth {
            // The sales totals, the trend and the growth counts below, from
            // one pass over the stored activity.
            engine
                .overview_ahead(
                    &ranges.map(|r| (r.since, r.until)),
                    &series,
                    Some(((since, until), by)),
                )
                .await?;
        }
        // The three ranges' and the series' growth counts in one pass per table.
        let (sales_totals, trend, growth_counts, (csat, csat_series)) = futures::try_join!(
            async {
                match sales {
                    true => {
                        engine
                            .sales_totals_of(&ranges.map(|r| (Some(r.since), Some(r.until))))
                            .await
                    }
                    false => Ok(vec![SalesTotals::default(); 3]),
                }
            },
            async {
                match sales {
                    true => engine.sales_trend(&series).await,
                    false => Ok(Vec::new()),
                }
            },
            async {
                match growth {
                    true => {
                        engine
                            .growth(
                                &ranges.map(|r| (r.since, r.until)),
                                Some(((since, until), by)),
                            )
                            .await
                    }
                    false => Ok(Growth {
                        ranges: vec![GrowthCounts::default(); 3],
                        series: Vec::new(),
                    }),
                }
            },
            async {
                match growth {
                    true => {
                        engine
                            .csat_of(
                                &ranges.map(|r| (r.since, r.until)),
                                Some(((since, until), by)),
                            )
                            .await
                    }
                    false => Ok((vec![Csat::default(); 3], Vec::new())),
                }
            },
        )?;
        let growth_series = growth_counts.series;
        let [now, before, last_year] = growth_counts
            .ranges
            .into_iter()
            .zip(sales_totals)
            .zip(csat)
            .map(|((growth, sales), csat)| Totals {
                sales,
                growth,
                csat,
            })
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| Error::Request("three ranges' totals".into()))?;
        // The series: each period's own measures (the sales report already
        // starts at `since`'s period), with its growth counts.
        let mut periods: std::collections::BTreeMap<NaiveDate, Totals> = trend
            .into_iter()
            .map(|r| {
                let t = Totals {
                    sales: SalesTotals {
                        measures: r.measures,
                        repeat_buyers: 0,
                    },
                    growth: GrowthCounts::default(),
                    csat: Csat::default(),
                };
                (r.period, t)
            })
            .collect();
        for (p, g) in growth_series {
            periods.entry(p).or_default().growth = g;
        }
        for (p, c) in csat_series {
            periods.entry(p).or_default().csat = c;
        }
        // CSAT once there are reviews: a shop without ratings has no such card.
        let rated = [&now, &before, &last_year].iter().any(|t| t.csat.rated > 0);
        let kpis = KPIS
            .iter()
            .filter(|k| req.cards == Cards::All || req.cards == k.3)
            .filter(|k| k.0 != "csat" || rated)
            .map(|(key, label, unit, _, read)| {
                let value = read(&now);
                let previous = read(&before);
                let year_before = read(&last_year);
                // A period's repeat rate would need its own totals: no sparkline.
                let series = if *key == "repeat_rate" {
                    Vec::new()
                } else {
                    periods
                        .iter()
                        .map(|(period, t)| Point {
                            period: *period,
                            value: read(t),
                        })
                        .collect()
                };
                Kpi {
                    key,
                    label,
                    unit,
                    value,
                    previous,
                    change: ratio(value, previous),
                    year_before,
                    yoy: ratio(value, year_before),
                    series,
                }
            })
            .collect();
        Ok(OverviewReport {
            range: Range { since, until },
            previous,
            year_before,
            by,
            kpis,
        })
    })
}

fn ratio(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (value, base) {
        (Some(v), Some(b)) if b != 0.0 => Some(v / b - 1.0),
        _ => None,
    }
}
