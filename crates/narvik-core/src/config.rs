//! Configuration, checked once when it is built.
//!
//! The settings and defaults are Narvik's (`session.sessionExpiresInMs`,
//! `cookie.name`, `cookie.cookieExpiresInMs`, `cookie.attributes`). Unlike
//! Narvik, a configuration that browsers would reject or that cannot work
//! is refused by [`ConfigBuilder::build`] with a [`ConfigError`] naming the
//! setting and the rule.
//!
//! The session settings are checked here; the cookie settings, their rules
//! and the cookies made from them live in `cookies.rs`, which a [`Config`]
//! holds and hands its cookie calls to.

use std::time::Duration;

use cookie::Cookie;

use crate::cookies::{CookieOptions, CookieSettings};
use crate::{ConfigError, SameSite, Session, Timestamp, Token};

/// Narvik's default session length: 30 days.
pub const DEFAULT_SESSION_LENGTH: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A checked configuration. Build one with [`Config::builder`];
/// [`Config::default`] is Narvik's defaults.
///
/// ```
/// use std::time::Duration;
/// use narvik_core::{Config, SameSite};
///
/// let config = Config::builder()
///     .session_length(Duration::from_secs(24 * 60 * 60))
///     .cookie_name("__Host-session")
///     .same_site(SameSite::Strict)
///     .build()?;
/// assert_eq!(config.cookie_max_age(), Duration::from_secs(24 * 60 * 60));
/// # Ok::<(), narvik_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    session_length: Duration,
    absolute_lifetime: Option<Duration>,
    activity_interval: Option<Duration>,
    cookie: CookieSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            session_length: DEFAULT_SESSION_LENGTH,
            absolute_lifetime: None,
            activity_interval: None,
            cookie: CookieSettings::defaults(DEFAULT_SESSION_LENGTH),
        }
    }
}

impl Config {
    /// A builder starting from Narvik's defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// How long a session lives without activity; validation slides it
    /// forward by this much once less than half of it remains.
    #[must_use]
    pub fn session_length(&self) -> Duration {
        self.session_length
    }

    /// The cap on a session's whole life, if one was set.
    #[must_use]
    pub fn absolute_lifetime(&self) -> Option<Duration> {
        self.absolute_lifetime
    }

    /// How often validation records a session's activity
    /// (`Session::last_active_at`), if it does.
    #[must_use]
    pub fn activity_interval(&self) -> Option<Duration> {
        self.activity_interval
    }

    /// The session cookie's name.
    #[must_use]
    pub fn cookie_name(&self) -> &str {
        self.cookie.name()
    }

    /// The cookie's `Max-Age`, in whole seconds.
    #[must_use]
    pub fn cookie_max_age(&self) -> Duration {
        self.cookie.max_age()
    }

    /// Whether the cookie carries `Secure`.
    #[must_use]
    pub fn secure(&self) -> bool {
        self.cookie.secure()
    }

    /// The cookie's `Domain`, if set.
    #[must_use]
    pub fn domain(&self) -> Option<&str> {
        self.cookie.domain()
    }

    /// The cookie's `Path`.
    #[must_use]
    pub fn path(&self) -> &str {
        self.cookie.path()
    }

    /// The cookie's `SameSite`.
    #[must_use]
    pub fn same_site(&self) -> SameSite {
        self.cookie.same_site()
    }

