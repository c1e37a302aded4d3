//! A SIGKILL at any moment of an import leaves every table readable at its
//! previous version, and running the import again completes it exactly once.

use std::io::Write;
use std::time::Duration;

use crate::util::Ws;

fn big_orders(rows: usize) -> String {
    let mut s = String::with_capacity(rows * 60);
    s.push_str("order_id,customer_id,ts,amount,status,note\n");
    for i in 0..rows {
        s.push_str(&format!(
            "o{i},c{},2024-01-{:02}T10:00:00Z,{}.5,paid,n{}\n",
            i % 5000,
            1 + i % 28,
            i % 300,
            i % 7
        ));
    }
    s
}

#[test]
fn kill_during_import_leaves_tables_whole() {
    const ROWS: i64 = 200_000;
    let ws = Ws::new();
    let mut f = std::fs::File::create(ws.dir.path().join("big.csv")).unwrap();
    f.write_all(big_orders(ROWS as usize).as_bytes()).unwrap();
    drop(f);
    let file = ws.dir.path().join("big.csv");
    let file = file.to_str().unwrap();
    // Make the workspace, so that every kill lands inside the import.
    ws.ok(&[
        "import",
        "customers",
        ws.file("c.csv", "customer_id\nc1\n").to_str().unwrap(),
    ]);

    let mut seen_partial_states = std::collections::BTreeSet::new();
    for delay_ms in [30u64, 150, 400, 800, 1500, 2500, 4000] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("koubei"))
            .args([
                "--workspace",
                ws.path().to_str().unwrap(),
                "import",
                "orders",
                file,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let n = ws.count("orders");
        assert!(
            n == 0 || n == ROWS,
            "after a kill at {delay_ms} ms the table has {n} rows"
        );
        seen_partial_states.insert(n);
        assert_eq!(ws.count("customers"), 1);
    }
    // Finish it, then check that nothing is counted twice.
    ws.ok(&["import", "orders", file]);
    ws.ok(&["import", "orders", file]);
    assert_eq!(ws.count("orders"), ROWS);
    let distinct = ws.sql("SELECT count(DISTINCT order_id) AS n, sum(amount) AS s FROM orders");
    assert_eq!(distinct[0]["n"], ROWS);
    let want: f64 = (0..ROWS).map(|i| (i % 300) as f64 + 0.5).sum();
    assert!((distinct[0]["s"].as_f64().unwrap() - want).abs() < 1e-6);
}
