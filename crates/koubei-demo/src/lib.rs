//! The demo shop: a generated e-commerce data set drawn from known models.
//!
//! Each table is generated from a process whose parameters are recorded in
//! [`DemoConfig`] (and in the workspace's `demo.json`), so that later metrics
//! and models can be tested against the truth:
//!
//! - **Purchases** follow BG/NBD (Fader, Hardie & Lee 2005): each customer
//!   buys as a Poisson process with rate λ ~ Gamma(r, α) per week while alive,
//!   and after each repeat purchase drops out with probability p ~ Beta(a, b).
//!   The first purchase is at the customer's start; their T runs to `end`.
//! - **Order values** follow Gamma–Gamma (Fader, Hardie & Lee 2005b): an order
//!   totals z ~ Gamma(p, ν) with ν ~ Gamma(q, v) per customer, split over its lines.
//!   Refunded and cancelled orders are extra orders on top of this process, so
//!   the paid orders follow the models exactly.
//! - **Sessions** move through view → add_to_cart → checkout → purchase: every
//!   paid order has a converting session, and browsing sessions drop off with
//!   the recorded step probabilities.
//! - **Shares** follow an independent cascade: after a paid order a customer
//!   shares with a recorded probability; each recipient clicks, and may order
//!   and become a customer who shares in turn.
//! - **Geography**: provinces of China weighted by population, and a share of
//!   customers overseas on five continents. Referred customers mostly live
//!   near whoever referred them.
//! - **Reviews** follow a fixed rating distribution. Each text, in Chinese or
//!   English, speaks of one to three aspects (the goods as described,
//!   service, logistics, price), praising each with a chance that follows
//!   the rating, so that some reviews are mixed; some have no rating, some
//!   are followed weeks later by a follow-up (追评) without one, and many
//!   refunded orders get a low one. What each review truly says is kept in
//!   [`DemoData::review_truth`].
//!
//! The same config and seed give the same data.

mod geo;
mod tables;
mod texts;

use std::collections::VecDeque;

use chrono::{NaiveDate, NaiveTime};
use rand::Rng;
use rand::SeedableRng;
use rand::distr::weighted::WeightedIndex;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma, Poisson};
use serde::{Deserialize, Serialize};

use tables::Builders;
pub use tables::DemoData;

