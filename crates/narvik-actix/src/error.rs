//! The one error type of this crate, and how a store failure is logged.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything that can go wrong in narvik-actix.
///
/// As a response (handlers can return it with `?`: it is a
/// [`ResponseError`]):
///
/// - [`Error::Narvik`]: the configured store-error status (500 by default,
///   see [`NarvikMiddlewareBuilder::store_error_status`](crate::NarvikMiddlewareBuilder::store_error_status))
///   with the status's reason phrase as the body, after logging the error
///   with [`tracing::error!`]. Neither the body nor the log holds a token or
///   session data: narvik's errors never carry a token.
/// - [`Error::CrossOrigin`]: 403 Forbidden, logged at debug level only.
/// - the configuration variants, which [`NarvikMiddlewareBuilder::build`](crate::NarvikMiddlewareBuilder::build)
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
        /// The status the response will carry (the middleware's configured
        /// store-error status).
        status: StatusCode,
    },

    /// A sign-in that would set the session cookie was refused because
    /// nothing shows that the site's own page sent the request (login
    /// CSRF). A client's error, not the server's: answer 403 and log it
    /// at debug level at most, since any site can cause it.
    #[error("cross-origin sign-in refused")]
    CrossOrigin,

    /// A cross-origin option of the middleware cannot work (an allow-list
    /// entry that is not an origin, an unknown scheme or `Sec-Fetch-Site`
    /// value, an exempt path that is not a path).
    #[error(transparent)]
    CrossOriginPolicy(#[from] narvik_core::cross_origin::PolicyError),

    /// The status for store errors is not a 5xx: a store failure must
    /// never look like success or like "signed out".
    #[error("store error status must be 5xx, got {0}")]
    InvalidStatus(StatusCode),
}

impl ResponseError for Error {
    /// The store-error status (a 5xx) for [`Error::Narvik`], 403 for
    /// [`Error::CrossOrigin`], 500 for a configuration error. An app that
    /// wraps this error in its own can map it by kind: a 4xx is the
    /// client's doing (log it at debug level at most), a 5xx the server's.
    ///
    /// ```
    /// use actix_web::{ResponseError, http::StatusCode};
    ///
    /// assert_eq!(narvik_actix::Error::CrossOrigin.status_code(), StatusCode::FORBIDDEN);
    /// ```
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Narvik { status, .. } => *status,
            Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::CrossOriginPolicy(_) | Self::InvalidStatus(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Narvik { source, .. } = self {
            log_narvik_error(source, "session operation failed");
        }
        plain(self.status_code())
    }
}

/// A response whose body is only the status's reason phrase: nothing about
/// the session, the store or the token.
pub(crate) fn plain(status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).body(status.canonical_reason().unwrap_or("error"))
}

/// Logs a narvik error with its chain of sources, redacted
/// ([`narvik_core::Error::redacted`]): no session data. narvik's errors
/// name session ids (hashes) at most, never a token.
pub(crate) fn log_narvik_error(error: &narvik_core::Error, message: &'static str) {
    tracing::error!(error = %error.redacted(), "narvik: {message}");
}
