//! Recommendations from the shop's paid orders: the customer × product
//! matrix built here, the models in koubei-recs. Bought together, similar
//! products, a customer's top N, and an evaluation of every model against
//! the popularity baseline on a temporal split.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringViewArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use koubei_recs::{
    Als, Event, Interactions, ItemKnn, Metrics, Popularity, Similarity, evaluate, temporal_split,
    together,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cols::strings;
pub use crate::recs_model::RecModel;
use crate::recs_model::{self, Customers, ItemSide, ModelInfo, Trained};
use crate::review_terms::quoted;
use crate::{Engine, Error, Result};

/// The paid order lines, and the weighted events, as ids and the matrix.
struct Purchases {
    customers: Vec<String>,
    products: Vec<String>,
    /// One per paid order line, in time order (ties by customer, product).
    events: Vec<Event>,
    /// Events of the names weighted, with their weights, in time order.
    weighted: Vec<(Event, f32)>,
}

impl Purchases {
    /// Per customer and product, an order line counts 1 (a product bought
    /// three times counts three) and an event its weight.
    fn matrix(&self, events: impl Iterator<Item = (Event, f32)>) -> Result<Interactions> {
        Interactions::from_cells(
            self.customers.len(),
            self.products.len(),
            events.map(|(e, w)| (e.user, e.item, w)),
        )
        .map_err(|e| Error::Request(e.to_string()))
    }

    /// Every order line and weighted event.
    fn all(&self) -> impl Iterator<Item = (Event, f32)> + '_ {
        self.events
            .iter()
            .map(|e| (*e, 1.0))
            .chain(self.weighted.iter().copied())
    }

    fn product(&self, field: &'static str, id: &str) -> Result<usize> {
        product_of(&self.products, field, id)
    }

    /// Fits `model` on every cell; with its customers' side.
    fn fit(
        &self,
        model: RecModel,
        info: ModelInfo,
        on_sweep: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<(Trained, Customers)> {
        let m = self.matrix(self.all())?;
        let bought = if self.weighted.is_empty() {
            m.clone()
        } else {
            self.matrix(self.events.iter().map(|e| (*e, 1.0)))?
        };
        let started = Instant::now();
        let (side, factors) = fit_side(model, &m, on_sweep)?;
        let info = ModelInfo {
            customers: m.rows(),
            products: m.cols(),
            interactions: m.nnz(),
            fit_seconds: started.elapsed().as_secs_f64(),
            ..info
        };
        Ok((
            Trained {
                info,
                products: self.products.clone(),
                side,
            },
            Customers {
                ids: self.customers.clone(),
                items: rows(&m),
                bought: rows(&bought),
                factors,
            },
        ))
    }
}

/// Fits `model` on `m`: its side of the products, and ALS's factors of the
/// customers (empty for the other models).
fn fit_side(
    model: RecModel,
    m: &Interactions,
    on_sweep: &(dyn Fn(usize, usize) + Sync),
) -> Result<(ItemSide, Vec<f32>)> {
    Ok(match model {
        RecModel::Als => {
            let als = Als::default();
            let mut fitted = als
                .fit(m, |done| on_sweep(done, als.iterations))
                .map_err(|e| Error::Request(e.to_string()))?;
            let factors = std::mem::take(&mut fitted.users);
            (ItemSide::Als(fitted), factors)
        }
        RecModel::Itemknn => (ItemSide::Knn(ItemKnn::default().fit(m)), Vec::new()),
        RecModel::Pop => (ItemSide::Pop(Popularity::fit(m)), Vec::new()),
    })
}

/// Each row's items.
fn rows(m: &Interactions) -> Vec<Vec<u32>> {
    (0..m.rows()).map(|u| m.row(u).0.to_vec()).collect()
}

/// Events that the models learn from beside the paid orders: each event
/// name's weight, where a paid order line weighs 1 (say
/// `{"view": 0.1, "add_to_cart": 0.5}`). Empty: the orders alone.
pub type EventWeights = BTreeMap<String, f32>;

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
    /// Events to learn from beside the orders, by weight; those before
    /// the split's last training order line train. The test is orders.
    pub event_weights: EventWeights,
}