    /// The session cookie for `token` (Narvik's `createCookie`): the
    /// configured name, the token as value, `HttpOnly` always, `Secure`,
    /// `Domain`, `Path`, `SameSite` as configured and `Max-Age` in whole
    /// seconds. Never `Expires`.
    #[must_use]
    pub fn create_cookie(&self, token: &Token) -> Cookie<'static> {
        self.cookie.create_cookie(token)
    }

    /// The `Set-Cookie` header value for `token`: the same text as
    /// `create_cookie(token).to_string()`, from a template the `cookie`
    /// crate formatted when the configuration was built.
    ///
    /// ```
    /// let config = narvik_core::Config::default();
    /// let token = narvik_core::Token::generate()?;
    /// assert_eq!(
    ///     config.create_cookie_header(&token),
    ///     config.create_cookie(&token).to_string()
    /// );
    /// # Ok::<(), narvik_core::Error>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn create_cookie_header(&self, token: &Token) -> String {
        self.cookie.create_cookie_header(token)
    }

    /// The `Set-Cookie` header value for a session's `token`, seen at
    /// `now`, that does not outlive the session: the text of
    /// [`create_cookie_header`](Self::create_cookie_header) unless the
    /// session ends (`expires_at`) before the configured `Max-Age` runs
    /// out, and then the same cookie with `Max-Age` the seconds left,
    /// rounded up (0 once it has ended). An absolute lifetime
    /// ([`ConfigBuilder::absolute_lifetime`]) or a `cookie_max_age`
    /// longer than the session can leave less than the configured age.
    ///
    /// Rounding up means a cookie made a few milliseconds after its
    /// session was (a sign-in, a refresh) keeps the full configured
    /// `Max-Age`; it can outlast the session by under a second, which the
    /// server's own expiry check covers.
    ///
    /// ```
    /// use std::time::Duration;
    /// use narvik_core::{Config, Timestamp, Token};
    ///
    /// let config = Config::default(); // 30 days
    /// let token = Token::generate()?;
    /// let now = Timestamp::now();
    /// let full = config.session_cookie_header(&token, now + Duration::from_secs(40 * 86_400), now);
    /// assert_eq!(full, config.create_cookie_header(&token));
    /// let capped = config.session_cookie_header(&token, now + Duration::from_millis(3_599_001), now);
    /// assert!(capped.contains("Max-Age=3600"), "{capped}");
    /// # Ok::<(), narvik_core::Error>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn session_cookie_header(
        &self,
        token: &Token,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> String {
        self.cookie.session_cookie_header(token, expires_at, now)
    }

    /// The `Set-Cookie` header value for `session`'s `token` at `now`, as
    /// the session was created ([`crate::SessionOptions`]):
    ///
    /// - a browser-session cookie (no `Max-Age`, no `Expires`) for a
    ///   session that is not persistent;
    /// - for a persistent session with a length of its own (remember-me),
    ///   `Max-Age` the seconds it has left (rounded up, at most 400 days),
    ///   whatever the configured `Max-Age`;
    /// - otherwise [`session_cookie_header`](Self::session_cookie_header):
    ///   Narvik's cookie, never outliving the session.
    #[must_use]
    pub fn cookie_for<D>(&self, token: &Token, session: &Session<D>, now: Timestamp) -> String {
        self.cookie.cookie_for(token, session, now)
    }

    /// The `Set-Cookie` header value that clears the session cookie: the
    /// text of `create_blank_cookie().to_string()`, formatted once.
    #[must_use]
    #[inline]
    pub fn blank_cookie_header(&self) -> &str {
        self.cookie.blank_cookie_header()
    }

    /// The cookie that clears the session cookie (Narvik's
    /// `createBlankCookie`): same name, `Path`, `Domain`, `Secure` and
    /// `SameSite`, empty value, `Max-Age=0`.
    #[must_use]
    pub fn create_blank_cookie(&self) -> Cookie<'static> {
        self.cookie.create_blank_cookie()
    }
}

/// Builds a [`Config`]; every setting starts at Narvik's default.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ConfigBuilder {
    session_length: Option<Duration>,
    absolute_lifetime: Option<Duration>,
    activity_interval: Option<Duration>,
    cookie: CookieOptions,
}

impl ConfigBuilder {
    /// Session length (Narvik's `sessionExpiresInMs`); default 30 days.
    /// Must be a whole number of milliseconds, at least one.
    pub fn session_length(mut self, length: Duration) -> Self {
        self.session_length = Some(length);
        self
    }

    /// An absolute cap on a session's life, counted from its creation:
    /// the session dies at `created_at + cap` however active it is, and an
    /// extension never moves `expires_at` past that. Off by default (Narvik
    /// has none). NIST SP 800-63B-4 asks for one at AAL2 and above.
    pub fn absolute_lifetime(mut self, cap: Duration) -> Self {
        self.absolute_lifetime = Some(cap);
        self
    }

    /// Record each session's last activity (`Session::last_active_at`),
    /// at most once per `interval`: a validation writes it when `interval`
    /// has passed since the last record (or the creation), in the same
    /// write as an extension when both are due. Off by default, as in
    /// Narvik, where a validation writes only to extend; with it on, a
    /// validation still writes nothing in between. Must be a whole number
    /// of milliseconds, at least one; a minute to an hour is typical.
    pub fn activity_interval(mut self, interval: Duration) -> Self {
        self.activity_interval = Some(interval);
        self
    }

