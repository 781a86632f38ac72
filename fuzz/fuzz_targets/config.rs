//! The configuration builder's inputs (narvik-core's `ConfigBuilder`):
//! whatever names, domains, paths, flags and lengths an app passes, `build`
//! answers without panicking. A refusal names a setting; an accepted
//! configuration renders `Set-Cookie` headers that are valid header values,
//! that a cookie parser (the `cookie` crate's) reads back attribute by
//! attribute with nothing added, that meet the prefix, `SameSite` and
//! length rules of RFC 6265bis, and that, configured again from what was
//! read back, render the same text.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use narvik_core::{Config, Cookie, SameSite, Timestamp, Token};

#[derive(Debug, Arbitrary)]
struct Input {
    name: Option<String>,
    domain: Option<String>,
    path: Option<String>,
    secure: Option<bool>,
    same_site: Option<u8>,
    session_length: Option<(u64, u32)>,
    absolute_lifetime: Option<(u64, u32)>,
    cookie_max_age: Option<(u64, u32)>,
    token: [u8; 20],
    /// The session's end and the time a refresh is made, for the capped
    /// header.
    expires_at: i64,
    now: i64,
}

const FIELDS: [&str; 8] = [
    "session_length",
    "absolute_lifetime",
    "cookie_name",
    "cookie_max_age",
    "secure",
    "domain",
    "path",
    "same_site",
];

fn duration((secs, nanos): (u64, u32)) -> Duration {
    Duration::new(secs % (200 * 365 * 86_400), nanos % 1_000_000_000)
}

fn same_site(n: u8) -> SameSite {
    match n % 3 {
        0 => SameSite::Strict,
        1 => SameSite::Lax,
        _ => SameSite::None,
    }
}

fuzz_target!(|input: Input| {
    let mut builder = Config::builder();
    if let Some(name) = &input.name {
        builder = builder.cookie_name(name.as_str());
    }
    if let Some(domain) = &input.domain {
        builder = builder.domain(domain.as_str());
    }
    if let Some(path) = &input.path {
        builder = builder.path(path.as_str());
    }
    if let Some(secure) = input.secure {
        builder = builder.secure(secure);
    }
    if let Some(n) = input.same_site {
        builder = builder.same_site(same_site(n));
    }
    if let Some(d) = input.session_length {
        builder = builder.session_length(duration(d));
    }
    if let Some(d) = input.absolute_lifetime {
        builder = builder.absolute_lifetime(duration(d));
    }
    if let Some(d) = input.cookie_max_age {
        builder = builder.cookie_max_age(duration(d));
    }
    let config = match builder.clone().build() {
        Ok(config) => config,
        Err(err) => {
            assert!(FIELDS.contains(&err.field()), "{err}");
            return;
        }
    };
    // The settings are the ones given, or the defaults.
    assert_eq!(
        config.cookie_name(),
        input.name.as_deref().unwrap_or("narvik_session")
    );
    assert_eq!(config.domain(), input.domain.as_deref());
    assert_eq!(config.path(), input.path.as_deref().unwrap_or("/"));
    assert_eq!(config.secure(), input.secure.unwrap_or(true));
    assert_eq!(
        config.same_site(),
        input.same_site.map_or(SameSite::Lax, same_site)
    );
    assert_eq!(
        builder.build().as_ref(),
        Ok(&config),
        "build is not deterministic"
    );

    // RFC 6265bis 4.1.3 and 5.6: the rules a browser applies.
    let name = config.cookie_name();
    let prefixed = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
    };
    if prefixed("__Host-") {
        assert!(config.secure() && config.path() == "/" && config.domain().is_none());
    }
    if prefixed("__Secure-") || config.same_site() == SameSite::None {
        assert!(config.secure());
    }
    assert!(name.len() + 1 + 32 <= 4096);
    assert!(config.path().len() <= 1024 && config.domain().map_or(0, str::len) <= 1024);
    assert!(config.cookie_max_age() >= Duration::from_secs(1));
    assert!(config.cookie_max_age() <= narvik_core::MAX_COOKIE_MAX_AGE);

    let token = Token::from_bytes(&input.token);
    let header = config.create_cookie_header(&token);
    assert_eq!(header, config.create_cookie(&token).to_string());
    let max_age = i64::try_from(config.cookie_max_age().as_secs()).expect("at most 400 days");
    let live = read_back(&config, &header, token.as_str(), max_age);
    assert_eq!(
        config.blank_cookie_header(),
        config.create_blank_cookie().to_string()
    );
    read_back(&config, config.blank_cookie_header(), "", 0);

    // Configured again from what a parser read: the same text.
    let mut again = Config::builder()
        .cookie_name(live.name())
        .path(live.path().unwrap_or_default())
        .secure(live.secure() == Some(true))
        .same_site(live.same_site().unwrap_or(SameSite::Lax))
        .cookie_max_age(Duration::from_secs(max_age.unsigned_abs()))
        .session_length(config.session_length());
    if let Some(domain) = live.domain() {
        again = again.domain(domain);
    }
    let again = again
        .build()
        .expect("what a configuration renders configures again");
    assert_eq!(again.create_cookie_header(&token), header);

    // The header for a session that ends sooner: the same cookie with the
    // seconds left, never more than the configured age.
    let (expires_at, now) = (
        Timestamp::from_unix_millis(input.expires_at),
        Timestamp::from_unix_millis(input.now),
    );
    let capped = config.session_cookie_header(&token, expires_at, now);
    let left_ms = i128::from(input.expires_at) - i128::from(input.now);
    let left = i64::try_from((left_ms.max(0) + 999) / 1000)
        .unwrap_or(i64::MAX)
        .min(max_age);
    read_back(&config, &capped, token.as_str(), left);
    if left == max_age {
        assert_eq!(capped, header);
    }
});

/// `header` read back by the `cookie` crate: a valid header value with the
/// configured attributes, `value` and `Max-Age=max_age`, and nothing else.
fn read_back(config: &Config, header: &str, value: &str, max_age: i64) -> Cookie<'static> {
    assert!(
        HeaderValue::from_str(header).is_ok(),
        "not a header value: {header:?}"
    );
    let cookie = Cookie::parse(header.to_owned()).unwrap_or_else(|e| panic!("{header:?}: {e}"));
    assert_eq!(cookie.name(), config.cookie_name());
    assert_eq!(cookie.value(), value);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure() == Some(true), config.secure());
    assert_eq!(cookie.path(), Some(config.path()));
    let domain = config.domain().map(|d| d.strip_prefix('.').unwrap_or(d));
    assert_eq!(cookie.domain(), domain);
    assert_eq!(cookie.same_site(), Some(config.same_site()));
    assert_eq!(cookie.max_age().map(|d| d.whole_seconds()), Some(max_age));
    assert!(cookie.expires().is_none(), "never Expires");
    // name=value, HttpOnly, Path, SameSite, Max-Age, and Secure and Domain
    // if configured: no attribute smuggled in through a setting.
    let parts = 5 + usize::from(config.secure()) + usize::from(config.domain().is_some());
    assert_eq!(header.split(';').count(), parts, "{header:?}");
    cookie
}
