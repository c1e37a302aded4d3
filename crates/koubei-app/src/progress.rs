//! How an operation shows its progress: the command line draws bars on
//! stderr, the server shows nothing. An operation starts one task per stage
//! it can measure.

/// Starts tasks.
pub trait Progress: Send + Sync {
    fn task(&self, label: &str) -> Box<dyn Task>;
}

/// One task's progress.
pub trait Task: Send + Sync {
    /// A new stage of the task; `total` is in bytes when known (an import
    /// reads a file), else the stage is shown as busy.
    fn stage(&self, _name: &str, _total: Option<u64>) {}
    /// A count to reach, in `unit`s.
    fn counting(&self, _total: u64, _unit: &str) {}
    fn position(&self, _pos: u64) {}
    fn message(&self, _msg: &str) {}
    fn finish(&self) {}
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn task(&self, _label: &str) -> Box<dyn Task> {
        Box::new(Quiet)
    }
}

impl Task for Quiet {}

/// A task as the store reports an import's progress to it.
pub(crate) struct Stages<'a>(pub &'a dyn Task);

impl koubei_store::Progress for Stages<'_> {
    fn stage(&self, name: &str, total: Option<u64>) {
        self.0.stage(name, total);
    }

    fn position(&self, pos: u64) {
        self.0.position(pos);
    }
}
