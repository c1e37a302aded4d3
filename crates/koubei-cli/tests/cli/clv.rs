//! `koubei clv` from raw transactions to published parameters.

use std::path::PathBuf;

use serde_json::Value;

use crate::util::Ws;

fn cdnow() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/CDNOW_sample.txt")
}

/// The raw CDNOW sample (Fader, Hardie & Lee 2005) as it ships with lifetimes:
/// no header, fields separated by runs of blanks, dates as YYYYMMDD.
fn import_cdnow(ws: &Ws) -> Value {
    let f = cdnow();
    ws.import(
        "orders",
        &f,
        &[
            "--delimiter",
            "whitespace",
            "--columns",
            "master_id,customer_id,ts,quantity,amount",
        ],
    )
}

fn clv(ws: &Ws, args: &[&str]) -> Value {
    let mut all = vec!["clv", "--calibration-end", "1997-09-30", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ws.ok(&all)).unwrap()
}

fn close(v: &Value, want: f64, tol: f64) -> bool {
    (v.as_f64().unwrap() - want).abs() <= tol
}

#[test]
fn cdnow_raw_transactions_give_the_published_parameters() {
    let ws = Ws::new();
    let report = import_cdnow(&ws);
    assert_eq!(report["loaded"], 6919);
    // Importing the same file again adds nothing.
    assert_eq!(import_cdnow(&ws)["loaded"], 0);

    let bg = clv(&ws, &["--model", "bgnbd"]);
    assert_eq!(bg["customers"], 2357);
    assert_eq!(bg["repeat_buyers"], 946);
    // FHL (2005): r = 0.243, α = 4.414, a = 0.793, b = 2.426.
    let p = &bg["params"];
    for (name, want) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        assert!(close(&p[name], want, 0.0005), "{name}: {}", p[name]);
    }
    // lifetimes 0.11.3 on the same raw file, summary_data_from_transaction_data
    // (freq D, freq_multiplier 7) then BetaGeoFitter: to 1e-4 relative.
    for (name, want) in [
        ("r", 0.242_594_543_4),
        ("alpha", 4.413_602_716),
        ("a", 0.792_921_833_3),
        ("b", 2.425_905_729),
    ] {
        assert!(
            close(&p[name], want, 1e-4 * want),
            "{name}: {} vs lifetimes {want}",
            p[name]
        );
    }
    assert!(
        close(&bg["fit"]["log_likelihood"], -9582.43, 0.01),
        "{}",
        bg["fit"]["log_likelihood"]
    );

    let pareto = clv(&ws, &["--model", "pareto"]);
    let p = &pareto["params"];
    for (name, want, tol) in [
        ("r", 0.553, 0.0005),
        ("alpha", 10.578, 0.0005),
        ("s", 0.606, 0.0005),
        ("beta", 11.669, 0.002),
    ] {
        assert!(close(&p[name], want, tol), "{name}: {}", p[name]);
    }

    let gg = clv(&ws, &["--model", "gamma-gamma"]);
    // FHL (2005) "RFM and CLV": p = 6.25, q = 3.74, v = 15.44.
    for (name, want) in [("p", 6.25), ("q", 3.74), ("v", 15.44)] {
        assert!(
            close(&gg["params"][name], want, 0.005),
            "{name}: {}",
            gg["params"][name]
        );
    }
}

