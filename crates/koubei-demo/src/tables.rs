//! Column builders for the five demo tables.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::error::ArrowError;
use koubei_schema::{ColumnType, TableKind};
use rand::Rng;
use rand::distr::Distribution;

use crate::{CATEGORIES, FunnelParams, Place, Sampler};

/// Rows per batch handed to the importer.
const BATCH_ROWS: usize = 64 * 1024;

/// The generated tables, as batches with the canonical column names.
pub struct DemoData {
    pub customers: Vec<RecordBatch>,
    pub orders: Vec<RecordBatch>,
    pub events: Vec<RecordBatch>,
    pub reviews: Vec<RecordBatch>,
    pub referrals: Vec<RecordBatch>,
    /// What each review truly says, in the order of `reviews`.
    pub review_truth: Vec<crate::ReviewTruth>,
}

impl DemoData {
    pub fn table(&self, t: TableKind) -> &[RecordBatch] {
        match t {
            TableKind::Customers => &self.customers,
            TableKind::Orders => &self.orders,
            TableKind::Events => &self.events,
            TableKind::Reviews => &self.reviews,
            TableKind::Referrals => &self.referrals,
        }
    }

    pub fn table_mut(&mut self, t: TableKind) -> &mut Vec<RecordBatch> {
        match t {
            TableKind::Customers => &mut self.customers,
            TableKind::Orders => &mut self.orders,
            TableKind::Events => &mut self.events,
            TableKind::Reviews => &mut self.reviews,
            TableKind::Referrals => &mut self.referrals,
        }
    }
}

fn ts_builder(n: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(n).with_data_type(ColumnType::Timestamp.arrow())
}

/// Builds a table from columns named in the canonical order, in batches.
fn batches(
    t: TableKind,
    names: &[&str],
    columns: Vec<ArrayRef>,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let schema = t.schema();
    let fields: Vec<_> = names
        .iter()
        .map(|n| schema.field_with_name(n).cloned())
        .collect::<Result<_, _>>()?;
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)?;
    let rows = batch.num_rows();
    Ok((0..rows)
        .step_by(BATCH_ROWS)
        .map(|o| batch.slice(o, BATCH_ROWS.min(rows - o)))
        .collect())
}

pub(crate) struct Builders {
    // customers
    c_id: StringBuilder,
    c_first: TimestampMicrosecondBuilder,
    c_country: StringBuilder,
    c_region: StringBuilder,
    c_city: StringBuilder,
    c_channel: StringBuilder,
    c_referred: StringBuilder,
    // orders
    orders: u64,
    o_id: StringBuilder,
    o_line: Int64Builder,
    o_customer: StringBuilder,
    o_ts: TimestampMicrosecondBuilder,
    o_qty: Int64Builder,
    o_amount: Decimal128Builder,
    o_currency: StringBuilder,
    o_product: StringBuilder,
    o_category: StringBuilder,
    o_country: StringBuilder,
    o_region: StringBuilder,
    o_city: StringBuilder,
    o_channel: StringBuilder,
    o_status: StringBuilder,
    // events
    events: u64,
    e_id: StringBuilder,
    e_ts: TimestampMicrosecondBuilder,
    e_customer: StringBuilder,
    e_anon: StringBuilder,
    e_event: StringBuilder,
    e_product: StringBuilder,
    e_channel: StringBuilder,
    e_country: StringBuilder,
    e_region: StringBuilder,
    e_referrer: StringBuilder,
    // reviews
    reviews: u64,
    pub truth: Vec<crate::ReviewTruth>,
    r_id: StringBuilder,
    r_ts: TimestampMicrosecondBuilder,
    r_customer: StringBuilder,
    r_product: StringBuilder,
    r_order: StringBuilder,
    r_rating: Int64Builder,
    r_text: StringBuilder,
    r_lang: StringBuilder,
    // referrals
    shares: u64,
    s_id: StringBuilder,
    s_ts: TimestampMicrosecondBuilder,
    s_sharer: StringBuilder,
    s_recipient: StringBuilder,
    s_channel: StringBuilder,
    s_product: StringBuilder,
    s_clicked: BooleanBuilder,
    s_ordered: BooleanBuilder,
}

const MINUTE: i64 = 60_000_000;

