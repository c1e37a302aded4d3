//! The capture log of one table: append-only segment files of framed
//! records, written by one thread that makes one `fdatasync` for every
//! request waiting at that moment (group commit).
//!
//! A record is a request's records as JSON Lines, framed as
//!
//! ```text
//! u32 LE  payload length
//! u32 LE  CRC-32 of the sequence number's 8 bytes and the payload
//! u64 LE  sequence number, rising by one per record
//! payload
//! ```
//!
//! A segment is named by the sequence number of its first record
//! (`00000000000000000042.log`). The writer starts a new segment when the
//! flusher asks it to ([`Log::rotate`]), so that closed segments can be
//! moved into the table and deleted while the writer goes on. A kill can
//! leave a torn record at the end of the last segment; [`read_segment`]
//! stops at the first record that is short or fails its checksum, and
//! [`recover`] cuts the last segment there.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use tokio::sync::oneshot;

const HEADER: usize = 16;

/// The largest payload a record may have (far above the request body limit).
const MAX_PAYLOAD: usize = 1 << 30;

/// Requests written with one `fdatasync`, at most: enough to amortise it,
/// little enough that the first waits not long for the last.
const GROUP_BYTES: usize = 64 << 20;

/// Messages to the writer thread.
enum Msg {
    Append {
        payload: Vec<u8>,
        reply: oneshot::Sender<io::Result<u64>>,
    },
    /// Close the current segment; reply with the next sequence number, so
    /// that every segment named below it is closed.
    Rotate(SyncSender<u64>),
}

/// Why a record was not appended.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The queue is full: the caller should come back later.
    Busy,
    /// The log cannot be written; nothing of the request was acknowledged.
    Io(io::Error),
}

/// The writing end of one table's log.
pub(crate) struct Log {
    dir: PathBuf,
    tx: SyncSender<Msg>,
    /// Payload bytes queued and not yet written.
    queued: Arc<AtomicUsize>,
    queue_bytes: usize,
}

/// A record read back from a segment.
pub(crate) struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// A segment read back: its valid records and where they end.
pub(crate) struct Segment {
    pub path: PathBuf,
    pub records: Vec<Record>,
    /// Bytes of whole, valid records from the start.
    pub valid_len: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub problem: Option<String>,
}

