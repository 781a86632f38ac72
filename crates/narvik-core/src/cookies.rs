//! The session cookie: its settings, the RFC 6265bis rules they must meet,
//! and the cookies and `Set-Cookie` texts made from them, built with the
//! `cookie` crate.
//!
//! [`Config`](crate::Config) holds one [`CookieSettings`] and hands these
//! calls to it; this module knows nothing of sessions beyond the token and
//! the expiry it is given.
//!
//! A server sends the session cookie as a `Set-Cookie` header on every
//! sign-in and refresh, and formatting a [`Cookie`] attribute by attribute
//! each time was about a tenth of an axum sign-in's instructions. So the
//! header text is also kept ready-made: formatted once by the `cookie`
//! crate when the settings are checked, with only the token to fill in.

use std::time::Duration;

use cookie::Cookie;
pub use cookie::SameSite;

use crate::token::TOKEN_LEN;
use crate::{ConfigError, Session, Timestamp, Token};

/// Narvik's default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "narvik_session";

/// The longest cookie lifetime browsers honour (RFC 6265bis 5.5: user agents
/// cap Max-Age and Expires at 400 days).
pub const MAX_COOKIE_MAX_AGE: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// RFC 6265bis 5.6: user agents ignore a cookie whose name plus value is over
/// 4096 bytes, and an attribute value over 1024 bytes.
const MAX_NAME_AND_VALUE: usize = 4096;
const MAX_ATTRIBUTE_VALUE: usize = 1024;

/// Cookie settings as [`ConfigBuilder`](crate::ConfigBuilder) collects them;
/// `None` is Narvik's default.
#[derive(Debug, Clone, Default)]
pub(crate) struct CookieOptions {
    pub(crate) name: Option<String>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) secure: Option<bool>,
    pub(crate) domain: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) same_site: Option<SameSite>,
}

impl CookieOptions {
    /// Checks every setting, in the order the builder documents, and makes
    /// the settings. `session_length` is the default `Max-Age`.
    pub(crate) fn check(self, session_length: Duration) -> Result<CookieSettings, ConfigError> {
        let name = self.name.unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_owned());
        check_cookie_name(&name)?;

        let (max_age_field, max_age) = match self.max_age {
            Some(max_age) => ("cookie_max_age", max_age),
            // The default follows the session length; name the setting the
            // user actually chose when that does not make a usable cookie.
            None => ("session_length", session_length),
        };
        if max_age < Duration::from_secs(1) {
            return Err(ConfigError::new(
                max_age_field,
                "makes a cookie Max-Age under one second, which would delete the cookie; \
                 set cookie_max_age to at least one second",
            ));
        }
        if max_age > MAX_COOKIE_MAX_AGE {
            return Err(ConfigError::new(
                max_age_field,
                "makes a cookie Max-Age over 400 days, which browsers cap \
                 (RFC 6265bis 5.5); set cookie_max_age to 400 days or less",
            ));
        }

        let secure = self.secure.unwrap_or(true);
        let same_site = self.same_site.unwrap_or(SameSite::Lax);
        let path = self.path.unwrap_or_else(|| "/".to_owned());
        check_attribute("path", &path)?;
        if !path.starts_with('/') {
            return Err(ConfigError::new("path", "must start with `/`"));
        }
        // Browsers trim the value (RFC 6265bis 5.6), so `/app ` would be
        // applied as `/app`: refuse what would not be taken as written.
        if path.ends_with(' ') {
            return Err(ConfigError::new(
                "path",
                "must not end with a space, which browsers strip (RFC 6265bis 5.6)",
            ));
        }
        let domain = self.domain;
        if let Some(domain) = &domain {
            check_domain(domain)?;
        }

        if same_site == SameSite::None && !secure {
            return Err(ConfigError::new(
                "same_site",
                "SameSite=None requires Secure; browsers reject the cookie otherwise",
            ));
        }
        // RFC 6265bis 4.1.3: the prefixes are matched case-insensitively.
        if has_prefix(&name, "__Host-") {
            if !secure {
                return Err(ConfigError::new(
                    "secure",
                    "must be true for a `__Host-` cookie (RFC 6265bis 4.1.3.2)",
                ));
            }
            if domain.is_some() {
                return Err(ConfigError::new(
                    "domain",
                    "must not be set for a `__Host-` cookie (RFC 6265bis 4.1.3.2)",
                ));
            }
            if path != "/" {
                return Err(ConfigError::new(
                    "path",
                    "must be `/` for a `__Host-` cookie (RFC 6265bis 4.1.3.2)",
                ));
            }
        }
        if has_prefix(&name, "__Secure-") && !secure {
            return Err(ConfigError::new(
                "secure",
                "must be true for a `__Secure-` cookie (RFC 6265bis 4.1.3.1)",
            ));
        }