#[test]
fn holdout_and_export_agree_with_sql() {
    let ws = Ws::new();
    import_cdnow(&ws);
    let out = ws.dir.path().join("customers.csv");
    let report = clv(
        &ws,
        &[
            "--holdout-end",
            "1998-06-30",
            "--horizon",
            "39w",
            "--compare",
            "--export",
            out.to_str().unwrap(),
        ],
    );
    let rows = report["holdout"].as_array().unwrap();
    let customers: u64 = rows.iter().map(|r| r["customers"].as_u64().unwrap()).sum();
    assert_eq!(customers, 2357);
    // The actual holdout purchases of one-time buyers, counted independently:
    // distinct purchase days after the calibration end, per customer whose
    // every calibration purchase fell on one day.
    let sql = ws.sql(
        "WITH cal AS (SELECT customer_id FROM orders WHERE ts < TIMESTAMP '1997-10-01T00:00:00Z'
                      GROUP BY customer_id HAVING count(DISTINCT date_trunc('day', ts)) = 1),
              hold AS (SELECT customer_id, count(DISTINCT date_trunc('day', ts)) AS n FROM orders
                       WHERE ts >= TIMESTAMP '1997-10-01T00:00:00Z' AND ts < TIMESTAMP '1998-07-01T00:00:00Z'
                       GROUP BY customer_id)
         SELECT CAST(sum(COALESCE(hold.n, 0)) AS DOUBLE) / count(*) AS mean, count(*) AS n
         FROM cal LEFT JOIN hold ON cal.customer_id = hold.customer_id",
    );
    assert_eq!(rows[0]["frequency"], 0);
    assert_eq!(rows[0]["customers"], sql[0]["n"]);
    assert!(close(
        &rows[0]["actual"],
        sql[0]["mean"].as_f64().unwrap(),
        1e-12
    ));
    // FHL's conditional expectation holds up: predicted and actual agree for the
    // largest group to within 0.02 purchases per customer.
    assert!(
        close(
            &rows[0]["predicted"],
            rows[0]["actual"].as_f64().unwrap(),
            0.02
        ),
        "{}",
        rows[0]
    );

    // Predicted and actual repeat-purchase histograms: each bucket within 25 customers.
    for h in report["histogram"].as_array().unwrap() {
        assert!(
            close(&h["predicted"], h["actual"].as_f64().unwrap(), 25.0),
            "{h}"
        );
    }
    let models: Vec<&str> = report["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["bgnbd", "mbgnbd", "pareto"]);

    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer_id,frequency,recency,T,monetary_value,p_alive,expected_purchases,expected_spend,clv"
    );
    // One row per customer, in id order, whatever order the engine grouped them in.
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 2357);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "not in id order");
    // Customer 1 is FHL's example: x = 2, tₓ = 30.43, T = 38.86.
    let one = csv.lines().find(|l| l.starts_with("0001,")).unwrap();
    let f: Vec<f64> = one.split(',').skip(1).map(|v| v.parse().unwrap()).collect();
    assert_eq!(f[0], 2.0);
    assert!(
        (f[1] - 30.428_571).abs() < 1e-5 && (f[2] - 38.857_143).abs() < 1e-5,
        "{one}"
    );
    assert!(
        (f[5] - 1.226).abs() < 0.001,
        "expected purchases over 39 weeks: {}",
        f[5]
    );
}

/// The demo shop's purchases are drawn from BG/NBD and its spend from
/// Gamma–Gamma with the parameters in demo.json; the fit finds them again.
#[test]
fn demo_parameters_are_recovered() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "3000", "--seed", "11"]);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("demo.json")).unwrap())
            .unwrap();
    let report: Value = serde_json::from_str(&ws.ok(&["clv", "--format", "json"])).unwrap();
    for (model, truth) in [
        (&report["fit"], &truth["purchases"]),
        (&report["spend"], &truth["spend"]),
    ] {
        for (name, want) in truth.as_object().unwrap() {
            let got = model["params"][name].as_f64().unwrap();
            let se = model["std_errors"][name].as_f64().unwrap();
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() < 3.0 * se,
                "{name}: {got} ± {se}, truth {want}"
            );
        }
    }
}

#[test]
fn bad_requests_are_explained() {
    let ws = Ws::new();
    let customers = ws.file("customers.csv", "customer_id,first_seen\nc1,2024-01-01\n");
    ws.import("customers", &customers, &[]);
    let e = ws.fails(&["clv"]);
    assert!(e.contains("no paid orders"), "{e}");
    import_cdnow(&ws);
    let e = ws.fails(&["clv", "--calibration-end", "1990-01-01"]);
    assert!(
        e.contains("before the first paid order, on 1997-01-01"),
        "{e}"
    );
    let e = ws.fails(&[
        "clv",
        "--calibration-end",
        "1997-09-30",
        "--holdout-end",
        "1997-09-01",
    ]);
    assert!(e.contains("must be after the calibration end"), "{e}");
    // On the first day only one-time buyers exist.
    let e = ws.fails(&["clv", "--calibration-end", "1997-01-01"]);
    assert!(e.contains("no customer bought more than once"), "{e}");
    // A rate that would print CLV inf or NaN is refused, by its flag.
    for rate in ["-1", "NaN", "1e308"] {
        let e = ws.fails(&["clv", &format!("--discount-rate={rate}")]);
        assert!(
            e.contains("--discount-rate: must be a yearly rate from 0 to 1"),
            "{rate}: {e}"
        );
    }
    let e = ws.fails(&["clv", "--penalizer=-0.5"]);
    assert!(e.contains("--penalizer: must be 0 or more"), "{e}");
    let e = ws.fails(&["clv", "--model", "nbd"]);
    assert!(
        e.contains("expected bgnbd, mbgnbd, pareto, bgbb or gamma-gamma"),
        "{e}"
    );
}

