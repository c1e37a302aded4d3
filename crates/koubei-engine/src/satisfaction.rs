//! Satisfaction (满意度) from the shop's reviews: ratings, sentiment and
//! the service dimensions (DSR), by period, product, category or any
//! column of the reviewed order, beside the orders they review.
//!
//! Definitions (docs/metrics.md#satisfaction):
//! - good, medium and bad reviews are 4–5★, 3★ and 1–2★; the good-review
//!   rate (好评率) and CSAT are both the share of rated reviews with 4–5★;
//!   the NPS-like score is the share of 5★ minus the share of 1–3★, in
//!   [−1, 1];
//! - the review rate is reviews per paid order of the same range and
//!   group; the refund rate is refunded orders over paid and refunded ones;
//! - the Bayesian mean is (m·μ + Σ stars) / (m + n): the group's n ratings
//!   with a prior of m ratings at the shop's mean μ;
//! - a DSR dimension's score is 1 + 4 × the mean polarity of the reviews
//!   that mention it (each review's polarity is that of its clauses that
//!   name the dimension), on the 1–5 scale shops are rated on.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use arrow::array::AsArray;
use chrono::{NaiveDate, TimeDelta};
use koubei_reviews::Aspect;
use serde::{Deserialize, Serialize};
use serde_with::DeserializeFromStr;

use crate::cols::{f64s, i64s, money, money_units, opt_strings};
use crate::sales::Period;
use crate::{Engine, Error, Result};

/// What rows a satisfaction report has.
#[derive(Debug, Clone, PartialEq, Eq, DeserializeFromStr)]
pub enum Grouping {
    /// One row per period of the review's time.
    Period(Period),
    /// The review's product.
    Product,
    /// The reviewed product's category, from `orders`.
    Category,
    /// Another column of `orders` (region, country, channel, ...), of the
    /// reviewed order.
    Order(String),
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grouping::Period(p) => write!(f, "{p}"),
            Grouping::Product => f.write_str("product"),
            Grouping::Category => f.write_str("category"),
            Grouping::Order(c) => f.write_str(c),
        }
    }
}

impl Serialize for Grouping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for Grouping {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Ok(p) = s.parse::<Period>() {
            return Ok(Grouping::Period(p));
        }
        Ok(match s.to_ascii_lowercase().as_str() {
            "" => {
                return Err(
                    "empty: expected a period, product, category or a column of orders".into(),
                );
            }
            "product" | "product_id" => Grouping::Product,
            "category" => Grouping::Category,
            _ => Grouping::Order(s.to_string()),
        })
    }
}

koubei_schema::text_schema!(
    Grouping,
    "day, week, month, quarter, year, product, category, or a column of orders (region, country, channel)"
);

/// What `koubei reviews` computes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SatisfactionRequest {
    /// First day included (UTC). With `until`, the range of the same
    /// length before it is the one compared with.
    pub since: Option<NaiveDate>,
    /// Last day included (UTC).
    pub until: Option<NaiveDate>,
    /// Rows by a period, product, category or a column of the reviewed
    /// order; only the total without.
    pub by: Option<Grouping>,
    /// Keep the N groups with the most reviews (all by default).
    pub top: Option<usize>,
    /// The Bayesian mean's prior weight m, in ratings; by default the
    /// median number of ratings of a group.
    pub prior_reviews: Option<f64>,
    /// Order the groups (once `top` has kept the most reviewed) by their
    /// Bayesian mean, highest first, instead of by reviews.
    pub rank_by_bayesian_mean: bool,
    /// Give each rating's customers their mean predicted lifetime value
    /// (`by_rating`'s `avg_clv`), which fits the CLV model.
    pub clv: bool,
    /// Follow customers after their first rating (`by_rating`); a ranking
    /// of products, which shows only the rows, can leave it out.
    pub by_rating: bool,
}

impl Default for SatisfactionRequest {
    fn default() -> Self {
        SatisfactionRequest {
            since: None,
            until: None,
            by: None,
            top: None,
            prior_reviews: None,
            rank_by_bayesian_mean: false,
            clv: true,
            by_rating: true,
        }
    }
}

/// Each DSR dimension's score (1–5) and the reviews that mention it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Dimension {
    pub score: Option<f64>,
    pub reviews: i64,
}

/// One group's satisfaction in one range.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Satisfaction {
    pub reviews: i64,
    /// Reviews with a rating.
    pub rated: i64,
    /// Reviews with 1, 2, 3, 4 and 5 stars.
    pub stars: [i64; 5],
    pub mean_rating: Option<f64>,
    pub bayesian_mean: Option<f64>,
    pub good: i64,
    pub medium: i64,
    pub bad: i64,
    /// 好评率: good over rated reviews.
    pub good_rate: Option<f64>,
    /// The share of rated reviews with 4–5★ (the same as `good_rate`).
    pub csat: Option<f64>,
    /// Share of 5★ minus share of 1–3★.
    pub nps: Option<f64>,
    /// Reviews with a text, by their sentiment's label.
    pub positive: i64,
    pub negative: i64,
    pub neutral: i64,
    /// Positive over reviews with a text.
    pub positive_share: Option<f64>,
    pub paid_orders: i64,
    /// Reviews per paid order.
    pub review_rate: Option<f64>,
    pub refunded_orders: i64,
    /// Refunded orders over paid and refunded ones.
    pub refund_rate: Option<f64>,
    /// 描述相符, 服务态度, 物流服务 and price, from the texts.
    pub description: Dimension,
    pub service: Dimension,
    pub logistics: Dimension,
    pub price: Dimension,
}

/// The change of a group against the range (or period) before.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Change {
    /// In stars.
    pub mean_rating: Option<f64>,
    /// In share points (0.01 = one point).
    pub csat: Option<f64>,
    /// As a fraction of the reviews before (0.1 = +10%).
    pub reviews: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SatisfactionRow {
    /// The group (a period's first day, a product, ...); `all` for the
    /// total.
    pub key: String,
    #[serde(flatten)]
    pub now: Satisfaction,
    /// Against the range before (total and groups) or the period before
    /// (periods); None without one.
    pub change: Option<Change>,
}

/// A tag, as Taobao's 大家印象 shows them: 物流很快 (1,204).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tag {
    pub aspect: String,
    pub tag: String,
    /// positive, negative or neutral, by the mean polarity of its clauses.
    pub label: &'static str,
    pub reviews: i64,
}

