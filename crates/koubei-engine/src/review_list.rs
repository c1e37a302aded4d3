//! `reviews list`: the reviews behind a number: a tag (物流很快), a
//! complaint term (太慢), a rating or a label, newest first. What a click on
//! a tag or a term opens.

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cols::{f64s, i64s, opt_strings, strings};
use crate::review_scores::{REVIEW_MENTIONS, REVIEW_SCORES};
use crate::review_terms::quoted;
use crate::{Engine, Error, Result};

/// Which reviews `reviews list` shows.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ReviewListRequest {
    /// First day included (UTC).
    pub since: Option<NaiveDate>,
    /// Last day included (UTC).
    pub until: Option<NaiveDate>,
    /// Only the reviews of this product.
    pub product: Option<String>,
    /// Only the reviews of products of this category (from `orders`).
    pub category: Option<String>,
    /// Only reviews with a clause of this tag (as `reviews` lists them).
    pub tag: Option<String>,
    /// Only reviews that mention this aspect: description, service,
    /// logistics or price.
    pub aspect: Option<String>,
    /// Only reviews that use this word (as `reviews terms` lists them).
    pub term: Option<String>,
    /// Only reviews of this many stars.
    pub rating: Option<i64>,
    /// Only reviews the model reads as positive, negative or neutral.
    pub label: Option<String>,
    /// Reviews listed, newest first.
    pub limit: usize,
}

impl Default for ReviewListRequest {
    fn default() -> Self {
        ReviewListRequest {
            since: None,
            until: None,
            product: None,
            category: None,
            tag: None,
            aspect: None,
            term: None,
            rating: None,
            label: None,
            limit: 100,
        }
    }
}

/// One review, with how the model read it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListedReview {
    pub review_id: String,
    /// When it was written, in UTC.
    pub ts: String,
    pub customer_id: Option<String>,
    pub product_id: Option<String>,
    pub rating: Option<i64>,
    pub text: Option<String>,
    pub p_positive: Option<f64>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewListReport {
    /// The model that read the reviews.
    pub model: String,
    /// Reviews that match, of which the first `limit` are listed.
    pub matched: usize,
    pub rows: Vec<ListedReview>,
}

const ASPECTS: [&str; 4] = ["description", "service", "logistics", "price"];
const LABELS: [&str; 3] = ["positive", "negative", "neutral"];

