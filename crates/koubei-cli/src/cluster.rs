//! `--cluster` and `koubei cluster`: Ballista, when this koubei was built
//! with the `cluster` feature; otherwise a clear error saying how to get it.

#[cfg(feature = "cluster")]
mod on {
    use std::sync::Arc;

    use anyhow::{Result, anyhow};
    use futures::FutureExt;
    use koubei_cluster::{ExecutorOptions, SchedulerOptions};

    use crate::args::ClusterCommand;

    /// Every engine this process opens runs its plans on the cluster.
    pub fn use_cluster(url: &str) -> Result<()> {
        koubei_cluster::scheduler_address(url).map_err(|e| flag("--cluster", e))?;
        let owned = url.to_string();
        let session: koubei_app::SessionMaker = Arc::new(move |config| {
            let url = owned.clone();
            async move { koubei_cluster::client_session(&url, config).await }.boxed()
        });
        koubei_app::run_on(koubei_app::Runner::Cluster {
            url: url.to_string(),
            session,
        });
        Ok(())
    }

    /// The error of a request's field, named by its flag.
    fn flag(flag: &str, e: koubei_cluster::Error) -> anyhow::Error {
        match e {
            koubei_cluster::Error::Invalid { reason, .. } => anyhow!("{flag}: {reason}"),
            e => e.into(),
        }
    }

    pub async fn start(command: ClusterCommand) -> Result<()> {
        match command {
            ClusterCommand::Scheduler(a) => {
                eprintln!("koubei cluster scheduler listening on {}", a.bind);
                koubei_cluster::run_scheduler(SchedulerOptions {
                    bind: a.bind,
                    external_host: a.external_host,
                    executor_timeout_seconds: a.executor_timeout,
                })
                .await?;
            }
            ClusterCommand::Executor(a) => {
                let (scheduler_host, scheduler_port) =
                    koubei_cluster::scheduler_address(&a.scheduler)
                        .map_err(|e| flag("--scheduler", e))?;
                let defaults = ExecutorOptions::default();
                eprintln!(
                    "koubei cluster executor on {}:{} (flight) and {} (grpc), scheduler {}",
                    a.bind_host, a.port, a.grpc_port, a.scheduler
                );
                koubei_cluster::run_executor(ExecutorOptions {
                    scheduler_host,
                    scheduler_port,
                    external_host: a.external_host,
                    bind_host: a.bind_host,
                    port: a.port,
                    grpc_port: a.grpc_port,
                    work_dir: a.work_dir,
                    concurrent_tasks: a.concurrent_tasks.unwrap_or(defaults.concurrent_tasks),
                    heartbeat_seconds: a.heartbeat,
                })
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "cluster")]
pub use on::{start, use_cluster};

#[cfg(not(feature = "cluster"))]
const NOT_BUILT: &str = "this koubei was built without cluster support: \
     build it with `cargo build --release --features cluster`";

#[cfg(not(feature = "cluster"))]
pub fn use_cluster(_url: &str) -> anyhow::Result<()> {
    anyhow::bail!("--cluster: {NOT_BUILT}")
}

#[cfg(not(feature = "cluster"))]
pub async fn start(_command: crate::args::ClusterCommand) -> anyhow::Result<()> {
    anyhow::bail!("{NOT_BUILT}")
}
