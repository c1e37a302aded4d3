//! Writers at once, as real processes: every writer holds the workspace's
//! lock for the whole of its work, so they run one after the other and the
//! end state is one of theirs, never a mix.

use std::process::{Child, Stdio};

use serde_json::Value;

use crate::util::Ws;

fn spawn(ws: &Ws, args: &[&str]) -> Child {
    ws.process()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn succeeds(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Orders and revenue of a shop: what tells two seeds' shops apart.
fn fingerprint(ws: &Ws) -> Value {
    ws.sql("SELECT count(*) AS orders, sum(amount) AS revenue FROM orders")[0].clone()
}

/// The seed that demo.json names.
fn recorded_seed(ws: &Ws) -> u64 {
    let demo: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("demo.json")).unwrap())
            .unwrap();
    demo["seed"].as_u64().unwrap()
}

/// Two `demo --replace` of different shops at once: both succeed, and the
/// workspace holds exactly one of the shops, the one demo.json names.
#[test]
fn two_demos_replacing_at_once_leave_one_shop() {
    let mut alone = Vec::new();
    for seed in ["1", "2"] {
        let ws = Ws::new();
        ws.ok(&["demo", "--customers", "300", "--seed", seed]);
        alone.push(fingerprint(&ws));
    }
    for round in 0..2 {
        let ws = Ws::new();
        ws.ok(&["demo", "--customers", "200", "--seed", "3"]);
        let a = spawn(
            &ws,
            &["demo", "--customers", "300", "--seed", "1", "--replace"],
        );
        let b = spawn(
            &ws,
            &["demo", "--customers", "300", "--seed", "2", "--replace"],
        );
        succeeds(a);
        succeeds(b);
        let seed = recorded_seed(&ws);
        assert_eq!(ws.count("customers"), 300, "round {round}");
        assert_eq!(
            fingerprint(&ws),
            alone[(seed - 1) as usize],
            "round {round}: the data is not seed {seed}'s shop alone"
        );
    }
}

/// An import and a `demo --replace` at once: the import's rows are either
/// replaced with the rest (the demo ran last) or added to the new shop (the
/// import ran last); never no tables, and never an import reported but not
/// kept.
#[test]
fn an_import_and_a_replace_at_once_run_one_after_the_other() {
    let ws = Ws::new();
    let mut csv = String::from("order_id,customer_id,ts,amount\n");
    for i in 0..20_000 {
        csv.push_str(&format!("x{i},z{},2024-03-01T10:00:00Z,1\n", i % 100));
    }
    let file = ws.file("extra.csv", csv);
    let shop = {
        let other = Ws::new();
        other.ok(&["demo", "--customers", "300", "--seed", "1"]);
        other.count("orders")
    };
    for delay_ms in [0u64, 50, 150] {
        ws.ok(&["demo", "--customers", "200", "--seed", "3", "--replace"]);
        let import = spawn(&ws, &["import", "orders", file.to_str().unwrap()]);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let demo = spawn(
            &ws,
            &["demo", "--customers", "300", "--seed", "1", "--replace"],
        );
        succeeds(import);
        succeeds(demo);
        let n = ws.count("orders");
        let imported = ws.sql("SELECT count(*) AS n FROM orders WHERE order_id LIKE 'x%'")[0]["n"]
            .as_i64()
            .unwrap();
        assert!(
            (n == shop && imported == 0) || (n == shop + 20_000 && imported == 20_000),
            "delay {delay_ms} ms: {n} orders, {imported} imported; the shop alone has {shop}"
        );
        assert_eq!(ws.count("customers"), 300, "delay {delay_ms} ms");
    }
}

/// Two first imports into a folder that does not exist yet both succeed,
/// and every row is loaded once (one of them had failed on the half-made
/// folder in four runs of six).
#[test]
fn two_first_imports_make_one_workspace() {
    for round in 0..6 {
        let ws = Ws::new();
        let a = ws.file(
            "a.csv",
            "order_id,customer_id,ts,amount\na1,x,2024-01-01,1\n",
        );
        let b = ws.file(
            "b.csv",
            "order_id,customer_id,ts,amount\nb1,y,2024-01-02,2\n",
        );
        let first = spawn(&ws, &["import", "orders", a.to_str().unwrap()]);
        let second = spawn(&ws, &["import", "orders", b.to_str().unwrap()]);
        succeeds(first);
        succeeds(second);
        assert_eq!(ws.count("orders"), 2, "round {round}");
    }
}

/// A tmpfs of `size` mounted on a new folder, unmounted when dropped; None
/// where mounting is not allowed (not root, or in a container without it).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// On a full disk, an import says so once, with no panic or backtrace
/// (even under RUST_BACKTRACE), exits non-zero, and commits nothing.
#[test]
fn a_full_disk_is_said_plainly() {
    let Some(disk) = SmallDisk::mount("256k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let ws = Ws::new();
    let mut csv = String::from("order_id,customer_id,ts,amount,note\n");
    for i in 0..60_000u64 {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
        csv.push_str(&format!(
            "o{i},c{},2024-01-{:02},{}.{:02},{x}\n",
            i % 5000,
            1 + i % 28,
            x % 1000,
            x % 100
        ));
    }
    let file = ws.file("big.csv", csv);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("koubei"))
        .env("RUST_BACKTRACE", "1")
        .env_remove("KOUBEI_LOG")
        .arg("--workspace")
        .arg(disk.0.path().join("ws"))
        .args(["import", "orders", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: no space left on the device to write table orders; nothing of this write was committed"
    );
}
