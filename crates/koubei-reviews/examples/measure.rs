//! Accuracy of the default model (the lexicon for Chinese, VADER for
//! English) and of the trained model on a labelled file of reviews
//! (`label` 1 or 0, `review`), on a class-balanced sample:
//!
//!     cargo run --release -p koubei-reviews --example measure -- FILE.csv [FOLDS] [SPLIT.csv]
//!
//! Prints one JSON object. With SPLIT.csv, also writes the sample with
//! each review's fold (`fold,label,review`), so that a peer can be trained
//! and tested on the same folds. scripts/check_sentiment.py runs it on the
//! measuring corpora.

use koubei_reviews::{DefaultModel, FOLD_SEED, NaiveBayes, cross_validate, folds, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: measure FILE.csv [FOLDS] [SPLIT.csv]")?;
    let k: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let split = args.next();
    let mut reader = csv::Reader::from_path(&path)?;
    let header = reader.headers()?.clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(format!("{path}: no column {name}"))
    };
    let (label, review) = (col("label")?, col("review")?);
    let mut rows: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for (line, r) in reader.records().enumerate() {
        let r = r?;
        let text = r.get(review).unwrap_or("").trim().to_string();
        match r.get(label).map(str::trim) {
            Some("1") if !text.is_empty() => rows[0].push(text),
            Some("0") if !text.is_empty() => rows[1].push(text),
            Some("1" | "0") => {}
            other => return Err(format!("{path}: line {}: label {other:?}", line + 2).into()),
        }
    }
    // A class-balanced sample: every review of the smaller class, and as
    // many of the larger one, taken evenly through the file.
    let n = rows[0].len().min(rows[1].len());
    let take =
        |v: &Vec<String>| -> Vec<String> { (0..n).map(|i| v[i * v.len() / n].clone()).collect() };
    let (pos, neg) = (take(&rows[0]), take(&rows[1]));
    let model = DefaultModel::shared();
    let texts: Vec<&str> = pos.iter().chain(&neg).map(String::as_str).collect();
    let positive: Vec<bool> = (0..2 * n).map(|i| i < n).collect();
    if let Some(split) = split {
        let mut w = csv::Writer::from_path(split)?;
        w.write_record(["fold", "label", "review"])?;
        for ((t, p), f) in texts
            .iter()
            .zip(&positive)
            .zip(folds(&positive, k, FOLD_SEED))
        {
            w.write_record([f.to_string().as_str(), if *p { "1" } else { "0" }, t])?;
        }
        w.flush()?;
    }
    let started = std::time::Instant::now();
    let trained = train(model, &texts, &positive, k)?;
    let trained_seconds = started.elapsed().as_secs_f64();
    // Naive Bayes alone, on the same folds, to show what the blend adds.
    let docs: Vec<Vec<String>> = texts.iter().map(|t| model.words(t)).collect();
    let alone = cross_validate(&docs, &positive, k, FOLD_SEED, NaiveBayes::fit, |m, w| {
        m.bayes_only(w).p_positive
    })?;
    let round = |v: &[f64]| {
        v.iter()
            .map(|a| (a * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
    };
    let cv = &trained.cv;
    let blend = trained.model.blend();
    println!(
        "{{\"file\": {path:?}, \"reviews\": {}, \"per_class\": {n}, \"default_accuracy\": {:.4}, \"model\": \"naive_bayes_1_2_grams_blended\", \"blend\": [{:.4}, {:.4}, {:.4}], \"folds\": {}, \"cv_accuracy\": {:.4}, \"cv_balanced_accuracy\": {:.4}, \"cv_fold_accuracy\": {:?}, \"bayes_only_cv_accuracy\": {:.4}, \"train_and_cv_seconds\": {:.2}}}",
        2 * n,
        trained.default_accuracy,
        blend.bayes,
        blend.default,
        blend.bias,
        cv.folds,
        cv.accuracy,
        cv.balanced_accuracy,
        round(&cv.fold_accuracy),
        alone.accuracy,
        trained_seconds,
    );
    Ok(())
}
