//! `reviews terms`: the words and phrases (a review's aspect tags, noun
//! then adjective: 包装破损) that set bad reviews (1–2★) apart from good
//! ones (4–5★), by the log-odds ratio with an informative Dirichlet prior
//! (koubei-reviews' [`log_odds`]), each with its rating drag and example
//! reviews: what to fix first.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use koubei_reviews::{PRIOR_TERMS, document_counts, log_odds};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cols::{i64s, strings};
use crate::{Engine, Error, Result};

/// What `reviews terms` reads.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TermsRequest {
    /// First day included (UTC).
    pub since: Option<NaiveDate>,
    /// Last day included (UTC).
    pub until: Option<NaiveDate>,
    /// Only the reviews of this product.
    pub product: Option<String>,
    /// Only the reviews of products of this category (from `orders`).
    pub category: Option<String>,
    /// Terms listed of each kind.
    pub top: usize,
    /// The prior's weight α₀, in terms.
    pub prior_terms: f64,
}

impl Default for TermsRequest {
    fn default() -> Self {
        TermsRequest {
            since: None,
            until: None,
            product: None,
            category: None,
            top: 20,
            prior_terms: PRIOR_TERMS,
        }
    }
}

/// One term: how strongly it marks bad reviews, and what it costs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TermRow {
    pub term: String,
    /// The log-odds ratio's z-score, bad over good.
    pub z: f64,
    /// Bad (1–2★) and good (4–5★) reviews that use it.
    pub bad_reviews: u64,
    pub good_reviews: u64,
    /// Of the rated reviews, the share that use it.
    pub share: f64,
    pub mean_with: Option<f64>,
    pub mean_without: Option<f64>,
    /// share × (mean without − mean with): the stars the mean would gain if
    /// the reviews that use it rated as the others do.
    pub drag: Option<f64>,
    /// Up to two reviews that use it (bad ones for a complaint, good ones
    /// for praise).
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TermsReport {
    /// Rated reviews with a text in scope, and how many were bad and good.
    pub reviews: usize,
    pub bad: usize,
    pub good: usize,
    pub prior_terms: f64,
    /// Terms of bad reviews, the most telling first.
    pub complaints: Vec<TermRow>,
    /// Terms of good reviews, the most telling first.
    pub praise: Vec<TermRow>,
}

