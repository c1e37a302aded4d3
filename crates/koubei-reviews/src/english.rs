//! English reviews: VADER (the `vader_sentiment` crate, MIT), with the
//! lexicon words that carried its score as the terms.

use unicase::UniCase;
use vader_sentiment::{LEXICON, SentimentIntensityAnalyzer};

use crate::{Label, Scored, TERMS, Term};

/// VADER's thresholds on its compound score for a positive or negative
/// text.
const VADER_THRESHOLD: f64 = 0.05;

pub struct Vader {
    analyzer: SentimentIntensityAnalyzer<'static>,
}

impl Default for Vader {
    fn default() -> Self {
        Vader {
            analyzer: SentimentIntensityAnalyzer::new(),
        }
    }
}

impl Vader {
    /// P(positive) is (compound + 1) / 2; the label is VADER's own: positive
    /// from a compound of 0.05, negative to −0.05.
    pub fn score(&self, text: &str) -> Scored {
        let compound = self
            .analyzer
            .polarity_scores(text)
            .get("compound")
            .copied()
            .unwrap_or(0.0);
        let terms = text
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .filter_map(|w| {
                LEXICON.get(&UniCase::new(w)).map(|&v| Term {
                    text: w.to_lowercase(),
                    weight: v,
                })
            })
            .collect();
        let mut s = Scored::new((compound + 1.0) / 2.0, terms, TERMS);
        s.label = if compound >= VADER_THRESHOLD {
            Label::Positive
        } else if compound <= -VADER_THRESHOLD {
            Label::Negative
        } else {
            Label::Neutral
        };
        s
    }
}

impl Vader {
    /// A word's weight in VADER's lexicon, if it has one.
    pub(crate) fn word_weight(&self, word: &str) -> Option<f64> {
        LEXICON.get(&UniCase::new(word)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn praise_complaint_and_negation() {
        let v = Vader::default();
        let good = v.score("Great quality and fast delivery, I love it!");
        assert_eq!(good.label, Label::Positive);
        assert!(good.p_positive > 0.8, "{good:?}");
        assert!(good.terms.iter().any(|t| t.text == "love"), "{good:?}");
        let bad = v.score("Terrible. The box arrived broken and support never answered.");
        assert_eq!(bad.label, Label::Negative);
        // VADER turns "good" around after "not".
        assert!(v.score("not good").p_positive < 0.5);
        assert_eq!(v.score("The parcel came on Tuesday.").label, Label::Neutral);
    }
}
