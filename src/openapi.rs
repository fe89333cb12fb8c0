//! The OpenAPI 3 document, generated from the same endpoint tables that register the routes.
//!
//! Every routes file declares its endpoints once with [`endpoints!`]; that one declaration both
//! registers the actix routes and lists them here, so `/openapi.json` cannot drift from what is
//! served.

use serde_json::{json, Map, Value};

/// How an endpoint authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authentication.
    None,
    /// `Authorization: Bearer <admin_token>`.
    Admin,
    /// The adapter's HMAC signature headers.
    Signature,
    /// A `[[api_keys]]` bearer key.
    ApiKey,
    /// HTTP Basic credentials (Postmark).
    Basic,
    /// `X-Twilio-Signature`.
    Twilio,
}

/// One served endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Lowercase HTTP method.
    pub method: &'static str,
    /// The path with `{param}` placeholders.
    pub path: &'static str,
    /// How callers authenticate.
    pub auth: Auth,
    /// One line on what it does.
    pub summary: &'static str,
}

/// Declares a routes file's endpoints once: registers them and lists them for the document.
#[macro_export]
macro_rules! endpoints {
    ($($method:ident $path:literal => $handler:path, $auth:ident, $summary:literal;)*) => {
        /// The endpoints of this file, as listed in the OpenAPI document.
        pub const ENDPOINTS: &[$crate::openapi::Endpoint] = &[$(
            $crate::openapi::Endpoint {
                method: stringify!($method),
                path: $path,
                auth: $crate::openapi::Auth::$auth,
                summary: $summary,
            },
        )*];

        /// Registers the routes of this file.
        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.service(
                $crate::openapi::resource(stringify!($method), $path)
                    .route(actix_web::web::$method().to($handler)),
            );)*
        }
    };
}

/// The actix resource of one endpoint: guarded by its method (so that another method on the
/// same path reaches its own resource) and labelled with its path pattern for the metrics.
pub fn resource(method: &'static str, path: &'static str) -> actix_web::Resource {
    let method = actix_web::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .expect("endpoint tables name standard HTTP methods");
    actix_web::web::resource(path)
        .guard(actix_web::guard::Method(method))
        .app_data(crate::telemetry::RouteLabel(path))
}

fn security(auth: Auth) -> Value {
    match auth {
        Auth::None => json!([]),
        Auth::Admin => json!([{ "adminToken": [] }]),
        Auth::Signature => json!([{ "ucrmSignature": [], "ucrmTimestamp": [] }]),
        Auth::ApiKey => json!([{ "apiKey": [] }]),
        Auth::Basic => json!([{ "postmarkBasic": [] }]),
        Auth::Twilio => json!([{ "twilioSignature": [] }]),
    }
}

fn operation(e: &Endpoint) -> Value {
    let params: Vec<Value> = e
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    let ok = match (e.method, e.path) {
        ("post", "/v1/players") | ("post", "/v1/bonus-grants") => "201",
        ("post", p) if p.starts_with("/v1/events") || p == "/v1/webhook-calls" => "202",
        _ => "200",
    };
    let mut responses = Map::new();
    responses.insert(ok.into(), json!({ "description": "success" }));
    for (code, what) in [
        ("401", "bad credentials or signature"),
        ("404", "not found"),
        ("413", "body too large"),
        ("415", "unsupported media type"),
        ("422", "validation error naming the field"),
        ("429", "rate limited"),
        ("503", "busy or unavailable; retry"),
    ] {
        responses.insert(
            code.into(),
            json!({ "description": what, "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
    }
    let mut op = json!({
        "summary": e.summary,
        "operationId": format!(
            "{}_{}",
            e.method,
            e.path.trim_matches('/').replace(['/', '{', '}', '-'], "_")
        ),
        "parameters": params,
        "security": security(e.auth),
        "responses": responses,
    });
    if e.method == "post" {
        let media = match e.auth {
            Auth::Twilio => "application/x-www-form-urlencoded",
            _ => "application/json",
        };
        op["requestBody"] =
            json!({ "required": false, "content": { media: { "schema": { "type": "object" } } } });
    }
    op
}

/// Builds the document from every endpoint table.
pub fn document(endpoints: &[&[Endpoint]]) -> Value {
    let mut paths = Map::new();
    for e in endpoints.iter().flat_map(|t| t.iter()) {
        let item = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        item[e.method] = operation(e);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ucrm-webhooks",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Webhook hub of the UCRM casino CRM.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminToken": { "type": "http", "scheme": "bearer" },
                "apiKey": { "type": "http", "scheme": "bearer" },
                "postmarkBasic": { "type": "http", "scheme": "basic" },
                "ucrmSignature": { "type": "apiKey", "in": "header", "name": "X-UCRM-Signature" },
                "ucrmTimestamp": { "type": "apiKey", "in": "header", "name": "X-UCRM-Timestamp" },
                "twilioSignature": {
                    "type": "apiKey", "in": "header", "name": "X-Twilio-Signature"
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": { "type": "string" },
                            "message": { "type": "string" },
                            "details": { "type": "object" },
                        },
                    } },
                },
            },
        },
    })
}
