//! Reading CSV, JSON Lines and Parquet files, gzip-compressed or not, into
//! chunks of source columns.
//!
//! A reader knows nothing of the canonical tables: it hands over the file's
//! own column names, its values (as text for CSV and JSON, typed for Parquet),
//! the line each row came from, and the rows it could not read at all.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::reject::Reject;

/// Rows per chunk handed to the converter.
pub(crate) const CHUNK_ROWS: usize = 64 * 1024;

/// No line may be longer than this; a file without newlines is not a table.
pub(crate) const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde_with::DeserializeFromStr)]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "txt" | "dat" => Ok(Format::Csv),
            "tsv" | "tab" => Ok(Format::Tsv),
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            "parquet" | "pq" => Ok(Format::Parquet),
            _ => Err(format!(
                "unknown format \"{s}\": expected csv, tsv, jsonl or parquet"
            )),
        }
    }
}

impl Format {
    /// The format named by a file's extension, after any `.gz`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".gzip"))
            .unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        ext.parse().ok()
    }
}

/// A slice of the file: its columns under the file's own names.
pub(crate) struct Chunk {
    pub names: Vec<String>,
    pub columns: Vec<ArrayRef>,
    /// The line (CSV, JSON) or row number (Parquet) of each row, from 1.
    pub lines: Vec<u64>,
    /// Rows the reader could not split into values.
    pub rejects: Vec<Reject>,
    /// Rows read, including the ones rejected here.
    pub rows_read: u64,
}

/// Bytes of the underlying file consumed so far, for progress bars.
#[derive(Debug, Default, Clone)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Fails a read once a line grows past [`MAX_LINE_BYTES`], so that a file
/// with no newlines cannot make the parser buffer gigabytes.
struct LineLimit<R> {
    inner: R,
    line: u64,
    current: u64,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        let mut last = None;
        for i in memchr::memchr_iter(b'\n', data) {
            self.line += 1;
            last = Some(i);
        }
        self.current = match last {
            Some(i) => (n - i - 1) as u64,
            None => self.current + n as u64,
        };
        if self.current > MAX_LINE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {} is longer than {} MiB; is this a text table?",
                    self.line + 1,
                    MAX_LINE_BYTES >> 20
                ),
            ));
        }
        Ok(n)
    }
}

/// Opens a file, undoing gzip when its first bytes say so.
fn open_text(path: &Path, counter: &ByteCounter) -> Result<Box<dyn Read + Send>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    let counted = Counting {
        inner: io::Cursor::new(magic[..n].to_vec()).chain(file),
        counter: counter.clone(),
    };
    let raw: Box<dyn Read + Send> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 20,
            counted,
        )))
    } else {
        Box::new(counted)
    };
    Ok(Box::new(LineLimit {
        inner: raw,
        line: 0,
        current: 0,
    }))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Turns a read error into one that says where in the file it happened.
