//! Word of mouth from the shop's tables: the referral graph for seeding, the
//! referral cascades, and how far they reach.
//!
//! Attribution is first touch: a customer's parent is `customers.referred_by`
//! when the shop recorded it, else the sharer of the earliest share to them
//! that converted (`referrals.ordered`, or, when that is empty, a first paid
//! order at or after the share).

use std::collections::HashMap;

use koubei_wom::{EdgeModel, Forest, Graph, GraphBuilder};
use serde::Serialize;

mod cascades;
mod metrics;
mod reach;

/// Calendar periods for "over time" series: the same periods as sales.
pub use crate::sales::Period;
pub use cascades::{CascadeReport, CascadeRequest, CascadeSummary, SizeBucket, TreeNode};
pub use metrics::{Funnel as ReferralFunnel, MetricsReport, MetricsRequest};
pub use reach::{ReachReport, ReachRequest};

use crate::cols::{f64s, i64s, opt_strings, strings};
use crate::{Engine, Error, Result};

/// How arcs of the referral graph get their probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArcModel {
    /// Each sharer's share-to-order rate, smoothed towards the shop's rate as
    /// if `prior` more shares had converted at the shop's rate.
    Learned {
        prior: f64,
    },
    /// 1 / in-degree.
    WeightedCascade,
    Constant(f64),
}

/// The graph of who shared with whom, with each node's place.
pub struct ReferralGraph {
    pub graph: Graph,
    /// Index into `regions` of each node's (country, region), when known.
    pub region_of: Vec<Option<u32>>,
    pub regions: Vec<String>,
    pub country_of: Vec<Option<u32>>,
    pub countries: Vec<String>,
    pub shares: u64,
    pub conversions: u64,
}

/// SQL for every share (`sh`) with whether it converted, after `fo`: each
/// buyer's first paid order, from [`Engine::first_orders_sql`].
fn shares_sql(first_orders: &str) -> String {
    format!(
        "
  fo AS ({first_orders}),
  sh AS (SELECT r.ts, r.sharer_id, NULLIF(r.recipient_id, '') AS recipient_id, r.channel,
                COALESCE(r.clicked, r.ordered, fo.t IS NOT NULL AND fo.t >= r.ts) AS clicked,
                COALESCE(r.ordered, fo.t IS NOT NULL AND fo.t >= r.ts) AS converted,
                COALESCE(r.ordered, fo.t IS NOT NULL AND fo.t >= r.ts)
                  AND (fo.t IS NULL OR fo.t >= r.ts) AS new_customer,
                fo.t AS first_order
         FROM referrals r LEFT JOIN fo ON fo.customer_id = r.recipient_id
         WHERE r.sharer_id IS NOT NULL AND r.sharer_id <> '')"
    )
}

impl Engine {
    /// The CTEs `fo` and `sh` of [`shares_sql`] for this session.
    pub(crate) fn shares(&self) -> String {
        shares_sql(&self.first_orders_sql())
    }
}

impl Engine {
    async fn referral_count(&self) -> Result<i64> {
        let (_, b) = self.sql("SELECT COUNT(*) FROM referrals").await?;
        Ok(b.first()
            .map(|b| i64s(b.column(0)))
            .transpose()?
            .and_then(|v| v.first().copied().flatten())
            .unwrap_or(0))
    }