impl Engine {
    pub async fn review_list(&self, req: &ReviewListRequest) -> Result<ReviewListReport> {
        if let Some(a) = req.aspect.as_deref().filter(|a| !ASPECTS.contains(a)) {
            return Err(Error::invalid(
                "aspect",
                format!("{a}: expected one of {}", ASPECTS.join(", ")),
            ));
        }
        if let Some(l) = req.label.as_deref().filter(|l| !LABELS.contains(l)) {
            return Err(Error::invalid(
                "label",
                format!("{l}: expected one of {}", LABELS.join(", ")),
            ));
        }
        if let Some(r) = req.rating.filter(|r| !(1..=5).contains(r)) {
            return Err(Error::invalid("rating", format!("{r}: expected 1 to 5")));
        }
        let model = self.review_scores().await?.to_string();
        let mut filter = self
            .review_scope(
                req.since,
                req.until,
                req.product.as_deref(),
                req.category.as_deref(),
            )
            .await?;
        let mut mention = Vec::new();
        if let Some(t) = &req.tag {
            mention.push(format!("CAST(tag AS VARCHAR) = {}", quoted(t)));
        }
        if let Some(a) = &req.aspect {
            mention.push(format!("CAST(aspect AS VARCHAR) = {}", quoted(a)));
        }
        if !mention.is_empty() {
            filter.push(format!(
                "r.review_id IN (SELECT review_id FROM {REVIEW_MENTIONS} WHERE {})",
                mention.join(" AND ")
            ));
        }
        if let Some(r) = req.rating {
            filter.push(format!("r.rating = {r}"));
        }
        if let Some(l) = &req.label {
            filter.push(format!("s.label = {}", quoted(l)));
        }
        // A word is matched on the review's words, as `reviews terms`
        // counts it; the text must hold it first, which SQL checks.
        let term = req.term.as_deref().map(str::to_lowercase);
        if let Some(t) = &term {
            let like = t
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            filter.push(format!(
                "lower(r.text) LIKE {}",
                quoted(&format!("%{like}%"))
            ));
        }
        let sql = format!(
            "SELECT r.review_id, CAST(r.ts AS VARCHAR) AS written,
                    CAST(r.customer_id AS VARCHAR) AS customer, CAST(r.product_id AS VARCHAR) AS product,
                    r.rating, r.text, s.p_positive, s.label
             FROM reviews r LEFT JOIN {REVIEW_SCORES} s ON s.review_id = r.review_id
             WHERE {}
             ORDER BY r.ts DESC, r.review_id",
            filter.join(" AND ")
        );
        let mut rows = Vec::new();
        for b in self.sql(&sql).await?.1 {
            let (id, ts, customer, product, rating, text, p, label) = (
                strings(b.column(0))?,
                strings(b.column(1))?,
                opt_strings(b.column(2))?,
                opt_strings(b.column(3))?,
                i64s(b.column(4))?,
                opt_strings(b.column(5))?,
                f64s(b.column(6))?,
                opt_strings(b.column(7))?,
            );
            for i in 0..b.num_rows() {
                rows.push(ListedReview {
                    review_id: id[i].clone(),
                    ts: ts[i].clone(),
                    customer_id: customer[i].clone(),
                    product_id: product[i].clone(),
                    rating: rating[i],
                    text: text[i].clone(),
                    p_positive: p[i],
                    label: label[i].clone(),
                });
            }
        }
        if let Some(t) = &term {
            let words = koubei_reviews::DefaultModel::shared();
            let keep: Vec<bool> = rows
                .par_iter()
                .map(|r| {
                    r.text
                        .as_deref()
                        .is_some_and(|x| words.words(x).iter().any(|w| w == t))
                })
                .collect();
            let mut keep = keep.into_iter();
            rows.retain(|_| keep.next().unwrap_or(false));
        }
        let matched = rows.len();
        rows.truncate(req.limit);
        Ok(ReviewListReport {
            model,
            matched,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koubei_schema::TableKind;

    #[tokio::test]
    async fn the_reviews_behind_a_tag_a_term_and_a_rating() {
        let csv = "review_id,ts,product_id,rating,text
r1,2024-03-01,p1,1,物流太慢，质量不错
r2,2024-03-02,p1,5,物流很快，质量不错
r3,2024-03-03,p2,2,太慢了
r4,2024-03-04,p2,5,物流很快
r5,2024-03-05,p2,4,
";
        let (_dir, e) = crate::test_engine(TableKind::Reviews, csv).await;
        let ids = |r: &ReviewListReport| -> Vec<String> {
            r.rows.iter().map(|x| x.review_id.clone()).collect()
        };
        let all = e.review_list(&ReviewListRequest::default()).await.unwrap();
        assert_eq!(ids(&all), ["r5", "r4", "r3", "r2", "r1"]);
        assert_eq!(all.matched, 5);
        assert_eq!(all.rows[4].text.as_deref(), Some("物流太慢，质量不错"));
        assert_eq!(all.rows[4].rating, Some(1));
        assert!(all.rows[0].p_positive.is_none() && all.rows[0].text.is_none());
        let by = |f: fn(&mut ReviewListRequest)| {
            let mut r = ReviewListRequest::default();
            f(&mut r);
            r
        };
        let fast = e
            .review_list(&by(|r| r.tag = Some("物流很快".into())))
            .await
            .unwrap();
        assert_eq!(ids(&fast), ["r4", "r2"]);
        let slow = e
            .review_list(&by(|r| r.term = Some("太慢".into())))
            .await
            .unwrap();
        assert_eq!(ids(&slow), ["r3", "r1"]);
        assert!(slow.rows.iter().all(|x| x.label.is_some()));
        let liked = e
            .review_list(&by(|r| {
                r.aspect = Some("logistics".into());
                r.label = Some("positive".into());
            }))
            .await
            .unwrap();
        assert_eq!(ids(&liked), ["r4", "r2"], "{liked:?}");
        assert_eq!(liked.rows[1].ts, "2024-03-02T00:00:00Z");
        let one = e
            .review_list(&by(|r| {
                r.product = Some("p2".into());
                r.rating = Some(5);
                r.limit = 0;
            }))
            .await
            .unwrap();
        assert_eq!((one.matched, one.rows.len()), (1, 0));
        let e2 = e
            .review_list(&by(|r| r.aspect = Some("speed".into())))
            .await
            .unwrap_err()
            .to_string();
        assert!(e2.contains("aspect") && e2.contains("logistics"), "{e2}");
    }
}