    /// Cookie name; default `narvik_session`. Must be an RFC 6265 token.
    /// A `__Host-` name needs `Secure`, `Path=/` and no `Domain`; a
    /// `__Secure-` name needs `Secure`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = Some(name.into());
        self
    }

    /// Cookie `Max-Age` (Narvik's `cookieExpiresInMs`); default: the
    /// session length. Written in whole seconds (rounded down), so it must
    /// be at least one second, and at most 400 days, the most browsers keep.
    pub fn cookie_max_age(mut self, max_age: Duration) -> Self {
        self.cookie.max_age = Some(max_age);
        self
    }

    /// Whether the cookie carries `Secure`; default true. Turn it off only
    /// for local development over plain HTTP.
    pub fn secure(mut self, secure: bool) -> Self {
        self.cookie.secure = Some(secure);
        self
    }

    /// Cookie `Domain`; default unset (the cookie goes only to the host
    /// that set it, which is safest).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie.domain = Some(domain.into());
        self
    }

    /// Cookie `Path`; default `/`. Must start with `/` and not end with a
    /// space.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = Some(path.into());
        self
    }

    /// Cookie `SameSite`; default `Lax`. `None` requires `Secure`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = Some(same_site);
        self
    }

    /// Checks every setting and returns the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting that cannot work:
    /// a zero or sub-millisecond session length, absolute lifetime or
    /// activity interval; a
    /// cookie name outside the RFC 6265 token grammar; a cookie `Max-Age`
    /// under one second or over 400 days; a `Domain` or `Path` with
    /// characters a cookie attribute cannot hold or over 1024 bytes; a
    /// `Path` not starting with `/` or ending with a space; `SameSite=None` without `Secure`;
    /// `__Host-` with a `Domain`, a path other than `/` or without `Secure`;
    /// `__Secure-` without `Secure`.
    pub fn build(self) -> Result<Config, ConfigError> {
        let session_length = self.session_length.unwrap_or(DEFAULT_SESSION_LENGTH);
        check_millis("session_length", session_length)?;
        if let Some(cap) = self.absolute_lifetime {
            check_millis("absolute_lifetime", cap)?;
        }
        if let Some(interval) = self.activity_interval {
            check_millis("activity_interval", interval)?;
        }
        Ok(Config {
            session_length,
            absolute_lifetime: self.absolute_lifetime,
            activity_interval: self.activity_interval,
            cookie: self.cookie.check(session_length)?,
        })
    }
}

