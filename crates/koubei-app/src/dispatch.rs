//! The operations that answer from the tables, by name, with the request
//! and the report as JSON: what an HTTP route or a golden case calls. Each
//! name runs the same function as the typed call.

use crate::Op;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, Result, Workspace};

/// The names [`query`] answers, as an API would route them.
pub const QUERIES: [&str; 20] = [
    "tables",
    "overview",
    "sales",
    "funnel",
    "funnel/persons",
    "retention",
    "rfm",
    "rfm/customers",
    "clv",
    "wom/metrics",
    "wom/cascades",
    "wom/reach",
    "reviews",
    "reviews/terms",
    "reviews/list",
    "recommend/together",
    "recommend/similar",
    "recommend/for",
    "recommend/evaluate",
    "recommend/export",
];

/// Runs the operation `name` on `request` (an object of the request's
/// fields; absent ones take their defaults) and returns its report as JSON.
#[inline(never)]
pub fn query<'a>(ws: &'a Workspace, name: &'a str, request: Value) -> Op<'a, Value> {
    Box::pin(async move {
        match name {
            "tables" => json(crate::tables(ws).await?),
            "overview" => json(crate::overview(ws, &parse(request)?).await?),
            "sales" => json(crate::sales(ws, &parse(request)?).await?),
            "funnel" => json(crate::funnel(ws, &parse(request)?).await?),
            "funnel/persons" => json(crate::funnel_persons(ws, &parse(request)?).await?),
            "retention" => json(crate::retention(ws, &parse(request)?).await?),
            "rfm" => json(crate::rfm(ws, &parse(request)?).await?),
            "rfm/customers" => json(crate::rfm_customers(ws, &parse(request)?).await?),
            "clv" => json(crate::clv(ws, &parse(request)?).await?),
            "wom/metrics" => json(crate::wom::metrics(ws, &parse(request)?).await?),
            "wom/cascades" => json(crate::wom::cascades(ws, &parse(request)?).await?),
            "wom/reach" => json(crate::wom::reach(ws, &parse(request)?).await?),
            "reviews" => json(crate::reviews::satisfaction(ws, &parse(request)?).await?),
            "reviews/terms" => json(crate::reviews::terms(ws, &parse(request)?).await?),
            "reviews/list" => json(crate::reviews::list(ws, &parse(request)?).await?),
            "recommend/together" => json(crate::recs::together(ws, &parse(request)?).await?),
            "recommend/similar" => json(crate::recs::similar(ws, &parse(request)?).await?),
            "recommend/for" => json(crate::recs::for_customer(ws, &parse(request)?).await?),
            "recommend/evaluate" => json(crate::recs::evaluate(ws, &parse(request)?).await?),
            "recommend/export" => json(crate::recs::export(ws, &parse(request)?).await?),
            _ => Err(Error::Request(format!(
                "no operation \"{name}\": expected one of {}",
                QUERIES.join(", ")
            ))),
        }
    })
}

/// The JSON Schema of the request of the query `name`: its fields, their
/// types and defaults. The API's OpenAPI document is made of these.
pub fn request_schema(name: &str) -> Result<schemars::Schema> {
    use schemars::schema_for;
    Ok(match name {
        "tables" => schemars::json_schema!({ "type": "object", "properties": {} }),
        "overview" => schema_for!(crate::OverviewRequest),
        "sales" => schema_for!(crate::SalesRequest),
        "funnel" => schema_for!(crate::FunnelRequest),
        "funnel/persons" => schema_for!(crate::FunnelPersonsRequest),
        "retention" => schema_for!(crate::RetentionRequest),
        "rfm" | "rfm/customers" => schema_for!(crate::RfmRequest),
        "clv" => schema_for!(crate::ClvRequest),
        "wom/metrics" => schema_for!(crate::wom::MetricsRequest),
        "wom/cascades" => schema_for!(crate::wom::CascadeRequest),
        "wom/reach" => schema_for!(crate::wom::ReachRequest),
        "reviews" => schema_for!(crate::reviews::SatisfactionRequest),
        "reviews/terms" => schema_for!(crate::reviews::TermsRequest),
        "reviews/list" => schema_for!(crate::reviews::ReviewListRequest),
        "recommend/together" => schema_for!(crate::recs::TogetherRequest),
        "recommend/similar" => schema_for!(crate::recs::SimilarRequest),
        "recommend/for" => schema_for!(crate::recs::ForRequest),
        "recommend/evaluate" => schema_for!(crate::recs::EvaluateRequest),
        "recommend/export" => schema_for!(crate::recs::ExportRequest),
        _ => {
            return Err(Error::Request(format!(
                "no operation \"{name}\": expected one of {}",
                QUERIES.join(", ")
            )));
        }
    })
}

