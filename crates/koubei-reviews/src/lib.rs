//! Review text models: text in, a probability of being positive and the
//! terms behind it out.
//!
//! - [`Lexicon`]: the default model, with no training. It splits a review
//!   into clauses, finds sentiment words (jionlp's lexicon and koubei's own
//!   shop words), and turns a word around after a negation (不, 没) and
//!   scales it after a degree word (很, 太).
//! - [`NaiveBayes`]: the shop's own model, trained on its rated reviews
//!   (4–5★ positive, 1–2★ negative) over word 1- and 2-grams.
//! - [`cross_validate`]: k-fold accuracy, to say whether the shop's model
//!   beats the lexicon.
//!
//! The crate knows nothing of tables or requests: the engine gives it
//! texts and stores what it returns.

mod bayes;
mod cv;
mod lexicon;
mod text;

pub use bayes::NaiveBayes;
pub use cv::{CvReport, cross_validate};
pub use lexicon::Lexicon;
pub use text::{Language, Tokenizer, language};

/// How a review reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Positive,
    Negative,
    Neutral,
}

impl Label {
    /// Positive above 0.6, negative below 0.4, neutral between: a review
    /// with nothing to go on scores 0.5.
    pub fn of(p_positive: f64) -> Label {
        if p_positive > 0.6 {
            Label::Positive
        } else if p_positive < 0.4 {
            Label::Negative
        } else {
            Label::Neutral
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Positive => "positive",
            Label::Negative => "negative",
            Label::Neutral => "neutral",
        }
    }
}

/// A word or clause that moved a score, and by how much (positive towards
/// a positive review).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub text: String,
    pub weight: f64,
}

/// A review's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// In [0, 1].
    pub p_positive: f64,
    pub label: Label,
    /// The terms that weighed most, heaviest first.
    pub terms: Vec<Term>,
}

impl Scored {
    fn new(p_positive: f64, mut terms: Vec<Term>, keep: usize) -> Scored {
        terms.sort_by(|a, b| {
            b.weight
                .abs()
                .total_cmp(&a.weight.abs())
                .then_with(|| a.text.cmp(&b.text))
        });
        terms.truncate(keep);
        Scored {
            p_positive,
            label: Label::of(p_positive),
            terms,
        }
    }
}

/// Terms kept in a [`Scored`].
pub const TERMS: usize = 5;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Errors of training.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("{0}")]
    Training(String),
}
