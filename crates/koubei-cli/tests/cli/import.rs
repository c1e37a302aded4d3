use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::{Value, json};

use crate::util::Ws;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(DATA).join(name)
}

const SHOPIFY_MAP: [&str; 16] = [
    "--map",
    "order_id=Name",
    "--map",
    "customer_id=Email",
    "--map",
    "ts=Created at",
    "--map",
    "product_id=Lineitem name",
    "--map",
    "quantity=Lineitem quantity",
    "--map",
    "unit_price=Lineitem price",
    "--map",
    "status=Financial Status",
    "--map",
    "country=Billing Country",
];

/// A Shopify export loads with column mapping: amounts derived from unit
/// price × quantity, statuses normalised, lines numbered, extra columns kept.
#[test]
fn shopify_export_with_mapping() {
    let ws = Ws::new();
    let r = ws.import("orders", &data("shopify_orders.csv"), &SHOPIFY_MAP);
    assert_eq!(r["rows_read"], 4);
    assert_eq!(r["loaded"], 4);
    assert_eq!(r["rejected"], 0);
    assert_eq!(r["extra_columns"], json!(["Tags"]));
    let rows = ws.sql(
        "SELECT order_id, line, customer_id, CAST(ts AS VARCHAR) AS ts, quantity, amount, status, country, \"Tags\"
         FROM orders ORDER BY order_id, line",
    );
    let expect = json!([
        {"order_id": "#1001", "line": 1, "customer_id": "li@example.com", "ts": "2024-03-01T08:30:00Z", "quantity": 2, "amount": 176.0, "status": "paid", "country": "CN", "Tags": "vip"},
        {"order_id": "#1001", "line": 2, "customer_id": "li@example.com", "ts": "2024-03-01T08:30:00Z", "quantity": 1, "amount": 19.5, "status": "paid", "country": "CN", "Tags": "vip"},
        {"order_id": "#1002", "line": 1, "customer_id": "wang@example.com", "ts": "2024-03-02T01:00:00Z", "quantity": 1, "amount": 88.0, "status": "refunded", "country": "CN"},
        {"order_id": "#1003", "line": 1, "customer_id": "smith@example.com", "ts": "2024-03-02T15:15:00Z", "quantity": 1, "amount": 1299.0, "status": "cancelled", "country": "US", "Tags": "gift, wrapped"},
    ]);
    assert_eq!(Value::Array(rows), expect);
}

/// Every timestamp form reads as the expected instant; naive ones in --timezone.
#[test]
fn every_timestamp_format() {
    let ws = Ws::new();
    let r = ws.import(
        "events",
        &data("events_timestamps.csv"),
        &["--timezone", "Asia/Shanghai"],
    );
    assert_eq!(r["loaded"], 11, "{r}");
    let rows = ws.sql("SELECT event_id, CAST(ts AS VARCHAR) AS got, expected_utc FROM events");
    assert_eq!(rows.len(), 11);
    for row in rows {
        assert_eq!(row["got"], row["expected_utc"], "{row}");
    }
    // A negative offset is a value, not a flag.
    let ws = Ws::new();
    ws.load(
        "events",
        "e.csv",
        "event_id,ts,customer_id,event\ne1,2024-03-01 05:30:00,u1,view\n",
        &["--timezone", "-03:00"],
    );
    let rows = ws.sql("SELECT CAST(ts AS VARCHAR) AS got FROM events");
    assert_eq!(rows[0]["got"], "2024-03-01T08:30:00Z");
}

fn orders_rows() -> Vec<[&'static str; 6]> {
    vec![
        ["o1", "c1", "2024-01-05T10:00:00Z", "2", "19.9", "paid"],
        ["o1", "c1", "2024-01-05T10:00:00Z", "1", "5", "paid"],
        ["o2", "c2", "2024-01-06T11:30:00Z", "1", "120.5", "refunded"],
        ["o3", "c1", "2024-02-01T00:00:00Z", "3", "33.3", "paid"],
    ]
}

const HEADER: [&str; 6] = [
    "order_id",
    "customer_id",
    "ts",
    "quantity",
    "amount",
    "status",
];

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn delimited(sep: &str) -> String {
    let mut s = HEADER.join(sep) + "\n";
    for r in orders_rows() {
        s += &(r.join(sep) + "\n");
    }
    s
}