/// What happened to customers after their first rated review in the range,
/// by its rating.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RatingOutcome {
    pub rating: i64,
    pub customers: i64,
    /// The share who paid for another order after the review.
    pub repeat_rate: Option<f64>,
    /// Paid orders per customer after the review.
    pub orders_after: Option<f64>,
    /// Revenue per customer after the review.
    pub revenue_after: Option<f64>,
    /// Revenue per customer over all their paid orders (historical value).
    pub revenue_per_customer: Option<f64>,
    /// Of the reviews with this rating of an order, the share whose order
    /// was refunded.
    pub refund_rate: Option<f64>,
    /// Their mean predicted lifetime value a year ahead (BG/NBD with
    /// Gamma–Gamma, 10% a year, as RFM shows it), over those the model
    /// values; None without `clv` or when spend cannot be modelled.
    pub avg_clv: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SatisfactionReport {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// The range compared with, when both ends are given.
    pub previous: Option<(NaiveDate, NaiveDate)>,
    pub by: Option<Grouping>,
    /// The sentiment model that scored the texts.
    pub model: String,
    /// The Bayesian mean's prior: m ratings at the mean μ.
    pub prior_reviews: f64,
    pub prior_mean: Option<f64>,
    pub total: SatisfactionRow,
    pub rows: Vec<SatisfactionRow>,
    /// The most frequent positive and negative tags.
    pub tags: Vec<Tag>,
    pub by_rating: Vec<RatingOutcome>,
}

/// Polarities are summed in millionths, as integers: a sum of floats
/// would depend on the order the partitions come in, and the report must
/// be the same on any number of threads.
const MICROS: f64 = 1e6;

fn exact(col: &str) -> String {
    format!("CAST(round({col} * {MICROS}) AS BIGINT)")
}

/// Tags kept per label.
const TAGS_PER_LABEL: usize = 12;

/// The key of reviews without a group (no product, no order).
const NONE: &str = "(none)";

/// One grouped row of the reviews' or orders' query, before the metrics.
#[derive(Default)]
struct Counts {
    reviews: i64,
    rated: i64,
    stars: [i64; 5],
    star_sum: i64,
    labels: [i64; 3],
    /// Sum and count of each aspect's per-review polarity.
    aspects: [(f64, i64); 4],
    paid: i64,
    refunded: i64,
}

/// Good (4–5★) and rated reviews: CSAT's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Csat {
    pub good: i64,
    pub rated: i64,
}

impl Csat {
    pub fn share(&self) -> Option<f64> {
        ratio(self.good, self.rated)
    }
}