/// An order as the rest of the generator sees it.
pub(crate) struct Order {
    pub id: String,
    /// (product, category) of each line.
    pub lines: Vec<(String, &'static str)>,
}

impl Builders {
    pub(crate) fn new(customers: usize) -> Self {
        let n = customers;
        Builders {
            c_id: StringBuilder::with_capacity(n, n * 8),
            c_first: ts_builder(n),
            c_country: StringBuilder::new(),
            c_region: StringBuilder::new(),
            c_city: StringBuilder::new(),
            c_channel: StringBuilder::new(),
            c_referred: StringBuilder::new(),
            orders: 0,
            o_id: StringBuilder::new(),
            o_line: Int64Builder::new(),
            o_customer: StringBuilder::new(),
            o_ts: ts_builder(n * 4),
            o_qty: Int64Builder::new(),
            o_amount: Decimal128Builder::new().with_data_type(ColumnType::Decimal.arrow()),
            o_currency: StringBuilder::new(),
            o_product: StringBuilder::new(),
            o_category: StringBuilder::new(),
            o_country: StringBuilder::new(),
            o_region: StringBuilder::new(),
            o_city: StringBuilder::new(),
            o_channel: StringBuilder::new(),
            o_status: StringBuilder::new(),
            events: 0,
            e_id: StringBuilder::new(),
            e_ts: ts_builder(n * 16),
            e_customer: StringBuilder::new(),
            e_anon: StringBuilder::new(),
            e_event: StringBuilder::new(),
            e_product: StringBuilder::new(),
            e_channel: StringBuilder::new(),
            e_country: StringBuilder::new(),
            e_region: StringBuilder::new(),
            e_referrer: StringBuilder::new(),
            reviews: 0,
            truth: Vec::new(),
            r_id: StringBuilder::new(),
            r_ts: ts_builder(n),
            r_customer: StringBuilder::new(),
            r_product: StringBuilder::new(),
            r_order: StringBuilder::new(),
            r_rating: Int64Builder::new(),
            r_text: StringBuilder::new(),
            r_lang: StringBuilder::new(),
            shares: 0,
            s_id: StringBuilder::new(),
            s_ts: ts_builder(n),
            s_sharer: StringBuilder::new(),
            s_recipient: StringBuilder::new(),
            s_channel: StringBuilder::new(),
            s_product: StringBuilder::new(),
            s_clicked: BooleanBuilder::new(),
            s_ordered: BooleanBuilder::new(),
        }
    }

    pub(crate) fn customer(
        &mut self,
        id: &str,
        first_seen: i64,
        place: Place,
        channel: &str,
        referred_by: Option<&str>,
    ) {
        self.c_id.append_value(id);
        self.c_first.append_value(first_seen);
        self.c_country.append_value(place.country);
        self.c_region.append_value(place.region);
        self.c_city.append_value(place.city);
        self.c_channel.append_value(channel);
        self.c_referred.append_option(referred_by);
    }

    /// Adds an order of `value` split over one to four lines.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn order(
        &mut self,
        s: &mut Sampler,
        customer: &str,
        ts: i64,
        value: f64,
        place: Place,
        channel: &str,
        status: &str,
    ) -> Order {
        self.orders += 1;
        let id = format!("o{:08}", self.orders);
        let n = (1 + s.poisson(0.4)).min(4) as usize;
        let weights: Vec<f64> = (0..n).map(|_| s.exp(1.0)).collect();
        let total: f64 = weights.iter().sum();
        let cents = (value * 100.0).round() as i64;
        let mut left = cents;
        let mut lines = Vec::with_capacity(n);
        let mut first = None;
        for (i, w) in weights.iter().enumerate() {
            let c = if i + 1 == n {
                left
            } else {
                ((cents as f64 * w / total).round() as i64).min(left)
            };
            left -= c;
            let p = s.product_for(customer, first);
            first.get_or_insert(p);
            let product = format!("p{:04}", p + 1);
            let category = CATEGORIES[p % CATEGORIES.len()];
            self.o_id.append_value(&id);
            self.o_line.append_value(i as i64 + 1);
            self.o_customer.append_value(customer);
            self.o_ts.append_value(ts);
            self.o_qty.append_value(1 + s.poisson(0.3) as i64);
            // Cents, in the stored units of 10^-4.
            self.o_amount.append_value(c as i128 * 100);
            self.o_currency.append_value("CNY");
            self.o_product.append_value(&product);
            self.o_category.append_value(category);
            self.o_country.append_value(place.country);
            self.o_region.append_value(place.region);
            self.o_city.append_value(place.city);
            self.o_channel.append_value(channel);
            self.o_status.append_value(status);
            lines.push((product, category));
        }
        Order { id, lines }
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        ts: i64,
        customer: Option<&str>,
        anonymous: Option<&str>,
        event: &str,
        product: Option<&str>,
        channel: &str,
        place: Place,
        referrer: Option<&str>,
    ) {
        self.events += 1;
        self.e_id.append_value(format!("e{:09}", self.events));
        self.e_ts.append_value(ts);
        self.e_customer.append_option(customer);
        self.e_anon.append_option(anonymous);
        self.e_event.append_value(event);
        self.e_product.append_option(product);
        self.e_channel.append_value(channel);
        self.e_country.append_value(place.country);
        self.e_region.append_value(place.region);
        self.e_referrer.append_option(referrer);
    }

