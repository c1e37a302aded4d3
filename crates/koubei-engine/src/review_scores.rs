//! Each review's sentiment and aspect mentions, stored beside `reviews`
//! after an import: scored by the shop's own model when one was trained
//! and beat the default in cross-validation (see [`ShopModelInfo`]), by
//! koubei-reviews' default model otherwise. Aspects always come from the
//! default model's clauses.
//!
//! Two derived tables: `review_scores` (one row per review: language,
//! P(positive), label, and each aspect's polarity in it) and
//! `review_mentions` (one row per aspect a clause names, with its tag). As
//! with the stored purchases, they are read only while `reviews` is at the
//! version they were made from, and by the model that would score them
//! now; otherwise the scores are computed for the session and kept in
//! memory, so a report never reads a stale table.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, AsArray, Float64Builder, RecordBatch, StringArray, StringBuilder,
    StringDictionaryBuilder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use koubei_reviews::{Analysis, Aspect, Aspects, DefaultModel, NaiveBayes};
use koubei_store::Workspace;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Engine, Error, Result};

/// The derived tables' names, in the workspace and in the session.
pub const REVIEW_SCORES: &str = "review_scores";
pub const REVIEW_MENTIONS: &str = "review_mentions";

/// The default model's name.
pub const DEFAULT_MODEL: &str = "default";

/// The shop's trained model and what is known of it, in the workspace.
const SHOP_MODEL: &str = "models/sentiment-shop.tsv";
const SHOP_MODEL_INFO: &str = "models/sentiment-shop.json";

/// How the shop's model was trained and how it compared with the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopModelInfo {
    /// UTC, to the second: it names the model.
    pub trained_at: String,
    /// `reviews` or the file trained on.
    pub trained_on: String,
    /// The version of `reviews` trained on.
    pub data_version: Option<i64>,
    pub reviews: usize,
    pub positive: usize,
    pub negative: usize,
    pub folds: usize,
    pub cv_accuracy: f64,
    pub cv_balanced_accuracy: f64,
    pub default_accuracy: f64,
    pub default_balanced_accuracy: f64,
    /// Whether it scores the shop's reviews: it beat the default's
    /// balanced accuracy.
    pub in_use: bool,
}

impl ShopModelInfo {
    /// The name reports give for what scored them.
    pub fn id(&self) -> String {
        format!("shop (trained {})", self.trained_at)
    }
}

/// The shop's model's record, if one was trained.
pub fn shop_model_info(ws: &Workspace) -> Result<Option<ShopModelInfo>> {
    let Some(bytes) = ws.read_file(SHOP_MODEL_INFO)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Request(format!("{SHOP_MODEL_INFO} in the workspace: {e}")))
}

/// The shop's model and its record, if one was trained.
pub fn load_shop_model(ws: &Workspace) -> Result<Option<(ShopModelInfo, NaiveBayes)>> {
    let Some(info) = shop_model_info(ws)? else {
        return Ok(None);
    };
    let text = ws.read_file(SHOP_MODEL)?.ok_or_else(|| {
        Error::Request(format!(
            "{SHOP_MODEL_INFO} is in the workspace but {SHOP_MODEL} is not"
        ))
    })?;
    let text = String::from_utf8_lossy(&text);
    let model = NaiveBayes::from_text(&text)
        .map_err(|e| Error::Request(format!("{SHOP_MODEL} in the workspace: {e}")))?;
    Ok(Some((info, model)))
}

/// Stores the shop's model, then its record (which readers go by). The
/// caller holds the workspace's lock.
pub fn save_shop_model(ws: &Workspace, info: &ShopModelInfo, model: &NaiveBayes) -> Result<()> {
    let dir = ws.root().join("models");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Request(format!("{}: {e}", dir.display())))?;
    ws.write_file(SHOP_MODEL, model.to_text().as_bytes())?;
    let info = serde_json::to_vec_pretty(info).map_err(|e| Error::Request(e.to_string()))?;
    ws.write_file(SHOP_MODEL_INFO, &info)?;
    Ok(())
}

/// What gives each review its P(positive).
enum Scorer {
    Default,
    Shop(NaiveBayes),
}
/// Reviews scored per parallel task.
const CHUNK: usize = 2048;

fn aspects() -> &'static Aspects {
    static ASPECTS: OnceLock<Aspects> = OnceLock::new();
    ASPECTS.get_or_init(Aspects::standard)
}

