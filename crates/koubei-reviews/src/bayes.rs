//! The shop's own sentiment model: multinomial Naive Bayes over word 1- and
//! 2-grams, trained on the shop's rated reviews, stacked on the default
//! model's score.

use std::collections::HashMap;

use crate::{DefaultModel, Error, Language, Scored, TERMS, Term};

/// The first line of a model written as text.
const HEADER: &str = "koubei naive-bayes 2";
/// The first line of a model from before the blend (Naive Bayes alone).
const HEADER_1: &str = "koubei naive-bayes 1";

/// Folds of the inner cross-validation that gives the blend held-out
/// Naive Bayes scores to learn from.
const INNER_FOLDS: usize = 5;

/// Bounds on the two log-odds the blend reads, so that a review the
/// default scores 0 or 1 (VADER's extremes) or a very long review cannot
/// swamp the other.
const MAX_BAYES_LOGIT: f64 = 50.0;
const MAX_DEFAULT_LOGIT: f64 = 8.0;

/// How the trained model weighs its own Naive Bayes log-odds against the
/// default model's: P = σ(bayes · NB + default · logit(P_default) + bias).
/// Fitted by logistic regression on Naive Bayes scores of reviews held out
/// of its training (stacking), so that the shop's model keeps what the
/// lexicon knows and adds what the shop's own words say. On few reviews
/// Naive Bayes knows little and the default carries the score; on many the
/// shop's words do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    pub bayes: f64,
    pub default: f64,
    pub bias: f64,
}