/// BG/NBD parameters, with time in weeks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Gamma–Gamma spend parameters, in the shop's currency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// Per-session step probabilities of sessions that do not end in a purchase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunnelParams {
    /// Browsing sessions per paid order, on average.
    pub browse_sessions_per_order: f64,
    pub view_to_cart: f64,
    pub cart_to_checkout: f64,
    /// Visitors who never buy, per customer.
    pub anonymous_visitors_per_customer: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReferralParams {
    /// Chance that a paid order is followed by a share.
    pub share_per_order: f64,
    /// Mean recipients of one share (at least one).
    pub recipients_mean: f64,
    pub click: f64,
    /// Chance that a recipient who clicked orders and becomes a customer.
    pub order_given_click: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DemoConfig {
    pub customers: usize,
    pub seed: u64,
    /// The first day of the data, and the day after the last (UTC).
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub purchases: BgNbdParams,
    pub spend: GammaGammaParams,
    pub funnel: FunnelParams,
    pub referrals: ReferralParams,
    pub overseas_share: f64,
    /// Extra refunded and cancelled orders, per paid order.
    pub refund_rate: f64,
    pub cancel_rate: f64,
    /// Chance that a paid order is reviewed.
    pub review_rate: f64,
    /// Probabilities of 1 to 5 stars.
    pub rating_distribution: [f64; 5],
    /// Share of reviews left without a rating.
    pub unrated_share: f64,
    /// Chance that a review is followed by a follow-up, with no rating.
    pub follow_up_rate: f64,
    /// Chance that a refunded order is reviewed, with 1 to 3 stars.
    pub refund_review_rate: f64,
    /// Generate behavioural events and reviews; without them a shop of ten
    /// million customers fits in memory, for CLV and RFM at scale.
    #[serde(default = "yes")]
    pub events: bool,
}

fn yes() -> bool {
    true
}

impl DemoConfig {
    pub fn new(customers: usize, seed: u64) -> Self {
        DemoConfig {
            customers,
            seed,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
            end: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            purchases: BgNbdParams {
                r: 0.75,
                alpha: 8.0,
                a: 0.8,
                b: 4.0,
            },
            spend: GammaGammaParams {
                p: 6.25,
                q: 3.74,
                v: 100.0,
            },
            funnel: FunnelParams {
                browse_sessions_per_order: 2.0,
                view_to_cart: 0.3,
                cart_to_checkout: 0.45,
                anonymous_visitors_per_customer: 1.0,
            },
            referrals: ReferralParams {
                share_per_order: 0.2,
                recipients_mean: 2.0,
                click: 0.4,
                order_given_click: 0.3,
            },
            overseas_share: 0.08,
            refund_rate: 0.03,
            cancel_rate: 0.02,
            review_rate: 0.25,
            rating_distribution: [0.05, 0.06, 0.12, 0.3, 0.47],
            unrated_share: 0.04,
            follow_up_rate: 0.08,
            refund_review_rate: 0.4,
            events: true,
        }
    }

    /// Length of the observation period in weeks.
    pub fn weeks(&self) -> f64 {
        (self.end - self.start).num_days() as f64 / 7.0
    }
}

const CATEGORIES: [&str; 8] = [
    "apparel",
    "beauty",
    "electronics",
    "home",
    "food",
    "baby",
    "sports",
    "books",
];
const PRODUCTS: usize = 240;
/// Mixed into the seed of the reviews' random stream.
const REVIEW_STREAM: u64 = 0x7265_7669_6577;
/// The stream of customers' tastes (which products they buy).
const TASTE_STREAM: u64 = 0x7461_7374_6573;
/// The stream of what customers browse.
const BROWSE_STREAM: u64 = 0x6272_6f77_7365;
/// Ratings of refunded orders' reviews: 1 to 5 stars.
const REFUND_RATINGS: [f64; 5] = [0.55, 0.3, 0.15, 0.0, 0.0];
const WEEK_MICROS: f64 = 7.0 * 86_400.0 * 1e6;

#[derive(Debug, Clone, Copy)]
struct Place {
    country: &'static str,
    region: &'static str,
    city: &'static str,
}

struct Customer {
    index: usize,
    /// Start (first purchase), in weeks from `start`.
    t0: f64,
    place: Place,
    channel: &'static str,
}

struct Sampler {
    rng: ChaCha8Rng,
    /// Reviews draw from their own stream, so that how they are written
    /// leaves every other table as it is.
    reviews: ChaCha8Rng,
    /// So do tastes.
    taste: ChaCha8Rng,
    /// And what is browsed, apart from what is bought.
    browse: ChaCha8Rng,
    regions: WeightedIndex<f64>,
    overseas: WeightedIndex<f64>,
    products: WeightedIndex<f64>,
    ratings: WeightedIndex<f64>,
    lambda: Gamma<f64>,
    dropout: Beta<f64>,
    nu: Gamma<f64>,
}

impl Sampler {
    fn new(cfg: &DemoConfig) -> Result<Self, String> {
        let e = |what: &str, err: &dyn std::fmt::Display| {
            format!("invalid demo parameter {what}: {err}")
        };
        Ok(Sampler {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            reviews: ChaCha8Rng::seed_from_u64(cfg.seed ^ REVIEW_STREAM),
            taste: ChaCha8Rng::seed_from_u64(cfg.seed ^ TASTE_STREAM),
            browse: ChaCha8Rng::seed_from_u64(cfg.seed ^ BROWSE_STREAM),
            regions: WeightedIndex::new(geo::CN_REGIONS.iter().map(|r| r.1))
                .map_err(|x| e("regions", &x))?,
            overseas: WeightedIndex::new(geo::OVERSEAS.iter().map(|r| r.1))
                .map_err(|x| e("overseas", &x))?,
            products: WeightedIndex::new((1..=PRODUCTS).map(|i| 1.0 / (i as f64).powf(0.8)))
                .map_err(|x| e("products", &x))?,
            ratings: WeightedIndex::new(cfg.rating_distribution).map_err(|x| e("ratings", &x))?,
            lambda: Gamma::new(cfg.purchases.r, 1.0 / cfg.purchases.alpha)
                .map_err(|x| e("r, alpha", &x))?,
            dropout: Beta::new(cfg.purchases.a, cfg.purchases.b).map_err(|x| e("a, b", &x))?,
            nu: Gamma::new(cfg.spend.q, 1.0 / cfg.spend.v).map_err(|x| e("q, v", &x))?,
        })
    }

    fn exp(&mut self, mean: f64) -> f64 {
        Exp::new(1.0 / mean).map_or(0.0, |d| d.sample(&mut self.rng))
    }

    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        Poisson::new(mean).map_or(0, |d| d.sample(&mut self.rng) as u64)
    }

    fn china(&mut self) -> Place {
        let (region, _, cities) = geo::CN_REGIONS[self.regions.sample(&mut self.rng)];
        Place {
            country: "CN",
            region,
            city: cities[self.rng.random_range(0..cities.len())],
        }
    }

    fn abroad(&mut self) -> Place {
        let (country, _, places) = geo::OVERSEAS[self.overseas.sample(&mut self.rng)];
        let (region, city) = places[self.rng.random_range(0..places.len())];
        Place {
            country,
            region,
            city,
        }
    }

    fn organic_place(&mut self, overseas_share: f64) -> Place {
        if self.rng.random_bool(overseas_share) {
            self.abroad()
        } else {
            self.china()
        }
    }

    /// Word of mouth travels mostly nearby.
    fn referred_place(&mut self, from: Place) -> Place {
        let u: f64 = self.rng.random();
        if from.country == "CN" {
            if u < 0.55 {
                from
            } else if u < 0.75 {
                match geo::CN_REGIONS.iter().find(|r| r.0 == from.region) {
                    Some((_, _, cities)) => Place {
                        city: cities[self.rng.random_range(0..cities.len())],
                        ..from
                    },
                    None => from,
                }
            } else if u < 0.93 {
                self.china()
            } else {
                self.abroad()
            }
        } else if u < 0.6 {
            from
        } else if u < 0.8 {
            self.china()
        } else {
            self.abroad()
        }
    }
}

