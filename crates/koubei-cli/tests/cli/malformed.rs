//! Malformed files give a clear error that names the file, and never panic.

use std::io::Write;

use crate::util::Ws;

fn import_err(ws: &Ws, table: &str, name: &str, bytes: &[u8], extra: &[&str]) -> String {
    let f = ws.file(name, bytes);
    let mut args = vec!["import", table, f.to_str().unwrap()];
    args.extend_from_slice(extra);
    let err = ws.fails(&args);
    assert!(!err.contains("panicked"), "{name}: {err}");
    assert!(err.contains("error: "), "{name}: {err}");
    err
}

#[test]
fn binary_junk() {
    let ws = Ws::new();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let e = import_err(&ws, "orders", "junk.csv", &junk, &[]);
    assert!(e.contains("junk.csv"), "{e}");
    let e = import_err(&ws, "orders", "junk.parquet", &junk, &[]);
    assert!(e.contains("not a readable Parquet file"), "{e}");
    let e = import_err(&ws, "orders", "junk.jsonl", &junk, &[]);
    assert!(e.contains("rejected"), "{e}");
}

#[test]
fn truncated_gzip_and_parquet() {
    let ws = Ws::new();
    let mut csv = String::from("customer_id,ts,amount\n");
    for i in 0..20_000 {
        csv.push_str(&format!("c{i},2024-01-01,{i}\n"));
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(csv.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let cut = &gz[..gz.len() / 2];
    let err = import_err(&ws, "orders", "cut.csv.gz", cut, &[]);
    assert!(
        err.contains("cut.csv.gz") && err.contains("truncated"),
        "{err}"
    );
    // It names the line where the stream broke: after every whole line
    // that decodes.
    let mut decoded = Vec::new();
    let mut d = flate2::read::GzDecoder::new(cut);
    let mut piece = [0u8; 4096];
    while let Ok(n) = std::io::Read::read(&mut d, &mut piece) {
        if n == 0 {
            break;
        }
        decoded.extend_from_slice(&piece[..n]);
    }
    let whole = decoded.iter().filter(|&&b| b == b'\n').count();
    assert!(whole > 1000, "{whole}");
    assert!(
        err.contains(&format!("line {}:", whole + 1)),
        "{whole}: {err}"
    );
    assert_eq!(ws.count("orders"), 0);

    // A Parquet file cut short loses its footer.
    let ws2 = Ws::new();
    let good = ws2.file("good.csv", &csv);
    ws2.ok(&["import", "orders", good.to_str().unwrap()]);
    let part = std::fs::read_dir(ws2.path().join("tables/orders"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let bytes = std::fs::read(part).unwrap();
    let err = import_err(
        &ws,
        "orders",
        "cut.parquet",
        &bytes[..bytes.len() - 100],
        &[],
    );
    assert!(
        err.contains("cut.parquet") && err.contains("Parquet"),
        "{err}"
    );
}

#[test]
fn wrong_delimiter_and_missing_columns() {
    let ws = Ws::new();
    let e = import_err(
        &ws,
        "orders",
        "semi.csv",
        b"customer_id;ts;amount\nc1;2024-01-01;3\n",
        &[],
    );
    assert!(
        e.contains("missing required columns customer_id, ts, amount"),
        "{e}"
    );
    assert!(e.contains("hint: the header looks separated by ';'"), "{e}");
    // With the right delimiter it loads.
    let f = ws.file("semi2.csv", "customer_id;ts;amount\nc1;2024-01-01;3\n");
    ws.ok(&["import", "orders", f.to_str().unwrap(), "--delimiter", ";"]);

    let e = import_err(
        &ws,
        "orders",
        "noamount.csv",
        b"customer_id,ts\nc1,2024-01-01\n",
        &[],
    );
    assert!(e.contains("missing required column amount"), "{e}");
    assert!(e.contains("--map amount="), "{e}");
    let e = import_err(
        &ws,
        "orders",
        "x.csv",
        b"customer_id,ts,amount\n",
        &["--map", "customer_id=buyer"],
    );
    assert!(e.contains("no column \"buyer\""), "{e}");
    let e = import_err(&ws, "orders", "x.xlsx", b"PK\x03\x04", &[]);
    assert!(e.contains("cannot tell the format"), "{e}");
    let e = import_err(&ws, "order", "x.csv", b"a\n", &[]);
    assert!(e.contains("unknown table \"order\""), "{e}");
}

#[test]
fn invalid_utf8_rows_and_headers() {
    let ws = Ws::new();
    let mut bytes = b"customer_id,ts,amount\n".to_vec();
    for i in 0..200 {
        bytes.extend_from_slice(format!("c{i},2024-01-01,1\n").as_bytes());
    }
    bytes.extend_from_slice(b"c\xff\xfe,2024-01-01,1\n");
    let f = ws.file("latin.csv", &bytes);
    let r = ws.import("orders", &f, &[]);
    assert_eq!(
        (r["loaded"].as_i64(), r["rejected"].as_i64()),
        (Some(200), Some(1))
    );
    assert_eq!(r["first_rejects"][0]["line"], 202);
    assert_eq!(r["first_rejects"][0]["reason"], "invalid UTF-8");
    let e = import_err(&ws, "orders", "gbk.csv", b"\xb6\xa9\xb5\xa5,ts\n", &[]);
    assert!(e.contains("not UTF-8"), "{e}");
}

/// A line with no newline cannot make the reader buffer without bound.
#[test]
fn endless_line() {
    let ws = Ws::new();
    let path = ws.dir.path().join("oneline.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"customer_id,ts,amount\nc1,").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..65 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let err = ws.fails(&["import", "orders", path.to_str().unwrap()]);
    assert!(err.contains("line 2 is longer than 64 MiB"), "{err}");
}

/// Times that nanosecond timestamps cannot hold are rejected at import,
/// with the reason; the rest load, and month-truncating queries still run.
#[test]
fn times_outside_what_queries_hold() {
    let ws = Ws::new();
    let r = ws.load(
        "orders",
        "far.csv",
        "order_id,customer_id,ts,amount\n\
         o1,a,0001-01-01T00:00:00Z,1\n\
         o2,a,9999-12-31T00:00:00Z,1\n\
         o3,a,2024-05-01T00:00:00Z,1\n",
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(r["loaded"], 1, "{r}");
    assert_eq!(r["rejected"], 2, "{r}");
    assert_eq!(
        r["first_rejects"][0]["reason"],
        "the time is outside the years 1677 to 2262, which queries can hold"
    );
    let rows = ws.sql("SELECT date_trunc('month', ts) AS m FROM orders");
    assert_eq!(rows.len(), 1);
    ws.ok(&["sales", "--by", "month"]);
}

/// An import whose summary cannot be printed (stdout is a full disk) exits
/// non-zero, and says that the rows are committed.
#[test]
fn committed_import_with_a_full_stdout() {
    let ws = Ws::new();
    let f = ws.file(
        "o.csv",
        "order_id,customer_id,ts,amount\no1,a,2024-01-01,5\n",
    );
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = ws
        .process()
        .args(["import", "orders", f.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the import is committed (1 rows loaded, orders version 0), but its summary could not be printed"),
        "{stderr}"
    );
    assert_eq!(ws.count("orders"), 1);
}

/// Order lines counted from 0, as many exports count them, are keys like
/// any other; a negative line is refused.
#[test]
fn order_lines_from_zero() {
    let ws = Ws::new();
    let r = ws.load(
        "orders",
        "lines.csv",
        "order_id,line,customer_id,ts,amount\n\
         o1,0,a,2024-01-01,5\n\
         o1,1,a,2024-01-01,7\n\
         o2,-1,a,2024-01-01,1\n",
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(r["loaded"], 2, "{r}");
    assert_eq!(r["first_rejects"][0]["reason"], "line -1 is negative");
}

/// Amounts are exact decimals: sums of tenths are exact, and a value no
/// amount can be (infinite, 10^14 or more, a product past it) or a quantity
/// of more than a billion units is rejected with its reason, never summed
/// into `inf` or a wrapped negative.
#[test]
fn amounts_are_exact_and_absurd_ones_rejected() {
    let ws = Ws::new();
    let r = ws.load(
        "orders",
        "money.csv",
        "order_id,customer_id,ts,quantity,unit_price,amount\n\
         o1,a,2024-01-01,1,,0.1\n\
         o2,a,2024-01-02,1,,0.2\n\
         o3,b,2024-01-03,3,0.1,\n\
         o4,b,2024-01-04,1,,19.990000000000002\n\
         o5,c,2024-01-05,1,,1e308\n\
         o6,c,2024-01-06,1,,inf\n\
         o7,c,2024-01-07,9223372036854775807,,1\n\
         o8,c,2024-01-08,1000000,99999999999,\n",
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(r["loaded"], 4, "{r}");
    let reasons: Vec<&str> = r["first_rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "\"1e308\" is too large: an amount is at most 99,999,999,999,999.9999",
            "\"inf\" is not a number",
            "quantity 9223372036854775807 is more than 1000000000 units on one line",
            "unit_price × quantity is too large: an amount is at most 99,999,999,999,999.9999",
        ]
    );
    // 0.1 + 0.2 + 3 × 0.1 + 19.99 is 20.59 exactly, in SQL and in sales.
    let rows = ws.sql("SELECT CAST(sum(amount) AS VARCHAR) AS s FROM orders");
    assert_eq!(rows[0]["s"], "20.5900");
    let s: serde_json::Value =
        serde_json::from_str(&ws.ok(&["sales", "--by", "year", "--format", "json"])).unwrap();
    assert_eq!(s["total"][0]["revenue"], 20.59, "{s}");
    assert_eq!(s["total"][0]["units"], 6, "{s}");
}

/// A Parquet file's float amounts are stored as the decimals they print
/// as (29.9, not 29.899999999999998578...), and its integer quantities get
/// the same checks as text ones.
#[test]
fn parquet_floats_and_integers() {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let ws = Ws::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("ts", DataType::Utf8, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a", "a", "b", "b"])),
            Arc::new(StringArray::from(vec!["2024-01-01"; 4])),
            Arc::new(Int64Array::from(vec![1, 2, -5, 1])),
            Arc::new(Float64Array::from(vec![29.9, 0.1, 1.0, f64::NAN])),
        ],
    )
    .unwrap();
    let path = ws.dir.path().join("o.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let r = ws.import("orders", &path, &["--max-reject-ratio", "1"]);
    assert_eq!(r["loaded"], 2, "{r}");
    assert_eq!(r["first_rejects"][0]["reason"], "quantity -5 is negative");
    assert_eq!(r["first_rejects"][1]["reason"], "NaN is not a number");
    let rows = ws.sql("SELECT CAST(sum(amount) AS VARCHAR) AS s FROM orders");
    assert_eq!(rows[0]["s"], "30.0000");
}

fn write_parquet(path: &std::path::Path, batch: &arrow::array::RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Kept Parquet columns of types Delta has no type for are stored as the
/// nearest type it has, and a later value that the stored type would
/// change rejects its row instead of being cut (2.9 into whole numbers).
#[test]
fn kept_columns_of_any_type_and_never_narrowed() {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, DurationSecondArray, Float32Array, Float64Array, RecordBatch, StringArray,
        Time64MicrosecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
    };
    use arrow::datatypes::DataType;
    let ws = Ws::new();
    let half = arrow::compute::cast(
        &(Arc::new(Float32Array::from(vec![1.5, 2.5])) as ArrayRef),
        &DataType::Float16,
    )
    .unwrap();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("customer_id", Arc::new(StringArray::from(vec!["a", "b"]))),
        (
            "ts",
            Arc::new(StringArray::from(vec!["2024-01-01", "2024-01-02"])),
        ),
        ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        (
            "paid_s",
            Arc::new(TimestampSecondArray::from(vec![1_700_000_000, 0])),
        ),
        (
            "paid_ns",
            Arc::new(
                TimestampNanosecondArray::from(vec![1_700_000_000_000_000_123, 0])
                    .with_timezone("+08:00"),
            ),
        ),
        (
            "at",
            Arc::new(Time64MicrosecondArray::from(vec![3_600_000_000, 0])),
        ),
        ("took", Arc::new(DurationSecondArray::from(vec![90, 5]))),
        ("weight", half),
        ("n", Arc::new(UInt64Array::from(vec![1, 2]))),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let first = ws.dir.path().join("first.parquet");
    write_parquet(&first, &batch);
    let r = ws.import("orders", &first, &[]);
    assert_eq!(r["loaded"], 2, "{r}");
    let rows = ws.sql(
        "SELECT CAST(paid_s AS VARCHAR) s, CAST(paid_ns AS VARCHAR) ns, at, took, weight, n \
         FROM orders WHERE customer_id = 'a'",
    );
    assert_eq!(rows[0]["s"], "2023-11-14T22:13:20Z", "{rows:?}");
    assert_eq!(rows[0]["ns"], "2023-11-14T22:13:20Z", "{rows:?}");
    assert_eq!(rows[0]["at"], "01:00:00", "{rows:?}");
    assert_eq!(rows[0]["weight"], 1.5, "{rows:?}");
    assert_eq!(rows[0]["n"], 1, "{rows:?}");

    // A second file: n = 2.9 would be stored as 2. Its row is rejected.
    let batch = RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(StringArray::from(vec!["c", "d"])) as ArrayRef,
        ),
        (
            "ts",
            Arc::new(StringArray::from(vec!["2024-02-01", "2024-02-02"])),
        ),
        ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
        ("n", Arc::new(Float64Array::from(vec![3.0, 2.9]))),
    ])
    .unwrap();
    let second = ws.dir.path().join("second.parquet");
    write_parquet(&second, &batch);
    let r = ws.import("orders", &second, &["--max-reject-ratio", "1"]);
    assert_eq!(r["loaded"], 1, "{r}");
    assert_eq!(
        r["first_rejects"][0]["reason"],
        "column n is Int64 in the table, which cannot hold \"2.9\" as it is"
    );
    // And from text: "3.99" is not a whole number; "4" is.
    let r = ws.load(
        "orders",
        "third.csv",
        "customer_id,ts,amount,n\ne,2024-03-01,1,4\nf,2024-03-01,1,3.99\n",
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(r["loaded"], 1, "{r}");
    assert_eq!(r["first_rejects"][0]["column"], "n", "{r}");
    let n = ws.sql("SELECT sum(n) AS n FROM orders");
    assert_eq!(n[0]["n"], 10, "{n:?}");
}