        Ok(CookieSettings::new(
            name,
            whole_secs(max_age),
            secure,
            domain,
            path,
            same_site,
        ))
    }
}

/// Checked cookie settings, with their `Set-Cookie` texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieSettings {
    name: String,
    /// Whole seconds, as written in `Max-Age`.
    max_age_secs: i64,
    secure: bool,
    domain: Option<String>,
    path: String,
    same_site: SameSite,
    /// The `Set-Cookie` texts, formatted once from the fields above.
    headers: HeaderTemplates,
}

/// The `Set-Cookie` texts of a cookie configuration, made once by the
/// `cookie` crate's own formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderTemplates {
    /// `name=`: what precedes the token.
    prefix: String,
    /// Everything after the token: `; HttpOnly; ...; Max-Age=N`.
    suffix: String,
    /// The whole blank cookie.
    blank: String,
}

impl CookieSettings {
    /// Narvik's defaults, with `Max-Age` the session length `max_age`
    /// (which the caller has checked makes a valid cookie).
    pub(crate) fn defaults(max_age: Duration) -> Self {
        Self::new(
            DEFAULT_COOKIE_NAME.to_owned(),
            whole_secs(max_age),
            true,
            None,
            "/".to_owned(),
            SameSite::Lax,
        )
    }

    fn new(
        name: String,
        max_age_secs: i64,
        secure: bool,
        domain: Option<String>,
        path: String,
        same_site: SameSite,
    ) -> Self {
        let mut settings = Self {
            name,
            max_age_secs,
            secure,
            domain,
            path,
            same_site,
            headers: HeaderTemplates {
                prefix: String::new(),
                suffix: String::new(),
                blank: String::new(),
            },
        };
        // The value is written verbatim between `name=` and the first
        // attribute, so an empty value splits the text at that point. A
        // token is base32, which the `cookie` crate writes as it is.
        let prefix = format!("{}=", settings.name);
        let empty = settings
            .cookie_with(String::new(), max_age_secs)
            .to_string();
        let suffix = empty.strip_prefix(&prefix).unwrap_or(&empty).to_owned();
        settings.headers = HeaderTemplates {
            blank: settings.cookie_with(String::new(), 0).to_string(),
            prefix,
            suffix,
        };
        settings
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_secs.unsigned_abs())
    }

    pub(crate) fn secure(&self) -> bool {
        self.secure
    }

    pub(crate) fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn same_site(&self) -> SameSite {
        self.same_site
    }

    fn cookie_with(&self, value: String, max_age_secs: i64) -> Cookie<'static> {
        let mut cookie = self.browser_cookie_with(value);
        cookie.set_max_age(cookie::time::Duration::seconds(max_age_secs));
        cookie
    }

    /// The cookie without `Max-Age` (nor `Expires`): it lasts as long as
    /// the browser session.
    fn browser_cookie_with(&self, value: String) -> Cookie<'static> {
        let mut builder = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .secure(self.secure)
            .path(self.path.clone())
            .same_site(self.same_site);
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.clone());
        }
        builder.build()
    }

    /// See [`Config::create_cookie`](crate::Config::create_cookie).
    pub(crate) fn create_cookie(&self, token: &Token) -> Cookie<'static> {
        self.cookie_with(token.as_str().to_owned(), self.max_age_secs)
    }

    /// See [`Config::create_cookie_header`](crate::Config::create_cookie_header).
    #[inline]
    pub(crate) fn create_cookie_header(&self, token: &Token) -> String {
        let t = &self.headers;
        let token = token.as_str();
        let mut header = String::with_capacity(t.prefix.len() + token.len() + t.suffix.len());
        header.push_str(&t.prefix);
        header.push_str(token);
        header.push_str(&t.suffix);
        header
    }

    /// See [`Config::session_cookie_header`](crate::Config::session_cookie_header).
    #[inline]
    pub(crate) fn session_cookie_header(
        &self,
        token: &Token,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> String {
        let left_secs = seconds_left(expires_at, now);
        if left_secs >= self.max_age_secs {
            self.create_cookie_header(token)
        } else {
            self.cookie_with(token.as_str().to_owned(), left_secs)
                .to_string()
        }
    }

    /// See [`Config::cookie_for`](crate::Config::cookie_for).
    pub(crate) fn cookie_for<D>(
        &self,
        token: &Token,
        session: &Session<D>,
        now: Timestamp,
    ) -> String {
        if !session.persistent {
            return self
                .browser_cookie_with(token.as_str().to_owned())
                .to_string();
        }
        if session.length.is_none() {
            return self.session_cookie_header(token, session.expires_at, now);
        }
        // A session with a length of its own (remember-me) keeps its
        // cookie as long as it lives, whatever the configured Max-Age
        // (which follows the configured length), up to the most browsers
        // keep.
        let left_secs = seconds_left(session.expires_at, now).min(whole_secs(MAX_COOKIE_MAX_AGE));
        self.cookie_with(token.as_str().to_owned(), left_secs)
            .to_string()
    }

    /// See [`Config::blank_cookie_header`](crate::Config::blank_cookie_header).
    #[inline]
    pub(crate) fn blank_cookie_header(&self) -> &str {
        &self.headers.blank
    }

    /// See [`Config::create_blank_cookie`](crate::Config::create_blank_cookie).
    pub(crate) fn create_blank_cookie(&self) -> Cookie<'static> {
        self.cookie_with(String::new(), 0)
    }
}

