//! k-fold cross-validation of a binary sentiment model.

use crate::Error;

/// How well a model told positive reviews from negative ones on reviews it
/// was not trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct CvReport {
    pub folds: usize,
    pub reviews: usize,
    /// Share of held-out reviews called right (positive when P > 0.5).
    pub accuracy: f64,
    /// The mean of the two classes' recalls: the accuracy a class-balanced
    /// sample would show.
    pub balanced_accuracy: f64,
    /// Each fold's accuracy.
    pub fold_accuracy: Vec<f64>,
}

/// A fixed-seed xorshift64 generator: the same folds on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Each review's fold: each class shuffled (seeded) and dealt round the
/// folds, so that every fold holds both classes in their proportions.
pub fn folds(positive: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed.max(1));
    let mut fold = vec![0; positive.len()];
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..positive.len())
            .filter(|&i| positive[i] == class)
            .collect();
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.below(i + 1));
        }
        for (n, i) in idx.into_iter().enumerate() {
            fold[i] = n % k;
        }
    }
    fold
}

/// Trains `fit` on k − 1 folds and asks `predict` for P(positive) of each
/// review of the fold held out, for each fold in turn.
/// A review is whatever the model reads: its words, or its words with the
/// default model's score.
pub fn cross_validate<D: Clone, M>(
    docs: &[D],
    positive: &[bool],
    k: usize,
    seed: u64,
    fit: impl Fn(&[D], &[bool]) -> Result<M, Error>,
    predict: impl Fn(&M, &D) -> f64,
) -> Result<CvReport, Error> {
    if k < 2 {
        return Err(Error::Training(format!("folds: {k}; at least 2")));
    }
    let classes = [
        positive.iter().filter(|p| **p).count(),
        positive.iter().filter(|p| !**p).count(),
    ];
    if classes.iter().any(|&n| n < k) {
        return Err(Error::Training(format!(
            "{k} folds need {k} reviews of each class: {} positive, {} negative",
            classes[0], classes[1]
        )));
    }
    let fold = folds(positive, k, seed);
    // Right calls by class: [positive, negative].
    let mut right = [0usize; 2];
    let mut fold_accuracy = Vec::with_capacity(k);
    for f in 0..k {
        let (mut train_docs, mut train_labels) = (Vec::new(), Vec::new());
        for i in (0..docs.len()).filter(|&i| fold[i] != f) {
            train_docs.push(docs[i].clone());
            train_labels.push(positive[i]);
        }
        let model = fit(&train_docs, &train_labels)?;
        let (mut n, mut ok) = (0usize, 0usize);
        for i in (0..docs.len()).filter(|&i| fold[i] == f) {
            let called = predict(&model, &docs[i]) > 0.5;
            n += 1;
            if called == positive[i] {
                ok += 1;
                right[usize::from(!positive[i])] += 1;
            }
        }
        fold_accuracy.push(ok as f64 / n as f64);
    }
    let reviews = docs.len();
    Ok(CvReport {
        folds: k,
        reviews,
        accuracy: (right[0] + right[1]) as f64 / reviews as f64,
        balanced_accuracy: (right[0] as f64 / classes[0] as f64
            + right[1] as f64 / classes[1] as f64)
            / 2.0,
        fold_accuracy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_hold_each_class_evenly_and_repeat() {
        let positive: Vec<bool> = (0..103).map(|i| i % 3 == 0).collect();
        let f = folds(&positive, 5, 42);
        for k in 0..5 {
            let pos = (0..103).filter(|&i| f[i] == k && positive[i]).count();
            let neg = (0..103).filter(|&i| f[i] == k && !positive[i]).count();
            assert!(
                (6..=7).contains(&pos) && (13..=14).contains(&neg),
                "fold {k}: {pos} {neg}"
            );
        }
        assert_eq!(f, folds(&positive, 5, 42));
        assert_ne!(f, folds(&positive, 5, 43));
    }

    /// A model that calls every review positive: right on every positive
    /// and no negative, so the balanced accuracy is 0.5 whatever the mix,
    /// and the accuracy is the share of positives.
    #[test]
    fn accuracy_and_balanced_accuracy_by_hand() {
        let docs = vec![(); 40];
        let positive: Vec<bool> = (0..40).map(|i| i < 32).collect();
        let r = cross_validate(&docs, &positive, 4, 1, |_, _| Ok(()), |_, _| 0.9).unwrap();
        assert_eq!((r.folds, r.reviews), (4, 40));
        assert!((r.accuracy - 0.8).abs() < 1e-12);
        assert!((r.balanced_accuracy - 0.5).abs() < 1e-12);
        // 8 positives and 2 negatives in each fold.
        assert_eq!(r.fold_accuracy, vec![0.8; 4]);
    }

    /// A model that reads the label from the text is right on every held-out
    /// review, so nothing of the held-out fold leaked into its training.
    #[test]
    fn a_perfect_model_scores_one() {
        let docs: Vec<Vec<String>> = (0..50)
            .map(|i| vec![if i % 2 == 0 { "好" } else { "差" }.to_string()])
            .collect();
        let positive: Vec<bool> = (0..50).map(|i| i % 2 == 0).collect();
        let r = cross_validate(&docs, &positive, 5, 7, crate::NaiveBayes::fit, |m, w| {
            m.bayes_only(w).p_positive
        })
        .unwrap();
        assert_eq!((r.accuracy, r.balanced_accuracy), (1.0, 1.0));
        let e = cross_validate(&docs[..6], &positive[..6], 5, 7, |_, _| Ok(()), |_, _| 1.0);
        assert_eq!(
            e.unwrap_err().to_string(),
            "5 folds need 5 reviews of each class: 3 positive, 3 negative"
        );
    }
}
