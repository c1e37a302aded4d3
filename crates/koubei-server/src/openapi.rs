//! The OpenAPI 3.1 document: one path per query, its fields as query
//! parameters and as a JSON body, from the requests' JSON Schemas.

use koubei_app::dispatch::{QUERIES, request_schema};
use serde_json::{Map, Value, json};

/// The document, built from the schemas on each call (it is small).
pub fn document() -> koubei_app::Result<Value> {
    let mut paths = Map::new();
    let mut components = Map::new();
    for name in QUERIES {
        let mut schema = request_schema(name)?.to_value();
        if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
            for (k, mut v) in defs {
                to_components(&mut v);
                components.insert(k, v);
            }
        }
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
        }
        to_components(&mut schema);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let parameters: Vec<Value> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(field, s)| {
                        json!({
                            "name": field,
                            "in": "query",
                            "required": required.contains(&field.as_str()),
                            "explode": true,
                            "schema": s,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let title = format!("{}Request", name.replace('/', "_"));
        let responses = json!({
            "200": { "description": "The report, as `koubei ... --format json` prints it." },
            "400": { "description": "A field that is not valid, named in `field`; or no such data." },
            "404": { "description": "No such operation." },
        });
        paths.insert(
            format!("/v1/{name}"),
            json!({
                "get": { "operationId": format!("get_{}", name.replace('/', "_")), "parameters": parameters, "responses": responses },
                "post": {
                    "operationId": format!("post_{}", name.replace('/', "_")),
                    "requestBody": { "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{title}") } } } },
                    "responses": responses,
                },
            }),
        );
        components.insert(title, schema);
    }
    Ok(json!({
        "openapi": "3.1.0",
        "info": { "title": "koubei", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": { "schemas": components },
    }))
}

/// `#/$defs/X` as `#/components/schemas/X`, everywhere in a schema.
fn to_components(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match x {
                    Value::String(s) if k == "$ref" => {
                        if let Some(name) = s.strip_prefix("#/$defs/") {
                            *s = format!("#/components/schemas/{name}");
                        }
                    }
                    _ => to_components(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(to_components),
        _ => {}
    }
}
