use std::io::Read;
use std::process::Stdio;

use serde_json::Value;

use crate::util::Ws;

/// The demo fills every table, and `sql` answers over it in all three formats.
#[test]
fn demo_then_tables_and_sql() {
    let ws = Ws::new();
    let out: Value = serde_json::from_str(&ws.ok(&[
        "demo",
        "--customers",
        "500",
        "--seed",
        "7",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(out["summary"]["customers"], 500);
    assert!(ws.path().join("demo.json").exists());
    // Every customer has a paid order, and every paid order a purchase event.
    let r = ws.sql(
        "SELECT (SELECT count(DISTINCT customer_id) FROM orders WHERE status = 'paid') AS buyers,
                (SELECT count(DISTINCT order_id) FROM orders WHERE status = 'paid') AS paid,
                (SELECT count(*) FROM events WHERE event = 'purchase') AS purchases",
    );
    assert_eq!(r[0]["buyers"], 500);
    assert_eq!(r[0]["paid"], r[0]["purchases"]);
    assert_eq!(out["summary"]["paid_orders"], r[0]["paid"]);

    // Every buyer went through view → add_to_cart → checkout → purchase in
    // one session, so the funnel's last step counts every customer.
    let f: Value = serde_json::from_str(&ws.ok(&[
        "funnel",
        "--steps",
        "view,add_to_cart,checkout,purchase",
        "--window",
        "1d",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(f["steps"][3]["name"], "purchase");
    assert_eq!(f["steps"][3]["persons"], 500);
    assert!(f["steps"][0]["persons"].as_i64().unwrap() > 500, "{f}");

    // A breakdown's groups add up to the total row, step by step; the
    // trend's entries add up to step 1.
    let b: Value = serde_json::from_str(&ws.ok(&[
        "funnel",
        "--steps",
        "view,add_to_cart[channel!=none],purchase",
        "--breakdown",
        "channel",
        "--trend",
        "month",
        "--format",
        "json",
    ]))
    .unwrap();
    for k in 0..3 {
        let sum: i64 = b["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["steps"][k]["persons"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, b["steps"][k]["persons"].as_i64().unwrap(), "step {k}");
    }
    let entered: i64 = b["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["entered"].as_i64().unwrap())
        .sum();
    assert_eq!(entered, b["steps"][0]["persons"].as_i64().unwrap());
    let converted: i64 = b["time_to_convert"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["persons"].as_i64().unwrap())
        .sum();
    assert_eq!(converted, b["steps"][2]["persons"].as_i64().unwrap());

    let t: Value = serde_json::from_str(&ws.ok(&["tables", "--format", "json"])).unwrap();
    for table in t["tables"].as_array().unwrap() {
        if table["name"] != "rejects" {
            assert!(table["rows"].as_i64().unwrap() > 0, "{table}");
        }
    }
    let csv = ws.ok(&[
        "sql",
        "SELECT customer_id, country FROM customers ORDER BY customer_id LIMIT 2",
        "--format",
        "csv",
    ]);
    assert!(csv.starts_with("customer_id,country\nc0000001,"), "{csv}");
    let table = ws.ok(&["sql", "SELECT 1 AS one"]);
    assert!(
        table.contains("| one |") && table.contains("1 row"),
        "{table}"
    );

    // sql only reads: a COPY writes no file, an INSERT adds no row.
    let out = ws.dir.path().join("copied.csv");
    let e = ws.fails(&[
        "sql",
        &format!(
            "COPY (SELECT 'x' AS a) TO '{}' STORED AS CSV",
            out.display()
        ),
    ]);
    assert!(
        e.contains("error: the query: DML not supported: COPY: a query may only read"),
        "{e}"
    );
    assert!(!out.exists());
    let orders = ws.count("orders");
    let e = ws.fails(&["sql", "INSERT INTO orders SELECT * FROM orders"]);
    assert!(e.contains("may only read"), "{e}");
    assert_eq!(ws.count("orders"), orders);

    // The same seed again adds nothing; another seed needs --replace.
    ws.ok(&["demo", "--customers", "500", "--seed", "7"]);
    assert_eq!(ws.count("customers"), 500);
    let e = ws.fails(&["demo", "--customers", "300", "--seed", "8"]);
    assert!(e.contains("--replace"), "{e}");
    ws.ok(&["demo", "--customers", "300", "--seed", "8", "--replace"]);
    assert_eq!(ws.count("customers"), 300);
}

/// `koubei sql ... | head` ends quietly.
#[test]
fn closed_pipe_is_not_an_error() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "300"]);
    for format in ["table", "json", "csv"] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("koubei"))
            .args([
                "--workspace",
                ws.path().to_str().unwrap(),
                "sql",
                "SELECT * FROM events",
                "--format",
                format,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 64];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{format}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{format}");
    }
}

#[test]
fn workspace_from_the_environment() {
    let ws = Ws::new();
    let mut c = assert_cmd::Command::cargo_bin("koubei").unwrap();
    c.env("KOUBEI_WORKSPACE", ws.path())
        .args(["demo", "--customers", "100"])
        .assert()
        .success();
    assert_eq!(ws.count("customers"), 100);
    let e = Ws::new().fails(&["tables"]);
    assert!(e.contains("does not exist"), "{e}");
}

/// A partition count far beyond the cores is capped, with a warning: a
/// funnel over a small shop stays quick.
#[test]
fn partitions_far_beyond_the_cores_are_capped() {
    let ws = Ws::new();
    ws.load(
        "events",
        "events.csv",
        "ts,customer_id,event\n2024-01-01T10:00:00Z,a,view\n2024-01-01T10:05:00Z,a,purchase\n",
        &[],
    );
    let out = ws
        .cmd()
        .env("DATAFUSION_EXECUTION_TARGET_PARTITIONS", "100000")
        .args(["funnel", "--steps", "view,purchase", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("100000 target partitions on"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"][1]["persons"], 1);
}

/// The demo stores each person's activity by day; the overview and the
/// sales report give the same output from it as from the tables (without
/// it, as after events captured since), and `refresh` stores it again.
#[test]
fn stored_activity_gives_the_same_overview_and_sales() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "400", "--seed", "3"]);
    let stored = ws.path().join("derived/activity/_delta_log");
    assert!(stored.exists());
    let reports = || {
        let mut out = Vec::new();
        for range in [
            &["--since", "2025-01-01", "--until", "2025-12-31"][..],
            &["--since", "2025-11-10", "--until", "2025-12-09"],
            &[
                "--since",
                "2024-02-01",
                "--until",
                "2025-12-31",
                "--by",
                "quarter",
            ],
        ] {
            let mut args = vec!["overview", "--format", "json"];
            args.extend_from_slice(range);
            out.push(ws.ok(&args));
        }
        for by in ["week", "month"] {
            out.push(ws.ok(&[
                "sales",
                "--by",
                by,
                "--since",
                "2025-03-15",
                "--until",
                "2025-10-31",
                "--format",
                "json",
            ]));
        }
        out
    };
    let from_stored = reports();
    let year: Value = serde_json::from_str(&from_stored[0]).unwrap();
    let card = |key: &str| {
        year["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    // The cards against SQL over the tables.
    let r = ws.sql(
        "SELECT count(DISTINCT customer_id) AS buyers, count(DISTINCT order_id) AS orders
         FROM orders WHERE status = 'paid'
           AND ts >= TIMESTAMP '2025-01-01T00:00:00Z' AND ts < TIMESTAMP '2026-01-01T00:00:00Z'",
    );
    assert_eq!(card("buyers").as_f64(), r[0]["buyers"].as_f64());
    assert_eq!(card("orders").as_f64(), r[0]["orders"].as_f64());
    assert!(card("conversion_rate").as_f64().unwrap() > 0.0, "{year}");
    assert!(card("share_rate").as_f64().unwrap() > 0.0, "{year}");

    std::fs::remove_dir_all(ws.path().join("derived/activity")).unwrap();
    assert_eq!(from_stored, reports());
    ws.ok(&["refresh"]);
    assert!(stored.exists());
    assert_eq!(from_stored, reports());
}
