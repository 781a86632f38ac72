//! What the middleware reads from a request: the credential (the reading
//! itself is [`narvik_core::credentials`]) and the facts the cross-origin
//! check needs (the decision is [`narvik_core::cross_origin`]), as for
//! every framework integration.

use actix_web::dev::RequestHead;
use actix_web::http::header::{AUTHORIZATION, COOKIE, HOST, HeaderName, ORIGIN};
use narvik_core::credentials::Credential;
use narvik_core::cross_origin::{CrossOriginPolicy, HeaderField, RequestFacts, Verdict};

/// Fetch Metadata (W3C): `Sec-Fetch-Site` says how the request's initiator
/// relates to its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Reads the credential from the request: the first `Authorization`
/// header (if `bearer` is on) and every `Cookie` header, in order. Never
/// the URL.
pub(crate) fn credential<'a>(
    head: &'a RequestHead,
    cookie_name: &str,
    bearer: bool,
) -> Credential<'a> {
    let headers = &head.headers;
    narvik_core::credentials::read(
        headers.get(AUTHORIZATION).map(|v| v.as_bytes()),
        headers.get_all(COOKIE).map(|v| v.as_bytes()),
        cookie_name,
        bearer,
    )
}

/// The policy's verdict for the request, which presented `credential`.
pub(crate) fn check_origin(
    policy: &CrossOriginPolicy,
    head: &RequestHead,
    credential: Credential<'_>,
) -> Verdict {
    let headers = &head.headers;
    let facts = RequestFacts {
        method: head.method.as_str(),
        path: head.uri.path(),
        origin: HeaderField::from_values(headers.get_all(ORIGIN).map(|v| v.as_bytes())),
        sec_fetch_site: HeaderField::from_values(
            headers.get_all(SEC_FETCH_SITE).map(|v| v.as_bytes()),
        ),
        // HTTP/2 sends `:authority` instead of `Host`; actix puts it in
        // the URI.
        host: match headers.get(HOST) {
            Some(host) => Some(host.as_bytes()),
            None => head.uri.authority().map(|a| a.as_str().as_bytes()),
        },
        scheme: head.uri.scheme_str(),
        session_cookie: credential.has_cookie(),
        bearer: matches!(credential, Credential::Bearer { .. }),
    };
    policy.check(&facts)
}
