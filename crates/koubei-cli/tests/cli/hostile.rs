//! Probes of hostile use that are not about one file or one writer (those
//! live in `malformed.rs`, `writers.rs` and `kill.rs`): arguments no user
//! should type, and query shapes that once ran for minutes.

use std::time::{Duration, Instant};

use crate::util::Ws;

/// Values a flag may be given: out of range, malformed, empty, huge,
/// negative, paths that are not files, and a few valid ones.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "3",
    "2.5",
    "1e308",
    "NaN",
    "-inf",
    "99999999999999999999",
    "",
    " ",
    "x",
    "日本",
    "2024-02-30",
    "0000-01-01",
    "9999-12-31",
    "2025-06-30",
    "1d",
    "0s",
    "-3d",
    "view",
    "view,purchase",
    "view[channel=app],purchase",
    "view[nope=1],,purchase",
    "a=b",
    "ts=nope",
    ",",
    "--",
    "../../etc/passwd",
    "/dev/null",
    "/",
    "NOPE:1-2",
    "const:2",
    "learned",
    "CN",
    "month",
    "quarter",
];

type Flag = (&'static str, &'static [&'static str]);

const DAYS: &[&str] = &["2024-06-01", "2025-06-30", "2025-12-31", "2020-01-01"];
const PERIODS: &[&str] = &["day", "week", "month", "quarter", "year"];
const COUNTS: &[&str] = &["0", "1", "3", "20"];

/// Each command with the flags it takes, and values each may well have.
const COMMANDS: &[(&[&str], &[Flag])] = &[
    (
        &["sales"],
        &[
            ("--by", PERIODS),
            ("--breakdown", &["country", "channel", "category", "nope"]),
            ("--top", COUNTS),
            ("--since", DAYS),
            ("--until", DAYS),
        ],
    ),
    (
        &["funnel", "--steps", "view,purchase"],
        &[
            (
                "--steps",
                &[
                    "view,add_to_cart,purchase",
                    "purchase",
                    "view[channel=app],purchase",
                ],
            ),
            ("--window", &["1h", "7d", "30d"]),
            ("--order", &["ordered", "strict", "any"]),
            (
                "--exclude",
                &["support_call:1-2", "view:2-1", "purchase:1-9"],
            ),
            ("--breakdown", &["channel", "country", "nope"]),
            ("--trend", PERIODS),
            ("--since", DAYS),
            ("--until", DAYS),
        ],
    ),
    (
        &["retention"],
        &[
            ("--period", PERIODS),
            ("--periods", COUNTS),
            ("--start-event", &["view", "purchase", "nope"]),
            ("--return-event", &["purchase", "view"]),
            ("--breakdown", &["channel", "nope"]),
            ("--since", DAYS),
            ("--until", DAYS),
        ],
    ),
    (
        &["rfm"],
        &[
            ("--as-of", DAYS),
            ("--from", DAYS),
            ("--segment", &["At Risk", "Champions", "nope"]),
        ],
    ),
    (
        &["clv"],
        &[
            (
                "--model",
                &["bgnbd", "pareto", "bgbb", "mbgnbd", "gamma-gamma"],
            ),
            ("--unit", PERIODS),
            ("--horizon", &["6m", "1y", "0d", "52w"]),
            ("--discount-rate", &["0", "0.1", "1"]),
            ("--penalizer", &["0", "0.01", "5"]),
            ("--calibration-end", DAYS),
            ("--holdout-end", DAYS),
        ],
    ),
    (
        &["wom", "metrics"],
        &[("--by", PERIODS), ("--share-window", COUNTS)],
    ),
    (
        &["wom", "cascades"],
        &[
            ("--top", COUNTS),
            ("--tree-nodes", COUNTS),
            ("--by", PERIODS),
        ],
    ),
    (
        &["wom", "reach"],
        &[
            ("--home", &["CN", "US", "XX"]),
            ("--by", PERIODS),
            ("--top", COUNTS),
        ],
    ),
    (
        &["wom", "seeds", "-k", "3"],
        &[
            ("-k", COUNTS),
            ("--epsilon", &["0.1", "0.5", "1"]),
            ("--delta", &["0.1", "0.5"]),
            ("--objective", &["people", "regions", "countries"]),
            ("--model", &["learned", "wc", "const:0.1"]),
            ("--graph", &["o.csv", "g.txt"]),
        ],
    ),
    (
        &["wom", "simulate", "--runs", "50"],
        &[
            ("--seeds", &["seeds.txt", "o.csv"]),
            ("--runs", &["1", "50"]),
            ("--model", &["learned", "const:0.5"]),
            ("--graph", &["g.txt"]),
        ],
    ),
    (
        &["import", "orders", "o.csv"],
        &[
            ("--map", &["customer_id=order_id", "amount=ts", "nope=x"]),
            ("--delimiter", &[",", ";", "tab"]),
            ("--timezone", &["Asia/Shanghai", "-03:00", "UTC"]),
            ("--max-reject-ratio", &["0", "1", "0.5"]),
            ("--format", &["csv", "jsonl", "parquet"]),
            ("--columns", &["a,b,c,d", "order_id,customer_id,ts,amount"]),
        ],
    ),
    (&["tables"], &[("--format", &["json", "csv", "table"])]),
];

/// Random commands from these parts never print a panic or a backtrace,
/// never hang, and exit 0 (done), 1 (refused with a reason) or 2 (a flag
/// clap could not parse).
#[test]
fn fuzzed_arguments_never_panic() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "300", "--seed", "3"]);
    for (name, text) in [
        (
            "o.csv",
            "order_id,customer_id,ts,amount\no1,c1,2024-01-01,5\n",
        ),
        ("g.txt", "1 2\n2 3\n3 1\n"),
        ("seeds.txt", "1\n"),
    ] {
        std::fs::write(ws.dir.path().join(name), text).unwrap();
    }
    // xorshift64: the same cases on every run. KOUBEI_FUZZ_SEED and
    // KOUBEI_FUZZ_CASES explore further.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut state = env("KOUBEI_FUZZ_SEED", 0x6b6f_7562_6569).max(1);
    let cases = env("KOUBEI_FUZZ_CASES", 200);
    let mut next = |m: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % m as u64) as usize
    };
    let mut failures = Vec::new();
    let mut exits = [0usize; 3];
    for _ in 0..cases {
        let (base, flags) = COMMANDS[next(COMMANDS.len())];
        let mut args: Vec<&str> = base.to_vec();
        for _ in 0..1 + next(3) {
            let (flag, good) = flags[next(flags.len())];
            args.push(flag);
            // Half of the values are ones the flag may take, so that the
            // cases reach the operations, not only the parser.
            args.push(if next(2) == 0 {
                good[next(good.len())]
            } else {
                VALUES[next(VALUES.len())]
            });
        }
        let started = Instant::now();
        let mut child = ws
            .process()
            .current_dir(ws.dir.path())
            .env("RUST_BACKTRACE", "1")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if started.elapsed() > Duration::from_secs(60) {
                child.kill().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let shown_panic = [
            "panicked",
            "stack backtrace",
            "RUST_BACKTRACE",
            "internal error",
        ]
        .iter()
        .any(|p| stderr.contains(p));
        if let Some(c @ 0..=2) = code {
            exits[c as usize] += 1;
        }
        if shown_panic || !matches!(code, Some(0..=2)) {
            failures.push(format!("koubei {args:?}: exit {code:?}\n{stderr}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The cases reach the operations, not only the parser.
    eprintln!("exits 0, 1, 2: {exits:?}");
    assert!(exits[0] >= 10 && exits[1] >= 10, "{exits:?}");
}

/// `count(DISTINCT (a, b))` beside another aggregate counts row keys (it
/// took minutes at 270k rows), and counts what DataFusion counts.
#[test]
fn distinct_count_of_a_pair_counts_row_keys() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "300", "--seed", "3"]);
    let q = "SELECT count(*) AS n, count(DISTINCT (order_id, line)) AS d, \
             count(DISTINCT (customer_id, product_id)) AS cp FROM orders";
    let plan = ws.ok(&["sql", &format!("EXPLAIN {q}")]);
    assert!(plan.contains("koubei_row_key"), "{plan}");
    let got = ws.sql(q);
    let want = ws.sql(
        "SELECT (SELECT count(*) FROM orders) AS n, \
                (SELECT count(*) FROM (SELECT DISTINCT order_id, line FROM orders)) AS d, \
                (SELECT count(*) FROM (SELECT DISTINCT customer_id, product_id FROM orders)) AS cp",
    );
    assert_eq!(got, want);
    assert_eq!(got[0]["n"], got[0]["d"], "(order_id, line) is the key");
}

/// A koubei built without Ballista says so, and how to build one with it.
#[cfg(not(feature = "cluster"))]
#[test]
fn cluster_without_the_feature_says_how_to_build_it() {
    let ws = Ws::new();
    for args in [
        &["--cluster", "df://localhost:50050", "sales"][..],
        &["cluster", "scheduler"][..],
    ] {
        let e = ws.fails(args);
        assert!(e.contains("built without cluster support"), "{e}");
        assert!(e.contains("--features cluster"), "{e}");
    }
}
