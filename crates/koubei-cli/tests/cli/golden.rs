//! The golden cases (`koubei-app/tests/golden`, see
//! `koubei-app/tests/common/golden.rs`) through the binary: each run's
//! command line must print what its request gives.

#[path = "../../../koubei-app/tests/common/golden.rs"]
mod cases;

use serde_json::Value;

use crate::util::Ws;

#[test]
fn golden_cases() {
    let mut runs = 0;
    for case in cases::cases() {
        let ws = Ws::new();
        for (table, f) in case.files() {
            ws.ok(&["import", table, f.to_str().unwrap()]);
        }
        for run in &case.runs {
            let mut args: Vec<&str> = run["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            args.extend(["--format", "json"]);
            let out: Value = serde_json::from_str(&ws.ok(&args)).unwrap();
            if let Err(e) = cases::subset(&run["expect"], &out, "") {
                panic!("{}: koubei {}: {e}\n{out:#}", case.name, args.join(" "));
            }
            runs += 1;
        }
    }
    assert!(runs >= 20, "{runs} runs");
}
