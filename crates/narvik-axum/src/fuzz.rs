//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
//! request readers that are private to the crate, reached as they are,
//! with no copy of their logic. Not part of the API: hidden, unstable,
//! and absent unless the feature is on.

use http::HeaderMap;

use crate::credentials;

/// What [`read_credential`] found: the crate's private `Credential`, as
/// it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    /// No bearer header (or bearer auth off) and no session cookie.
    None,
    /// `Authorization: Bearer <value>`; `with_cookie`: the session cookie
    /// came too.
    Bearer {
        /// The credential.
        token: &'a str,
        /// Whether the session cookie was sent as well.
        with_cookie: bool,
    },
    /// The session cookie: its first token-shaped values (at most the
    /// layer's limit), none if the cookie was sent but no value could be a
    /// token.
    Cookie(Vec<&'a str>),
}

/// The credential the layer reads from `headers`: the session cookie
/// named `cookie_name`, and `Authorization: Bearer` if `bearer` is on.
pub fn read_credential<'a>(
    headers: &'a HeaderMap,
    cookie_name: &str,
    bearer: bool,
) -> Credential<'a> {
    match credentials::read(headers, cookie_name, bearer) {
        credentials::Credential::None => Credential::None,
        credentials::Credential::Bearer { token, with_cookie } => {
            Credential::Bearer { token, with_cookie }
        }
        credentials::Credential::Cookie(tokens) => Credential::Cookie(tokens.as_slice().to_vec()),
    }
}