    /// The session that ends in a paid order at `ts`: views, carts, checkout, purchase.
    pub(crate) fn purchase_session(
        &mut self,
        s: &mut Sampler,
        customer: &str,
        ts: i64,
        order: &Order,
        place: Place,
        channel: &str,
    ) {
        // Lay the session out forwards, then place it so that checkout and
        // purchase come last: view → add_to_cart → checkout → purchase.
        let mut steps: Vec<(i64, &str, String)> = Vec::new();
        let mut t = 0i64;
        let extra_views = s.poisson(1.5);
        for _ in 0..extra_views {
            let p = format!("p{:04}", s.viewed_by(Some(customer)) + 1);
            steps.push((t, "view", p));
            t += (s.exp(1.5) * MINUTE as f64) as i64 + 1_000_000;
        }
        for (product, _) in &order.lines {
            steps.push((t, "view", product.clone()));
            t += (s.exp(1.0) * MINUTE as f64) as i64 + 1_000_000;
            steps.push((t, "add_to_cart", product.clone()));
            t += MINUTE / 2;
        }
        let start = ts - t - 2 * MINUTE;
        for (offset, event, product) in &steps {
            let at = start + offset;
            self.event(
                at,
                Some(customer),
                None,
                event,
                Some(product),
                channel,
                place,
                None,
            );
        }
        let checkout = ts - MINUTE;
        self.event(
            checkout,
            Some(customer),
            None,
            "checkout",
            None,
            channel,
            place,
            None,
        );
        self.event(
            ts,
            Some(customer),
            None,
            "purchase",
            None,
            channel,
            place,
            None,
        );
    }

