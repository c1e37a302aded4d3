//! Every command's output, byte for byte: `scripts/snapshots.sh --check`
//! runs each command in table, JSON and CSV form on the demo shop, the
//! CDNOW sample and (where the shared data is present) NetHEPT, and compares
//! with `tests/snapshots/`. A change of output shows here as a diff; when it
//! is meant, `scripts/snapshots.sh target/debug/koubei
//! crates/koubei-cli/tests/snapshots` writes the new outputs.

use std::path::Path;
use std::process::Command;

#[test]
fn every_command_prints_what_it_printed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/snapshots.sh"))
        .arg(env!("CARGO_BIN_EXE_koubei"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"))
        .arg("--check")
        .output()
        .expect("bash runs the snapshot script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "outputs differ from tests/snapshots:\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("same output"), "{stderr}");
}
