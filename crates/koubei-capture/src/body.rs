//! A capture request's body: a JSON array of records, or JSON Lines (one
//! object per line; an object may also span lines), each an object of the
//! table's columns.
//!
//! The body becomes JSON Lines in the table's own column names, which the
//! store then checks as an import checks a file's rows, so that a record
//! accepted here is one the flush stores. A record without `ts` takes the
//! time it was received.

use koubei_schema::TableKind;
use koubei_store::ImportTz;
use serde_json::{Map, Value};

/// The most problems one answer lists.
const SHOWN: usize = 20;

/// A body's records, checked.
#[derive(Debug)]
pub(crate) struct Records {
    /// One record per line.
    pub jsonl: Vec<u8>,
    pub count: usize,
}

/// Why a body was refused: a reason, and each bad record with its field.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyError {
    pub reason: String,
    /// The first bad records (at most 20).
    pub problems: Vec<Problem>,
}

/// One bad record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    /// The record's place in the body, from 1.
    pub record: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(p) = self.problems.first() {
            write!(f, ": record {}", p.record)?;
            if let Some(field) = &p.field {
                write!(f, ", field {field}")?;
            }
            write!(f, ": {}", p.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for BodyError {}

fn refuse(reason: impl Into<String>) -> BodyError {
    BodyError {
        reason: reason.into(),
        problems: Vec::new(),
    }
}

/// Parses and checks a body of `table`'s records; `received` (RFC 3339)
/// fills a missing `ts`.
pub(crate) fn parse(table: TableKind, body: &[u8], received: &str) -> Result<Records, BodyError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = body.trim_ascii();
    if text.is_empty() {
        return Err(refuse(
            "the body has no records: send a JSON array of objects, or JSON Lines",
        ));
    }
    let values: Vec<Value> = if text.starts_with(b"[") {
        serde_json::from_slice(text)
            .map_err(|e| refuse(format!("the body is not a JSON array of records: {e}")))?
    } else {
        let mut values = Vec::new();
        for v in serde_json::Deserializer::from_slice(text).into_iter::<Value>() {
            let n = values.len() + 1;
            values.push(v.map_err(|e| refuse(format!("record {n} is not JSON: {e}")))?);
        }
        values
    };
    if values.is_empty() {
        return Err(refuse("the body has no records"));
    }
    let columns: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    let mut problems = Vec::new();
    let mut jsonl = Vec::with_capacity(text.len() + values.len() * 40);
    // The body's number of each line written.
    let mut numbers = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let record = i as u64 + 1;
        let mut object = match value {
            Value::Object(o) => o,
            other => {
                problems.push(Problem {
                    record,
                    field: None,
                    reason: format!("not a JSON object but {}", kind(&other)),
                });
                continue;
            }
        };
        if let Some(problem) = check_fields(table, &columns, &object, record) {
            problems.push(problem);
            continue;
        }
        if !object.contains_key("ts") {
            object.insert("ts".into(), Value::from(received));
        }
        serde_json::to_writer(&mut jsonl, &object).expect("a JSON object serialises");
        jsonl.push(b'\n');
        numbers.push(record);
    }
    // The store's own checks: types, timestamps, required values.
    let checked = koubei_store::check_jsonl(table, jsonl.clone(), ImportTz::Utc)
        .map_err(|e| refuse(e.to_string()))?;
    problems.extend(checked.rejects.into_iter().map(|r| {
        Problem {
            record: numbers
                .get((r.line as usize).wrapping_sub(1))
                .copied()
                .unwrap_or(r.line),
            field: r.column,
            reason: r.reason,
        }
    }));
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.record);
        problems.truncate(SHOWN);
        return Err(BodyError {
            reason: "bad records; nothing was stored".into(),
            problems,
        });
    }
    let count = numbers.len();
    Ok(Records { jsonl, count })
}