fn read_error(path: &Path, line: u64, e: io::Error) -> Error {
    let reason = match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "the file ends in the middle of its compressed data (truncated gzip?)".to_string()
        }
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
            if e.to_string().contains("deflate") || e.to_string().contains("header") =>
        {
            format!("corrupt gzip data: {e}")
        }
        _ => e.to_string(),
    };
    Error::Malformed {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// How the fields of a text table are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde_with::DeserializeFromStr)]
pub enum Delimiter {
    /// One byte, with CSV quoting.
    Byte(u8),
    /// Any run of spaces and tabs, with no quoting, as in fixed-width data
    /// files such as the CDNOW transaction logs; leading blanks are ignored.
    Whitespace,
}

impl FromStr for Delimiter {
    type Err = String;
    /// One ASCII character, `\t` (or `tab`), or `whitespace` (`ws`).
    fn from_str(d: &str) -> std::result::Result<Self, String> {
        match d {
            "\\t" | "\t" | "tab" => Ok(Delimiter::Byte(b'\t')),
            "whitespace" | "ws" => Ok(Delimiter::Whitespace),
            d if d.len() == 1 && d.is_ascii() => Ok(Delimiter::Byte(d.as_bytes()[0])),
            _ => Err(format!(
                "must be one ASCII character, \\t, or whitespace (runs of blanks), not \"{d}\""
            )),
        }
    }
}

/// A reader that hands over its file chunk by chunk, and stops for good after
/// the last chunk or the first error.
trait ChunkSource {
    fn next_chunk(&mut self) -> Result<Option<Chunk>>;
    fn done(&mut self) -> &mut bool;
}

struct Chunks<S>(S);

impl<S: ChunkSource> Iterator for Chunks<S> {
    type Item = Result<Piece>;

    fn next(&mut self) -> Option<Self::Item> {
        if *self.0.done() {
            return None;
        }
        let r = self.0.next_chunk();
        if r.is_err() {
            *self.0.done() = true;
        }
        r.transpose().map(|c| c.map(Piece::Chunk))
    }
}

/// A chunk of text columns from their builders.
fn text_chunk(
    names: Vec<String>,
    builders: Vec<StringBuilder>,
    lines: Vec<u64>,
    rejects: Vec<Reject>,
    rows_read: u64,
) -> Chunk {
    Chunk {
        names,
        columns: builders
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .collect(),
        lines,
        rejects,
        rows_read,
    }
}

/// What a reader hands over: a chunk, or a block of CSV records that the
/// importer's worker threads split into values, so that tokenising runs on
/// every core rather than on the one reading the file.
pub(crate) enum Piece {
    Chunk(Chunk),
    Csv(CsvBlock),
}

impl Piece {
    /// The bytes of text and the lines in a CSV block, for estimating a
    /// file's rows from its size.
    pub fn text_span(&self) -> Option<(usize, usize)> {
        match self {
            Piece::Chunk(_) => None,
            Piece::Csv(b) => Some((b.bytes.len(), b.lines + 1)),
        }
    }

    pub fn names(&self) -> &[String] {
        match self {
            Piece::Chunk(c) => &c.names,
            Piece::Csv(b) => &b.names,
        }
    }

    pub fn into_chunk(self) -> Result<Chunk> {
        match self {
            Piece::Chunk(c) => Ok(c),
            Piece::Csv(b) => b.parse(),
        }
    }
}

pub(crate) type ChunkIter = Box<dyn Iterator<Item = Result<Piece>> + Send>;

/// Opens `path` as `format` and returns its chunks.
pub(crate) fn open(
    path: &Path,
    format: Format,
    delimiter: Option<Delimiter>,
    columns: Option<&[String]>,
    counter: &ByteCounter,
) -> Result<ChunkIter> {
    match format {
        Format::Csv | Format::Tsv => match delimiter {
            Some(Delimiter::Whitespace) => {
                Ok(Box::new(Chunks(WsChunks::new(path, columns, counter)?)))
            }
            Some(Delimiter::Byte(d)) => Ok(Box::new(CsvChunks::new(path, d, columns, counter)?)),
            None => {
                let d = if format == Format::Tsv { b'\t' } else { b',' };
                Ok(Box::new(CsvChunks::new(path, d, columns, counter)?))
            }
        },
        Format::Jsonl => Ok(Box::new(Chunks(JsonChunks::new(path, counter)?))),
        Format::Parquet => parquet_chunks(path, counter),
    }
}

/// Bytes per CSV block: tens of thousands of rows.
const BLOCK_BYTES: usize = 4 << 20;

/// Splits a CSV file into blocks of whole records, by newlines outside
/// quotes (RFC 4180: a quote inside a quoted field is doubled, so a newline
/// ends a record exactly when the quotes before it in the block are even).
struct CsvChunks {
    path: PathBuf,
    input: Box<dyn Read + Send>,
    names: Arc<Vec<String>>,
    delimiter: u8,
    /// Bytes per block, about.
    block: usize,
    /// Bytes read and not handed over yet; they start at a record's start.
    buf: Vec<u8>,
    /// The line number of `buf`'s first byte.
    line: u64,
    eof: bool,
    done: bool,
    /// The first block is handed over even when empty, so that a header-only
    /// file still has its columns checked.
    first: bool,
}

/// The end (just past the newline) of the first or the last whole record
/// in `data`, which starts at a record's start, as the csv parser reads it:
/// a quote opens a quoted field only at a field's start, a doubled quote
/// inside one is a quote, and a newline ends a record only outside quotes.
/// A quote at the very end of `data` might be doubled by the next byte:
/// scanning stops before it.
fn record_end(data: &[u8], delimiter: u8, first: bool) -> Option<usize> {
    let mut quoted = false;
    let mut end = None;
    let mut skip = None;
    for i in memchr::memchr2_iter(b'"', b'\n', data) {
        if skip == Some(i) {
            continue;
        }
        if data[i] == b'\n' {
            if !quoted {
                end = Some(i + 1);
                if first {
                    break;
                }
            }
        } else if quoted {
            match data.get(i + 1) {
                Some(b'"') => skip = Some(i + 1),
                Some(_) => quoted = false,
                None => break,
            }
        } else if i == 0 || matches!(data[i - 1], b'\n' | b'\r') || data[i - 1] == delimiter {
            quoted = true;
        }
    }
    end
}

/// Where a record that the parser says is at `byte` really starts: the
/// parser's position is where it started reading, before the blank lines
/// it skips.
fn record_start(data: &[u8], byte: u64) -> usize {
    let byte = (byte as usize).min(data.len());
    byte + data[byte..]
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(data.len() - byte)
}

/// A csv reader over one block, with the settings every block shares.
fn csv_reader<R: Read>(delimiter: u8, input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(input)
}

impl CsvChunks {
    fn new(
        path: &Path,
        delimiter: u8,
        columns: Option<&[String]>,
        counter: &ByteCounter,
    ) -> Result<Self> {
        let mut me = CsvChunks {
            path: path.into(),
            input: open_text(path, counter)?,
            names: Arc::new(Vec::new()),
            delimiter,
            block: BLOCK_BYTES,
            buf: Vec::new(),
            line: 1,
            eof: false,
            done: false,
            first: true,
        };
        if let Some(columns) = columns {
            me.names = Arc::new(check_names(path, columns.to_vec())?);
            return Ok(me);
        }
        let header = me.next_block()?;
        let mut reader = csv_reader(delimiter, &header[..]);
        let mut record = csv::ByteRecord::new();
        let got = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(path, 1, e))?;
        if !got || header.is_empty() {
            return Err(Error::Unreadable {
                path: path.into(),
                reason: "the file is empty: expected a header line".into(),
            });
        }
        let mut names = Vec::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            let field = if i == 0 {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            let text = std::str::from_utf8(field)
                .ok()
                .filter(|s| !s.contains('\0'))
                .ok_or_else(|| Error::Unreadable {
                    path: path.into(),
                    reason: "the header is not UTF-8 text: is this a binary file, or one in another encoding (GBK?)".into(),
                })?;
            names.push(text.trim().to_string());
        }
        me.names = Arc::new(check_names(path, names)?);
        Ok(me)
    }

    /// Reads until `buf` holds `want` bytes or the file ends.
    fn fill(&mut self, want: usize) -> Result<()> {
        while !self.eof && self.buf.len() < want {
            let start = self.buf.len();
            self.buf.resize(want, 0);
            let n = match self.input.read(&mut self.buf[start..]) {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(start);
                    // The line the stream broke in: `line` is the next one
                    // to hand over, and those whole in what was read and
                    // not yet handed over come before it.
                    let line = self.line + memchr::memchr_iter(b'\n', &self.buf).count() as u64;
                    return Err(read_error(&self.path, line, e));
                }
            };
            self.buf.truncate(start + n);
            self.eof = n == 0;
        }
        Ok(())
    }

    /// The next whole records, about [`BLOCK_BYTES`] of them; the header
    /// alone the first time when the file has one.
    fn next_block(&mut self) -> Result<Vec<u8>> {
        let header = self.first && self.names.is_empty();
        let mut want = if header { 64 << 10 } else { self.block };
        loop {
            self.fill(want)?;
            let end = record_end(&self.buf, self.delimiter, header);
            let end = match end {
                Some(e) => e,
                None if self.eof => self.buf.len(),
                None if self.buf.len() as u64 > MAX_LINE_BYTES => {
                    return Err(Error::Malformed {
                        path: self.path.clone(),
                        line: self.line,
                        reason: format!(
                            "a record longer than {} MiB: is a quote left open?",
                            MAX_LINE_BYTES >> 20
                        ),
                    });
                }
                None => {
                    want = (self.buf.len() * 2).max(16);
                    continue;
                }
            };
            let rest = self.buf.split_off(end);
            let block = std::mem::replace(&mut self.buf, rest);
            self.line += memchr::memchr_iter(b'\n', &block).count() as u64;
            return Ok(block);
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Piece>> {
        let first_line = self.line;
        let bytes = self.next_block()?;
        let lines = (self.line - first_line) as usize;
        if bytes.is_empty() {
            self.done = true;
            if !self.first {
                return Ok(None);
            }
        }
        self.first = false;
        Ok(Some(Piece::Csv(CsvBlock {
            path: self.path.clone(),
            names: self.names.clone(),
            delimiter: self.delimiter,
            bytes,
            first_line,
            lines,
        })))
    }
}

impl Iterator for CsvChunks {
    type Item = Result<Piece>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_chunk();
        if r.is_err() {
            self.done = true;
        }
        r.transpose()
    }
}

