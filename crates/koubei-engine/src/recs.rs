//! Recommendations from the shop's paid orders: the customer × product
//! matrix built here, the models in koubei-recs. Bought together, similar
//! products, a customer's top N, and an evaluation of every model against
//! the popularity baseline on a temporal split.

use std::collections::BTreeMap;
use std::time::Instant;

use koubei_recs::{
    Als, Event, Interactions, ItemKnn, Metrics, Popularity, Recommender, Similarity, evaluate,
    temporal_split, together,
};
use serde::{Deserialize, Serialize};

use crate::cols::{i64s, strings};
use crate::{Engine, Error, Result};

/// The models `recommend` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecModel {
    /// Implicit-feedback matrix factorisation (64 factors, 15 sweeps).
    Als,
    /// Item-to-item cosine similarity from co-purchase.
    Itemknn,
    /// The most bought products: the baseline.
    Pop,
}

impl RecModel {
    pub const ALL: [RecModel; 3] = [RecModel::Als, RecModel::Itemknn, RecModel::Pop];

    pub fn name(self) -> &'static str {
        match self {
            RecModel::Als => "als",
            RecModel::Itemknn => "itemknn",
            RecModel::Pop => "pop",
        }
    }
}

impl std::str::FromStr for RecModel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        RecModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("{s}: expected als, itemknn or pop"))
    }
}

/// The paid order lines, as ids and the matrix.
struct Purchases {
    customers: Vec<String>,
    products: Vec<String>,
    /// One per order line, in time order (ties by customer, product).
    events: Vec<Event>,
    /// Per order, its products.
    baskets: Vec<Vec<u32>>,
}

impl Purchases {
    /// Order lines per customer and product: a product bought three times
    /// counts three.
    fn matrix(&self, events: impl Iterator<Item = Event>) -> Result<Interactions> {
        Interactions::from_cells(
            self.customers.len(),
            self.products.len(),
            events.map(|e| (e.user, e.item, 1.0)),
        )
        .map_err(|e| Error::Request(e.to_string()))
    }

    fn product(&self, field: &'static str, id: &str) -> Result<usize> {
        if id.is_empty() {
            return Err(Error::invalid(field, "name a product (its product_id)"));
        }
        self.products
            .binary_search_by(|p| p.as_str().cmp(id))
            .map_err(|_| Error::invalid(field, format!("{id}: no paid order has this product")))
    }
}

fn fit(model: RecModel, m: &Interactions) -> Result<Box<dyn Recommender>> {
    Ok(match model {
        RecModel::Als => Box::new(
            Als::default()
                .fit(m, |_| {})
                .map_err(|e| Error::Request(e.to_string()))?,
        ),
        RecModel::Itemknn => Box::new(ItemKnn::default().fit(m)),
        RecModel::Pop => Box::new(Popularity::fit(m)),
    })
}

/// What `recommend evaluate` measures.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct EvaluateRequest {
    /// The models to measure; all by default. Popularity is measured
    /// always, as the baseline.
    pub models: Vec<RecModel>,
    /// The share of order lines, earliest first, that train.
    pub split: f64,
    /// Recommendations per customer.
    pub k: usize,
}

impl Default for EvaluateRequest {
    fn default() -> Self {
        EvaluateRequest {
            models: RecModel::ALL.to_vec(),
            split: 0.8,
            k: 10,
        }
    }
}

/// One model's metrics at k, and each over the popularity baseline's.
#[derive(Debug, Clone, Serialize)]
pub struct ModelScore {
    pub model: &'static str,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub coverage: f64,
    pub fit_seconds: f64,
    /// precision, recall, NDCG and MAP over popularity's (None where
    /// popularity scores 0).
    pub vs_pop: [Option<f64>; 4],
}

#[derive(Debug, Clone, Serialize)]
pub struct EvaluateReport {
    pub k: usize,
    pub split: f64,
    /// Customers with order lines in both parts, over whom the metrics
    /// are averaged.
    pub customers: usize,
    pub train_lines: usize,
    pub test_lines: usize,
    pub models: Vec<ModelScore>,
}

/// What `recommend together` lists.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TogetherRequest {
    /// The product whose companions to list; the strongest rules of the
    /// shop without.
    pub product: Option<String>,
    /// Orders that must hold both products.
    pub min_orders: u64,
    /// Of the orders with the first product, the share that must hold the
    /// second.
    pub min_confidence: f64,
    /// Rules listed.
    pub top: usize,
}

