//! `koubei serve` as a user runs it: its answers equal the command line's
//! `--format json` for the same request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::util::Ws;

/// The server, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `koubei serve` on a free port; its address from what it prints.
pub fn start(ws: &Ws, extra: &[&str]) -> (Server, String) {
    let mut child = ws
        .process()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address line, after any warnings (a torn log tail cut after a
    // kill is one).
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    while !line.contains("http://") {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if !line.contains("http://") {
            eprintln!("server: {}", line.trim_end());
        }
    }
    // The rest of its log is read (and shown with the test's output), so
    // that the server never writes to a closed pipe.
    std::thread::spawn(move || {
        for l in stderr.lines().map_while(Result::ok) {
            eprintln!("server: {l}");
        }
    });
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (Server(child), addr)
}

/// One HTTP/1.1 GET: the status and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[test]
fn the_api_answers_what_the_command_line_prints() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "400", "--seed", "9"]);
    let (_server, addr) = start(&ws, &[]);
    let same: &[(&[&str], &str)] = &[
        (&["tables"], "/v1/tables"),
        (&["overview"], "/v1/overview"),
        (
            &[
                "overview",
                "--since",
                "2025-01-01",
                "--until",
                "2025-03-31",
                "--by",
                "month",
            ],
            "/v1/overview?since=2025-01-01&until=2025-03-31&by=month",
        ),
        (&["sales", "--by", "month"], "/v1/sales?by=month"),
        (
            &[
                "sales",
                "--by",
                "quarter",
                "--breakdown",
                "country",
                "--top",
                "5",
            ],
            "/v1/sales?by=quarter&breakdown=country&top=5",
        ),
        (
            &[
                "funnel",
                "--steps",
                "view,add_to_cart[channel=app],purchase",
                "--window",
                "7d",
            ],
            "/v1/funnel?steps=view,add_to_cart%5Bchannel%3Dapp%5D,purchase&window_seconds=604800",
        ),
        (
            &["retention", "--period", "week", "--periods", "6"],
            "/v1/retention?period=week&periods=6",
        ),
        (
            &["rfm", "--as-of", "2025-12-31"],
            "/v1/rfm?as_of=2025-12-31",
        ),
        (&["clv"], "/v1/clv"),
        (
            &["clv", "--model", "pareto", "--unit", "day"],
            "/v1/clv?model=pareto&unit=day",
        ),
        (&["wom", "metrics"], "/v1/wom/metrics"),
        (&["wom", "cascades", "--top", "5"], "/v1/wom/cascades?top=5"),
        (&["wom", "reach", "--home", "CN"], "/v1/wom/reach?home=CN"),
        (
            &["reviews", "--by", "product", "--top", "5"],
            "/v1/reviews?by=product&top=5",
        ),
        (
            &["reviews", "terms", "--top", "5"],
            "/v1/reviews/terms?top=5",
        ),
        (
            &["reviews", "list", "--aspect", "logistics", "--rating", "1"],
            "/v1/reviews/list?aspect=logistics&rating=1",
        ),
        (
            &["recommend", "together", "--top", "5", "--min-orders", "2"],
            "/v1/recommend/together?top=5&min_orders=2",
        ),
    ];
    for (args, path) in same {
        let mut cli_args = args.to_vec();
        cli_args.extend(["--format", "json"]);
        let cli: Value = serde_json::from_str(&ws.ok(&cli_args)).unwrap();
        let (status, body) = get(&addr, path);
        assert_eq!(status, 200, "{path}: {body}");
        let api: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(api, cli, "koubei {args:?} against GET {path}");
    }
    let (status, body) = get(&addr, "/v1/sales?by=fortnight");
    assert_eq!(status, 400);
    assert!(body.contains("\"field\":\"by\""), "{body}");
}

