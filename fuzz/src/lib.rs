//! What the fuzz targets share: the properties they check against, written
//! from the specifications (RFC 6265bis, RFC 6750, narvik's token scheme)
//! rather than from the code under test.

use http::{HeaderMap, HeaderName, HeaderValue};

/// narvik's token alphabet: lower-case base32.
pub fn is_token_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'2'..=b'7')
}

/// True for what narvik mints: 32 characters of the alphabet.
pub fn is_token_shaped(value: &[u8]) -> bool {
    value.len() == 32 && value.iter().copied().all(is_token_char)
}

/// `values` as headers `name`, in order; bytes a header cannot hold never
/// reach a server, so they are left out.
pub fn headers(name: HeaderName, values: &[Vec<u8>]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for value in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(name.clone(), value);
        }
    }
    map
}

/// Where `inner`, a slice borrowed from `outer`, starts in it; `None` if
/// it is not part of it.
pub fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

/// The session cookie as RFC 6265bis 5.4 and 5.6 read a `Cookie` header
/// list, naively: each `;`-separated pair, split at its first `=`, name and
/// value trimmed of whitespace, the value's double quotes dropped. Yields
/// `(header index, value)` for every pair named `name`.
pub fn cookie_pairs<'a>(headers: &'a HeaderMap, name: &'a str) -> Vec<(usize, &'a [u8])> {
    let mut found = Vec::new();
    for (index, header) in headers.get_all(http::header::COOKIE).iter().enumerate() {
        for pair in header.as_bytes().split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != name.as_bytes() {
                continue;
            }
            let value = pair[eq + 1..].trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            found.push((index, value));
        }
    }
    found
}
