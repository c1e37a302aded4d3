//! `koubei reviews score`: a file of texts scored without importing it.

use serde_json::Value;

use crate::util::Ws;

const REVIEWS: &str = "id,text,stars
r1,\"物流很快，质量很好，非常满意\",5
r2,太差了，送来都凉了,1
r3,\"Great value, fast delivery!\",5
r4,\"东西不错，但是物流太慢了\",3
r5,收到了,4
";

#[test]
fn scores_each_row_in_its_language() {
    let ws = Ws::new();
    let f = ws.file("reviews.csv", REVIEWS);
    let out = ws.ok(&["reviews", "score", f.to_str().unwrap(), "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["model"], "default");
    let rows = v["rows"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["language"].as_str().unwrap(),
                r["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("r1", "zh", "positive"),
            ("r2", "zh", "negative"),
            ("r3", "en", "positive"),
            // Praise, then a complaint after 但是: the complaint wins.
            ("r4", "zh", "negative"),
            ("r5", "zh", "neutral"),
        ]
    );
    // 不错 is +1.3 in the shop words; 太慢 is −1.5, weighed 1.5 after 但是:
    // P = 1 / (1 + e^(−(1.3 − 2.25))).
    let p4 = rows[3]["p_positive"].as_f64().unwrap();
    assert!((p4 - 1.0 / (1.0 + (0.95f64).exp())).abs() < 1e-12, "{p4}");
    assert_eq!(rows[3]["terms"][0]["text"], "太慢");
    assert_eq!(rows[4]["p_positive"], 0.5);
    assert_eq!(rows[4]["terms"].as_array().unwrap().len(), 0);

    // CSV: one line per review, its terms in one column.
    let csv = ws.ok(&["reviews", "score", f.to_str().unwrap(), "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,language,p_positive,label,terms");
    assert_eq!(lines.len(), 6);
    assert!(
        lines[2].starts_with("r2,zh,") && lines[2].contains("太差 -1.70"),
        "{}",
        lines[2]
    );
}

#[test]
fn a_missing_column_or_file_is_named() {
    let ws = Ws::new();
    let f = ws.file("reviews.csv", REVIEWS);
    let path = f.to_str().unwrap();
    let e = ws.fails(&["reviews", "score", path, "--text-column", "body"]);
    assert!(
        e.contains("--text-column: ")
            && e.contains("has no column body; its columns: id, text, stars"),
        "{e}"
    );
    let e = ws.fails(&["reviews", "score", path, "--id-column", "sku"]);
    assert!(
        e.contains("--id-column: ") && e.contains("no column sku"),
        "{e}"
    );
    let e = ws.fails(&["reviews", "score", "no-such-file.csv"]);
    assert!(e.contains("no-such-file.csv"), "{e}");
    // The shop's model lives in a workspace; there is none here.
    let e = ws.fails(&["reviews", "score", path, "--model", "shop"]);
    assert!(e.contains("not a koubei workspace"), "{e}");
    // A row that breaks the CSV is named by its line.
    let bad = ws.file("bad.csv", "id,text\nr1,好\nr2,差,多余\n");
    let e = ws.fails(&["reviews", "score", bad.to_str().unwrap()]);
    assert!(e.contains("bad.csv, line 3: "), "{e}");
}

const ORDERS: &str = "order_id,customer_id,ts,amount,status,product_id,category,region
o1,c1,2024-03-01,10,paid,p1,toys,浙江
o2,c2,2024-03-02,20,paid,p2,food,上海
o3,c3,2024-03-03,30,refunded,p1,toys,浙江
o4,c1,2024-03-10,40,paid,p2,food,浙江
";

const RATED: &str = "review_id,ts,customer_id,product_id,order_id,rating,text
r1,2024-03-02,c1,p1,o1,5,质量很好，物流很快
r2,2024-03-04,c2,p2,o2,2,物流太慢了，包装破损
r3,2024-03-05,c3,p1,o3,1,假货，客服态度恶劣
r4,2024-03-12,c1,p2,o4,4,
r5,2024-03-13,c1,p2,o4,,追评：用了一周还不错
";

/// An import of reviews stores their scores; the report reads them, and
/// its figures are the rows' (worked by hand).
#[test]
fn satisfaction_of_imported_reviews() {
    let ws = Ws::new();
    ws.load("orders", "orders.csv", ORDERS, &[]);
    ws.load("reviews", "reviews.csv", RATED, &[]);
    assert!(ws.path().join("derived/review_scores").is_dir());
    assert!(ws.path().join("derived/review_mentions").is_dir());
    let out = ws.ok(&["reviews", "--by", "product", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let t = &v["total"];
    assert_eq!(t["reviews"], 5);
    assert_eq!(t["rated"], 4);
    assert_eq!(t["stars"], serde_json::json!([1, 1, 0, 1, 1]));
    assert_eq!(t["mean_rating"], 3.0);
    assert_eq!(t["csat"], 0.5);
    // 5★ share 1/4 minus 1–3★ share 2/4.
    assert_eq!(t["nps"], -0.25);
    // Three paid orders, one refunded; r4 has no text to score.
    assert_eq!(
        (t["paid_orders"].as_i64(), t["refund_rate"].as_f64()),
        (Some(3), Some(0.25))
    );
    assert_eq!(
        (t["positive"].as_i64(), t["negative"].as_i64()),
        (Some(2), Some(2))
    );
    let keys: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["p2", "p1"]);
    // m = 2 (both products have two ratings), μ = 3: both Bayesian means 3.
    assert_eq!(v["prior_reviews"], 2.0);
    assert_eq!(v["rows"][0]["bayesian_mean"], 3.0);

    let table = ws.ok(&["reviews", "--by", "region"]);
    assert!(table.contains("浙江"), "{table}");
    assert!(table.contains("物流很快"), "{table}");

    let err = ws.fails(&["reviews", "--by", "colour"]);
    assert!(err.contains("colour"), "{err}");
    let err = ws.fails(&["reviews", "--since", "2024-04-01", "--until", "2024-03-01"]);
    assert!(err.contains("--since"), "{err}");
}

/// Reviews in a slang the lexicon does not know: rated ones teach the
/// shop's model, which then beats the default and scores the shop.
fn slang_reviews() -> String {
    let mut csv = String::from("review_id,ts,customer_id,rating,text\n");
    for i in 0..30 {
        let (good, bad) = if i % 2 == 0 {
            ("这款超级yyds", "这款纯属智商税")
        } else {
            ("yyds，回头客", "智商税，踩雷")
        };
        csv.push_str(&format!("g{i},2024-03-01,c{i},5,{good}\n"));
        csv.push_str(&format!("b{i},2024-03-02,d{i},1,{bad}\n"));
    }
    // 3★ and unrated reviews are not trained on.
    csv.push_str("m1,2024-03-03,e1,3,还行\nu1,2024-03-04,e2,,yyds\n");
    csv
}

#[test]
fn train_the_shops_model_and_score_with_it() {
    let ws = Ws::new();
    ws.load("reviews", "reviews.csv", &slang_reviews(), &[]);
    let v: Value = serde_json::from_str(&ws.ok(&["reviews", "train", "--format", "json"])).unwrap();
    assert_eq!(v["model"], "shop");
    assert_eq!(
        (v["folds"].as_u64(), v["reviews"].as_u64()),
        (Some(5), Some(60))
    );
    assert_eq!(
        (v["positive"].as_u64(), v["negative"].as_u64()),
        (Some(30), Some(30))
    );
    assert_eq!(v["cv_accuracy"], 1.0);
    assert!(v["default_accuracy"].as_f64().unwrap() < 0.8, "{v}");
    assert_eq!(v["in_use"], true);
    assert_eq!(v["data_version"], 0);
    let trained_at = v["trained_at"].as_str().unwrap().to_string();

    // The report says which model scored: the unrated "yyds" is positive.
    let r: Value = serde_json::from_str(&ws.ok(&["reviews", "--format", "json"])).unwrap();
    assert_eq!(r["model"], format!("shop (trained {trained_at})"));
    assert_eq!(
        (
            r["total"]["positive"].as_i64(),
            r["total"]["negative"].as_i64()
        ),
        (Some(32), Some(30))
    );

    let f = ws.file("new.csv", "id,text\nn1,yyds\nn2,智商税\n");
    let f = f.to_str().unwrap();
    let shop: Value = serde_json::from_str(
        &ws.ok(&["reviews", "score", f, "--model", "shop", "--format", "json"]),
    )
    .unwrap();
    assert_eq!(shop["model"], r["model"]);
    assert_eq!(shop["rows"][0]["label"], "positive");
    assert_eq!(shop["rows"][1]["label"], "negative");
    // The model file itself, by path, scores the same.
    let path = ws.path().join("models/sentiment-shop.tsv");
    let by_path: Value = serde_json::from_str(&ws.ok(&[
        "reviews",
        "score",
        f,
        "--model",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(by_path["rows"], shop["rows"]);

    let e = ws.fails(&["reviews", "score", f, "--model", "nope"]);
    assert!(e.contains("--model") && e.contains("nope"), "{e}");
}

#[test]
fn train_on_a_labelled_file() {
    let ws = Ws::new();
    // The model is stored in a workspace.
    ws.load("reviews", "reviews.csv", &slang_reviews(), &[]);
    let mut csv = String::from("text,stars\n");
    for i in 0..20 {
        csv.push_str(&format!("yyds {i},5\n智商税 {i},1\n还行 {i},3\n"));
    }
    let f = ws.file("labelled.csv", &csv);
    let f = f.to_str().unwrap();
    let e = ws.fails(&["reviews", "train", f]);
    assert!(e.contains("--label-column"), "{e}");
    // Stars: 3★ is left out.
    let v: Value = serde_json::from_str(&ws.ok(&[
        "reviews",
        "train",
        f,
        "--label-column",
        "stars",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["reviews"], 40);
    assert_eq!(v["data_version"], Value::Null);
    let bad = ws.file("bad.csv", "text,label\nyyds,1\n智商税,maybe\n");
    let e = ws.fails(&[
        "reviews",
        "train",
        bad.to_str().unwrap(),
        "--label-column",
        "label",
    ]);
    assert!(e.contains("line 3") && e.contains("maybe"), "{e}");
}

/// The demo shop's complaint terms are its complaints: each is used by
/// more bad reviews than good ones and drags the mean down; the table
/// shows an example review.
#[test]
fn complaint_terms_of_the_demo_shop() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "400", "--seed", "3"]);
    let v: Value =
        serde_json::from_str(&ws.ok(&["reviews", "terms", "--top", "5", "--format", "json"]))
            .unwrap();
    let complaints = v["complaints"].as_array().unwrap();
    assert_eq!(complaints.len(), 5);
    for t in complaints {
        assert!(t["z"].as_f64().unwrap() > 0.0, "{t}");
        assert!(
            t["bad_reviews"].as_u64() > t["good_reviews"].as_u64(),
            "{t}"
        );
        assert!(t["drag"].as_f64().unwrap() > 0.0, "{t}");
        assert!(!t["examples"].as_array().unwrap().is_empty(), "{t}");
    }
    let praise = v["praise"].as_array().unwrap();
    assert!(praise.iter().all(|t| t["z"].as_f64().unwrap() < 0.0), "{v}");
    let table = ws.ok(&["reviews", "terms", "--top", "3"]);
    assert!(table.starts_with("complaints: terms of"), "{table}");
    let e = ws.fails(&["reviews", "terms", "--prior-terms", "0"]);
    assert!(e.contains("--prior-terms"), "{e}");

    // The reviews behind the first complaint: its 1★ and 2★ reviews are
    // the term's bad reviews, each using the term.
    let term = complaints[0]["term"].as_str().unwrap();
    let listed = |rating: &str| -> Value {
        let args = ["reviews", "list", "--term", term, "--rating", rating];
        serde_json::from_str(
            &ws.ok(&[&args[..], &["--limit", "1000", "--format", "json"]].concat()),
        )
        .unwrap()
    };
    let (one, two) = (listed("1"), listed("2"));
    assert_eq!(
        one["matched"].as_u64().unwrap() + two["matched"].as_u64().unwrap(),
        complaints[0]["bad_reviews"].as_u64().unwrap(),
        "{term}"
    );
    for r in one["rows"].as_array().unwrap() {
        assert_eq!(r["rating"], 1);
        assert!(r["text"].as_str().unwrap().contains(term), "{r}");
    }
    // The reviews behind a tag are as many as the report counts.
    let report: Value = serde_json::from_str(&ws.ok(&["reviews", "--format", "json"])).unwrap();
    let tag = &report["tags"][0];
    let behind: Value = serde_json::from_str(&ws.ok(&[
        "reviews",
        "list",
        "--tag",
        tag["tag"].as_str().unwrap(),
        "--aspect",
        tag["aspect"].as_str().unwrap(),
        "--limit",
        "3",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(behind["matched"], tag["reviews"], "{tag}");
    assert_eq!(behind["rows"].as_array().unwrap().len(), 3);
    let e = ws.fails(&["reviews", "list", "--label", "angry"]);
    assert!(e.contains("--label") && e.contains("positive"), "{e}");
}
