//! The workspace's tables, and SQL over them.

use crate::Op;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use koubei_store::{TableInfo, Workspace};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Every table with its rows, Delta version and last import.
#[derive(Debug, Clone, Serialize)]
pub struct TablesReport {
    pub tables: Vec<TableInfo>,
}

#[inline(never)]
pub fn tables<'a>(ws: &'a Workspace) -> Op<'a, TablesReport> {
    Box::pin(async move {
        Ok(TablesReport {
            tables: ws.tables().await?,
        })
    })
}

/// One SQL query over all the tables; it may only read.
#[derive(Debug, Clone, Deserialize)]
pub struct SqlRequest {
    pub query: String,
}

/// A query's rows, as Arrow batches: a front end renders them.
#[derive(Debug, Clone)]
pub struct SqlReport {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl SqlReport {
    /// The rows as a JSON array of objects, as `--format json` prints them.
    pub fn json_rows(&self) -> Result<Vec<u8>> {
        json_rows(&self.batches)
    }
}

/// Rows as a JSON array of objects (`[]` for none), values as Arrow's JSON
/// writer gives them: decimals with all their places.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let arrow = |e| crate::Error::from(koubei_engine::Error::from(e));
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    for b in batches {
        w.write(b).map_err(arrow)?;
    }
    w.finish().map_err(arrow)?;
    let body = w.into_inner();
    Ok(if body.is_empty() {
        b"[]".to_vec()
    } else {
        body
    })
}

#[inline(never)]
pub fn sql<'a>(ws: &'a Workspace, req: &'a SqlRequest) -> Op<'a, SqlReport> {
    Box::pin(async move {
        let engine = crate::engines::engine(ws).await?;
        let (schema, batches) = engine.sql_read_only(&req.query).await?;
        Ok(SqlReport { schema, batches })
    })
}
