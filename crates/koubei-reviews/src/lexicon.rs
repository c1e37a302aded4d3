//! The default sentiment model: a lexicon, with negation and degree words,
//! read clause by clause.

use std::collections::{HashMap, HashSet};

use crate::text::{Tokenizer, clauses};
use crate::{Scored, TERMS, Term, sigmoid};

const SENTIMENT_WORDS: &str = include_str!("../lexicon/sentiment_words.txt");
const SHOP_WORDS: &str = include_str!("../lexicon/shop_words.txt");
const NEGATIONS: &str = include_str!("../lexicon/negative_words.txt");
const DEGREES: &str = include_str!("../lexicon/degree_words.txt");
const SHOP_DEGREES: &str = include_str!("../lexicon/shop_degrees.txt");

/// How many words before a sentiment word a negation still reaches: "不
/// 太好" is negated, "没了为什么不及时" (sold out, so why not in time) is one
/// complaint, not two negations of 及时.
const NEGATION_REACH: usize = 3;

/// Words that turn a review: what follows them counts more (东西不错，但是
/// 物流太慢 is a complaint).
const CONTRASTS: [&str; 7] = ["但", "但是", "可是", "不过", "然而", "就是", "只是"];

/// Weight of a clause from a contrast word on, against 1 before it.
const AFTER_CONTRAST: f64 = 1.5;

/// `word<TAB>number` lines; others (headers, blanks) are skipped.
fn weighted(text: &str) -> impl Iterator<Item = (&str, f64)> {
    text.lines().filter_map(|l| {
        let (w, v) = l.split_once('\t')?;
        Some((w.trim(), v.trim().parse().ok()?))
    })
}

/// jionlp's Chinese sentiment lexicon (Apache-2.0) with koubei's shop words
/// over it, and its negation and degree words.
pub struct Lexicon {
    tokenizer: Tokenizer,
    words: HashMap<String, f64>,
    negations: HashSet<String>,
    degrees: HashMap<String, f64>,
}

impl Default for Lexicon {
    fn default() -> Self {
        Self::standard()
    }
}

impl Lexicon {
    /// The lexicon koubei ships.
    pub fn standard() -> Lexicon {
        let mut words: HashMap<String, f64> = weighted(SENTIMENT_WORDS)
            .map(|(w, v)| (w.to_string(), v))
            .collect();
        // The shop's words win where both have one: they are read as a
        // shop's review means them.
        words.extend(weighted(SHOP_WORDS).map(|(w, v)| (w.to_string(), v)));
        // A shop word of weight 0 takes a word out: 东西 (a thing) is
        // scornful in the general lexicon and neutral in a review.
        words.retain(|_, v| *v != 0.0);
        let negations: HashSet<String> = NEGATIONS
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let degrees: HashMap<String, f64> = weighted(DEGREES)
            .chain(weighted(SHOP_DEGREES))
            .map(|(w, v)| (w.to_string(), v))
            .collect();
        // A degree word scales the next word; it is no sentiment of its own.
        words.retain(|w, _| !degrees.contains_key(w));
        let tokenizer = Tokenizer::new(weighted(SHOP_WORDS).map(|(w, _)| w));
        Lexicon {
            tokenizer,
            words,
            negations,
            degrees,
        }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// A review's score: the sum over its clauses of each sentiment word's
    /// weight, turned around by an odd number of negations before it in the
    /// clause and scaled by the degree words before it, through a sigmoid.
    /// Clauses from a contrast word (但是, 不过) on count 1.5 times.
    pub fn score(&self, text: &str) -> Scored {
        self.score_with(text, |_, _| {})
    }

    /// [`Lexicon::score`], calling `each` with every clause's words and
    /// sentiment, so that aspects are read from the same words.
    pub(crate) fn score_with(
        &self,
        text: &str,
        mut each: impl FnMut(&[String], &ClauseSentiment),
    ) -> Scored {
        let mut total = 0.0;
        let mut terms: Vec<Term> = Vec::new();
        let mut clause_weight = 1.0;
        let mut clause = ClauseSentiment::default();
        for text in clauses(text) {
            let words = self.tokenizer.words(text);
            if words
                .first()
                .is_some_and(|w| CONTRASTS.contains(&w.as_str()))
            {
                clause_weight = AFTER_CONTRAST;
            }
            clause.value = 0.0;
            clause.sentiment.clear();
            // Where the negations since the last sentiment word are.
            let (mut negations, mut degree) = (Vec::new(), 1.0);
            // The first negation or degree word since the last sentiment
            // word: a term reads "不太好", not "好".
            let mut from: Option<usize> = None;
            for (i, w) in words.iter().enumerate() {
                if let Some(&v) = self.words.get(w) {
                    let near = negations
                        .iter()
                        .filter(|&&at| i - at <= NEGATION_REACH)
                        .count();
                    let sign = if near % 2 == 1 { -1.0 } else { 1.0 };
                    let value = v * degree * sign;
                    clause.value += value;
                    clause.sentiment.push(i);
                    total += value * clause_weight;
                    terms.push(Term {
                        text: words[from.unwrap_or(i)..=i].concat(),
                        weight: value * clause_weight,
                    });
                    (degree, from) = (1.0, None);
                    negations.clear();
                } else if self.negations.contains(w) {
                    negations.push(i);
                    from.get_or_insert(i);
                } else if let Some(&d) = self.degrees.get(w) {
                    degree *= d;
                    from.get_or_insert(i);
                }
            }
            each(&words, &clause);
        }
        Scored::new(sigmoid(total), terms, TERMS)
    }
}

/// One clause's sentiment, before a contrast's weight.
#[derive(Default)]
pub(crate) struct ClauseSentiment {
    /// The sum of its sentiment words' weights, negated and scaled.
    pub value: f64,
    /// Where its sentiment words are among its words.
    pub sentiment: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    fn p(l: &Lexicon, text: &str) -> f64 {
        l.score(text).p_positive
    }