impl Default for EvaluateRequest {
    fn default() -> Self {
        EvaluateRequest {
            models: RecModel::ALL.to_vec(),
            split: 0.8,
            k: 10,
            event_weights: EventWeights::new(),
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
    /// Events to learn from beside the orders, by weight. A stored model
    /// trained with other weights is not used.
    pub event_weights: EventWeights,
    /// Fit on the latest data now, even when a stored model exists.
    pub refit: bool,
}

impl Default for ForRequest {
    fn default() -> Self {
        ForRequest {
            customer: String::new(),
            n: 10,
            model: RecModel::Als,
            allow_repeat: false,
            event_weights: EventWeights::new(),
            refit: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommended {
    pub product: String,
    pub score: f64,
}

/// Which model answered: one stored by `recommend train`, or one fitted
/// for this answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelUsed {
    pub model: &'static str,
    /// When the stored model was trained; None when fitted for this answer.
    pub trained_at: Option<String>,
    /// The versions of the tables it learnt from.
    pub data_version: BTreeMap<String, i64>,
    /// Whether the tables changed since it was trained: purchases made
    /// since are neither learnt nor left out. Train again to include them.
    pub stale: bool,
    pub event_weights: EventWeights,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForReport {
    pub customer: String,
    #[serde(flatten)]
    pub model: ModelUsed,
    /// Distinct products the customer has bought.
    pub bought: usize,
    pub products: Vec<Recommended>,
}

/// What `recommend train` fits and stores.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TrainRequest {
    pub models: Vec<RecModel>,
    /// Events to learn from beside the orders, by weight.
    pub event_weights: EventWeights,
}

impl Default for TrainRequest {
    fn default() -> Self {
        TrainRequest {
            models: vec![RecModel::Als],
            event_weights: EventWeights::new(),
        }
    }
}

/// One stored model.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedModel {
    pub model: &'static str,
    pub trained_at: String,
    pub data_version: BTreeMap<String, i64>,
    pub event_weights: EventWeights,
    pub customers: usize,
    pub products: usize,
    /// Customer × product cells learnt from.
    pub interactions: usize,
    pub fit_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub models: Vec<TrainedModel>,
}

/// What `recommend export` lists: every customer's top N, or those of a
/// list of customers.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ExportRequest {
    pub n: usize,
    pub model: RecModel,
    pub allow_repeat: bool,
    /// RFM segments whose customers to list (every customer without any),
    /// e.g. "At Risk" for a win-back campaign.
    pub segments: Vec<String>,
    pub event_weights: EventWeights,
    pub refit: bool,
    /// Customers listed at most, in id order; 0 lists all.
    pub limit: usize,
}

impl Default for ExportRequest {
    fn default() -> Self {
        ExportRequest {
            n: 10,
            model: RecModel::Als,
            allow_repeat: false,
            segments: Vec::new(),
            event_weights: EventWeights::new(),
            refit: false,
            limit: 0,
        }
    }
}

/// One customer's top N.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerRecs {
    pub customer_id: String,
    /// Their RFM segment, when the export asked for segments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<&'static str>,
    pub products: Vec<Recommended>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    #[serde(flatten)]
    pub model: ModelUsed,
    pub n: usize,
    /// Customers the model knows of those asked for (every customer
    /// without a list); `customers` holds the first `limit` of them.
    pub matched: usize,
    /// Customers asked for that the model does not know (no order with a
    /// product when it was trained).
    pub unknown: usize,
    pub customers: Vec<CustomerRecs>,
}

/// The place of product `id` among `products` (sorted).
fn product_of(products: &[String], field: &'static str, id: &str) -> Result<usize> {
    if id.is_empty() {
        return Err(Error::invalid(field, "name a product (its product_id)"));
    }
    products
        .binary_search_by(|p| p.as_str().cmp(id))
        .map_err(|_| Error::invalid(field, format!("{id}: no paid order has this product")))
}

/// Each row of (customer, product, ts, event) columns as an event with
/// first-seen numbers, and its weight (1 for an order line).
fn cells<'a>(
    batches: &'a [[ArrayRef; 4]],
    customers: &mut RunIds<'a>,
    products: &mut Ids<'a>,
    weights: &EventWeights,
) -> Vec<(Event, f32)> {
    let mut out: Vec<(Event, f32)> = Vec::new();
    for [c, p, t, e] in batches {
        let (c, p, e) = (c.as_string_view(), p.as_string_view(), e.as_string_view());
        let t = t.as_primitive::<Int64Type>();
        for r in 0..c.len() {
            let event = Event {
                user: customers.of(c, r),
                item: products.of(p, r),
                ts: if t.is_null(r) { 0 } else { t.value(r) },
            };
            out.push((event, weights.get(e.value(r)).copied().unwrap_or(1.0)));
        }
    }
    out
}

/// Ids numbered as they are first seen. Hashed with foldhash: each of
/// millions of order lines looks up its order, customer and product.
#[derive(Default)]
struct Ids<'a> {
    at: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    /// Ids of at most 12 bytes, by their view: its length and the bytes,
    /// zero-padded, so equal views are equal ids. One 16-byte key to hash
    /// and compare, not a string (most ids are short: `c0991096`, `1042`).
    short: HashMap<u128, u32, foldhash::fast::RandomState>,
    /// The short id looked up last, and its number: an order's lines, and
    /// often a customer's, come together.
    last: Option<(u128, u32)>,
    names: Vec<&'a str>,
}

/// The longest id a string view holds in itself.
const INLINE: u32 = 12;

/// Ids numbered by runs: the rows of one id that come one after another (a
/// customer's order lines) take one number, and each later run of an id
/// seen before takes another, joined to the first when the ids are sorted.
/// For ids of which there are many, each seen in few runs: numbering a
/// million customers through a hash map made each new one a cache miss.
#[derive(Default)]
struct RunIds<'a> {
    /// Each run of an id of at most 12 bytes: its [`text_key`] and number.
    runs: Vec<(u128, u32)>,
    /// Longer ids (UUIDs, say) by a map, as [`Ids`] numbers them: one
    /// number each.
    long: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    /// The view of the short id read last.
    last: Option<u128>,
    /// Numbers given so far.
    next: u32,
}

/// An id of at most 12 bytes as a number that orders as the strings do:
/// its bytes big-endian, zero-padded, then its length (which orders a
/// prefix before the same bytes with zeros after).
fn str_key(s: &str) -> u128 {
    let mut b = [0u8; 16];
    b[..s.len()].copy_from_slice(s.as_bytes());
    u128::from_be_bytes(b) | s.len() as u128
}

/// [`str_key`] of a short id, from its string view (the length, then the
/// bytes) without reading the string.
fn text_key(view: u128) -> u128 {
    (view >> 32).swap_bytes() | u128::from(view as u32)
}