/// RFM segments partition the customers; the export holds exactly the chosen
/// segments; the migration accounts for every customer.
#[test]
fn rfm_segments_export_and_migration() {
    let ws = Ws::new();
    import_cdnow(&ws);
    let out = ws.dir.path().join("campaign.csv");
    let report: Value = serde_json::from_str(&ws.ok(&[
        "rfm",
        "--as-of",
        "1998-06-30",
        "--from",
        "1997-09-30",
        "--format",
        "json",
        "--export",
        out.to_str().unwrap(),
        "--segment",
        "At Risk",
        "--segment",
        "Can't Lose Them",
    ]))
    .unwrap();
    assert_eq!(report["customers"], 2357);
    let segments = report["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 11);
    let total: u64 = segments
        .iter()
        .map(|s| s["customers"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2357);
    let share: f64 = segments
        .iter()
        .map(|s| s["revenue_share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-9);
    let chosen: u64 = segments
        .iter()
        .filter(|s| s["segment"] == "At Risk" || s["segment"] == "Can't Lose Them")
        .map(|s| s["customers"].as_u64().unwrap())
        .sum();
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count() as u64, chosen + 1);
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.contains(",At Risk,") || l.contains(",Can't Lose Them,"))
    );
    let moved: u64 = report["migration"]["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[2].as_u64().unwrap())
        .sum();
    assert_eq!(moved, 2357);
    // Every CDNOW customer bought in the first quarter of 1997, so none is new since.
    assert!(
        report["migration"]["moves"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m[0] != "(new)")
    );
    let e = ws.fails(&["rfm", "--segment", "Sleepy"]);
    assert!(e.contains("unknown segment"), "{e}");
}

/// The export holds one row per customer, in id order, and adds up to the
/// report's totals; BG/BB's rows count whole transaction opportunities.
#[test]
fn exports_add_up_to_the_totals() {
    let ws = Ws::new();
    import_cdnow(&ws);
    for model in ["bgnbd", "bgbb"] {
        let out = ws.dir.path().join(format!("{model}.csv"));
        let report = clv(&ws, &["--model", model, "--export", out.to_str().unwrap()]);
        let csv = std::fs::read_to_string(&out).unwrap();
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert!(
            rows.windows(2).all(|w| w[0][0] < w[1][0]),
            "{model}: not in id order"
        );
        let num = |r: &Vec<&str>, i: usize| r[i].parse::<f64>().unwrap();
        let purchases: f64 = rows.iter().map(|r| num(r, 6)).sum();
        let clv_sum: f64 = rows.iter().map(|r| num(r, 8)).sum();
        assert!(
            close(&report["expected_purchases"], purchases, 1e-6 * purchases),
            "{model}"
        );
        assert!(
            close(&report["total_clv"], clv_sum, 1e-6 * clv_sum),
            "{model}"
        );
        for r in &rows {
            let (x, t_x, t, p) = (num(r, 1), num(r, 2), num(r, 3), num(r, 5));
            assert!(
                x <= t && t_x <= t && (0.0..=1.0).contains(&p),
                "{model}: {r:?}"
            );
            if model == "bgbb" {
                assert_eq!(x.fract() + t_x.fract() + t.fract(), 0.0, "{r:?}");
            }
        }
        // CDNOW's 2,357 customers all bought by March 1997; with weekly
        // opportunities every one has had a whole one by the end of September.
        assert_eq!(rows.len(), 2357, "{model}");
    }
}

/// The CLV beside each RFM row (its summary comes from the RFM query) is
/// the `clv` command's for the same calibration end, unit, horizon and rate.
#[test]
fn rfm_clv_is_the_clv_commands() {
    let ws = Ws::new();
    import_cdnow(&ws);
    let (rfm, clv) = (ws.dir.path().join("rfm.csv"), ws.dir.path().join("clv.csv"));
    ws.ok(&[
        "rfm",
        "--as-of",
        "1998-06-30",
        "--export",
        rfm.to_str().unwrap(),
    ]);
    ws.ok(&[
        "clv",
        "--calibration-end",
        "1998-06-30",
        "--unit",
        "week",
        "--horizon",
        "1y",
        "--discount-rate",
        "0.1",
        "--export",
        clv.to_str().unwrap(),
    ]);
    // customer_id → clv, by the header's column names.
    let values = |path: &std::path::Path| -> std::collections::HashMap<String, f64> {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (id, value) = (at("customer_id"), at("clv"));
        lines
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                (cells[id].to_string(), cells[value].parse().unwrap())
            })
            .collect()
    };
    let (by_rfm, by_clv) = (values(&rfm), values(&clv));
    assert_eq!(by_rfm.len(), 2357);
    assert_eq!(by_rfm.len(), by_clv.len());
    let total: f64 = by_clv.values().sum();
    assert!(total > 1000.0, "{total}");
    for (id, v) in &by_rfm {
        let w = by_clv[id];
        // The RFM export rounds to cents.
        assert!((v - w).abs() <= 0.005 + 1e-9 * w.abs(), "{id}: {v} vs {w}");
    }
}

