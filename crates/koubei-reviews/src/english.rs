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
            .polarity_scores(&no_as_negation(text))
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

/// "no" one or two words before a sentiment word reads as "not": "no
/// problem" is praise. VADER's later versions (3.3) do about the same (the
/// word "no" then turns the sentiment word around); the crate, a port of an
/// earlier one, counted "no" as a negative word and "problem" as another.
fn no_as_negation(text: &str) -> std::borrow::Cow<'_, str> {
    let words: Vec<&str> = text.split(' ').collect();
    let bare = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
            .to_string()
    };
    let turned: Vec<bool> = (0..words.len())
        .map(|i| {
            bare(words[i]).eq_ignore_ascii_case("no")
                && words[i + 1..]
                    .iter()
                    .take(2)
                    .any(|next| LEXICON.contains_key(&UniCase::new(bare(next).as_str())))
        })
        .collect();
    if !turned.contains(&true) {
        return text.into();
    }
    words
        .iter()
        .zip(&turned)
        .map(|(w, &t)| {
            if t {
                // Keep the word's case and punctuation around it.
                w.replacen("no", "not", 1)
                    .replacen("No", "Not", 1)
                    .replacen("NO", "NOT", 1)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .into()
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
        // "no" turns the next sentiment word around, as VADER 3.3 reads it.
        assert_eq!(
            v.score("No problem at all, works great").label,
            Label::Positive
        );
        assert_eq!(v.score("I had no trouble with it.").label, Label::Positive);
        assert_eq!(v.score("No real improvement.").label, Label::Negative);
        assert_eq!(no_as_negation("NO complaints, no."), "NOT complaints, no.");
    }
}
