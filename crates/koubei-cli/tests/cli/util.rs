use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// A workspace in a temporary folder, and a way to run koubei on it.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn new() -> Self {
        Ws {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    /// A file in the temporary folder, outside the workspace.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("koubei").unwrap();
        c.env_remove("KOUBEI_WORKSPACE")
            .arg("--workspace")
            .arg(self.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "koubei {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "koubei {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stderr).unwrap()
    }

    pub fn import(&self, table: &str, file: &Path, extra: &[&str]) -> Value {
        let f = file.to_str().unwrap();
        let mut args = vec!["import", table, f, "--output", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// Imports `text` as the file `name` into `table`; the summary as JSON.
    pub fn load(&self, table: &str, name: &str, text: &str, extra: &[&str]) -> Value {
        let file = self.file(name, text);
        self.import(table, &file, extra)
    }

    /// The binary as a plain process on the workspace, for what assert_cmd
    /// does not set: running in the background, stdout to a given file.
    pub fn process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("koubei"));
        c.env_remove("KOUBEI_WORKSPACE")
            .arg("--workspace")
            .arg(self.path());
        c
    }

    /// Rows of a query as JSON objects.
    pub fn sql(&self, q: &str) -> Vec<Value> {
        let out = self.ok(&["sql", q, "--format", "json"]);
        match serde_json::from_str(&out).unwrap() {
            Value::Array(rows) => rows,
            other => panic!("not an array: {other}"),
        }
    }

    pub fn count(&self, table: &str) -> i64 {
        self.sql(&format!("SELECT count(*) AS n FROM {table}"))[0]["n"]
            .as_i64()
            .unwrap()
    }
}

/// Every report, as `koubei` arguments, each run with `--format json` in
/// the folder of [`report_shop`] (which holds `seeds.json`).
pub const REPORTS: &[&[&str]] = &[
    &["tables"],
    &[
        "sql",
        "SELECT country, count(*) AS n, sum(amount) AS revenue FROM orders GROUP BY country ORDER BY country",
    ],
    &["sales", "--by", "month"],
    &["overview", "--since", "2025-01-01", "--until", "2025-12-31"],
    &[
        "sales",
        "--by",
        "month",
        "--since",
        "2025-04-01",
        "--until",
        "2025-12-31",
    ],
    &["reviews", "--by", "month"],
    &["reviews", "terms", "--top", "10"],
    &["recommend", "together", "--top", "10"],
    &["recommend", "for", "--customer", "c0000001"],
    &[
        "reviews",
        "--by",
        "category",
        "--since",
        "2025-07-01",
        "--until",
        "2025-12-31",
    ],
    &["sales", "--by", "week", "--since", "2025-10-01"],
    &[
        "sales",
        "--by",
        "quarter",
        "--breakdown",
        "country",
        "--top",
        "5",
    ],
    &["sales", "--by", "month", "--breakdown", "category"],
    &[
        "funnel",
        "--steps",
        "view,add_to_cart,checkout,purchase",
        "--window",
        "7d",
    ],
    &[
        "funnel",
        "--steps",
        "view,purchase",
        "--breakdown",
        "channel",
        "--trend",
        "month",
    ],
    &["retention", "--period", "week", "--periods", "8"],
    &[
        "retention",
        "--period",
        "month",
        "--recurring",
        "--breakdown",
        "channel",
    ],
    &["rfm"],
    &["rfm", "--as-of", "2025-12-31", "--from", "2025-06-30"],
    &["clv"],
    &["clv", "--recompute"],
    &["clv", "--model", "pareto", "--compare"],
    &[
        "clv",
        "--calibration-end",
        "2025-06-30",
        "--holdout-end",
        "2025-12-31",
    ],
    &["clv", "--model", "bgbb", "--unit", "month"],
    &["wom", "metrics"],
    &["wom", "cascades", "--top", "5"],
    &["wom", "reach", "--home", "CN"],
    &["wom", "seeds", "-k", "5"],
    &["wom", "seeds", "-k", "5", "--objective", "regions"],
    &["wom", "seeds", "-k", "5", "--objective", "countries"],
    &["wom", "simulate", "--seeds", "seeds.json", "--runs", "300"],
];

/// The demo shop the [`REPORTS`] run on, with a second file of orders and
/// the seeds that `wom simulate` reads.
pub fn report_shop() -> Ws {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "1500", "--seed", "11"]);
    // A second file of orders whose amounts a float sum gets wrong in
    // its last digits (0.1 + 0.2), on days the demo also has.
    let mut extra = String::from("order_id,customer_id,ts,amount,country,category\n");
    for i in 0..300 {
        let amount = ["0.10", "0.20", "1234567.89", "0.30", "19.99"][i % 5];
        extra.push_str(&format!(
            "x{i},c{},2025-0{}-1{}T10:00:00Z,{amount},{},toys\n",
            i % 40,
            1 + i % 9,
            i % 10,
            ["CN", "US", "JP"][i % 3]
        ));
    }
    ws.load("orders", "extra.csv", &extra, &[]);
    let seeds = ws.ok(&["wom", "seeds", "-k", "5", "--format", "json"]);
    std::fs::write(ws.dir.path().join("seeds.json"), seeds).unwrap();
    ws
}

/// The first lines where two outputs differ (empty when one ends first).
pub fn first_difference<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    a.lines()
        .zip(b.lines())
        .find(|(x, y)| x != y)
        .unwrap_or_default()
}
