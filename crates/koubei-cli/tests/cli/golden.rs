//! Golden cases: small hand-built files in `tests/golden/<case>/` (an
//! `events.csv` and/or `orders.csv`) with `case.json`, which says why each
//! number is what it is and lists command lines with the JSON they must
//! print. An expected object need only name the keys it checks; arrays must
//! match in length and element by element.

use std::path::Path;

use serde_json::Value;

use crate::util::Ws;

fn subset(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let Some(got) = a.get(k) else {
                    return Err(format!("{at}.{k}: missing"));
                };
                subset(v, got, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{at}: {} elements, expected {}", a.len(), e.len()));
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                subset(x, y, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            if (e - a).abs() <= 1e-9 * e.abs().max(1.0) {
                Ok(())
            } else {
                Err(format!("{at}: {a}, expected {e}"))
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{at}: {actual}, expected {expected}")),
    }
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 4,
        "golden cases missing in {}",
        root.display()
    );
    let mut runs = 0;
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let ws = Ws::new();
        for table in ["events", "orders", "customers", "referrals"] {
            let f = case.join(format!("{table}.csv"));
            if f.exists() {
                ws.ok(&["import", table, f.to_str().unwrap()]);
            }
        }
        let spec: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).unwrap())
                .unwrap();
        for run in spec["runs"].as_array().unwrap() {
            let mut args: Vec<&str> = run["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            args.extend(["--format", "json"]);
            let out: Value = serde_json::from_str(&ws.ok(&args)).unwrap();
            if let Err(e) = subset(&run["expect"], &out, "") {
                panic!("{name}: koubei {}: {e}\n{out:#}", args.join(" "));
            }
            runs += 1;
        }
    }
    assert!(runs >= 13, "{runs} runs");
}