/// `--auth read` without a token is refused at the start; with one, reads
/// need it.
#[test]
fn reads_behind_the_token() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "100", "--seed", "9"]);
    let out = ws
        .process()
        .env_remove("KOUBEI_TOKEN")
        .args(["serve", "--addr", "127.0.0.1:0", "--auth", "read"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--auth read needs a token: --token or KOUBEI_TOKEN"),
        "{stderr}"
    );
    let (_server, addr) = start(&ws, &["--auth", "read", "--token", "t0ken"]);
    assert_eq!(get(&addr, "/v1/tables").0, 401);
    assert_eq!(get(&addr, "/v1/health").0, 200);
}

/// The overview's range totals equal plain SQL over the orders: revenue,
/// orders and buyers of the range, and of the range before it.
#[test]
fn overview_totals_equal_plain_sql() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "400", "--seed", "9"]);
    let o: Value = serde_json::from_str(&ws.ok(&[
        "overview",
        "--since",
        "2025-02-10",
        "--until",
        "2025-05-20",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(o["previous"]["since"], "2024-11-02");
    assert_eq!(o["previous"]["until"], "2025-02-09");
    let kpi = |key: &str, which: &str| {
        o["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == key)
            .unwrap()[which]
            .as_f64()
            .unwrap()
    };
    for (which, since, next) in [
        ("value", "2025-02-10", "2025-05-21"),
        ("previous", "2024-11-02", "2025-02-10"),
    ] {
        let row = &ws.sql(&format!(
            "SELECT CAST(sum(amount) AS DOUBLE) AS r, count(DISTINCT order_id) AS o,
                    count(DISTINCT customer_id) AS b
             FROM orders WHERE status = 'paid'
               AND ts >= TIMESTAMP '{since}T00:00:00Z' AND ts < TIMESTAMP '{next}T00:00:00Z'"
        ))[0];
        assert!((kpi("revenue", which) - row["r"].as_f64().unwrap()).abs() < 1e-6);
        assert_eq!(kpi("orders", which), row["o"].as_f64().unwrap());
        assert_eq!(kpi("buyers", which), row["b"].as_f64().unwrap());
        assert!(kpi("buyers", which) > 0.0);
        // New buyers: first paid order ever in the range.
        let new = &ws.sql(&format!(
            "SELECT count(*) AS n FROM (SELECT customer_id, min(ts) AS f FROM orders
               WHERE status = 'paid' GROUP BY 1)
             WHERE f >= TIMESTAMP '{since}T00:00:00Z' AND f < TIMESTAMP '{next}T00:00:00Z'"
        ))[0];
        assert_eq!(kpi("new_buyers", which), new["n"].as_f64().unwrap());
        assert!(kpi("new_buyers", which) > 0.0);
    }
    // Repeat buyers: buyers of the range with two paid orders by its end.
    let repeat = &ws.sql(
        "WITH n AS (SELECT customer_id, count(DISTINCT order_id) AS k FROM orders
                    WHERE status = 'paid' AND ts < TIMESTAMP '2025-05-21T00:00:00Z' GROUP BY 1),
              b AS (SELECT DISTINCT customer_id FROM orders WHERE status = 'paid'
                    AND ts >= TIMESTAMP '2025-02-10T00:00:00Z' AND ts < TIMESTAMP '2025-05-21T00:00:00Z')
         SELECT CAST(sum(CASE WHEN k >= 2 THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS rate
         FROM b JOIN n USING (customer_id)",
    )[0];
    assert!((kpi("repeat_rate", "value") - repeat["rate"].as_f64().unwrap()).abs() < 1e-12);
    // Conversion: people with an event in the range who bought in it.
    let range = "ts >= TIMESTAMP '2025-02-10T00:00:00Z' AND ts < TIMESTAMP '2025-05-21T00:00:00Z'";
    let conversion = &ws.sql(&format!(
        "WITH v AS (SELECT DISTINCT COALESCE(customer_id, 'a:' || anonymous_id) AS p, customer_id
                    FROM events WHERE {range}),
              b AS (SELECT DISTINCT customer_id FROM orders WHERE status = 'paid' AND {range})
         SELECT CAST(count(DISTINCT CASE WHEN b.customer_id IS NOT NULL THEN v.p END) AS DOUBLE)
                / count(DISTINCT v.p) AS rate
         FROM v LEFT JOIN b ON b.customer_id = v.customer_id"
    ))[0];
    let rate = kpi("conversion_rate", "value");
    assert!(rate > 0.0 && rate < 1.0);
    assert!((rate - conversion["rate"].as_f64().unwrap()).abs() < 1e-12);
    // Share rate: buyers of the range who shared in it. K-factor: shares
    // of the range that brought a new customer (one whose first paid order
    // came at or after the share), per buyer.
    let sharing = &ws.sql(&format!(
        "WITH b AS (SELECT DISTINCT customer_id FROM orders WHERE status = 'paid' AND {range}),
              f AS (SELECT customer_id, min(ts) AS t FROM orders WHERE status = 'paid' GROUP BY 1),
              s AS (SELECT * FROM referrals WHERE {range})
         SELECT CAST((SELECT count(DISTINCT sharer_id) FROM s JOIN b ON b.customer_id = s.sharer_id) AS DOUBLE)
                  / (SELECT count(*) FROM b) AS share_rate,
                CAST((SELECT count(*) FROM s LEFT JOIN f ON f.customer_id = s.recipient_id
                      WHERE COALESCE(s.ordered, f.t >= s.ts) AND (f.t IS NULL OR f.t >= s.ts)) AS DOUBLE)
                  / (SELECT count(*) FROM b) AS k"
    ))[0];
    let share_rate = kpi("share_rate", "value");
    assert!(share_rate > 0.0 && share_rate < 1.0);
    assert!((share_rate - sharing["share_rate"].as_f64().unwrap()).abs() < 1e-12);
    let k = kpi("k_factor", "value");
    assert!(k > 0.0);
    assert!((k - sharing["k"].as_f64().unwrap()).abs() < 1e-12);
}

/// `koubei report` writes one file that needs nothing else; a shop with
/// orders only has no word-of-mouth section, and says so instead of failing.
#[test]
fn a_report_is_one_file_and_says_what_it_lacks() {
    let ws = Ws::new();
    ws.load(
        "orders",
        "orders.csv",
        "order_id,customer_id,ts,amount\no1,c1,2025-03-01T10:00:00Z,10.50\no2,c2,2025-03-02T10:00:00Z,20\no3,c1,2025-04-01T10:00:00Z,5.25\n",
        &[],
    );
    let out = ws.path().join("r.html");
    let written: Value = serde_json::from_str(&ws.ok(&[
        "report",
        "--out",
        out.to_str().unwrap(),
        "--since",
        "2025-01-01",
        "--until",
        "2025-12-31",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(written["range"]["since"], "2025-01-01");
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written["bytes"].as_u64().unwrap() as usize, html.len());
    assert!(!html.contains("<script src") && !html.contains("rel=\"stylesheet\""));
    let data = html
        .split("window.KOUBEI_DATA = ")
        .nth(1)
        .and_then(|r| r.split(";</script>").next())
        .unwrap();
    let data: Value = serde_json::from_str(&data.replace("<\\/", "</")).unwrap();
    let skipped = &data["sections"]["skipped"];
    assert!(
        skipped["wom_metrics"]
            .as_str()
            .is_some_and(|r| r.contains("referrals")),
        "{skipped}"
    );
    let api: Value = serde_json::from_str(&ws.ok(&[
        "overview",
        "--since",
        "2025-01-01",
        "--until",
        "2025-12-31",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(data["sections"]["overview"], api);
    assert_eq!(api["kpis"][0]["value"], 35.75);
    let e = ws.fails(&["report", "--out", ""]);
    assert!(e.contains("out"), "{e}");
}
