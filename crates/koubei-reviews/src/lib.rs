//! Review text models: text in, a probability of being positive and the
//! terms behind it out.
//!
//! - [`DefaultModel`]: with no training, [`Lexicon`] for Chinese and
//!   [`Vader`] for English.
//! - [`Lexicon`]: the Chinese default. It splits a review
//!   into clauses, finds sentiment words (jionlp's lexicon and koubei's own
//!   shop words), and turns a word around after a negation (不, 没) and
//!   scales it after a degree word (很, 太).
//! - [`NaiveBayes`]: the shop's own model, trained on its rated reviews
//!   (4–5★ positive, 1–2★ negative) over word 1- and 2-grams, and blended
//!   with the default's score by a logistic regression ([`Blend`]).
//! - [`cross_validate`]: k-fold accuracy, to say whether the shop's model
//!   beats the lexicon.
//! - [`Aspects`]: what each clause speaks of (DSR's three dimensions and
//!   price), with the clause's polarity.
//! - [`log_odds`]: the terms that set bad reviews apart from good ones.
//!
//! The crate knows nothing of tables or requests: the engine gives it
//! texts and stores what it returns.

mod aspects;
mod bayes;
mod cv;
mod english;
mod lexicon;
mod logistic;
mod odds;
mod text;
mod train;

pub use aspects::{Analysis, Aspect, Aspects, Mention};
pub use bayes::{Blend, NaiveBayes};
pub use cv::{CvReport, cross_validate, folds};
pub use english::Vader;
pub use lexicon::Lexicon;
pub use odds::{PRIOR_TERMS, TermOdds, document_counts, log_odds};
pub use text::{Language, Tokenizer, language};
pub use train::{FOLD_SEED, Trained, train};

/// The default model, with no training: the Chinese lexicon for Chinese
/// reviews and VADER for English ones.
#[derive(Default)]
pub struct DefaultModel {
    pub chinese: Lexicon,
    pub english: Vader,
}

impl DefaultModel {
    /// One model per process, loaded on first use: its lexicon and jieba's
    /// dictionary take a moment, and every caller reads the same words.
    pub fn shared() -> &'static DefaultModel {
        static MODEL: std::sync::OnceLock<DefaultModel> = std::sync::OnceLock::new();
        MODEL.get_or_init(DefaultModel::default)
    }

    /// A review's words, as the trained model reads them (jieba's, with the
    /// shop words kept whole; lower-cased words in English).
    pub fn words(&self, text: &str) -> Vec<String> {
        self.chinese.tokenizer().all_words(text)
    }

    /// The review's language and its score by that language's model.
    pub fn score(&self, text: &str) -> (Language, Scored) {
        match language(text) {
            Language::Chinese => (Language::Chinese, self.chinese.score(text)),
            Language::English => (Language::English, self.english.score(text)),
        }
    }
}

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
    /// Keeps the `keep` heaviest terms, a word said twice as one term with
    /// the sum of its weights.
    fn new(p_positive: f64, said: Vec<Term>, keep: usize) -> Scored {
        let mut terms: Vec<Term> = Vec::with_capacity(said.len());
        for t in said {
            match terms.iter_mut().find(|x| x.text == t.text) {
                Some(x) => x.weight += t.weight,
                None => terms.push(t),
            }
        }
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
    /// A stored model that cannot be read.
    #[error("{0}")]
    Model(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_said_twice_is_one_term() {
        let s = Lexicon::standard().score("推荐，推荐，不错");
        assert_eq!(s.terms.len(), 2, "{s:?}");
        assert_eq!((s.terms[0].text.as_str(), s.terms[0].weight), ("推荐", 2.6));
    }

    #[test]
    fn the_default_model_reads_each_language_with_its_own() {
        let m = DefaultModel::default();
        let (lang, s) = m.score("物流很快，质量很好");
        assert_eq!((lang, s.label), (Language::Chinese, Label::Positive));
        assert_eq!(s, m.chinese.score("物流很快，质量很好"));
        let (lang, s) = m.score("Awful, it broke after one day");
        assert_eq!((lang, s.label), (Language::English, Label::Negative));
        assert_eq!(s, m.english.score("Awful, it broke after one day"));
    }
}
