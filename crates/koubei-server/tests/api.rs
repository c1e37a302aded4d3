//! The router, driven with `oneshot` over a demo shop.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use koubei_app::Workspace;
use koubei_app::dispatch::{QUERIES, query};
use koubei_server::{BODY_LIMIT, Config, app as start};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Shop {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ws");
    let ws = Workspace::create(&path).unwrap();
    let req = koubei_app::DemoRequest {
        customers: 300,
        seed: 5,
        ..Default::default()
    };
    koubei_app::demo(&ws, &req, &koubei_app::Quiet)
        .await
        .unwrap();
    Shop { _dir: dir, path }
}

fn config(shop: &Shop) -> Config {
    Config {
        workspace: shop.path.clone(),
        ..Config::default()
    }
}

/// Status, cache header and JSON of one request.
async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, Value) {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let cache = r
        .headers()
        .get("x-koubei-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, cache, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// Every query answers the JSON its operation gives, by query string and
/// by body; a repeated request is answered from the cache until the data
/// changes.
#[tokio::test]
async fn queries_answer_what_the_operations_give() {
    let shop = shop().await;
    let app = start(config(&shop)).await.unwrap().router;
    let ws = Workspace::open(&shop.path).unwrap();

    let (status, cache, body) =
        call(&app, get("/v1/sales?by=quarter&breakdown=country&top=3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache, "miss");
    let want = query(
        &ws,
        "sales",
        json!({"by": "quarter", "breakdown": "country", "top": 3}),
    )
    .await
    .unwrap();
    assert_eq!(body, want);
    let (_, cache, again) = call(&app, get("/v1/sales?by=quarter&breakdown=country&top=3")).await;
    assert_eq!((cache.as_str(), &again), ("hit", &want));

    let funnel = json!({"steps": ["view", "add_to_cart", "purchase"], "window_seconds": 86400});
    let (status, _, body) = call(&app, post("/v1/funnel", funnel.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, query(&ws, "funnel", funnel).await.unwrap());
    let (_, _, by_query) = call(
        &app,
        get("/v1/funnel?steps=view,add_to_cart&steps=purchase&window_seconds=86400"),
    )
    .await;
    assert_eq!(by_query, body);

    // Each step's drop-off lists as many persons as it counts.
    for (i, step) in body["steps"].as_array().unwrap().iter().enumerate().skip(1) {
        let (status, _, list) = call(
            &app,
            get(&format!(
                "/v1/funnel/persons?steps=view,add_to_cart,purchase&window_seconds=86400&step={}&dropped_off=true",
                i + 1
            )),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let persons = list["persons"].as_array().unwrap();
        assert_eq!(persons.len() as u64, step["dropoff"].as_u64().unwrap());
        assert!(!persons.is_empty());
    }
    let (status, _, err) = call(&app, get("/v1/funnel/persons?steps=view,purchase&step=9")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["field"], "step", "{err}");

    // Those that need no field; a product's or a customer's
    // recommendations name one below, and an evaluation's fit times differ
    // from run to run.
    let needs = ["recommend/similar", "recommend/for", "recommend/evaluate"];
    for name in QUERIES
        .iter()
        .filter(|n| !n.starts_with("funnel") && !needs.contains(n))
    {
        let (status, _, body) = call(&app, get(&format!("/v1/{name}"))).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(body, query(&ws, name, json!({})).await.unwrap(), "{name}");
    }
    for (name, field, value) in [
        ("recommend/similar", "product", "p0001"),
        ("recommend/for", "customer", "c0000001"),
    ] {
        let (status, _, body) = call(&app, get(&format!("/v1/{name}?{field}={value}"))).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        let typed = query(&ws, name, json!({ field: value })).await.unwrap();
        assert_eq!(body, typed, "{name}");
        let (status, _, err) = call(&app, get(&format!("/v1/{name}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {err}");
        assert_eq!(err["field"], field, "{err}");
    }
    let (status, _, body) = call(&app, get("/v1/recommend/evaluate?k=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["k"], 5);
    assert_eq!(body["models"].as_array().unwrap().len(), 3, "{body}");

    // A segment's list has as many customers as its row counts.
    let (_, _, rfm) = call(&app, get("/v1/rfm")).await;
    for seg in rfm["segments"].as_array().unwrap() {
        let name = seg["segment"].as_str().unwrap();
        let (status, _, list) = call(
            &app,
            get(&format!(
                "/v1/rfm/customers?segments={}",
                name.replace(' ', "%20").replace('\'', "%27")
            )),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let customers = list["customers"].as_array().unwrap();
        assert_eq!(
            customers.len() as u64,
            seg["customers"].as_u64().unwrap(),
            "{name}"
        );
        assert!(customers.iter().all(|c| c["segment"] == name));
    }

    // New orders: the next answer is computed again, with them.
    let csv = shop.path.parent().unwrap().join("more.csv");
    std::fs::write(
        &csv,
        "order_id,customer_id,ts,amount\nnew1,c0000001,2025-12-30T10:00:00Z,1000\n",
    )
    .unwrap();
    let req: koubei_app::ImportRequest =
        serde_json::from_value(json!({"table": "orders", "file": csv})).unwrap();
    koubei_app::import(&ws, &req, &koubei_app::Quiet)
        .await
        .unwrap();
    let (_, cache, after) = call(&app, get("/v1/sales?by=quarter&breakdown=country&top=3")).await;
    assert_eq!(cache, "miss");
    assert_ne!(after, want);
}

/// Bad requests get a 4xx with a reason, naming the field where there is
/// one; a body over the limit is refused.
#[tokio::test]
async fn bad_requests_are_named() {
    let shop = shop().await;
    let app = start(config(&shop)).await.unwrap().router;
    let (status, _, body) = call(&app, get("/v1/sales?top=five")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "\"five\" is not a whole number", "field": "top"})
    );
    let (status, _, body) = call(&app, post("/v1/sales", r#"{"by": "fortnight"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "by", "{body}");
    let (status, _, body) = call(&app, post("/v1/sales", "{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not JSON"),
        "{body}"
    );
    let (status, _, body) = call(&app, post("/v1/sales", "[1, 2]")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = call(&app, get("/v1/funnel")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("steps"), "{body}");
    let (status, _, body) = call(&app, get("/v1/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("sales"), "{body}");
    let (status, _, _) = call(&app, post("/v1/sales", vec![b' '; BODY_LIMIT + 1])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, _) = call(&app, post("/v1/sales", vec![b' '; BODY_LIMIT])).await;
    assert_eq!(status, StatusCode::OK, "a body of the limit itself is read");
}

/// With reads behind the token, a request without it or with a wrong one
/// is refused; a token is needed for that setting at all.
#[tokio::test]
async fn reads_can_need_the_token() {
    let shop = shop().await;
    let mut c = config(&shop);
    c.auth_reads = true;
    assert!(start(c.clone()).await.is_err());
    c.token = Some("s3cret".into());
    let app = start(c).await.unwrap().router;
    let (status, _, _) = call(&app, get("/v1/tables")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = Request::get("/v1/tables")
        .header("authorization", "Bearer s3cres")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let right = Request::get("/v1/tables")
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, right).await.0, StatusCode::OK);
    let (status, _, _) = call(&app, get("/v1/health")).await;
    assert_eq!(status, StatusCode::OK, "health needs no token");
}

async fn page(app: &axum::Router) -> String {
    let r = app.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The dashboard's page carries the overview's default range, so that a
/// page asks for its own data at once; not when reads need the token, and
/// not before there are orders. The page and that range's overview are
/// made at start.
#[tokio::test]
async fn the_page_carries_the_default_range() {
    let shop = shop().await;
    let mut started = start(config(&shop)).await.unwrap();
    started.warmed().await;
    let app = started.router;
    let (_, _, o) = call(&app, get("/v1/overview?cards=sales")).await;
    let (since, until) = (
        o["range"]["since"].as_str().unwrap(),
        o["range"]["until"].as_str().unwrap(),
    );
    assert_ne!(since, until);
    // The default range's overview was made at start, whatever the order of
    // the fields asked for.
    for cards in ["sales", "growth"] {
        let uri = format!("/v1/overview?cards={cards}&until={until}&since={since}");
        let (status, cache, _) = call(&app, get(&uri)).await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, "hit"), "{uri}");
    }
    let uri = format!("/v1/overview?since={since}&until={until}");
    assert_eq!(
        call(&app, get(&uri)).await.1,
        "miss",
        "all cards were not made"
    );
    let html = page(&app).await;
    assert!(
        html.contains(&format!(
            "<main id=\"page\" data-since=\"{since}\" data-until=\"{until}\""
        )),
        "{html}"
    );
    assert_eq!(page(&app).await, html, "the same page from the cache");

    let mut c = config(&shop);
    c.auth_reads = true;
    c.token = Some("s3cret".into());
    let html = page(&start(c).await.unwrap().router).await;
    assert!(html.contains("<main id=\"page\" aria-live") && !html.contains(since));

    let dir = tempfile::tempdir().unwrap();
    Workspace::create(dir.path()).unwrap();
    let c = Config {
        workspace: dir.path().to_path_buf(),
        ..Config::default()
    };
    let html = page(&start(c).await.unwrap().router).await;
    assert!(html.contains("<main id=\"page\" aria-live"), "{html}");
}

/// The OpenAPI document has every query, its fields as parameters, and
/// every schema it refers to.
#[tokio::test]
async fn openapi_describes_every_query() {
    let shop = shop().await;
    let app = start(config(&shop)).await.unwrap().router;
    let (status, _, doc) = call(&app, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for name in QUERIES {
        assert!(
            doc["paths"][format!("/v1/{name}")]["get"].is_object(),
            "{name}"
        );
    }
    let params: Vec<&str> = doc["paths"]["/v1/sales"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["by", "breakdown", "top", "since", "until"]);
    // Every reference resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = r.split('"').next().unwrap();
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{target}");
    }
}

/// SQL is off unless allowed, needs the token, only reads, and answers
/// rows as JSON with decimals in full.
#[tokio::test]
async fn sql_only_when_allowed_and_behind_the_token() {
    let shop = shop().await;
    let (status, _, _) = call(
        &start(config(&shop)).await.unwrap().router,
        post("/v1/sql", r#"{"query": "SELECT 1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut c = config(&shop);
    c.allow_sql = true;
    assert!(start(c.clone()).await.is_err(), "SQL without a token");
    c.token = Some("k".into());
    let app = start(c).await.unwrap().router;
    let q = r#"{"query": "SELECT count(*) AS n, sum(amount) AS revenue FROM orders WHERE status = 'paid'"}"#;
    let (status, _, _) = call(&app, post("/v1/sql", q)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let with_token = |body: &str| {
        Request::post("/v1/sql")
            .header("authorization", "Bearer k")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, _, rows) = call(&app, with_token(q)).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert!(rows[0]["n"].as_i64().unwrap() > 0, "{rows}");
    let (status, _, e) = call(&app, with_token(r#"{"query": "DROP TABLE orders"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, _, _) = call(&app, with_token("SELECT 1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn with_token(mut req: Request<Body>, token: &str) -> Request<Body> {
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// Rows of `table` as `GET /v1/tables` reports them.
async fn rows(app: &axum::Router, table: &str) -> i64 {
    let (_, _, tables) = call(app, get("/v1/tables")).await;
    tables["tables"]
        .as_array()
        .or(tables.as_array())
        .unwrap()
        .iter()
        .find(|t| t["name"] == table)
        .and_then(|t| t["rows"].as_i64())
        .unwrap_or(0)
}

/// Captured records: only with the token; bad ones refused naming the
/// record and field; good ones acknowledged, then in the table (and in the
/// answers) after a flush; refused as busy after the server stops. CORS
/// is allowed on these routes and no other.
#[tokio::test]
async fn events_are_captured_behind_the_token() {
    let shop = shop().await;
    let off = start(config(&shop)).await.unwrap().router;
    let (status, _, body) = call(&off, post("/v1/events", "{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let mut c = config(&shop);
    c.capture = Some(koubei_capture::Config {
        flush_every: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    assert!(start(c.clone()).await.is_err(), "capture without a token");
    c.token = Some("w".into());
    let server = start(c).await.unwrap();
    let app = server.router.clone();
    let before = rows(&app, "events").await;
    let events = r#"[{"event_id":"x1","customer_id":"c1","event":"view","ts":"2026-03-01T08:00:00+08:00"},
                     {"event_id":"x2","anonymous_id":"a9","event":"view","channel":"app"}]"#;
    let (status, _, _) = call(&app, post("/v1/events", events)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, ack) = call(&app, with_token(post("/v1/events", events), "w")).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["accepted"], 2);

    let bad = "{\"customer_id\":\"c1\",\"event\":\"view\"}\n{\"customer_id\":\"c1\",\"event\":\"view\",\"ts\":\"31/02/2026\"}";
    let (status, _, e) = call(&app, with_token(post("/v1/events", bad), "w")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        (e["record"].clone(), e["field"].clone()),
        (json!(2), json!("ts")),
        "{e}"
    );
    let (status, _, e) = call(
        &app,
        with_token(post("/v1/referrals", "[{\"sharer\":\"c1\"}]"), "w"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["field"], "sharer", "{e}");
    let (status, _, _) = call(
        &app,
        with_token(post("/v1/events", vec![b' '; BODY_LIMIT + 1]), "w"),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A body of the limit itself is read: one record padded out.
    let mut padded = br#"[{"customer_id":"c2","event":"view","event_id":"x3"}"#.to_vec();
    padded.resize(BODY_LIMIT - 1, b' ');
    padded.push(b']');
    let (status, _, ack) = call(&app, with_token(post("/v1/events", padded), "w")).await;
    assert_eq!(
        (status, ack["accepted"].clone()),
        (StatusCode::OK, json!(1))
    );

    assert_eq!(rows(&app, "events").await, before, "not flushed yet");
    server.flush().await.unwrap();
    assert_eq!(rows(&app, "events").await, before + 3);

    let preflight = |path: &str| {
        Request::options(path)
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let r = app.clone().oneshot(preflight("/v1/events")).await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = app.clone().oneshot(preflight("/v1/sales")).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    server.close().await.unwrap();
    let (status, _, e) = call(&app, with_token(post("/v1/events", events), "w")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
}

/// Captured events move `events`: the stored activity by day, which the
/// overview reads instead of the tables, is made again in the background;
/// each customer's purchases, made from `orders` alone, are left as they
/// are. The overview then answers what the operation gives.
#[tokio::test]
async fn captured_records_reach_the_derived_tables() {
    let shop = shop().await;
    let mut c = config(&shop);
    c.token = Some("w".into());
    c.capture = Some(koubei_capture::Config {
        flush_every: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    c.refresh_every = Some(std::time::Duration::from_millis(50));
    let ws = Workspace::open(&shop.path).unwrap();
    let version = |name: &str| {
        ws.versions()
            .into_iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v)
            .unwrap_or_else(|| panic!("{name} is stored by the demo"))
    };
    let (activity, purchases) = (
        version("derived/activity"),
        version("derived/customer_purchases"),
    );
    let server = start(c).await.unwrap();
    let app = server.router.clone();
    let events = r#"[{"event_id":"r1","anonymous_id":"new-visitor","event":"view","ts":"2026-03-01T08:00:00Z"}]"#;
    let (status, _, ack) = call(&app, with_token(post("/v1/events", events), "w")).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    server.flush().await.unwrap();
    let waited = std::time::Instant::now();
    while version("derived/activity") == activity {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "the activity was not made again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(version("derived/customer_purchases"), purchases);
    let (status, _, body) = call(&app, get("/v1/overview")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let want = query(&ws, "overview", json!({})).await.unwrap();
    assert_eq!(body, want);
    server.close().await.unwrap();
}

/// A body that never finishes is cut off at the deadline with a 408, and
/// the server goes on answering.
#[tokio::test]
async fn a_slow_body_meets_the_deadline() {
    let shop = shop().await;
    let mut c = config(&shop);
    c.token = Some("w".into());
    c.deadline = Some(std::time::Duration::from_millis(300));
    c.capture = Some(koubei_capture::Config::default());
    let server = start(c).await.unwrap();
    let app = server.router.clone();
    let first: Result<&'static [u8], std::io::Error> = Ok(b"[{\"customer_id\":");
    let slow = futures::stream::iter([first]).chain(futures::stream::pending());
    let req = with_token(post("/v1/events", Body::from_stream(slow)), "w");
    let started = std::time::Instant::now();
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(call(&app, get("/v1/health")).await.0, StatusCode::OK);
    server.close().await.unwrap();
}
