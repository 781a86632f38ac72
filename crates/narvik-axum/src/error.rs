//! The one error type of this crate, and how a store failure is logged.

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

/// Everything that can go wrong in narvik-axum.
///
/// As a response (handlers can return it with `?`):
///
/// - [`Error::Narvik`]: the configured store-error status (500 by default,
///   see [`NarvikLayerBuilder::store_error_status`](crate::NarvikLayerBuilder::store_error_status))
///   with the status's reason phrase as the body, after logging the error
///   with [`tracing::error!`]. Neither the body nor the log holds a token or
///   session data: narvik's errors never carry a token.
/// - [`Error::CrossOrigin`]: 403 Forbidden.
/// - the configuration variants, which [`NarvikLayerBuilder::build`](crate::NarvikLayerBuilder::build)
///   returns and no request ever sees: 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A narvik call failed, almost always because the session store did.
    /// Never means "signed out".
    #[error("session operation failed")]
    Narvik {
        /// narvik's error.
        #[source]
        source: narvik_core::Error,
        /// The status the response will carry (the layer's configured
        /// store-error status).
        status: StatusCode,
    },

    /// A sign-in that would set the session cookie was refused because
    /// the request failed the origin check (login CSRF).
    #[error("cross-origin sign-in refused")]
    CrossOrigin,

    /// An entry of the origin allow-list is not an `http` or `https`
    /// origin (`scheme://host[:port]`, nothing after it).
    #[error("invalid allowed origin {origin:?}: {reason}")]
    InvalidOrigin {
        /// The entry as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The request scheme for the same-origin comparison is neither
    /// `http` nor `https`.
    #[error("invalid request scheme {0:?}: expected \"http\" or \"https\"")]
    InvalidScheme(String),

    /// A `Sec-Fetch-Site` value to allow is not `same-site` or `none`
    /// (`same-origin` always passes; `cross-site` never may).
    #[error("invalid Sec-Fetch-Site value to allow {0:?}: expected \"same-site\" or \"none\"")]
    InvalidSecFetchSite(String),

    /// The status for store errors is not a 5xx: a store failure must
    /// never look like success or like "signed out".
    #[error("store error status must be 5xx, got {0}")]
    InvalidStatus(StatusCode),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Self::Narvik { source, status } => {
                log_narvik_error(&source, "session operation failed");
                plain(status)
            }
            Self::CrossOrigin => plain(StatusCode::FORBIDDEN),
            Self::InvalidOrigin { .. }
            | Self::InvalidScheme(_)
            | Self::InvalidSecFetchSite(_)
            | Self::InvalidStatus(_) => plain(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// A response whose body is only the status's reason phrase: nothing about
/// the session, the store or the token.
pub(crate) fn plain(status: StatusCode) -> Response {
    (status, status.canonical_reason().unwrap_or("error")).into_response()
}

/// Logs a narvik error with its chain of sources, redacted
/// ([`narvik_core::Error::redacted`]): no session data. narvik's errors
/// name session ids (hashes) at most, never a token.
pub(crate) fn log_narvik_error(error: &narvik_core::Error, message: &'static str) {
    tracing::error!(error = %error.redacted(), "narvik: {message}");
}
