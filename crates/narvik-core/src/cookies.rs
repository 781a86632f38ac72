//! The session cookie and the blank cookie that clears it, built with the
//! `cookie` crate from a checked [`Config`].
//!
//! A server sends the session cookie as a `Set-Cookie` header on every
//! sign-in and refresh, and formatting a [`Cookie`] attribute by attribute
//! each time was about a tenth of an axum sign-in's instructions. So the
//! header text is also kept ready-made: formatted once by the `cookie`
//! crate when the configuration is built, with only the token to fill in.

use cookie::Cookie;

use crate::config::CookieConfig;
use crate::{Config, SameSite, Timestamp, Token};

/// The `Set-Cookie` texts of a cookie configuration, made once by the
/// `cookie` crate's own formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderTemplates {
    /// `name=`: what precedes the token.
    prefix: String,
    /// Everything after the token: `; HttpOnly; ...; Max-Age=N`.
    suffix: String,
    /// The whole blank cookie.
    blank: String,
}

impl CookieConfig {
    pub(crate) fn new(
        name: String,
        max_age_secs: i64,
        secure: bool,
        domain: Option<String>,
        path: String,
        same_site: SameSite,
    ) -> Self {
        let mut config = Self {
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
        let prefix = format!("{}=", config.name);
        let empty = config.cookie_with(String::new(), max_age_secs).to_string();
        let suffix = empty.strip_prefix(&prefix).unwrap_or(&empty).to_owned();
        config.headers = HeaderTemplates {
            blank: config.cookie_with(String::new(), 0).to_string(),
            prefix,
            suffix,
        };
        config
    }

    fn cookie_with(&self, value: String, max_age_secs: i64) -> Cookie<'static> {
        let mut builder = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .secure(self.secure)
            .path(self.path.clone())
            .same_site(self.same_site)
            .max_age(cookie::time::Duration::seconds(max_age_secs));
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.clone());
        }
        builder.build()
    }
}

impl Config {
    /// The session cookie for `token` (Narvik's `createCookie`): the
    /// configured name, the token as value, `HttpOnly` always, `Secure`,
    /// `Domain`, `Path`, `SameSite` as configured and `Max-Age` in whole
    /// seconds. Never `Expires`.
    #[must_use]
    pub fn create_cookie(&self, token: &Token) -> Cookie<'static> {
        let c = self.cookie();
        c.cookie_with(token.as_str().to_owned(), c.max_age_secs)
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
    pub fn create_cookie_header(&self, token: &Token) -> String {
        let t = &self.cookie().headers;
        let token = token.as_str();
        let mut header = String::with_capacity(t.prefix.len() + token.len() + t.suffix.len());
        header.push_str(&t.prefix);
        header.push_str(token);
        header.push_str(&t.suffix);
        header
    }

    /// The `Set-Cookie` header value for a session's `token`, seen at
    /// `now`, that does not outlive the session: the text of
    /// [`create_cookie_header`](Self::create_cookie_header) unless the
    /// session ends (`expires_at`) before the configured `Max-Age` runs
    /// out, and then the same cookie with `Max-Age` the seconds left,
    /// rounded up (0 once it has ended). An absolute lifetime
    /// ([`crate::ConfigBuilder::absolute_lifetime`]) or a `cookie_max_age`
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
    pub fn session_cookie_header(
        &self,
        token: &Token,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> String {
        let c = self.cookie();
        let left_ms = expires_at
            .as_unix_millis()
            .saturating_sub(now.as_unix_millis());
        let left_secs = left_ms.saturating_add(999).div_euclid(1000).max(0);
        if left_secs >= c.max_age_secs {
            self.create_cookie_header(token)
        } else {
            c.cookie_with(token.as_str().to_owned(), left_secs)
                .to_string()
        }
    }

    /// The `Set-Cookie` header value that clears the session cookie: the
    /// text of `create_blank_cookie().to_string()`, formatted once.
    #[must_use]
    pub fn blank_cookie_header(&self) -> &str {
        &self.cookie().headers.blank
    }

    /// The cookie that clears the session cookie (Narvik's
    /// `createBlankCookie`): same name, `Path`, `Domain`, `Secure` and
    /// `SameSite`, empty value, `Max-Age=0`.
    #[must_use]
    pub fn create_blank_cookie(&self) -> Cookie<'static> {
        self.cookie().cookie_with(String::new(), 0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::SameSite;

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
    fn default_cookie_matches_narvik() {
        let config = Config::default();
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
            parts(&Config::default().create_blank_cookie().to_string()),
            parts("narvik_session=; Max-Age=0; Path=/; SameSite=Lax; Secure; HttpOnly")
        );
    }

    fn custom() -> Config {
        Config::builder()
            .cookie_name("app_session")
            .domain("example.com")
            .same_site(SameSite::Strict)
            .secure(false)
            .cookie_max_age(Duration::from_millis(3_600_000))
            .build()
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
        let config = Config::builder()
            .cookie_name("__Secure-s")
            .domain("example.com")
            .path("/app")
            .build()
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
            Config::default(),
            custom(),
            Config::builder()
                .cookie_name("__Host-x")
                .path("/")
                .same_site(SameSite::None)
                .build()
                .expect("valid"),
            Config::builder()
                .path("/app/v1")
                .session_length(Duration::from_millis(1_500))
                .build()
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
        let config = Config::builder()
            .session_length(Duration::from_millis(90_500))
            .build()
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
        let header = Config::default().create_cookie(&t).to_string();
        let parsed = Cookie::parse(header).expect("parses");
        assert_eq!(parsed.value(), t.as_str());
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.secure(), Some(true));
    }
}
