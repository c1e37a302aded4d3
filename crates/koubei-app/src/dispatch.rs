//! The operations that answer from the tables, by name, with the request
//! and the report as JSON: what an HTTP route or a golden case calls. Each
//! name runs the same function as the typed call.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Result, Workspace};

/// The names [`query`] answers, as an API would route them.
pub const QUERIES: [&str; 9] = [
    "tables",
    "sales",
    "funnel",
    "retention",
    "rfm",
    "clv",
    "wom/metrics",
    "wom/cascades",
    "wom/reach",
];

/// Runs the operation `name` on `request` (an object of the request's
/// fields; absent ones take their defaults) and returns its report as JSON.
pub async fn query(ws: &Workspace, name: &str, request: Value) -> Result<Value> {
    match name {
        "tables" => json(crate::tables(ws).await?),
        "sales" => json(crate::sales(ws, &parse(request)?).await?),
        "funnel" => json(crate::funnel(ws, &parse(request)?).await?),
        "retention" => json(crate::retention(ws, &parse(request)?).await?),
        "rfm" => json(crate::rfm(ws, &parse(request)?).await?),
        "clv" => json(crate::clv(ws, &parse(request)?).await?),
        "wom/metrics" => json(crate::wom::metrics(ws, &parse(request)?).await?),
        "wom/cascades" => json(crate::wom::cascades(ws, &parse(request)?).await?),
        "wom/reach" => json(crate::wom::reach(ws, &parse(request)?).await?),
        _ => Err(Error::Request(format!(
            "no operation \"{name}\": expected one of {}",
            QUERIES.join(", ")
        ))),
    }
}

/// A request from JSON; a field that does not parse is named by its path.
fn parse<T: DeserializeOwned>(request: Value) -> Result<T> {
    serde_path_to_error::deserialize(request).map_err(|e| {
        let field = e.path().to_string();
        let reason = e.into_inner().to_string();
        if field == "." {
            Error::Request(reason)
        } else {
            Error::Invalid { field, reason }
        }
    })
}

fn json(report: impl Serialize) -> Result<Value> {
    Ok(serde_json::to_value(report)?)
}