    /// A session that drops off before purchase.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn browse_session(
        &mut self,
        s: &mut Sampler,
        customer: Option<&str>,
        anonymous: Option<&str>,
        ts: i64,
        place: Place,
        channel: &str,
        funnel: &FunnelParams,
    ) {
        let mut t = ts;
        let views = 1 + s.poisson(1.0);
        let mut last = String::new();
        for _ in 0..views {
            last = format!("p{:04}", s.viewed_by(customer) + 1);
            self.event(
                t,
                customer,
                anonymous,
                "view",
                Some(&last),
                channel,
                place,
                None,
            );
            t += (s.exp(1.5) * MINUTE as f64) as i64 + 1_000_000;
        }
        if s.rng.random_bool(funnel.view_to_cart) {
            self.event(
                t,
                customer,
                anonymous,
                "add_to_cart",
                Some(&last),
                channel,
                place,
                None,
            );
            t += (s.exp(2.0) * MINUTE as f64) as i64 + 1_000_000;
            if s.rng.random_bool(funnel.cart_to_checkout) {
                self.event(
                    t, customer, anonymous, "checkout", None, channel, place, None,
                );
            }
        }
    }

    /// A recipient who clicked a share and looked, without ordering.
    pub(crate) fn landing(
        &mut self,
        s: &mut Sampler,
        visitor: &str,
        ts: i64,
        place: Place,
        channel: &str,
    ) {
        let p = format!("p{:04}", s.products.sample(&mut s.rng) + 1);
        let referrer = format!("share:{channel}");
        self.event(
            ts,
            None,
            Some(visitor),
            "view",
            Some(&p),
            "mini_program",
            place,
            Some(&referrer),
        );
    }

    /// Appends a review; returns its id.
    pub(crate) fn review(
        &mut self,
        customer: &str,
        ts: i64,
        order: &Order,
        rating: Option<i64>,
        text: &str,
        english: bool,
    ) -> String {
        self.reviews += 1;
        let id = format!("r{:08}", self.reviews);
        self.r_id.append_value(&id);
        self.r_ts.append_value(ts);
        self.r_customer.append_value(customer);
        self.r_product.append_value(&order.lines[0].0);
        self.r_order.append_value(&order.id);
        self.r_rating.append_option(rating);
        self.r_text.append_value(text);
        self.r_lang.append_value(if english { "en" } else { "zh" });
        id
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn referral(
        &mut self,
        ts: i64,
        sharer: &str,
        recipient: Option<&str>,
        channel: &str,
        product: &str,
        clicked: bool,
        ordered: bool,
    ) {
        self.shares += 1;
        self.s_id.append_value(format!("s{:08}", self.shares));
        self.s_ts.append_value(ts);
        self.s_sharer.append_value(sharer);
        self.s_recipient.append_option(recipient);
        self.s_channel.append_value(channel);
        self.s_product.append_value(product);
        self.s_clicked.append_value(clicked);
        self.s_ordered.append_value(ordered);
    }

    pub(crate) fn finish(mut self) -> Result<DemoData, ArrowError> {
        fn a<B: arrow::array::ArrayBuilder>(b: &mut B) -> ArrayRef {
            b.finish()
        }
        Ok(DemoData {
            review_truth: std::mem::take(&mut self.truth),
            customers: batches(
                TableKind::Customers,
                &[
                    "customer_id",
                    "first_seen",
                    "country",
                    "region",
                    "city",
                    "acquisition_channel",
                    "referred_by",
                ],
                vec![
                    a(&mut self.c_id),
                    a(&mut self.c_first),
                    a(&mut self.c_country),
                    a(&mut self.c_region),
                    a(&mut self.c_city),
                    a(&mut self.c_channel),
                    a(&mut self.c_referred),
                ],
            )?,
            orders: batches(
                TableKind::Orders,
                &[
                    "order_id",
                    "line",
                    "customer_id",
                    "ts",
                    "quantity",
                    "amount",
                    "currency",
                    "product_id",
                    "category",
                    "country",
                    "region",
                    "city",
                    "channel",
                    "status",
                ],
                vec![
                    a(&mut self.o_id),
                    a(&mut self.o_line),
                    a(&mut self.o_customer),
                    a(&mut self.o_ts),
                    a(&mut self.o_qty),
                    a(&mut self.o_amount),
                    a(&mut self.o_currency),
                    a(&mut self.o_product),
                    a(&mut self.o_category),
                    a(&mut self.o_country),
                    a(&mut self.o_region),
                    a(&mut self.o_city),
                    a(&mut self.o_channel),
                    a(&mut self.o_status),
                ],
            )?,
            events: batches(
                TableKind::Events,
                &[
                    "event_id",
                    "ts",
                    "customer_id",
                    "anonymous_id",
                    "event",
                    "product_id",
                    "channel",
                    "country",
                    "region",
                    "referrer",
                ],
                vec![
                    a(&mut self.e_id),
                    a(&mut self.e_ts),
                    a(&mut self.e_customer),
                    a(&mut self.e_anon),
                    a(&mut self.e_event),
                    a(&mut self.e_product),
                    a(&mut self.e_channel),
                    a(&mut self.e_country),
                    a(&mut self.e_region),
                    a(&mut self.e_referrer),
                ],
            )?,
            reviews: batches(
                TableKind::Reviews,
                &[
                    "review_id",
                    "ts",
                    "customer_id",
                    "product_id",
                    "order_id",
                    "rating",
                    "text",
                    "language",
                ],
                vec![
                    a(&mut self.r_id),
                    a(&mut self.r_ts),
                    a(&mut self.r_customer),
                    a(&mut self.r_product),
                    a(&mut self.r_order),
                    a(&mut self.r_rating),
                    a(&mut self.r_text),
                    a(&mut self.r_lang),
                ],
            )?,
            referrals: batches(
                TableKind::Referrals,
                &[
                    "referral_id",
                    "ts",
                    "sharer_id",
                    "recipient_id",
                    "channel",
                    "product_id",
                    "clicked",
                    "ordered",
                ],
                vec![
                    a(&mut self.s_id),
                    a(&mut self.s_ts),
                    a(&mut self.s_sharer),
                    a(&mut self.s_recipient),
                    a(&mut self.s_channel),
                    a(&mut self.s_product),
                    a(&mut self.s_clicked),
                    a(&mut self.s_ordered),
                ],
            )?,
        })
    }
}
