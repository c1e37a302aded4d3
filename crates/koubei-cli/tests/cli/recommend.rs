//! `koubei recommend` on the demo shop.

use serde_json::Value;

use crate::util::Ws;

fn json(ws: &Ws, args: &[&str]) -> Value {
    serde_json::from_str(&ws.ok(&[args, &["--format", "json"]].concat())).unwrap()
}

#[test]
fn recommendations_of_the_demo_shop() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "400", "--seed", "3"]);

    // Each model is measured on the latest orders, against popularity.
    let e = json(&ws, &["recommend", "evaluate"]);
    assert_eq!(e["k"], 10);
    let models: Vec<&str> = e["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["als", "itemknn", "pop"]);
    assert!(e["customers"].as_u64().unwrap() > 0, "{e}");
    for m in e["models"].as_array().unwrap() {
        for key in ["precision", "recall", "ndcg", "map", "coverage"] {
            let v = m[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{key}: {m}");
        }
    }
    assert_eq!(e["models"][2]["vs_pop"][2], 1.0);
    let one = json(&ws, &["recommend", "evaluate", "--model", "pop", "-k", "5"]);
    assert_eq!(one["models"].as_array().unwrap().len(), 1);
    assert_eq!(one["models"][0]["model"], "pop");

    // A customer's top 10 leaves out what they bought.
    let customer = ws.ok(&[
        "sql",
        "SELECT customer_id FROM orders WHERE status = 'paid' AND product_id IS NOT NULL ORDER BY customer_id LIMIT 1",
        "--format",
        "csv",
    ]);
    let customer = customer.lines().nth(1).unwrap().trim();
    let bought = ws.ok(&[
        "sql",
        &format!("SELECT DISTINCT product_id FROM orders WHERE status = 'paid' AND customer_id = '{customer}'"),
        "--format",
        "csv",
    ]);
    let bought: Vec<&str> = bought.lines().skip(1).map(str::trim).collect();
    let r = json(&ws, &["recommend", "for", "--customer", customer]);
    let products = r["products"].as_array().unwrap();
    assert_eq!(products.len(), 10);
    assert_eq!(r["bought"].as_u64().unwrap() as usize, bought.len());
    for p in products {
        assert!(
            !bought.contains(&p["product"].as_str().unwrap()),
            "{p} was bought"
        );
    }

    // Bought together: rules of one product, strongest lift first.
    let t = json(&ws, &["recommend", "together", "--min-orders", "2"]);
    let rules = t["rules"].as_array().unwrap();
    assert!(!rules.is_empty(), "{t}");
    let lifts: Vec<f64> = rules.iter().map(|r| r["lift"].as_f64().unwrap()).collect();
    assert!(lifts.windows(2).all(|w| w[0] >= w[1]), "{lifts:?}");
    let product = rules[0]["product"].as_str().unwrap();
    let of = json(
        &ws,
        &[
            "recommend",
            "together",
            "--product",
            product,
            "--min-orders",
            "2",
        ],
    );
    assert!(
        of["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["product"] == product)
    );
    let s = json(
        &ws,
        &["recommend", "similar", "--product", product, "--top", "3"],
    );
    assert_eq!(s["similar"].as_array().unwrap().len(), 3);

    let err = ws.fails(&["recommend", "similar", "--product", "no-such"]);
    assert!(
        err.contains("--product") && err.contains("no-such"),
        "{err}"
    );
    let err = ws.fails(&["recommend", "evaluate", "--split", "1.5"]);
    assert!(err.contains("--split"), "{err}");
}

/// `recommend train` stores a model that `for` and `export` answer from,
/// and the export of one RFM segment lists exactly its customers.
#[test]
fn trained_models_answer_and_export() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "300", "--seed", "5"]);
    let t = json(
        &ws,
        &[
            "recommend",
            "train",
            "--model",
            "als,itemknn",
            "--events",
            "view=0.2",
        ],
    );
    let models = t["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert!(models[0]["data_version"]["orders"].is_u64(), "{t}");
    assert!(models[0]["data_version"]["events"].is_u64(), "{t}");
    assert_eq!(models[0]["event_weights"]["view"], 0.2);

    let customer = "c0000001";
    let stored = json(
        &ws,
        &[
            "recommend",
            "for",
            "--customer",
            customer,
            "--model",
            "itemknn",
        ],
    );
    assert!(stored["trained_at"].is_string(), "{stored}");
    assert_eq!(stored["stale"], false);
    // The stored model and one fitted now with the same events agree.
    let fitted = json(
        &ws,
        &[
            "recommend",
            "for",
            "--customer",
            customer,
            "--model",
            "itemknn",
            "--events",
            "view=0.2",
            "--refit",
        ],
    );
    assert!(fitted["trained_at"].is_null());
    assert_eq!(stored["products"], fitted["products"]);
    // Asked with other weights, the stored model is not used.
    let other = json(
        &ws,
        &[
            "recommend",
            "for",
            "--customer",
            customer,
            "--model",
            "itemknn",
            "--events",
            "view=1",
        ],
    );
    assert!(other["trained_at"].is_null(), "{other}");

    // Every customer of the segment, each with 3 products, in CSV.
    let rfm_file = ws.path().join("at-risk-rfm.csv");
    ws.ok(&[
        "rfm",
        "--segment",
        "At Risk",
        "--export",
        rfm_file.to_str().unwrap(),
    ]);
    let rfm = std::fs::read_to_string(&rfm_file).unwrap();
    let mut want: Vec<&str> = rfm
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    want.sort_unstable();
    assert!(!want.is_empty());
    let out = ws.path().join("recs.csv");
    ws.ok(&[
        "recommend",
        "export",
        "--segment",
        "At Risk",
        "-n",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("customer_id,segment,rank,product_id,score")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut got: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    got.dedup();
    assert_eq!(got, want);
    assert_eq!(rows.len(), 3 * want.len());
    assert!(rows.iter().all(|r| r[1] == "At Risk"));
    assert_eq!(
        rows.iter().map(|r| r[2]).take(3).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );

    // Every customer, as Parquet: the first customer's rows are `for`'s.
    let out = ws.path().join("recs.parquet");
    ws.ok(&[
        "recommend",
        "export",
        "--model",
        "itemknn",
        "--out",
        out.to_str().unwrap(),
    ]);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&out).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let customers = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    let products = arrow::compute::cast(b.column(2), &arrow::datatypes::DataType::Utf8).unwrap();
    use arrow::array::AsArray;
    let (customers, products) = (customers.as_string::<i32>(), products.as_string::<i32>());
    let first: Vec<&str> = (0..b.num_rows())
        .filter(|&i| customers.value(i) == customer)
        .map(|i| products.value(i))
        .collect();
    let want: Vec<&str> = stored["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product"].as_str().unwrap())
        .collect();
    assert_eq!(first, want);

    let err = ws.fails(&["recommend", "train", "--events", "click=1"]);
    assert!(err.contains("--events") && err.contains("click"), "{err}");
    let err = ws.fails(&["recommend", "export", "--segment", "Nobody"]);
    assert!(err.contains("--segment") && err.contains("Nobody"), "{err}");
}