/// Whole CSV records, not split into values yet.
pub(crate) struct CsvBlock {
    path: PathBuf,
    names: Arc<Vec<String>>,
    delimiter: u8,
    bytes: Vec<u8>,
    /// The line number of the block's first byte.
    first_line: u64,
    /// Newlines in `bytes`, counted when the block was cut.
    lines: usize,
}

impl CsvBlock {
    fn parse(self) -> Result<Chunk> {
        let width = self.names.len();
        let rows = self.lines + 1;
        let mut builders: Vec<StringBuilder> = (0..width)
            .map(|_| StringBuilder::with_capacity(rows, self.bytes.len() / width.max(1)))
            .collect();
        let mut lines = Vec::with_capacity(rows);
        let mut rejects = Vec::new();
        let mut rows_read = 0u64;
        let mut record = csv::ByteRecord::new();
        let mut reader = csv_reader(self.delimiter, &self.bytes[..]);
        // Line numbers count the newlines before a record's first byte (the
        // parser's own count leaves out blank lines).
        let (mut counted, mut line) = (0usize, self.first_line);
        let mut line_at = |byte: u64| {
            let byte = record_start(&self.bytes, byte).max(counted);
            line += memchr::memchr_iter(b'\n', &self.bytes[counted..byte]).count() as u64;
            counted = byte;
            line
        };
        loop {
            let got = reader.read_byte_record(&mut record).map_err(|e| {
                let line = e.position().map_or(self.first_line, |p| line_at(p.byte()));
                csv_error(&self.path, line, e)
            })?;
            if !got {
                break;
            }
            let line = record
                .position()
                .map_or(self.first_line, |p| line_at(p.byte()));
            if record.len() == 1 && record[0].is_empty() {
                continue; // a blank line
            }
            rows_read += 1;
            if record.len() != width {
                rejects.push(Reject::new(
                    line,
                    None,
                    format!(
                        "expected {width} fields as in the header, found {}",
                        record.len()
                    ),
                    Some(self.raw(&record)),
                ));
                continue;
            }
            // Validate UTF-8 once for the whole record.
            let text = match csv::StringRecord::from_byte_record(std::mem::take(&mut record)) {
                Ok(text) => text,
                Err(e) => {
                    record = e.into_byte_record();
                    let col = record
                        .iter()
                        .position(|f| std::str::from_utf8(f).is_err())
                        .unwrap_or(0);
                    rejects.push(Reject::new(
                        line,
                        Some(self.names[col].clone()),
                        "invalid UTF-8".into(),
                        Some(self.raw(&record)),
                    ));
                    continue;
                }
            };
            for (b, field) in builders.iter_mut().zip(text.iter()) {
                if field.is_empty() {
                    b.append_null();
                } else {
                    b.append_value(field);
                }
            }
            record = text.into_byte_record();
            lines.push(line);
        }
        Ok(text_chunk(
            self.names.to_vec(),
            builders,
            lines,
            rejects,
            rows_read,
        ))
    }