/// The id a [`text_key`] is of.
fn key_text(key: u128) -> String {
    let len = (key as u32 & 0xff) as usize;
    String::from_utf8_lossy(&key.to_be_bytes()[..len]).into_owned()
}

impl<'a> RunIds<'a> {
    /// The number of row `r`'s id.
    fn of(&mut self, ids: &'a StringViewArray, r: usize) -> u32 {
        let view = ids.views()[r];
        if view as u32 > INLINE {
            self.last = None;
            let next = &mut self.next;
            return *self.long.entry(ids.value(r)).or_insert_with(|| {
                *next += 1;
                *next - 1
            });
        }
        if self.last != Some(view) {
            self.last = Some(view);
            self.runs.push((text_key(view), self.next));
            self.next += 1;
        }
        self.next - 1
    }

    /// The distinct ids in text order, and each number's place among them.
    fn sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut runs = self.runs;
        runs.par_sort_unstable();
        let mut names: Vec<String> = Vec::new();
        let mut place = vec![0u32; self.next as usize];
        for same in runs.chunk_by(|a, b| a.0 == b.0) {
            for &(_, n) in same {
                place[n as usize] = names.len() as u32;
            }
            names.push(key_text(same[0].0));
        }
        drop(runs);
        if self.long.is_empty() {
            return (names, place);
        }
        // Long ids among the short ones: every distinct id sorted as text.
        for (name, n) in self.long {
            place[n as usize] = names.len() as u32;
            names.push(name.to_string());
        }
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        order.par_sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut rank = vec![0u32; names.len()];
        for (r, &d) in order.iter().enumerate() {
            rank[d as usize] = r as u32;
        }
        place.iter_mut().for_each(|p| *p = rank[*p as usize]);
        let mut names: Vec<Option<String>> = names.into_iter().map(Some).collect();
        let names = order
            .iter()
            .map(|&d| names[d as usize].take().unwrap_or_default())
            .collect();
        (names, place)
    }
}

/// Each order's products (as their places among the sorted product ids,
/// which come first), orders numbered as they first come, from columns of
/// order and product ids. An order's lines nearly always come one after
/// another, so each run of one order's lines starts a basket, and a run of
/// an order seen before is merged into that order's first basket
/// afterwards, found by sorting the runs by id. Numbering every order
/// through a hash map cost 40% of `recommend together` at 1M customers:
/// each new order a cache miss in a table of millions.
fn baskets_of(columns: &[[ArrayRef; 2]]) -> (Vec<String>, Vec<Vec<u32>>) {
    let mut products = Ids::default();
    let mut baskets: Vec<Vec<u32>> = Vec::new();
    // Each run of a short id: its view (length and bytes) and its basket.
    let mut runs: Vec<(u128, u32)> = Vec::new();
    // Ids too long for a view (UUIDs, say) by a map, as they come.
    let mut long: HashMap<&str, u32, foldhash::fast::RandomState> = HashMap::default();
    let mut last: Option<u128> = None;
    for [o, p] in columns {
        let (o, p) = (o.as_string_view(), p.as_string_view());
        for r in 0..o.len() {
            let view = o.views()[r];
            let basket = if view as u32 > INLINE {
                last = None;
                *long.entry(o.value(r)).or_insert_with(|| {
                    baskets.push(Vec::new());
                    baskets.len() as u32 - 1
                })
            } else if last == Some(view) {
                baskets.len() as u32 - 1
            } else {
                last = Some(view);
                baskets.push(Vec::new());
                runs.push((view, baskets.len() as u32 - 1));
                baskets.len() as u32 - 1
            };
            baskets[basket as usize].push(products.of(p, r));
        }
    }
    // Runs of one id side by side, in the order they came: each later run
    // joins the first, and its basket is left empty to be dropped.
    runs.par_sort_unstable();
    let mut merged = vec![false; baskets.len()];
    for same in runs.chunk_by(|a, b| a.0 == b.0) {
        let first = same[0].1 as usize;
        for &(_, later) in &same[1..] {
            let lines = std::mem::take(&mut baskets[later as usize]);
            baskets[first].extend(lines);
            merged[later as usize] = true;
        }
    }
    drop(runs);
    let mut at = 0;
    baskets.retain(|_| {
        at += 1;
        !merged[at - 1]
    });
    let (products, place) = products.sorted();
    baskets.par_iter_mut().for_each(|b| {
        b.iter_mut().for_each(|i| *i = place[*i as usize]);
    });
    (products, baskets)
}

impl<'a> Ids<'a> {
    fn id(&mut self, name: &'a str) -> u32 {
        let next = self.names.len() as u32;
        match self.at.entry(name) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(v) => {
                self.names.push(name);
                *v.insert(next)
            }
        }
    }

    /// The number of row `r`'s id.
    fn of(&mut self, ids: &'a StringViewArray, r: usize) -> u32 {
        let view = ids.views()[r];
        if view as u32 > INLINE {
            return self.id(ids.value(r));
        }
        if let Some((last, id)) = self.last
            && last == view
        {
            return id;
        }
        let next = self.names.len() as u32;
        let id = *self.short.entry(view).or_insert_with(|| {
            self.names.push(ids.value(r));
            next
        });
        self.last = Some((view, id));
        id
    }

    /// The ids in order, and each first-seen number's place among them.
    fn sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        if self.names.iter().all(|s| s.len() <= INLINE as usize) {
            // Short ids sort as numbers (a million customer ids took a
            // fifth of a second as strings).
            let mut keyed: Vec<(u128, u32)> = order
                .iter()
                .map(|&i| (str_key(self.names[i as usize]), i))
                .collect();
            keyed.sort_unstable();
            order = keyed.into_iter().map(|(_, i)| i).collect();
        } else {
            order.sort_unstable_by_key(|&i| self.names[i as usize]);
        }
        let mut place = vec![0u32; order.len()];
        for (rank, &i) in order.iter().enumerate() {
            place[i as usize] = rank as u32;
        }
        let names = order
            .iter()
            .map(|&i| self.names[i as usize].to_string())
            .collect();
        (names, place)
    }
}

