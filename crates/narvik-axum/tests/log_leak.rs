//! No token in any log line, error or `Debug` text (SECURITY.md item 6;
//! ASVS 4.0.3 3.1.1): a session's whole life through the layer with every
//! log line captured at TRACE, span events included, and every error's
//! `Display`, `Debug` and source chain, and the `Debug` of every session
//! value a handler holds, checked for every token minted in the run.
//!
//! The session id (the token's SHA-256) may appear, and does: the spans
//! name it, which shows the capture saw the flow.

mod support;

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use narvik_axum::{CurrentSession, Error, NarvikLayer, SessionManager};
use narvik_core::{Config, ManualClock, Narvik, SessionId, Timestamp, Token};
use narvik_testkit::wrap::{Call, Op};
use support::{CountingStore, LogCapture, body_text, send, set_cookies_named, the_set_cookie};

const HOST: &str = "app.example.com";
const SITE: &str = "https://app.example.com";
const COOKIE: &str = "narvik_session";

type Store = CountingStore;

/// The `Display`, `Debug` and source chain of every error, and the `Debug`
/// of every session value, that the handlers and the test saw.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn see(text: String) {
    SEEN.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(text);
}

fn see_error(err: &(dyn std::error::Error + 'static)) {
    see(format!("{err}\n{err:?}\n{err:#?}"));
    let mut source = err.source();
    while let Some(err) = source {
        see(format!("{err}\n{err:?}"));
        source = err.source();
    }
}

/// `result` as the handler returns it, its value's `Debug` or its error's
/// texts seen.
fn seen<T: Debug>(result: Result<T, Error>) -> Result<T, Error> {
    match &result {
        Ok(value) => see(format!("{value:?}\n{value:#?}")),
        Err(err) => see_error(err),
    }
    result
}

fn see_core<T: Debug>(result: &Result<T, narvik_core::Error>) {
    match result {
        Ok(value) => see(format!("{value:?}")),
        Err(err) => {
            see_error(err);
            see(err.redacted().to_string());
        }
    }
}

async fn me(session: CurrentSession) -> String {
    see(format!("{session:?}"));
    session.user_id.to_string()
}

async fn sign_in(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    see(format!("{auth:?}"));
    seen(auth.sign_in("ada", ()).await)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bearer_sign_in(auth: SessionManager<Store>) -> Result<String, Error> {
    let created = seen(auth.sign_in_bearer("ada", ()).await)?;
    Ok(created.token.as_str().to_owned())
}

async fn sign_out(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    seen(auth.sign_out().await)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out_everywhere(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    seen(auth.sign_out_everywhere().await)?;
    Ok(StatusCode::NO_CONTENT)
}

fn cookie_get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

fn cookie_post(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, SITE);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).expect("request")
}

fn bearer_get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

/// Signs in with `cookie` (if any) presented, and returns the new token.
async fn sign_in_cookie(router: &Router, cookie: Option<&str>) -> String {
    let response = send(router, cookie_post("/sign-in", cookie)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    the_set_cookie(response.headers(), COOKIE)
        .value()
        .to_owned()
}

/// Every run of 32 or more token characters in `text`, each 32-character
/// window of it: whatever is logged next to a token, it is found.
fn token_shaped_windows(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_lowercase() || ('2'..='7').contains(&c)))
        .filter(|run| run.len() >= 32)
        .flat_map(|run| (0..=run.len() - 32).map(move |at| &run[at..at + 32]))
}