fn scores_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("review_id", DataType::Utf8, true),
        Field::new("language", DataType::Utf8, true),
        Field::new("p_positive", DataType::Float64, true),
        Field::new("label", DataType::Utf8, true),
    ];
    fields.extend(
        Aspect::ALL
            .iter()
            .map(|a| Field::new(a.as_str(), DataType::Float64, true)),
    );
    Arc::new(Schema::new(fields))
}

/// A column's type as Delta keeps it: a dictionary as its values, and any
/// string as a string (Delta has one string type; read back, it may be a
/// view). Without this, stored mentions never matched the dictionary
/// columns written, and every report scored the reviews again.
fn stored_as(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, v) => stored_as(v),
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        t => t.clone(),
    }
}

fn mentions_schema() -> SchemaRef {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("review_id", DataType::Utf8, true),
        Field::new("aspect", dict.clone(), true),
        Field::new("tag", dict, true),
        Field::new("p_positive", DataType::Float64, true),
    ]))
}

/// The scores and mentions of one batch of (review_id, text).
fn score_batch(
    ids: &dyn Array,
    texts: &dyn Array,
    scorer: &Scorer,
) -> Result<(RecordBatch, RecordBatch)> {
    let ids = arrow::compute::cast(ids, &DataType::Utf8)?;
    let ids = ids.as_string::<i32>();
    let texts = arrow::compute::cast(texts, &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    let (model, aspects) = (DefaultModel::shared(), aspects());
    let analyses: Vec<Option<Analysis>> = (0..texts.len())
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|i| {
            let text = texts.value(i);
            (!texts.is_null(i) && !text.trim().is_empty()).then(|| {
                let mut a = aspects.analyse(model, text);
                if let Scorer::Shop(bayes) = scorer {
                    a.scored = bayes.score(&model.words(text), &a.scored);
                }
                a
            })
        })
        .collect();
    let n = analyses.len();
    let mut language = StringBuilder::with_capacity(n, 2 * n);
    let mut p = Float64Builder::with_capacity(n);
    let mut label = StringBuilder::with_capacity(n, 8 * n);
    let mut per_aspect: Vec<Float64Builder> = Aspect::ALL
        .iter()
        .map(|_| Float64Builder::with_capacity(n))
        .collect();
    let mut m_id = StringBuilder::new();
    let mut m_aspect = StringDictionaryBuilder::<Int32Type>::new();
    let mut m_tag = StringDictionaryBuilder::<Int32Type>::new();
    let mut m_p = Float64Builder::new();
    for (i, a) in analyses.iter().enumerate() {
        let Some(a) = a else {
            language.append_null();
            p.append_null();
            label.append_null();
            per_aspect.iter_mut().for_each(Float64Builder::append_null);
            continue;
        };
        language.append_value(a.language.code());
        p.append_value(a.scored.p_positive);
        label.append_value(a.scored.label.as_str());
        for (k, aspect) in Aspect::ALL.iter().enumerate() {
            let ps: Vec<f64> = a
                .mentions
                .iter()
                .filter(|m| m.aspect == *aspect)
                .map(|m| m.p_positive)
                .collect();
            per_aspect[k]
                .append_option((!ps.is_empty()).then(|| ps.iter().sum::<f64>() / ps.len() as f64));
        }
        for m in &a.mentions {
            m_id.append_option((!ids.is_null(i)).then(|| ids.value(i)));
            m_aspect.append_value(m.aspect.as_str());
            m_tag.append_value(&m.tag);
            m_p.append_value(m.p_positive);
        }
    }
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from(ids.clone())),
        Arc::new(language.finish()),
        Arc::new(p.finish()),
        Arc::new(label.finish()),
    ];
    columns.extend(
        per_aspect
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as Arc<dyn Array>),
    );
    let scores = RecordBatch::try_new(scores_schema(), columns)?;
    let mentions = RecordBatch::try_new(
        mentions_schema(),
        vec![
            Arc::new(m_id.finish()),
            Arc::new(m_aspect.finish()),
            Arc::new(m_tag.finish()),
            Arc::new(m_p.finish()),
        ],
    )?;
    Ok((scores, mentions))
}

