//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
//! request readers that are private to the crate, reached as they are,
//! with no copy of their logic. Not part of the API: hidden, unstable,
//! and absent unless the feature is on.

use http::HeaderMap;

use crate::credentials;

/// What [`read_credential`] found: the crate's private `Credential`, as
/// it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// No bearer header (or bearer auth off) and no session cookie.
    None,
    /// `Authorization: Bearer <value>`.
    Bearer(&'a str),
    /// The session cookie: its first token-shaped value, or `None` if the
    /// cookie was sent but no value could be a token.
    Cookie(Option<&'a str>),
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
        credentials::Credential::Bearer(token) => Credential::Bearer(token),
        credentials::Credential::Cookie(value) => Credential::Cookie(value),
    }
}