/// Generates the demo shop. `progress` is called with the number of customers done.
/// What a demo review truly says: its stars (also when it shows none),
/// its tone, and each aspect it praises (true) or complains of (false).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewTruth {
    pub review_id: String,
    /// The stars behind the review; for a follow-up, its first review's.
    pub stars: i64,
    /// Whether the review shows its stars.
    pub rated: bool,
    pub follow_up: bool,
    /// Whether the reviewed order was refunded.
    pub refunded: bool,
    /// positive (4–5★), negative (1–2★) or neutral (3★); a follow-up's
    /// is its clause's.
    pub sentiment: &'static str,
    pub description: Option<bool>,
    pub service: Option<bool>,
    pub logistics: Option<bool>,
    pub price: Option<bool>,
}

impl ReviewTruth {
    fn new(review_id: String, stars: i64, rated: bool, written: &texts::Written) -> Self {
        let said = |k: usize| written.aspects.iter().find(|a| a.0 == k).map(|a| a.1);
        ReviewTruth {
            review_id,
            stars,
            rated,
            follow_up: false,
            refunded: false,
            sentiment: match stars {
                1 | 2 => "negative",
                3 => "neutral",
                _ => "positive",
            },
            description: said(0),
            service: said(1),
            logistics: said(2),
            price: said(3),
        }
    }
}

