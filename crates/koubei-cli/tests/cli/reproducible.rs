//! Every query's JSON is the same, byte for byte, on 1, 2 and 7 partitions
//! and threads: sums of money are exact, float sums run in an order of
//! their own, and model fits do not depend on the threads.

use crate::util::{REPORTS, first_difference};

#[test]
fn every_query_is_the_same_on_any_partition_count() {
    let ws = crate::util::report_shop();

    let mut differ = Vec::new();
    for args in REPORTS {
        let outputs: Vec<String> = [1, 2, 7]
            .iter()
            .map(|p| {
                let o = ws
                    .cmd()
                    .current_dir(ws.dir.path())
                    .env("DATAFUSION_EXECUTION_TARGET_PARTITIONS", p.to_string())
                    .env("RAYON_NUM_THREADS", p.to_string())
                    .args(*args)
                    .args(["--format", "json"])
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "koubei {args:?} on {p} partitions: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                String::from_utf8(o.stdout).unwrap()
            })
            .collect();
        for (p, out) in [2, 7].iter().zip(&outputs[1..]) {
            if *out != outputs[0] {
                let (a, b) = first_difference(&outputs[0], out);
                let first = format!("1: {a}\n{p}: {b}");
                differ.push(format!("koubei {args:?} on 1 and {p} partitions:\n{first}"));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}