/// A request from a query string's pairs, as its JSON body would be: each
/// value takes the type its field has in the request's schema (a number,
/// a boolean, a string), and a list field takes every pair of its name,
/// each split at commas outside brackets (`steps=view,purchase[channel=app]`
/// or `steps=view&steps=purchase`). A name that is not a field is refused.
pub fn request_from_pairs(name: &str, pairs: &[(String, String)]) -> Result<Value> {
    let schema = request_schema(name)?;
    let schema = schema.as_value();
    let empty = serde_json::Map::new();
    let fields = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = serde_json::Map::new();
    for (key, text) in pairs {
        let Some(field) = fields.get(key) else {
            return Err(Error::Invalid {
                field: key.clone(),
                reason: format!(
                    "the {name} request has no such field; its fields are: {}",
                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        let kind = json_type(schema, field);
        if kind == "array" {
            let item = field
                .get("items")
                .map_or("string", |i| json_type(schema, i));
            let list = out
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                for part in split_outside_brackets(text) {
                    list.push(typed(key, item, part)?);
                }
            }
        } else if out.insert(key.clone(), typed(key, kind, text)?).is_some() {
            return Err(Error::Invalid {
                field: key.clone(),
                reason: "given more than once".into(),
            });
        }
    }
    Ok(Value::Object(out))
}

/// A field's JSON type: through a `$ref` to the schema's definitions, and
/// the one that is not null of an optional field's.
fn json_type<'a>(root: &'a Value, field: &'a Value) -> &'a str {
    let field = match field.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|d| root.get("$defs")?.get(d))
            .unwrap_or(field),
        None => field,
    };
    if let Some(any) = field.get("anyOf").and_then(Value::as_array) {
        return any
            .iter()
            .map(|alt| json_type(root, alt))
            .find(|t| *t != "null")
            .unwrap_or("string");
    }
    match field.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ => "string",
    }
}

/// One value as its field's type; a number or a boolean that does not
/// read as one names the field.
fn typed(field: &str, kind: &str, text: &str) -> Result<Value> {
    let bad = |what: &str| Error::Invalid {
        field: field.to_string(),
        reason: format!("\"{text}\" is not {what}"),
    };
    Ok(match kind {
        "integer" => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.trim().parse::<u64>().map(Value::from))
            .map_err(|_| bad("a whole number"))?,
        "number" => {
            let x: f64 = text.trim().parse().map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(x)
                .map(Value::Number)
                .ok_or_else(|| bad("a finite number"))?
        }
        "boolean" => match text.trim() {
            "true" | "1" | "yes" | "" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        _ => Value::String(text.to_string()),
    })
}