fn check_millis(field: &'static str, duration: Duration) -> Result<(), ConfigError> {
    if duration < Duration::from_millis(1) {
        return Err(ConfigError::new(field, "must be at least one millisecond"));
    }
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(ConfigError::new(
            field,
            "must be a whole number of milliseconds (expiry is kept to the millisecond)",
        ));
    }
    // Far beyond any sensible length; keeps `now + length` inside i64 ms.
    if duration > Duration::from_secs(100 * 365 * 24 * 60 * 60) {
        return Err(ConfigError::new(field, "must be at most 100 years"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_COOKIE_MAX_AGE;

    fn refused(builder: ConfigBuilder) -> ConfigError {
        builder
            .build()
            .expect_err("configuration should be refused")
    }

    #[test]
    fn defaults_are_narviks() {
        let config = Config::builder().build().expect("defaults are valid");
        assert_eq!(config, Config::default());
        assert_eq!(config.session_length(), Duration::from_secs(2_592_000));
        assert_eq!(config.cookie_name(), "narvik_session");
        assert_eq!(config.cookie_max_age(), Duration::from_secs(2_592_000));
        assert!(config.secure());
        assert_eq!(config.domain(), None);
        assert_eq!(config.path(), "/");
        assert_eq!(config.same_site(), SameSite::Lax);
        assert_eq!(config.absolute_lifetime(), None);
    }

    #[test]
    fn the_accessors_report_what_was_configured() {
        let config = Config::builder()
            .session_length(Duration::from_secs(3_600))
            .absolute_lifetime(Duration::from_secs(7_200))
            .cookie_name("app_session")
            .cookie_max_age(Duration::from_secs(600))
            .secure(false)
            .domain("example.com")
            .path("/app")
            .same_site(SameSite::Strict)
            .build()
            .expect("valid");
        assert_eq!(config.session_length(), Duration::from_secs(3_600));
        assert_eq!(config.absolute_lifetime(), Some(Duration::from_secs(7_200)));
        assert_eq!(config.cookie_name(), "app_session");
        assert_eq!(config.cookie_max_age(), Duration::from_secs(600));
        assert!(!config.secure());
        assert_eq!(config.domain(), Some("example.com"));
        assert_eq!(config.path(), "/app");
        assert_eq!(config.same_site(), SameSite::Strict);
    }

    #[test]
    fn zero_session_length_is_refused() {
        let err = refused(Config::builder().session_length(Duration::ZERO));
        assert_eq!(err.field(), "session_length");
    }

    #[test]
    fn sub_millisecond_lengths_are_refused() {
        let err = refused(Config::builder().session_length(Duration::from_micros(1_500)));
        assert_eq!(err.field(), "session_length");
        let err = refused(Config::builder().absolute_lifetime(Duration::from_micros(10)));
        assert_eq!(err.field(), "absolute_lifetime");
    }

    #[test]
    fn cookie_names_outside_the_token_grammar_are_refused() {
        for name in [
            "",
            "a b",
            "a;b",
            "a=b",
            "a,b",
            "sess\u{e9}",
            "a\tb",
            "(x)",
            "a\"b",
        ] {
            let err = refused(Config::builder().cookie_name(name));
            assert_eq!(err.field(), "cookie_name", "{name:?}");
        }
        for name in ["app_session", "a.b-c", "x!#$%&'*+^`|~"] {
            assert!(
                Config::builder().cookie_name(name).build().is_ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn over_long_cookie_name_is_refused() {
        let err = refused(Config::builder().cookie_name("a".repeat(4096)));
        assert_eq!(err.field(), "cookie_name");
        // The boundary: `name=token` fills 4096 bytes exactly, or one more.
        let fits = 4096 - 1 - crate::TOKEN_LEN;
        assert!(
            Config::builder()
                .cookie_name("a".repeat(fits))
                .build()
                .is_ok()
        );
        let err = refused(Config::builder().cookie_name("a".repeat(fits + 1)));
        assert_eq!(err.field(), "cookie_name");
    }

    #[test]
    fn attribute_values_over_1024_bytes_are_refused() {
        // 1024 bytes of a valid domain name pass; one more fails.
        let domain = |len: usize| {
            let mut d = "a".repeat(62);
            while len - d.len() > 63 {
                d.push('.');
                d.push_str(&"a".repeat(62));
            }
            let rest = len - d.len();
            if rest >= 2 {
                d.push('.');
                d.push_str(&"a".repeat(rest - 1));
            }
            d
        };
        assert_eq!(domain(1025).len(), 1025);
        assert_eq!(domain(1024).len(), 1024);
        assert!(Config::builder().domain(domain(1024)).build().is_ok());
        assert_eq!(
            refused(Config::builder().domain(domain(1025))).field(),
            "domain"
        );
        let path = |len: usize| format!("/{}", "a".repeat(len - 1));
        assert!(Config::builder().path(path(1024)).build().is_ok());
        assert_eq!(refused(Config::builder().path(path(1025))).field(), "path");
    }

    /// Found by the `config` fuzz target: `Path=/app ` is read back by
    /// browsers (and the `cookie` crate) as `/app`.
    #[test]
    fn a_path_ending_in_a_space_is_refused() {
        for path in ["/app ", "/ ", "/a b  "] {
            assert_eq!(
                refused(Config::builder().path(path)).field(),
                "path",
                "{path:?}"
            );
        }
        assert!(Config::builder().path("/a b").build().is_ok());
    }

    #[test]
    fn same_site_none_requires_secure() {
        let err = refused(Config::builder().same_site(SameSite::None).secure(false));
        assert_eq!(err.field(), "same_site");
        assert!(Config::builder().same_site(SameSite::None).build().is_ok());
    }

    #[test]
    fn host_prefix_rules() {
        let host = || Config::builder().cookie_name("__Host-s");
        assert!(host().build().is_ok());
        assert_eq!(refused(host().domain("example.com")).field(), "domain");
        assert_eq!(refused(host().path("/app")).field(), "path");
        assert_eq!(refused(host().secure(false)).field(), "secure");
        // Browsers match the prefix case-insensitively.
        assert_eq!(
            refused(Config::builder().cookie_name("__host-s").secure(false)).field(),
            "secure"
        );
    }

    #[test]
    fn secure_prefix_requires_secure() {
        let err = refused(Config::builder().cookie_name("__Secure-s").secure(false));
        assert_eq!(err.field(), "secure");
        assert!(
            Config::builder()
                .cookie_name("__Secure-s")
                .domain("example.com")
                .path("/app")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn attribute_injection_is_refused() {
        assert_eq!(
            refused(Config::builder().path("/; Domain=evil.com")).field(),
            "path"
        );
        assert_eq!(refused(Config::builder().path("/a\nb")).field(), "path");
        assert_eq!(refused(Config::builder().path("relative")).field(), "path");
        assert_eq!(
            refused(Config::builder().path(format!("/{}", "a".repeat(1024)))).field(),
            "path"
        );
        for domain in [
            "evil.com; Secure",
            "",
            ".",
            "a..b",
            "ex ample.com",
            "bücher.de",
        ] {
            assert_eq!(
                refused(Config::builder().domain(domain)).field(),
                "domain",
                "{domain:?}"
            );
        }
        assert!(Config::builder().domain(".example.com").build().is_ok());
        assert!(Config::builder().domain("xn--bcher-kva.de").build().is_ok());
    }

    #[test]
    fn cookie_max_age_bounds() {
        let err = refused(Config::builder().cookie_max_age(Duration::from_millis(999)));
        assert_eq!(err.field(), "cookie_max_age");
        let err =
            refused(Config::builder().cookie_max_age(MAX_COOKIE_MAX_AGE + Duration::from_secs(1)));
        assert_eq!(err.field(), "cookie_max_age");
        // The default follows the session length, and names it.
        let err = refused(Config::builder().session_length(Duration::from_millis(500)));
        assert_eq!(err.field(), "session_length");
        let err = refused(Config::builder().session_length(Duration::from_secs(401 * 86_400)));
        assert_eq!(err.field(), "session_length");
        let ok = Config::builder()
            .session_length(Duration::from_secs(401 * 86_400))
            .cookie_max_age(Duration::from_secs(86_400))
            .build()
            .expect("explicit max-age");
        assert_eq!(ok.cookie_max_age(), Duration::from_secs(86_400));
    }

    /// Each bound is inclusive: exactly 1 ms, 1 s, 400 days and 100 years
    /// are accepted, and a step past each is refused.
    #[test]
    fn every_bound_accepts_its_own_value() {
        const MS: Duration = Duration::from_millis(1);
        const SEC: Duration = Duration::from_secs(1);
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
        let build = |b: ConfigBuilder| b.cookie_max_age(SEC).build();
        assert!(build(Config::builder().session_length(MS)).is_ok());
        assert!(build(Config::builder().absolute_lifetime(MS)).is_ok());
        assert!(build(Config::builder().session_length(CENTURY)).is_ok());
        assert!(build(Config::builder().absolute_lifetime(CENTURY)).is_ok());
        for past in [CENTURY + MS, CENTURY + SEC] {
            assert_eq!(
                refused(Config::builder().session_length(past).cookie_max_age(SEC)).field(),
                "session_length"
            );
            assert_eq!(
                refused(Config::builder().absolute_lifetime(past)).field(),
                "absolute_lifetime"
            );
        }
        // The default Max-Age is the session length: 1 s and 400 days
        // make a cookie, as an explicit Max-Age of either does.
        for age in [SEC, MAX_COOKIE_MAX_AGE] {
            let config = Config::builder()
                .session_length(age)
                .build()
                .expect("inclusive");
            assert_eq!(config.cookie_max_age(), age);
            let config = Config::builder()
                .cookie_max_age(age)
                .build()
                .expect("inclusive");
            assert_eq!(config.cookie_max_age(), age);
        }
        assert_eq!(
            refused(Config::builder().session_length(SEC - MS)).field(),
            "session_length"
        );
        assert_eq!(
            refused(Config::builder().cookie_max_age(MAX_COOKIE_MAX_AGE + MS)).field(),
            "cookie_max_age"
        );
    }

    #[test]
    fn a_path_with_non_ascii_characters_is_refused() {
        assert_eq!(
            refused(Config::builder().path("/caf\u{e9}")).field(),
            "path"
        );
    }

    #[test]
    fn cookie_max_age_rounds_down_to_whole_seconds() {
        let config = Config::builder()
            .cookie_max_age(Duration::from_millis(3_600_999))
            .build()
            .expect("valid");
        assert_eq!(config.cookie_max_age(), Duration::from_secs(3_600));
    }
}