/// Whole seconds from `now` to `expires_at`, rounded up; 0 once past.
fn seconds_left(expires_at: Timestamp, now: Timestamp) -> i64 {
    let left_ms = expires_at
        .as_unix_millis()
        .saturating_sub(now.as_unix_millis());
    left_ms.saturating_add(999).div_euclid(1000).max(0)
}

fn whole_secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn has_prefix(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// RFC 6265 4.1.1: cookie-name = token (RFC 2616 2.2), i.e. one or more
/// visible ASCII characters other than separators.
fn check_cookie_name(name: &str) -> Result<(), ConfigError> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(ConfigError::new(
            "cookie_name",
            "must be a non-empty RFC 6265 token: letters, digits and !#$%&'*+-.^_`|~",
        ));
    }
    if name.len() + 1 + TOKEN_LEN > MAX_NAME_AND_VALUE {
        return Err(ConfigError::new(
            "cookie_name",
            "is too long: name and value together must fit in 4096 bytes (RFC 6265bis 5.6)",
        ));
    }
    Ok(())
}

/// An attribute value may not hold `;` or control characters, and browsers
/// ignore one over 1024 bytes (RFC 6265bis 4.1.1 and 5.6).
fn check_attribute(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.len() > MAX_ATTRIBUTE_VALUE {
        return Err(ConfigError::new(field, "must be at most 1024 bytes"));
    }
    if value
        .bytes()
        .any(|b| b == b';' || b.is_ascii_control() || !b.is_ascii())
    {
        return Err(ConfigError::new(
            field,
            "must not contain `;`, control characters or non-ASCII characters",
        ));
    }
    Ok(())
}