fn jsonl() -> String {
    orders_rows()
        .iter()
        .map(|r| {
            json!({
                "order_id": r[0], "customer_id": r[1], "ts": r[2],
                "quantity": r[3].parse::<i64>().unwrap(),
                "amount": r[4].parse::<f64>().unwrap(), "status": r[5]
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Typed Parquet columns (Int32, Float32, millisecond timestamps) are converted too.
fn parquet() -> Vec<u8> {
    let rows = orders_rows();
    let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<_>>();
    let ts: Vec<i64> = col(2).iter().map(|t| chrono_ms(t)).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            false,
        ),
        Field::new("quantity", DataType::Int32, false),
        Field::new("amount", DataType::Float32, false),
        Field::new("status", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(col(0))) as ArrayRef,
            Arc::new(StringArray::from(col(1))),
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("+00:00")),
            Arc::new(Int32Array::from_iter_values(
                col(3).iter().map(|v| v.parse().unwrap()),
            )),
            Arc::new(Float32Array::from_iter_values(
                col(4).iter().map(|v| v.parse().unwrap()),
            )),
            Arc::new(StringArray::from(col(5))),
        ],
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

fn chrono_ms(t: &str) -> i64 {
    // The fixtures are whole hours and minutes in UTC.
    let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let h: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let days = days_from_civil(d[0], d[1], d[2]);
    ((days * 24 + h[0]) * 60 + h[1]) * 60_000 + h[2] * 1000
}

/// Days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The same orders as CSV, TSV, JSON Lines and Parquet, plain and gzipped,
/// load to the same table.
#[test]
fn every_format_loads_the_same_rows() {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("orders.csv", delimited(",").into_bytes()),
        ("orders.csv.gz", gz(delimited(",").as_bytes())),
        ("orders.tsv", delimited("\t").into_bytes()),
        ("orders.jsonl", jsonl().into_bytes()),
        ("orders.ndjson.gz", gz(jsonl().as_bytes())),
        ("orders.parquet", parquet()),
        // The extension says nothing; --format does.
        ("orders.export", delimited(",").into_bytes()),
    ];
    let query = "SELECT order_id, line, customer_id, CAST(ts AS VARCHAR) AS ts, quantity, amount, status FROM orders ORDER BY order_id, line";
    let mut first: Option<Vec<Value>> = None;
    for (name, bytes) in files {
        let ws = Ws::new();
        let f = ws.file(name, &bytes);
        let extra: &[&str] = if name.ends_with(".export") {
            &["--format", "csv"]
        } else {
            &[]
        };
        let r = ws.import("orders", &f, extra);
        assert_eq!(r["loaded"], 4, "{name}: {r}");
        let mut rows = ws.sql(query);
        // Float32 in Parquet: compare amounts to cents.
        for row in &mut rows {
            let a = row["amount"].as_f64().unwrap();
            row["amount"] = json!((a * 100.0).round() / 100.0);
        }
        match &first {
            None => {
                assert_eq!(
                    rows[0],
                    json!({"order_id": "o1", "line": 1, "customer_id": "c1", "ts": "2024-01-05T10:00:00Z", "quantity": 2, "amount": 19.9, "status": "paid"})
                );
                assert_eq!(rows[1]["line"], 2);
                first = Some(rows);
            }
            Some(f) => assert_eq!(&rows, f, "{name}"),
        }
    }
}

/// Importing the same file again adds nothing, with or without ids in the file.
#[test]
fn reimport_is_idempotent() {
    let ws = Ws::new();
    let f = ws.file("orders.csv", delimited(","));
    let r1 = ws.import("orders", &f, &[]);
    let r2 = ws.import("orders", &f, &[]);
    assert_eq!(
        (r1["loaded"].as_i64(), r2["loaded"].as_i64()),
        (Some(4), Some(0))
    );
    assert_eq!(r2["already_present"], 4);
    assert_eq!(ws.count("orders"), 4);

    // A transaction log without ids: identical rows stay two rows, and a
    // re-import adds nothing.
    let log = "customer_id,ts,amount\nc9,2024-01-01,10\nc9,2024-01-01,10\nc9,2024-01-02,12\n";
    let f = ws.file("log.csv", log);
    assert_eq!(ws.import("orders", &f, &[])["loaded"], 3);
    assert_eq!(ws.import("orders", &f, &[])["loaded"], 0);
    assert_eq!(ws.count("orders"), 7);
    let ids = ws.sql("SELECT count(DISTINCT order_id) AS n FROM orders WHERE customer_id = 'c9'");
    assert_eq!(ids[0]["n"], 3);
    // The tables list shows one version per commit.
    let t: Value = serde_json::from_str(&ws.ok(&["tables", "--format", "json"])).unwrap();
    let orders = t["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap();
    assert_eq!(orders["rows"], 7);
    assert_eq!(orders["version"], 1);
}

/// Bad rows are rejected with line, column and reason, kept in `rejects`,
/// and too many of them abort the import with nothing committed.
#[test]
fn rejects_and_the_reject_ratio() {
    let ws = Ws::new();
    let csv = "order_id,customer_id,ts,amount,status,rating_note\n\
               o1,c1,2024-01-01,10,paid,a\n\
               o2,c2,not a date,10,paid,b\n\
               o3,,2024-01-01,10,paid,c\n\
               o4,c4,2024-01-01,ten,paid,d\n\
               o5,c5,2024-01-01,10,lost in the mail,e\n\
               o1,c1,2024-01-01,10,paid,dup\n\
               o6,c6,2024-01-01\n\
               o7,c7,2024-01-01,7,paid,g\n";
    let f = ws.file("bad.csv", csv);
    let err = ws.fails(&["import", "orders", f.to_str().unwrap()]);
    assert!(err.contains("5 of 8 rows rejected"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        err.contains("line 3, column ts: cannot read \"not a date\""),
        "{err}"
    );
    // Nothing was committed anywhere, and no data file was left behind.
    assert_eq!(ws.count("orders"), 0);
    assert_eq!(ws.count("rejects"), 0);
    let orders = ws.path().join("tables").join("orders");
    let files: Vec<_> = std::fs::read_dir(&orders)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        !files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".parquet")),
        "{files:?}"
    );

    let r = ws.import("orders", &f, &["--max-reject-ratio", "0.8"]);
    // The second o1 row is line 2 of order o1, not a duplicate.
    assert_eq!(
        (r["loaded"].as_i64(), r["rejected"].as_i64()),
        (Some(3), Some(5))
    );
    let rejects = ws.sql("SELECT line, column_name, reason FROM rejects ORDER BY line");
    let got: Vec<(i64, String, String)> = rejects
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["column_name"].as_str().unwrap_or("").to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect: [(i64, &str, &str); 5] = [
        (3, "ts", "cannot read \"not a date\" as a timestamp"),
        (
            4,
            "customer_id",
            "missing value for required column customer_id",
        ),
        (5, "amount", "\"ten\" is not a number"),
        (6, "status", "unknown order status \"lost in the mail\""),
        (8, "", "expected 6 fields as in the header, found 3"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for (g, e) in got.iter().zip(expect) {
        assert_eq!((g.0, g.1.as_str()), (e.0, e.1), "{g:?}");
        assert!(g.2.starts_with(e.2), "{g:?} vs {e:?}");
    }
    // The rejected row is kept as read.
    let rec = ws.sql("SELECT record FROM rejects WHERE line = 3");
    assert!(rec[0]["record"].as_str().unwrap().contains("not a date"));
    // Running it again adds neither rows nor rejects.
    ws.import("orders", &f, &["--max-reject-ratio", "0.8"]);
    assert_eq!((ws.count("orders"), ws.count("rejects")), (3, 5));
}

/// JSON Lines: bad lines are rejected, each line's own fields count.
#[test]
fn json_lines_rejects_bad_lines() {
    let ws = Ws::new();
    let f = ws.file(
        "c.jsonl",
        "{\"customer_id\": \"c1\", \"country\": \"cn\", \"vip\": true, \"tags\": [\"a\"]}\n\
         \n\
         {\"customer_id\": \"c2\", \"first_seen\": 1709281800}\n\
         {\"customer_id\": \"c3\",\n\
         [1, 2]\n\
         {\"country\": \"CN\"}\n\
         {\"customer_id\": \"c1\"}\n",
    );
    let r = ws.import("customers", &f, &["--max-reject-ratio", "0.9"]);
    assert_eq!(
        (r["loaded"].as_i64(), r["rejected"].as_i64()),
        (Some(2), Some(4)),
        "{r}"
    );
    let lines: Vec<i64> = r["first_rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 5, 6, 7]);
    assert_eq!(
        r["first_rejects"][3]["reason"],
        "duplicate primary key (customer_id=c1), first at line 1"
    );
    let rows = ws.sql("SELECT customer_id, country, vip, tags FROM customers ORDER BY customer_id");
    assert_eq!(
        rows[0],
        json!({"customer_id": "c1", "country": "CN", "vip": "true", "tags": "[\"a\"]"})
    );
}

/// Fields separated by runs of blanks, with and without a header line; a line
/// with the wrong number of fields is rejected with its line number.
#[test]
fn whitespace_separated_files() {
    let ws = Ws::new();
    let with_header = ws.file(
        "orders.txt",
        "order_id   customer_id  ts          amount\n  o1  c1  20240101   10.5\r\n\n\to2 c2 20240102 7\no3 c3 20240103\n",
    );
    let r = ws.import(
        "orders",
        &with_header,
        &["--delimiter", "whitespace", "--max-reject-ratio", "0.5"],
    );
    assert_eq!(
        (r["loaded"].as_i64(), r["rejected"].as_i64()),
        (Some(2), Some(1))
    );
    let rejects = ws.sql("SELECT line, reason FROM rejects");
    assert_eq!(rejects[0]["line"], 5);
    assert_eq!(rejects[0]["reason"], "expected 4 fields, found 3");
    let rows = ws.sql("SELECT order_id, amount FROM orders ORDER BY order_id");
    assert_eq!(rows[1]["amount"], 7.0);

    let headerless = ws.file("more.dat", "o4 c4 20240104 3\n");
    let r = ws.import(
        "orders",
        &headerless,
        &[
            "--delimiter",
            "whitespace",
            "--columns",
            "order_id,customer_id,ts,amount",
        ],
    );
    assert_eq!(r["loaded"], 1);
    // --columns also names the fields of a headerless CSV.
    let csv = ws.file("more.csv", "o5,c5,2024-01-05,9\n");
    let r = ws.import(
        "orders",
        &csv,
        &["--columns", "order_id,customer_id,ts,amount"],
    );
    assert_eq!(r["loaded"], 1);
    assert_eq!(ws.count("orders"), 4);
}

/// JSON Lines values keep the text they were written with: an id beyond 64
/// bits keeps its digits, 1.0 stays 1.0, a string is unescaped, and the
/// first of a repeated key is kept.
#[test]
fn json_values_as_written() {
    let ws = Ws::new();
    let r = ws.load(
        "customers",
        "c.jsonl",
        concat!(
            r#"{"customer_id": 123456789012345678901, "country": "CN", "city": "Sh\u0061nghai"}"#,
            "\n",
            r#"{"customer_id": 1.0, "country": "US", "country": "FR", "vip": true}"#,
            "\n",
        ),
        &[],
    );
    assert_eq!(r["loaded"], 2, "{r}");
    let rows = ws.sql("SELECT customer_id, country, city, vip FROM customers ORDER BY customer_id");
    assert_eq!(rows[0]["customer_id"], "1.0");
    assert_eq!(rows[0]["country"], "US");
    assert_eq!(rows[0]["vip"], "true");
    assert_eq!(rows[1]["customer_id"], "123456789012345678901");
    assert_eq!(rows[1]["city"], "Shanghai");
}

/// A column mapped over another the file also has, or two names that differ
/// only in case: the other is kept under a suffixed name, not a failed import.
#[test]
fn clashing_column_names_are_kept_apart() {
    let ws = Ws::new();
    let r = ws.load(
        "orders",
        "o.csv",
        "order_id,customer_id,ts,amount,city,region\no1,a,2024-01-01,5,Shenzhen,Guangdong\n",
        &["--map", "city=region"],
    );
    assert_eq!(r["extra_columns"], serde_json::json!(["city_2"]), "{r}");
    let rows = ws.sql("SELECT city, city_2 FROM orders");
    assert_eq!(rows[0]["city"], "Guangdong");
    assert_eq!(rows[0]["city_2"], "Shenzhen");
    let r = ws.load(
        "events",
        "e.jsonl",
        "{\"ts\": \"2024-01-01T00:00:00Z\", \"customer_id\": \"a\", \"event\": \"view\", \"EVENT\": \"x\"}\n",
        &[],
    );
    assert_eq!(r["extra_columns"], serde_json::json!(["EVENT_2"]), "{r}");
}
