//! The session cookie and the blank cookie that clears it, built with the
//! `cookie` crate from a checked [`Config`].

use cookie::Cookie;

use crate::{Config, Token};

impl Config {
    /// The session cookie for `token` (Narvik's `createCookie`): the
    /// configured name, the token as value, `HttpOnly` always, `Secure`,
    /// `Domain`, `Path`, `SameSite` as configured and `Max-Age` in whole
    /// seconds. Never `Expires`.
    #[must_use]
    pub fn create_cookie(&self, token: &Token) -> Cookie<'static> {
        self.cookie_with(token.as_str().to_owned(), self.cookie().max_age_secs)
    }

    /// The cookie that clears the session cookie (Narvik's
    /// `createBlankCookie`): same name, `Path`, `Domain`, `Secure` and
    /// `SameSite`, empty value, `Max-Age=0`.
    #[must_use]
    pub fn create_blank_cookie(&self) -> Cookie<'static> {
        self.cookie_with(String::new(), 0)
    }

    fn cookie_with(&self, value: String, max_age_secs: i64) -> Cookie<'static> {
        let c = self.cookie();
        let mut builder = Cookie::build((c.name.clone(), value))
            .http_only(true)
            .secure(c.secure)
            .path(c.path.clone())
            .same_site(c.same_site)
            .max_age(cookie::time::Duration::seconds(max_age_secs));
        if let Some(domain) = &c.domain {
            builder = builder.domain(domain.clone());
        }
        builder.build()
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