impl Engine {
    /// CSAT's parts in each of `ranges` (whole UTC days), and in each
    /// period of `series` (a range and its period): the overview's card,
    /// without the rest of the satisfaction report. Reads ratings only.
    pub async fn csat_of(
        &self,
        ranges: &[(NaiveDate, NaiveDate)],
        series: Option<((NaiveDate, NaiveDate), Period)>,
    ) -> Result<(Vec<Csat>, Vec<(NaiveDate, Csat)>)> {
        let per_range = ranges
            .iter()
            .map(|(s, u)| {
                let within = crate::ts_in_days("ts", Some(*s), Some(*u));
                format!(
                    "sum(CASE WHEN {within} AND rating >= 4 THEN 1 ELSE 0 END),
                     sum(CASE WHEN {within} AND rating IS NOT NULL THEN 1 ELSE 0 END)"
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut totals = vec![Csat::default(); ranges.len()];
        if !ranges.is_empty() {
            let sql = format!("SELECT {per_range} FROM reviews WHERE rating IS NOT NULL");
            for b in self.sql(&sql).await?.1 {
                if b.num_rows() == 0 {
                    continue;
                }
                for (k, t) in totals.iter_mut().enumerate() {
                    t.good = i64s(b.column(2 * k))?[0].unwrap_or(0);
                    t.rated = i64s(b.column(2 * k + 1))?[0].unwrap_or(0);
                }
            }
        }
        let mut points = Vec::new();
        if let Some(((since, until), by)) = series {
            let sql = format!(
                "SELECT CAST({} AS DATE), sum(CASE WHEN rating >= 4 THEN 1 ELSE 0 END), count(*)
                 FROM reviews WHERE rating IS NOT NULL AND {}
                 GROUP BY 1 ORDER BY 1",
                by.trunc_sql("ts"),
                crate::ts_in_days("ts", Some(since), Some(until)),
            );
            for b in self.sql(&sql).await?.1 {
                let days = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Date32)?;
                let days = days.as_primitive::<arrow::datatypes::Date32Type>();
                let (good, rated) = (i64s(b.column(1))?, i64s(b.column(2))?);
                for i in 0..b.num_rows() {
                    let Some(day) = days.value_as_date(i) else {
                        continue;
                    };
                    points.push((
                        day,
                        Csat {
                            good: good[i].unwrap_or(0),
                            rated: rated[i].unwrap_or(0),
                        },
                    ));
                }
            }
        }
        Ok((totals, points))
    }

    pub async fn satisfaction(&self, req: &SatisfactionRequest) -> Result<SatisfactionReport> {
        if let (Some(s), Some(u)) = (req.since, req.until)
            && s > u
        {
            return Err(Error::invalid("since", format!("{s} is after until ({u})")));
        }
        if let Some(m) = req.prior_reviews
            && !(m >= 0.0 && m.is_finite())
        {
            return Err(Error::invalid(
                "prior_reviews",
                format!("{m}: must be 0 or more"),
            ));
        }
        let model = self.review_scores().await?.to_string();
        let previous = match (req.since, req.until) {
            (Some(s), Some(u)) => {
                let len = (u - s).num_days() + 1;
                Some((s - TimeDelta::days(len), s - TimeDelta::days(1)))
            }
            _ => None,
        };
        let (review_key, order_key, join) = self.grouping_sql(req.by.as_ref()).await?;
        let cur = crate::ts_in_days("r.ts", req.since, req.until);
        let any = match previous {
            Some((p, _)) => crate::ts_in_days("r.ts", Some(p), req.until),
            None => cur.clone(),
        };
        let aspect_sums = Aspect::ALL
            .iter()
            .map(|a| {
                let col = format!("s.{}", a.as_str());
                format!("sum({}), count({col})", exact(&col))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let stars = (1..=5)
            .map(|k| format!("sum(CASE WHEN r.rating = {k} THEN 1 ELSE 0 END)"))
            .collect::<Vec<_>>()
            .join(", ");
        let reviews_sql = format!(
            "SELECT {review_key} AS k, {cur} AS cur, count(*), count(r.rating), {stars}, sum(r.rating),
                    sum(CASE WHEN s.label = 'positive' THEN 1 ELSE 0 END),
                    sum(CASE WHEN s.label = 'negative' THEN 1 ELSE 0 END),
                    sum(CASE WHEN s.label = 'neutral' THEN 1 ELSE 0 END), {aspect_sums}
             FROM reviews r LEFT JOIN review_scores s ON s.review_id = r.review_id {join}
             WHERE {any}
             GROUP BY GROUPING SETS ((k, cur), (cur))"
        );
        // The distinct orders of each group; the total's are the same for
        // every grouping of a range, so counted once per range (a report
        // asks by month and by product), and not by grouping sets, which
        // counted every line twice (distinct orders are the report's
        // slowest count).
        let (order_key, cur_ref, any_ref) = (&order_key, &cur, &any);
        // Only the kept groups' orders are counted when `top` keeps the
        // most reviewed (the products of a shop, say): they are known from
        // the reviews first.
        let per_group = move |only: Option<Vec<String>>| async move {
            let only = match only {
                Some(keys) if keys.is_empty() => return Ok(Vec::new()),
                Some(keys) => format!(
                    "AND {order_key} IN ({})",
                    keys.iter()
                        .map(|k| crate::review_terms::quoted(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => String::new(),
            };
            let sql = distinct_orders_sql(Some(order_key), cur_ref, any_ref, &only);
            order_counts(&self.sql(&sql).await?.1)
        };
        let kept = req
            .top
            .filter(|_| matches!(req.by, Some(ref b) if !matches!(b, Grouping::Period(_))));
        let reviews_and_orders = async {
            match (&req.by, kept) {
                (None, _) => {
                    let ((_, reviews), totals) = tokio::try_join!(
                        self.sql(&reviews_sql),
                        self.order_totals(any_ref, cur_ref)
                    )?;
                    Ok((reviews, Vec::new(), totals))
                }
                (Some(Grouping::Period(_)), _) => {
                    let ((_, reviews), (orders, totals)) = tokio::try_join!(
                        self.sql(&reviews_sql),
                        self.period_orders(order_key, any_ref, cur_ref)
                    )?;
                    let orders = match orders {
                        Some(orders) => orders,
                        None => per_group(None).await?,
                    };
                    Ok((reviews, orders, totals))
                }
                (Some(_), None) => {
                    let ((_, reviews), orders, totals) = tokio::try_join!(
                        self.sql(&reviews_sql),
                        per_group(None),
                        self.order_totals(any_ref, cur_ref)
                    )?;
                    Ok((reviews, orders, totals))
                }
                (Some(_), Some(top)) => {
                    let ((_, reviews), totals) = tokio::try_join!(
                        self.sql(&reviews_sql),
                        self.order_totals(any_ref, cur_ref)
                    )?;
                    let orders = per_group(Some(most_reviewed(&reviews, top)?)).await?;
                    Ok::<_, Error>((reviews, orders, totals))
                }
            }
        };
        let by_rating = async {
            if req.by_rating {
                self.rating_outcomes(req).await
            } else {
                Ok(Vec::new())
            }
        };
        // Independent: asked for at once, so that a small shop's answer
        // does not wait for each query's start in turn.
        let ((reviews, orders, totals), tags, by_rating) =
            tokio::try_join!(reviews_and_orders, self.tags(&cur), by_rating)?;
        // (key or None for the total, current range?) -> counts.
        let mut groups: BTreeMap<(Option<String>, bool), Counts> = BTreeMap::new();
        for b in reviews {
            let k = opt_strings(b.column(0))?;
            let cur = flags(b.column(1))?;
            let n: Vec<Vec<i64>> = (2..=12)
                .map(|i| {
                    i64s(b.column(i))
                        .map(|v| v.into_iter().map(Option::unwrap_or_default).collect())
                })
                .collect::<Result<_>>()?;
            let mut aspects = Vec::new();
            for a in 0..4 {
                let sum = f64s(b.column(13 + 2 * a))?;
                let count = i64s(b.column(14 + 2 * a))?;
                aspects.push((sum, count));
            }
            for row in 0..b.num_rows() {
                let c = groups.entry((k[row].clone(), cur[row])).or_default();
                c.reviews = n[0][row];
                c.rated = n[1][row];
                for s in 0..5 {
                    c.stars[s] = n[2 + s][row];
                }
                c.star_sum = n[7][row];
                c.labels = [n[8][row], n[9][row], n[10][row]];
                for (a, (sum, count)) in aspects.iter().enumerate() {
                    c.aspects[a] = (sum[row].unwrap_or(0.0) / MICROS, count[row].unwrap_or(0));
                }
            }
        }
        for (key, (paid, refunded)) in orders {
            // Orders of a group with no review in the range are not a row.
            if let Some(c) = groups.get_mut(&key) {
                c.paid = paid;
                c.refunded = refunded;
            }
        }
        for (cur, paid, refunded) in totals {
            let mut keys = vec![(None, cur)];
            if req.by.is_none() {
                // The one group's counts are the total's too.
                keys.push((Some("all".to_string()), cur));
            }
            for key in keys {
                if key.0.is_some() && !groups.contains_key(&key) {
                    continue;
                }
                let c = groups.entry(key).or_default();
                c.paid = paid;
                c.refunded = refunded;
            }
        }
        let total_now = groups.remove(&(None, true)).unwrap_or_default();
        let total_before = groups.remove(&(None, false));
        let prior_mean =
            (total_now.rated > 0).then(|| total_now.star_sum as f64 / total_now.rated as f64);
        let mut now: Vec<(String, Counts)> = Vec::new();
        let mut before: BTreeMap<String, Counts> = BTreeMap::new();
        for ((k, cur), c) in groups {
            let k = k.expect("the total was taken out");
            if cur {
                now.push((k, c));
            } else {
                before.insert(k, c);
            }
        }
        if req.by.is_none() {
            // The total is the only row.
            now.clear();
        }
        let is_period = matches!(req.by, Some(Grouping::Period(_)));
        if !is_period {
            now.sort_by(|a, b| b.1.reviews.cmp(&a.1.reviews).then_with(|| a.0.cmp(&b.0)));
            if let Some(top) = req.top {
                now.truncate(top);
            }
        }
        let prior_reviews = req.prior_reviews.unwrap_or_else(|| {
            let mut rated: Vec<i64> = now
                .iter()
                .map(|(_, c)| c.rated)
                .filter(|&n| n > 0)
                .collect();
            rated.sort_unstable();
            match rated.len() {
                0 => 0.0,
                n if n % 2 == 1 => rated[n / 2] as f64,
                n => (rated[n / 2 - 1] + rated[n / 2]) as f64 / 2.0,
            }
        });
        let measure = |c: &Counts| satisfaction(c, prior_reviews, prior_mean);
        let total = SatisfactionRow {
            key: "all".into(),
            now: measure(&total_now),
            change: total_before
                .as_ref()
                .map(|b| change(&measure(&total_now), &measure(b))),
        };
        let mut rows = Vec::with_capacity(now.len());
        let mut last: Option<Satisfaction> = None;
        for (k, c) in &now {
            let s = measure(c);
            let before = if is_period {
                last.take()
            } else {
                before.get(k).map(measure)
            };
            rows.push(SatisfactionRow {
                key: k.clone(),
                change: before.map(|b| change(&s, &b)),
                now: s.clone(),
            });
            last = Some(s);
        }
        if req.rank_by_bayesian_mean && !is_period {
            let mean = |r: &SatisfactionRow| r.now.bayesian_mean.unwrap_or(f64::NEG_INFINITY);
            rows.sort_by(|a, b| mean(b).total_cmp(&mean(a)).then_with(|| a.key.cmp(&b.key)));
        }
        Ok(SatisfactionReport {
            since: req.since,
            until: req.until,
            previous,
            by: req.by.clone(),
            model,
            prior_reviews,
            prior_mean,
            total,
            rows,
            tags,
            by_rating,
        })
    }

    /// SQL for a review's group, an order line's group, and the join that
    /// the review's needs.
    async fn grouping_sql(&self, by: Option<&Grouping>) -> Result<(String, String, String)> {
        let text = |e: &str| format!("COALESCE(CAST({e} AS VARCHAR), '{NONE}')");
        Ok(match by {
            None => ("'all'".into(), "'all'".into(), String::new()),
            Some(Grouping::Period(p)) => {
                // Grouped as dates, read as text: hashing a date per row,
                // not a string made for each.
                let k = |c: &str| format!("CAST({} AS DATE)", p.trunc_sql(c));
                (k("r.ts"), k("r.ts"), String::new())
            }
            Some(Grouping::Product) => (text("r.product_id"), text("r.product_id"), String::new()),
            Some(Grouping::Category) => {
                let col = self.orders_column("category").await?;
                (
                    text("g.v"),
                    text(&format!("r.{col}")),
                    format!(
                        "LEFT JOIN (SELECT product_id, max({col}) AS v FROM orders
                                    WHERE product_id IS NOT NULL GROUP BY product_id) g
                         ON g.product_id = r.product_id"
                    ),
                )
            }
            Some(Grouping::Order(name)) => {
                let col = self.orders_column(name).await?;
                (
                    text("g.v"),
                    text(&format!("r.{col}")),
                    format!(
                        "LEFT JOIN (SELECT order_id, max({col}) AS v FROM orders GROUP BY order_id) g
                         ON g.order_id = r.order_id"
                    ),
                )
            }
        })
    }

    /// The distinct paid and refunded orders with a line in `any`'s days,
    /// by whether the line is in `cur`'s: the same for every grouping of a
    /// range, so counted once per range.
    async fn order_totals(&self, any: &str, cur: &str) -> Result<OrderTotals> {
        self.review_order_totals
            .get_or_try_init(&totals_key(any, cur), || async {
                let sql = distinct_orders_sql(None, cur, any, "");
                let mut totals = Vec::new();
                for b in self.sql(&sql).await?.1 {
                    let cur = flags(b.column(0))?;
                    let (paid, refunded) = (i64s(b.column(1))?, i64s(b.column(2))?);
                    for row in 0..b.num_rows() {
                        totals.push((cur[row], paid[row].unwrap_or(0), refunded[row].unwrap_or(0)));
                    }
                }
                Ok(totals)
            })
            .await
    }

    /// Each period's distinct paid and refunded orders (`key` the period of
    /// a line), and the range's totals, from one grouping of the lines by
    /// order rather than a distinct count per period and another for the
    /// totals. An order's lines nearly always share a period, so each order
    /// is counted at its period; when some order's lines span two, the
    /// periods are `None`, to be counted by the exact grouping. The totals
    /// are kept for the range's other groupings (see [`Self::order_totals`]).
    async fn period_orders(
        &self,
        key: &str,
        any: &str,
        cur: &str,
    ) -> Result<(Option<OrderCounts>, OrderTotals)> {
        let sql = format!(
            "WITH o AS (SELECT {cur} AS cur, r.status = 'paid' AS paid,
                               min({key}) AS k1, max({key}) AS k2
                        FROM orders r
                        WHERE {any} AND r.status IN ('paid', 'refunded') AND r.order_id IS NOT NULL
                        GROUP BY 1, 2, r.order_id)
             SELECT cur, paid, k1, k2, count(*) FROM o GROUP BY 1, 2, 3, 4"
        );
        let mut totals: BTreeMap<bool, (i64, i64)> = BTreeMap::new();
        let mut periods: BTreeMap<(Option<String>, bool), (i64, i64)> = BTreeMap::new();
        let mut spans = false;
        for b in self.sql(&sql).await?.1 {
            let (cur, paid) = (flags(b.column(0))?, flags(b.column(1))?);
            let (first, last) = (opt_strings(b.column(2))?, opt_strings(b.column(3))?);
            let n = i64s(b.column(4))?;
            for row in 0..b.num_rows() {
                let n = n[row].unwrap_or(0);
                let add = |c: &mut (i64, i64)| {
                    if paid[row] {
                        c.0 += n;
                    } else {
                        c.1 += n;
                    }
                };
                add(totals.entry(cur[row]).or_default());
                add(periods.entry((first[row].clone(), cur[row])).or_default());
                spans |= first[row] != last[row];
            }
        }
        let totals: OrderTotals = totals.into_iter().map(|(c, (p, r))| (c, p, r)).collect();
        let kept = totals.clone();
        self.review_order_totals
            .get_or_try_init(&totals_key(any, cur), || async { Ok(kept) })
            .await?;
        Ok(((!spans).then(|| periods.into_iter().collect()), totals))
    }

    /// The most frequent tags of the reviews in the range, per label: the
    /// same for every grouping of the range, so read once per range.
    async fn tags(&self, cur: &str) -> Result<Vec<Tag>> {
        self.review_tags
            .get_or_try_init(cur, || self.read_tags(cur))
            .await
    }

    async fn read_tags(&self, cur: &str) -> Result<Vec<Tag>> {
        let sql = format!(
            "WITH t AS (
               SELECT CAST(m.aspect AS VARCHAR) AS aspect, CAST(m.tag AS VARCHAR) AS tag,
                      count(DISTINCT m.review_id) AS n,
                      CAST(sum({p}) AS DOUBLE) / count(m.p_positive) AS p
               FROM review_mentions m JOIN reviews r ON r.review_id = m.review_id
               WHERE {cur} GROUP BY 1, 2),
             l AS (SELECT *, CASE WHEN p > 0.6 * {MICROS} THEN 'positive'
                                  WHEN p < 0.4 * {MICROS} THEN 'negative'
                                  ELSE 'neutral' END AS label FROM t)
             SELECT aspect, tag, label, n FROM (
               SELECT *, row_number() OVER (PARTITION BY label ORDER BY n DESC, tag) AS k FROM l
               WHERE label <> 'neutral')
             WHERE k <= {TAGS_PER_LABEL} ORDER BY label DESC, n DESC, tag",
            p = exact("m.p_positive"),
        );
        let mut tags = Vec::new();
        for b in self.sql(&sql).await?.1 {
            let (aspect, tag, label, n) = (
                opt_strings(b.column(0))?,
                opt_strings(b.column(1))?,
                opt_strings(b.column(2))?,
                i64s(b.column(3))?,
            );
            for i in 0..b.num_rows() {
                tags.push(Tag {
                    aspect: aspect[i].clone().unwrap_or_default(),
                    tag: tag[i].clone().unwrap_or_default(),
                    label: if label[i].as_deref() == Some("positive") {
                        "positive"
                    } else {
                        "negative"
                    },
                    reviews: n[i].unwrap_or(0),
                });
            }
        }
        Ok(tags)
    }

    /// Customers by the rating of their first rated review in the range:
    /// what they bought after it, and how often reviewed orders of each
    /// rating were refunded.
    async fn rating_outcomes(&self, req: &SatisfactionRequest) -> Result<Vec<RatingOutcome>> {
        let cur = crate::ts_in_days("ts", req.since, req.until);
        let po = self.paid_orders().await?;
        // Per reviewer: the rating of their first rated review in the range,
        // and their paid orders (after it, and in all), each order once.
        let customers = format!(
            "WITH f AS (
               SELECT customer_id, min(ts) AS t, first_value(rating ORDER BY ts, review_id) AS rating
               FROM reviews WHERE rating IS NOT NULL AND customer_id IS NOT NULL AND {cur}
               GROUP BY customer_id),
             o AS (SELECT customer_id, ts, amount FROM {po})
             SELECT f.customer_id, f.rating,
                    count(CASE WHEN o.ts > f.t THEN 1 END) AS n,
                    sum(CASE WHEN o.ts > f.t THEN o.amount END) AS after,
                    sum(o.amount) AS spent
             FROM f LEFT JOIN o ON o.customer_id = f.customer_id
             GROUP BY f.customer_id, f.rating"
        );
        // Of the rated reviews of an order, how many orders were refunded.
        // (The few refunded orders are gathered, not every order grouped.)
        let refunds = format!(
            "SELECT r.rating, count(*) AS reviewed,
                    sum(CASE WHEN x.order_id IS NOT NULL THEN 1 ELSE 0 END) AS refunded
             FROM reviews r
             LEFT JOIN (SELECT DISTINCT order_id FROM orders WHERE status = 'refunded') x
               ON x.order_id = r.order_id
             WHERE r.rating IS NOT NULL AND {cur_r} AND r.order_id IN (SELECT order_id FROM orders)
             GROUP BY r.rating",
            cur_r = crate::ts_in_days("r.ts", req.since, req.until),
        );
        let clv = async {
            if req.clv {
                // A shop whose spend cannot be modelled shows no CLV; the
                // rest of the report stands.
                Ok(Some(
                    self.standard_clv_by_customer().await.unwrap_or_default(),
                ))
            } else {
                Ok::<_, Error>(None)
            }
        };
        let ((_, per_customer), (_, refunds), clv) =
            tokio::try_join!(self.sql(&customers), self.sql(&refunds), clv)?;
        #[derive(Default)]
        struct Acc {
            customers: i64,
            repeat: i64,
            orders: i64,
            /// Exact money units.
            after: i128,
            spent: i128,
            clv: Vec<f64>,
        }
        let mut by: BTreeMap<i64, Acc> = BTreeMap::new();
        for b in per_customer {
            let (ids, ratings, n) = (
                opt_strings(b.column(0))?,
                i64s(b.column(1))?,
                i64s(b.column(2))?,
            );
            let (after, spent) = (money_units(b.column(3))?, money_units(b.column(4))?);
            for i in 0..b.num_rows() {
                let Some(rating) = ratings[i] else { continue };
                let a = by.entry(rating).or_default();
                let n = n[i].unwrap_or(0);
                a.customers += 1;
                a.repeat += i64::from(n > 0);
                a.orders += n;
                a.after += after[i].unwrap_or(0);
                a.spent += spent[i].unwrap_or(0);
                if let Some(v) = clv
                    .as_ref()
                    .zip(ids[i].as_ref())
                    .and_then(|(clv, id)| clv.get(id))
                {
                    a.clv.push(*v);
                }
            }
        }
        let mut refunded: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for b in refunds {
            let (r, n, k) = (i64s(b.column(0))?, i64s(b.column(1))?, i64s(b.column(2))?);
            for i in 0..b.num_rows() {
                if let Some(r) = r[i] {
                    refunded.insert(r, (n[i].unwrap_or(0), k[i].unwrap_or(0)));
                }
            }
        }
        Ok(by
            .into_iter()
            .map(|(rating, a)| {
                let per = |x: f64| (a.customers > 0).then(|| x / a.customers as f64);
                let (reviewed, refunds) = refunded.get(&rating).copied().unwrap_or_default();
                let n = a.clv.len() as f64;
                RatingOutcome {
                    rating,
                    customers: a.customers,
                    repeat_rate: per(a.repeat as f64),
                    orders_after: per(a.orders as f64),
                    revenue_after: per(money(a.after)),
                    revenue_per_customer: per(money(a.spent)),
                    refund_rate: (reviewed > 0).then(|| refunds as f64 / reviewed as f64),
                    // Summed in sorted order: the same on any thread count.
                    avg_clv: (n > 0.0).then(|| crate::cols::sum_sorted(a.clv) / n),
                }
            })
            .collect())
    }
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn satisfaction(c: &Counts, prior_reviews: f64, prior_mean: Option<f64>) -> Satisfaction {
    let [s1, s2, s3, s4, s5] = c.stars;
    let (good, medium, bad) = (s4 + s5, s3, s1 + s2);
    let dimension = |a: usize| {
        let (sum, n) = c.aspects[a];
        Dimension {
            score: (n > 0).then(|| 1.0 + 4.0 * sum / n as f64),
            reviews: n,
        }
    };
    let bayesian_mean = match prior_mean {
        Some(mu) if c.rated as f64 + prior_reviews > 0.0 => {
            Some((prior_reviews * mu + c.star_sum as f64) / (prior_reviews + c.rated as f64))
        }
        _ => None,
    };
    Satisfaction {
        reviews: c.reviews,
        rated: c.rated,
        stars: c.stars,
        mean_rating: ratio(c.star_sum, c.rated),
        bayesian_mean,
        good,
        medium,
        bad,
        good_rate: ratio(good, c.rated),
        csat: ratio(good, c.rated),
        nps: (c.rated > 0).then(|| (s5 - (s1 + s2 + s3)) as f64 / c.rated as f64),
        positive: c.labels[0],
        positive_share: ratio(c.labels[0], c.labels.iter().sum()),
        negative: c.labels[1],
        neutral: c.labels[2],
        paid_orders: c.paid,
        review_rate: ratio(c.reviews, c.paid),
        refunded_orders: c.refunded,
        refund_rate: ratio(c.refunded, c.paid + c.refunded),
        description: dimension(0),
        service: dimension(1),
        logistics: dimension(2),
        price: dimension(3),
    }
}

fn change(now: &Satisfaction, before: &Satisfaction) -> Change {
    let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    Change {
        mean_rating: diff(now.mean_rating, before.mean_rating),
        csat: diff(now.csat, before.csat),
        reviews: (before.reviews > 0).then(|| now.reviews as f64 / before.reviews as f64 - 1.0),
    }
}

/// The distinct paid and refunded orders with a line in `any`'s days and
/// `filter`, by whether the line is in `cur`'s, and by `key` if given.
fn distinct_orders_sql(key: Option<&str>, cur: &str, any: &str, filter: &str) -> String {
    let (key, group) = match key {
        Some(k) => (format!("{k} AS k, "), "k, cur"),
        None => (String::new(), "cur"),
    };
    format!(
        "SELECT {key}{cur} AS cur,
                count(DISTINCT CASE WHEN r.status = 'paid' THEN r.order_id END),
                count(DISTINCT CASE WHEN r.status = 'refunded' THEN r.order_id END)
         FROM orders r WHERE {any} AND r.status IN ('paid', 'refunded') {filter}
         GROUP BY {group}"
    )
}

/// A range's distinct paid and refunded orders, by whether the line is in
/// the current range (kept per engine, see [`Engine::order_totals`]).
pub(crate) type OrderTotals = Vec<(bool, i64, i64)>;

/// Where a range's [`OrderTotals`] are kept in the engine's memo.
fn totals_key(any: &str, cur: &str) -> String {
    format!("{any}\n{cur}")
}

/// Distinct paid and refunded orders by (group, in the current range?).
type OrderCounts = Vec<((Option<String>, bool), (i64, i64))>;

/// The rows of [`distinct_orders_sql`] with a key, as counts.
fn order_counts(batches: &[arrow::array::RecordBatch]) -> Result<OrderCounts> {
    let mut counts = Vec::new();
    for b in batches {
        let k = opt_strings(b.column(0))?;
        let cur = flags(b.column(1))?;
        let (paid, refunded) = (i64s(b.column(2))?, i64s(b.column(3))?);
        for row in 0..b.num_rows() {
            counts.push((
                (k[row].clone(), cur[row]),
                (paid[row].unwrap_or(0), refunded[row].unwrap_or(0)),
            ));
        }
    }
    Ok(counts)
}

/// A query's boolean column (such as `cur`, whether a row is in the
/// current range) as flags.
fn flags(a: &dyn arrow::array::Array) -> Result<Vec<bool>> {
    Ok(i64s(&arrow::compute::cast(
        a,
        &arrow::datatypes::DataType::Int64,
    )?)?
    .into_iter()
    .map(|v| v == Some(1))
    .collect())
}

/// The `top` groups of the current range with the most reviews (ties by
/// key), from the reviews query's rows: those that the report keeps.
fn most_reviewed(reviews: &[arrow::array::RecordBatch], top: usize) -> Result<Vec<String>> {
    let mut groups: Vec<(i64, String)> = Vec::new();
    for b in reviews {
        let k = opt_strings(b.column(0))?;
        let cur = flags(b.column(1))?;
        let n = i64s(b.column(2))?;
        for row in 0..b.num_rows() {
            if let (Some(k), true) = (&k[row], cur[row]) {
                groups.push((n[row].unwrap_or(0), k.clone()));
            }
        }
    }
    groups.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    groups.truncate(top);
    Ok(groups.into_iter().map(|(_, k)| k).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    const ORDERS: &str = "order_id,customer_id,ts,amount,status,product_id,category,region
o1,c1,2024-03-01,10,paid,p1,toys,浙江
o2,c2,2024-03-02,20,paid,p2,food,上海
o3,c3,2024-03-03,30,refunded,p1,toys,浙江
o4,c1,2024-03-10,40,paid,p2,food,浙江
o5,c4,2024-02-05,10,paid,p1,toys,上海
o6,c2,2024-03-20,15,paid,p2,food,上海
";

    const REVIEWS: &str = "review_id,ts,customer_id,product_id,order_id,rating,text
r1,2024-03-02,c1,p1,o1,5,质量很好，物流很快
r2,2024-03-04,c2,p2,o2,2,物流太慢了，包装破损
r3,2024-03-05,c3,p1,o3,1,假货，客服态度恶劣
r4,2024-03-12,c1,p2,o4,5,性价比高
r5,2024-03-13,c1,p2,o4,,追评：用了一周还不错
r6,2024-02-06,c4,p1,o5,3,一般
";

    async fn engine() -> (tempfile::TempDir, Engine) {
        crate::test_engine_with(&[(TableKind::Orders, ORDERS), (TableKind::Reviews, REVIEWS)]).await
    }

    fn march(by: Option<&str>) -> SatisfactionRequest {
        SatisfactionRequest {
            since: NaiveDate::from_ymd_opt(2024, 3, 1),
            until: NaiveDate::from_ymd_opt(2024, 3, 31),
            by: by.map(|b| b.parse().unwrap()),
            ..Default::default()
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    /// Every figure of the total, counted by hand from the rows above.
    #[tokio::test]
    async fn the_total_by_hand() {
        let (_dir, e) = engine().await;
        let r = e.satisfaction(&march(None)).await.unwrap();
        assert_eq!(r.model, "default");
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(r.previous, Some((d(2024, 1, 30), d(2024, 2, 29))));
        let t = &r.total.now;
        assert_eq!((t.reviews, t.rated, t.stars), (5, 4, [1, 1, 0, 0, 2]));
        assert!(close(t.mean_rating, 13.0 / 4.0));
        assert_eq!((t.good, t.medium, t.bad), (2, 0, 2));
        assert!(close(t.csat, 0.5) && close(t.good_rate, 0.5));
        // 5★ share 2/4 minus 1–3★ share 2/4.
        assert!(close(t.nps, 0.0));
        // Paid orders o1, o2, o4, o6; o3 refunded.
        assert_eq!((t.paid_orders, t.refunded_orders), (4, 1));
        assert!(close(t.review_rate, 5.0 / 4.0) && close(t.refund_rate, 0.2));
        // r5 (不错) is the third positive text; r2 and r3 are negative.
        assert_eq!((t.positive, t.negative, t.neutral), (3, 2, 0));
        assert!(close(t.positive_share, 0.6));
        // February: r6, 3★.
        let c = r.total.change.as_ref().unwrap();
        assert!(close(c.mean_rating, 13.0 / 4.0 - 3.0));
        assert!(close(c.csat, 0.5) && close(c.reviews, 4.0));
        // Mentions: description in r1 (质量很好) and r3 (假货); logistics in
        // r1 (物流很快) and r2 (物流太慢, 包装破损); service in r3; price in r4.
        assert_eq!(
            [
                t.description.reviews,
                t.service.reviews,
                t.logistics.reviews,
                t.price.reviews
            ],
            [2, 1, 2, 1]
        );
        // Each clause's P is the sigmoid of its shop words: 很好 and 性价比高
        // 1.5, 很快 1.3, 假货, 太慢 and 破损 −1.5, 态度恶劣 −1.7; r2's two
        // logistics clauses average to σ(−1.5). Polarities are summed in
        // millionths, so the scores agree to within 4 × 0.5e-6.
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let near = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 2.5e-6);
        let description = 1.0 + 4.0 * (sig(1.5) + sig(-1.5)) / 2.0;
        assert!(
            near(t.description.score, description),
            "{:?}",
            t.description
        );
        assert!(
            near(t.service.score, 1.0 + 4.0 * sig(-1.7)),
            "{:?}",
            t.service
        );
        let logistics = 1.0 + 4.0 * (sig(1.3) + sig(-1.5)) / 2.0;
        assert!(near(t.logistics.score, logistics), "{:?}", t.logistics);
        assert!(near(t.price.score, 1.0 + 4.0 * sig(1.5)), "{:?}", t.price);
        let tag = |s: &str| r.tags.iter().find(|t| t.tag == s).cloned();
        let fast = tag("物流很快").unwrap();
        assert_eq!(
            (fast.aspect.as_str(), fast.label, fast.reviews),
            ("logistics", "positive", 1)
        );
        assert_eq!(tag("物流太慢").unwrap().label, "negative");
        // February's 一般 names no aspect; no tag is from outside the range.
        assert!(r.tags.iter().all(|t| t.reviews == 1), "{:?}", r.tags);
    }

    /// Products: each with its own orders, the prior (m = the median of
    /// ratings per product, μ = the shop's mean) and the change against
    /// February where the product had reviews.
    #[tokio::test]
    async fn by_product_with_the_bayesian_mean() {
        let (_dir, e) = engine().await;
        let r = e.satisfaction(&march(Some("product"))).await.unwrap();
        assert_eq!((r.prior_reviews, r.prior_mean), (2.0, Some(3.25)));
        let keys: Vec<&str> = r.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["p2", "p1"]);
        let (p2, p1) = (&r.rows[0], &r.rows[1]);
        assert!(close(p2.now.mean_rating, 3.5) && close(p1.now.mean_rating, 3.0));
        assert!(close(p2.now.bayesian_mean, (2.0 * 3.25 + 7.0) / 4.0));
        assert!(close(p1.now.bayesian_mean, (2.0 * 3.25 + 6.0) / 4.0));
        assert_eq!((p1.now.paid_orders, p1.now.refunded_orders), (1, 1));
        assert!(close(p1.now.review_rate, 2.0) && close(p1.now.refund_rate, 0.5));
        assert_eq!(p2.now.paid_orders, 3);
        assert!(p2.change.is_none());
        assert!(close(p1.change.as_ref().unwrap().mean_rating, 0.0));
        let top = e
            .satisfaction(&SatisfactionRequest {
                top: Some(1),
                prior_reviews: Some(10.0),
                ..march(Some("product"))
            })
            .await
            .unwrap();
        assert_eq!(top.rows.len(), 1);
        // The kept product's orders (counted for it alone) and the total's
        // are those of the whole grouping.
        assert_eq!(top.rows[0].key, "p2");
        assert_eq!(top.rows[0].now.paid_orders, p2.now.paid_orders);
        assert_eq!(
            (top.total.now.paid_orders, top.total.now.refunded_orders),
            (r.total.now.paid_orders, r.total.now.refunded_orders)
        );
        assert!(close(top.rows[0].now.bayesian_mean, (32.5 + 7.0) / 12.0));
        // Kept from the most reviewed, p1 alone is the second.
        let second = e
            .satisfaction(&SatisfactionRequest {
                top: Some(2),
                ..march(Some("product"))
            })
            .await
            .unwrap();
        assert_eq!(second.rows[1].key, "p1");
        assert_eq!(
            (
                second.rows[1].now.paid_orders,
                second.rows[1].now.refunded_orders
            ),
            (1, 1)
        );
    }

    /// Ranked by the Bayesian mean, the product with one 5★ review comes
    /// before the one with three 3★ reviews, which leads by reviews:
    /// m = 2 (the median of 3 and 1), μ = 14/4; (7 + 5)/3 = 4 against
    /// (7 + 9)/5 = 3.2.
    #[tokio::test]
    async fn ranked_by_the_bayesian_mean() {
        let csv = "review_id,ts,product_id,rating\na,2024-03-01,p1,3\nb,2024-03-02,p1,3\nc,2024-03-03,p1,3\nd,2024-03-04,p2,5\n";
        let (_dir, e) = crate::test_engine(TableKind::Reviews, csv).await;
        let by = |rank| SatisfactionRequest {
            by: Some(Grouping::Product),
            rank_by_bayesian_mean: rank,
            ..Default::default()
        };
        let keys =
            |r: &SatisfactionReport| r.rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(
            keys(&e.satisfaction(&by(false)).await.unwrap()),
            ["p1", "p2"]
        );
        let ranked = e.satisfaction(&by(true)).await.unwrap();
        assert_eq!(keys(&ranked), ["p2", "p1"]);
        assert!(close(ranked.rows[0].now.bayesian_mean, 4.0));
        assert!(close(ranked.rows[1].now.bayesian_mean, 3.2));
    }

    /// Region is the reviewed order's; months compare with the month
    /// before.
    #[tokio::test]
    async fn by_region_and_by_month() {
        let (_dir, e) = engine().await;
        let r = e.satisfaction(&march(Some("region"))).await.unwrap();
        let row = |k: &str| r.rows.iter().find(|r| r.key == k).unwrap().now.clone();
        let (zj, sh) = (row("浙江"), row("上海"));
        assert_eq!((zj.reviews, zj.paid_orders, zj.refunded_orders), (4, 2, 1));
        assert_eq!((sh.reviews, sh.paid_orders), (1, 2));
        let r = e
            .satisfaction(&SatisfactionRequest {
                by: Some("month".parse().unwrap()),
                ..Default::default()
            })
            .await
            .unwrap();
        let keys: Vec<&str> = r.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2024-02-01", "2024-03-01"]);
        assert!(r.rows[0].change.is_none());
        assert!(close(r.rows[1].change.as_ref().unwrap().mean_rating, 0.25));
        assert!(r.total.change.is_none() && r.previous.is_none());
        assert_eq!(r.total.now.reviews, 6);
    }

    /// Each month's distinct orders, counted by hand: with every order's
    /// lines in one month, and with an order whose lines are in two (it
    /// counts in both months and once in the total).
    #[tokio::test]
    async fn orders_by_month_when_lines_span_months() {
        let by_month = SatisfactionRequest {
            by: Some("month".parse().unwrap()),
            ..Default::default()
        };
        // Each month's and the total's (paid, refunded) distinct orders.
        let check = |r: &SatisfactionReport, want: &[(&str, i64, i64)]| {
            let mut got: Vec<(&str, i64, i64)> = r
                .rows
                .iter()
                .map(|r| (r.key.as_str(), r.now.paid_orders, r.now.refunded_orders))
                .collect();
            got.push((
                "total",
                r.total.now.paid_orders,
                r.total.now.refunded_orders,
            ));
            assert_eq!(got, want);
        };
        let (_dir, e) = engine().await;
        let r = e.satisfaction(&by_month).await.unwrap();
        check(
            &r,
            &[("2024-02-01", 1, 0), ("2024-03-01", 4, 1), ("total", 5, 1)],
        );

        let orders = "order_id,line,customer_id,ts,amount,status,product_id
o1,1,c1,2024-02-28,10,paid,p1
o1,2,c1,2024-03-01,10,paid,p2
o2,1,c2,2024-03-02,20,paid,p2
o2,2,c2,2024-03-02,5,paid,p1
o3,1,c3,2024-02-10,30,refunded,p1
o3,2,c3,2024-03-10,30,refunded,p1
o4,1,c1,2024-02-11,40,paid,p2
";
        let (_dir, e) =
            crate::test_engine_with(&[(TableKind::Orders, orders), (TableKind::Reviews, REVIEWS)])
                .await;
        let r = e.satisfaction(&by_month).await.unwrap();
        check(
            &r,
            &[("2024-02-01", 2, 1), ("2024-03-01", 2, 1), ("total", 3, 1)],
        );
    }

    /// CSAT of ranges and of each month, against the full report's.
    #[tokio::test]
    async fn csat_of_ranges_and_periods() {
        let (_dir, e) = engine().await;
        let d = |m, day| NaiveDate::from_ymd_opt(2024, m, day).unwrap();
        let (totals, series) = e
            .csat_of(
                &[
                    (d(3, 1), d(3, 31)),
                    (d(2, 1), d(2, 29)),
                    (d(1, 1), d(1, 31)),
                ],
                Some(((d(2, 1), d(3, 31)), Period::Month)),
            )
            .await
            .unwrap();
        assert_eq!(totals[0], Csat { good: 2, rated: 4 });
        assert_eq!(totals[1], Csat { good: 0, rated: 1 });
        assert_eq!((totals[2], totals[2].share()), (Csat::default(), None));
        let full = e.satisfaction(&march(None)).await.unwrap();
        assert_eq!(totals[0].share(), full.total.now.csat);
        assert_eq!(
            series,
            [
                (d(2, 1), Csat { good: 0, rated: 1 }),
                (d(3, 1), Csat { good: 2, rated: 4 })
            ]
        );
    }

    /// Customers by their first rated review in March.
    #[tokio::test]
    async fn what_customers_did_after_their_rating() {
        let (_dir, e) = engine().await;
        let r = e.satisfaction(&march(None)).await.unwrap();
        let by: Vec<(i64, i64)> = r
            .by_rating
            .iter()
            .map(|o| (o.rating, o.customers))
            .collect();
        assert_eq!(by, [(1, 1), (2, 1), (5, 1)]);
        let (one, two, five) = (&r.by_rating[0], &r.by_rating[1], &r.by_rating[2]);
        // c3 bought nothing more, and their order was refunded.
        assert!(close(one.repeat_rate, 0.0) && close(one.refund_rate, 1.0));
        assert!(close(one.revenue_per_customer, 0.0));
        // c2 ordered o6 (15) after the review; 35 in all.
        assert!(close(two.repeat_rate, 1.0) && close(two.orders_after, 1.0));
        assert!(close(two.revenue_after, 15.0) && close(two.revenue_per_customer, 35.0));
        // c1: o4 (40) after r1; r1 and r4 reviewed paid orders.
        assert!(close(five.revenue_after, 40.0) && close(five.refund_rate, 0.0));
        // One customer per rating: the mean CLV is theirs, as the CLV
        // report values them.
        let clv = e.standard_clv_by_customer().await.unwrap();
        assert_eq!(two.avg_clv, Some(clv["c2"]));
        assert_eq!(five.avg_clv, Some(clv["c1"]));
        let without = e
            .satisfaction(&SatisfactionRequest {
                clv: false,
                ..march(None)
            })
            .await
            .unwrap();
        assert!(without.by_rating.iter().all(|o| o.avg_clv.is_none()));
    }

    #[tokio::test]
    async fn errors_name_the_field() {
        let (_dir, e) = engine().await;
        let mut req = march(None);
        req.since = NaiveDate::from_ymd_opt(2024, 4, 1);
        let err = e.satisfaction(&req).await.unwrap_err().to_string();
        assert!(err.contains("since"), "{err}");
        let err = e
            .satisfaction(&march(Some("colour")))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