impl Blend {
    /// Naive Bayes alone.
    pub const BAYES: Blend = Blend {
        bayes: 1.0,
        default: 0.0,
        bias: 0.0,
    };
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p))
        .ln()
        .clamp(-MAX_DEFAULT_LOGIT, MAX_DEFAULT_LOGIT)
}

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
    blend: Blend,
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
            blend: Blend::BAYES,
        })
    }

    /// Trains Naive Bayes on every review, and the [`Blend`] with the
    /// default model's P(positive) of each (`default_p`) on Naive Bayes
    /// scores from an inner cross-validation. With too few reviews of a
    /// class for the inner folds, Naive Bayes stands alone.
    pub fn fit_blended(
        docs: &[Vec<String>],
        default_p: &[f64],
        positive: &[bool],
    ) -> Result<NaiveBayes, Error> {
        let mut model = NaiveBayes::fit(docs, positive)?;
        if default_p.len() != docs.len() {
            return Err(Error::Training(format!(
                "{} reviews but {} default scores",
                docs.len(),
                default_p.len()
            )));
        }
        let fewest = positive
            .iter()
            .filter(|p| **p)
            .count()
            .min(positive.iter().filter(|p| !**p).count());
        if fewest < INNER_FOLDS {
            return Ok(model);
        }
        let fold = crate::cv::folds(positive, INNER_FOLDS, docs.len() as u64);
        let mut held_out = vec![0.0; docs.len()];
        for f in 0..INNER_FOLDS {
            let (mut d, mut l) = (Vec::new(), Vec::new());
            for i in (0..docs.len()).filter(|&i| fold[i] != f) {
                d.push(docs[i].clone());
                l.push(positive[i]);
            }
            let inner = NaiveBayes::fit(&d, &l)?;
            for i in (0..docs.len()).filter(|&i| fold[i] == f) {
                held_out[i] = inner.log_odds(&docs[i]).0;
            }
        }
        let x: Vec<[f64; 2]> = held_out
            .iter()
            .zip(default_p)
            .map(|(&b, &p)| [b.clamp(-MAX_BAYES_LOGIT, MAX_BAYES_LOGIT), logit(p)])
            .collect();
        let beta = crate::logistic::fit(&x, positive, 1.0);
        model.blend = Blend {
            bayes: beta[0],
            default: beta[1],
            bias: beta[2],
        };
        Ok(model)
    }

    /// How Naive Bayes and the default are weighed.
    pub fn blend(&self) -> Blend {
        self.blend
    }

    /// Naive Bayes' log-odds of positive, and each n-gram's part of it.
    fn log_odds(&self, words: &[String]) -> (f64, HashMap<String, f64>) {
        let mut total = 0.0;
        let mut by_gram: HashMap<String, f64> = HashMap::new();
        for g in grams(words) {
            let r = self.log_ratio.get(&g).copied().unwrap_or(self.unseen);
            total += r;
            if self.log_ratio.contains_key(&g) {
                *by_gram.entry(g).or_default() += r;
            }
        }
        (total, by_gram)
    }

    /// P(positive | words) by Naive Bayes alone, leaving the blend out,
    /// with the n-grams that pushed it most.
    pub fn bayes_only(&self, words: &[String]) -> Scored {
        let (total, by_gram) = self.log_odds(words);
        let terms = by_gram
            .into_iter()
            .map(|(text, weight)| Term { text, weight })
            .collect();
        Scored::new(crate::sigmoid(total), terms, TERMS)
    }

    /// P(positive) of a review from its words and the default model's
    /// score of it, blended. The terms are the n-grams, weighed by the
    /// blend, and the default's own terms, sharing its part of the
    /// log-odds in proportion to their weights.
    pub fn score(&self, words: &[String], default: &Scored) -> Scored {
        let Blend {
            bayes,
            default: w_default,
            bias,
        } = self.blend;
        let (total, by_gram) = self.log_odds(words);
        let from_default = w_default * logit(default.p_positive);
        let mut terms: Vec<Term> = by_gram
            .into_iter()
            .map(|(text, weight)| Term {
                text,
                weight: bayes * weight,
            })
            .collect();
        let sum: f64 = default.terms.iter().map(|t| t.weight).sum();
        if w_default != 0.0 && sum.abs() > 1e-12 {
            terms.extend(default.terms.iter().map(|t| Term {
                text: t.text.clone(),
                weight: from_default * t.weight / sum,
            }));
        }
        let z = bayes * total.clamp(-MAX_BAYES_LOGIT, MAX_BAYES_LOGIT) + from_default + bias;
        Scored::new(crate::sigmoid(z), terms, TERMS)
    }

    /// A text's language and its score: its words as the default model
    /// splits them, blended with the default's score.
    pub fn score_text(&self, default: &DefaultModel, text: &str) -> (Language, Scored) {
        let (language, d) = default.score(text);
        (language, self.score(&default.words(text), &d))
    }

    /// The model as text: a header line, the blend's three weights, the
    /// unseen n-gram's weight, then one `n-gram<TAB>weight` line per n-gram
    /// in order, so the same model writes the same bytes. Weights are
    /// written as the shortest decimals that read back as the same numbers.
    pub fn to_text(&self) -> String {
        let mut grams: Vec<(&String, &f64)> = self.log_ratio.iter().collect();
        grams.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let Blend {
            bayes,
            default,
            bias,
        } = self.blend;
        let mut out = format!(
            "{HEADER}\nblend\t{bayes}\t{default}\t{bias}\nunseen\t{}\n",
            self.unseen
        );
        for (g, w) in grams {
            out.push_str(g);
            out.push('\t');
            out.push_str(&w.to_string());
            out.push('\n');
        }
        out
    }

    /// Reads what [`NaiveBayes::to_text`] wrote, and models from before
    /// the blend (Naive Bayes alone).
    pub fn from_text(text: &str) -> Result<NaiveBayes, Error> {
        let bad = |line: usize, why: &str| Error::Model(format!("line {line}: {why}"));
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let blended = match lines.next() {
            Some((_, HEADER)) => true,
            Some((_, HEADER_1)) => false,
            _ => return Err(bad(1, &format!("expected \"{HEADER}\""))),
        };
        let weight = |line: usize, w: &str| -> Result<f64, Error> {
            w.parse::<f64>()
                .ok()
                .filter(|w| w.is_finite())
                .ok_or_else(|| bad(line, &format!("weight \"{w}\" is not a number")))
        };
        let blend = if blended {
            let (n, line) = lines.next().unwrap_or((2, ""));
            match line.split('\t').collect::<Vec<_>>()[..] {
                ["blend", b, d, c] => Blend {
                    bayes: weight(n, b)?,
                    default: weight(n, d)?,
                    bias: weight(n, c)?,
                },
                _ => return Err(bad(n, "expected blend<TAB>bayes<TAB>default<TAB>bias")),
            }
        } else {
            Blend::BAYES
        };
        let (n, line) = lines.next().unwrap_or((0, ""));
        let unseen = match line.split_once('\t') {
            Some(("unseen", w)) => weight(n, w)?,
            _ => return Err(bad(n, "expected unseen<TAB>weight")),
        };
        let mut log_ratio = HashMap::new();
        for (n, l) in lines {
            let (g, w) = l
                .rsplit_once('\t')
                .ok_or_else(|| bad(n, "expected n-gram<TAB>weight"))?;
            log_ratio.insert(g.to_string(), weight(n, w)?);
        }
        Ok(NaiveBayes {
            log_ratio,
            unseen,
            blend,
        })
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
        let s = m.bayes_only(&doc("good"));
        assert!((s.p_positive - 1.0 / (1.0 + (-good).exp())).abs() < 1e-12);
        assert_eq!(s.terms[0].text, "good");
        assert_eq!(m.bayes_only(&doc("bad")).label, Label::Negative);
        // A repeated word counts once.
        assert_eq!(
            m.bayes_only(&doc("bad bad")),
            m.bayes_only(&doc("bad bad bad"))
        );
        // Without a blend, the default's score is not read.
        let neutral = DefaultModel::shared().score("ok").1;
        assert_eq!(m.score(&doc("good"), &neutral), s);
    }

    #[test]
    fn written_and_read_back_the_same() {
        let m = NaiveBayes::fit(
            &[doc("good value"), doc("bad bad"), doc("not good")],
            &[true, false, false],
        )
        .unwrap();
        let mut m = m;
        m.blend = Blend {
            bayes: 0.75,
            default: 0.1 + 0.2,
            bias: -2.5,
        };
        let text = m.to_text();
        let back = NaiveBayes::from_text(&text).unwrap();
        assert_eq!(back.log_ratio, m.log_ratio);
        assert_eq!((back.unseen, back.blend), (m.unseen, m.blend));
        assert_eq!(back.to_text(), text);
        assert!(
            text.starts_with(
                "koubei naive-bayes 2\nblend\t0.75\t0.30000000000000004\t-2.5\nunseen\t"
            )
        );
        // A model from before the blend reads as Naive Bayes alone.
        let old = NaiveBayes::from_text("koubei naive-bayes 1\nunseen\t0\ngood\t1.5\n").unwrap();
        assert_eq!((old.blend, old.log_ratio["good"]), (Blend::BAYES, 1.5));
        let e = NaiveBayes::from_text("koubei naive-bayes 1\nunseen\t0\ngood\tx\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3: weight \"x\" is not a number");
        let e = NaiveBayes::from_text("koubei naive-bayes 2\nunseen\t0\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: expected blend<TAB>bayes<TAB>default<TAB>bias"
        );
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
        assert!(m.bayes_only(&doc("not good")).p_positive < 0.5);
        assert!(m.bayes_only(&doc("good value")).p_positive > 0.5);
    }

    /// Labels that follow the default model's score on half the reviews and
    /// a shop word the default does not know on the other half: the blend
    /// leans on both, and calls every kind right.
    #[test]
    fn the_blend_learns_how_much_to_trust_the_default() {
        let d = DefaultModel::shared();
        let texts = [
            ("Great product, I love it", true),
            ("Terrible, it broke", false),
            ("zorbly again", true),
            ("so meh, glarf", false),
        ];
        let (mut docs, mut default_p, mut positive) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..200 {
            let (t, p) = texts[i % 4];
            docs.push(d.words(t));
            default_p.push(d.score(t).1.p_positive);
            positive.push(p);
        }
        let m = NaiveBayes::fit_blended(&docs, &default_p, &positive).unwrap();
        let b = m.blend();
        assert!(b.bayes > 0.0 && b.default > 0.0, "{b:?}");
        for (t, p) in texts {
            let (_, s) = m.score_text(d, t);
            assert_eq!(s.p_positive > 0.5, p, "{t}: {s:?}");
        }
        // Too few of a class for the inner folds: Naive Bayes alone.
        let m = NaiveBayes::fit_blended(&docs[..6], &default_p[..6], &positive[..6]).unwrap();
        assert_eq!(m.blend(), Blend::BAYES);
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