    fn raw(&self, record: &csv::ByteRecord) -> String {
        let sep = [self.delimiter];
        let parts: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
        parts.join(std::str::from_utf8(&sep).unwrap_or(","))
    }
}

/// Refuses a header that names a column twice.
fn check_names(path: &Path, names: Vec<String>) -> Result<Vec<String>> {
    let mut seen = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = seen.insert(n.as_str(), i) {
            return Err(Error::Columns {
                path: path.into(),
                reason: format!(
                    "the header names column \"{n}\" twice (fields {} and {})",
                    j + 1,
                    i + 1
                ),
                hint: None,
            });
        }
    }
    Ok(names)
}

/// A text table whose fields are separated by runs of blanks.
struct WsChunks {
    path: PathBuf,
    lines: io::Split<BufReader<Box<dyn Read + Send>>>,
    names: Vec<String>,
    line: u64,
    done: bool,
    first: bool,
}

impl WsChunks {
    fn new(path: &Path, columns: Option<&[String]>, counter: &ByteCounter) -> Result<Self> {
        let input = open_text(path, counter)?;
        let mut lines = BufReader::with_capacity(1 << 20, input).split(b'\n');
        let mut line = 0;
        let names = match columns {
            Some(c) => c.to_vec(),
            None => loop {
                line += 1;
                let Some(bytes) = lines.next() else {
                    return Err(Error::Unreadable {
                        path: path.into(),
                        reason: "the file is empty: expected a header line".into(),
                    });
                };
                let bytes = bytes.map_err(|e| read_error(path, line, e))?;
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                let text = std::str::from_utf8(bytes).map_err(|_| Error::Unreadable {
                    path: path.into(),
                    reason: "the header is not UTF-8 text".into(),
                })?;
                let names: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                if !names.is_empty() {
                    break names;
                }
            },
        };
        Ok(WsChunks {
            path: path.into(),
            lines,
            names: check_names(path, names)?,
            line,
            done: false,
            first: true,
        })
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let width = self.names.len();
        let mut builders: Vec<StringBuilder> = (0..width)
            .map(|_| StringBuilder::with_capacity(CHUNK_ROWS, CHUNK_ROWS * 8))
            .collect();
        let mut lines = Vec::with_capacity(CHUNK_ROWS);
        let mut rejects = Vec::new();
        let mut rows_read = 0u64;
        while lines.len() < CHUNK_ROWS {
            let Some(bytes) = self.lines.next() else {
                self.done = true;
                break;
            };
            self.line += 1;
            let line = self.line;
            let bytes = bytes.map_err(|e| read_error(&self.path, line, e))?;
            let Ok(text) = std::str::from_utf8(&bytes) else {
                rows_read += 1;
                rejects.push(Reject::new(
                    line,
                    None,
                    "invalid UTF-8".into(),
                    Some(String::from_utf8_lossy(&bytes).into_owned()),
                ));
                continue;
            };
            let fields: Vec<&str> = text.split_whitespace().collect();
            if fields.is_empty() {
                continue; // a blank line
            }
            rows_read += 1;
            if fields.len() != width {
                rejects.push(Reject::new(
                    line,
                    None,
                    format!("expected {width} fields, found {}", fields.len()),
                    Some(text.trim().to_string()),
                ));
                continue;
            }
            for (b, field) in builders.iter_mut().zip(fields) {
                b.append_value(field);
            }
            lines.push(line);
        }
        if rows_read == 0 && self.done && !self.first {
            return Ok(None);
        }
        self.first = false;
        Ok(Some(text_chunk(
            self.names.clone(),
            builders,
            lines,
            rejects,
            rows_read,
        )))
    }
}

