//! The shop's own sentiment model: multinomial Naive Bayes over word 1- and
//! 2-grams, trained on the shop's rated reviews.

use std::collections::HashMap;

use crate::{Error, Scored, TERMS, Term};

/// The first line of a model written as text.
const HEADER: &str = "koubei naive-bayes 1";

/// Laplace smoothing: each n-gram is counted as if seen this many more
/// times in each class.
const ALPHA: f64 = 0.5;

/// A trained model. Classes are taken as equally likely beforehand, so that
/// a shop with nine good reviews in ten still hears the tenth.
#[derive(Debug, Clone)]
pub struct NaiveBayes {
    /// Each n-gram's log P(n-gram | positive) − log P(n-gram | negative).
    log_ratio: HashMap<String, f64>,
    /// The same for an n-gram never seen in training: 0 only when both
    /// classes hold as many n-grams.
    unseen: f64,
}

/// A review's distinct 1-grams and 2-grams (joined by a space). Counting
/// each once per review (binarised Naive Bayes) suits sentiment better than
/// counting repeats: "好好好" is no more positive than "好".
fn grams(words: &[String]) -> impl Iterator<Item = String> + '_ {
    let mut seen = std::collections::HashSet::new();
    words
        .iter()
        .cloned()
        .chain(words.windows(2).map(|w| format!("{} {}", w[0], w[1])))
        .filter(move |g| seen.insert(g.clone()))
}

impl NaiveBayes {
    /// Trains on tokenised reviews and whether each is positive.
    pub fn fit(docs: &[Vec<String>], positive: &[bool]) -> Result<NaiveBayes, Error> {
        if docs.len() != positive.len() {
            return Err(Error::Training(format!(
                "{} reviews but {} labels",
                docs.len(),
                positive.len()
            )));
        }
        let (pos, neg) = (
            positive.iter().filter(|p| **p).count(),
            positive.iter().filter(|p| !**p).count(),
        );
        if pos == 0 || neg == 0 {
            return Err(Error::Training(format!(
                "training needs positive and negative reviews: {pos} positive, {neg} negative"
            )));
        }
        let mut counts: HashMap<String, [f64; 2]> = HashMap::new();
        let mut totals = [0.0; 2];
        for (doc, &p) in docs.iter().zip(positive) {
            let class = usize::from(!p);
            for g in grams(doc) {
                counts.entry(g).or_default()[class] += 1.0;
                totals[class] += 1.0;
            }
        }
        let v = counts.len() as f64;
        let denom = [totals[0] + ALPHA * v, totals[1] + ALPHA * v];
        let log_ratio = counts
            .into_iter()
            .map(|(g, [p, n])| {
                (
                    g,
                    ((p + ALPHA) / denom[0]).ln() - ((n + ALPHA) / denom[1]).ln(),
                )
            })
            .collect();
        Ok(NaiveBayes {
            log_ratio,
            unseen: (ALPHA / denom[0]).ln() - (ALPHA / denom[1]).ln(),
        })
    }

    /// P(positive | words), with the n-grams that pushed it most.
    pub fn score(&self, words: &[String]) -> Scored {
        let mut total = 0.0;
        let mut by_gram: HashMap<String, f64> = HashMap::new();
        for g in grams(words) {
            let r = self.log_ratio.get(&g).copied().unwrap_or(self.unseen);
            total += r;
            if self.log_ratio.contains_key(&g) {
                *by_gram.entry(g).or_default() += r;
            }
        }
        let terms = by_gram
            .into_iter()
            .map(|(text, weight)| Term { text, weight })
            .collect();
        Scored::new(crate::sigmoid(total), terms, TERMS)
    }

    /// The model as text: a header line, the unseen n-gram's weight, then
    /// one `n-gram<TAB>weight` line per n-gram in order, so the same model
    /// writes the same bytes. Weights are written as the shortest decimals
    /// that read back as the same numbers.
    pub fn to_text(&self) -> String {
        let mut grams: Vec<(&String, &f64)> = self.log_ratio.iter().collect();
        grams.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = format!("{HEADER}\nunseen\t{}\n", self.unseen);
        for (g, w) in grams {
            out.push_str(g);
            out.push('\t');
            out.push_str(&w.to_string());
            out.push('\n');
        }
        out
    }