impl Engine {
    /// The paid order lines with a customer and a product, and the events
    /// of the names weighted.
    async fn purchases(&self, weights: &EventWeights) -> Result<Purchases> {
        // Unsorted: the lines are put in time order once their ids are
        // numbers, which sort faster than strings.
        let orders = self
            .sql(
                "SELECT customer_id, product_id, CAST(ts AS BIGINT), '' AS e
                 FROM orders
                 WHERE status = 'paid' AND customer_id IS NOT NULL AND product_id IS NOT NULL",
            )
            .await?
            .1;
        if orders.iter().all(|b| b.num_rows() == 0) {
            return Err(Error::Request(
                "recommendations need paid orders with a customer and a product: import orders first"
                    .into(),
            ));
        }
        let events = if weights.is_empty() {
            Vec::new()
        } else {
            self.check_weights(weights).await?;
            let names: Vec<String> = weights.keys().map(|k| quoted(k)).collect();
            self.sql(&format!(
                "SELECT customer_id, product_id, CAST(ts AS BIGINT), event
                 FROM events
                 WHERE event IN ({}) AND customer_id IS NOT NULL AND product_id IS NOT NULL",
                names.join(", ")
            ))
            .await?
            .1
        };
        // Ids are read in place as string views (the tables' type; a cast
        // to Utf8 would copy every string).
        let columns = |b: &RecordBatch| -> Result<[ArrayRef; 4]> {
            Ok([
                cast(b.column(0), &DataType::Utf8View)?,
                cast(b.column(1), &DataType::Utf8View)?,
                cast(b.column(2), &DataType::Int64)?,
                cast(b.column(3), &DataType::Utf8View)?,
            ])
        };
        let orders: Vec<[ArrayRef; 4]> = orders.iter().map(columns).collect::<Result<_>>()?;
        let events: Vec<[ArrayRef; 4]> = events.iter().map(columns).collect::<Result<_>>()?;
        let (mut customers, mut products) = (RunIds::default(), Ids::default());
        let lines = cells(&orders, &mut customers, &mut products, weights);
        let weighted = cells(&events, &mut customers, &mut products, weights);
        let (customers, c_at) = customers.sorted();
        let (products, p_at) = products.sorted();
        let renumber = |mut all: Vec<(Event, f32)>| {
            for (e, _) in &mut all {
                e.user = c_at[e.user as usize];
                e.item = p_at[e.item as usize];
            }
            all.sort_unstable_by_key(|(e, w)| (e.ts, e.user, e.item, w.to_bits()));
            all
        };
        Ok(Purchases {
            customers,
            products,
            events: renumber(lines).into_iter().map(|(e, _)| e).collect(),
            weighted: renumber(weighted),
        })
    }

    /// Every weight above 0, and every name one the events have.
    async fn check_weights(&self, weights: &EventWeights) -> Result<()> {
        if let Some((name, w)) = weights.iter().find(|(_, w)| !(w.is_finite() && **w > 0.0)) {
            return Err(Error::invalid(
                "event_weights",
                format!("{name}={w}: a weight must be above 0"),
            ));
        }
        let (_, batches) = self
            .sql("SELECT DISTINCT CAST(event AS VARCHAR) FROM events ORDER BY 1")
            .await?;
        let mut known = Vec::new();
        for b in &batches {
            known.extend(strings(b.column(0))?);
        }
        if let Some(name) = weights.keys().find(|k| !known.contains(k)) {
            return Err(Error::invalid(
                "event_weights",
                if known.is_empty() {
                    format!("{name}: the events table is empty")
                } else {
                    format!(
                        "{name}: no event has this name (the events have {})",
                        known.join(", ")
                    )
                },
            ));
        }
        Ok(())
    }

    /// The versions of the tables a model with these weights learns from.
    fn data_version(&self, weights: &EventWeights) -> BTreeMap<String, i64> {
        let mut v = BTreeMap::new();
        if let Some(s) = &self.orders {
            v.insert("orders".to_string(), s.version());
        }
        if !weights.is_empty()
            && let Some(s) = &self.events
        {
            v.insert("events".to_string(), s.version());
        }
        v
    }