impl ChunkSource for WsChunks {
    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        WsChunks::next_chunk(self)
    }
    fn done(&mut self) -> &mut bool {
        &mut self.done
    }
}

fn csv_error(path: &Path, line: u64, e: csv::Error) -> Error {
    let line = e.position().map_or(line, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => read_error(path, line, io),
        other => Error::Malformed {
            path: path.into(),
            line,
            reason: format!("{other:?}"),
        },
    }
}

struct JsonChunks {
    path: PathBuf,
    reader: BufReader<Box<dyn Read + Send>>,
    line: u64,
    done: bool,
}

impl JsonChunks {
    fn new(path: &Path, counter: &ByteCounter) -> Result<Self> {
        Ok(JsonChunks {
            path: path.into(),
            reader: BufReader::with_capacity(1 << 20, open_text(path, counter)?),
            line: 0,
            done: false,
        })
    }

    /// JSON Lines already in memory, such as captured records; `name` is
    /// what errors call the source.
    fn in_memory(name: &str, text: Vec<u8>) -> Self {
        JsonChunks {
            path: name.into(),
            reader: BufReader::new(Box::new(io::Cursor::new(text))),
            line: 0,
            done: false,
        }
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut builders: Vec<StringBuilder> = Vec::new();
        let mut lines = Vec::new();
        let mut rejects = Vec::new();
        let mut rows_read = 0;
        let mut buf = Vec::new();
        let mut filled = Vec::new();
        while lines.len() < CHUNK_ROWS {
            buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| read_error(&self.path, self.line + 1, e))?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            let text = buf.trim_ascii();
            let text = if self.line == 1 {
                text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text)
            } else {
                text
            };
            if text.is_empty() {
                continue;
            }
            rows_read += 1;
            let lossy = || String::from_utf8_lossy(text).chars().take(2000).collect();
            let Ok(s) = std::str::from_utf8(text) else {
                rejects.push(Reject::new(
                    self.line,
                    None,
                    "invalid UTF-8".into(),
                    Some(lossy()),
                ));
                continue;
            };
            if self.line == 1 && s.starts_with('[') {
                return Err(Error::Unreadable {
                    path: self.path.clone(),
                    reason: "this is a JSON array; koubei reads JSON Lines, one object per line (jq -c '.[]' converts it)".into(),
                });
            }
            let object = match serde_json::from_str::<Fields>(s) {
                Ok(Fields(Some(o))) => o,
                Ok(Fields(None)) => {
                    rejects.push(Reject::new(
                        self.line,
                        None,
                        "not a JSON object".into(),
                        Some(lossy()),
                    ));
                    continue;
                }
                Err(e) => {
                    rejects.push(Reject::new(
                        self.line,
                        None,
                        format!("invalid JSON at column {}: {e}", e.column()),
                        Some(lossy()),
                    ));
                    continue;
                }
            };
            let row = lines.len();
            filled.clear();
            filled.resize(names.len(), false);
            for (key, value) in object {
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    names.push(key);
                    let mut b = StringBuilder::new();
                    for _ in 0..row {
                        b.append_null();
                    }
                    builders.push(b);
                    filled.push(false);
                    builders.len() - 1
                });
                if filled[i] {
                    continue; // a repeated key: the first one wins
                }
                filled[i] = true;
                // Each value as written: a number keeps its digits (an id
                // beyond 64 bits, or written 1.0), a string is unescaped.
                let raw = value.get();
                if raw == "null" {
                    builders[i].append_null();
                } else if raw.starts_with('"') {
                    match serde_json::from_str::<String>(raw) {
                        Ok(s) if s.is_empty() => builders[i].append_null(),
                        Ok(s) => builders[i].append_value(s),
                        Err(_) => builders[i].append_value(raw),
                    }
                } else {
                    builders[i].append_value(raw);
                }
            }
            for (b, f) in builders.iter_mut().zip(&filled) {
                if !f {
                    b.append_null();
                }
            }
            lines.push(self.line);
        }
        if rows_read == 0 && self.done {
            return Ok(None);
        }
        Ok(Some(text_chunk(names, builders, lines, rejects, rows_read)))
    }
}

