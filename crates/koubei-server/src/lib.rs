//! `koubei serve`: every query operation over HTTP.
//!
//! A route only parses, calls [`koubei_app::dispatch::query`] and renders:
//! the numbers are the command line's, from the same function. A request
//! is a JSON body (`POST /v1/sales`) or a query string (`GET
//! /v1/sales?by=month&top=5`), whose text takes each field's type from the
//! request's JSON Schema. `/openapi.json` describes every route from the
//! same schemas.
//!
//! Answers are cached until a table's Delta version changes, which is read
//! from the log's file names on each request: an import, or events captured
//! later, show at the next request, with no restart. A request asked again
//! while it is answered waits for that answer; at start the server makes
//! the dashboard's page and its default overview before anyone asks.
//!
//! With a token, `POST /v1/events` and `POST /v1/referrals` capture records
//! (see `koubei_capture`): the answer comes once they are on disk, and they
//! reach the tables within seconds. These two routes alone allow CORS, so
//! that a shop's pages can send them. What reports read instead of the
//! tables (each customer's purchases, activity by day) is then brought up
//! to date in the background, at most once per `refresh_every`: until it
//! is, reports count from the tables, with the same numbers, more slowly.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use koubei_app::Workspace;
use koubei_app::dispatch::{QUERIES, query, request_from_pairs};
use koubei_capture::Capture;
use koubei_schema::TableKind;
use serde_json::{Value, json};
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;

mod openapi;

/// The largest request body: a day of a small shop's events in one batch.
pub const BODY_LIMIT: usize = 10 << 20;

/// How long a request may take to arrive and be answered, by default.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How the server is run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub workspace: PathBuf,
    /// The bearer token that writes, and with `auth_reads` reads, need.
    pub token: Option<String>,
    /// Reads need the token too.
    pub auth_reads: bool,
    /// Serve `POST /v1/sql` (read-only SQL), which always needs the token.
    pub allow_sql: bool,
    /// Capture records at `POST /v1/events` and `/v1/referrals`, which
    /// always needs the token.
    pub capture: Option<koubei_capture::Config>,
    /// How long a request may take to arrive and be answered ([`DEADLINE`]
    /// when None); past it, 408.
    pub deadline: Option<Duration>,
    /// With `capture`: how often the derived tables are brought up to date
    /// with the records captured since (see [`koubei_app::refresh`]); None:
    /// not until `koubei refresh` or an import.
    pub refresh_every: Option<Duration>,
}

/// Why the server cannot start or stopped.
#[derive(Debug)]
pub enum ConfigError {
    /// `auth_reads` without a `token`.
    ReadsNeedToken,
    /// `allow_sql` without a `token`.
    SqlNeedsToken,
    /// `capture` without a `token`.
    CaptureNeedsToken,
    /// Capture cannot start (another server captures into the workspace,
    /// or its log cannot be read or stored).
    Capture(String),
    /// The workspace cannot be opened.
    Workspace(String),
    /// Serving failed.
    Serve(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::ReadsNeedToken => {
                f.write_str("auth_reads: reads can need a token only when one is set (token)")
            }
            ConfigError::SqlNeedsToken => {
                f.write_str("allow_sql: SQL is served only behind a token (token)")
            }
            ConfigError::CaptureNeedsToken => {
                f.write_str("capture: records are captured only behind a token (token)")
            }
            ConfigError::Workspace(e) | ConfigError::Serve(e) | ConfigError::Capture(e) => {
                f.write_str(e)
            }
        }
    }
}

impl std::error::Error for ConfigError {}

struct Shared {
    ws: Workspace,
    config: Config,
    cache: Mutex<Cache>,
    capture: Option<Arc<Capture>>,
}

/// Answers by (operation, request), valid for the table versions they were
/// computed at.
#[derive(Default)]
struct Cache {
    versions: Vec<(String, Option<u64>)>,
    answers: HashMap<(String, String), Arc<Bytes>>,
    /// Held while an answer is made: the same request meanwhile waits for
    /// it rather than makes it again.
    making: HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>,
}

/// At most this many answers are kept; past it the cache starts again.
const CACHED: usize = 512;

/// The server: its routes, and the capture behind them.
pub struct App {
    pub router: Router,
    capture: Option<Arc<Capture>>,
    warm: Option<tokio::task::JoinHandle<()>>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    /// Waits until what the server makes at start is made (see
    /// `warm_up`).
    pub async fn warmed(&mut self) {
        if let Some(w) = self.warm.take() {
            let _ = w.await;
        }
    }

    /// Stores every record acknowledged so far in its table.
    pub async fn flush(&self) -> Result<(), ConfigError> {
        let Some(c) = self.capture.clone() else {
            return Ok(());
        };
        blocking(move || c.flush()).await
    }

