//! The generated data follows the recorded parameters.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Int64Type};

use super::*;

fn demo(n: usize, seed: u64) -> DemoData {
    generate(&DemoConfig::new(n, seed), &mut |_| {}).unwrap()
}

fn rows(b: &[arrow::array::RecordBatch]) -> usize {
    b.iter().map(|b| b.num_rows()).sum()
}

fn strings<'a>(b: &'a [arrow::array::RecordBatch], col: &str) -> Vec<Option<&'a str>> {
    b.iter()
        .flat_map(|b| b.column_by_name(col).unwrap().as_string::<i32>().iter())
        .collect()
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = demo(300, 7);
    let b = demo(300, 7);
    let c = demo(300, 8);
    for t in koubei_schema::TableKind::ALL {
        assert_eq!(a.table(t), b.table(t), "{t}");
    }
    assert_ne!(a.orders, c.orders);
    assert_eq!(rows(&a.customers), 300);
}

#[test]
fn batches_have_the_canonical_types() {
    let d = demo(200, 1);
    for t in koubei_schema::TableKind::ALL {
        let canonical = t.schema();
        for f in d.table(t)[0].schema().fields() {
            let c = canonical.field_with_name(f.name()).unwrap();
            assert_eq!(c.data_type(), f.data_type(), "{t}.{}", f.name());
        }
    }
}

/// Rates that the generator draws directly come back within a few standard errors.
#[test]
fn recorded_rates_are_recovered() {
    let cfg = DemoConfig::new(20_000, 42);
    let d = generate(&cfg, &mut |_| {}).unwrap();
    let near = |what: &str, got: f64, want: f64, n: usize| {
        let se = (want * (1.0 - want) / n as f64).sqrt();
        assert!(
            (got - want).abs() < 4.0 * se,
            "{what}: {got:.4} vs {want} (n={n}, se={se:.4})"
        );
    };

    // Ratings of paid orders' first reviews, shown or not; the shown share.
    let first: Vec<&crate::ReviewTruth> = d
        .review_truth
        .iter()
        .filter(|t| !t.follow_up && !t.refunded)
        .collect();
    for (stars, p) in cfg.rating_distribution.iter().enumerate() {
        let got = first.iter().filter(|t| t.stars == stars as i64 + 1).count() as f64
            / first.len() as f64;
        near(&format!("{} stars", stars + 1), got, *p, first.len());
    }
    let unrated = first.iter().filter(|t| !t.rated).count() as f64 / first.len() as f64;
    near("unrated", unrated, cfg.unrated_share, first.len());
    // The table's ratings are the truth's where shown.
    let ratings: Vec<Option<i64>> = d
        .reviews
        .iter()
        .flat_map(|b| {
            b.column_by_name("rating")
                .unwrap()
                .as_primitive::<Int64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ratings.len(), d.review_truth.len());
    for (r, t) in ratings.iter().zip(&d.review_truth) {
        assert_eq!(*r, t.rated.then_some(t.stars), "{t:?}");
    }
    // Refunded orders' reviews are 1–3★, and about as many as the rate says.
    let refunded: Vec<_> = d
        .review_truth
        .iter()
        .filter(|t| t.refunded && !t.follow_up)
        .collect();
    assert!(refunded.iter().all(|t| t.stars <= 3));
    assert!(refunded.len() > 100, "{}", refunded.len());

    // Clicks among shares' recipients.
    let clicked: Vec<bool> = d
        .referrals
        .iter()
        .flat_map(|b| {
            b.column_by_name("clicked")
                .unwrap()
                .as_boolean()
                .iter()
                .map(|v| v.unwrap())
        })
        .collect();
    let n = clicked.len();
    near(
        "click",
        clicked.iter().filter(|c| **c).count() as f64 / n as f64,
        cfg.referrals.click,
        n,
    );

    // Referred customers are those whose share was ordered, and all have a referrer.
    let referred = strings(&d.customers, "referred_by")
        .iter()
        .filter(|r| r.is_some())
        .count();
    let ordered = d
        .referrals
        .iter()
        .flat_map(|b| b.column_by_name("ordered").unwrap().as_boolean().iter())
        .filter(|v| *v == Some(true))
        .count();
    assert_eq!(referred, ordered);
    assert!(referred > 1000, "{referred} referred customers");

    // Share of overseas customers, among organic ones.
    let countries = strings(&d.customers, "country");
    let chans = strings(&d.customers, "acquisition_channel");
    let organic: Vec<_> = countries
        .iter()
        .zip(&chans)
        .filter(|(_, c)| **c != Some("referral"))
        .collect();
    let abroad = organic.iter().filter(|(c, _)| **c != Some("CN")).count();
    near(
        "overseas",
        abroad as f64 / organic.len() as f64,
        cfg.overseas_share,
        organic.len(),
    );
}

/// Mean order value over customers' first orders matches Gamma–Gamma's
/// E[z] = p v / (q - 1).
#[test]
fn order_values_follow_gamma_gamma() {
    let cfg = DemoConfig::new(20_000, 3);
    let d = generate(&cfg, &mut |_| {}).unwrap();
    let mut totals = std::collections::HashMap::<String, f64>::new();
    for b in &d.orders {
        let ids = b.column_by_name("order_id").unwrap().as_string::<i32>();
        let amt = b
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        let status = b.column_by_name("status").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            if status.value(i) == "paid" {
                *totals.entry(ids.value(i).to_string()).or_default() += amt.value(i) as f64 / 1e4;
            }
        }
    }
    let mean = totals.values().sum::<f64>() / totals.len() as f64;
    let want = cfg.spend.p * cfg.spend.v / (cfg.spend.q - 1.0);
    // Orders weight frequent buyers more, but spend is independent of frequency.
    assert!(
        (mean / want - 1.0).abs() < 0.05,
        "mean order {mean:.2} vs {want:.2}"
    );
}