impl Engine {
    /// The name of the model that scores this session's reviews.
    pub fn sentiment_model(&self) -> String {
        self.shop_model
            .as_ref()
            .map_or(DEFAULT_MODEL.to_string(), ShopModelInfo::id)
    }

    /// Every review's scores and mentions, computed now.
    async fn compute_review_scores(&self) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
        let started = std::time::Instant::now();
        let scorer = match &self.shop_model {
            None => Scorer::Default,
            Some(info) => match load_shop_model(&self.ws)? {
                Some((stored, model)) if stored == *info => Scorer::Shop(model),
                _ => {
                    return Err(Error::Request(
                        "the shop's sentiment model changed while reading; try again".into(),
                    ));
                }
            },
        };
        let (_, batches) = self.sql("SELECT review_id, text FROM reviews").await?;
        let (mut scores, mut mentions) = (Vec::new(), Vec::new());
        for b in &batches {
            if b.num_rows() == 0 {
                continue;
            }
            let (s, m) = score_batch(b.column(0), b.column(1), &scorer)?;
            scores.push(s);
            mentions.push(m);
        }
        tracing::debug!(elapsed = ?started.elapsed(), reviews = scores.iter().map(RecordBatch::num_rows).sum::<usize>(), "reviews scored");
        Ok((scores, mentions))
    }

    /// Registers the stored scores and mentions if they were made from the
    /// `reviews` this session reads, with the columns this koubei writes.
    pub(crate) async fn register_stored_review_scores(&mut self, ws: &Workspace) -> Result<()> {
        let Some(source) = self.review_source() else {
            return Ok(());
        };
        let source = &source;
        let (Some(s), Some(m)) = (
            ws.load_derived(REVIEW_SCORES, source).await?,
            ws.load_derived(REVIEW_MENTIONS, source).await?,
        ) else {
            return Ok(());
        };
        let (s, m) = (
            self.runner.provider(&s).await?,
            self.runner.provider(&m).await?,
        );
        let fits = |have: SchemaRef, want: SchemaRef| {
            want.fields().iter().all(|f| {
                have.field_with_name(f.name())
                    .is_ok_and(|h| stored_as(h.data_type()) == stored_as(f.data_type()))
            })
        };
        if fits(s.schema(), scores_schema()) && fits(m.schema(), mentions_schema()) {
            self.ctx.register_table(REVIEW_SCORES, s)?;
            self.ctx.register_table(REVIEW_MENTIONS, m)?;
            self.review_scores
                .set(self.sentiment_model())
                .expect("set once, at open");
        }
        Ok(())
    }

    /// The rated reviews with a text, for training: each text and whether
    /// it is positive (4–5★) or negative (1–2★); 3★ is left out. With the
    /// version of `reviews` read.
    pub async fn rated_reviews(&self) -> Result<(Vec<String>, Vec<bool>, Option<i64>)> {
        let (_, batches) = self
            .sql(
                "SELECT text, rating FROM reviews
                 WHERE rating IN (1, 2, 4, 5) AND text IS NOT NULL AND trim(text) <> ''
                 ORDER BY review_id",
            )
            .await?;
        let (mut texts, mut positive) = (Vec::new(), Vec::new());
        for b in &batches {
            texts.extend(crate::cols::strings(b.column(0))?);
            positive.extend(
                crate::cols::i64s(b.column(1))?
                    .into_iter()
                    .map(|r| r.unwrap_or(0) >= 4),
            );
        }
        Ok((texts, positive, self.reviews.as_ref().map(|s| s.version())))
    }

    /// The version of `reviews` this session reads, scored by its model.
    fn review_source(&self) -> Option<koubei_store::Source> {
        self.reviews
            .as_ref()
            .map(|s| s.made_with(&self.sentiment_model()))
    }

    /// Makes sure `review_scores` and `review_mentions` are registered: the
    /// stored tables, or scores computed now and kept for this session.
    /// Returns the model that scored.
    pub(crate) async fn review_scores(&self) -> Result<&str> {
        self.review_scores
            .get_or_try_init(|| async {
                if let crate::Runner::Cluster { .. } = self.runner {
                    // An in-memory table cannot be sent to a cluster.
                    return Err(crate::Error::Request(
                        "the review scores of this version of the reviews are not stored: \
                         refresh the workspace before reading reviews on a cluster"
                            .into(),
                    ));
                }
                let (s, m) = self.compute_review_scores().await?;
                self.ctx.register_table(
                    REVIEW_SCORES,
                    Arc::new(MemTable::try_new(scores_schema(), vec![s])?),
                )?;
                self.ctx.register_table(
                    REVIEW_MENTIONS,
                    Arc::new(MemTable::try_new(mentions_schema(), vec![m])?),
                )?;
                Ok::<_, crate::Error>(self.sentiment_model())
            })
            .await
            .map(String::as_str)
    }

    /// Scores the workspace's reviews as they are now and stores the scores,
    /// unless they are stored already; returns how many reviews it scored
    /// (None without reviews).
    pub async fn store_review_scores(ws: &Workspace) -> Result<Option<usize>> {
        let engine = Engine::open(ws).await?;
        let Some(source) = engine.review_source() else {
            return Ok(None);
        };
        if engine.review_scores.initialized() {
            return Ok(None);
        }
        let (scores, mentions) = engine.compute_review_scores().await?;
        let n = scores.iter().map(RecordBatch::num_rows).sum();
        ws.replace_derived(REVIEW_MENTIONS, &source, mentions)
            .await?;
        ws.replace_derived(REVIEW_SCORES, &source, scores).await?;
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored scores are read back by the next session, not made again.
    #[tokio::test]
    async fn stored_scores_are_read_back() {
        let csv = "review_id,ts,rating,text\nr1,2024-03-01,5,物流很快\nr2,2024-03-02,1,包装破损\n";
        let (dir, e) = crate::test_engine(koubei_schema::TableKind::Reviews, csv).await;
        assert!(!e.review_scores.initialized());
        let ws = Workspace::open(dir.path().join("ws")).unwrap();
        assert_eq!(Engine::store_review_scores(&ws).await.unwrap(), Some(2));
        let again = Engine::open(&ws).await.unwrap();
        assert!(again.review_scores.initialized());
        assert_eq!(Engine::store_review_scores(&ws).await.unwrap(), None);
        let (_, b) = again
            .sql("SELECT CAST(tag AS VARCHAR) FROM review_mentions ORDER BY review_id")
            .await
            .unwrap();
        assert_eq!(
            crate::cols::strings(b[0].column(0)).unwrap(),
            ["物流很快", "包装破损"]
        );
    }

    #[test]
    fn a_batch_scores_each_review_and_lists_its_mentions() {
        let ids = StringArray::from(vec![Some("a"), Some("b"), Some("c"), Some("d")]);
        let texts = StringArray::from(vec![
            Some("质量很好，但是物流太慢了"),
            None,
            Some("Great value, slow delivery"),
            Some("收到了"),
        ]);
        let (s, m) = score_batch(&ids, &texts, &Scorer::Default).unwrap();
        assert_eq!(s.num_rows(), 4);
        let p = s.column(2).as_primitive::<arrow::datatypes::Float64Type>();
        let want = DefaultModel::default().score("质量很好，但是物流太慢了").1;
        assert_eq!(p.value(0), want.p_positive);
        assert!(p.is_null(1));
        assert_eq!(p.value(3), 0.5);
        let label = s.column(3).as_string::<i32>();
        // Queries compare the labels as the model names them.
        assert_eq!(label.value(0), koubei_reviews::Label::Negative.as_str());
        assert_eq!(label.value(3), "neutral");
        let col = |name: &str| {
            s.column_by_name(name)
                .unwrap()
                .as_primitive::<arrow::datatypes::Float64Type>()
                .clone()
        };
        assert!(col("description").value(0) > 0.6);
        assert!(col("logistics").value(0) < 0.4);
        assert!(col("price").value(2) > 0.6);
        assert!(col("logistics").value(2) < 0.4);
        assert!(col("service").is_null(0) && col("description").is_null(3));
        // Four mentions: two per reviewed text, by review.
        assert_eq!(m.num_rows(), 4);
        let who = m.column(0).as_string::<i32>();
        assert_eq!(
            (0..4).map(|i| who.value(i)).collect::<Vec<_>>(),
            ["a", "a", "c", "c"]
        );
        let tags = arrow::compute::cast(m.column(2), &DataType::Utf8).unwrap();
        let tags = tags.as_string::<i32>();
        assert_eq!(tags.value(0), "质量很好");
        assert_eq!(tags.value(1), "物流太慢");
        assert_eq!(tags.value(3), "slow delivery");
    }
}
