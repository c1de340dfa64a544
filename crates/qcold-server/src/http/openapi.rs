//! `GET /api/openapi.json`: an OpenAPI 3.1 document built from [`super::routes`] and the
//! qcold-core types' JSON Schemas, so it lists every route the router serves, with the types it
//! takes and answers.

use axum::Json;
use axum::extract::State;
use qcold_core::api::ErrorBody;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::{Answer, Route};
use crate::app::AppState;

/// The route that serves the document.
pub fn routes() -> Vec<Route> {
    vec![
        Route::with(
            axum::http::Method::GET,
            "/api/openapi.json",
            "this API as an OpenAPI 3.1 document",
            axum::routing::get(serve),
        )
        .answering(Answer::Json(|g| g.subschema_for::<Value>())),
    ]
}

async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json(document(&super::routes(), &state.config().build_id))
}

/// The document for `routes`.
pub fn document(routes: &[Route], version: &str) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    for route in routes {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(route.summary));
        operation.insert("operationId".into(), json!(operation_id(route)));
        let parameters = parameters(route);
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = route.request {
            let schema = request(&mut generator);
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema}}}),
            );
        }
        let mut responses = Map::new();
        let (status, success) = success(route.answer, &mut generator);
        responses.insert(status.into(), success);
        responses.insert(
            "default".into(),
            json!({"description": "a refusal or failure", "content": {"application/json": {"schema": error}}}),
        );
        operation.insert("responses".into(), Value::Object(responses));
        if route.is_mutating() || matches!(route.answer, Answer::WebSocket) {
            operation.insert("security".into(), json!([{"writeToken": []}, {"telegramInitData": []}, {}]));
        }
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        entry
            .as_object_mut()
            .expect("paths hold objects")
            .insert(route.method.as_str().to_ascii_lowercase(), Value::Object(operation));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Q-COLD daemon API",
            "version": version,
            "description": "See docs/http-api.md for the security rules: Host, Origin, JSON-only writes, the write token or a Telegram WebApp's initData."
        },
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "writeToken": {"type": "apiKey", "in": "header", "name": "X-QCOLD-Write-Token"},
                "telegramInitData": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Telegram-Init-Data",
                    "description": "a Telegram WebApp's signed initData, when the daemon has QCOLD_TELEGRAM_BOT_TOKEN"
                }
            }
        }
    })
}

fn operation_id(route: &Route) -> String {
    let words: Vec<&str> =
        route.path.split(['/', '-', '.', '{', '}']).filter(|w| !w.is_empty() && *w != "api").collect();
    format!("{}_{}", route.method.as_str().to_ascii_lowercase(), words.join("_"))
}

/// Path parameters from `{name}` segments, then the query type's fields.
fn parameters(route: &Route) -> Vec<Value> {
    let mut out: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if let Some(query) = route.query {
        let mut settings = SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        let mut inline = settings.into_generator();
        let schema = query(&mut inline).to_value();
        let resolved = inline.definitions().values().next().cloned().unwrap_or(schema);
        if let Some(properties) = resolved.get("properties").and_then(Value::as_object) {
            for (name, schema) in properties {
                out.push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
            }
        }
    }
    out
}

fn success(answer: Answer, generator: &mut SchemaGenerator) -> (&'static str, Value) {
    match answer {
        Answer::Json(schema) => {
            ("200", json!({"description": "success", "content": {"application/json": {"schema": schema(generator)}}}))
        }
        Answer::Empty => ("204", json!({"description": "done; no body"})),
        Answer::EventStream => (
            "200",
            json!({"description": "server-sent events; each data line is an Event",
                   "content": {"text/event-stream": {"schema": event_schema(generator)}}}),
        ),
        Answer::WebSocket => (
            "101",
            json!({"description": "the WebSocket of an agent's terminal: binary frames of output, JSON ServerMessage text frames; send JSON ClientMessage text frames"}),
        ),
        Answer::Zip => (
            "200",
            json!({"description": "the file", "content": {"application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}}}),
        ),
    }
}

fn event_schema(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<qcold_core::Event>().to_value()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_document_covers_every_route_with_its_types() {
        let routes = super::super::routes();
        let doc = document(&routes, "test");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut listed = BTreeSet::new();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                listed.insert((method.to_ascii_uppercase(), path.clone()));
                assert!(operation["responses"]["default"].is_object(), "{method} {path} names its error body");
            }
        }
        let served: BTreeSet<(String, String)> =
            routes.iter().map(|r| (r.method.as_str().to_owned(), r.path.to_owned())).collect();
        assert_eq!(listed, served, "the document lists exactly the routes the router serves");
        assert!(served.contains(&("GET".to_owned(), "/api/openapi.json".to_owned())));

        // Every `$ref` resolves to a schema in the document.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
        for name in ["ErrorBody", "RunRequest", "TaskPage", "AddRepoRequest", "StateResponse"] {
            assert!(schemas.contains_key(name), "{name} is described");
        }
        let run = &doc["paths"]["/api/queue/run"]["post"];
        assert_eq!(
            run["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/RunRequest"
        );
        let tasks = &doc["paths"]["/api/tasks"]["get"]["parameters"];
        let names: Vec<&str> = tasks.as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert!(names.contains(&"limit") && names.contains(&"cursor"), "{names:?}");
        let task = &doc["paths"]["/api/tasks/{repo}/{task}"]["get"]["parameters"];
        assert_eq!(task.as_array().unwrap().len(), 2, "path parameters are listed");
    }
}