    /// Reads what [`NaiveBayes::to_text`] wrote.
    pub fn from_text(text: &str) -> Result<NaiveBayes, Error> {
        let bad = |line: usize, why: &str| Error::Model(format!("line {line}: {why}"));
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad(1, &format!("expected \"{HEADER}\"")));
        }
        let weight = |line: usize, w: &str| -> Result<f64, Error> {
            w.parse::<f64>()
                .ok()
                .filter(|w| w.is_finite())
                .ok_or_else(|| bad(line, &format!("weight \"{w}\" is not a number")))
        };
        let unseen = match lines.next().and_then(|l| l.split_once('\t')) {
            Some(("unseen", w)) => weight(2, w)?,
            _ => return Err(bad(2, "expected unseen<TAB>weight")),
        };
        let mut log_ratio = HashMap::new();
        for (i, l) in lines.enumerate() {
            let (g, w) = l
                .rsplit_once('\t')
                .ok_or_else(|| bad(i + 3, "expected n-gram<TAB>weight"))?;
            log_ratio.insert(g.to_string(), weight(i + 3, w)?);
        }
        Ok(NaiveBayes { log_ratio, unseen })
    }

    /// N-grams the model knows.
    pub fn vocabulary(&self) -> usize {
        self.log_ratio.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    fn doc(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    /// Counts worked by hand: positive "good good", negative "bad"; with
    /// α = 0.5 over the vocabulary {good, bad, good good} (3 n-grams), the
    /// positive class holds 2 n-grams (good once, binarised) and the
    /// negative 1.
    #[test]
    fn log_ratios_by_hand() {
        let m = NaiveBayes::fit(&[doc("good good"), doc("bad")], &[true, false]).unwrap();
        let (dp, dn): (f64, f64) = (2.0 + 1.5, 1.0 + 1.5);
        let good = (1.5 / dp).ln() - (0.5 / dn).ln();
        assert!((m.log_ratio["good"] - good).abs() < 1e-12);
        let bad = (0.5 / dp).ln() - (1.5 / dn).ln();
        assert!((m.log_ratio["bad"] - bad).abs() < 1e-12);
        let s = m.score(&doc("good"));
        assert!((s.p_positive - 1.0 / (1.0 + (-good).exp())).abs() < 1e-12);
        assert_eq!(s.terms[0].text, "good");
        assert_eq!(m.score(&doc("bad")).label, Label::Negative);
        // A repeated word counts once.
        assert_eq!(m.score(&doc("bad bad")), m.score(&doc("bad bad bad")));
    }

    #[test]
    fn written_and_read_back_the_same() {
        let m = NaiveBayes::fit(
            &[doc("good value"), doc("bad bad"), doc("not good")],
            &[true, false, false],
        )
        .unwrap();
        let text = m.to_text();
        let back = NaiveBayes::from_text(&text).unwrap();
        assert_eq!(back.log_ratio, m.log_ratio);
        assert_eq!(back.unseen, m.unseen);
        assert_eq!(back.to_text(), text);
        assert!(text.starts_with("koubei naive-bayes 1\nunseen\t"));
        let e = NaiveBayes::from_text("koubei naive-bayes 1\nunseen\t0\ngood\tx\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3: weight \"x\" is not a number");
        assert!(NaiveBayes::from_text("something else").is_err());
    }

    /// "not good" is told from "good" by its 2-gram.
    #[test]
    fn bigrams_carry_negation() {
        let docs: Vec<Vec<String>> = [
            "very good",
            "good value",
            "good",
            "not good",
            "not good at all",
            "bad not good",
        ]
        .iter()
        .map(|s| doc(s))
        .collect();
        let labels = [true, true, true, false, false, false];
        let m = NaiveBayes::fit(&docs, &labels).unwrap();
        assert!(m.score(&doc("not good")).p_positive < 0.5);
        assert!(m.score(&doc("good value")).p_positive > 0.5);
    }

    #[test]
    fn training_needs_both_classes() {
        let e = NaiveBayes::fit(&[doc("good")], &[true]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "training needs positive and negative reviews: 1 positive, 0 negative"
        );
    }
}