    /// The referral graph: an arc from sharer to recipient for every pair
    /// with a share between them.
    pub async fn referral_graph(&self, model: ArcModel) -> Result<ReferralGraph> {
        let with_shares = self.shares();
        if self.referral_count().await? == 0 {
            return Err(Error::Request(
                "the referrals table is empty: import referrals first, or read a graph file".into(),
            ));
        }
        let (_, totals) = self
            .sql(&format!(
                "WITH {with_shares} SELECT COUNT(*), SUM(CASE WHEN converted THEN 1 ELSE 0 END) FROM sh"
            ))
            .await?;
        let t = &totals[0];
        let shares = i64s(t.column(0))?[0].unwrap_or(0) as u64;
        let conversions = i64s(t.column(1))?[0].unwrap_or(0) as u64;
        let rate = conversions as f64 / shares.max(1) as f64;
        let (_, batches) = self
            .sql(&format!(
                "WITH {with_shares},
                 per AS (SELECT sharer_id, COUNT(*) AS n,
                                SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS k
                         FROM sh GROUP BY sharer_id)
                 SELECT sh.sharer_id, sh.recipient_id, COUNT(*) AS times, per.n, per.k
                 FROM sh JOIN per ON per.sharer_id = sh.sharer_id
                 WHERE sh.recipient_id IS NOT NULL AND sh.recipient_id <> sh.sharer_id
                 GROUP BY sh.sharer_id, sh.recipient_id, per.n, per.k
                 ORDER BY sh.sharer_id, sh.recipient_id"
            ))
            .await?;
        let mut b = GraphBuilder::new();
        for batch in &batches {
            let (src, dst) = (strings(batch.column(0))?, strings(batch.column(1))?);
            let times = i64s(batch.column(2))?;
            let (n, k) = (f64s(batch.column(3))?, f64s(batch.column(4))?);
            for i in 0..batch.num_rows() {
                let u = b.node(&src[i]);
                let v = b.node(&dst[i]);
                let p = match model {
                    ArcModel::Learned { prior } => {
                        let p =
                            (k[i].unwrap_or(0.0) + prior * rate) / (n[i].unwrap_or(0.0) + prior);
                        // Repeated shares to one person: independent chances.
                        Some(1.0 - (1.0 - p).powi(times[i].unwrap_or(1) as i32))
                    }
                    _ => None,
                };
                b.edge(u, v, p, 0);
            }
        }
        if b.node_count() == 0 {
            return Err(Error::Request(
                "no share names its recipient: the referral graph has no arcs".into(),
            ));
        }
        let edge_model = match model {
            ArcModel::Learned { .. } => EdgeModel::Given,
            ArcModel::WeightedCascade => EdgeModel::WeightedCascade,
            ArcModel::Constant(p) => EdgeModel::Constant(p),
        };
        // Places of the nodes that are customers, read in order: a group's
        // number is its first customer's, the same on every run.
        let n = b.node_count();
        let mut region_of = vec![None; n];
        let mut country_of = vec![None; n];
        let mut regions = Interner::default();
        let mut countries = Interner::default();
        let (_, batches) = self
            .sql("SELECT customer_id, country, region FROM customers ORDER BY customer_id")
            .await?;
        for batch in &batches {
            let id = strings(batch.column(0))?;
            let country = opt_strings(batch.column(1))?;
            let region = opt_strings(batch.column(2))?;
            for i in 0..batch.num_rows() {
                let Some(v) = b.lookup(&id[i]) else { continue };
                if let Some(c) = country[i].as_deref().filter(|c| !c.is_empty()) {
                    country_of[v as usize] = Some(countries.id(c));
                    if let Some(r) = region[i].as_deref().filter(|r| !r.is_empty()) {
                        region_of[v as usize] = Some(regions.id(&format!("{c}/{r}")));
                    }
                }
            }
        }
        let graph = b
            .build(edge_model, false)
            .map_err(|e| Error::Request(e.to_string()))?;
        Ok(ReferralGraph {
            graph,
            region_of,
            regions: regions.names,
            country_of,
            countries: countries.names,
            shares,
            conversions,
        })
    }
}

#[derive(Default)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// Everyone in the cascades: each customer with their first-touch referrer,
/// when they joined, and where they live.
pub(crate) struct People {
    pub ids: Vec<String>,
    pub parent: Vec<Option<u32>>,
    /// Microseconds since the epoch: first_seen, else the first paid order.
    pub joined: Vec<Option<i64>>,
    pub country: Vec<Option<String>>,
    pub region: Vec<Option<String>>,
    pub city: Vec<Option<String>>,
    /// Referral cycles cut to make the forest.
    pub cycles_cut: usize,
}

impl Engine {
    /// Every person (see [`People`]), read once per engine: cascades, reach
    /// and the metrics share them.
    pub(crate) async fn people(&self) -> Result<std::sync::Arc<People>> {
        self.people
            .get_or_try_init(|| async { self.read_people().await.map(std::sync::Arc::new) })
            .await
            .cloned()
    }