/// The first field of a record that is not one of the table's columns or
/// holds a nested value.
fn check_fields(
    table: TableKind,
    columns: &[&str],
    object: &Map<String, Value>,
    record: u64,
) -> Option<Problem> {
    for (key, value) in object {
        if !columns.contains(&key.as_str()) {
            return Some(Problem {
                record,
                field: Some(key.clone()),
                reason: format!(
                    "{table} has no field \"{key}\"; its fields are {}",
                    columns.join(", ")
                ),
            });
        }
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            return Some(Problem {
                record,
                field: Some(key.clone()),
                reason: format!("{} where text, a number or a boolean belongs", kind(value)),
            });
        }
    }
    None
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: &str = "2026-12-05T10:00:00Z";

    fn lines(r: &Records) -> Vec<Value> {
        String::from_utf8(r.jsonl.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn arrays_json_lines_and_objects_over_lines() {
        let array = br#"[{"ts":"2026-01-01T00:00:00Z","customer_id":"c1","event":"view"},
                         {"customer_id":7,"event":"purchase","event_id":"e2"}]"#;
        let r = parse(TableKind::Events, array, NOW).unwrap();
        assert_eq!(r.count, 2);
        let got = lines(&r);
        assert_eq!(got[1]["ts"], NOW, "a missing ts is the time received");
        assert_eq!(got[1]["customer_id"], 7);

        let jsonl = b"{\"customer_id\":\"c1\",\"event\":\"view\"}\n\n{\"anonymous_id\":\"a\",\n \"event\":\"view\"}\r\n";
        let r = parse(TableKind::Events, jsonl, NOW).unwrap();
        assert_eq!(r.count, 2);
        assert_eq!(lines(&r)[1]["anonymous_id"], "a");

        let referral = br#"{"sharer_id":"c1","recipient_id":"c2","clicked":true}"#;
        assert_eq!(parse(TableKind::Referrals, referral, NOW).unwrap().count, 1);
    }

    fn problems(table: TableKind, body: &[u8]) -> Vec<(u64, Option<String>, String)> {
        let e = parse(table, body, NOW).unwrap_err();
        assert!(!e.problems.is_empty(), "{e}");
        e.problems
            .into_iter()
            .map(|p| (p.record, p.field, p.reason))
            .collect()
    }

    #[test]
    fn bad_records_are_named_with_their_field() {
        let p = problems(
            TableKind::Events,
            br#"[{"customer_id":"c","event":"view"},{"customer_id":"c","evnt":"view"}]"#,
        );
        assert_eq!(p[0].0, 2);
        assert_eq!(p[0].1.as_deref(), Some("evnt"));
        assert!(p[0].2.contains("events has no field \"evnt\""), "{p:?}");

        let p = problems(
            TableKind::Events,
            br#"{"customer_id":"c","event":"view","ts":"yesterday"}"#,
        );
        assert_eq!((p[0].0, p[0].1.as_deref()), (1, Some("ts")));

        let p = problems(TableKind::Events, br#"{"event":"view"}"#);
        assert!(p[0].2.contains("customer_id or anonymous_id"), "{p:?}");

        let p = problems(
            TableKind::Events,
            br#"{"customer_id":{"id":1},"event":"view"}"#,
        );
        assert!(p[0].2.starts_with("an object where"), "{p:?}");

        let p = problems(TableKind::Events, b"[1, {\"customer_id\":\"c\"}]");
        assert_eq!(p[0], (1, None, "not a JSON object but a number".into()));
        assert_eq!(p[1].1.as_deref(), Some("event"));

        let p = problems(
            TableKind::Referrals,
            br#"{"sharer_id":"c1","clicked":"maybe"}"#,
        );
        assert_eq!(p[0].1.as_deref(), Some("clicked"));

        for body in [&b""[..], b"  \n", b"[]", b"{\"a\":", b"[{]"] {
            let e = parse(TableKind::Events, body, NOW).unwrap_err();
            assert!(e.problems.is_empty(), "{e}");
        }
        let e = parse(
            TableKind::Events,
            b"{\"event\":\"v\",\"customer_id\":1}\n{oops}",
            NOW,
        )
        .unwrap_err();
        assert!(e.reason.starts_with("record 2 is not JSON"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// No body makes the parser panic, and what it accepts is one
        /// valid line per record.
        #[test]
        fn any_bytes_are_refused_or_accepted_whole(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(r) = parse(TableKind::Events, &body, NOW) {
                prop_assert_eq!(lines(&r).len(), r.count);
            }
        }

        /// Bodies made of JSON-ish pieces reach the deeper checks.
        #[test]
        fn json_like_bodies_never_panic(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just("{".to_string()), Just("}".to_string()), Just("[".to_string()),
                    Just("]".to_string()), Just(",".to_string()), Just(":".to_string()),
                    Just("\n".to_string()), Just("\"event\"".to_string()),
                    Just("\"customer_id\"".to_string()), Just("\"ts\"".to_string()),
                    Just("\"view\"".to_string()), Just("\"2026-13-40T99:00:00Z\"".to_string()),
                    Just("1e999".to_string()), Just("-0".to_string()), Just("null".to_string()),
                    Just("true".to_string()), Just("\"\\u0000\"".to_string()),
                    "[a-z0-9 ]{0,8}".prop_map(|s| format!("\"{s}\"")),
                ],
                0..40,
            )
        ) {
            let body = pieces.concat();
            let _ = parse(TableKind::Events, body.as_bytes(), NOW);
            let _ = parse(TableKind::Referrals, body.as_bytes(), NOW);
        }
    }
}
