//! Property tests of the CSV and JSON Lines import paths: whatever the bytes,
//! an import returns a report or an error, never panics, and whatever it
//! commits is internally consistent (loaded + rejected + already present =
//! rows read, and the table holds exactly what was loaded).

use std::path::Path;

use koubei_schema::TableKind;
use koubei_store::{Format, ImportOptions, Quiet, Workspace};
use proptest::prelude::*;

const CSV: &str = "order_id,customer_id,ts,amount,status,note\n\
o1,c1,2024-01-01T10:00:00Z,10.5,paid,x\n\
o2,c2,2024-01-02,\"1,200.00\",refunded,\"a, \"\"quoted\"\" note\"\n\
o3,c3,1709281800,3,cancelled,\n";

const JSONL: &str = "{\"order_id\":\"o1\",\"customer_id\":\"c1\",\"ts\":\"2024-01-01T10:00:00Z\",\"amount\":10.5}\n\
{\"order_id\":\"o2\",\"customer_id\":\"c2\",\"ts\":1709281800000,\"amount\":\"7\",\"extra\":{\"a\":[1,2]}}\n\
{\"customer_id\":\"c3\",\"ts\":\"20240301\",\"amount\":1e2,\"status\":\"paid\"}\n";

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let special = prop_oneof![
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"{".to_vec()),
        Just("省".as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), special).prop_map(|(i, v)| Edit::Insert(i, v)),
        (any::<usize>(), 0usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
    ]
}

fn mutate(base: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for e in edits {
        let len = b.len().max(1);
        match e {
            Edit::Flip(i, v) if !b.is_empty() => {
                let i = i % len;
                b[i] = *v;
            }
            Edit::Insert(i, v) => {
                let i = i % (b.len() + 1);
                b.splice(i..i, v.iter().copied());
            }
            Edit::Delete(i, n) if !b.is_empty() => {
                let i = i % len;
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            _ => {}
        }
    }
    b
}

fn check(bytes: &[u8], name: &str, format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let ws = Workspace::create(dir.path().join("ws")).unwrap();
    let opts = ImportOptions {
        format: Some(format),
        max_reject_ratio: 1.0,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        match ws
            .import_file(TableKind::Orders, Path::new(&file), &opts, &Quiet)
            .await
        {
            Ok(r) => {
                assert_eq!(
                    r.loaded + r.rejected + r.already_present,
                    r.rows_read,
                    "{r:?}"
                );
                let stored: u64 = match ws
                    .tables()
                    .await
                    .unwrap()
                    .iter()
                    .find(|t| t.name == "orders")
                {
                    Some(t) => t.rows.unwrap_or(0),
                    None => 0,
                };
                assert_eq!(stored, r.loaded);
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty());
            }
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn csv_never_panics(edits in prop::collection::vec(edit(), 0..6)) {
        check(&mutate(CSV, &edits), "f.csv", Format::Csv);
    }

    #[test]
    fn jsonl_never_panics(edits in prop::collection::vec(edit(), 0..6)) {
        check(&mutate(JSONL, &edits), "f.jsonl", Format::Jsonl);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), json in any::<bool>()) {
        let (name, format) = if json { ("r.jsonl", Format::Jsonl) } else { ("r.csv", Format::Csv) };
        check(&bytes, name, format);
    }
}
