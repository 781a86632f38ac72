//! The demo's session lifecycle, in-process with a clock the test moves,
//! on sessions in memory and on the embedded SQLite default: "remember me" or a browser-session cookie, last
//! activity on the sessions page, a sign-in over the user's own session
//! rotating it, and "sign out everywhere else" asking for the password
//! again once the session is not fresh.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use narvik::{ManualClock, Timestamp};
use narvik_demo::{ACTIVITY_INTERVAL, Backend, FRESH_FOR, app_with_clock};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:3000";
const ORIGIN: &str = "http://127.0.0.1:3000";
const USER: &str = "ada";
const PASSWORD: &str = "correct horse battery staple";

async fn demo(url: &str) -> (Router, ManualClock) {
    let backend = Backend::connect(url).await.expect("backend");
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let (router, _purge) = app_with_clock(backend, false, clock.clone()).expect("app");
    (router, clock)
}

async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.expect("infallible")
}

fn form(path: &str, cookie: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::from(body.to_owned())).expect("request")
}

fn page(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

/// The response's `Set-Cookie`, if any.
fn set_cookie(response: &Response<Body>) -> Option<String> {
    let set = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    Some(set.to_owned())
}

/// The `name=value` of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn location(response: &Response<Body>) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// Signs up `USER` (once) and returns the `Set-Cookie`.
async fn sign_up(router: &Router, remember: bool) -> String {
    let body = format!(
        "username={USER}&password={PASSWORD}{}",
        if remember { "&remember=on" } else { "" }
    );
    let response = send(router, form("/signup", None, &body)).await;
    assert_eq!(location(&response), "/");
    set_cookie(&response).expect("signed up and in")
}

/// Signs `USER` in, over `cookie`'s session if given; returns the response.
async fn sign_in(router: &Router, cookie: Option<&str>, remember: bool) -> Response<Body> {
    let body = format!(
        "username={USER}&password={PASSWORD}{}",
        if remember { "&remember=on" } else { "" }
    );
    send(router, form("/signin", cookie, &body)).await
}

fn rows(sessions_page: &str) -> usize {
    sessions_page.matches("data-session=").count()
}

async fn remember_me_decides_the_kind_of_cookie(url: &str) {
    let (router, _clock) = demo(url).await;
    let remembered = sign_up(&router, true).await;
    assert!(remembered.contains("Max-Age=2592000"), "{remembered}");
    let response = sign_in(&router, None, false).await;
    let this_visit = set_cookie(&response).expect("signed in");
    assert!(
        !this_visit.contains("Max-Age") && !this_visit.contains("Expires"),
        "{this_visit}"
    );
    let listed = text(send(&router, page("/sessions", &pair(&this_visit))).await).await;
    assert_eq!(rows(&listed), 2, "{listed}");
    assert_eq!(listed.matches(">remembered<").count(), 1, "{listed}");
}

async fn the_sessions_page_shows_last_activity(url: &str) {
    let (router, clock) = demo(url).await;
    let cookie = pair(&sign_up(&router, false).await);
    clock.advance(3 * ACTIVITY_INTERVAL);
    // This visit records the activity (due after the interval), and the
    // list read after it shows it.
    let listed = text(send(&router, page("/sessions", &cookie)).await).await;
    assert!(listed.contains("Last active"), "{listed}");
    let active = listed
        .split("<td class=\"active\">")
        .nth(1)
        .expect("a last-active cell");
    assert!(active.starts_with("less than a minute ago"), "{active}");
    let started = listed
        .split("<td>")
        .find(|c| c.starts_with("3 minutes ago"));
    assert!(started.is_some(), "started 3 minutes ago: {listed}");
}

async fn signing_in_again_over_the_own_session_rotates_it(url: &str) {
    let (router, _clock) = demo(url).await;
    let old = pair(&sign_up(&router, true).await);
    let response = sign_in(&router, Some(&old), true).await;
    assert_eq!(location(&response), "/");
    let new = set_cookie(&response).expect("the rotated cookie");
    // Still remembered: the rotation keeps the kind of cookie.
    assert!(new.contains("Max-Age=2592000"), "{new}");
    let new = pair(&new);
    assert_ne!(new, old);
    // One session, not two.
    let listed = text(send(&router, page("/sessions", &new)).await).await;
    assert_eq!(rows(&listed), 1, "{listed}");
    // A request that was in flight with the old cookie: signed out, and
    // no blank cookie to sign the browser out of the new session.
    let response = send(&router, page("/", &old)).await;
    assert_eq!(location(&response), "/signin");
    assert!(
        set_cookie(&response).is_none(),
        "{:?}",
        set_cookie(&response)
    );
}

async fn sign_out_everywhere_else_asks_for_the_password_when_not_fresh(url: &str) {
    let (router, clock) = demo(url).await;
    let here = pair(&sign_up(&router, false).await);
    let elsewhere = pair(&set_cookie(&sign_in(&router, None, false).await).expect("signed in"));

    clock.advance(FRESH_FOR + Duration::from_secs(1));
    let response = send(&router, form("/sessions/others", Some(&here), "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.contains("Confirm your password"));
    let response = send(
        &router,
        form("/sessions/others", Some(&here), "password=wrong"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Neither refused attempt signed anything out.
    let response = send(&router, page("/", &elsewhere)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let body = format!("password={}", PASSWORD.replace(' ', "+"));
    let response = send(&router, form("/sessions/others", Some(&here), &body)).await;
    assert_eq!(location(&response), "/sessions");
    // Re-authenticated: a new token for this browser.
    let rotated = pair(&set_cookie(&response).expect("rotated cookie"));
    assert_ne!(rotated, here);
    let response = send(&router, page("/", &elsewhere)).await;
    assert_eq!(location(&response), "/signin", "the other session is gone");
    let listed = text(send(&router, page("/sessions", &rotated)).await).await;
    assert_eq!(rows(&listed), 1, "{listed}");

    // Fresh now: the next time it goes straight through.
    let _third = sign_in(&router, None, false).await;
    let response = send(&router, form("/sessions/others", Some(&rotated), "")).await;
    assert_eq!(location(&response), "/sessions");
    let listed = text(send(&router, page("/sessions", &rotated)).await).await;
    assert_eq!(rows(&listed), 1, "{listed}");
}

/// Runs each case on both stores, as `memory::<case>` and `sqlite::<case>`.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case("memory:").await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case("sqlite::memory:").await;
                }
            )*
        }
    };
}

on_both_stores!(
    remember_me_decides_the_kind_of_cookie,
    the_sessions_page_shows_last_activity,
    signing_in_again_over_the_own_session_rotates_it,
    sign_out_everywhere_else_asks_for_the_password_when_not_fresh,
);
