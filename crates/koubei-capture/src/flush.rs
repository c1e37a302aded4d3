//! Moving a table's log into its Delta table, exactly once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use koubei_schema::TableKind;
use koubei_store::{ImportOptions, Quiet, Repeats, Workspace};

use crate::log::{self, Log, Segment};
use crate::{Config, Error};

/// The Delta application id under which a table's flushes record the last
/// sequence number they stored.
pub(crate) const APP_ID: &str = "koubei-capture";

enum Cmd {
    /// Flush now and answer.
    Now(SyncSender<Result<(), Error>>),
    /// Enough is waiting: flush now.
    Wake,
    /// Flush, answer, and stop.
    Stop(SyncSender<Result<(), Error>>),
}

/// The thread that flushes one table's log.
pub(crate) struct Flusher {
    tx: SyncSender<Cmd>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub(crate) fn flush_now(&self) -> Result<(), Error> {
        self.ask(Cmd::Now)
    }

    /// Flushes and stops the thread; once stopped, a second call does nothing.
    pub(crate) fn stop(&self) -> Result<(), Error> {
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = thread.take() else {
            return Ok(());
        };
        let r = self.ask(Cmd::Stop);
        let _ = t.join();
        r
    }

    fn ask(&self, cmd: fn(SyncSender<Result<(), Error>>) -> Cmd) -> Result<(), Error> {
        let (reply, answer) = sync_channel(1);
        let stopped = || Error::Log(std::io::Error::other("the flusher stopped"));
        self.tx.send(cmd(reply)).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

/// Recovers the log in `dir`, stores what it holds, and starts its writer
/// and flusher.
pub(crate) fn start(
    ws: &Workspace,
    table: TableKind,
    dir: PathBuf,
    config: &Config,
) -> Result<(Arc<Log>, Flusher), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io(&dir, e))?;
    let (segments, next_seq) = log::recover(&dir).map_err(|e| Error::io(&dir, e))?;
    let committed = rt.block_on(ws.app_version(table, APP_ID))?.unwrap_or(-1);
    let mut state = State {
        ws: ws.clone(),
        table,
        dir: dir.clone(),
        committed,
        commits: 0,
        compact_after: config.compact_after.max(1),
        rt,
    };
    state.store(segments)?;
    let next_seq = next_seq.max((state.committed + 1) as u64);

