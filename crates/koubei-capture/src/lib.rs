//! Live capture: records sent to `koubei serve` are durable before they are
//! acknowledged, and reach their Delta table exactly once.
//!
//! The way of a request's records:
//! 1. [`body`] checks them as an import checks a file's rows, so that what
//!    is acknowledged can be stored;
//! 2. the table's [`log`] appends them as one framed record; one thread
//!    writes every request waiting at that moment with one `fdatasync`
//!    (group commit), and only then is each answered;
//! 3. the [`flush`]er moves closed log segments into the Delta table, every
//!    few seconds or sooner when enough is waiting, in one commit that also
//!    records the last sequence number as a Delta application transaction
//!    (`txn`); the segments are deleted only after the commit is on disk;
//! 4. on start, whatever the log still holds past that number is stored
//!    before the server answers, and a torn tail is cut.
//!
//! A record stored twice is impossible by two guards: the transaction's
//! sequence number skips what a crashed flush already committed, and rows
//! are stored once per key (`event_id` or `referral_id`, hashed from the
//! record when absent), so a client's retry adds nothing.

mod body;
mod flush;
mod log;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use koubei_schema::TableKind;
use koubei_store::Workspace;

pub use body::{BodyError, Problem};

/// The tables that records can be captured into.
pub const TABLES: [TableKind; 2] = [TableKind::Events, TableKind::Referrals];

/// How capture runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often waiting records are moved into the tables.
    pub flush_every: Duration,
    /// Log bytes after which a flush starts at once.
    pub flush_bytes: usize,
    /// Bytes of requests waiting for the log writer, past which requests
    /// are turned away (busy) rather than queued.
    pub queue_bytes: usize,
    /// Flush commits (each about one small file) after which a table is
    /// compacted; the default is five minutes of steady capture.
    pub compact_after: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            flush_every: Duration::from_secs(5),
            flush_bytes: 64 << 20,
            queue_bytes: 256 << 20,
            compact_after: 60,
        }
    }
}

/// Why records were not captured.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request's fault: nothing of it was stored.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// Records of a table that is not captured.
    #[error("records of {0} are not captured here: only events and referrals")]
    NotCaptured(TableKind),
    /// Too much is waiting to be written: come back shortly.
    #[error("the capture log is busy; nothing was stored, send the request again shortly")]
    Busy,
    /// The log cannot be written (a full disk); nothing was stored.
    #[error("the capture log cannot be written ({0}); nothing was stored")]
    Log(std::io::Error),
    /// Another process captures into this workspace.
    #[error("{}: another koubei serve is capturing into this workspace", .0.display())]
    Locked(PathBuf),
    #[error(transparent)]
    Store(#[from] koubei_store::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// What a capture request got: its records are on disk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ack {
    /// Records accepted.
    pub accepted: usize,
    /// The log record that holds them.
    pub sequence: u64,
}

/// Capture into one workspace: a log and a flusher per table.
pub struct Capture {
    tables: Vec<(TableKind, Arc<log::Log>, flush::Flusher)>,
    /// Held while capturing, so that one process writes the logs.
    _lock: File,
    closed: std::sync::atomic::AtomicBool,
}

/// A request's records, checked and ready to append.
#[derive(Debug)]
pub struct Checked(body::Records);

impl Capture {
    /// Opens the logs under `capture/` in the workspace, stores what they
    /// hold from before (a crash or a stop), and starts writing and
    /// flushing. Call it outside an async runtime's worker (it blocks).
    pub fn start(ws: &Workspace, config: Config) -> Result<Capture, Error> {
        let root = ws.root().join("capture");
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let lock_path = root.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(ws.root().to_path_buf()));
        }
        let mut tables = Vec::new();
        for table in TABLES {
            let dir = root.join(table.name());
            let (log, flusher) = flush::start(ws, table, dir, &config)?;
            tables.push((table, log, flusher));
        }
        Ok(Capture {
            tables,
            _lock: lock,
            closed: Default::default(),
        })
    }

    /// Checks a request's body of `table` records and appends them to the
    /// log; answers once they are on disk.
    pub async fn submit(&self, table: TableKind, body: &[u8]) -> Result<Ack, Error> {
        let records = self.check(table, body)?;
        self.append(table, records).await
    }

    /// Checks a request's body of `table` records, storing nothing: what
    /// passes can be appended. The CPU half of [`Capture::submit`].
    pub fn check(&self, table: TableKind, body: &[u8]) -> Result<Checked, Error> {
        if !TABLES.contains(&table) {
            return Err(Error::NotCaptured(table));
        }
        let received = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        Ok(Checked(body::parse(table, body, &received)?))
    }

    /// Appends checked records to `table`'s log; answers once they are on
    /// disk. The waiting half of [`Capture::submit`].
    pub async fn append(&self, table: TableKind, records: Checked) -> Result<Ack, Error> {
        let log = self
            .tables
            .iter()
            .find(|(t, _, _)| *t == table)
            .map(|(_, l, _)| l)
            .ok_or(Error::NotCaptured(table))?;
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Busy);
        }
        let count = records.0.count;
        match log.append(records.0.jsonl).await {
            Ok(sequence) => Ok(Ack {
                accepted: count,
                sequence,
            }),
            Err(log::AppendError::Busy) => Err(Error::Busy),
            Err(log::AppendError::Io(e)) => Err(Error::Log(e)),
        }
    }

    /// Moves everything acknowledged so far into the tables, and returns
    /// once it is committed. Blocks.
    pub fn flush(&self) -> Result<(), Error> {
        for (_, _, f) in &self.tables {
            f.flush_now()?;
        }
        Ok(())
    }

    /// Flushes what is waiting and stops; later records are refused as
    /// busy. Blocks.
    pub fn close(&self) -> Result<(), Error> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut first = Ok(());
        for (_, _, f) in &self.tables {
            let r = f.stop();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}
