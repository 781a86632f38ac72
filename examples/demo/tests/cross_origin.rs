//! The demo under cross-origin attack, in-process on SQLite in memory: a
//! form on another site (or a request a browser marks cross-site) must
//! neither sign a visitor in nor create an account, must be answered 403,
//! and must not be logged as an error (any site can send one).

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use narvik_demo::{Backend, SECURE_COOKIE_NAME, app};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:3000";
const ORIGIN: &str = "http://127.0.0.1:3000";
const PASSWORD: &str = "correct horse battery staple";

/// The ways a request shows it does not come from the demo's own page.
const CROSS_ORIGIN: [&[(&str, &str)]; 4] = [
    &[("origin", "https://evil.example")],
    &[("sec-fetch-site", "cross-site")],
    &[("origin", "null"), ("sec-fetch-site", "cross-site")],
    &[("origin", "http://127.0.0.1:3001")],
];

/// Every log line at every level while the guard lives (the request runs
/// on the test's current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

async fn demo(secure_cookies: bool) -> Router {
    let backend = Backend::connect("sqlite::memory:").await.expect("sqlite");
    let (router, _purge) = app(backend, secure_cookies).expect("app");
    router
}

async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.expect("infallible")
}

/// A form post of `user`'s credentials with these extra headers.
fn form(path: &str, user: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from(format!("username={user}&password={PASSWORD}")))
        .expect("request")
}

fn set_cookie(response: &Response<Body>) -> Option<String> {
    let value = response.headers().get(header::SET_COOKIE)?;
    Some(value.to_str().expect("ascii").to_owned())
}

/// The `name=value` of a live session cookie the response sets.
fn session_cookie(response: &Response<Body>) -> String {
    let set = set_cookie(response).expect("a session cookie");
    set.split(';').next().expect("a pair").to_owned()
}

async fn sessions_listed(router: &Router, cookie: &str) -> usize {
    let request = Request::get("/sessions")
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let response = send(router, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&bytes)
        .matches("data-session=")
        .count()
}

fn assert_refused_quietly(response: &Response<Body>, logs: &Logs, what: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    assert_eq!(set_cookie(response), None, "{what}: no cookie");
    let text = logs.text();
    for level in ["ERROR", "WARN"] {
        assert!(!text.contains(level), "{what}: {level} logged: {text}");
    }
}

#[tokio::test]
async fn a_cross_origin_sign_up_is_403_and_creates_no_account() {
    let router = demo(false).await;
    let (logs, _guard) = Logs::capture();
    let mut refused = CROSS_ORIGIN.to_vec();
    // Neither header: not a browser, so the layer lets it through, but
    // it may not be handed a cookie, and the handler checks that before
    // it creates the account.
    refused.push(&[]);
    for headers in refused {
        let response = send(&router, form("/signup", "ada", headers)).await;
        assert_refused_quietly(&response, &logs, &format!("{headers:?}"));
    }
    // No account: a sign-in fails, and the name is still free.
    let response = send(&router, form("/signin", "ada", &[("origin", ORIGIN)])).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = send(&router, form("/signup", "ada", &[("origin", ORIGIN)])).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    // And no session but this one.
    let cookie = session_cookie(&response);
    assert_eq!(sessions_listed(&router, &cookie).await, 1);
}

#[tokio::test]
async fn a_cross_origin_sign_in_is_403_and_creates_no_session() {
    let router = demo(false).await;
    let response = send(&router, form("/signup", "grace", &[("origin", ORIGIN)])).await;
    let cookie = session_cookie(&response);
    let (logs, _guard) = Logs::capture();
    let mut refused = CROSS_ORIGIN.to_vec();
    refused.push(&[]);
    for headers in refused {
        let response = send(&router, form("/signin", "grace", headers)).await;
        assert_refused_quietly(&response, &logs, &format!("{headers:?}"));
    }
    assert_eq!(
        sessions_listed(&router, &cookie).await,
        1,
        "only the sign-up's"
    );
    // The site's own page signs in.
    let response = send(
        &router,
        form("/signin", "grace", &[("sec-fetch-site", "same-origin")]),
    )
    .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(sessions_listed(&router, &cookie).await, 2);
}

#[tokio::test]
async fn a_cross_origin_post_with_the_session_cookie_is_403_and_quiet() {
    let router = demo(false).await;
    let response = send(&router, form("/signup", "alan", &[("origin", ORIGIN)])).await;
    let cookie = session_cookie(&response);
    let (logs, _guard) = Logs::capture();
    let request = Request::post("/signout")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .expect("request");
    let response = send(&router, request).await;
    assert_refused_quietly(&response, &logs, "sign-out from another site");
    assert_eq!(
        sessions_listed(&router, &cookie).await,
        1,
        "still signed in"
    );
}

#[tokio::test]
async fn with_secure_cookies_only_https_pages_are_the_site_and_the_cookie_is_host_only() {
    let router = demo(true).await;
    let (logs, _guard) = Logs::capture();
    let response = send(
        &router,
        form("/signup", "ada", &[("origin", "http://127.0.0.1:3000")]),
    )
    .await;
    assert_refused_quietly(&response, &logs, "http origin of an https site");
    let response = send(
        &router,
        form("/signup", "ada", &[("origin", "https://127.0.0.1:3000")]),
    )
    .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    let set = set_cookie(&response).expect("signed in");
    assert!(set.starts_with(&format!("{SECURE_COOKIE_NAME}=")), "{set}");
    assert!(set.contains("Secure"), "{set}");
}
