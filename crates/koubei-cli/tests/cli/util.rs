use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// A workspace in a temporary folder, and a way to run koubei on it.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn new() -> Self {
        Ws {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    /// A file in the temporary folder, outside the workspace.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("koubei").unwrap();
        c.env_remove("KOUBEI_WORKSPACE")
            .arg("--workspace")
            .arg(self.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "koubei {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "koubei {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stderr).unwrap()
    }

    pub fn import(&self, table: &str, file: &Path, extra: &[&str]) -> Value {
        let f = file.to_str().unwrap();
        let mut args = vec!["import", table, f, "--output", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// Imports `text` as the file `name` into `table`; the summary as JSON.
    pub fn load(&self, table: &str, name: &str, text: &str, extra: &[&str]) -> Value {
        let file = self.file(name, text);
        self.import(table, &file, extra)
    }

    /// The binary as a plain process on the workspace, for what assert_cmd
    /// does not set: running in the background, stdout to a given file.
    pub fn process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("koubei"));
        c.env_remove("KOUBEI_WORKSPACE")
            .arg("--workspace")
            .arg(self.path());
        c
    }

    /// Rows of a query as JSON objects.
    pub fn sql(&self, q: &str) -> Vec<Value> {
        let out = self.ok(&["sql", q, "--format", "json"]);
        match serde_json::from_str(&out).unwrap() {
            Value::Array(rows) => rows,
            other => panic!("not an array: {other}"),
        }
    }

    pub fn count(&self, table: &str) -> i64 {
        self.sql(&format!("SELECT count(*) AS n FROM {table}"))[0]["n"]
            .as_i64()
            .unwrap()
    }
}