    /// The model stored for `model` when it may answer (it exists, learnt
    /// from the same events, and no refit is asked for); else one fitted now
    /// with its customers.
    async fn model(
        &self,
        model: RecModel,
        weights: &EventWeights,
        refit: bool,
    ) -> Result<(Either, ModelUsed)> {
        if !refit
            && let Some(stored) = recs_model::load(&self.ws, model)?
            && (weights.is_empty() || *weights == stored.trained.info.event_weights)
        {
            let info = &stored.trained.info;
            let used = ModelUsed {
                model: model.name(),
                trained_at: Some(info.trained_at.clone()),
                stale: self.data_version(&info.event_weights) != info.data_version,
                data_version: info.data_version.clone(),
                event_weights: info.event_weights.clone(),
            };
            return Ok((Either::Stored(stored), used));
        }
        let p = self.purchases(weights).await?;
        let mut info = ModelInfo::new(model, weights.clone());
        info.data_version = self.data_version(weights);
        let used = ModelUsed {
            model: model.name(),
            trained_at: None,
            data_version: info.data_version.clone(),
            stale: false,
            event_weights: weights.clone(),
        };
        let fitted = p.fit(model, info, &|_, _| {})?;
        Ok((Either::Fitted(fitted), used))
    }

    /// Fits each model on every order line (and weighted event) and
    /// stores it in the workspace, for `recommend for` and `export`;
    /// `on_sweep(model, done, total)` follows ALS's sweeps. The caller holds
    /// the workspace's lock.
    pub async fn recommend_train(
        &self,
        req: &TrainRequest,
        on_sweep: &(dyn Fn(&str, usize, usize) + Sync),
    ) -> Result<TrainReport> {
        if req.models.is_empty() {
            return Err(Error::invalid("models", "name at least one model"));
        }
        let started = Instant::now();
        let p = self.purchases(&req.event_weights).await?;
        tracing::debug!(elapsed = ?started.elapsed(), "recommend train: purchases read");
        let mut models = Vec::new();
        for &model in &req.models {
            let mut info = ModelInfo::new(model, req.event_weights.clone());
            info.data_version = self.data_version(&req.event_weights);
            let started = Instant::now();
            let (mut trained, customers) = p.fit(model, info, &|done, total| {
                on_sweep(model.name(), done, total)
            })?;
            tracing::debug!(elapsed = ?started.elapsed(), model = model.name(), "recommend train: fitted");
            let started = Instant::now();
            recs_model::save(&self.ws, &mut trained, &customers)?;
            tracing::debug!(elapsed = ?started.elapsed(), "recommend train: stored");
            let i = trained.info;
            models.push(TrainedModel {
                model: model.name(),
                trained_at: i.trained_at,
                data_version: i.data_version,
                event_weights: i.event_weights,
                customers: i.customers,
                products: i.products,
                interactions: i.interactions,
                fit_seconds: i.fit_seconds,
            });
        }
        Ok(TrainReport { models })
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
        let p = self.purchases(&req.event_weights).await?;
        let is_train = temporal_split(&p.events, req.split);
        // Events up to the last training order line train too.
        let cut = p
            .events
            .iter()
            .zip(&is_train)
            .filter(|(_, t)| **t)
            .map(|(e, _)| e.ts)
            .max()
            .unwrap_or(i64::MIN);
        let part = |want: bool| {
            p.events
                .iter()
                .zip(&is_train)
                .filter(move |(_, t)| **t == want)
                .map(|(e, _)| (*e, 1.0))
        };
        let train =
            p.matrix(part(true).chain(p.weighted.iter().filter(|(e, _)| e.ts <= cut).copied()))?;
        let train_bought = p.matrix(part(true))?;
        let test = p.matrix(part(false))?.binary();
        let mut customers = Customers {
            ids: Vec::new(),
            items: rows(&train),
            bought: rows(&train_bought),
            factors: Vec::new(),
        };
        let mut score = |model: RecModel| -> Result<(Metrics, f64)> {
            let started = Instant::now();
            let (side, factors) = fit_side(model, &train, &|_, _| {})?;
            let seconds = started.elapsed().as_secs_f64();
            customers.factors = factors;
            let recs: Vec<Vec<u32>> = (0..train.rows())
                .map(|u| {
                    side.recommend(&customers, u, false, req.k)
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect();
            Ok((evaluate(&recs, &train_bought, &test, req.k), seconds))
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

    /// The products of paid orders (sorted), and per order its products
    /// as indices of them: one scan, orders numbered as they come.
    async fn baskets(&self) -> Result<(Vec<String>, Vec<Vec<u32>>)> {
        let (_, batches) = self
            .sql(
                "SELECT order_id, product_id
                 FROM orders
                 WHERE status = 'paid' AND customer_id IS NOT NULL AND product_id IS NOT NULL",
            )
            .await?;
        let columns: Vec<[ArrayRef; 2]> = batches
            .iter()
            .map(|b| {
                Ok([
                    cast(b.column(0), &DataType::Utf8View)?,
                    cast(b.column(1), &DataType::Utf8View)?,
                ])
            })
            .collect::<Result<_>>()?;
        let (products, baskets) = baskets_of(&columns);
        if baskets.is_empty() {
            return Err(Error::Request(
                "recommendations need paid orders with a customer and a product: import orders first"
                    .into(),
            ));
        }
        Ok((products, baskets))
    }

    pub async fn recommend_together(&self, req: &TogetherRequest) -> Result<TogetherReport> {
        let (products, baskets) = self.baskets().await?;
        let only = match &req.product {
            Some(id) => Some(product_of(&products, "product", id)? as u32),
            None => None,
        };
        let rules = together(&baskets, req.min_orders, req.min_confidence)
            .into_iter()
            .filter(|r| only.is_none_or(|a| r.antecedent == a))
            .take(req.top)
            .map(|r| RuleRow {
                product: products[r.antecedent as usize].clone(),
                with: products[r.consequent as usize].clone(),
                orders: r.baskets,
                support: r.support,
                confidence: r.confidence,
                lift: r.lift,
            })
            .collect();
        Ok(TogetherReport {
            orders: baskets.len(),
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
        let p = self.purchases(&EventWeights::new()).await?;
        let item = p.product("product", &req.product)?;
        let near = ItemKnn {
            similarity,
            shrink: req.shrink,
            neighbours: req.top,
        }
        .neighbours_of(&p.matrix(p.all())?, item);
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

    /// A customer's top N: from the stored model when there is one (a read
    /// of one block of customers), else from a model fitted now.
    pub async fn recommend_for(&self, req: &ForRequest) -> Result<ForReport> {
        if req.customer.is_empty() {
            return Err(Error::invalid(
                "customer",
                "name a customer (their customer_id)",
            ));
        }
        let (model, used) = self.model(req.model, &req.event_weights, req.refit).await?;
        // The block read back from a stored model lives here.
        let block;
        let (trained, found) = match &model {
            Either::Stored(s) => {
                block = s.customer(&req.customer)?;
                (&s.trained, block.as_ref().map(|(b, c)| (b, *c)))
            }
            Either::Fitted((t, all)) => (t, all.find(&req.customer).map(|c| (all, c))),
        };
        let Some((customers, c)) = found else {
            return Err(Error::invalid(
                "customer",
                match &used.trained_at {
                    Some(at) => format!(
                        "{}: not in the model trained at {at} (a customer with no paid order of a product then); train again to include newer customers",
                        req.customer
                    ),
                    None => format!("{}: no paid order has this customer", req.customer),
                },
            ));
        };
        let products = trained
            .side
            .recommend(customers, c, req.allow_repeat, req.n)
            .into_iter()
            .map(|(i, s)| Recommended {
                product: trained.products[i as usize].clone(),
                score: f64::from(s),
            })
            .collect();
        Ok(ForReport {
            customer: req.customer.clone(),
            model: used,
            bought: customers.bought[c].len(),
            products,
        })
    }

    /// The top N of every customer, or of `only` (sorted ids) when given.
    pub async fn recommend_export(
        &self,
        req: &ExportRequest,
        only: Option<&[String]>,
    ) -> Result<ExportReport> {
        if req.n == 0 {
            return Err(Error::invalid("n", "at least 1"));
        }
        let (model, used) = self.model(req.model, &req.event_weights, req.refit).await?;
        let mut out: Vec<CustomerRecs> = Vec::new();
        let mut matched = 0;
        let room = if req.limit == 0 {
            usize::MAX
        } else {
            req.limit
        };
        let mut each = |trained: &Trained, customers: Customers| -> Result<()> {
            let mut chosen = chosen(&customers.ids, only);
            matched += chosen.len();
            chosen.truncate(room.saturating_sub(out.len()));
            let recs: Vec<CustomerRecs> = chosen
                .par_iter()
                .map(|&c| CustomerRecs {
                    customer_id: customers.ids[c].clone(),
                    segment: None,
                    products: trained
                        .side
                        .recommend(&customers, c, req.allow_repeat, req.n)
                        .into_iter()
                        .map(|(i, s)| Recommended {
                            product: trained.products[i as usize].clone(),
                            score: f64::from(s),
                        })
                        .collect(),
                })
                .collect();
            out.extend(recs);
            Ok(())
        };
        match model {
            Either::Stored(s) => s.each_block(|block| each(&s.trained, block))?,
            Either::Fitted((t, customers)) => each(&t, customers)?,
        }
        let unknown = only.map_or(0, |o| o.len() - matched);
        Ok(ExportReport {
            model: used,
            n: req.n,
            matched,
            unknown,
            customers: out,
        })
    }
}

/// The places of `ids` (in id order) that are in `only` (sorted), or all:
/// one walk along both.
fn chosen(ids: &[String], only: Option<&[String]>) -> Vec<usize> {
    let Some(only) = only else {
        return (0..ids.len()).collect();
    };
    let mut at = 0;
    (0..ids.len())
        .filter(|&c| {
            while at < only.len() && only[at] < ids[c] {
                at += 1;
            }
            at < only.len() && only[at] == ids[c]
        })
        .collect()
}

/// A stored model, or one fitted now with every customer.
enum Either {
    Stored(recs_model::Stored),
    Fitted((Trained, Customers)),
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;
    use koubei_store::Workspace;

    /// Ids that test text order: prefixes, zero bytes, high bytes, the
    /// empty id and 12 bytes (a view's longest inline); then longer ones.
    const SHORT_IDS: [&str; 14] = [
        "b",
        "a",
        "",
        "ab",
        "a\0",
        "a\0\0",
        "\u{7f}",
        "é",
        "123456789012",
        "12345678901",
        "c0000010",
        "c0000009",
        "\0",
        "a\u{1}",
    ];
    const LONG_IDS: [&str; 3] = [
        "a-customer-id-of-36-bytes-000000000002",
        "a-customer-id-of-36-bytes-0000000001",
        "123456789012a",
    ];

    /// Orders in runs, revisited after others, long and short, across
    /// batches: the same baskets (and products) as grouping each line by
    /// its order id, orders numbered as they first come.
    #[test]
    fn baskets_of_runs_are_baskets_by_order() {
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        // A short order again right after a long one is a new run.
        let mut lines: Vec<(String, String)> =
            [("o1", "p1"), ("a-long-order-id-1", "p2"), ("o1", "p3")]
                .map(|(o, p)| (o.to_string(), p.to_string()))
                .to_vec();
        for _ in 0..3000 {
            let o = next(400);
            // Ids of 12 bytes and less sit in the view; longer ones do not.
            let order = if o % 5 == 0 {
                format!("an-order-id-longer-than-a-view-{o}")
            } else {
                format!("o{o}")
            };
            for _ in 0..=next(3) {
                lines.push((order.clone(), format!("p{}", next(50))));
            }
        }
        let mut want_orders: Vec<&str> = Vec::new();
        let mut want: HashMap<&str, Vec<&str>> = HashMap::new();
        for (o, p) in &lines {
            if !want.contains_key(o.as_str()) {
                want_orders.push(o);
            }
            want.entry(o).or_default().push(p);
        }
        let columns: Vec<[ArrayRef; 2]> = lines
            .chunks(777)
            .map(|c| {
                let col = |f: fn(&(String, String)) -> &str| {
                    std::sync::Arc::new(StringViewArray::from_iter_values(c.iter().map(f)))
                        as ArrayRef
                };
                [col(|l| &l.0), col(|l| &l.1)]
            })
            .collect();
        let (products, baskets) = baskets_of(&columns);
        let mut sorted: Vec<&str> = want.values().flatten().copied().collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(products, sorted);
        let got: Vec<Vec<&str>> = baskets
            .iter()
            .map(|b| b.iter().map(|&i| products[i as usize].as_str()).collect())
            .collect();
        let want: Vec<Vec<&str>> = want_orders.iter().map(|o| want[o].clone()).collect();
        assert_eq!(got.len(), 401);
        assert_eq!(got, want);
    }

    /// Ids numbered by runs, as they come (in runs, revisited, short and
    /// long, across batches), sort as the strings do, and each row's number
    /// finds its id.
    #[test]
    fn run_ids_sort_as_strings() {
        for names in [
            SHORT_IDS.to_vec(),
            [SHORT_IDS.as_slice(), LONG_IDS.as_slice()].concat(),
        ] {
            let mut state = 11u64;
            // A short id right after a new long one starts a new run.
            let mut rows: Vec<&str> = vec!["b", names[names.len() - 1], "b"];
            for _ in 0..500 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let name = names[(state >> 33) as usize % names.len()];
                rows.extend(std::iter::repeat_n(name, 1 + (state >> 60) as usize % 3));
            }
            let batches: Vec<StringViewArray> = rows
                .chunks(37)
                .map(|c| StringViewArray::from_iter_values(c.iter().copied()))
                .collect();
            let mut ids = RunIds::default();
            let numbers: Vec<u32> = batches
                .iter()
                .flat_map(|b| (0..b.len()).map(|r| ids.of(b, r)).collect::<Vec<_>>())
                .collect();
            for b in &batches {
                for (r, &view) in b.views().iter().enumerate() {
                    if view as u32 <= INLINE {
                        assert_eq!(text_key(view), str_key(b.value(r)));
                    }
                }
            }
            let (sorted, place) = ids.sorted();
            let mut want: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
            want.sort();
            want.dedup();
            assert_eq!(sorted, want);
            for (row, n) in rows.iter().zip(numbers) {
                assert_eq!(sorted[place[n as usize] as usize], *row);
            }
        }
    }

    /// Short ids sorted by their keys come in the strings' order: prefixes,
    /// zero bytes, high bytes and the empty id; and so do long ones.
    #[test]
    fn short_ids_sort_as_strings() {
        for names in [
            SHORT_IDS.to_vec(),
            [SHORT_IDS.as_slice(), LONG_IDS.as_slice()].concat(),
        ] {
            let mut ids = Ids::default();
            for &n in &names {
                ids.id(n);
            }
            let (sorted, place) = ids.sorted();
            let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(sorted, want);
            for (i, n) in names.iter().enumerate() {
                assert_eq!(sorted[place[i] as usize], *n);
            }
        }
    }

    /// The customers kept are those in both lists, as a search of each
    /// finds them.
    #[test]
    fn chosen_by_one_walk() {
        let ids: Vec<String> = ["a", "b", "ba", "c", "e", "f"].map(String::from).into();
        for only in [
            vec![],
            vec!["0", "b", "bb", "c", "f", "g"],
            vec!["a", "ba", "e"],
        ] {
            let only: Vec<String> = only.into_iter().map(String::from).collect();
            let want: Vec<usize> = (0..ids.len())
                .filter(|&c| only.binary_search(&ids[c]).is_ok())
                .collect();
            assert_eq!(chosen(&ids, Some(&only)), want);
        }
        assert_eq!(chosen(&ids, None), [0, 1, 2, 3, 4, 5]);
    }

    /// Ids read from views get the numbers the strings get, short ones
    /// (by view) and long ones (by string) alike, across batches and in
    /// runs.
    #[test]
    fn ids_by_view_as_by_string() {
        let names = [
            "c1",
            "c1",
            "c1",
            "",
            "a-customer-id-of-36-bytes-0000000001",
            "c2",
            "c1",
            "a-customer-id-of-36-bytes-0000000001",
            "123456789012",
            "1234567890123",
            "c2",
        ];
        let (a, b) = names.split_at(5);
        let batches = [
            StringViewArray::from(a.to_vec()),
            StringViewArray::from(b.to_vec()),
        ];
        let mut by_view = Ids::default();
        let mut by_string = Ids::default();
        let mut got = Vec::new();
        let mut want = Vec::new();
        for batch in &batches {
            for r in 0..batch.len() {
                got.push(by_view.of(batch, r));
                want.push(by_string.id(batch.value(r)));
            }
        }
        assert_eq!(got, want);
        assert_eq!(got, [0, 0, 0, 1, 2, 3, 0, 2, 4, 5, 3]);
        assert_eq!(by_view.sorted(), by_string.sorted());
    }

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
                    ..ForRequest::default()
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

    /// A stored model answers as the model fitted now does, says when the
    /// orders changed since, and exports every customer.
    #[tokio::test]
    async fn stored_models_answer_as_fitted_ones() {
        let (dir, e) = crate::test_engine(TableKind::Orders, &orders()).await;
        let ws = Workspace::open(dir.path().join("ws")).unwrap();
        let models = RecModel::ALL.to_vec();
        let sweeps = std::sync::Mutex::new(0);
        let trained = e
            .recommend_train(
                &TrainRequest {
                    models: models.clone(),
                    ..TrainRequest::default()
                },
                &|_, _, _| *sweeps.lock().unwrap() += 1,
            )
            .await
            .unwrap();
        assert_eq!(*sweeps.lock().unwrap(), Als::default().iterations);
        assert_eq!(trained.models.len(), 3);
        assert_eq!(trained.models[0].customers, 20);
        assert_eq!(trained.models[0].products, 6);
        assert_eq!(trained.models[0].data_version["orders"], 0);
        for model in models {
            for customer in ["c00", "c07", "c19"] {
                let ask = |refit| ForRequest {
                    customer: customer.into(),
                    model,
                    n: 4,
                    allow_repeat: true,
                    refit,
                    ..ForRequest::default()
                };
                let stored = e.recommend_for(&ask(false)).await.unwrap();
                let fitted = e.recommend_for(&ask(true)).await.unwrap();
                assert!(stored.model.trained_at.is_some() && !stored.model.stale);
                assert_eq!(fitted.model.trained_at, None);
                assert_eq!(stored.bought, fitted.bought);
                assert_eq!(stored.products, fitted.products, "{model:?} {customer}");
            }
        }
        let all = e
            .recommend_export(&ExportRequest::default(), None)
            .await
            .unwrap();
        assert_eq!(all.customers.len(), 20);
        assert!(all.customers.iter().all(|c| c.products.len() == 3));
        let some = e
            .recommend_export(
                &ExportRequest::default(),
                Some(&["c03".to_string(), "nobody".to_string()]),
            )
            .await
            .unwrap();
        assert_eq!(
            (some.customers.len(), some.matched, some.unknown),
            (1, 1, 1)
        );
        let first = e
            .recommend_export(
                &ExportRequest {
                    limit: 5,
                    ..ExportRequest::default()
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!((first.customers.len(), first.matched), (5, 20));
        assert_eq!(first.customers[4].customer_id, "c04");
        assert_eq!(some.customers[0].products, all.customers[3].products);

        // New orders: the stored model is stale, and knows no new customer.
        let file = dir.path().join("more.csv");
        std::fs::write(
            &file,
            "order_id,customer_id,ts,amount,status,product_id\nz1,c99,2024-02-01,10,paid,green\n",
        )
        .unwrap();
        ws.import_file(
            TableKind::Orders,
            &file,
            &koubei_store::ImportOptions::default(),
            &koubei_store::Quiet,
        )
        .await
        .unwrap();
        let e = Engine::open(&ws).await.unwrap();
        let r = e
            .recommend_for(&ForRequest {
                customer: "c00".into(),
                ..ForRequest::default()
            })
            .await
            .unwrap();
        assert!(r.model.stale, "{r:?}");
        let err = e
            .recommend_for(&ForRequest {
                customer: "c99".into(),
                ..ForRequest::default()
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("c99") && err.contains("train again"), "{err}");
        let fresh = e
            .recommend_for(&ForRequest {
                customer: "c99".into(),
                refit: true,
                ..ForRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(fresh.bought, 1);
    }

    /// Views weighted in: a customer who only viewed gets recommendations,
    /// and an unknown event name is refused with the names there are.
    #[tokio::test]
    async fn events_weighted_in() {
        let events = "ts,customer_id,event,product_id\n\
                      2024-01-02,v1,view,green\n2024-01-03,v1,view,black\n\
                      2024-01-03,c00,add_to_cart,beans\n";
        let (_dir, e) =
            crate::test_engine_with(&[(TableKind::Orders, &orders()), (TableKind::Events, events)])
                .await;
        let weights = EventWeights::from([("view".to_string(), 0.5)]);
        let r = e
            .recommend_for(&ForRequest {
                customer: "v1".into(),
                model: RecModel::Itemknn,
                event_weights: weights.clone(),
                ..ForRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(r.bought, 0);
        // Viewed tea: tea first (cups), viewed products not left out.
        assert_eq!(r.products[0].product, "cups", "{r:?}");
        assert_eq!(r.model.data_version.len(), 2);
        let err = e
            .recommend_for(&ForRequest {
                customer: "v1".into(),
                event_weights: EventWeights::from([("click".to_string(), 1.0)]),
                ..ForRequest::default()
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("event_weights: click") && err.contains("add_to_cart, view"),
            "{err}"
        );
        let err = e
            .recommend_evaluate(&EvaluateRequest {
                event_weights: EventWeights::from([("view".to_string(), -1.0)]),
                ..EvaluateRequest::default()
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("above 0"), "{err}");
    }
}
