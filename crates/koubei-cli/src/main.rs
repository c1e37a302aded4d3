//! The `koubei` binary: parses the command line, calls the library, renders.

mod args;
mod cluster;
mod commands;
mod output;
mod progress;
mod requests;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

/// DataFusion allocates and frees many large buffers per batch: the system
/// allocator returns them to the kernel and faults them in again (at 10M
/// customers, a third of the CLV command's time was spent in the kernel).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_arena_eager_commit` and `mi_option_purge_delay`
/// (the same indices in its v2 and v3 headers); libmimalloc-sys exports no
/// names for them.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tunes the allocator for a process that builds and drops large buffers:
/// - large OS pages allowed, for the allocations mimalloc commits at once
///   (its arenas, committed as used below, get none: the report at 1M ran
///   on 4 KiB pages, and eager commit, which gave it 2.4 GB of transparent
///   huge pages, cost it 4.4 CPU-s more);
/// - freed memory goes back to the kernel after ten seconds rather than
///   10 ms: an aggregation frees a buffer and asks for the same size again
///   soon after, and each return meant the kernel zeroing those pages again
///   (a sixth of a funnel's time). One second was not enough for a command
///   of many queries: at 1M customers, in turns, `koubei report` spent
///   5.2 s in the kernel with one second and 3.5 s with ten (18.7 → 16.6 s),
///   an import of 10M lines 9.2 → 8.8 s, for 15–20% more peak memory;
/// - arena memory is committed as it is used, not ahead: eager commit faulted
///   in memory the process never used, and on this kind of virtual machine a
///   first touch is slow. Runs after idle seconds, in turns with and
///   without: `clv` at 1M from the stored purchases 0.51–0.83 s → 0.31–0.38 s,
///   at 10M grouping the orders 6.2–6.9 s → 5.2–5.4 s; a funnel over 38M
///   events 6.1–6.3 s → 5.0–5.8 s; an import of 4.28M order lines 5.3–5.6 s →
///   4.9–5.0 s.
///
/// It runs before `main`, before the first allocation: mimalloc reserves its
/// first arena then, with the options of that moment (set from `main`, the
/// arena option changed nothing).
#[allow(unsafe_code)]
#[ctor::ctor]
unsafe fn tune_allocator() {
    // mimalloc's own variables, where set, win: to measure without these.
    let set = |option, vars: &[&str], value| {
        if vars.iter().all(|v| std::env::var_os(v).is_none()) {
            // SAFETY: sets one of mimalloc's process-wide options, which it
            // reads each time it next asks for or returns memory; no pointer
            // is passed.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    };
    set(
        libmimalloc_sys::mi_option_large_os_pages,
        &["MIMALLOC_ALLOW_LARGE_OS_PAGES", "MIMALLOC_LARGE_OS_PAGES"],
        1,
    );
    set(MI_OPTION_PURGE_DELAY, &["MIMALLOC_PURGE_DELAY"], 10_000);
    set(
        MI_OPTION_ARENA_EAGER_COMMIT,
        &[
            "MIMALLOC_ARENA_EAGER_COMMIT",
            "MIMALLOC_EAGER_REGION_COMMIT",
        ],
        0,
    );
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // Logs go to stderr; KOUBEI_LOG=debug shows the import's stage timings.
    // The Delta kernel logs an error when it probes a table not yet created,
    // which koubei expects and handles, and deltalake's writer warns of
    // clean-up it could not do after the error it returns, and a cluster's
    // client logs the error of a failed job that koubei then shows, and
    // deltalake's statistics warn at each commit of the stored purchases
    // that their packed days (a binary column) have none: keep them quiet
    // unless asked for.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KOUBEI_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "warn,buoyant_kernel=off,deltalake_core::datafile::writer=error,\
                     deltalake_core::writer::stats=error,\
                     ballista_core::execution_plans::distributed_query=off",
                )
            }),
        )
        .with_writer(io::stderr)
        .with_ansi(false)
        .init();
    quiet_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let run = std::panic::AssertUnwindSafe(|| runtime.block_on(commands::run(cli, &mut out)));
    let result = match std::panic::catch_unwind(run) {
        Ok(r) => r,
        Err(_) => {
            let what = LAST_PANIC
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            eprintln!("error: internal error, a bug in koubei: {what}");
            return ExitCode::from(101);
        }
    };
    let result = result.and_then(|()| out.flush().map_err(Into::into));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `koubei sql ... | head` closes our stdout early: that is success.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(&format!("\n  caused by: {c}"));
                }
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

/// The last panic, with its place (and backtrace under `RUST_BACKTRACE`).
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// A panic is not shown as it happens: a library may catch it and return
/// an error that says what went wrong (deltalake's Parquet writer panics in
/// its clean-up on a full disk, then reports "No space left on device").
/// One that is not caught reaches `main`, which reports it once as an
/// internal error. `KOUBEI_LOG=debug` shows every panic.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::capture();
        let text = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("{info}\n{backtrace}"),
            _ => info.to_string(),
        };
        tracing::debug!("panic: {text}");
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    }));
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}