/// Every paid order has a purchase event at the same instant.
#[test]
fn purchases_match_paid_orders() {
    let d = demo(2000, 5);
    let purchases = strings(&d.events, "event")
        .iter()
        .filter(|e| **e == Some("purchase"))
        .count();
    let mut paid = std::collections::HashSet::new();
    for b in &d.orders {
        let ids = b.column_by_name("order_id").unwrap().as_string::<i32>();
        let status = b.column_by_name("status").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            if status.value(i) == "paid" {
                paid.insert(ids.value(i));
            }
        }
    }
    assert_eq!(purchases, paid.len());
    assert!(
        d.events
            .iter()
            .all(|b| b.column_by_name("ts").unwrap().null_count() == 0)
    );
}

/// The default sentiment model and the aspect list read the demo's
/// reviews as they were written: each review's tone, and each aspect with
/// whether it was praised. (A check that texts and models agree, not a
/// measure of accuracy on real reviews: see docs/benchmarks.md for that.)
#[test]
fn the_default_model_reads_the_truth_back() {
    use koubei_reviews::{Aspect, Aspects, DefaultModel, Label};
    let d = generate(&DemoConfig::new(3_000, 7), &mut |_| {}).unwrap();
    let texts = strings(&d.reviews, "text");
    assert_eq!(texts.len(), d.review_truth.len());
    let (model, aspects) = (DefaultModel::default(), Aspects::standard());
    let (mut right, mut toned) = (0, 0);
    let (mut found, mut said, mut mentioned) = (0, 0, 0);
    let (mut mixed, mut english, mut follow_ups) = (0, 0, 0);
    for (text, t) in texts.iter().zip(&d.review_truth) {
        let text = text.as_deref().unwrap();
        let a = aspects.analyse(&model, text);
        english += usize::from(a.language.code() == "en");
        follow_ups += usize::from(t.follow_up);
        if t.sentiment != "neutral" {
            toned += 1;
            let want = if t.sentiment == "positive" {
                Label::Positive
            } else {
                Label::Negative
            };
            right += usize::from(a.scored.label == want);
        }
        let truth = [
            (Aspect::Description, t.description),
            (Aspect::Service, t.service),
            (Aspect::Logistics, t.logistics),
            (Aspect::Price, t.price),
        ];
        let kinds: Vec<bool> = truth.iter().filter_map(|x| x.1).collect();
        mixed += usize::from(kinds.contains(&true) && kinds.contains(&false));
        for (aspect, praised) in truth {
            let Some(praised) = praised else { continue };
            said += 1;
            found += usize::from(a.mentions.iter().any(|m| {
                m.aspect == aspect && (m.p_positive > 0.5) == praised && m.p_positive != 0.5
            }));
        }
        mentioned += a.mentions.len();
    }
    let n = texts.len();
    assert!(n > 2_000, "{n} reviews");
    assert!(mixed * 20 > n, "{mixed} mixed of {n}");
    assert!(
        english * 30 > n && follow_ups * 30 > n,
        "{english} english, {follow_ups} follow-ups"
    );
    let accuracy = right as f64 / toned as f64;
    assert!(accuracy > 0.9, "tone read right in {accuracy:.3}");
    let recall = found as f64 / said as f64;
    assert!(
        recall > 0.9,
        "aspects found with their polarity: {recall:.3}"
    );
    // Mentions of the truth's aspects, not of others (a review names each
    // aspect once at most).
    assert!(
        mentioned <= said + said / 20,
        "{mentioned} mentions, {said} said"
    );
}