    async fn read_people(&self) -> Result<People> {
        let with_shares = self.shares();
        let (_, batches) = self
            .sql(&format!(
                "WITH {with_shares},
                 conv AS (SELECT recipient_id, sharer_id,
                                 ROW_NUMBER() OVER (PARTITION BY recipient_id
                                                    ORDER BY ts, sharer_id) AS k
                          FROM sh WHERE converted AND recipient_id IS NOT NULL
                                    AND recipient_id <> sharer_id)
                 -- Every customer and every buyer, once each (customer_id is
                 -- customers' key): one full join, not a union joined twice.
                 SELECT COALESCE(c.customer_id, fo.customer_id) AS customer_id,
                        COALESCE(NULLIF(c.referred_by, ''), conv.sharer_id) AS parent,
                        CAST(COALESCE(c.first_seen, fo.t) AS BIGINT) AS joined,
                        c.country, c.region, c.city
                 FROM customers c FULL JOIN fo ON fo.customer_id = c.customer_id
                 LEFT JOIN conv ON conv.recipient_id = COALESCE(c.customer_id, fo.customer_id)
                                AND conv.k = 1
                 ORDER BY 1"
            ))
            .await?;
        let mut p = People {
            ids: Vec::new(),
            parent: Vec::new(),
            joined: Vec::new(),
            country: Vec::new(),
            region: Vec::new(),
            city: Vec::new(),
            cycles_cut: 0,
        };
        let mut parent_ids: Vec<Option<String>> = Vec::new();
        for b in &batches {
            p.ids.extend(strings(b.column(0))?);
            parent_ids.extend(opt_strings(b.column(1))?);
            p.joined.extend(i64s(b.column(2))?);
            p.country.extend(opt_strings(b.column(3))?);
            p.region.extend(opt_strings(b.column(4))?);
            p.city.extend(opt_strings(b.column(5))?);
        }
        let mut index: HashMap<String, u32> = p
            .ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        for (i, parent) in parent_ids.into_iter().enumerate() {
            let parent = parent.filter(|x| *x != p.ids[i]).map(|x| {
                *index.entry(x.clone()).or_insert_with(|| {
                    // A referrer we know only by id: a root with no details.
                    p.ids.push(x);
                    p.joined.push(None);
                    p.country.push(None);
                    p.region.push(None);
                    p.city.push(None);
                    (p.ids.len() - 1) as u32
                })
            });
            p.parent.push(parent);
        }
        p.parent.resize(p.ids.len(), None);
        p.cycles_cut = koubei_wom::break_cycles(&mut p.parent);
        Ok(p)
    }
}

/// Order statistics of one measure over cascades.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub measure: &'static str,
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Distribution {
    pub(crate) fn of(measure: &'static str, mut v: Vec<f64>) -> Distribution {
        v.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value with at least q of the data at or
        // below it.
        let q = |q: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            v[i]
        };
        Distribution {
            measure,
            mean: if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            },
            median: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

pub(crate) fn forest(p: &People) -> Result<Forest> {
    Forest::new(&p.parent).map_err(|e| Error::Request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn distribution_uses_nearest_rank() {
        let d = Distribution::of("x", (1..=10).map(f64::from).collect());
        assert_eq!((d.median, d.p90, d.max, d.mean), (5.0, 9.0, 10.0, 5.5));
    }

    #[test]
    fn periods_start_on_monday_and_the_first() {
        // 2024-03-07 is a Thursday.
        let t = NaiveDate::from_ymd_opt(2024, 3, 7)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(Period::Week.of_micros(t).to_string(), "2024-03-04");
        assert_eq!(Period::Month.of_micros(t).to_string(), "2024-03-01");
        assert_eq!(Period::Day.of_micros(t).to_string(), "2024-03-07");
    }
}

/// A small shop whose word-of-mouth numbers are worked out by hand in the
/// tests below.
#[cfg(test)]
pub(crate) mod shop {
    use koubei_schema::TableKind;

    use crate::Engine;

    pub const CUSTOMERS: &str = "customer_id,first_seen,country,region,city,referred_by
a,2024-01-01,CN,Guangdong,Shenzhen,
b,2024-01-10,CN,广东省,Guangzhou,a
c,2024-01-20,US,California,Los Angeles,a
d,2024-02-05,CN,Beijing,Beijing,b
e,2024-02-01,CN,Zhejiang,Hangzhou,
f,2024-02-10,FR,Île-de-France,Paris,
";
    pub const ORDERS: &str = "order_id,customer_id,ts,amount,status
o1,a,2024-01-01,100,paid
o2,b,2024-01-10,50,paid
o3,c,2024-01-20,30,paid
o4,d,2024-02-05,20,paid
o5,e,2024-02-01,10,paid
o6,f,2024-02-10,40,paid
o7,a,2024-02-15,60,paid
o8,c,2024-02-16,99,refunded
";
    /// e→f leaves `ordered` empty: it is derived from f's first order.
    pub const REFERRALS: &str = "ts,sharer_id,recipient_id,channel,clicked,ordered
2024-01-05,a,b,wechat,true,true
2024-01-15,a,c,whatsapp,true,true
2024-01-16,a,,link,false,false
2024-02-01,b,d,wechat,true,true
2024-02-07,e,f,email,true,
2024-02-09,e,x,email,false,
";

    pub async fn engine() -> (tempfile::TempDir, Engine) {
        crate::test_engine_with(&[
            (TableKind::Customers, CUSTOMERS),
            (TableKind::Orders, ORDERS),
            (TableKind::Referrals, REFERRALS),
        ])
        .await
    }
}

#[cfg(test)]
mod shop_tests {
    use super::*;

    #[tokio::test]
    async fn cascades_by_hand() {
        let (_d, e) = shop::engine().await;
        let r = e.cascades(&CascadeRequest::default()).await.unwrap();
        // a → {b → d, c}; e → f (f's referrer comes from the referrals table).
        assert_eq!(
            (r.people, r.referred, r.cascades, r.singletons),
            (6, 4, 2, 0)
        );
        let top = &r.largest[0];
        assert_eq!(
            (top.root.as_str(), top.size, top.depth, top.max_breadth),
            ("a", 4, 2, 2)
        );
        // Distances: a-b 1, a-c 1, a-d 2, b-c 2, b-d 1, c-d 3: 10 / 6.
        assert!((top.structural_virality.unwrap() - 10.0 / 6.0).abs() < 1e-12);
        assert_eq!(top.duration_days, Some(35.0));
        let tree = top.tree.as_ref().unwrap();
        assert_eq!(tree.children.len(), 2);
        assert_eq!(r.largest[1].structural_virality, Some(1.0));
        let last = r.over_time.last().unwrap();
        assert_eq!(
            (
                last.period.as_str(),
                last.referred_total,
                last.cascades_total
            ),
            ("2024-02-01", 4, 2)
        );
    }

    #[tokio::test]
    async fn reach_by_hand() {
        let (_d, e) = shop::engine().await;
        let r = e.reach(&ReachRequest::default()).await.unwrap();
        // Referred: b (广东省 = CN-GD), c (US), d (CN-BJ), f (FR).
        assert_eq!(r.reached, 4);
        assert_eq!(
            (r.places.countries, r.places.regions, r.places.cities),
            (3, 4, 4)
        );
        assert_eq!((r.places.home_regions, r.home_regions_total), (2, 34));
        assert_eq!(r.overseas, vec!["FR", "US"]);
        assert_eq!(r.continent_list, vec!["Asia", "Europe", "North America"]);
        assert!((r.places.global_coverage - 3.0 / 249.0).abs() < 1e-12);
        assert!(
            r.home_regions_reached
                .iter()
                .any(|s| s.starts_with("CN-GD"))
        );
        assert_eq!(r.over_time.len(), 2);
        // One referred customer in each place; countries carry their ISO
        // numeric code, which world maps key on.
        let regions: Vec<(&str, usize)> = r
            .home_region_customers
            .iter()
            .map(|p| (p.code.as_str(), p.customers))
            .collect();
        assert_eq!(regions, [("CN-BJ", 1), ("CN-GD", 1)]);
        let countries: Vec<(&str, Option<&str>, usize)> = r
            .country_customers
            .iter()
            .map(|p| (p.code.as_str(), p.numeric.as_deref(), p.customers))
            .collect();
        assert_eq!(
            countries,
            [
                ("CN", Some("156"), 2),
                ("FR", Some("250"), 1),
                ("US", Some("840"), 1)
            ]
        );
    }

    #[tokio::test]
    async fn metrics_by_hand() {
        let (_d, e) = shop::engine().await;
        let r = e
            .wom_metrics(&MetricsRequest {
                clv: false,
                ..Default::default()
            })
            .await
            .unwrap();
        // Without the funnel: the same periods, order channels and cohorts.
        let without = e
            .wom_metrics(&MetricsRequest {
                clv: false,
                funnel: false,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(without.funnel.is_none() && without.channels.is_empty());
        assert!(!r.channels.is_empty() && !r.periods.is_empty());
        let rest = |r: &MetricsReport| {
            serde_json::to_string(&(&r.periods, &r.order_channels, &r.referred)).unwrap()
        };
        assert_eq!(rest(&without), rest(&r));
        let f = r.funnel.as_ref().unwrap();
        assert_eq!(
            (
                f.shares,
                f.with_recipient,
                f.clicked,
                f.ordered,
                f.new_customers
            ),
            (6, 5, 4, 4, 4)
        );
        // Days from share to first order: b 5, c 5, d 4, f 3.
        assert_eq!(f.days_to_order_mean, Some(4.25));
        assert_eq!(f.days_to_order_median, Some(4.5));
        let jan = &r.periods[0];
        assert_eq!(
            (
                jan.buyers,
                jan.orders,
                jan.shares,
                jan.new_customers_from_shares
            ),
            (3, 3, 3, 2)
        );
        assert_eq!((jan.sharing_buyers, jan.shared_orders), (1, 1));
        assert!((jan.k_factor - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((jan.new_customers, jan.referred_new_customers), (3, 2));
        let feb = &r.periods[1];
        assert_eq!(
            (
                feb.buyers,
                feb.orders,
                feb.shares,
                feb.new_customers_from_shares
            ),
            (4, 4, 3, 2)
        );
        assert_eq!((feb.sharing_buyers, feb.shared_orders), (1, 1));
        assert!((feb.k_factor - 0.5).abs() < 1e-12);
        assert_eq!((feb.new_customers, feb.referred_new_customers), (3, 2));
        // Shared orders: o1 (a shared 4 days later) and o5 (e, 6 days later);
        // b shared 22 days after o2, outside the 7-day window.
        let oc = &r.order_channels[0];
        assert_eq!(
            (oc.orders, oc.shared_orders, oc.buyers, oc.sharing_buyers),
            (7, 2, 6, 2)
        );
        let wechat = r.channels.iter().find(|c| c.channel == "wechat").unwrap();
        assert_eq!((wechat.shares, wechat.ordered), (2, 2));
        let referred = &r.referred[0];
        assert_eq!((referred.customers, referred.revenue), (4, 140.0));
        let others = &r.referred[1];
        assert_eq!((others.customers, others.revenue), (2, 170.0));
        assert_eq!(others.repeat_rate, 0.5);
    }

    #[tokio::test]
    async fn the_learned_graph_seeds_the_first_sharer() {
        let (_d, e) = shop::engine().await;
        let g = e
            .referral_graph(ArcModel::Learned { prior: 10.0 })
            .await
            .unwrap();
        assert_eq!((g.shares, g.conversions), (6, 4));
        // Arcs a→b, a→c, b→d, e→f, e→x.
        assert_eq!(g.graph.arc_count(), 5);
        let a = g.graph.find("a").unwrap();
        let b = g.graph.find("b").unwrap();
        // a converted 2 of 3 shares; the shop 4 of 6: (2 + 10 × 2/3) / 13.
        let p = g.graph.in_arcs(b).next().unwrap();
        assert_eq!(p.0, a);
        assert!((p.1 as f64 - (2.0 + 10.0 * 4.0 / 6.0) / 13.0).abs() < 1e-6);
        let s = koubei_wom::select_seeds(
            &g.graph,
            &koubei_wom::Targets::Nodes,
            &koubei_wom::SeedRequest {
                k: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(g.graph.label(s.seeds[0]), "a");
        let empty = crate::test_engine(koubei_schema::TableKind::Orders, shop::ORDERS).await;
        let err = empty
            .1
            .referral_graph(ArcModel::WeightedCascade)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("the referrals table is empty"),
            "{err}"
        );
    }
}