impl Log {
    /// Starts the writer for the log in `dir`, numbering records from
    /// `next_seq`. `pending` counts the payload bytes written since the
    /// last rotation; past `flush_bytes` the writer calls `wake`.
    pub(crate) fn start(
        dir: PathBuf,
        next_seq: u64,
        queue_bytes: usize,
        pending: Arc<AtomicUsize>,
        flush_bytes: usize,
        wake: impl Fn() + Send + 'static,
    ) -> io::Result<Log> {
        // Bounded in requests as well as bytes: tiny requests cost memory too.
        let (tx, rx) = sync_channel(16_384);
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            dir: dir.clone(),
            next_seq,
            current: None,
            queued: Arc::clone(&queued),
            pending,
            flush_bytes,
        };
        std::thread::Builder::new()
            .name("koubei-capture-log".into())
            .spawn(move || writer.run(rx, wake))?;
        Ok(Log {
            dir,
            tx,
            queued,
            queue_bytes,
        })
    }

    /// Appends one record and waits until it is on disk; returns its
    /// sequence number. Never waits for room in the queue.
    pub(crate) async fn append(&self, payload: Vec<u8>) -> Result<u64, AppendError> {
        let len = payload.len();
        let before = self.queued.fetch_add(len, Ordering::SeqCst);
        if before > 0 && before + len > self.queue_bytes {
            self.queued.fetch_sub(len, Ordering::SeqCst);
            return Err(AppendError::Busy);
        }
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Msg::Append { payload, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.queued.fetch_sub(len, Ordering::SeqCst);
                return Err(AppendError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(len, Ordering::SeqCst);
                return Err(AppendError::Io(io::Error::other("the log writer stopped")));
            }
        }
        match answer.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(e)) => Err(AppendError::Io(e)),
            Err(_) => Err(AppendError::Io(io::Error::other("the log writer stopped"))),
        }
    }

    /// Closes the segment being written; returns the sequence number below
    /// which every record is in a closed segment.
    pub(crate) fn rotate(&self) -> io::Result<u64> {
        let (reply, answer) = sync_channel(1);
        self.tx
            .send(Msg::Rotate(reply))
            .map_err(|_| io::Error::other("the log writer stopped"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the log writer stopped"))
    }

    /// The segments whose records all come before `boundary`, oldest first.
    pub(crate) fn closed_segments(&self, boundary: u64) -> io::Result<Vec<(u64, PathBuf)>> {
        Ok(segments(&self.dir)?
            .into_iter()
            .filter(|(first, _)| *first < boundary)
            .collect())
    }
}

struct Writer {
    dir: PathBuf,
    next_seq: u64,
    /// The segment being written, and its length.
    current: Option<(File, u64)>,
    queued: Arc<AtomicUsize>,
    pending: Arc<AtomicUsize>,
    flush_bytes: usize,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>, wake: impl Fn()) {
        let mut buf = Vec::new();
        let mut group: Vec<(u64, oneshot::Sender<io::Result<u64>>)> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append { payload, reply } => {
                        self.queued.fetch_sub(payload.len(), Ordering::SeqCst);
                        frame(&mut buf, self.next_seq, &payload);
                        group.push((self.next_seq, reply));
                        self.next_seq += 1;
                    }
                    Msg::Rotate(reply) => {
                        self.write_group(&mut buf, &mut group);
                        self.current = None;
                        self.pending.store(0, Ordering::SeqCst);
                        let _ = reply.send(self.next_seq);
                    }
                }
                // Everything waiting now goes into the same write and sync.
                if buf.len() < GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            let written = buf.len();
            self.write_group(&mut buf, &mut group);
            if written > 0
                && self.pending.fetch_add(written, Ordering::SeqCst) + written >= self.flush_bytes
            {
                wake();
            }
        }
    }

    /// Writes the framed records, syncs, and answers each request.
    fn write_group(
        &mut self,
        buf: &mut Vec<u8>,
        group: &mut Vec<(u64, oneshot::Sender<io::Result<u64>>)>,
    ) {
        if group.is_empty() {
            return;
        }
        let first_seq = group[0].0;
        let result = self.write(buf, first_seq);
        buf.clear();
        match result {
            Ok(()) => {
                for (seq, reply) in group.drain(..) {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %self.dir.display(), "the capture log cannot be written");
                // What was written of this group is not acknowledged; the
                // next group starts a new segment rather than follow it.
                self.current = None;
                for (_, reply) in group.drain(..) {
                    let _ = reply.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }

    fn write(&mut self, buf: &[u8], first_seq: u64) -> io::Result<()> {
        if self.current.is_none() {
            let path = self.dir.join(segment_name(first_seq));
            let file = File::options().create_new(true).append(true).open(&path)?;
            // The new name must survive a crash as well as its contents.
            File::open(&self.dir)?.sync_all()?;
            self.current = Some((file, 0));
        }
        let (file, len) = self.current.as_mut().expect("a segment is open");
        file.write_all(buf)?;
        file.sync_data()?;
        *len += buf.len() as u64;
        Ok(())
    }
}

fn frame(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(payload);
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.log")
}

/// The segments in `dir`, by their first sequence number.
pub(crate) fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((first, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// Reads a segment's records up to the first that is torn or corrupt.
pub(crate) fn read_segment(path: &Path) -> io::Result<Segment> {
    let bytes = fs::read(path)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut problem = None;
    let mut last_seq = None;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + HEADER) else {
            problem = Some(format!("a record header cut short at byte {at}"));
            break;
        };
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        if len > MAX_PAYLOAD {
            problem = Some(format!("an impossible record length {len} at byte {at}"));
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            problem = Some(format!("a record cut short at byte {at}"));
            break;
        };
        if checksum(seq, payload) != crc {
            problem = Some(format!("a record whose checksum fails at byte {at}"));
            break;
        }
        if last_seq.is_some_and(|l| seq <= l) {
            problem = Some(format!("a sequence number going back at byte {at}"));
            break;
        }
        last_seq = Some(seq);
        records.push(Record {
            seq,
            payload: payload.to_vec(),
        });
        at += HEADER + len;
    }
    Ok(Segment {
        path: path.to_path_buf(),
        records,
        valid_len: at as u64,
        problem,
    })
}

/// Reads every segment in `dir` after a start or a crash. The last segment
/// is cut after its last whole record (a kill during a write leaves a torn
/// tail; that record was never acknowledged). A problem in an earlier
/// segment is reported and that segment's valid records kept. Returns the
/// segments and the next sequence number to use.
pub(crate) fn recover(dir: &Path) -> io::Result<(Vec<Segment>, u64)> {
    fs::create_dir_all(dir)?;
    let found = segments(dir)?;
    let mut out = Vec::with_capacity(found.len());
    let mut next_seq = 0;
    let last = found.len().checked_sub(1);
    for (i, (first, path)) in found.into_iter().enumerate() {
        let segment = read_segment(&path)?;
        if let Some(problem) = &segment.problem {
            if Some(i) == last {
                tracing::warn!(file = %path.display(), %problem, "cutting the capture log's torn tail");
                let file = File::options().write(true).open(&path)?;
                file.set_len(segment.valid_len)?;
                file.sync_all()?;
            } else {
                tracing::error!(file = %path.display(), %problem, "a capture log segment is damaged; its records after the damage are lost");
            }
        }
        next_seq = next_seq.max(first);
        if let Some(r) = segment.records.last() {
            next_seq = next_seq.max(r.seq + 1);
        }
        out.push(segment);
    }
    Ok((out, next_seq))
}

/// Makes a directory's entries (new or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(dir: &Path, next: u64) -> Log {
        Log::start(
            dir.to_path_buf(),
            next,
            1 << 20,
            Arc::default(),
            usize::MAX,
            || {},
        )
        .unwrap()
    }

    fn payloads(segments: &[Segment]) -> Vec<(u64, String)> {
        segments
            .iter()
            .flat_map(|s| &s.records)
            .map(|r| (r.seq, String::from_utf8(r.payload.clone()).unwrap()))
            .collect()
    }

    /// Records written by many tasks at once come back in sequence order,
    /// across a rotation, after the writer is gone.
    #[test]
    fn appended_records_read_back_across_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let log = Arc::new(start(tmp.path(), 5));
        let seqs: Vec<u64> = rt.block_on(async {
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    let log = Arc::clone(&log);
                    tokio::spawn(async move { log.append(format!("r{i}\n").into_bytes()).await })
                })
                .collect();
            let mut seqs = Vec::new();
            for t in tasks {
                seqs.push(t.await.unwrap().unwrap());
            }
            seqs
        });
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(sorted, (5..55).collect::<Vec<_>>());
        let boundary = log.rotate().unwrap();
        assert_eq!(boundary, 55);
        assert_eq!(rt.block_on(log.append(b"late\n".to_vec())).unwrap(), 55);
        assert_eq!(log.closed_segments(boundary).unwrap().len(), 1);
        drop(log);
        let (segments, next) = recover(tmp.path()).unwrap();
        assert_eq!(next, 56);
        let got = payloads(&segments);
        assert_eq!(got.len(), 51);
        assert_eq!(got[50], (55, "late\n".to_string()));
        // Each sequence number carries the payload it was acknowledged for.
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(got[(*seq - 5) as usize].1, format!("r{i}\n"));
        }
    }

    /// A torn tail (a kill in the middle of a write) is cut, and the
    /// records before it kept; a flipped bit stops reading at its record.
    #[test]
    fn torn_tails_are_cut_and_corruption_found() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let log = start(tmp.path(), 0);
        for i in 0..3 {
            rt.block_on(log.append(format!("{{\"n\":{i}}}\n").into_bytes()))
                .unwrap();
        }
        drop(log);
        let (_, path) = segments(tmp.path()).unwrap().pop().unwrap();
        let whole = fs::read(&path).unwrap();
        for cut in [1, HEADER - 1, HEADER + 3] {
            let mut f = File::options().append(true).open(&path).unwrap();
            f.write_all(&[0xAB; 64][..cut]).unwrap();
            drop(f);
            let (segments, next) = recover(tmp.path()).unwrap();
            assert_eq!(payloads(&segments).len(), 3);
            assert_eq!(next, 3);
            assert_eq!(fs::read(&path).unwrap(), whole, "cut back to whole records");
        }
        // A bit flipped in the second record's payload.
        let mut damaged = whole.clone();
        let second = HEADER + "{\"n\":0}\n".len();
        damaged[second + HEADER + 2] ^= 1;
        fs::write(&path, &damaged).unwrap();
        let s = read_segment(&path).unwrap();
        assert_eq!(s.records.len(), 1);
        assert!(s.problem.unwrap().contains("checksum"));
    }

    /// A full queue answers at once instead of growing.
    #[test]
    fn a_full_queue_is_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let log = Log::start(
            tmp.path().to_path_buf(),
            0,
            10,
            Arc::default(),
            usize::MAX,
            || {},
        )
        .unwrap();
        // One record larger than the queue still goes through when alone.
        assert!(rt.block_on(log.append(vec![b'x'; 100])).is_ok());
        log.queued.store(8, Ordering::SeqCst);
        assert!(matches!(
            rt.block_on(log.append(vec![b'x'; 5])),
            Err(AppendError::Busy)
        ));
    }
}
