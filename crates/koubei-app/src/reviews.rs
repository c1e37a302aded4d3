//! Reviews: the shop's satisfaction from its imported reviews (`reviews`),
//! the terms of its complaints and the reviews behind them, and the sentiment of each text in a file without importing it
//! (`reviews score`).

use crate::Op;
use std::path::{Path, PathBuf};

use koubei_reviews::{DefaultModel, NaiveBayes};
use koubei_store::Workspace;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use koubei_engine::review_list::{ListedReview, ReviewListReport, ReviewListRequest};
pub use koubei_engine::review_terms::{TermRow, TermsReport, TermsRequest};
pub use koubei_engine::satisfaction::{
    Grouping, SatisfactionReport, SatisfactionRequest, SatisfactionRow,
};

crate::engine_ops! {
    /// Ratings, CSAT, review and refund rates, sentiment and the service
    /// dimensions, by period or group, against the range before.
    satisfaction = satisfaction(SatisfactionRequest) -> SatisfactionReport;
    /// The terms that set bad reviews apart from good ones, with their
    /// rating drag and examples.
    terms = review_terms(TermsRequest) -> TermsReport;
    /// The reviews behind a tag, a term, a rating or a label, newest first.
    list = review_list(ReviewListRequest) -> ReviewListReport;
}

/// Loads the review text model (its lexicons and jieba's dictionary, a
/// fifth of a second) so that the first terms or scores asked for do not
/// wait for it: a server calls it while it waits for requests.
pub fn load_text_model() {
    koubei_reviews::DefaultModel::shared();
}

/// What `reviews score` reads.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ScoreRequest {
    /// A CSV file with a header row.
    pub file: PathBuf,
    /// The column holding each review's text.
    pub text_column: String,
    /// The column naming each review: by default `id` where the file has
    /// one, else the row's number (1 for the first row after the header).
    pub id_column: Option<String>,
    /// `default` (the lexicon for Chinese and VADER for English, with no
    /// training), `shop` (the workspace's model, from `reviews train`), or
    /// the path of a model file.
    pub model: String,
}

impl Default for ScoreRequest {
    fn default() -> Self {
        ScoreRequest {
            file: PathBuf::new(),
            text_column: "text".into(),
            id_column: None,
            model: "default".into(),
        }
    }
}

/// A word or clause that moved a score, and by how much.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TermWeight {
    pub text: String,
    pub weight: f64,
}

/// One review's score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoredReview {
    pub id: String,
    /// `zh` or `en`.
    pub language: &'static str,
    pub p_positive: f64,
    /// positive, negative or neutral.
    pub label: &'static str,
    /// The terms that weighed most, heaviest first.
    pub terms: Vec<TermWeight>,
}

/// The scores of a file's reviews, in its order.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    /// Which model scored.
    pub model: String,
    pub rows: Vec<ScoredReview>,
}

/// A CSV file's rows, with the columns asked for: each named by the request
/// field that chose it, so that a missing one is reported against that
/// field. A column that is not required reads as empty when missing.
struct CsvColumns {
    source: String,
    reader: csv::Reader<std::fs::File>,
    at: Vec<Option<usize>>,
}