    #[test]
    fn praise_and_complaint() {
        let l = Lexicon::standard();
        assert_eq!(
            l.score("质量很好，物流也快，非常满意！").label,
            Label::Positive
        );
        assert_eq!(
            l.score("太差了，送来都凉了，再也不买").label,
            Label::Negative
        );
        // Nothing to go on: 0.5, neutral.
        let none = l.score("收到了");
        assert_eq!((none.p_positive, none.label), (0.5, Label::Neutral));
        assert!(none.terms.is_empty());
    }

    /// 好 scores 1.3 (a shop word): sigmoid(1.3); 不好 turns it around,
    /// 很好 is its own shop word (1.5), 太好 scales 好 by 太's degree.
    #[test]
    fn negation_and_degree_by_hand() {
        let l = Lexicon::standard();
        let good = 1.0 / (1.0 + (-1.3f64).exp());
        assert!((p(&l, "好") - good).abs() < 1e-12);
        assert!((p(&l, "不好") - (1.0 - good)).abs() < 1e-12);
        // Two negations cancel.
        assert!(
            (p(&l, "不是不好") - good).abs() < 1e-12,
            "{}",
            p(&l, "不是不好")
        );
        let very = l.degrees["非常"];
        assert!(very > 1.0);
        let s = l.score("非常满意");
        assert!((s.p_positive - 1.0 / (1.0 + (-1.5 * very).exp())).abs() < 1e-12);
        assert_eq!(s.terms[0].text, "非常满意");
    }

    /// After 但是 a clause weighs 1.5 times: praise then a complaint reads
    /// as a complaint.
    #[test]
    fn a_contrast_weighs_what_follows() {
        let l = Lexicon::standard();
        let s = l.score("东西不错，但是物流太慢了");
        // 不错 1.3 (东西 is neutral); 太慢 -1.5 (a shop word) after the contrast.
        let want = 1.3 - 1.5 * AFTER_CONTRAST;
        assert!(
            (s.p_positive - 1.0 / (1.0 + (-want).exp())).abs() < 1e-9,
            "{s:?}"
        );
        assert_eq!(s.label, Label::Negative);
        assert_eq!(s.terms.len(), 2, "{s:?}");
        assert_eq!(
            (s.terms[0].text.as_str(), s.terms[0].weight),
            ("太慢", -2.25)
        );
    }

    #[test]
    fn the_lexicon_is_whole() {
        let l = Lexicon::standard();
        assert!(l.words.len() > 33_000, "{}", l.words.len());
        assert!(l.negations.contains("没有") && l.negations.contains("不"));
        assert!(l.degrees.len() > 100);
    }
}