    /// Stores what is waiting and stops capturing.
    pub async fn close(self) -> Result<(), ConfigError> {
        if let Some(r) = &self.refresher {
            // No refresh starts after this. One under way runs on to its
            // end on its own thread, or stops with the process: each
            // derived table is one Delta commit, never half written.
            r.abort();
        }
        let Some(c) = self.capture else {
            return Ok(());
        };
        blocking(move || c.close()).await
    }
}

async fn blocking(
    f: impl FnOnce() -> Result<(), koubei_capture::Error> + Send + 'static,
) -> Result<(), ConfigError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConfigError::Capture(e.to_string()))?
        .map_err(|e| ConfigError::Capture(e.to_string()))
}

/// A server's future, boxed by the function that makes it, so that it is
/// compiled here and not again in the binary that awaits it (see
/// `koubei_app::Op`).
pub type Made<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ConfigError>> + Send>>;

/// The routes over the workspace in `config`. With `capture`, the logs are
/// opened and what they hold from before is stored first.
#[inline(never)]
pub fn app(config: Config) -> Made<App> {
    Box::pin(async move {
        if config.auth_reads && config.token.is_none() {
            return Err(ConfigError::ReadsNeedToken);
        }
        if config.allow_sql && config.token.is_none() {
            return Err(ConfigError::SqlNeedsToken);
        }
        if config.capture.is_some() && config.token.is_none() {
            return Err(ConfigError::CaptureNeedsToken);
        }
        let ws = Workspace::open(&config.workspace)
            .map_err(|e| ConfigError::Workspace(e.to_string()))?;
        let capture = match config.capture.clone() {
            Some(c) => {
                let store = ws.clone();
                let started = tokio::task::spawn_blocking(move || Capture::start(&store, c))
                    .await
                    .map_err(|e| ConfigError::Capture(e.to_string()))?
                    .map_err(|e| ConfigError::Capture(e.to_string()))?;
                Some(Arc::new(started))
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            ws,
            config,
            cache: Mutex::new(Cache::default()),
            capture: capture.clone(),
        });
        let warm = Some(tokio::spawn(warm_up(Arc::clone(&shared))));
        let refresher = match (&capture, shared.config.refresh_every) {
            (Some(_), Some(every)) => {
                Some(tokio::spawn(refresh_derived(Arc::clone(&shared), every)))
            }
            _ => None,
        };
        // A page on any site may send records, with the token.
        let cors = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([axum::http::Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600));
        let capture_routes = Router::new()
            .route("/v1/events", post(capture_events))
            .route("/v1/referrals", post(capture_referrals))
            .layer(cors);
        let router = Router::new()
            .route("/", get(index))
            .route("/assets/{name}", get(asset))
            .route("/v1/health", get(health))
            .route("/openapi.json", get(openapi))
            .route("/v1/sql", post(sql))
            .merge(capture_routes)
            .route("/v1/{*operation}", get(query_get).post(query_post))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                shared.config.deadline.unwrap_or(DEADLINE),
            ))
            .with_state(Arc::clone(&shared));
        Ok(App {
            router,
            capture,
            warm,
            refresher,
        })
    })
}

