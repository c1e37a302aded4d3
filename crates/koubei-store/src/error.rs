use std::path::PathBuf;

/// Errors from the workspace, import and storage.
///
/// Each variant names the input at fault so that the message alone tells the
/// user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file as a whole cannot be read: wrong format, truncated, binary.
    #[error("{}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },

    /// The file breaks off or goes wrong at a known place.
    #[error("{}, line {line}: {reason}", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    /// The file's columns do not fit the table.
    #[error("{}: {reason}{}", path.display(), hint.as_ref().map(Hint::sentence).unwrap_or_default())]
    Columns {
        path: PathBuf,
        reason: String,
        /// What would likely fix it; each front end spells it its own way.
        hint: Option<Hint>,
    },

    /// One field of the import's request is invalid (named as the request
    /// names it: `map`, `format`, ...).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error("invalid option: {0}")]
    Option(String),

    #[error(
        "{rejected} of {read} rows rejected ({:.2}%), more than the maximum reject ratio {max}; nothing was imported",
        100.0 * *rejected as f64 / (*read).max(1) as f64
    )]
    TooManyRejects {
        rejected: u64,
        read: u64,
        max: f64,
        /// The first rejects, so that the caller can show why.
        samples: Vec<crate::Reject>,
    },

    /// A table stored by an older koubei, in types this one does not read.
    #[error(
        "table {table} stores {column} as {stored}, as an older koubei did; this koubei stores it as {wanted}. Import the files again into a new workspace"
    )]
    Outdated {
        table: String,
        column: String,
        stored: String,
        wanted: String,
    },

    #[error("{} is not a koubei workspace: {reason}", path.display())]
    Workspace { path: PathBuf, reason: String },

    /// The disk is full: said plainly, whichever layer found it.
    #[error(
        "no space left on the device to write table {table}; nothing of this write was committed"
    )]
    NoSpace { table: String },

    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    #[error(transparent)]
    DataFusion(Box<datafusion::error::DataFusionError>),
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::DataFusion(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What would likely make a file's columns fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// The header is one field that holds this character: the file is
    /// separated by it.
    Delimiter(char),
    /// The table's column of this name is missing: read it from one of the
    /// file's columns with a mapping.
    Map(String),
}

impl Hint {
    /// The hint in words that name no front end's options.
    fn sentence(&self) -> String {
        match self {
            Hint::Delimiter(d) => format!(
                "\nhint: the header looks separated by '{}': set the delimiter to it",
                d.escape_default()
            ),
            Hint::Map(target) => format!(
                "\nhint: map the table's column to one of the file's, such as {target}=YOUR_COLUMN"
            ),
        }
    }
}

impl Error {
    pub(crate) fn delta(table: &str, source: deltalake::DeltaTableError) -> Self {
        // The writers wrap the OS error in text ("Failed to parse parquet:
        // ... No space left on device (os error 28)").
        if source.to_string().contains("(os error 28)") {
            return Error::NoSpace {
                table: table.to_string(),
            };
        }
        Error::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
