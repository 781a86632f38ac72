//! The session lifecycle through the layer: rotation (and requests in
//! flight with the old cookie), remember-me and browser-session cookies,
//! step-up freshness, data updates. Each case runs on both of the layer's
//! paths (a store that answers at once, and one that waits), as in
//! `tests/layer.rs`.

mod support;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use narvik_axum::{CurrentSession, Error, NarvikLayer, Rotation, SessionManager};
use narvik_core::store::{MemoryStore, SessionStore};
use narvik_core::{Config, ManualClock, Narvik, SessionId, SessionOptions, Timestamp};
use narvik_testkit::wrap::Wrapped;
use std::sync::Arc;
use support::{body_text, send, set_cookies_named, the_set_cookie};

const HOST: &str = "app.example.com";
const SITE: &str = "https://app.example.com";
const COOKIE: &str = "narvik_session";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const SUDO: Duration = Duration::from_secs(5 * 60);

/// Session data: the active organisation.
type Store = Wrapped<MemoryStore<String>>;
type Auth = SessionManager<Store>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Waiting,
}

async fn me(session: CurrentSession<String>) -> String {
    format!("{} in {}", session.user_id, session.data)
}

async fn sign_in(auth: Auth) -> Result<StatusCode, Error> {
    auth.sign_in("ada", "org-1".to_owned()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_in_remembered(auth: Auth) -> Result<StatusCode, Error> {
    let options = SessionOptions::persistent(30 * DAY);
    auth.sign_in_with("ada", "org-1".to_owned(), options)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_in_for_this_visit(auth: Auth) -> Result<StatusCode, Error> {
    let options = SessionOptions::browser_session(12 * HOUR);
    auth.sign_in_with("ada", "org-1".to_owned(), options)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotates; a bearer client gets its new token in the body.
async fn rotate(auth: Auth) -> Result<String, Error> {
    Ok(match auth.rotate().await? {
        Some(Rotation::Bearer(created)) => created.token.as_str().to_owned(),
        Some(Rotation::Cookie(_)) => "cookie".to_owned(),
        Some(_) => "other".to_owned(),
        None => "none".to_owned(),
    })
}

async fn token(auth: Auth) -> Result<String, Error> {
    let created = auth.sign_in_bearer("ada", "org-1".to_owned()).await?;
    Ok(created.token.as_str().to_owned())
}

/// A sensitive action: only with a fresh session.
async fn sensitive(auth: Auth) -> StatusCode {
    if auth.is_fresh(SUDO) {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

/// The password was typed again: fresh from now, and a new token.
async fn reauthenticate(auth: Auth) -> Result<String, Error> {
    let marked = auth.mark_reauthenticated().await?;
    auth.rotate().await?;
    Ok(format!("marked={marked} fresh={}", auth.is_fresh(SUDO)))
}

async fn switch_org(auth: Auth) -> Result<String, Error> {
    Ok(auth.update_data("org-2".to_owned()).await?.to_string())
}

/// Signs out, then tries to update the data of the session it ended.
async fn sign_out_then_update(auth: Auth) -> Result<String, Error> {
    auth.sign_out().await?;
    let updated = auth.update_data("org-2".to_owned()).await?;
    Ok(format!("updated={updated} fresh={}", auth.is_fresh(SUDO)))
}

/// The session is revoked elsewhere (another device's "sign out
/// everywhere") while this request runs; its update must not bring it
/// back.
async fn revoked_then_update(auth: Auth, session: CurrentSession<String>) -> Result<String, Error> {
    auth.narvik()
        .invalidate_session(&session.id)
        .await
        .map_err(|e| Error::Narvik {
            source: e,
            status: StatusCode::INTERNAL_SERVER_ERROR,
        })?;
    Ok(auth.update_data("org-2".to_owned()).await?.to_string())
}

struct App {
    router: Router,
    store: Store,
    narvik: Arc<Narvik<Store>>,
    clock: ManualClock,
}

fn app(path: Path) -> App {
    let store = Wrapped::new(MemoryStore::new()).answering_at_once(path == Path::Direct);
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let narvik =
        Arc::new(Narvik::with_config(store.clone(), Config::default()).with_clock(clock.clone()));
    let router = Router::new()
        .route("/me", get(me))
        .route("/sign-in", post(sign_in))
        .route("/sign-in-remembered", post(sign_in_remembered))
        .route("/sign-in-for-this-visit", post(sign_in_for_this_visit))
        .route("/rotate", post(rotate))
        .route("/token", post(token))
        .route("/sensitive", post(sensitive))
        .route("/reauthenticate", post(reauthenticate))
        .route("/org", post(switch_org))
        .route("/sign-out-then-update", post(sign_out_then_update))
        .route("/revoked-then-update", post(revoked_then_update))
        .layer(NarvikLayer::new(Arc::clone(&narvik)));
    App {
        router,
        store,
        narvik,
        clock,
    }
}

fn get_with_cookie(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

fn post_with_cookie(path: &str, cookie: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, SITE)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

fn bearer(method: http::Method, path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

/// Posts to a sign-in route; returns the response's session cookie, parsed.
async fn sign_in_at(app: &App, path: &str) -> narvik_core::Cookie<'static> {
    let response = send(
        &app.router,
        Request::post(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, SITE)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    the_set_cookie(response.headers(), COOKIE)
}

fn pair(cookie: &narvik_core::Cookie<'_>) -> String {
    format!("{}={}", cookie.name(), cookie.value())
}

async fn signed_in(app: &App) -> String {
    pair(&sign_in_at(app, "/sign-in").await)
}

/// True if the response clears the session cookie.
fn clears_the_cookie(response: &http::Response<Body>) -> bool {
    set_cookies_named(response.headers(), COOKIE)
        .iter()
        .any(|v| v.starts_with(&format!("{COOKIE}=;")))
}

// --------------------------------------------------------------- rotation

/// A rotation made by the core, then a request that was in flight with
/// the old cookie: signed out for that request, and no blank cookie (which
/// would sign the browser out of the new session).
async fn an_old_cookie_after_a_rotation_is_signed_out_without_a_blank_cookie(path: Path) {
    let app = app(path);
    let old = app
        .narvik
        .create_session("ada", "org-1".to_owned())
        .await
        .expect("create");
    let old_cookie = format!("{COOKIE}={}", old.token.as_str());
    let new = app
        .narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate")
        .expect("rotated");
    let response = send(&app.router, get_with_cookie("/me", &old_cookie)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
    let new_cookie = format!("{COOKIE}={}", new.token.as_str());
    let response = send(&app.router, get_with_cookie("/me", &new_cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Past the marker's time an old cookie is an unknown one again: cleared.
async fn an_old_cookie_long_after_a_rotation_is_cleared(path: Path) {
    let app = app(path);
    let old = signed_in(&app).await;
    let response = send(&app.router, post_with_cookie("/rotate", &old)).await;
    assert_eq!(body_text(response).await, "cookie");
    app.clock.advance(narvik_core::ROTATED_MARKER_TTL);
    let response = send(&app.router, get_with_cookie("/me", &old)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(clears_the_cookie(&response));
}

/// The rotation under 64 concurrent requests carrying the old cookie:
/// none is answered with a blank cookie or an error; once the rotation has
/// returned, the old cookie never grants access and the new one does.
async fn rotation_under_64_concurrent_old_cookie_requests(path: Path) {
    let app = app(path);
    let old = signed_in(&app).await;
    let mut in_flight = Vec::new();
    for i in 0..64 {
        let router = app.router.clone();
        let old = old.clone();
        in_flight.push(tokio::spawn(async move {
            // Spread around the rotation.
            if i % 2 == 0 {
                tokio::task::yield_now().await;
            }
            send(&router, get_with_cookie("/me", &old)).await
        }));
    }
    let response = send(&app.router, post_with_cookie("/rotate", &old)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let new = pair(&the_set_cookie(response.headers(), COOKIE));
    assert_ne!(new, old);
    let mut granted = 0;
    for task in in_flight {
        let response = task.await.expect("request task");
        assert!(
            matches!(response.status(), StatusCode::OK | StatusCode::UNAUTHORIZED),
            "{}",
            response.status()
        );
        assert!(
            set_cookies_named(response.headers(), COOKIE).is_empty(),
            "an old-cookie request set the session cookie"
        );
        granted += usize::from(response.status() == StatusCode::OK);
    }
    // Requests answered before the rotation saw the old session; that is
    // fine. After it, none:
    for _ in 0..64 {
        let response = send(&app.router, get_with_cookie("/me", &old)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
    }
    let response = send(&app.router, get_with_cookie("/me", &new)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "ada in org-1");
    assert!(granted <= 64);
}

/// A rotation keeps the kind of cookie: a browser-session one stays one.
async fn a_rotated_browser_session_keeps_its_cookie_without_max_age(path: Path) {
    let app = app(path);
    let old = pair(&sign_in_at(&app, "/sign-in-for-this-visit").await);
    let response = send(&app.router, post_with_cookie("/rotate", &old)).await;
    let cookie = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(cookie.max_age(), None);
    assert_eq!(cookie.expires(), None);
    assert_ne!(pair(&cookie), old);
}

/// A bearer client gets its new token in the body, and no cookie.
async fn a_bearer_rotation_returns_the_new_token(path: Path) {
    let app = app(path);
    let response = send(&app.router, bearer(http::Method::POST, "/token", "")).await;
    let old = body_text(response).await;
    let response = send(&app.router, bearer(http::Method::POST, "/rotate", &old)).await;
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let new = body_text(response).await;
    assert_ne!(new, old);
    assert!(narvik_core::Token::parse(&new).is_some(), "{new}");
    let response = send(&app.router, bearer(http::Method::GET, "/me", &old)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = send(&app.router, bearer(http::Method::GET, "/me", &new)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn rotating_without_a_session_does_nothing(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        Request::post("/rotate")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, SITE)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(body_text(response).await, "none");
    assert!(app.store.inner().is_empty());
}

// ------------------------------------------------------------ remember-me

async fn a_remembered_sign_in_gets_a_persistent_cookie_of_its_length(path: Path) {
    let app = app(path);
    let cookie = sign_in_at(&app, "/sign-in-remembered").await;
    assert_eq!(
        cookie.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
    assert_eq!(cookie.http_only(), Some(true));
    // Extended after half its length: the full length again.
    app.clock.advance(16 * DAY);
    let response = send(&app.router, get_with_cookie("/me", &pair(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(
        refreshed.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
}

async fn a_sign_in_without_remember_me_gets_a_browser_session_cookie(path: Path) {
    let app = app(path);
    let cookie = sign_in_at(&app, "/sign-in-for-this-visit").await;
    assert_eq!(cookie.max_age(), None);
    assert_eq!(cookie.expires(), None);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    let id = SessionId::from_token(cookie.value());
    let stored = app
        .store
        .fetch_session(&id)
        .await
        .expect("fetch")
        .expect("stored");
    assert!(!stored.persistent);
    assert_eq!(stored.length, Some(12 * HOUR));
    assert_eq!(
        stored.expires_at,
        stored.created_at.saturating_add(12 * HOUR)
    );
    // Used after 7 hours (more than half its 12): extended, and the
    // cookie sent again is still a browser-session one.
    app.clock.advance(7 * HOUR);
    let response = send(&app.router, get_with_cookie("/me", &pair(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(refreshed.max_age(), None);
    assert_eq!(refreshed.expires(), None);
    // Left alone for its 12 hours, it ends on the server too.
    app.clock.advance(12 * HOUR);
    let response = send(&app.router, get_with_cookie("/me", &pair(&cookie))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// A browser-session session made by the core, extended by the layer: the
/// refreshed cookie must not gain a `Max-Age` (which would make it outlive
/// the browser).
async fn an_extended_browser_session_is_not_made_persistent(path: Path) {
    let app = app(path);
    let created = app
        .narvik
        .create_session_with(
            "ada",
            "org-1".to_owned(),
            SessionOptions::browser_session(12 * HOUR),
        )
        .await
        .expect("create");
    app.clock.advance(7 * HOUR);
    let cookie = format!("{COOKIE}={}", created.token.as_str());
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(refreshed.max_age(), None);
    assert_eq!(refreshed.expires(), None);
}

// ---------------------------------------------------------------- step-up

async fn step_up_needs_a_recent_proof(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(&app.router, post_with_cookie("/sensitive", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK, "fresh from the sign-in");
    app.clock.advance(SUDO);
    let response = send(&app.router, post_with_cookie("/sensitive", &cookie)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Re-authenticating marks and rotates: fresh in the same request, and
    // the new cookie carries the freshness.
    let response = send(&app.router, post_with_cookie("/reauthenticate", &cookie)).await;
    let fresh = pair(&the_set_cookie(response.headers(), COOKIE));
    assert_eq!(body_text(response).await, "marked=true fresh=true");
    let response = send(&app.router, post_with_cookie("/sensitive", &fresh)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The old cookie is no session now (and is not cleared).
    let response = send(&app.router, post_with_cookie("/sensitive", &cookie)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());

    app.clock.advance(SUDO);
    let response = send(&app.router, post_with_cookie("/sensitive", &fresh)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

// ----------------------------------------------------------- data updates

async fn a_data_update_reaches_the_next_request(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(&app.router, post_with_cookie("/org", &cookie)).await;
    assert_eq!(body_text(response).await, "true");
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(body_text(response).await, "ada in org-2");
}

async fn a_data_update_after_sign_out_creates_nothing(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(
        &app.router,
        post_with_cookie("/sign-out-then-update", &cookie),
    )
    .await;
    assert!(clears_the_cookie(&response));
    assert_eq!(body_text(response).await, "updated=false fresh=false");
    assert!(app.store.inner().is_empty());
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn a_data_update_after_a_revocation_elsewhere_creates_nothing(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(
        &app.router,
        post_with_cookie("/revoked-then-update", &cookie),
    )
    .await;
    assert_eq!(body_text(response).await, "false");
    assert!(app.store.inner().is_empty());
}

macro_rules! on_both_paths {
    ($($case:ident),* $(,)?) => {
        mod direct {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Path::Direct).await;
                }
            )*
        }
        mod waiting {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Path::Waiting).await;
                }
            )*
        }
    };
}

on_both_paths!(
    an_old_cookie_after_a_rotation_is_signed_out_without_a_blank_cookie,
    an_old_cookie_long_after_a_rotation_is_cleared,
    rotation_under_64_concurrent_old_cookie_requests,
    a_rotated_browser_session_keeps_its_cookie_without_max_age,
    a_bearer_rotation_returns_the_new_token,
    rotating_without_a_session_does_nothing,
    a_remembered_sign_in_gets_a_persistent_cookie_of_its_length,
    a_sign_in_without_remember_me_gets_a_browser_session_cookie,
    an_extended_browser_session_is_not_made_persistent,
    step_up_needs_a_recent_proof,
    a_data_update_reaches_the_next_request,
    a_data_update_after_sign_out_creates_nothing,
    a_data_update_after_a_revocation_elsewhere_creates_nothing,
);