/// Brings the derived tables up to date whenever the tables have moved
/// since the last look (captured records stored), at most once per
/// `every`. Each refresh takes the workspace's write lock, as an import
/// does; a failure is logged and tried again at the next change.
async fn refresh_derived(s: Arc<Shared>, every: Duration) {
    // Nothing seen yet: the first look refreshes what is stale from before.
    let mut seen = Vec::new();
    loop {
        tokio::time::sleep(every).await;
        if s.ws.versions() == seen {
            continue;
        }
        let ws = s.ws.clone();
        let runtime = tokio::runtime::Handle::current();
        let started = std::time::Instant::now();
        // The lock is waited for off the request threads.
        let done = tokio::task::spawn_blocking(move || {
            runtime.block_on(koubei_app::refresh(&ws, &koubei_app::Quiet))
        })
        .await;
        match done {
            Ok(Ok(_)) => tracing::info!(elapsed = ?started.elapsed(), "derived tables up to date"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the derived tables could not be refreshed"),
            Err(e) => tracing::warn!(error = %e, "the refresh stopped"),
        }
        seen = s.ws.versions();
    }
}

/// Serves the routes on `listener` until Ctrl-C or SIGTERM, finishing the
/// requests under way, then stores the records waiting.
#[inline(never)]
pub fn serve(listener: tokio::net::TcpListener, app: App) -> Made<()> {
    Box::pin(async move {
        axum::serve(listener, app.router.clone())
            .with_graceful_shutdown(stopped())
            .await
            .map_err(|e| ConfigError::Serve(e.to_string()))?;
        app.close().await
    })
}

/// Ctrl-C, or SIGTERM (what service managers send).
async fn stopped() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn capture_events(s: State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    capture(&s, &headers, TableKind::Events, body).await
}

async fn capture_referrals(s: State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    capture(&s, &headers, TableKind::Referrals, body).await
}

/// Bodies past this size are checked off the request threads.
const INLINE_BODY: usize = 64 << 10;

/// A capture request: 200 once its records are on disk, 400 naming each
/// bad record and field (nothing stored), 503 with Retry-After when the
/// log is busy or cannot be written.
async fn capture(s: &Shared, headers: &HeaderMap, table: TableKind, body: Bytes) -> Response {
    let Some(capture) = s.capture.clone() else {
        return error(
            StatusCode::FORBIDDEN,
            "capture is off: start koubei serve with a token, which writes always need",
            None,
        );
    };
    if let Some(refused) = authorize(&s.config, headers) {
        return refused;
    }
    let checked = if body.len() <= INLINE_BODY {
        capture.check(table, &body)
    } else {
        let c = Arc::clone(&capture);
        match tokio::task::spawn_blocking(move || c.check(table, &body)).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
        }
    };
    let result = match checked {
        Ok(records) => capture.append(table, records).await,
        Err(e) => Err(e),
    };
    use koubei_capture::Error as E;
    match result {
        Ok(ack) => json_response(StatusCode::OK, &json!(ack)),
        Err(E::Body(e)) => {
            let mut body = json!({ "error": e.to_string(), "records": e.problems });
            if let Some(first) = e.problems.first() {
                body["record"] = json!(first.record);
                if let Some(f) = &first.field {
                    body["field"] = json!(f);
                }
            }
            json_response(StatusCode::BAD_REQUEST, &body)
        }
        Err(e @ (E::Busy | E::Log(_))) => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

/// The dashboard, with the default date range when reads are open, so that
/// a page asks for its own data at once rather than for the range first.
async fn index(State(s): State<Arc<Shared>>) -> Response {
    let mut r = index_page(&s).await.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Made at start, before anyone asks: the tables opened, the dashboard's
/// page with its range and the overview of that range (a request that
/// comes meanwhile waits for the same answer), then the review text model
/// for the reviews page and the index of places for word of mouth's.
async fn warm_up(s: Arc<Shared>) {
    if let Ok(Some(range)) = koubei_app::default_range(&s.ws).await {
        index_page(&s).await;
        for cards in ["sales", "growth"] {
            let request = json!({"since": range.since, "until": range.until, "cards": cards});
            answer(&s, "overview", request).await;
        }
    }
    let _ = tokio::task::spawn_blocking(|| {
        koubei_app::reviews::load_text_model();
        koubei_app::wom::load_places();
    })
    .await;
}

async fn index_page(s: &Shared) -> Bytes {
    if s.config.auth_reads {
        return Bytes::from(koubei_web::index_html(None));
    }
    let key = ("/".to_string(), String::new());
    let page = cached(s, key, || async {
        let range = koubei_app::default_range(&s.ws).await?;
        let (since, until) = range.map_or((String::new(), String::new()), |r| {
            (r.since.to_string(), r.until.to_string())
        });
        Ok(Bytes::from(koubei_web::index_html(
            Some((since.as_str(), until.as_str())).filter(|_| !since.is_empty()),
        )))
    })
    .await;
    // Without its range the page asks for it.
    page.map_or_else(
        |_| Bytes::from(koubei_web::index_html(None)),
        |(body, _)| body,
    )
}

/// A file the dashboard loads, compiled in.
async fn asset(Path(name): Path<String>) -> Response {
    match koubei_web::asset(&name) {
        Some(a) => {
            let mut r = Bytes::from_static(a.bytes).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            r
        }
        None => error(StatusCode::NOT_FOUND, &format!("no asset \"{name}\""), None),
    }
}

async fn health(State(s): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "status": "ok", "workspace": s.ws.root().display().to_string() }),
    )
}

async fn openapi() -> Response {
    match openapi::document() {
        Ok(doc) => json_response(StatusCode::OK, &doc),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

async fn query_get(
    State(s): State<Arc<Shared>>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = check_read(&s, &headers, &operation) {
        return refused;
    }
    match request_from_pairs(&operation, &pairs) {
        Ok(request) => answer(&s, &operation, request).await,
        Err(e) => app_error(e),
    }
}

async fn query_post(
    State(s): State<Arc<Shared>>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = check_read(&s, &headers, &operation) {
        return refused;
    }
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object of the request's fields",
                    None,
                );
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("the body is not JSON: {e}"),
                    None,
                );
            }
        }
    };
    answer(&s, &operation, request).await
}

