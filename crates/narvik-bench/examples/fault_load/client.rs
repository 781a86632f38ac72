//! The demo's users, over HTTP: what a browser sends (the session cookie,
//! and on POSTs the `Origin` and `Sec-Fetch-Site: same-origin` the
//! demo's cross-origin check wants), and what each answer means for a
//! user whose session is valid.

use std::time::Duration;

use http::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The demo's session cookie (its default name: the demo runs without
/// `--secure-cookies`).
pub(crate) const COOKIE_NAME: &str = "narvik_session";
/// Every account's password.
pub(crate) const PASSWORD: &str = "fault-load-password";

/// What one request came to, for a user with a valid session (or, on
/// sign-in, valid credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The page the user asked for (or a session, on sign-in).
    Ok,
    /// A 5xx: the store failed and the demo said so.
    ServerError,
    /// Signed out: a 401, a redirect to the sign-in page, or the session
    /// cookie cleared, for a session that is valid; or valid credentials
    /// refused. Must never happen.
    SignedOut,
    /// Another user's page. Must never happen.
    WrongUser,
    /// Any other status.
    Unexpected(u16),
    /// No HTTP answer: the connection failed or the client's timeout
    /// ([`Client::TIMEOUT`]) passed.
    NoAnswer,
}

impl Outcome {
    /// True for the outcomes a valid user must never see.
    pub(crate) fn is_defect(self) -> bool {
        matches!(self, Self::SignedOut | Self::WrongUser)
    }
}

/// What the response did to the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CookieChange {
    /// Left it alone.
    None,
    /// Set it to this value.
    Set(String),
    /// Removed it (empty value or `Max-Age=0`).
    Cleared,
}

/// An HTTP/1.1 client for the demo on `127.0.0.1:port` (keep-alive
/// connections, pooled).
#[derive(Clone)]
pub(crate) struct Client {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    origin: String,
}

/// One answer.
struct Answer {
    status: StatusCode,
    location: String,
    cookie: CookieChange,
    body: Bytes,
}

impl Client {
    /// Longer than sqlx's 30 s pool-acquire timeout, so that a request
    /// the demo holds until then is seen answering.
    pub(crate) const TIMEOUT: Duration = Duration::from_secs(40);

    /// A client for the demo on `port`.
    pub(crate) fn new(port: u16) -> Self {
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build_http();
        Self {
            http,
            origin: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        form: Option<String>,
    ) -> Option<Answer> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.origin))
            .header(USER_AGENT, "narvik-fault-load/1");
        if let Some(token) = cookie {
            request = request.header(COOKIE, format!("{COOKIE_NAME}={token}"));
        }
        let body = match form {
            Some(form) => {
                request = request
                    .header(ORIGIN, &self.origin)
                    .header("sec-fetch-site", "same-origin")
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Full::new(Bytes::from(form))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).ok()?;
        let exchange = async {
            let response = self.http.request(request).await.ok()?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.ok()?.to_bytes();
            Some((status, headers, body))
        };
        let (status, headers, body) =
            tokio::time::timeout(Self::TIMEOUT, exchange).await.ok()??;
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let cookie = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session_cookie)
            .unwrap_or(CookieChange::None);
        Some(Answer {
            status,
            location,
            cookie,
            body,
        })
    }

    /// `GET path` as `user` with session cookie `token`.
    pub(crate) async fn page(
        &self,
        path: &str,
        user: &str,
        token: &str,
    ) -> (Outcome, CookieChange) {
        let Some(answer) = self.send(Method::GET, path, Some(token), None).await else {
            return (Outcome::NoAnswer, CookieChange::None);
        };
        let outcome = if answer.cookie == CookieChange::Cleared {
            Outcome::SignedOut
        } else {
            match answer.status {
                StatusCode::OK => {
                    let signed_in_as = format!("Signed in as <strong>{user}</strong>");
                    if contains(&answer.body, signed_in_as.as_bytes()) {
                        Outcome::Ok
                    } else {
                        Outcome::WrongUser
                    }
                }
                StatusCode::UNAUTHORIZED => Outcome::SignedOut,
                s if s.is_redirection() && answer.location.starts_with("/signin") => {
                    Outcome::SignedOut
                }
                s if s.is_server_error() => Outcome::ServerError,
                s => Outcome::Unexpected(s.as_u16()),
            }
        };
        (outcome, answer.cookie)
    }

    /// `POST /signup` or `/signin` (`path`) for `user`: the new session's
    /// token when it answers with one.
    pub(crate) async fn sign(&self, path: &str, user: &str) -> (Outcome, Option<String>) {
        let form = format!("username={user}&password={PASSWORD}");
        let Some(answer) = self.send(Method::POST, path, None, Some(form)).await else {
            return (Outcome::NoAnswer, None);
        };
        match (answer.status, answer.cookie) {
            (s, CookieChange::Set(token)) if s.is_redirection() && answer.location == "/" => {
                (Outcome::Ok, Some(token))
            }
            (StatusCode::UNAUTHORIZED, _) => (Outcome::SignedOut, None),
            (s, _) if s.is_server_error() => (Outcome::ServerError, None),
            (s, _) => (Outcome::Unexpected(s.as_u16()), None),
        }
    }
}

/// The session cookie's change in one `Set-Cookie` value, if it is the
/// session cookie's.
fn session_cookie(set_cookie: &str) -> Option<CookieChange> {
    let mut attributes = set_cookie.split(';').map(str::trim);
    let (name, value) = attributes.next()?.split_once('=')?;
    if name != COOKIE_NAME {
        return None;
    }
    let cleared = value.is_empty() || attributes.any(|a| a.eq_ignore_ascii_case("max-age=0"));
    Some(if cleared {
        CookieChange::Cleared
    } else {
        CookieChange::Set(value.to_owned())
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
