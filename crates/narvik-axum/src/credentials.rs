//! Reading the session token from a request: the `Authorization: Bearer`
//! header or the session cookie, never the URL. The reading itself is
//! [`narvik_core::credentials`], shared by every framework integration;
//! this hands it the headers.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
pub(crate) use narvik_core::credentials::Credential;

/// Reads the credential from `headers`: the first `Authorization` header
/// (if `bearer` is on) and every `Cookie` header, in order.
pub(crate) fn read<'a>(headers: &'a HeaderMap, cookie_name: &str, bearer: bool) -> Credential<'a> {
    narvik_core::credentials::read(
        headers.get(AUTHORIZATION).map(|v| v.as_bytes()),
        headers.get_all(COOKIE).iter().map(|v| v.as_bytes()),
        cookie_name,
        bearer,
    )
}

#[cfg(test)]
mod tests {
    //! The reading's own cases are in the core; these check that the
    //! headers reach it as they are.

    use http::HeaderValue;

    use super::*;

    const T1: &str = "aaaqeayeaudaocajbifqydiob4ibceqt";
    const T2: &str = "bbbqeayeaudaocajbifqydiob4ibceqt";

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                *name,
                HeaderValue::from_bytes(value).expect("test header value"),
            );
        }
        map
    }

    #[test]
    fn every_cookie_header_is_read_in_order() {
        let h = headers(&[
            ("cookie", b"s=garbage"),
            ("cookie", format!("s={T2}; s={T1}").as_bytes()),
        ]);
        assert_eq!(read(&h, "s", true).tokens(), [T2, T1]);
    }

    #[test]
    fn the_bearer_header_is_read_and_wins() {
        let h = headers(&[
            ("cookie", format!("s={T1}").as_bytes()),
            ("authorization", format!("Bearer {T2}").as_bytes()),
        ]);
        assert_eq!(
            read(&h, "s", true),
            Credential::Bearer {
                token: T2,
                with_cookie: true
            }
        );
        assert_eq!(read(&h, "s", false).tokens(), [T1]);
    }

    #[test]
    fn no_headers_is_no_credential() {
        assert_eq!(read(&HeaderMap::new(), "s", true), Credential::None);
    }
}
