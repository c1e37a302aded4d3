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
