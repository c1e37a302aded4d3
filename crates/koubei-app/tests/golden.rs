//! The golden cases (see `common/golden.rs`) run as requests against the
//! operations, the way an API client would send them.

#[path = "common/golden.rs"]
mod golden;

use koubei_app::{ImportRequest, Quiet, TableKind, Workspace};

#[tokio::test(flavor = "multi_thread")]
async fn golden_cases_as_requests() {
    let cases = golden::cases();
    assert!(cases.len() >= 7, "golden cases missing");
    let mut runs = 0;
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(dir.path().join("ws")).unwrap();
        for (table, file) in case.files() {
            let req = ImportRequest {
                table: table.parse::<TableKind>().unwrap(),
                file,
                format: None,
                delimiter: None,
                columns: Vec::new(),
                map: Vec::new(),
                timezone: Default::default(),
                max_reject_ratio: 0.0,
            };
            koubei_app::import(&ws, &req, &Quiet).await.unwrap();
        }
        for run in &case.runs {
            let op = run["op"].as_str().unwrap();
            let got = koubei_app::dispatch::query(&ws, op, run["request"].clone())
                .await
                .unwrap_or_else(|e| panic!("{}: {op} {}: {e}", case.name, run["request"]));
            if let Err(e) = golden::subset(&run["expect"], &got, "") {
                panic!("{}: {op} {}: {e}\n{got:#}", case.name, run["request"]);
            }
            runs += 1;
        }
    }
    assert!(runs >= 20, "{runs} runs");
}

/// A request field that does not parse is named by its path, and a
/// request for no operation says which there are.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::create(dir.path().join("ws")).unwrap();
    let e = koubei_app::dispatch::query(
        &ws,
        "funnel",
        serde_json::json!({"steps": ["view", "buy[channel]"]}),
    )
    .await
    .unwrap_err();
    match e {
        koubei_app::Error::Invalid { field, reason } => {
            assert_eq!(field, "steps[1]");
            assert!(reason.contains("not COLUMN=VALUE"), "{reason}");
        }
        e => panic!("{e}"),
    }
    let e = koubei_app::dispatch::query(&ws, "sales", serde_json::json!({"by": "fortnight"}))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "by: unknown period \"fortnight\": expected day, week, month, quarter or year"
    );
    let e = koubei_app::dispatch::query(
        &ws,
        "funnel",
        serde_json::json!({"steps": ["view"], "breakdown": "colour"}),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("breakdown: colour: events has no such column"),
        "{e}"
    );
    // The import's fields too: a mapping from a column the file lacks, a
    // file whose format its name does not tell.
    let file = dir.path().join("orders.csv");
    std::fs::write(&file, "id,buyer,ts,amount\n1,a,2024-01-01,5\n").unwrap();
    let import: koubei_app::ImportRequest = serde_json::from_value(serde_json::json!({
        "table": "orders", "file": file, "map": ["order_id=id", "customer_id=nick"]
    }))
    .unwrap();
    match koubei_app::import(&ws, &import, &Quiet).await.unwrap_err() {
        koubei_app::Error::Invalid { field, reason } => {
            assert_eq!(field, "map");
            assert!(
                reason.starts_with("customer_id=nick: the file has no column \"nick\""),
                "{reason}"
            );
        }
        e => panic!("{e}"),
    }
    let unnamed = dir.path().join("orders.data");
    std::fs::write(&unnamed, "").unwrap();
    let import = koubei_app::ImportRequest {
        file: unnamed,
        ..import
    };
    match koubei_app::import(&ws, &import, &Quiet).await.unwrap_err() {
        koubei_app::Error::Invalid { field, .. } => assert_eq!(field, "format"),
        e => panic!("{e}"),
    }
    let e = koubei_app::dispatch::query(&ws, "nope", serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("expected one of tables, overview, sales"),
        "{e}"
    );
}
