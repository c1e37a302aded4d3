//! Reviews: the shop's satisfaction from its imported reviews (`reviews`),
//! and the sentiment of each text in a file without importing it
//! (`reviews score`).

use std::path::PathBuf;
use std::sync::OnceLock;

use koubei_reviews::DefaultModel;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use koubei_engine::satisfaction::{
    Grouping, SatisfactionReport, SatisfactionRequest, SatisfactionRow,
};

crate::engine_ops! {
    /// Ratings, CSAT, review and refund rates, sentiment and the service
    /// dimensions, by period or group, against the range before.
    satisfaction = satisfaction(SatisfactionRequest) -> SatisfactionReport;
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
    /// `default`: the lexicon for Chinese and VADER for English, with no
    /// training. (The shop's own model comes with `reviews train`.)
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

/// The default model, loaded once per process (its lexicon and jieba's
/// dictionary take a moment).
fn default_model() -> &'static DefaultModel {
    static MODEL: OnceLock<DefaultModel> = OnceLock::new();
    MODEL.get_or_init(DefaultModel::default)
}

/// Scores every row of `req.file`.
pub fn score(req: &ScoreRequest) -> Result<ScoreReport> {
    if req.model != "default" {
        return Err(Error::invalid(
            "model",
            format!(
                "{}: only the default model is available (the shop's own model is trained by reviews train, not here yet)",
                req.model
            ),
        ));
    }
    let source = req.file.display().to_string();
    let file = std::fs::File::open(&req.file).map_err(|source| Error::Io {
        path: req.file.clone(),
        source,
    })?;
    let mut reader = csv::Reader::from_reader(file);
    let header = reader
        .headers()
        .map_err(|e| Error::Request(format!("{source}: the header row: {e}")))?
        .clone();
    let find = |field: &str, name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "{source} has no column {name}; its columns: {}",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let text = find("text_column", &req.text_column)?;
    let id = match req.id_column.as_deref() {
        Some(c) => Some(find("id_column", c)?),
        None => header.iter().position(|h| h.trim() == "id"),
    };
    let model = default_model();
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(n as u64 + 2, |p| p.line());
            Error::Request(format!("{source}, line {line}: {e}"))
        })?;
        let body = record.get(text).unwrap_or("");
        let (language, s) = model.score(body);
        rows.push(ScoredReview {
            id: match id {
                Some(i) => record.get(i).unwrap_or("").to_string(),
                None => (n + 1).to_string(),
            },
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
        });
    }
    Ok(ScoreReport {
        model: "default".into(),
        rows,
    })
}
