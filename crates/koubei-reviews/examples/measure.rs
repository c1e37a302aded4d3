//! Accuracy of the default lexicon and of the trained model on a labelled
//! file of reviews (`label` 1 or 0, `review`), on a class-balanced sample:
//!
//!     cargo run --release -p koubei-reviews --example measure -- FILE.csv [FOLDS]
//!
//! Prints one JSON object. scripts/check_sentiment.py runs it on the
//! measuring corpora.

use koubei_reviews::{Lexicon, NaiveBayes, cross_validate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: measure FILE.csv [FOLDS]")?;
    let folds: usize = args.next().map_or(Ok(5), |s| s.parse())?;
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
    let lexicon = Lexicon::standard();
    let texts: Vec<&String> = pos.iter().chain(&neg).collect();
    let positive: Vec<bool> = (0..2 * n).map(|i| i < n).collect();
    let started = std::time::Instant::now();
    let right = texts
        .iter()
        .zip(&positive)
        .filter(|(t, p)| (lexicon.score(t).p_positive > 0.5) == **p)
        .count();
    let lexicon_seconds = started.elapsed().as_secs_f64();
    let docs: Vec<Vec<String>> = texts
        .iter()
        .map(|t| lexicon.tokenizer().all_words(t))
        .collect();
    let started = std::time::Instant::now();
    let cv = cross_validate(
        &docs,
        &positive,
        folds,
        20_261_206,
        NaiveBayes::fit,
        |m, w| m.score(w).p_positive,
    )?;
    println!(
        "{{\"file\": {path:?}, \"reviews\": {}, \"per_class\": {n}, \"lexicon_accuracy\": {:.4}, \"lexicon_seconds\": {:.2}, \"model\": \"naive_bayes_1_2_grams\", \"folds\": {}, \"cv_accuracy\": {:.4}, \"cv_balanced_accuracy\": {:.4}, \"cv_fold_accuracy\": {:?}, \"cv_seconds\": {:.2}}}",
        2 * n,
        right as f64 / (2 * n) as f64,
        lexicon_seconds,
        cv.folds,
        cv.accuracy,
        cv.balanced_accuracy,
        cv.fold_accuracy
            .iter()
            .map(|a| (a * 1e4).round() / 1e4)
            .collect::<Vec<_>>(),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}
