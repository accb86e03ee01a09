//! API errors and their HTTP shape:
//! `{"error": {"code": 400, "message": "...", "errors": [{"field", "message"}]}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::conference::roster::RosterError;
use crate::conference::{FieldError, FieldErrors, HOST_PIN_SAME};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    NotFound(String),
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error(transparent)]
    Roster(#[from] RosterError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    PinLocked(super::pins::Locked),
}

impl ServerError {
    pub fn not_found(cid: &str) -> Self {
        ServerError::NotFound(format!("no conference {cid}"))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServerError::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Roster(r) => match r {
                RosterError::NoSuchMember(_) => StatusCode::NOT_FOUND,
                RosterError::Denied(_) => StatusCode::FORBIDDEN,
                RosterError::NotWaiting(_)
                | RosterError::PodiumFull(_)
                | RosterError::SmartPodium => StatusCode::CONFLICT,
            },
            ServerError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::PinLocked(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl From<FieldErrors> for ServerError {
    fn from(e: FieldErrors) -> Self {
        // A taken CID is a conflict with existing state, not a bad field;
        // so is a host PIN equal to the conference's PIN (the other may be
        // the stored one, which no schema of the request can see).
        if let [only] = e.0.as_slice()
            && ((only.field == "id" && only.message.ends_with("already exists"))
                || (only.field == "host_pin" && only.message == HOST_PIN_SAME))
        {
            return ServerError::Conflict(format!("{}: {}", only.field, only.message));
        }
        ServerError::Invalid(e.0)
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "API request failed");
        }
        let errors: Vec<_> = match &self {
            ServerError::Invalid(list) => list
                .iter()
                .map(|f| json!({"field": f.field, "message": f.message}))
                .collect(),
            _ => Vec::new(),
        };
        let message = match &self {
            ServerError::Invalid(list) => format!(
                "invalid request: {} bad field{}",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            ),
            ServerError::Store(_) => "the server could not store the change".to_string(),
            other => other.to_string(),
        };
        let mut resp = (
            status,
            Json(json!({"error": {"code": status.as_u16(), "message": message, "errors": errors}})),
        )
            .into_response();
        if let ServerError::PinLocked(l) = &self {
            let secs = l.retry_in().as_secs_f64().ceil().max(1.0) as u64;
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"dais\""),
            );
        }
        resp
    }
}
