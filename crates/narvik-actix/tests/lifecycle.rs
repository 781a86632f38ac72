//! The session lifecycle through the middleware: rotation (and requests in
//! flight with the old cookie), remember-me and browser-session cookies,
//! step-up freshness, data updates. The same cases as narvik-axum's
//! `tests/lifecycle.rs` (axum's two validation paths are one here: the
//! middleware always awaits).

mod support;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpResponse, test, web};
use narvik_actix::{CurrentSession, Error, NarvikMiddleware, Rotation, SessionManager};
use narvik_core::store::{MemoryStore, SessionStore};
use narvik_core::{Config, ManualClock, Narvik, SessionId, SessionOptions, Timestamp};
use narvik_testkit::wrap::Wrapped;
use support::{Req, Resp, send, set_cookies_named, the_set_cookie};

const HOST: &str = "app.example.com";
const SITE: &str = "https://app.example.com";
const COOKIE: &str = "narvik_session";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const SUDO: Duration = Duration::from_secs(5 * 60);

/// Session data: the active organisation.
type Store = Wrapped<MemoryStore<String>>;
type Auth = SessionManager<Store>;

async fn me(session: CurrentSession<String>) -> String {
    format!("{} in {}", session.user_id, session.data)
}

async fn sign_in(auth: Auth) -> Result<HttpResponse, Error> {
    auth.sign_in("ada", "org-1".to_owned()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn sign_in_remembered(auth: Auth) -> Result<HttpResponse, Error> {
    let options = SessionOptions::persistent(30 * DAY);
    auth.sign_in_with("ada", "org-1".to_owned(), options)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn sign_in_for_this_visit(auth: Auth) -> Result<HttpResponse, Error> {
    let options = SessionOptions::browser_session(12 * HOUR);
    auth.sign_in_with("ada", "org-1".to_owned(), options)
        .await?;
    Ok(HttpResponse::NoContent().finish())
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
async fn sensitive(auth: Auth) -> HttpResponse {
    if auth.is_fresh(SUDO) {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::Forbidden().finish()
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

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/me", web::get().to(me))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-in-remembered", web::post().to(sign_in_remembered))
        .route(
            "/sign-in-for-this-visit",
            web::post().to(sign_in_for_this_visit),
        )
        .route("/rotate", web::post().to(rotate))
        .route("/token", web::post().to(token))
        .route("/sensitive", web::post().to(sensitive))
        .route("/reauthenticate", web::post().to(reauthenticate))
        .route("/org", web::post().to(switch_org))
        .route(
            "/sign-out-then-update",
            web::post().to(sign_out_then_update),
        )
        .route("/revoked-then-update", web::post().to(revoked_then_update));
}

/// The app under test over one store and clock; [`Site::send`] builds it
/// afresh for each request (`actix_web::test` services are not `Clone`).
struct Site {
    middleware: NarvikMiddleware<Store>,
    store: Store,
    narvik: Arc<Narvik<Store>>,
    clock: ManualClock,
}

impl Site {
    fn new() -> Self {
        let store = Wrapped::new(MemoryStore::new());
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
        let narvik = Arc::new(
            Narvik::with_config(store.clone(), Config::default()).with_clock(clock.clone()),
        );
        Self {
            middleware: NarvikMiddleware::new(Arc::clone(&narvik)),
            store,
            narvik,
            clock,
        }
    }

    fn app(
        &self,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl actix_web::body::MessageBody + 'static>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    > {
        App::new().wrap(self.middleware.clone()).configure(routes)
    }

    async fn send(&self, request: Req) -> Resp {
        send(self.app(), request).await
    }
}

fn get_with_cookie(path: &str, cookie: &str) -> Req {
    Req::get(path).header("host", HOST).header("cookie", cookie)
}

fn same_origin_post(path: &str) -> Req {
    Req::post(path).header("host", HOST).header("origin", SITE)
}

fn post_with_cookie(path: &str, cookie: &str) -> Req {
    same_origin_post(path).header("cookie", cookie)
}

fn bearer(method: Method, path: &str, token: &str) -> Req {
    Req::new(method, path)
        .header("host", HOST)
        .header("authorization", format!("Bearer {token}"))
}

/// Posts to a sign-in route; returns the response's session cookie, parsed.
async fn sign_in_at(site: &Site, path: &str) -> narvik_core::Cookie<'static> {
    let response = site.send(same_origin_post(path)).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    the_set_cookie(&response.headers, COOKIE)
}

fn pair(cookie: &narvik_core::Cookie<'_>) -> String {
    format!("{}={}", cookie.name(), cookie.value())
}

async fn signed_in(site: &Site) -> String {
    pair(&sign_in_at(site, "/sign-in").await)
}

/// True if the response clears the session cookie.
fn clears_the_cookie(headers: &HeaderMap) -> bool {
    set_cookies_named(headers, COOKIE)
        .iter()
        .any(|v| v.starts_with(&format!("{COOKIE}=;")))
}

// --------------------------------------------------------------- rotation

/// A rotation made by the core, then a request that was in flight with
/// the old cookie: signed out for that request, and no blank cookie (which
/// would sign the browser out of the new session).
#[actix_web::test]
async fn an_old_cookie_after_a_rotation_is_signed_out_without_a_blank_cookie() {
    let site = Site::new();
    let old = site
        .narvik
        .create_session("ada", "org-1".to_owned())
        .await
        .expect("create");
    let old_cookie = format!("{COOKIE}={}", old.token.as_str());
    let new = site
        .narvik
        .rotate_session(&old.session.id)
        .await
        .expect("rotate")
        .expect("rotated");
    let response = site.send(get_with_cookie("/me", &old_cookie)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
    let new_cookie = format!("{COOKIE}={}", new.token.as_str());
    let response = site.send(get_with_cookie("/me", &new_cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
}

/// Past the marker's time an old cookie is an unknown one again: cleared.
#[actix_web::test]
async fn an_old_cookie_long_after_a_rotation_is_cleared() {
    let site = Site::new();
    let old = signed_in(&site).await;
    let response = site.send(post_with_cookie("/rotate", &old)).await;
    assert_eq!(response.body, "cookie");
    site.clock.advance(narvik_core::ROTATED_MARKER_TTL);
    let response = site.send(get_with_cookie("/me", &old)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(clears_the_cookie(&response.headers));
}

/// The rotation under 64 concurrent requests carrying the old cookie, on
/// one service: none is answered with a blank cookie or an error; once the
/// rotation has returned, the old cookie never grants access and the new
/// one does.
#[actix_web::test]
async fn rotation_under_64_concurrent_old_cookie_requests() {
    let site = Site::new();
    let old = signed_in(&site).await;
    let service = Rc::new(test::init_service(site.app()).await);
    let mut in_flight = Vec::new();
    for i in 0..64 {
        let service = Rc::clone(&service);
        let request = get_with_cookie("/me", &old)
            .into_test_request()
            .to_request();
        in_flight.push(actix_web::rt::spawn(async move {
            // Spread around the rotation.
            if i % 2 == 0 {
                actix_web::rt::task::yield_now().await;
            }
            let response = service.call(request).await.expect("response");
            (response.status(), response.headers().clone())
        }));
    }
    // Let some of them run first.
    actix_web::rt::task::yield_now().await;
    let rotation = post_with_cookie("/rotate", &old)
        .into_test_request()
        .to_request();
    let response = service.call(rotation).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let new = pair(&the_set_cookie(response.headers(), COOKIE));
    assert_ne!(new, old);
    let mut granted = 0;
    for task in in_flight {
        let (status, headers) = task.await.expect("request task");
        assert!(
            matches!(status, StatusCode::OK | StatusCode::UNAUTHORIZED),
            "{status}"
        );
        assert!(
            set_cookies_named(&headers, COOKIE).is_empty(),
            "an old-cookie request set the session cookie"
        );
        granted += usize::from(status == StatusCode::OK);
    }
    // Requests answered before the rotation saw the old session; that is
    // fine. After it, none:
    for _ in 0..64 {
        let request = get_with_cookie("/me", &old)
            .into_test_request()
            .to_request();
        let response = service.call(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
    }
    let response = site.send(get_with_cookie("/me", &new)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, "ada in org-1");
    // On this one thread the spread is fixed: about half ran before.
    assert!(granted > 0, "no request ran before the rotation");
    assert!(granted < 64, "no request ran after the rotation");
}

/// A rotation keeps the kind of cookie: a browser-session one stays one.
#[actix_web::test]
async fn a_rotated_browser_session_keeps_its_cookie_without_max_age() {
    let site = Site::new();
    let old = pair(&sign_in_at(&site, "/sign-in-for-this-visit").await);
    let response = site.send(post_with_cookie("/rotate", &old)).await;
    let cookie = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(cookie.max_age(), None);
    assert_eq!(cookie.expires(), None);
    assert_ne!(pair(&cookie), old);
}

/// A bearer client gets its new token in the body, and no cookie.
#[actix_web::test]
async fn a_bearer_rotation_returns_the_new_token() {
    let site = Site::new();
    let response = site.send(bearer(Method::POST, "/token", "")).await;
    let old = response.body;
    let response = site.send(bearer(Method::POST, "/rotate", &old)).await;
    assert!(response.headers.get("set-cookie").is_none());
    let new = response.body;
    assert_ne!(new, old);
    assert!(narvik_core::Token::parse(&new).is_some(), "{new}");
    let response = site.send(bearer(Method::GET, "/me", &old)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let response = site.send(bearer(Method::GET, "/me", &new)).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn rotating_without_a_session_does_nothing() {
    let site = Site::new();
    let response = site.send(same_origin_post("/rotate")).await;
    assert_eq!(response.body, "none");
    assert!(site.store.inner().is_empty());
}

// ------------------------------------------------------------ remember-me

#[actix_web::test]
async fn a_remembered_sign_in_gets_a_persistent_cookie_of_its_length() {
    let site = Site::new();
    let cookie = sign_in_at(&site, "/sign-in-remembered").await;
    assert_eq!(
        cookie.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
    assert_eq!(cookie.http_only(), Some(true));
    // Extended after half its length: the full length again.
    site.clock.advance(16 * DAY);
    let response = site.send(get_with_cookie("/me", &pair(&cookie))).await;
    assert_eq!(response.status, StatusCode::OK);
    let refreshed = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(
        refreshed.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
}

#[actix_web::test]
async fn a_sign_in_without_remember_me_gets_a_browser_session_cookie() {
    let site = Site::new();
    let cookie = sign_in_at(&site, "/sign-in-for-this-visit").await;
    assert_eq!(cookie.max_age(), None);
    assert_eq!(cookie.expires(), None);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    let id = SessionId::from_token(cookie.value());
    let stored = site
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
    site.clock.advance(7 * HOUR);
    let response = site.send(get_with_cookie("/me", &pair(&cookie))).await;
    assert_eq!(response.status, StatusCode::OK);
    let refreshed = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(refreshed.max_age(), None);
    assert_eq!(refreshed.expires(), None);
    // Left alone for its 12 hours, it ends on the server too.
    site.clock.advance(12 * HOUR);
    let response = site.send(get_with_cookie("/me", &pair(&cookie))).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

/// A browser-session session made by the core, extended by the
/// middleware: the refreshed cookie must not gain a `Max-Age` (which would
/// make it outlive the browser).
#[actix_web::test]
async fn an_extended_browser_session_is_not_made_persistent() {
    let site = Site::new();
    let created = site
        .narvik
        .create_session_with(
            "ada",
            "org-1".to_owned(),
            SessionOptions::browser_session(12 * HOUR),
        )
        .await
        .expect("create");
    site.clock.advance(7 * HOUR);
    let cookie = format!("{COOKIE}={}", created.token.as_str());
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    let refreshed = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(refreshed.max_age(), None);
    assert_eq!(refreshed.expires(), None);
}

// ---------------------------------------------------------------- step-up

#[actix_web::test]
async fn step_up_needs_a_recent_proof() {
    let site = Site::new();
    let cookie = signed_in(&site).await;
    let response = site.send(post_with_cookie("/sensitive", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK, "fresh from the sign-in");
    site.clock.advance(SUDO);
    let response = site.send(post_with_cookie("/sensitive", &cookie)).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);

    // Re-authenticating marks and rotates: fresh in the same request, and
    // the new cookie carries the freshness.
    let response = site
        .send(post_with_cookie("/reauthenticate", &cookie))
        .await;
    let fresh = pair(&the_set_cookie(&response.headers, COOKIE));
    assert_eq!(response.body, "marked=true fresh=true");
    let response = site.send(post_with_cookie("/sensitive", &fresh)).await;
    assert_eq!(response.status, StatusCode::OK);
    // The old cookie is no session now (and is not cleared).
    let response = site.send(post_with_cookie("/sensitive", &cookie)).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());

    site.clock.advance(SUDO);
    let response = site.send(post_with_cookie("/sensitive", &fresh)).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

// ----------------------------------------------------------- data updates

#[actix_web::test]
async fn a_data_update_reaches_the_next_request() {
    let site = Site::new();
    let cookie = signed_in(&site).await;
    let response = site.send(post_with_cookie("/org", &cookie)).await;
    assert_eq!(response.body, "true");
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.body, "ada in org-2");
}

#[actix_web::test]
async fn a_data_update_after_sign_out_creates_nothing() {
    let site = Site::new();
    let cookie = signed_in(&site).await;
    let response = site
        .send(post_with_cookie("/sign-out-then-update", &cookie))
        .await;
    assert!(clears_the_cookie(&response.headers));
    assert_eq!(response.body, "updated=false fresh=false");
    assert!(site.store.inner().is_empty());
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_data_update_after_a_revocation_elsewhere_creates_nothing() {
    let site = Site::new();
    let cookie = signed_in(&site).await;
    let response = site
        .send(post_with_cookie("/revoked-then-update", &cookie))
        .await;
    assert_eq!(response.body, "false");
    assert!(site.store.inner().is_empty());
}