impl CsvColumns {
    fn open(file: &Path, columns: &[(&'static str, &str, bool)]) -> Result<CsvColumns> {
        let source = file.display().to_string();
        let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        let mut reader = csv::Reader::from_reader(f);
        let header = reader
            .headers()
            .map_err(|e| Error::Request(format!("{source}: the header row: {e}")))?
            .clone();
        let at = columns
            .iter()
            .map(|(field, name, required)| {
                let found = header.iter().position(|h| h.trim() == *name);
                if found.is_some() || !required {
                    return Ok(found);
                }
                Err({
                    Error::invalid(
                        field,
                        format!(
                            "{source} has no column {name}; its columns: {}",
                            header.iter().collect::<Vec<_>>().join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?;
        Ok(CsvColumns { source, reader, at })
    }

    fn has(&self, k: usize) -> bool {
        self.at[k].is_some()
    }

    /// Calls `each` with every row's line number and chosen cells.
    fn each(mut self, mut each: impl FnMut(u64, Vec<&str>) -> Result<()>) -> Result<()> {
        for (n, record) in self.reader.records().enumerate() {
            let line = n as u64 + 2;
            let record = record.map_err(|e| {
                let line = e.position().map_or(line, |p| p.line());
                Error::Request(format!("{}, line {line}: {e}", self.source))
            })?;
            let cells = self
                .at
                .iter()
                .map(|i| i.and_then(|i| record.get(i)).unwrap_or(""))
                .collect();
            each(line, cells)?;
        }
        Ok(())
    }
}

/// The model a request names: `default`, `shop` (the workspace's trained
/// model) or the path of a model file that `reviews train` wrote.
enum Model {
    Default,
    Trained(String, NaiveBayes),
}

fn model(ws: Option<&Workspace>, name: &str) -> Result<Model> {
    match name {
        "default" => Ok(Model::Default),
        "shop" => {
            let ws = ws.ok_or_else(|| {
                Error::invalid(
                    "model",
                    "shop: the shop's model is in a workspace; none was given",
                )
            })?;
            match koubei_engine::review_scores::load_shop_model(ws)? {
                Some((info, m)) => Ok(Model::Trained(info.id(), m)),
                None => Err(Error::invalid(
                    "model",
                    "shop: no model was trained in this workspace (reviews train trains one)",
                )),
            }
        }
        path => {
            let bytes = std::fs::read(path).map_err(|e| {
                Error::invalid(
                    "model",
                    format!("{path}: not default, shop, or a model file that can be read ({e})"),
                )
            })?;
            let m = NaiveBayes::from_text(&String::from_utf8_lossy(&bytes))
                .map_err(|e| Error::invalid("model", format!("{path}: {e}")))?;
            Ok(Model::Trained(path.to_string(), m))
        }
    }
}

/// Scores every row of `req.file`; `ws` holds the shop's model, when the
/// request names it.
pub fn score(ws: Option<&Workspace>, req: &ScoreRequest) -> Result<ScoreReport> {
    let chosen = model(ws, &req.model)?;
    // `id` where the file has one, else the row's number.
    let id = req.id_column.as_deref();
    let csv = CsvColumns::open(
        &req.file,
        &[
            ("text_column", &req.text_column, true),
            ("id_column", id.unwrap_or("id"), id.is_some()),
        ],
    )?;
    let has_id = csv.has(1);
    let mut read: Vec<(String, String)> = Vec::new();
    csv.each(|line, cells| {
        let id = if has_id {
            cells[1].to_string()
        } else {
            (line - 1).to_string()
        };
        read.push((id, cells[0].to_string()));
        Ok(())
    })?;
    let default = DefaultModel::shared();
    let rows = read
        .into_par_iter()
        .with_min_len(1024)
        .map(|(id, body)| {
            let (language, s) = match &chosen {
                Model::Default => default.score(&body),
                Model::Trained(_, m) => m.score_text(default, &body),
            };
            ScoredReview {
                id,
                language: language.code(),
                p_positive: s.p_positive,
                label: s.label.as_str(),
                terms: s
                    .terms
                    .into_iter()
                    .map(|t| TermWeight {
                        text: t.text,
                        weight: t.weight,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(ScoreReport {
        model: match chosen {
            Model::Default => "default".into(),
            Model::Trained(name, _) => name,
        },
        rows,
    })
}

/// What `reviews train` learns from.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TrainRequest {
    /// A CSV file of labelled texts; the workspace's rated reviews (4–5★
    /// positive, 1–2★ negative, 3★ left out) without one.
    pub file: Option<PathBuf>,
    /// The file's column of texts.
    pub text_column: String,
    /// The file's column of labels: 1/0, true/false, positive/negative, or
    /// stars when any value is 2 to 5 (4–5 positive, 1–2 negative, 3 left
    /// out).
    pub label_column: Option<String>,
    /// Folds of the cross-validation.
    pub folds: usize,
}

impl Default for TrainRequest {
    fn default() -> Self {
        TrainRequest {
            file: None,
            text_column: "text".into(),
            label_column: None,
            folds: 5,
        }
    }
}

/// The trained model and how it did against the default on the same reviews.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// `shop`: the name that `reviews score --model` takes.
    pub model: &'static str,
    /// Multinomial Naive Bayes (binarised) over word 1- and 2-grams.
    pub method: &'static str,
    pub folds: usize,
    /// Share of held-out reviews called right.
    pub cv_accuracy: f64,
    /// The mean of the two classes' held-out recalls.
    pub cv_balanced_accuracy: f64,
    /// The default model on the same reviews.
    pub default_accuracy: f64,
    pub default_balanced_accuracy: f64,
    pub reviews: usize,
    pub positive: usize,
    pub negative: usize,
    /// Whether it now scores the shop's reviews (it beat the default's
    /// balanced accuracy).
    pub in_use: bool,
    pub trained_on: String,
    /// The version of `reviews` trained on.
    pub data_version: Option<i64>,
    pub trained_at: String,
}

/// A label cell: Some(positive), None for a 3★ review left out.
fn label(cell: &str, stars: bool) -> std::result::Result<Option<bool>, String> {
    let c = cell.trim().to_ascii_lowercase();
    if stars {
        return match c.parse::<f64>() {
            Ok(s) if (4.0..=5.0).contains(&s) => Ok(Some(true)),
            Ok(s) if (1.0..=2.0).contains(&s) => Ok(Some(false)),
            Ok(3.0) => Ok(None),
            _ => Err(format!("\"{cell}\" is not a rating of 1 to 5")),
        };
    }
    match c.as_str() {
        "1" | "true" | "positive" | "pos" => Ok(Some(true)),
        "0" | "false" | "negative" | "neg" => Ok(Some(false)),
        _ => Err(format!(
            "\"{cell}\" is not a label (1/0, true/false, positive/negative)"
        )),
    }
}

/// The labelled texts of a file.
fn labelled(file: &Path, req: &TrainRequest) -> Result<(Vec<String>, Vec<bool>)> {
    let label_column = req.label_column.as_deref().ok_or_else(|| {
        Error::invalid(
            "label_column",
            "a file to train on needs its column of labels",
        )
    })?;
    let mut rows: Vec<(u64, String, String)> = Vec::new();
    CsvColumns::open(
        file,
        &[
            ("text_column", &req.text_column, true),
            ("label_column", label_column, true),
        ],
    )?
    .each(|line, cells| {
        rows.push((line, cells[0].to_string(), cells[1].to_string()));
        Ok(())
    })?;
    let stars = rows
        .iter()
        .any(|r| matches!(r.2.trim(), "2" | "3" | "4" | "5"));
    let (mut texts, mut positive) = (Vec::new(), Vec::new());
    for (line, text, cell) in rows {
        let l = label(&cell, stars).map_err(|why| {
            Error::invalid(
                "label_column",
                format!(
                    "{}, line {line}, column {label_column}: {why}",
                    file.display()
                ),
            )
        })?;
        if let Some(p) = l
            && !text.trim().is_empty()
        {
            texts.push(text);
            positive.push(p);
        }
    }
    Ok((texts, positive))
}

/// Trains the shop's model, measures it against the default, and stores it
/// in the workspace; when it beats the default, the stored reviews are
/// scored again by it.
#[inline(never)]
pub fn train<'a>(
    ws: &'a Workspace,
    req: &'a TrainRequest,
    progress: &'a dyn crate::Progress,
) -> Op<'a, TrainReport> {
    Box::pin(async move {
        if req.folds < 2 {
            return Err(Error::invalid(
                "folds",
                format!("{}: at least 2", req.folds),
            ));
        }
        let _lock = ws.lock()?;
        let (texts, positive, data_version, trained_on) = match &req.file {
            Some(f) => {
                let (t, p) = labelled(f, req)?;
                (t, p, None, f.display().to_string())
            }
            None => {
                let (t, p, v) = crate::engines::open(ws).await?.rated_reviews().await?;
                (t, p, v, "reviews".to_string())
            }
        };
        let task = progress.task("training");
        task.stage("cross-validating", None);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let trained = koubei_reviews::train(DefaultModel::shared(), &refs, &positive, req.folds);
        task.finish();
        let trained = trained.map_err(|e| Error::Request(format!("training: {e}")))?;
        let info = koubei_engine::review_scores::ShopModelInfo {
            trained_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            trained_on,
            data_version,
            reviews: texts.len(),
            positive: positive.iter().filter(|p| **p).count(),
            negative: positive.iter().filter(|p| !**p).count(),
            folds: trained.cv.folds,
            cv_accuracy: trained.cv.accuracy,
            cv_balanced_accuracy: trained.cv.balanced_accuracy,
            default_accuracy: trained.default_accuracy,
            default_balanced_accuracy: trained.default_balanced_accuracy,
            in_use: trained.beats_default(),
        };
        koubei_engine::review_scores::save_shop_model(ws, &info, &trained.model)?;
        let task = progress.task("review sentiment");
        task.stage("scoring", None);
        let stored = koubei_engine::Engine::store_review_scores(ws).await;
        task.finish();
        stored?;
        Ok(TrainReport {
            model: "shop",
            method: "naive bayes over word 1- and 2-grams",
            folds: info.folds,
            cv_accuracy: info.cv_accuracy,
            cv_balanced_accuracy: info.cv_balanced_accuracy,
            default_accuracy: info.default_accuracy,
            default_balanced_accuracy: info.default_balanced_accuracy,
            reviews: info.reviews,
            positive: info.positive,
            negative: info.negative,
            in_use: info.in_use,
            trained_on: info.trained_on,
            data_version: info.data_version,
            trained_at: info.trained_at,
        })
    })
}