#[tokio::test]
async fn no_token_minted_in_a_sessions_life_reaches_a_log_an_error_or_a_debug_text() {
    let (logs, _guard) = LogCapture::start();

    // The store records the id of every session anyone tries to save, so
    // that even a token the test never sees (minted for a save that then
    // failed) is looked for by its hash; saves and lookups fail on demand.
    let store = CountingStore::default();
    let saved: Arc<Mutex<HashSet<SessionId>>> = Arc::default();
    let down = Arc::new(AtomicBool::new(false));
    {
        let (saved, down) = (Arc::clone(&saved), Arc::clone(&down));
        store.before(Op::SaveSession, move |_, call| {
            if let Call::SaveSession { session } = call {
                saved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(session.id);
            }
            let down = down.load(Ordering::SeqCst);
            Box::pin(async move {
                if down {
                    Err(narvik_core::Error::store(
                        "save session",
                        "injected: connection refused",
                    ))
                } else {
                    Ok(())
                }
            })
        });
    }
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let narvik =
        Arc::new(Narvik::with_config(store.clone(), Config::default()).with_clock(clock.clone()));
    let router = Router::new()
        .route("/me", get(me))
        .route("/sign-in", post(sign_in))
        .route("/token", post(bearer_sign_in))
        .route("/sign-out", post(sign_out))
        .route("/sign-out-everywhere", post(sign_out_everywhere))
        .layer(NarvikLayer::new(Arc::clone(&narvik)));
    let mut minted: Vec<String> = Vec::new();

    // Create, then validate.
    let first = sign_in_cookie(&router, None).await;
    minted.push(first.clone());
    let response = send(&router, cookie_get("/me", &format!("{COOKIE}={first}"))).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Extend: past half the session's length, validation slides it and the
    // layer sends the cookie again.
    clock.advance(Duration::from_secs(16 * 24 * 3600));
    let response = send(&router, cookie_get("/me", &format!("{COOKIE}={first}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(store.calls(Op::UpdateSession), 1, "no extension");
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), first);

    // Rotate: narvik has no call that re-keys a live session; a sign-in
    // over one ends it and mints a new token, which is the rotation there
    // is.
    let second = sign_in_cookie(&router, Some(&format!("{COOKIE}={first}"))).await;
    minted.push(second.clone());
    let response = send(&router, cookie_get("/me", &format!("{COOKIE}={first}"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "rotated out");

    // A bearer session, validated.
    let response = send(&router, cookie_post("/token", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let third = body_text(response).await;
    minted.push(third.clone());
    let response = send(&router, bearer_get("/me", &third)).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Malformed tokens, some of them a minted token with a byte more or in
    // upper case, and an unknown well-formed one: never a session, and
    // never logged.
    let unknown = Token::generate().expect("os rng").as_str().to_owned();
    minted.push(unknown.clone());
    for bad in [
        format!("{second}x"),
        second.to_ascii_uppercase(),
        format!("\"{second}"),
        second[..31].to_owned(),
        unknown.clone(),
    ] {
        let response = send(&router, cookie_get("/me", &format!("{COOKIE}={bad}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let response = send(&router, bearer_get("/me", &bad)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        see_core(&narvik.validate_session(&bad).await);
    }

    // Store failures: a lookup, a sign-in (whose token is minted and lost
    // with the failed save), a sign-out; through the layer and directly.
    store.fail(Op::FetchSession);
    let response = send(&router, cookie_get("/me", &format!("{COOKIE}={second}"))).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = send(&router, bearer_get("/me", &third)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    see_core(&narvik.validate_session(&second).await);
    store.recover(Op::FetchSession);
    down.store(true, Ordering::SeqCst);
    let response = send(&router, cookie_post("/sign-in", None)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = send(&router, cookie_post("/token", None)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    see_core(&narvik.create_session("ada", ()).await);
    down.store(false, Ordering::SeqCst);
    store.fail(Op::DeleteSession);
    let response = send(
        &router,
        cookie_post("/sign-out", Some(&format!("{COOKIE}={second}"))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    see_core(
        &narvik
            .invalidate_session(&SessionId::from_token(&second))
            .await,
    );
    store.recover(Op::DeleteSession);

    // Invalidate: sign out, then everywhere, then directly.
    let response = send(
        &router,
        cookie_post("/sign-out", Some(&format!("{COOKIE}={second}"))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        set_cookies_named(response.headers(), COOKIE).len(),
        1,
        "cleared"
    );
    let fourth = sign_in_cookie(&router, None).await;
    minted.push(fourth.clone());
    let response = send(
        &router,
        cookie_post("/sign-out-everywhere", Some(&format!("{COOKIE}={fourth}"))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let created = narvik.create_session("grace", ()).await;
    see_core(&created);
    let created = created.expect("store is up");
    minted.push(created.token.as_str().to_owned());
    see_core(&narvik.validate_session(created.token.as_str()).await);
    see_core(&narvik.invalidate_session(&created.session.id).await);
    see_core(&narvik.validate_session(created.token.as_str()).await);
    for token in &minted {
        let answer = narvik.validate_session(token).await;
        assert!(matches!(answer, Ok(None)), "{answer:?}");
    }

    let logged = logs.text();
    let texts = SEEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join("\n");
    // The capture saw the flow: TRACE spans name the sessions by id, and
    // the store failures were logged as errors.
    assert!(
        logged.contains(&SessionId::from_token(&first).to_string()),
        "{logged}"
    );
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(texts.contains("injected: connection refused"), "{texts}");
    let saved = saved.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(saved.len(), 8, "every save seen, the failed ones included");

    for (what, text) in [("log", &logged), ("error or Debug text", &texts)] {
        for token in &minted {
            assert!(
                !text.contains(token.as_str()),
                "a token in a {what}: {text}"
            );
            assert!(
                !text.contains(&token.to_ascii_uppercase()),
                "a token in a {what}: {text}"
            );
        }
        for window in token_shaped_windows(text) {
            assert!(
                !saved.contains(&SessionId::from_token(window)),
                "the token of a saved session in a {what}: {window}\n{text}"
            );
        }
    }
}
