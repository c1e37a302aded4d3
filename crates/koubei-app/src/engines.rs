//! One engine per workspace and data version, shared by the requests that
//! read it: a server opens the tables once per change of data rather than
//! once per request, and a new import or captured records show at the next
//! request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use koubei_engine::{Engine, Runner};
use koubei_store::Workspace;

use crate::Result;

type Versions = Vec<(String, Option<u64>)>;

/// Where this process runs its plans (see [`run_on`]).
static RUNNER: Mutex<Runner> = Mutex::new(Runner::InProcess);

/// Runs the plans of every engine this process opens from now on with
/// `runner`: set once by a front end that was told of a cluster.
pub fn run_on(runner: Runner) {
    *RUNNER.lock().unwrap_or_else(|e| e.into_inner()) = runner;
    *OPEN.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// A new engine over the workspace, not shared.
pub(crate) async fn open(ws: &Workspace) -> Result<Engine> {
    let runner = RUNNER.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Engine::open_on(ws, runner).await?)
}

/// Held while an engine opens.
static OPENING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The engine last opened: its workspace and the versions it was keyed on.
static OPEN: Mutex<Option<(PathBuf, Versions, Arc<Engine>)>> = Mutex::new(None);

/// The engine over the workspace's latest tables.
///
/// The key is read before the engine opens: if a commit lands while it
/// opens, the engine reads the newer data and the next request, seeing the
/// newer versions, opens another. An engine is never kept past a change.
pub(crate) async fn engine(ws: &Workspace) -> Result<Arc<Engine>> {
    let versions = ws.versions();
    let opened = || {
        let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        match open.as_ref() {
            Some((root, v, engine)) if root == ws.root() && *v == versions => {
                Some(Arc::clone(engine))
            }
            _ => None,
        }
    };
    if let Some(engine) = opened() {
        return Ok(engine);
    }
    // One opens; requests that come meanwhile wait for it rather than open
    // the same tables again.
    let _opening = OPENING.lock().await;
    if let Some(engine) = opened() {
        return Ok(engine);
    }
    let engine = Arc::new(open(ws).await?);
    *OPEN.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((ws.root().to_path_buf(), versions, Arc::clone(&engine)));
    Ok(engine)
}