/// The index drawn from unnormalised weights.
/// A customer's favourite category, from their id.
fn favourite_category(customer: &str) -> usize {
    let hash = customer.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % CATEGORIES.len() as u64) as usize
}

impl Sampler {
    /// A product for a line of `customer`'s order, after the order's first
    /// line `first`. Customers have a taste: six first lines in ten come
    /// from their favourite category; and a basket goes together: half the
    /// later lines come from the first line's category, three in ten from
    /// the favourite. The rest are drawn from every product by popularity.
    /// The main stream's draw is made either way, so that every other table
    /// stays as it was.
    fn product_for(&mut self, customer: &str, first: Option<usize>) -> usize {
        let any = self.products.sample(&mut self.rng);
        let r: f64 = self.taste.random();
        let category = match first {
            Some(p) if r < 0.5 => p % CATEGORIES.len(),
            Some(_) if r < 0.8 => favourite_category(customer),
            None if r < 0.6 => favourite_category(customer),
            _ => return any,
        };
        in_category(&self.products, &mut self.taste, category)
    }

    /// A product viewed while browsing: six views in ten of a known
    /// customer are of their favourite category, the rest (and a
    /// visitor's) by popularity, from their own stream. As in
    /// [`Sampler::product_for`], the main stream's draw is made either way.
    fn viewed_by(&mut self, customer: Option<&str>) -> usize {
        let any = self.products.sample(&mut self.rng);
        match customer {
            Some(c) if self.browse.random::<f64>() < 0.6 => {
                in_category(&self.products, &mut self.browse, favourite_category(c))
            }
            _ => any,
        }
    }
}

/// A product of `category` by popularity: products are dealt to the
/// categories in turn.
fn in_category(products: &WeightedIndex<f64>, rng: &mut ChaCha8Rng, category: usize) -> usize {
    loop {
        let p = products.sample(rng);
        if p % CATEGORIES.len() == category {
            return p;
        }
    }
}

fn weighted(rng: &mut impl Rng, weights: &[f64]) -> usize {
    WeightedIndex::new(weights).map_or(0, |w| w.sample(rng))
}

/// A review of `order` a few days after `t` (weeks), with `stars`: shown
/// or not, and at times a follow-up weeks later. Reviews falling after the
/// end are not written.
#[allow(clippy::too_many_arguments)]
fn write_reviews(
    s: &mut Sampler,
    out: &mut Builders,
    cfg: &DemoConfig,
    customer: &str,
    t: f64,
    order: &tables::Order,
    stars: i64,
    english: bool,
    refunded: bool,
    ts: &dyn Fn(f64) -> i64,
) {
    let horizon = cfg.weeks();
    let exp = |rng: &mut ChaCha8Rng, mean: f64| Exp::new(1.0 / mean).map_or(0.0, |d| d.sample(rng));
    let rt = t + exp(&mut s.reviews, 3.0 / 7.0);
    if rt >= horizon {
        return;
    }
    let written = texts::review(&mut s.reviews, stars, english);
    let rated = !s.reviews.random_bool(cfg.unrated_share);
    let id = out.review(
        customer,
        ts(rt),
        order,
        rated.then_some(stars),
        &written.text,
        english,
    );
    let mut truth = ReviewTruth::new(id, stars, rated, &written);
    truth.refunded = refunded;
    out.truth.push(truth);
    if s.reviews.random_bool(cfg.follow_up_rate) {
        let ft = rt + 1.0 + exp(&mut s.reviews, 3.0);
        if ft < horizon {
            let written = texts::follow_up(&mut s.reviews, stars, english);
            let id = out.review(customer, ts(ft), order, None, &written.text, english);
            let mut truth = ReviewTruth::new(id, stars, false, &written);
            truth.follow_up = true;
            truth.refunded = refunded;
            truth.sentiment = if written.aspects[0].1 {
                "positive"
            } else {
                "negative"
            };
            out.truth.push(truth);
        }
    }
}