/// `a,b[x=1,y=2],c` as `a`, `b[x=1,y=2]`, `c`.
fn split_outside_brackets(text: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0i32;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

/// A request from JSON; a field that does not parse is named by its path.
fn parse<T: DeserializeOwned>(request: Value) -> Result<T> {
    serde_path_to_error::deserialize(request).map_err(|e| {
        let field = e.path().to_string();
        let reason = e.into_inner().to_string();
        if field == "." {
            Error::Request(reason)
        } else {
            Error::Invalid { field, reason }
        }
    })
}

fn json(report: impl Serialize) -> Result<Value> {
    Ok(serde_json::to_value(report)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Query-string text becomes each field's type, lists gather repeated
    /// names and split at commas outside brackets, and the result reads as
    /// the typed request.
    #[test]
    fn pairs_take_their_fields_types() {
        let v = request_from_pairs(
            "funnel",
            &pairs(&[
                ("steps", "view,add_to_cart[channel=app,country!=CN]"),
                ("steps", "purchase"),
                ("window_seconds", "3600"),
                ("order", "strict"),
                ("since", "2024-01-01"),
                ("trend", "month"),
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "steps": ["view", "add_to_cart[channel=app,country!=CN]", "purchase"],
                "window_seconds": 3600,
                "order": "strict",
                "since": "2024-01-01",
                "trend": "month",
            })
        );
        let req: crate::FunnelRequest = parse(v).unwrap();
        assert_eq!(req.steps.len(), 3);
        assert_eq!(req.window_seconds, 3600);

        // A funnel's fields, flattened into the persons' request, are typed
        // the same, beside its own.
        let v = request_from_pairs(
            "funnel/persons",
            &pairs(&[
                ("steps", "view,purchase"),
                ("window_seconds", "3600"),
                ("step", "2"),
                ("dropped_off", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"steps": ["view", "purchase"], "window_seconds": 3600, "step": 2, "dropped_off": true})
        );
        let req: crate::FunnelPersonsRequest = parse(v).unwrap();
        assert_eq!(
            (req.funnel.steps.len(), req.step, req.dropped_off),
            (2, 2, true)
        );

        let v = request_from_pairs(
            "clv",
            &pairs(&[
                ("discount_rate", "0.08"),
                ("compare", "true"),
                ("unit", "month"),
                ("horizon", "6m"),
                ("calibration_end", "2025-06-30"),
            ]),
        )
        .unwrap();
        assert_eq!(v["discount_rate"], 0.08);
        assert_eq!(v["compare"], true);
        let req: crate::ClvRequest = parse(v).unwrap();
        assert_eq!(req.summary.unit, crate::Unit::Month);
        assert!(req.compare);
    }

    /// Every query has a schema with its fields, and takes no pairs at all
    /// (its defaults) unless a field is required.
    #[test]
    fn every_query_has_a_schema() {
        for name in QUERIES {
            let schema = request_schema(name).unwrap();
            assert!(schema.as_value().get("properties").is_some(), "{name}");
            let v = request_from_pairs(name, &[]).unwrap();
            assert_eq!(v, json!({}), "{name}");
        }
        let sales = request_schema("sales").unwrap();
        for field in ["by", "breakdown", "top", "since", "until"] {
            assert!(
                sales.as_value()["properties"].get(field).is_some(),
                "{field}"
            );
        }
    }

    /// A value that is not its field's type, a name that is no field, and
    /// a single field given twice are refused, naming the field.
    #[test]
    fn bad_pairs_name_their_field() {
        let e = request_from_pairs("sales", &pairs(&[("top", "five")])).unwrap_err();
        assert_eq!(e.to_string(), "top: \"five\" is not a whole number");
        let e = request_from_pairs("sales", &pairs(&[("tpo", "5")])).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "tpo: the sales request has no such field; its fields are: by, breakdown, top"
            ),
            "{e}"
        );
        let e = request_from_pairs("sales", &pairs(&[("top", "5"), ("top", "6")])).unwrap_err();
        assert_eq!(e.to_string(), "top: given more than once");
        let e = request_from_pairs("clv", &pairs(&[("penalizer", "inf")])).unwrap_err();
        assert_eq!(e.to_string(), "penalizer: \"inf\" is not a finite number");
        let e = request_from_pairs("nope", &[]).unwrap_err();
        assert!(e.to_string().contains("no operation \"nope\""), "{e}");
    }
}
