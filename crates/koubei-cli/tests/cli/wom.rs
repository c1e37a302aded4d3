//! `koubei wom seeds` and `koubei wom simulate` on edge lists.

use serde_json::Value;

use crate::util::Ws;

/// Two stars with certain arcs: alice reaches 4 people, bob 2, carol 1.
const STARS: &str = "# sharer recipient probability
alice a1 1
alice a2 1
alice a3 1
alice a4 1
alice a4 0.5   # a parallel line: merged
bob b1 1
bob b2 1
carol c1 1
c1 c1 1        # a self-loop: dropped
";

#[test]
fn seeds_on_an_edge_list_find_the_largest_stars() {
    let ws = Ws::new();
    let g = ws.file("stars.txt", STARS);
    let out = ws.ok(&[
        "wom",
        "seeds",
        "--graph",
        g.to_str().unwrap(),
        "-k",
        "2",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seeds"], serde_json::json!(["alice", "bob"]));
    // Every arc is certain: the spread is 5 + 3, estimated from RR sets
    // (10 × the share of them hit, within 4 standard errors).
    assert!((v["spread"].as_f64().unwrap() - 8.0).abs() < 0.15, "{v}");
    assert!(v["approximation"].as_f64().unwrap() >= 1.0 - (-1f64).exp() - 0.1);
    assert_eq!(v["model"], "given");
    assert_eq!(v["arcs"], 7);

    // The same seeds simulated from the JSON just printed.
    let seeds = ws.file("seeds.json", &out);
    let sim = ws.ok(&[
        "wom",
        "simulate",
        "--graph",
        g.to_str().unwrap(),
        "--seeds",
        seeds.to_str().unwrap(),
        "--runs",
        "100",
        "--format",
        "json",
    ]);
    let s: Value = serde_json::from_str(&sim).unwrap();
    assert_eq!(s["spread"], 8.0);
    assert_eq!(s["std_error"], 0.0);

    // The text table names the seeds and the certified ratio.
    let table = ws.ok(&["wom", "seeds", "--graph", g.to_str().unwrap(), "-k", "1"]);
    assert!(table.contains("1     alice"), "{table}");
    assert!(table.contains("certified approximation"), "{table}");
}

#[test]
fn numeric_ids_print_as_numbers_and_wc_is_the_default_without_probabilities() {
    let ws = Ws::new();
    // 0 reaches 1, 2 and 3 for sure under weighted cascade (each has in-degree 1).
    let g = ws.file("g.txt", "4 3\n0 1\n0 2\n0 3\n");
    let out = ws.ok(&[
        "wom",
        "seeds",
        "--graph",
        g.to_str().unwrap(),
        "-k",
        "1",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seeds"], serde_json::json!([0]));
    assert_eq!(v["model"], "wc");
    assert_eq!(v["nodes"], 4, "the `4 3` header is not an edge");
    assert!((v["spread"].as_f64().unwrap() - 4.0).abs() < 0.1, "{v}");
    // Undirected, a constant 0 makes each node reach only itself.
    let out = ws.ok(&[
        "wom",
        "seeds",
        "--graph",
        g.to_str().unwrap(),
        "--undirected",
        "--model",
        "const:0",
        "-k",
        "2",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["arcs"], 6);
    assert!((v["spread"].as_f64().unwrap() - 2.0).abs() < 0.1, "{v}");
}

#[test]
fn bad_graphs_and_requests_get_clear_errors() {
    let ws = Ws::new();
    let bad = ws.file("bad.txt", "a b\nb\n");
    let e = ws.fails(&["wom", "seeds", "--graph", bad.to_str().unwrap()]);
    assert!(e.contains("bad.txt is not a valid edge list"), "{e}");
    assert!(
        e.contains("line 2: expected `source target [probability]`"),
        "{e}"
    );

    let p = ws.file("p.txt", "a b 0.5\nb c 1.5\n");
    let e = ws.fails(&["wom", "seeds", "--graph", p.to_str().unwrap()]);
    assert!(
        e.contains("line 2: probability 1.5 is outside [0, 1]"),
        "{e}"
    );

    let g = ws.file("stars.txt", STARS);
    let e = ws.fails(&["wom", "seeds", "--graph", g.to_str().unwrap(), "-k", "20"]);
    assert!(
        e.contains("k = 20 is larger than the graph's 10 nodes"),
        "{e}"
    );

    let e = ws.fails(&[
        "wom",
        "seeds",
        "--graph",
        g.to_str().unwrap(),
        "--model",
        "const:2",
    ]);
    assert!(e.contains("outside [0, 1]"), "{e}");

    // Simulations of seed files on the stars, that must fail.
    let simulate = |seeds: &str, runs: &str| {
        let seeds = ws.file("seeds.txt", seeds);
        let (g, seeds) = (g.to_str().unwrap(), seeds.to_str().unwrap());
        ws.fails(&[
            "wom", "simulate", "--graph", g, "--seeds", seeds, "--runs", runs,
        ])
    };
    let e = simulate("alice\n# a comment\nzed\n", "100");
    assert!(
        e.contains("line 3: node \"zed\" is not in the graph"),
        "{e}"
    );
    // A run count that would size an allocation of terabytes is refused.
    let e = simulate("alice\n", "18446744073709551615");
    assert!(e.contains("--runs: must be from 1 to 10000000"), "{e}");
    // A graph of one node has its seed, with no delta given.
    let one = ws.file("one.txt", "1 1\n");
    let out = ws.ok(&[
        "wom",
        "seeds",
        "--graph",
        one.to_str().unwrap(),
        "-k",
        "1",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seeds"], serde_json::json!([1]));

    // A workspace without referrals.
    let orders = ws.file(
        "orders.csv",
        "order_id,customer_id,ts,amount\no1,a,2024-01-01,10\n",
    );
    ws.ok(&["import", "orders", orders.to_str().unwrap()]);
    for cmd in ["seeds", "metrics"] {
        let e = ws.fails(&["wom", cmd]);
        assert!(e.contains("the referrals table is empty"), "{cmd}: {e}");
    }

    let empty = ws.file("empty.txt", "# nothing\n");
    let e = ws.fails(&["wom", "seeds", "--graph", empty.to_str().unwrap()]);
    assert!(e.contains("has no edges"), "{e}");
}

#[test]
fn word_of_mouth_on_the_demo_shop() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "1500", "--seed", "3"]);
    let json = |args: &[&str]| -> Value {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        serde_json::from_str(&ws.ok(&a)).unwrap()
    };
    // Referred customers by the cascades equal those the shop recorded.
    let sql = json(&[
        "sql",
        "SELECT COUNT(*) AS n FROM customers WHERE referred_by IS NOT NULL",
    ]);
    let recorded = sql[0]["n"].as_u64().unwrap();
    let c = json(&["wom", "cascades", "--top", "3"]);
    assert_eq!(c["referred"].as_u64().unwrap(), recorded);
    assert!(c["cascades"].as_u64().unwrap() > 0);
    assert_eq!(c["largest"].as_array().unwrap().len(), 3);
    assert!(c["largest"][0]["tree"]["children"].is_array());

    let m = json(&["wom", "metrics", "--no-clv"]);
    let new_from_shares: u64 = m["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["new_customers_from_shares"].as_u64().unwrap())
        .sum();
    assert_eq!(
        new_from_shares,
        m["funnel"]["new_customers"].as_u64().unwrap()
    );
    assert_eq!(m["referred"][0]["customers"].as_u64().unwrap(), recorded);

    let r = json(&["wom", "reach", "--home", "CN"]);
    assert_eq!(r["home_regions_total"], 34);
    assert_eq!(r["reached"].as_u64().unwrap(), recorded);
    assert!(r["countries"].as_u64().unwrap() >= 1);

    let s = json(&["wom", "seeds", "-k", "3", "--objective", "regions"]);
    assert_eq!(s["seeds"].as_array().unwrap().len(), 3);
    assert_eq!(s["objective"], "regions");
    let seeds = ws.file("seeds.json", s.to_string());
    let sim = json(&[
        "wom",
        "simulate",
        "--seeds",
        seeds.to_str().unwrap(),
        "--objective",
        "regions",
        "--runs",
        "2000",
    ]);
    // The RR estimate of regions reached and the simulation agree.
    let est = s["spread"].as_f64().unwrap();
    let got = sim["groups"]["mean"].as_f64().unwrap();
    assert!((est - got).abs() < 0.1 * got.max(1.0), "{est} vs {got}");

    // Places belong to shop data, not to a bare edge list.
    let g = ws.file("g.txt", "a b\n");
    let e = ws.fails(&[
        "wom",
        "seeds",
        "--graph",
        g.to_str().unwrap(),
        "--objective",
        "regions",
    ]);
    assert!(
        e.contains("--objective: regions needs the customers' places: it works on shop data, not with a graph file"),
        "{e}"
    );
}
