//! Golden cases, shared by the operations' test and the binary's: small
//! hand-built files in `tests/golden/<case>/` (any of `customers.csv`,
//! `orders.csv`, `events.csv`, `referrals.csv`) with `case.json`, which says
//! why each number is what it is and lists runs: an operation and its
//! request, the same as a command line, and the JSON it must give. An
//! expected object need only name the keys it checks; arrays must match in
//! length and element by element; numbers to 1e-9 relative.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The tables a case may hold, in the order they are imported.
pub const TABLES: [&str; 4] = ["customers", "orders", "events", "referrals"];

pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub runs: Vec<Value>,
}

impl Case {
    /// The case's files, as (table, path), in import order.
    pub fn files(&self) -> Vec<(&'static str, PathBuf)> {
        TABLES
            .iter()
            .map(|t| (*t, self.dir.join(format!("{t}.csv"))))
            .filter(|(_, f)| f.exists())
            .collect()
    }
}

/// Every case, in name order.
pub fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../koubei-app/tests/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let spec: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap())
                    .unwrap();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().to_string(),
                runs: spec["runs"].as_array().unwrap().clone(),
                dir,
            }
        })
        .collect()
}

/// Whether `actual` holds what `expected` names.
pub fn subset(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
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