/// `POST /v1/sql` with `{"query": "SELECT ..."}`: the rows as a JSON array.
/// Off unless `allow_sql`, and always behind the token; the query may only
/// read.
async fn sql(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !s.config.allow_sql {
        return error(
            StatusCode::NOT_FOUND,
            "SQL is not served: start the server with allow_sql",
            None,
        );
    }
    if let Some(refused) = authorize(&s.config, &headers) {
        return refused;
    }
    let request: koubei_app::SqlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be {{\"query\": \"SELECT ...\"}}: {e}"),
                None,
            );
        }
    };
    match koubei_app::sql(&s.ws, &request)
        .await
        .and_then(|r| r.json_rows())
    {
        Ok(rows) => body_response(StatusCode::OK, Bytes::from(rows), "none"),
        // A query that does not plan or is refused is the caller's.
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string(), None),
    }
}

/// Why the request is refused, if it is: no such operation, or the
/// caller may not read.
fn check_read(s: &Shared, headers: &HeaderMap, operation: &str) -> Option<Response> {
    if !QUERIES.contains(&operation) {
        return Some(error(
            StatusCode::NOT_FOUND,
            &format!(
                "no operation \"{operation}\": expected one of {}",
                QUERIES.join(", ")
            ),
            None,
        ));
    }
    if s.config.auth_reads {
        return authorize(&s.config, headers);
    }
    None
}

/// The refusal of a request without the bearer token, compared in
/// constant time.
fn authorize(config: &Config, headers: &HeaderMap) -> Option<Response> {
    let Some(want) = &config.token else {
        return None;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let same = given.len() == want.len()
        && given
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0;
    (!same).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "a missing or wrong token: send Authorization: Bearer TOKEN",
            None,
        )
    })
}

async fn answer(s: &Shared, operation: &str, request: Value) -> Response {
    let key = (operation.to_string(), canonical(&request).to_string());
    match cached(s, key, || async {
        let report = query(&s.ws, operation, request).await?;
        Ok(Bytes::from(serde_json::to_vec(&report).unwrap_or_default()))
    })
    .await
    {
        Ok((body, hit)) => body_response(StatusCode::OK, body, if hit { "hit" } else { "miss" }),
        Err(e) => app_error(e),
    }
}

/// The body cached under `key` for the tables' current versions, or the
/// one `compute` makes (kept if the tables did not change meanwhile), and
/// whether it was cached.
async fn cached<F, Fut>(
    s: &Shared,
    key: (String, String),
    compute: F,
) -> koubei_app::Result<(Bytes, bool)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = koubei_app::Result<Bytes>>,
{
    let versions = s.ws.versions();
    // The cached answer, or the lock of the one being made.
    let look = || {
        let mut cache = s.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.versions != versions {
            cache.answers.clear();
            cache.making.clear();
            cache.versions = versions.clone();
        }
        match cache.answers.get(&key) {
            Some(hit) => Look::Hit(Bytes::clone(hit)),
            None => Look::Make(Arc::clone(cache.making.entry(key.clone()).or_default())),
        }
    };
    let making = match look() {
        Look::Hit(hit) => return Ok((hit, true)),
        Look::Make(making) => making,
    };
    let _making = making.lock().await;
    if let Look::Hit(hit) = look() {
        return Ok((hit, true));
    }
    let made = compute().await;
    let mut cache = s.cache.lock().unwrap_or_else(|e| e.into_inner());
    cache.making.remove(&key);
    let body = Arc::new(made?);
    if cache.versions == versions {
        if cache.answers.len() >= CACHED {
            cache.answers.clear();
        }
        cache.answers.insert(key, Arc::clone(&body));
    }
    Ok((Bytes::clone(&body), false))
}

/// What the cache holds for a request.
enum Look {
    Hit(Bytes),
    Make(Arc<tokio::sync::Mutex<()>>),
}

/// The request with every object's keys in order: the same request asked
/// with its fields in another order is the same cache entry.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        v => v.clone(),
    }
}

/// A failed operation: the request's fault (400, naming the field) or the
/// server's (500).
fn app_error(e: koubei_app::Error) -> Response {
    use koubei_app::Error;
    match &e {
        Error::Invalid { field, reason } => error(StatusCode::BAD_REQUEST, reason, Some(field)),
        Error::Request(_) | Error::Json(_) => error(StatusCode::BAD_REQUEST, &e.to_string(), None),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    }
}

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let mut body = json!({ "error": message });
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    json_response(status, &body)
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    body_response(
        status,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        "none",
    )
}

fn body_response(status: StatusCode, body: Bytes, cache: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert("x-koubei-cache", HeaderValue::from_static(cache));
    r
}
