//! The shop's own model: trained on its rated reviews, measured by k-fold
//! cross-validation against the default model on the same reviews, and
//! kept as text.

use crate::{CvReport, DefaultModel, Error, NaiveBayes, cross_validate};

/// The seed of the folds: the same reviews give the same folds.
pub const FOLD_SEED: u64 = 20_261_206;

/// A trained model and how it compares with the default.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: NaiveBayes,
    pub cv: CvReport,
    /// The default model's accuracy on the same reviews (it needs no
    /// training, so every review is held out).
    pub default_accuracy: f64,
    pub default_balanced_accuracy: f64,
}

impl Trained {
    /// Whether the trained model should score the shop's reviews: it
    /// tells the classes apart better than the default does. Balanced
    /// accuracy, because a shop's reviews are mostly positive and calling
    /// everything positive would otherwise look good.
    pub fn beats_default(&self) -> bool {
        self.cv.balanced_accuracy > self.default_balanced_accuracy
    }
}

/// Trains Naive Bayes blended with `default` on `texts` labelled
/// `positive`, with `folds`-fold cross-validation (the blend is fitted
/// again inside each fold), and scores the same texts by `default`.
pub fn train(
    default: &DefaultModel,
    texts: &[&str],
    positive: &[bool],
    folds: usize,
) -> Result<Trained, Error> {
    if texts.len() != positive.len() {
        return Err(Error::Training(format!(
            "{} reviews but {} labels",
            texts.len(),
            positive.len()
        )));
    }
    let reviews: Vec<(Vec<String>, crate::Scored)> = texts
        .iter()
        .map(|t| (default.words(t), default.score(t).1))
        .collect();
    let fit = |r: &[(Vec<String>, crate::Scored)], positive: &[bool]| {
        let (docs, p): (Vec<Vec<String>>, Vec<f64>) =
            r.iter().map(|(w, s)| (w.clone(), s.p_positive)).unzip();
        NaiveBayes::fit_blended(&docs, &p, positive)
    };
    let cv = cross_validate(&reviews, positive, folds, FOLD_SEED, fit, |m, (w, s)| {
        m.score(w, s).p_positive
    })?;
    let mut right = [0usize; 2];
    for ((_, s), &p) in reviews.iter().zip(positive) {
        if (s.p_positive > 0.5) == p {
            right[usize::from(!p)] += 1;
        }
    }
    let classes = [
        positive.iter().filter(|p| **p).count(),
        positive.iter().filter(|p| !**p).count(),
    ];
    let model = fit(&reviews, positive)?;
    Ok(Trained {
        model,
        cv,
        default_accuracy: (right[0] + right[1]) as f64 / texts.len() as f64,
        default_balanced_accuracy: (right[0] as f64 / classes[0] as f64
            + right[1] as f64 / classes[1] as f64)
            / 2.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    /// Reviews whose words the lexicon does not know (made-up product
    /// slang): the trained model learns them and beats the default, which
    /// calls them all neutral.
    #[test]
    fn a_model_trained_on_the_shops_words_beats_the_default() {
        let mut texts = Vec::new();
        let mut positive = Vec::new();
        for i in 0..40 {
            texts.push(if i % 2 == 0 {
                "这款超级yyds"
            } else {
                "yyds，回头客"
            });
            positive.push(true);
            texts.push(if i % 2 == 0 {
                "这款纯属智商税"
            } else {
                "智商税，踩雷"
            });
            positive.push(false);
        }
        let d = DefaultModel::default();
        let t = train(&d, &texts, &positive, 5).unwrap();
        assert_eq!((t.cv.folds, t.cv.reviews), (5, 80));
        assert_eq!(t.cv.accuracy, 1.0);
        assert!(
            t.default_balanced_accuracy < 0.8,
            "{}",
            t.default_balanced_accuracy
        );
        assert!(t.beats_default());
        assert_eq!(t.model.score_text(&d, "yyds").1.label, Label::Positive);
        let e = train(&d, &texts[..3], &positive[..3], 5).unwrap_err();
        assert!(e.to_string().contains("5 folds need"), "{e}");
    }
}
