//! koubei's operations: one function per thing a user can ask, each taking
//! one typed request and returning one typed report.
//!
//! The command line, the HTTP server and the HTML report all call these, so
//! that every number is computed in exactly one place. Requests derive
//! `Deserialize` (the same struct comes from flags, a JSON body or query
//! parameters) and reports derive `Serialize` (their JSON is what
//! `--format json` prints). Front ends only parse, call and render.

use std::path::PathBuf;

/// Operations that are one engine query each, `name = method`: open the
/// engine over the workspace's latest tables and call its method.
macro_rules! engine_ops {
    ($($(#[$doc:meta])* $name:ident = $method:ident($req:ty) -> $report:ty;)*) => {
        $(
            $(#[$doc])*
            #[inline(never)]
            pub fn $name<'a>(ws: &'a koubei_store::Workspace, req: &'a $req) -> $crate::Op<'a, $report> {
                Box::pin(async move { Ok($crate::engines::engine(ws).await?.$method(req).await?) })
            }
        )*
    };
}
use engine_ops;

/// An operation's future, boxed by the function that makes it.
///
/// rustc compiles an `async fn`'s state machine again in every crate that
/// awaits it, and with it everything that it awaits in turn: the command
/// line and the server each compiled the whole engine, and DataFusion's
/// planner, once more. Made and boxed here, it is compiled once, here, and
/// the front ends poll it through the box. `#[inline(never)]` keeps the
/// function that makes it out of the caller too.
pub type Op<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

mod demo;
pub mod dispatch;
mod engines;
mod import;
mod metrics;
mod overview;
mod progress;
pub mod recs;
mod report;
pub mod reviews;
mod tables;
pub mod views;
pub mod wom;

pub use demo::{DemoReport, DemoRequest, demo};
pub use import::{ImportRequest, Imported, Mapping, import, refresh};
pub use metrics::{
    FunnelPersons, FunnelPersonsRequest, RfmRequest, SegmentCustomer, SegmentCustomers, clv,
    funnel, funnel_persons, retention, rfm, rfm_customers, sales, segment_customers,
};
pub use overview::{Cards, Kpi, OverviewReport, OverviewRequest, default_range, overview};
pub use progress::{Progress, Quiet, Task};
pub use report::{ReportData, ReportRequest, ReportWritten, report, report_data};
pub use tables::{SqlReport, SqlRequest, TablesReport, json_rows, sql, tables};

pub use engines::run_on;
pub use koubei_engine::FunnelOrder;
pub use koubei_engine::clv::{Horizon, SummaryRequest, Unit};
pub use koubei_engine::clv_report::{ClvReport, ClvRequest, ModelKind};
pub use koubei_engine::funnel_query::{
    Exclusion, FunnelReport, FunnelRequest, FunnelStep, Step, parse_duration, parse_steps,
};
pub use koubei_engine::retention::{RetentionReport, RetentionRequest};
pub use koubei_engine::rfm::SEGMENTS;
pub use koubei_engine::rfm_report::RfmReport;
pub use koubei_engine::sales::{Period, SalesReport, SalesRequest};
pub use koubei_engine::{Runner, SessionMaker};
pub use koubei_schema::TableKind;
/// The store's errors, which an import can end with (too many rejects).
pub use koubei_store::Error as StoreError;
pub use koubei_store::{Delimiter, Format, Hint, ImportReport, ImportTz, Reject, Workspace};
/// Reports as sections of typed columns, and their renderers.
pub use koubei_view as view;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One field of the request is invalid. Front ends name the field their
    /// own way: `--breakdown` on the command line, `breakdown` in the API.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request cannot be served as asked (no such data, a conflict).
    #[error("{0}")]
    Request(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(koubei_store::Error),
    #[error(transparent)]
    Engine(koubei_engine::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The engine's and the store's errors; an invalid field in either stays
/// one, so that a front end can name it.
impl From<koubei_engine::Error> for Error {
    fn from(e: koubei_engine::Error) -> Self {
        match e {
            koubei_engine::Error::Invalid { field, reason } => Error::invalid(field, reason),
            // The data cannot answer the request (an empty table): the
            // caller's to fix, not a fault (a 400, not a 500, in the API).
            koubei_engine::Error::Request(m) => Error::Request(m),
            koubei_engine::Error::Store(s) => s.into(),
            e => Error::Engine(e),
        }
    }
}

impl From<koubei_store::Error> for Error {
    fn from(e: koubei_store::Error) -> Self {
        match e {
            koubei_store::Error::Invalid { field, reason } => Error::invalid(field, reason),
            e => Error::Store(e),
        }
    }
}

impl Error {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