/// A domain is a host name: ASCII letters, digits, `-` and `.` (IDNs in
/// their punycode form), optionally with a leading dot.
fn check_domain(domain: &str) -> Result<(), ConfigError> {
    check_attribute("domain", domain)?;
    let host = domain.strip_prefix('.').unwrap_or(domain);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || !host.split('.').all(label_ok) {
        return Err(ConfigError::new(
            "domain",
            "must be a host name of ASCII letters, digits, `-` and `.` \
             (internationalised names in punycode)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Narvik's default session length, the default `Max-Age`.
    const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 60 * 60);

    fn defaults() -> CookieSettings {
        CookieOptions::default()
            .check(THIRTY_DAYS)
            .expect("defaults are valid")
    }

    /// The attributes of a `Set-Cookie` value as a set: browsers do not
    /// care about their order, and the `cookie` crate's order differs from
    /// Narvik's.
    fn parts(set_cookie: &str) -> BTreeSet<String> {
        set_cookie.split("; ").map(str::to_owned).collect()
    }

    fn token() -> Token {
        Token::from_bytes(&[7; 20])
    }

    #[test]
    fn the_defaults_are_the_checked_defaults() {
        assert_eq!(CookieSettings::defaults(THIRTY_DAYS), defaults());
    }

    #[test]
    fn default_cookie_matches_narvik() {
        let config = defaults();
        let t = token();
        assert_eq!(
            parts(&config.create_cookie(&t).to_string()),
            parts(&format!(
                "narvik_session={}; Max-Age=2592000; Path=/; SameSite=Lax; Secure; HttpOnly",
                t.as_str()
            ))
        );
    }

    #[test]
    fn default_blank_cookie_matches_narvik() {
        assert_eq!(
            parts(&defaults().create_blank_cookie().to_string()),
            parts("narvik_session=; Max-Age=0; Path=/; SameSite=Lax; Secure; HttpOnly")
        );
    }

    fn custom() -> CookieSettings {
        CookieOptions {
            name: Some("app_session".to_owned()),
            domain: Some("example.com".to_owned()),
            same_site: Some(SameSite::Strict),
            secure: Some(false),
            max_age: Some(Duration::from_millis(3_600_000)),
            ..CookieOptions::default()
        }
        .check(THIRTY_DAYS)
        .expect("valid")
    }

    #[test]
    fn custom_cookie_matches_narvik() {
        let t = token();
        assert_eq!(
            parts(&custom().create_cookie(&t).to_string()),
            parts(&format!(
                "app_session={}; Domain=example.com; Max-Age=3600; Path=/; SameSite=Strict; HttpOnly",
                t.as_str()
            ))
        );
    }

    #[test]
    fn custom_blank_cookie_matches_narvik() {
        assert_eq!(
            parts(&custom().create_blank_cookie().to_string()),
            parts("app_session=; Domain=example.com; Max-Age=0; Path=/; SameSite=Strict; HttpOnly")
        );
    }

    #[test]
    fn blank_cookie_has_the_live_cookies_name_path_domain_and_prefix() {
        let config = CookieOptions {
            name: Some("__Secure-s".to_owned()),
            domain: Some("example.com".to_owned()),
            path: Some("/app".to_owned()),
            ..CookieOptions::default()
        }
        .check(THIRTY_DAYS)
        .expect("valid");
        let live = config.create_cookie(&token());
        let blank = config.create_blank_cookie();
        assert_eq!(blank.name(), live.name());
        assert_eq!(blank.path(), live.path());
        assert_eq!(blank.domain(), live.domain());
        assert_eq!(blank.secure(), live.secure());
        assert_eq!(blank.same_site(), live.same_site());
        assert_eq!(blank.value(), "");
        assert_eq!(blank.max_age(), Some(cookie::time::Duration::ZERO));
    }

    #[test]
    fn header_texts_are_the_cookie_crates_own() {
        let configs = [
            defaults(),
            custom(),
            CookieOptions {
                name: Some("__Host-x".to_owned()),
                path: Some("/".to_owned()),
                same_site: Some(SameSite::None),
                ..CookieOptions::default()
            }
            .check(THIRTY_DAYS)
            .expect("valid"),
            CookieOptions {
                path: Some("/app/v1".to_owned()),
                ..CookieOptions::default()
            }
            .check(Duration::from_millis(1_500))
            .expect("valid"),
        ];
        for config in configs {
            for _ in 0..3 {
                let t = Token::generate().expect("os rng");
                assert_eq!(
                    config.create_cookie_header(&t),
                    config.create_cookie(&t).to_string()
                );
            }
            assert_eq!(
                config.blank_cookie_header(),
                config.create_blank_cookie().to_string()
            );
        }
    }

    #[test]
    fn session_cookie_never_outlives_its_session() {
        let config = custom(); // Max-Age 3600
        let token = token();
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let at = |ms: i64| Timestamp::from_unix_millis(1_700_000_000_000 + ms);
        let header = |left_ms: i64| config.session_cookie_header(&token, at(left_ms), now);
        // The session outlasts the configured age, or falls short of it by
        // milliseconds only: the full age, the ready-made text.
        for left_ms in [90_000_000, 3_600_000, 3_599_990] {
            assert_eq!(
                header(left_ms),
                config.create_cookie_header(&token),
                "{left_ms}"
            );
        }
        // Less left: the seconds left, rounded up; none once it has ended.
        for (left_ms, secs) in [(3_599_000, 3599), (1_500, 2), (1, 1), (0, 0), (-5_000, 0)] {
            let cookie = Cookie::parse(header(left_ms)).expect("parses");
            assert_eq!(cookie.value(), token.as_str());
            assert_eq!(
                cookie.max_age().map(|d| d.whole_seconds()),
                Some(secs),
                "{left_ms}"
            );
        }
        // The rest of the attributes are the configured ones.
        let capped = header(1_800_000);
        let full = config.create_cookie_header(&token);
        assert_eq!(
            parts(&capped.replace("Max-Age=1800", "Max-Age=3600")),
            parts(&full)
        );
    }

    #[test]
    fn max_age_is_whole_seconds_never_a_fraction() {
        let config = CookieOptions::default()
            .check(Duration::from_millis(90_500))
            .expect("valid");
        let cookie = config.create_cookie(&token()).to_string();
        assert!(
            cookie.contains("Max-Age=90;") || cookie.ends_with("Max-Age=90"),
            "{cookie}"
        );
        assert!(!cookie.contains("Expires"), "{cookie}");
    }

    #[test]
    fn cookie_parses_back_with_http_only() {
        let t = token();
        let header = defaults().create_cookie(&t).to_string();
        let parsed = Cookie::parse(header).expect("parses");
        assert_eq!(parsed.value(), t.as_str());
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
    }
}