/// Customers have a taste and baskets go together: 60% of first lines come
/// from the customer's favourite category and the rest by popularity (an
/// eighth of which land in it again: about 65% in all); half the later
/// lines take the first line's category, and most of the rest fall in it
/// through the favourite. Drawn by popularity alone, either share would be
/// near one category's, about an eighth.
#[test]
fn customers_have_a_taste_and_baskets_go_together() {
    let d = demo(2_000, 5);
    let (ids, customers, categories) = (
        strings(&d.orders, "order_id"),
        strings(&d.orders, "customer_id"),
        strings(&d.orders, "category"),
    );
    let (mut favourite, mut first_lines) = (0usize, 0usize);
    let (mut same, mut later) = (0usize, 0usize);
    let mut first: Option<(&str, &str)> = None;
    for ((id, c), cat) in ids.iter().zip(&customers).zip(&categories) {
        let (id, c, cat) = (id.unwrap(), c.unwrap(), cat.unwrap());
        match first {
            Some((o, f)) if o == id => {
                later += 1;
                same += usize::from(cat == f);
            }
            _ => {
                first = Some((id, cat));
                first_lines += 1;
                favourite += usize::from(cat == CATEGORIES[favourite_category(c)]);
            }
        }
    }
    let fav = favourite as f64 / first_lines as f64;
    assert!(
        (0.62..0.70).contains(&fav),
        "first lines in the favourite category: {fav}"
    );
    let together = same as f64 / later as f64;
    assert!(
        together > 0.6,
        "later lines in the first line's category: {together}"
    );
    // Known customers browse their favourite category too; visitors do
    // not (products are dealt to the categories in turn).
    let (mut known, mut known_fav, mut anon, mut anon_fav) = (0usize, 0, 0usize, 0);
    let events = (
        strings(&d.events, "event"),
        strings(&d.events, "customer_id"),
        strings(&d.events, "product_id"),
    );
    for ((e, c), p) in events.0.iter().zip(&events.1).zip(&events.2) {
        let (Some("view"), Some(p)) = (e, p) else {
            continue;
        };
        let category = (p[1..].parse::<usize>().unwrap() - 1) % CATEGORIES.len();
        match c {
            Some(c) => {
                known += 1;
                known_fav += usize::from(category == favourite_category(c));
            }
            None => {
                anon += 1;
                anon_fav += usize::from(category < 1);
            }
        }
    }
    let (kf, af) = (
        known_fav as f64 / known as f64,
        anon_fav as f64 / anon as f64,
    );
    assert!(
        (0.6..0.75).contains(&kf),
        "customers' views of their favourite: {kf}"
    );
    assert!(af < 0.3, "visitors' views of one category: {af}");
}