impl Default for TogetherRequest {
    fn default() -> Self {
        TogetherRequest {
            product: None,
            min_orders: 5,
            min_confidence: 0.0,
            top: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleRow {
    pub product: String,
    pub with: String,
    /// Orders holding both.
    pub orders: u64,
    pub support: f64,
    pub confidence: f64,
    pub lift: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TogetherReport {
    /// Paid orders with a product.
    pub orders: usize,
    pub rules: Vec<RuleRow>,
}

/// What `recommend similar` lists.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SimilarRequest {
    pub product: String,
    pub top: usize,
    /// cosine or jaccard.
    pub similarity: String,
    /// Added to the similarity's denominator, so that products with few
    /// buyers do not look alike by chance.
    pub shrink: f32,
}

impl Default for SimilarRequest {
    fn default() -> Self {
        SimilarRequest {
            product: String::new(),
            top: 10,
            similarity: "cosine".into(),
            shrink: 10.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimilarRow {
    pub product: String,
    pub similarity: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimilarReport {
    pub product: String,
    pub similar: Vec<SimilarRow>,
}

/// What `recommend for` answers.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ForRequest {
    pub customer: String,
    pub n: usize,
    pub model: RecModel,
    /// Recommend products the customer has bought already (consumables).
    pub allow_repeat: bool,
}

impl Default for ForRequest {
    fn default() -> Self {
        ForRequest {
            customer: String::new(),
            n: 10,
            model: RecModel::Als,
            allow_repeat: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommended {
    pub product: String,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForReport {
    pub customer: String,
    pub model: &'static str,
    /// Distinct products the customer has bought.
    pub bought: usize,
    pub products: Vec<Recommended>,
}

impl Engine {
    /// The paid order lines with a customer and a product.
    async fn purchases(&self) -> Result<Purchases> {
        let sql = "SELECT CAST(customer_id AS VARCHAR) AS c, CAST(product_id AS VARCHAR) AS p,
                          CAST(ts AS BIGINT) AS t, CAST(order_id AS VARCHAR) AS o
                   FROM orders
                   WHERE status = 'paid' AND customer_id IS NOT NULL AND product_id IS NOT NULL
                   ORDER BY t, c, p, o";
        let mut rows: Vec<(String, String, i64, String)> = Vec::new();
        for b in self.sql(sql).await?.1 {
            let (c, p, t, o) = (
                strings(b.column(0))?,
                strings(b.column(1))?,
                i64s(b.column(2))?,
                strings(b.column(3))?,
            );
            for i in 0..b.num_rows() {
                rows.push((c[i].clone(), p[i].clone(), t[i].unwrap_or(0), o[i].clone()));
            }
        }
        if rows.is_empty() {
            return Err(Error::Request(
                "recommendations need paid orders with a customer and a product: import orders first"
                    .into(),
            ));
        }
        let index = |names: Vec<&String>| -> BTreeMap<String, u32> {
            let mut set: Vec<String> = names.into_iter().cloned().collect();
            set.sort_unstable();
            set.dedup();
            set.into_iter()
                .enumerate()
                .map(|(i, s)| (s, i as u32))
                .collect()
        };
        let customers = index(rows.iter().map(|r| &r.0).collect());
        let products = index(rows.iter().map(|r| &r.1).collect());
        let mut by_order: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        let events = rows
            .iter()
            .map(|(c, p, t, o)| {
                let item = products[p];
                by_order.entry(o).or_default().push(item);
                Event {
                    user: customers[c],
                    item,
                    ts: *t,
                }
            })
            .collect();
        let baskets = by_order.into_values().collect();
        Ok(Purchases {
            customers: customers.into_keys().collect(),
            products: products.into_keys().collect(),
            events,
            baskets,
        })
    }

    pub async fn recommend_evaluate(&self, req: &EvaluateRequest) -> Result<EvaluateReport> {
        if !(req.split > 0.0 && req.split < 1.0) {
            return Err(Error::invalid(
                "split",
                format!(
                    "{}: a share between 0 and 1 (0.8 trains on the earliest 80%)",
                    req.split
                ),
            ));
        }
        if req.k == 0 {
            return Err(Error::invalid("k", "at least 1"));
        }
        let p = self.purchases().await?;
        let is_train = temporal_split(&p.events, req.split);
        let part = |want: bool| {
            p.events
                .iter()
                .zip(&is_train)
                .filter(move |(_, t)| **t == want)
                .map(|(e, _)| *e)
        };
        let (train, test) = (p.matrix(part(true))?, p.matrix(part(false))?.binary());
        let score = |model: RecModel| -> Result<(Metrics, f64)> {
            let started = Instant::now();
            let fitted = fit(model, &train)?;
            let seconds = started.elapsed().as_secs_f64();
            let recs: Vec<Vec<u32>> = (0..train.rows())
                .map(|u| {
                    fitted
                        .recommend(u, train.row(u).0, req.k)
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect();
            Ok((evaluate(&recs, &train, &test, req.k), seconds))
        };
        let (pop, _) = score(RecModel::Pop)?;
        let over = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        let mut models = Vec::new();
        for &model in &req.models {
            let (m, seconds) = score(model)?;
            models.push(ModelScore {
                model: model.name(),
                precision: m.precision,
                recall: m.recall,
                ndcg: m.ndcg,
                map: m.map,
                coverage: m.coverage,
                fit_seconds: seconds,
                vs_pop: [
                    over(m.precision, pop.precision),
                    over(m.recall, pop.recall),
                    over(m.ndcg, pop.ndcg),
                    over(m.map, pop.map),
                ],
            });
        }
        Ok(EvaluateReport {
            k: req.k,
            split: req.split,
            customers: pop.users,
            train_lines: is_train.iter().filter(|t| **t).count(),
            test_lines: is_train.iter().filter(|t| !**t).count(),
            models,
        })
    }

    pub async fn recommend_together(&self, req: &TogetherRequest) -> Result<TogetherReport> {
        let p = self.purchases().await?;
        let only = match &req.product {
            Some(id) => Some(p.product("product", id)? as u32),
            None => None,
        };
        let rules = together(&p.baskets, req.min_orders, req.min_confidence)
            .into_iter()
            .filter(|r| only.is_none_or(|a| r.antecedent == a))
            .take(req.top)
            .map(|r| RuleRow {
                product: p.products[r.antecedent as usize].clone(),
                with: p.products[r.consequent as usize].clone(),
                orders: r.baskets,
                support: r.support,
                confidence: r.confidence,
                lift: r.lift,
            })
            .collect();
        Ok(TogetherReport {
            orders: p.baskets.len(),
            rules,
        })
    }

    pub async fn recommend_similar(&self, req: &SimilarRequest) -> Result<SimilarReport> {
        let similarity = match req.similarity.as_str() {
            "cosine" => Similarity::Cosine,
            "jaccard" => Similarity::Jaccard,
            s => {
                return Err(Error::invalid(
                    "similarity",
                    format!("{s}: expected cosine or jaccard"),
                ));
            }
        };
        if !(req.shrink >= 0.0 && req.shrink.is_finite()) {
            return Err(Error::invalid(
                "shrink",
                format!("{}: 0 or more", req.shrink),
            ));
        }
        let p = self.purchases().await?;
        let item = p.product("product", &req.product)?;
        let near = ItemKnn {
            similarity,
            shrink: req.shrink,
            neighbours: req.top,
        }
        .neighbours_of(&p.matrix(p.events.iter().copied())?, item);
        Ok(SimilarReport {
            product: req.product.clone(),
            similar: near
                .iter()
                .map(|&(j, s)| SimilarRow {
                    product: p.products[j as usize].clone(),
                    similarity: f64::from(s),
                })
                .collect(),
        })
    }

    pub async fn recommend_for(&self, req: &ForRequest) -> Result<ForReport> {
        if req.customer.is_empty() {
            return Err(Error::invalid(
                "customer",
                "name a customer (their customer_id)",
            ));
        }
        let p = self.purchases().await?;
        let user = p
            .customers
            .binary_search_by(|c| c.as_str().cmp(&req.customer))
            .map_err(|_| {
                Error::invalid(
                    "customer",
                    format!("{}: no paid order has this customer", req.customer),
                )
            })?;
        let m = p.matrix(p.events.iter().copied())?;
        let fitted = fit(req.model, &m)?;
        let bought = m.row(user).0;
        let exclude: &[u32] = if req.allow_repeat { &[] } else { bought };
        Ok(ForReport {
            customer: req.customer.clone(),
            model: req.model.name(),
            bought: bought.len(),
            products: fitted
                .recommend(user, exclude, req.n)
                .into_iter()
                .map(|(i, s)| Recommended {
                    product: p.products[i as usize].clone(),
                    score: f64::from(s),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    /// Two kinds of customers: tea drinkers (green, black, cups) and
    /// coffee drinkers (beans, grinder, filters), each order a basket of
    /// two of their kind's products, on days 1 to 20.
    fn orders() -> String {
        let mut csv = String::from("order_id,customer_id,ts,amount,status,product_id\n");
        let kinds = [["green", "black", "cups"], ["beans", "grinder", "filters"]];
        let mut n = 0;
        for c in 0..20 {
            let kind = &kinds[c % 2];
            for day in 0..3 {
                let (a, b) = (kind[day % 3], kind[(day + 1 + c / 2 % 2) % 3]);
                for p in [a, b] {
                    csv.push_str(&format!(
                        "o{n},c{c:02},2024-01-{:02},10,paid,{p}\n",
                        1 + (c + 7 * day) % 20
                    ));
                }
                n += 1;
            }
        }
        csv
    }

    #[tokio::test]
    async fn together_similar_and_for_a_customer() {
        let (_dir, e) = crate::test_engine(TableKind::Orders, &orders()).await;
        let t = e
            .recommend_together(&TogetherRequest::default())
            .await
            .unwrap();
        assert_eq!(t.orders, 60);
        // Tea goes with tea, coffee with coffee: no rule crosses.
        let tea = ["green", "black", "cups"];
        for r in &t.rules {
            assert_eq!(
                tea.contains(&r.product.as_str()),
                tea.contains(&r.with.as_str()),
                "{r:?}"
            );
            // Each kind's products go together more than chance.
            assert!(r.lift > 1.0, "{r:?}");
        }
        let green = e
            .recommend_together(&TogetherRequest {
                product: Some("green".into()),
                ..TogetherRequest::default()
            })
            .await
            .unwrap();
        assert!(!green.rules.is_empty() && green.rules.iter().all(|r| r.product == "green"));

        let s = e
            .recommend_similar(&SimilarRequest {
                product: "beans".into(),
                ..SimilarRequest::default()
            })
            .await
            .unwrap();
        let near: Vec<&str> = s.similar.iter().map(|x| x.product.as_str()).collect();
        assert_eq!(near.len(), 2, "{near:?}");
        assert!(
            near.contains(&"grinder") && near.contains(&"filters"),
            "{near:?}"
        );

        for model in RecModel::ALL {
            let r = e
                .recommend_for(&ForRequest {
                    customer: "c00".into(),
                    model,
                    allow_repeat: true,
                    n: 3,
                })
                .await
                .unwrap();
            assert_eq!(r.bought, 3);
            assert_eq!(r.products.len(), 3, "{model:?}");
            if model != RecModel::Pop {
                // A tea drinker gets tea.
                assert!(
                    r.products.iter().all(|p| tea.contains(&p.product.as_str())),
                    "{r:?}"
                );
            }
        }
        let none = e
            .recommend_for(&ForRequest {
                customer: "c00".into(),
                ..ForRequest::default()
            })
            .await
            .unwrap();
        assert!(
            none.products
                .iter()
                .all(|p| !tea.contains(&p.product.as_str()))
        );
        let err = e
            .recommend_for(&ForRequest {
                customer: "nobody".into(),
                ..ForRequest::default()
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("customer") && err.contains("nobody"), "{err}");
    }

    /// Two kinds of customers, eight products each; every customer buys
    /// one product a day, five days, from their kind only. The models that
    /// learn the kinds beat popularity, which recommends the other kind's
    /// products half the time.
    #[tokio::test]
    async fn evaluate_against_popularity() {
        let mut csv = String::from("order_id,customer_id,ts,amount,status,product_id\n");
        for c in 0..60usize {
            for day in 0..5usize {
                let product = (c * 7 + day * 3 + c / 2) % 8 + 8 * (c % 2);
                csv.push_str(&format!(
                    "o{c}-{day},c{c:02},2024-01-{:02},10,paid,p{product:02}\n",
                    1 + day * 5 + c % 5
                ));
            }
        }
        let (_dir, e) = crate::test_engine(TableKind::Orders, &csv).await;
        let r = e
            .recommend_evaluate(&EvaluateRequest::default())
            .await
            .unwrap();
        assert_eq!((r.train_lines, r.test_lines), (240, 60));
        assert_eq!(r.models.len(), 3);
        assert!(r.customers > 30, "{r:?}");
        let ndcg = |name: &str| r.models.iter().find(|m| m.model == name).unwrap().ndcg;
        assert!(
            ndcg("itemknn") > ndcg("pop") && ndcg("als") > ndcg("pop"),
            "{r:?}"
        );
        let pop = r.models.iter().find(|m| m.model == "pop").unwrap();
        assert_eq!(pop.vs_pop[2], Some(1.0));
        let err = e
            .recommend_evaluate(&EvaluateRequest {
                split: 1.0,
                ..EvaluateRequest::default()
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("split"), "{err}");
    }
}