pub fn generate(cfg: &DemoConfig, progress: &mut dyn FnMut(u64)) -> Result<DemoData, String> {
    if cfg.customers == 0 {
        return Err("the demo needs at least one customer".into());
    }
    if cfg.end <= cfg.start + chrono::Duration::days(14) {
        return Err("the demo period must be longer than two weeks".into());
    }
    let mut s = Sampler::new(cfg)?;
    let mut out = Builders::new(cfg.customers);
    let horizon = cfg.weeks();
    let start_us = cfg
        .start
        .and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp_micros();
    let ts = |weeks: f64| start_us + ((weeks * WEEK_MICROS) / 1e6).round() as i64 * 1_000_000;
    let rp = &cfg.referrals;
    let expected_children =
        rp.share_per_order * rp.recipients_mean * rp.click * rp.order_given_click * 3.0;
    let organic_target =
        ((cfg.customers as f64) * (1.0 - expected_children.min(0.5))).ceil() as usize;

    let mut queue: VecDeque<(Customer, Option<usize>)> = VecDeque::new();
    let mut created = 0usize;
    let mut done = 0u64;
    let mut visitor = 0u64;
    let organic = |s: &mut Sampler, index: usize| {
        // Acquisition grows over time: the start time has density rising linearly.
        let t0 = (horizon - 1.0) * s.rng.random::<f64>().sqrt();
        let channel = ["search", "ads", "social", "organic"][s.rng.random_range(0..4)];
        (
            Customer {
                index,
                t0,
                place: s.organic_place(cfg.overseas_share),
                channel,
            },
            None,
        )
    };
    while done < cfg.customers as u64 {
        if queue.is_empty() {
            // Top up with organic customers when cascades fall short.
            let n = if created == 0 {
                organic_target.min(cfg.customers)
            } else {
                1
            };
            for _ in 0..n {
                queue.push_back(organic(&mut s, created));
                created += 1;
            }
        }
        let Some((c, referrer)) = queue.pop_front() else {
            break;
        };
        let lambda = s.lambda.sample(&mut s.rng).max(1e-12);
        let p = s.dropout.sample(&mut s.rng);
        let nu = s.nu.sample(&mut s.rng);
        let spend = Gamma::new(cfg.spend.p, 1.0 / nu).map_err(|e| e.to_string())?;
        let order_channel = ["app", "app", "mini_program", "web"][s.rng.random_range(0..4)];
        let first_seen = (c.t0 - s.exp(2.0 / 7.0)).max(0.0);
        out.customer(
            &format!("c{:07}", c.index + 1),
            ts(first_seen),
            c.place,
            if referrer.is_some() {
                "referral"
            } else {
                c.channel
            },
            referrer.map(|r| format!("c{:07}", r + 1)).as_deref(),
        );

        // BG/NBD purchase times.
        let mut times = vec![c.t0];
        let mut t = c.t0;
        loop {
            t += s.exp(1.0 / lambda);
            if t >= horizon {
                break;
            }
            times.push(t);
            if s.rng.random_bool(p) {
                break;
            }
        }
        let cid = format!("c{:07}", c.index + 1);
        let last = *times.last().unwrap_or(&c.t0);
        for &t in &times {
            let value = (spend.sample(&mut s.rng) * 100.0).round().max(1.0) / 100.0;
            let order = out.order(&mut s, &cid, ts(t), value, c.place, order_channel, "paid");
            if cfg.events {
                out.purchase_session(&mut s, &cid, ts(t), &order, c.place, order_channel);
            }
            if cfg.events && s.reviews.random_bool(cfg.review_rate) {
                let stars = s.ratings.sample(&mut s.reviews) as i64 + 1;
                let english = c.place.country != "CN";
                write_reviews(
                    &mut s, &mut out, cfg, &cid, t, &order, stars, english, false, &ts,
                );
            }
            if s.rng.random_bool(rp.share_per_order) {
                let share_t = t + s.exp(0.5 / 7.0);
                if share_t >= horizon {
                    continue;
                }
                let channel = if c.place.country == "CN" {
                    ["wechat", "wechat", "wechat", "weibo", "qq", "link"][s.rng.random_range(0..6)]
                } else {
                    ["whatsapp", "facebook", "email", "link"][s.rng.random_range(0..4)]
                };
                let recipients = 1 + s.poisson(rp.recipients_mean - 1.0);
                for _ in 0..recipients {
                    let clicked = s.rng.random_bool(rp.click);
                    let wants = clicked && s.rng.random_bool(rp.order_given_click);
                    let child_t0 = share_t + s.exp(1.0 / 7.0);
                    let ordered =
                        wants && created < cfg.customers && child_t0 < horizon - 1.0 / 7.0;
                    let recipient = if ordered {
                        let place = s.referred_place(c.place);
                        let child = Customer {
                            index: created,
                            t0: child_t0,
                            place,
                            channel: "referral",
                        };
                        created += 1;
                        let id = format!("c{:07}", child.index + 1);
                        queue.push_back((child, Some(c.index)));
                        Some(id)
                    } else if clicked {
                        visitor += 1;
                        let id = format!("v{visitor:08}");
                        let land = share_t + s.exp(0.5 / 7.0).min(horizon - share_t) * 0.99;
                        if cfg.events {
                            out.landing(&mut s, &id, ts(land), c.place, channel);
                        }
                        Some(id)
                    } else {
                        None
                    };
                    out.referral(
                        ts(share_t),
                        &cid,
                        recipient.as_deref(),
                        channel,
                        &order.lines[0].0,
                        clicked,
                        ordered,
                    );
                }
            }
        }
        // Refunds and cancellations: extra orders beside the paid process.
        let extra = s.poisson((cfg.refund_rate + cfg.cancel_rate) * times.len() as f64);
        for _ in 0..extra {
            let t = c.t0 + s.rng.random::<f64>() * (last - c.t0 + 2.0).min(horizon - c.t0);
            let status = if s
                .rng
                .random_bool(cfg.refund_rate / (cfg.refund_rate + cfg.cancel_rate))
            {
                "refunded"
            } else {
                "cancelled"
            };
            let value = (spend.sample(&mut s.rng) * 100.0).round().max(1.0) / 100.0;
            let t = t.min(horizon - 1e-6);
            let order = out.order(&mut s, &cid, ts(t), value, c.place, order_channel, status);
            if cfg.events && status == "refunded" && s.reviews.random_bool(cfg.refund_review_rate) {
                let stars = weighted(&mut s.reviews, &REFUND_RATINGS) as i64 + 1;
                let english = c.place.country != "CN";
                write_reviews(
                    &mut s, &mut out, cfg, &cid, t, &order, stars, english, true, &ts,
                );
            }
        }
        // Browsing sessions that do not end in a purchase.
        let browse = if cfg.events {
            s.poisson(cfg.funnel.browse_sessions_per_order * times.len() as f64)
        } else {
            0
        };
        let (lo, hi) = ((c.t0 - 1.0).max(0.0), (last + 4.0).min(horizon));
        for _ in 0..browse {
            let t = lo + s.rng.random::<f64>() * (hi - lo);
            out.browse_session(
                &mut s,
                Some(&cid),
                None,
                ts(t),
                c.place,
                order_channel,
                &cfg.funnel,
            );
        }
        done += 1;
        if done.is_multiple_of(1024) {
            progress(done);
        }
    }
    // Visitors who never buy.
    let anonymous = if cfg.events {
        (cfg.customers as f64 * cfg.funnel.anonymous_visitors_per_customer).round() as u64
    } else {
        0
    };
    for i in 0..anonymous {
        let id = format!("a{:08}", i + 1);
        let place = s.organic_place(cfg.overseas_share);
        let sessions = 1 + s.poisson(0.5);
        for _ in 0..sessions {
            let t = s.rng.random::<f64>() * horizon;
            out.browse_session(&mut s, None, Some(&id), ts(t), place, "web", &cfg.funnel);
        }
    }
    progress(done);
    out.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