impl ChunkSource for JsonChunks {
    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        JsonChunks::next_chunk(self)
    }
    fn done(&mut self) -> &mut bool {
        &mut self.done
    }
}

fn parquet_chunks(path: &Path, counter: &ByteCounter) -> Result<ChunkIter> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut magic = [0u8; 2];
    let mut probe = File::open(path).map_err(|e| Error::io(path, e))?;
    if read_up_to(&mut probe, &mut magic).map_err(|e| Error::io(path, e))? == 2
        && magic == [0x1f, 0x8b]
    {
        return Err(Error::Unreadable {
            path: path.into(),
            reason: "gzip-compressed Parquet is not supported: Parquet compresses its own pages, so import the .parquet file itself".into(),
        });
    }
    let unreadable = |e: parquet::errors::ParquetError| Error::Unreadable {
        path: path.into(),
        reason: format!("not a readable Parquet file ({e}); is it truncated?"),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(unreadable)?;
    let total_rows = builder.metadata().file_metadata().num_rows().max(1) as u64;
    let reader = builder
        .with_batch_size(CHUNK_ROWS)
        .build()
        .map_err(unreadable)?;
    let path = path.to_path_buf();
    let counter = counter.clone();
    let mut row = 0u64;
    Ok(Box::new(reader.map(move |batch| {
        let batch: RecordBatch = batch.map_err(|e| Error::Unreadable {
            path: path.clone(),
            reason: format!("cannot decode row {}: {e}; is the file truncated?", row + 1),
        })?;
        let n = batch.num_rows() as u64;
        let lines = (row + 1..=row + n).collect();
        row += n;
        counter
            .0
            .store(size * row.min(total_rows) / total_rows, Ordering::Relaxed);
        Ok(Piece::Chunk(Chunk {
            names: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            columns: batch.columns().to_vec(),
            lines,
            rejects: Vec::new(),
            rows_read: n,
        }))
    })))
}