/// A string as an SQL literal.
pub(crate) fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Engine {
    /// SQL conditions on reviews `r`: written in the range, of one product,
    /// of the products of one category (from `orders`).
    pub(crate) async fn review_scope(
        &self,
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
        product: Option<&str>,
        category: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut filter = vec![crate::ts_in_days("r.ts", since, until)];
        if let Some(p) = product {
            filter.push(format!("r.product_id = {}", quoted(p)));
        }
        if let Some(c) = category {
            let col = self.orders_column("category").await?;
            filter.push(format!(
                "r.product_id IN (SELECT product_id FROM orders WHERE {col} = {})",
                quoted(c)
            ));
        }
        Ok(filter)
    }

    pub async fn review_terms(&self, req: &TermsRequest) -> Result<TermsReport> {
        if !(req.prior_terms > 0.0 && req.prior_terms.is_finite()) {
            return Err(Error::invalid(
                "prior_terms",
                format!("{}: must be above 0", req.prior_terms),
            ));
        }
        let filter = self
            .review_scope(
                req.since,
                req.until,
                req.product.as_deref(),
                req.category.as_deref(),
            )
            .await?;
        let scope = format!(
            "r.rating IS NOT NULL AND r.text IS NOT NULL AND trim(r.text) <> '' AND {}",
            filter.join(" AND ")
        );
        let sql = format!(
            "SELECT r.text, r.rating, r.review_id FROM reviews r WHERE {scope} ORDER BY r.review_id"
        );
        let (mut texts, mut ratings, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        for b in self.sql(&sql).await?.1 {
            texts.extend(strings(b.column(0))?);
            ratings.extend(
                i64s(b.column(1))?
                    .into_iter()
                    .map(Option::unwrap_or_default),
            );
            ids.extend(strings(b.column(2))?);
        }
        // Each review's tags (noun–adjective phrases: 包装破损, 物流很快)
        // count as terms beside its words. Every tag is read and kept when
        // its review is in scope (review ids are the table's key): joining
        // the mentions with the reviews in SQL read and filtered the texts
        // a second time (terms at 1M took 1.37 s with the join, 0.95 s now).
        self.review_scores().await?;
        let at: HashMap<&str, usize, foldhash::fast::RandomState> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut tags: Vec<Vec<String>> = vec![Vec::new(); ids.len()];
        let tag_sql = "SELECT m.review_id, m.tag FROM review_mentions m WHERE m.tag IS NOT NULL";
        for b in self.sql(tag_sql).await?.1 {
            let (id, tag) = (
                cast(b.column(0), &DataType::Utf8View)?,
                cast(b.column(1), &DataType::Utf8View)?,
            );
            let (id, tag) = (id.as_string_view(), tag.as_string_view());
            for r in 0..b.num_rows() {
                if id.is_valid(r)
                    && let Some(&i) = at.get(id.value(r))
                {
                    tags[i].push(tag.value(r).to_string());
                }
            }
        }
        drop(at);
        let model = koubei_reviews::DefaultModel::shared();
        let words: Vec<Vec<String>> = texts
            .par_iter()
            .zip(tags)
            .map(|(t, mut phrases)| {
                let mut w = model.words(t);
                phrases.sort_unstable();
                phrases.dedup();
                phrases.retain(|p| !w.contains(p));
                w.extend(phrases);
                w
            })
            .collect();
        let bad_docs = (0..texts.len()).filter(|&i| ratings[i] <= 2);
        let good_docs = (0..texts.len()).filter(|&i| ratings[i] >= 4);
        let (bad, good) = rayon::join(
            || document_counts(bad_docs.clone().map(|i| words[i].as_slice())),
            || document_counts(good_docs.clone().map(|i| words[i].as_slice())),
        );
        let (n_bad, n_good) = (bad_docs.count(), good_docs.count());
        if n_bad == 0 || n_good == 0 {
            return Err(Error::Request(format!(
                "terms need both bad (1–2★) and good (4–5★) reviews with a text: {n_bad} bad, {n_good} good"
            )));
        }
        let odds = log_odds(&bad, &good, req.prior_terms);
        // Complaints mark bad reviews (z above 0), praise good ones.
        let complaints: Vec<_> = odds.iter().filter(|t| t.z > 0.0).take(req.top).collect();
        let praise: Vec<_> = odds
            .iter()
            .rev()
            .filter(|t| t.z < 0.0)
            .take(req.top)
            .collect();
        // Which reviews use each listed term, for its drag and examples:
        // every word of every review looked up, so hashed with foldhash, and
        // a review counted once per term (its number is the last pushed).
        let mut uses: HashMap<&str, Vec<usize>, foldhash::fast::RandomState> = complaints
            .iter()
            .chain(&praise)
            .map(|t| (t.term.as_str(), Vec::new()))
            .collect();
        for (i, ws) in words.iter().enumerate() {
            for w in ws {
                if let Some(u) = uses.get_mut(w.as_str())
                    && u.last() != Some(&i)
                {
                    u.push(i);
                }
            }
        }
        let total: i64 = ratings.iter().sum();
        let n = texts.len();
        let row = |t: &koubei_reviews::TermOdds, complaint: bool| {
            let with = &uses[t.term.as_str()];
            let sum_with: i64 = with.iter().map(|&i| ratings[i]).sum();
            let mean = |s: i64, c: usize| (c > 0).then(|| s as f64 / c as f64);
            let mean_with = mean(sum_with, with.len());
            let mean_without = mean(total - sum_with, n - with.len());
            let share = with.len() as f64 / n as f64;
            TermRow {
                term: t.term.clone(),
                z: t.z,
                bad_reviews: t.bad,
                good_reviews: t.good,
                share,
                mean_with,
                mean_without,
                drag: mean_with.zip(mean_without).map(|(w, wo)| share * (wo - w)),
                examples: with
                    .iter()
                    .filter(|&&i| {
                        if complaint {
                            ratings[i] <= 2
                        } else {
                            ratings[i] >= 4
                        }
                    })
                    .take(2)
                    .map(|&i| texts[i].clone())
                    .collect(),
            }
        };
        Ok(TermsReport {
            reviews: n,
            bad: n_bad,
            good: n_good,
            prior_terms: req.prior_terms,
            complaints: complaints.iter().map(|t| row(t, true)).collect(),
            praise: praise.iter().map(|t| row(t, false)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    /// Slow delivery is what 1–2★ reviews say; its drag is worked by hand.
    #[tokio::test]
    async fn complaints_and_their_drag() {
        let mut csv = String::from("review_id,ts,product_id,rating,text\n");
        let rows = [
            (1, "物流太慢，质量不错"),
            (1, "物流太慢，包装破损"),
            (2, "物流太慢"),
            (5, "质量不错，物流很快"),
            (5, "质量不错"),
            (4, "物流很快，质量不错"),
            (3, "一般"),
        ];
        for (i, (r, t)) in rows.iter().enumerate() {
            csv.push_str(&format!("r{i},2024-03-0{},p1,{r},{t}\n", i + 1));
        }
        let (_dir, e) = crate::test_engine(TableKind::Reviews, &csv).await;
        let r = e.review_terms(&TermsRequest::default()).await.unwrap();
        assert_eq!((r.reviews, r.bad, r.good), (7, 3, 3));
        let slow = r
            .complaints
            .iter()
            .find(|t| t.term == "太慢")
            .unwrap_or_else(|| panic!("{:?}", r.complaints));
        assert_eq!((slow.bad_reviews, slow.good_reviews), (3, 0));
        // Used by 3 of 7 rated reviews (1, 1, 2★): mean 4/3 with, 17/4 without.
        assert!((slow.share - 3.0 / 7.0).abs() < 1e-12);
        assert_eq!(slow.mean_with, Some(4.0 / 3.0));
        assert_eq!(slow.mean_without, Some(17.0 / 4.0));
        let drag = 3.0 / 7.0 * (17.0 / 4.0 - 4.0 / 3.0);
        assert!((slow.drag.unwrap() - drag).abs() < 1e-12);
        assert_eq!(slow.examples, ["物流太慢，质量不错", "物流太慢，包装破损"]);
        assert_eq!(r.complaints[0].term, "太慢", "{:?}", r.complaints);
        // The tag 物流太慢 (noun, then adjective) is a term of its own, in
        // the same three bad reviews.
        let phrase = r.complaints.iter().find(|t| t.term == "物流太慢");
        assert_eq!(
            phrase.map(|t| (t.bad_reviews, t.good_reviews)),
            Some((3, 0)),
            "{:?}",
            r.complaints
        );
        assert!(
            r.praise.iter().take(3).any(|t| t.term == "很快"),
            "{:?}",
            r.praise
        );
        assert!(r.praise[0].z < 0.0);
        let none = e
            .review_terms(&TermsRequest {
                product: Some("p2".into()),
                ..TermsRequest::default()
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(none.contains("0 bad, 0 good"), "{none}");
    }

    /// A tag counts in the reviews in scope only, once per review however
    /// often the review says it.
    #[tokio::test]
    async fn tags_of_the_reviews_in_scope_once_each() {
        let mut csv = String::from("review_id,ts,product_id,rating,text\n");
        let rows = [
            ("2024-02-01", 1, "物流太慢，包装破损"),
            ("2024-03-01", 1, "物流太慢，物流太慢"),
            ("2024-03-02", 2, "物流太慢，包装破损"),
            ("2024-03-03", 5, "质量不错，物流很快"),
            ("2024-03-04", 4, "质量不错"),
        ];
        for (i, (day, r, t)) in rows.iter().enumerate() {
            csv.push_str(&format!("r{i},{day},p1,{r},{t}\n"));
        }
        let (_dir, e) = crate::test_engine(TableKind::Reviews, &csv).await;
        let counts = |r: &TermsReport, term: &str| {
            r.complaints
                .iter()
                .chain(&r.praise)
                .find(|t| t.term == term)
                .map(|t| (t.bad_reviews, t.good_reviews))
        };
        let all = e.review_terms(&TermsRequest::default()).await.unwrap();
        assert_eq!(counts(&all, "物流太慢"), Some((3, 0)), "{all:?}");
        assert_eq!(counts(&all, "包装破损"), Some((2, 0)), "{all:?}");
        let march = e
            .review_terms(&TermsRequest {
                since: Some("2024-03-01".parse().unwrap()),
                ..TermsRequest::default()
            })
            .await
            .unwrap();
        assert_eq!(march.reviews, 4);
        assert_eq!(counts(&march, "物流太慢"), Some((2, 0)), "{march:?}");
        assert_eq!(counts(&march, "包装破损"), Some((1, 0)), "{march:?}");
    }
}
