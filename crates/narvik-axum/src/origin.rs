//! The cross-origin check against CSRF for every state-changing request,
//! before the handler: this crate reads the request into
//! [`RequestFacts`] and [`narvik_core::cross_origin`] decides, as it does
//! for every framework.

use http::HeaderName;
use http::header::{HOST, ORIGIN};
use http::request::Parts;
use narvik_core::cross_origin::{CrossOriginPolicy, HeaderField, RequestFacts, Verdict};

use crate::credentials::Credential;

/// Fetch Metadata (W3C): `Sec-Fetch-Site` says how the request's initiator
/// relates to its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The policy's verdict for the request, which presented `credential`.
pub(crate) fn check(
    policy: &CrossOriginPolicy,
    parts: &Parts,
    credential: Credential<'_>,
) -> Verdict {
    let headers = &parts.headers;
    let facts = RequestFacts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        origin: HeaderField::from_values(headers.get_all(ORIGIN).iter().map(|v| v.as_bytes())),
        sec_fetch_site: HeaderField::from_values(
            headers.get_all(SEC_FETCH_SITE).iter().map(|v| v.as_bytes()),
        ),
        // HTTP/2 sends `:authority` instead of `Host`; hyper puts it in
        // the URI.
        host: match headers.get(HOST) {
            Some(host) => Some(host.as_bytes()),
            None => parts.uri.authority().map(|a| a.as_str().as_bytes()),
        },
        scheme: parts.uri.scheme_str(),
        session_cookie: credential.has_cookie(),
        bearer: matches!(credential, Credential::Bearer { .. }),
    };
    policy.check(&facts)
}
