//! On a Ballista cluster of one scheduler and two executors, started from
//! the koubei binary as separate processes on loopback, every report is the
//! same JSON as in one process; an executor killed in the middle of a query
//! gives a retried success or a clear error, never a hang or a wrong number.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{REPORTS, Ws, first_difference, report_shop};

/// A free port on loopback (bound and let go: the process started next
/// binds it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// A scheduler and two executors; killed when dropped.
struct Cluster {
    url: String,
    scheduler: Child,
    scheduler_log: PathBuf,
    executors: Vec<(Child, PathBuf)>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let bin = assert_cmd::cargo::cargo_bin("koubei");
        let spawn = |args: &[String], log: &Path| {
            let out = std::fs::File::create(log).unwrap();
            std::process::Command::new(&bin)
                .args(args)
                .env("KOUBEI_LOG", "info")
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        };
        let port = free_port();
        let scheduler_log = dir.join("scheduler.log");
        let scheduler = spawn(
            &[
                "cluster".into(),
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{port}"),
                // A lost executor is noticed after 5 s without a heartbeat.
                "--executor-timeout".into(),
                "5".into(),
            ],
            &scheduler_log,
        );
        let url = format!("df://127.0.0.1:{port}");
        let mut cluster = Cluster {
            url: url.clone(),
            scheduler,
            scheduler_log,
            executors: Vec::new(),
        };
        wait_for_port(port, "the scheduler");
        for i in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let log = dir.join(format!("executor{i}.log"));
            let work = dir.join(format!("executor{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let child = spawn(
                &[
                    "cluster".into(),
                    "executor".into(),
                    "--scheduler".into(),
                    url.clone(),
                    "--port".into(),
                    flight.to_string(),
                    "--grpc-port".into(),
                    grpc.to_string(),
                    "--concurrent-tasks".into(),
                    "2".into(),
                    "--heartbeat".into(),
                    "1".into(),
                    "--work-dir".into(),
                    work.to_str().unwrap().into(),
                ],
                &log,
            );
            cluster.executors.push((child, log));
            wait_for_port(flight, "an executor");
        }
        cluster
    }

    /// Tasks the executors have finished, each executor's count.
    fn finished_tasks(&self) -> Vec<usize> {
        self.executors
            .iter()
            .map(|(_, log)| read(log).matches("Finished task").count())
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (c, _) in &mut self.executors {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

#[test]
fn a_cluster_of_two_executors_gives_the_same_numbers_and_survives_a_lost_one() {
    let ws = report_shop();
    let cluster = Cluster::start(ws.dir.path());

    let mut differ = Vec::new();
    for args in REPORTS {
        let run = |extra: &[&str]| {
            let o = ws
                .cmd()
                .current_dir(ws.dir.path())
                .args(*args)
                .args(extra)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "koubei {args:?} {extra:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8(o.stdout).unwrap()
        };
        let local = run(&["--format", "json"]);
        let remote = run(&["--format", "json", "--cluster", &cluster.url]);
        if local != remote {
            let (a, b) = first_difference(&local, &remote);
            differ.push(format!(
                "koubei {args:?}:\nin process: {a}\non the cluster: {b}"
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
    // The executors did the work: each ran tasks, and the scheduler
    // finished a job for every query.
    let tasks = cluster.finished_tasks();
    assert!(
        tasks.iter().all(|&n| n > 0),
        "tasks per executor: {tasks:?}"
    );
    let jobs = read(&cluster.scheduler_log)
        .matches("Job finished successfully")
        .count();
    assert!(
        jobs >= REPORTS.len(),
        "{jobs} jobs for {} queries",
        REPORTS.len()
    );

    a_lost_executor_is_retried_or_named(&ws, cluster);
}

#[test]
fn a_scheduler_address_that_is_not_one_is_named() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "50", "--seed", "1"]);
    let e = ws.fails(&["--cluster", "localhost:50050", "sales"]);
    assert!(
        e.contains("--cluster: a scheduler's address starts with df://: expected df://HOST:PORT, not \"localhost:50050\""),
        "{e}"
    );
    // Nothing listens there: the error says which cluster was not reached.
    let port = free_port();
    let e = ws.fails(&["--cluster", &format!("df://127.0.0.1:{port}"), "sales"]);
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}

/// Kills the executor that runs the first task of a query, and waits (at
/// most two minutes) for the query's answer.
fn a_lost_executor_is_retried_or_named(ws: &Ws, mut cluster: Cluster) {
    // A self-join with a few million pairs: long enough to be cut.
    let query = "SELECT count(*) AS n, sum(CAST(a.ts AS BIGINT) % 1000) AS s \
                 FROM events a JOIN events b ON a.customer_id = b.customer_id";
    let expected = ws.ok(&["sql", query, "--format", "json"]);
    let before: Vec<usize> = cluster
        .executors
        .iter()
        .map(|(_, log)| read(log).matches("Execute task").count())
        .collect();
    let out = ws.dir.path().join("lost.out");
    let err = ws.dir.path().join("lost.err");
    let mut client = ws
        .process()
        .args(["sql", query, "--format", "json", "--cluster", &cluster.url])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let victim = loop {
        let started = cluster
            .executors
            .iter()
            .zip(&before)
            .position(|((_, log), b)| read(log).matches("Execute task").count() > *b);
        if let Some(i) = started {
            break i;
        }
        assert!(
            client.try_wait().unwrap().is_none(),
            "the query ended before any executor started a task: {}",
            read(&err)
        );
        assert!(start.elapsed() < Duration::from_secs(60), "no task started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut child, _) = cluster.executors.remove(victim);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_at = start.elapsed();

    let status = loop {
        if let Some(s) = client.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = client.kill();
            panic!(
                "the query hung after its executor was killed (at {killed_at:?}); scheduler:\n{}",
                read(&cluster.scheduler_log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "executor {victim} killed at {killed_at:?}; the query ended after {:?}: {status}",
        start.elapsed()
    );
    if status.success() {
        assert_eq!(read(&out), expected, "a retried query gave another answer");
    } else {
        let e = read(&err);
        assert!(e.contains("executor"), "an unclear error: {e}");
    }
    // The kill landed while the job ran: the scheduler took the executor as
    // lost and reset its tasks.
    let log = read(&cluster.scheduler_log);
    assert!(
        log.contains("lost Executor"),
        "no executor was lost:\n{log}"
    );
}
