//! [`Route`]: one route of the API with what it takes and answers, so the router, the OpenAPI
//! document and the security table test are all built from one list.

use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::app::AppState;

/// Builds the JSON Schema of a type, registering its definitions with the generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// A JSON body of the given type.
    Json(SchemaFn),
    /// No body (204).
    Empty,
    /// `text/event-stream` of `Event`s.
    EventStream,
    /// A WebSocket upgrade (101).
    WebSocket,
    /// A zip file.
    Zip,
}

/// One route of the API.
#[derive(Debug)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path, with `{name}` for each parameter (axum's and OpenAPI's syntax).
    pub path: &'static str,
    /// What it does, in a line.
    pub summary: &'static str,
    /// The JSON body it takes, if any.
    pub request: Option<SchemaFn>,
    /// The query string's fields, if it takes one.
    pub query: Option<SchemaFn>,
    /// What it answers on success.
    pub answer: Answer,
    pub(super) handler: MethodRouter<AppState>,
}

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

impl Route {
    /// A `GET` route answering `A` as JSON.
    pub fn get<A: JsonSchema, H, T>(path: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        Self::with(Method::GET, path, summary, get(handler)).answering(Answer::Json(schema_of::<A>))
    }

    /// A `POST` route taking `R` and answering `A`, both JSON.
    pub fn post<R: JsonSchema, A: JsonSchema, H, T>(path: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let mut route = Self::with(Method::POST, path, summary, post(handler)).answering(Answer::Json(schema_of::<A>));
        route.request = Some(schema_of::<R>);
        route
    }

    /// A route with a method router built elsewhere (one handler serving several routes); it
    /// answers nothing until [`Route::answering`] says what.
    pub fn with(method: Method, path: &'static str, summary: &'static str, handler: MethodRouter<AppState>) -> Self {
        Self { method, path, summary, request: None, query: None, answer: Answer::Empty, handler }
    }

    /// Says what the route answers.
    pub fn answering(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }

    /// Says the route takes a JSON body of type `R`.
    pub fn taking<R: JsonSchema>(mut self) -> Self {
        self.request = Some(schema_of::<R>);
        self
    }

    /// Says the route reads its query string into `Q`.
    pub fn with_query<Q: JsonSchema>(mut self) -> Self {
        self.query = Some(schema_of::<Q>);
        self
    }

    /// Whether the route changes something (and so needs JSON, a trusted origin and the token).
    pub fn is_mutating(&self) -> bool {
        self.method != Method::GET
    }
}