/// Chunks of JSON Lines already in memory.
pub(crate) fn jsonl_chunks(name: &str, text: Vec<u8>) -> ChunkIter {
    Box::new(Chunks(JsonChunks::in_memory(name, text)))
}

/// Chunks from record batches already in memory (the demo generator).
pub(crate) fn batch_chunks(batches: Vec<RecordBatch>) -> ChunkIter {
    let mut row = 0u64;
    Box::new(batches.into_iter().map(move |batch| {
        let n = batch.num_rows() as u64;
        let lines = (row + 1..=row + n).collect();
        row += n;
        Ok(Piece::Chunk(Chunk {
            names: batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            columns: batch.columns().to_vec(),
            lines,
            rejects: Vec::new(),
            rows_read: n,
        }))
    }))
}

/// One JSON Lines record: its fields in the order written, each value as
/// its raw text, or None when the line is JSON but not an object.
struct Fields(Option<Vec<(String, Box<serde_json::value::RawValue>)>>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Fields, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry()? {
                    fields.push(entry);
                }
                Ok(Fields(Some(fields)))
            }

            // Any other value is a line that is not an object.
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> std::result::Result<Fields, S::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Fields(None))
            }

            fn visit_str<E>(self, _: &str) -> std::result::Result<Fields, E> {
                Ok(Fields(None))
            }

            fn visit_bool<E>(self, _: bool) -> std::result::Result<Fields, E> {
                Ok(Fields(None))
            }

            fn visit_i64<E>(self, _: i64) -> std::result::Result<Fields, E> {
                Ok(Fields(None))
            }

            fn visit_u64<E>(self, _: u64) -> std::result::Result<Fields, E> {
                Ok(Fields(None))
            }

            fn visit_f64<E>(self, _: f64) -> std::result::Result<Fields, E> {
                Ok(Fields(None))
            }

            fn visit_unit<E>(self) -> std::result::Result<Fields, E> {
                Ok(Fields(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

koubei_schema::text_schema!(
    Format,
    "csv, tsv, jsonl, parquet, or any of them gzipped (csv.gz)"
);
koubei_schema::text_schema!(Delimiter, "a single character, or tab");

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use proptest::prelude::*;

    /// Every record with the line it starts on, as one csv reader reads
    /// the whole file.
    fn sequential(data: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut r = csv_reader(b',', data);
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            if rec.len() == 1 && rec[0].is_empty() {
                continue;
            }
            let byte = record_start(data, rec.position().unwrap().byte());
            let line = 1 + data[..byte].iter().filter(|&&b| b == b'\n').count() as u64;
            out.push((line, rec.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    /// The same, through blocks of about `block` bytes parsed one by one.
    fn blocked(data: &[u8], block: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, data).unwrap();
        let names: Vec<String> = (0..3).map(|i| format!("c{i}")).collect();
        let mut chunks =
            CsvChunks::new(&path, b',', Some(&names), &ByteCounter::default()).unwrap();
        chunks.block = block;
        let mut out = Vec::new();
        for piece in chunks {
            let c = piece.unwrap().into_chunk().unwrap();
            for (row, &line) in c.lines.iter().enumerate() {
                let fields = c.columns.iter().map(|col| {
                    let col = col
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>()
                        .unwrap();
                    if col.is_valid(row) {
                        col.value(row).as_bytes().to_vec()
                    } else {
                        Vec::new()
                    }
                });
                out.push((line, fields.collect()));
            }
            // Rows of another width are rejected, with their line.
            for r in &c.rejects {
                out.push((r.line, vec![]));
            }
        }
        out.sort_by_key(|(line, _)| *line);
        out
    }

    #[test]
    fn record_ends_by_hand() {
        let d = b"a,\"x\ny\",b\nc,5\",d\ne,\"q\"\"\n\",f\n";
        // The newline inside the first quoted field does not end a record;
        // the stray quote in 5" opens nothing; the doubled quote stays inside.
        assert_eq!(record_end(d, b',', true), Some(10));
        assert_eq!(record_end(d, b',', false), Some(d.len()));
        assert_eq!(record_end(b"a,\"open\n", b',', false), None);
        // A quote at the end might be doubled by the next byte.
        assert_eq!(record_end(b"a\nb,\"x\"", b',', false), Some(2));
    }

    proptest! {
        /// Blocks split where the csv parser ends records: the same records,
        /// on the same lines, as reading the file in one go.
        #[test]
        fn blocks_read_as_one_file(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(&b"a"[..]), Just(&b","[..]), Just(&b"\""[..]),
                    Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"xy"[..]),
                ],
                0..80,
            ),
            block in 1usize..40,
        ) {
            let data: Vec<u8> = parts.concat();
            // Three columns: other rows are rejects, kept with their line only.
            let want: Vec<_> = sequential(&data)
                .into_iter()
                .map(|(line, f)| if f.len() == 3 { (line, f) } else { (line, vec![]) })
                .collect();
            prop_assert_eq!(blocked(&data, block), want);
        }
    }
}