    let (tx, rx) = sync_channel(8);
    let wake = tx.clone();
    let log = Arc::new(
        Log::start(
            dir.clone(),
            next_seq,
            config.queue_bytes,
            Arc::new(AtomicUsize::new(0)),
            config.flush_bytes,
            move || {
                let _ = wake.try_send(Cmd::Wake);
            },
        )
        .map_err(|e| Error::io(&dir, e))?,
    );
    let every = config.flush_every;
    let flushed = Arc::clone(&log);
    let thread = std::thread::Builder::new()
        .name(format!("koubei-flush-{table}"))
        .spawn(move || {
            loop {
                match rx.recv_timeout(every) {
                    Ok(Cmd::Now(reply)) => {
                        let _ = reply.send(state.flush(&flushed));
                    }
                    Ok(Cmd::Stop(reply)) => {
                        let _ = reply.send(state.flush(&flushed));
                        return;
                    }
                    Ok(Cmd::Wake) | Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = state.flush(&flushed) {
                            // The log keeps the records; the next flush tries again.
                            tracing::error!(table = %state.table, error = %e, "a capture flush failed");
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .map_err(|e| Error::io(&dir, e))?;
    Ok((
        log,
        Flusher {
            tx,
            thread: std::sync::Mutex::new(Some(thread)),
        },
    ))
}

struct State {
    ws: Workspace,
    table: TableKind,
    dir: PathBuf,
    /// The last sequence number stored in the table.
    committed: i64,
    /// Commits made by this flusher.
    commits: u64,
    compact_after: u64,
    rt: tokio::runtime::Runtime,
}

impl State {
    /// Closes the segment being written and stores every closed one.
    fn flush(&mut self, log: &Log) -> Result<(), Error> {
        let io = |e| Error::io(&self.dir, e);
        let boundary = log.rotate().map_err(io)?;
        let closed = log.closed_segments(boundary).map_err(io)?;
        let mut segments = Vec::with_capacity(closed.len());
        for (_, path) in closed {
            let s = log::read_segment(&path).map_err(|e| Error::io(&path, e))?;
            if let Some(problem) = &s.problem {
                tracing::error!(file = %path.display(), %problem, "a capture log segment is damaged");
            }
            segments.push(s);
        }
        let committed = self.commits;
        self.store(segments)?;
        if self.commits > committed && self.commits.is_multiple_of(self.compact_after) {
            // A failed compaction costs only speed; the records are stored.
            match self
                .rt
                .block_on(self.ws.compact(self.table, self.compact_after as usize))
            {
                Ok(Some(c)) => tracing::info!(table = %self.table, ?c, "compacted"),
                Ok(None) => {}
                Err(e) => tracing::warn!(table = %self.table, error = %e, "compaction failed"),
            }
        }
        Ok(())
    }

    /// Stores the records past the committed sequence number in one commit
    /// that records the last of them, then deletes the segments.
    fn store(&mut self, segments: Vec<Segment>) -> Result<(), Error> {
        if segments.is_empty() {
            return Ok(());
        }
        let mut jsonl = Vec::new();
        let mut last = None;
        for r in segments.iter().flat_map(|s| &s.records) {
            if r.seq as i64 > self.committed {
                jsonl.extend_from_slice(&r.payload);
                last = Some(r.seq as i64);
            }
        }
        if let Some(last) = last {
            let started = SystemTime::now();
            let opts = ImportOptions {
                repeats: Repeats::StoreOnce,
                app_transaction: Some((APP_ID.to_string(), last)),
                // Every record was checked when it came; one that fails
                // now is kept in `rejects` rather than hold up the rest.
                max_reject_ratio: 1.0,
                ..ImportOptions::default()
            };
            let report = self.rt.block_on(self.ws.import_jsonl(
                self.table,
                "capture (koubei serve)",
                jsonl,
                &opts,
                &Quiet,
            ))?;
            if report.loaded > 0 {
                self.commits += 1;
                let dir = self.ws.table_dir(self.table.name());
                sync_new_files(&dir, started).map_err(|e| Error::io(&dir, e))?;
            }
            tracing::info!(
                table = %self.table,
                loaded = report.loaded,
                already_present = report.already_present,
                rejected = report.rejected,
                sequence = last,
                "captured records stored"
            );
            self.committed = last;
        }
        for s in &segments {
            std::fs::remove_file(&s.path).map_err(|e| Error::io(&s.path, e))?;
        }
        log::sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        Ok(())
    }
}

/// Makes a commit durable before the log that it replaces is deleted: the
/// table's files and log entries written since `since`, and both folders.
fn sync_new_files(dir: &Path, since: SystemTime) -> std::io::Result<()> {
    // Coarse file clocks: a second's slack costs only a few more syncs.
    let since = since - Duration::from_secs(1);
    for folder in [dir.to_path_buf(), dir.join("_delta_log")] {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() && meta.modified()? >= since {
                std::fs::File::open(entry.path())?.sync_all()?;
            }
        }
        log::sync_dir(&folder)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capture;

    fn count(ws: &Workspace, sql: &str) -> Vec<String> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let ctx = datafusion::prelude::SessionContext::new();
            if let Some(t) = ws.load_table("events").await.unwrap() {
                ctx.register_table("events", koubei_store::table_provider(&t).await.unwrap())
                    .unwrap();
            }
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            arrow_lines(&batches)
        })
    }

    fn arrow_lines(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<String> {
        datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .unwrap()
            .to_string()
            .lines()
            .skip(3)
            .filter(|l| !l.starts_with('+'))
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn submit(c: &Capture, body: &str) -> crate::Ack {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(c.submit(TableKind::Events, body.as_bytes()))
            .unwrap()
    }

    /// Acknowledged records reach the table once: across a flush, a retry
    /// of the same records, a stop with records waiting, and a replay of a
    /// log whose records a commit already holds.
    #[test]
    fn acknowledged_records_are_stored_once() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = Workspace::create(tmp.path().join("ws")).unwrap();
        let config = Config {
            flush_every: Duration::from_secs(3600),
            ..Config::default()
        };
        let c = Capture::start(&ws, config.clone()).unwrap();
        assert!(matches!(
            Capture::start(&ws, config.clone()),
            Err(Error::Locked(_))
        ));
        let a = submit(
            &c,
            r#"[{"event_id":"e1","customer_id":"c1","event":"view","ts":"2026-01-01T00:00:00Z"},
                {"customer_id":"c1","event":"purchase","ts":"2026-01-01T00:01:00Z"}]"#,
        );
        assert_eq!(a.accepted, 2);
        c.flush().unwrap();
        assert_eq!(count(&ws, "SELECT count(*) FROM events"), ["2"]);
        // A retry: the same id, and the same record without an id.
        submit(
            &c,
            r#"{"event_id":"e1","customer_id":"c1","event":"view","ts":"2026-01-01T00:00:00Z"}
               {"customer_id":"c1","event":"purchase","ts":"2026-01-01T00:01:00Z"}
               {"customer_id":"c2","event":"view","ts":"2026-01-02T00:00:00Z"}
               {"customer_id":"c2","event":"view","ts":"2026-01-02T00:00:00Z"}"#,
        );
        submit(&c, r#"{"customer_id":"c3","event":"view"}"#);
        c.close().unwrap();
        drop(c);
        assert_eq!(
            count(
                &ws,
                "SELECT customer_id, count(*) FROM events GROUP BY 1 ORDER BY 1"
            ),
            ["c1 2", "c2 1", "c3 1"]
        );

        // A log segment that a commit already holds (a crash between the
        // commit and the deletion) adds nothing when it is replayed.
        let dir = ws.root().join("capture/events");
        let c = Capture::start(&ws, config.clone()).unwrap();
        submit(&c, r#"{"customer_id":"c4","event":"view","event_id":"e4"}"#);
        let (_, seg) = log::segments(&dir).unwrap().pop().unwrap();
        let kept = std::fs::read(&seg).unwrap();
        c.close().unwrap();
        drop(c);
        assert!(log::segments(&dir).unwrap().is_empty());
        std::fs::write(&seg, kept).unwrap();
        let c = Capture::start(&ws, config).unwrap();
        assert!(log::segments(&dir).unwrap().is_empty());
        c.close().unwrap();
        drop(c);
        assert_eq!(count(&ws, "SELECT count(*) FROM events"), ["5"]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let v = rt
            .block_on(ws.app_version(TableKind::Events, APP_ID))
            .unwrap();
        assert!(v.is_some_and(|v| v >= 3), "{v:?}");
    }

    /// Every few flushes the table's small files are packed into one.
    #[test]
    fn flushes_are_compacted() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = Workspace::create(tmp.path().join("ws")).unwrap();
        let config = Config {
            flush_every: Duration::from_secs(3600),
            compact_after: 3,
            ..Config::default()
        };
        let c = Capture::start(&ws, config).unwrap();
        let files = || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let t = rt.block_on(ws.load_table("events")).unwrap().unwrap();
            t.get_file_uris().unwrap().count()
        };
        for i in 0..5 {
            submit(&c, &format!(r#"{{"customer_id":"c{i}","event":"view"}}"#));
            c.flush().unwrap();
        }
        // Three commits packed into one, then two more.
        assert_eq!(files(), 3);
        assert_eq!(count(&ws, "SELECT count(*) FROM events"), ["5"]);
    }
}