/// An import of orders stores each customer's purchases, and `clv` and `rfm`
/// without dates give the same output from them as from the order lines
/// (`--recompute`), or without them at all; `refresh` stores them again.
#[test]
fn stored_purchases_give_the_same_reports() {
    let ws = Ws::new();
    import_cdnow(&ws);
    let stored = ws.path().join("derived/customer_purchases/_delta_log");
    assert!(stored.exists());
    let rfm_csv = |name: &str, extra: &[&str]| {
        let file = ws.dir.path().join(name);
        let mut args = vec![
            "rfm",
            "--format",
            "json",
            "--export",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        (ws.ok(&args), std::fs::read_to_string(&file).unwrap())
    };
    let reports = |extra: &[&str]| {
        let mut out: Vec<String> = ["bgnbd", "mbgnbd", "pareto", "gamma-gamma"]
            .iter()
            .map(|m| {
                let mut args = vec!["clv", "--model", m, "--format", "json"];
                args.extend_from_slice(extra);
                ws.ok(&args)
            })
            .collect();
        let (json, csv) = rfm_csv("rfm.csv", extra);
        out.extend([json, csv]);
        // With each customer's values (which then read the ids), the same
        // report, and the values exported.
        for m in ["bgnbd", "bgbb"] {
            let file = ws.dir.path().join("clv.csv");
            let mut args = vec!["clv", "--model", m, "--format", "json"];
            args.extend_from_slice(extra);
            let without = ws.ok(&args);
            args.extend(["--export", file.to_str().unwrap()]);
            assert_eq!(ws.ok(&args), without, "{m} {extra:?}");
            out.push(std::fs::read_to_string(&file).unwrap());
        }
        out
    };
    let from_stored = reports(&[]);
    let bg: Value = serde_json::from_str(&from_stored[0]).unwrap();
    assert_eq!(bg["customers"], 2357);
    assert_eq!(bg["calibration_end"], "1998-06-30");
    assert_eq!(from_stored, reports(&["--recompute"]));
    // An end on or after the last paid day (1998-06-30) reads the stored
    // rows, one before it groups the lines: the same reports as grouping.
    for day in ["1998-06-30", "1998-07-15", "1998-06-29"] {
        let rfm = |extra: &[&str]| {
            let mut args = vec!["rfm", "--as-of", day, "--format", "json"];
            args.extend_from_slice(extra);
            ws.ok(&args)
        };
        assert_eq!(rfm(&[]), rfm(&["--recompute"]), "{day}");
        let clv = |extra: &[&str]| {
            let mut args = vec!["clv", "--calibration-end", day, "--format", "json"];
            args.extend_from_slice(extra);
            ws.ok(&args)
        };
        assert_eq!(clv(&[]), clv(&["--recompute"]), "{day}");
    }

    // Without them (as in a workspace imported before koubei stored them),
    // the same; `refresh` stores them.
    std::fs::remove_dir_all(ws.path().join("derived")).unwrap();
    assert_eq!(from_stored, reports(&[]));
    assert!(!stored.exists());
    ws.ok(&["refresh"]);
    assert!(stored.exists());
    assert_eq!(from_stored, reports(&[]));
}

/// Every order of the same amount: Gamma–Gamma has nothing to fit, and says
/// so; the counting model still answers, without expected spend.
#[test]
fn a_constant_spend_is_named_not_fitted() {
    let ws = Ws::new();
    let mut csv = String::from("order_id,customer_id,ts,amount\n");
    for c in 0..30 {
        for k in 0..=(c % 4) {
            csv.push_str(&format!(
                "o{c}-{k},c{c},2024-0{}-{:02}T10:00:00Z,0.1\n",
                1 + k,
                1 + c % 28
            ));
        }
    }
    ws.load("orders", "constant.csv", &csv, &[]);
    let err = ws.fails(&["clv", "--model", "gamma-gamma"]);
    assert!(err.contains("no spread"), "{err}");
    assert!(err.contains("0.1000"), "{err}");
    let out: Value = serde_json::from_str(&ws.ok(&["clv", "--format", "json"])).unwrap();
    let warnings = out["warnings"].to_string();
    assert!(warnings.contains("no spread"), "{warnings}");
}
