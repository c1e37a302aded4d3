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
    let e = ws.fails(&["reviews", "score", path, "--model", "shop"]);
    assert!(e.contains("--model: shop: only the default model"), "{e}");
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
