//! The one place where errors become HTTP answers, with the error envelope of SPEC §3.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};
use ucrm_actors::signing::SignatureError;
use ucrm_actors::DomainError;

/// An error answered to an HTTP client: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message; never internal detail.
    pub message: String,
    /// Structured detail, such as the field at fault.
    pub details: Value,
    /// Seconds to put in `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with an empty `details` object.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
            retry_after_secs: None,
        }
    }

    /// 422 naming `field`.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            format!("{field} {message}"),
        );
        e.details = json!({ "field": field });
        e
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }

    /// 401 `UNAUTHORIZED`: missing or bad bearer token or credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 503 with `Retry-After`, for a full queue or a stopping service.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            message,
        );
        e.retry_after_secs = Some(1);
        e
    }

    /// 500 with a body that says nothing internal; the cause goes to the log.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        log::error!(cause:% = cause; "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    }

    /// A short reason for metrics.
    pub fn reason(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        resp.json(json!({
            "error": { "code": self.code, "message": self.message, "details": self.details }
        }))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation { field, message } => ApiError::validation(&field, message),
            DomainError::NotFound(what) => ApiError::not_found(what),
            DomainError::PlayerNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "PLAYER_NOT_FOUND",
                "player not found",
            ),
            DomainError::Forbidden(message) => {
                ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
            }
            DomainError::Busy => ApiError::unavailable("the service is busy; retry shortly"),
            DomainError::Unavailable => {
                ApiError::unavailable("the service is not accepting work; retry shortly")
            }
            DomainError::AdapterRejected(message) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "ADAPTER_REJECTED", message)
            }
            DomainError::AdapterUnavailable(message) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ADAPTER_UNAVAILABLE",
                    message,
                );
                e.retry_after_secs = Some(5);
                e
            }
            DomainError::Store(e) => ApiError::internal(&e),
        }
    }
}

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        let mut err = ApiError::new(StatusCode::UNAUTHORIZED, "FORBIDDEN", e.to_string());
        err.details = json!({ "reason": e.reason() });
        err
    }
}
