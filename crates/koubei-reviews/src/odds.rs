//! Which terms set bad reviews apart from good ones: the log-odds ratio
//! with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
//! "Fightin' Words", section 3.5).
//!
//! For a term w counted y₁ times in n₁ terms of bad reviews and y₂ times
//! in n₂ of good ones, with a prior of α_w = α₀ · (y₁ + y₂) / (n₁ + n₂)
//! (the term's share of both, scaled to α₀ prior terms in all):
//!
//!   δ = ln((y₁ + α_w) / (n₁ + α₀ − y₁ − α_w)) − ln((y₂ + α_w) / (n₂ + α₀ − y₂ − α_w))
//!   σ² ≈ 1 / (y₁ + α_w) + 1 / (y₂ + α_w),   z = δ / σ.
//!
//! A large z is a complaint term; a very negative one, praise. The prior
//! shrinks rare terms towards no difference, so that a word seen twice in
//! bad reviews does not outrank 物流慢 seen a thousand times.

use std::collections::{HashMap, HashSet};

/// Prior terms in all, by default: as strong as a few hundred reviews.
pub const PRIOR_TERMS: f64 = 1000.0;

/// Words that carry no complaint or praise of their own (particles,
/// pronouns, connectives), left out of the counts.
const STOP: &[&str] = &[
    "的", "了", "是", "我", "也", "都", "就", "还", "很", "有", "在", "和", "这", "那", "个", "吧",
    "啊", "呢", "吗", "买", "给", "又", "被", "把", "让", "对", "说", "用", "一", "不", "没", "太",
    "非常", "比较", "还是", "但是", "可是", "不过", "就是", "而且", "因为", "所以", "我们", "你们",
    "他们", "什么", "这个", "那个", "东西", "the", "a", "an", "and", "or", "but", "is", "was",
    "it", "i", "to", "of", "for", "in", "on", "my", "this", "that", "with", "be", "very",
];

/// A term and how strongly it marks bad reviews.
#[derive(Debug, Clone, PartialEq)]
pub struct TermOdds {
    pub term: String,
    /// Reviews (documents) of each kind holding it.
    pub bad: u64,
    pub good: u64,
    /// The log-odds ratio, bad over good.
    pub delta: f64,
    /// δ over its standard error: above about 2, a term bad reviews use
    /// more than chance would give.
    pub z: f64,
}

/// Each term's count, once per review it appears in. Terms are counted by
/// reference and copied once each at the end, with foldhash: at 700k
/// reviews, copying each word to look it up cost more than the counting.
pub fn document_counts<'a>(
    reviews: impl IntoIterator<Item = &'a [String]>,
) -> HashMap<String, u64> {
    type Fast = foldhash::fast::RandomState;
    let stop: HashSet<&str, Fast> = STOP.iter().copied().collect();
    let mut counts: HashMap<&'a str, u64, Fast> = HashMap::default();
    let mut seen: HashSet<&'a str, Fast> = HashSet::default();
    for words in reviews {
        seen.clear();
        for w in words {
            let w = w.as_str();
            if !stop.contains(w) && w.chars().any(char::is_alphabetic) && seen.insert(w) {
                *counts.entry(w).or_insert(0) += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(|(w, c)| (w.to_string(), c))
        .collect()
}

/// Every term's log-odds of bad against good reviews, complaint terms
/// first (by z, then by term). `prior_terms` is α₀.
pub fn log_odds(
    bad: &HashMap<String, u64>,
    good: &HashMap<String, u64>,
    prior_terms: f64,
) -> Vec<TermOdds> {
    let n1: f64 = bad.values().map(|&c| c as f64).sum();
    let n2: f64 = good.values().map(|&c| c as f64).sum();
    let all = n1 + n2;
    let terms: HashSet<&String> = bad.keys().chain(good.keys()).collect();
    let mut out: Vec<TermOdds> = terms
        .into_iter()
        .map(|t| {
            let y1 = bad.get(t).copied().unwrap_or(0);
            let y2 = good.get(t).copied().unwrap_or(0);
            let (f1, f2) = (y1 as f64, y2 as f64);
            let a = prior_terms * (f1 + f2) / all;
            let delta = ((f1 + a) / (n1 + prior_terms - f1 - a)).ln()
                - ((f2 + a) / (n2 + prior_terms - f2 - a)).ln();
            let sd = (1.0 / (f1 + a) + 1.0 / (f2 + a)).sqrt();
            TermOdds {
                term: t.clone(),
                bad: y1,
                good: y2,
                delta,
                z: delta / sd,
            }
        })
        .collect();
    out.sort_by(|a, b| b.z.total_cmp(&a.z).then_with(|| a.term.cmp(&b.term)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(t, c)| (t.to_string(), *c)).collect()
    }

    /// δ and z worked by hand for one term, and the order they give.
    #[test]
    fn by_hand() {
        let bad = counts(&[("慢", 30), ("好", 10)]);
        let good = counts(&[("慢", 5), ("好", 55)]);
        let r = log_odds(&bad, &good, 100.0);
        // n₁ = 40, n₂ = 60; 慢: α = 100 · 35 / 100 = 35.
        let slow = r.iter().find(|t| t.term == "慢").unwrap();
        let want = (65.0f64 / (40.0 + 100.0 - 30.0 - 35.0)).ln()
            - (40.0f64 / (60.0 + 100.0 - 5.0 - 35.0)).ln();
        assert!((slow.delta - want).abs() < 1e-12);
        let sd = (1.0 / 65.0 + 1.0 / 40.0f64).sqrt();
        assert!((slow.z - want / sd).abs() < 1e-12);
        assert_eq!((slow.bad, slow.good), (30, 5));
        assert_eq!(r[0].term, "慢");
        assert!(r[1].z < 0.0, "好 marks good reviews: {r:?}");
    }

    /// A term seen twice, only in bad reviews, ranks below one seen often
    /// and mostly in bad ones: the prior shrinks the rare one.
    #[test]
    fn the_prior_shrinks_rare_terms() {
        let bad = counts(&[("破损", 400), ("奇怪", 2), ("好", 600)]);
        let good = counts(&[("破损", 40), ("好", 5000)]);
        let r = log_odds(&bad, &good, PRIOR_TERMS);
        let rank = |t: &str| r.iter().position(|x| x.term == t).unwrap();
        assert!(rank("破损") < rank("奇怪"), "{r:?}");
    }

    #[test]
    fn stop_words_and_repeats_are_not_counted() {
        let docs: Vec<Vec<String>> = vec![
            ["物流", "很", "慢", "慢", "的"].map(String::from).to_vec(),
            ["慢", "了", "!"].map(String::from).to_vec(),
        ];
        let c = document_counts(docs.iter().map(Vec::as_slice));
        assert_eq!(c, counts(&[("物流", 1), ("慢", 2)]));
    }
}
