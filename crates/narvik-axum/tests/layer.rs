//! The layer and extractors end to end, in-process: cookies, bearer, the
//! origin check, store failures, and the cookie header edge cases.
//!
//! The layer validates in one of two ways: at once, calling the handler
//! directly, when the store can answer without waiting (a
//! [`MemoryStore`]); or in a boxed future, when it cannot (a remote store)
//! or validation must write. Each case takes the [`Path`] to run on, and
//! `on_both_paths!` at the end runs every one on both, as
//! `direct::<case>` and `waiting::<case>`: the two must behave the same.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{AppendHeaders, IntoResponse};
use axum::routing::{get, post};
use http::{HeaderValue, Request, StatusCode, header};
use narvik_axum::{
    AuthMethod, CurrentSession, Error, NarvikLayer, NarvikLayerBuilder, SessionManager,
};
use narvik_core::cross_origin::PolicyError;
use narvik_core::store::MemoryStore;
use narvik_core::{Config, ManualClock, Narvik, SameSite, Timestamp, Token};
use narvik_testkit::wrap::{Op, Wrapped};
use support::{
    CountingStore, LogCapture, body_text, failing_store, send, set_cookies_named, the_set_cookie,
};

const HOST: &str = "app.example.com";
const SITE: &str = "https://app.example.com";
const COOKIE: &str = "narvik_session";

type Store = CountingStore;

/// Which of the layer's two ways of validating a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The store answers at once: a wrapped [`MemoryStore`] as it is.
    Direct,
    /// The store answers only by waiting, as a remote one: the same store
    /// with [`answering_at_once`](narvik_testkit::wrap::Wrapped::answering_at_once)
    /// off.
    Waiting,
}

impl Path {
    /// A fresh store that takes this path.
    fn store(self) -> Store {
        CountingStore::default().answering_at_once(self == Self::Direct)
    }
}

async fn me(session: CurrentSession) -> String {
    session.user_id.to_string()
}

async fn maybe(session: Option<CurrentSession>) -> String {
    session.map_or_else(|| "anonymous".to_owned(), |s| s.user_id.to_string())
}

async fn method(session: CurrentSession) -> &'static str {
    match session.method() {
        AuthMethod::Cookie => "cookie",
        AuthMethod::Bearer => "bearer",
        _ => "other",
    }
}

async fn sign_in(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    auth.sign_in("ada", ()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_in_as_grace(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    auth.sign_in("grace", ()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn token(auth: SessionManager<Store>) -> Result<String, Error> {
    let created = auth.sign_in_bearer("ada", ()).await?;
    Ok(created.token.as_str().to_owned())
}

async fn sign_out(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    auth.sign_out().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out_everywhere(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    auth.sign_out_everywhere().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out_others(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
    auth.sign_out_other_sessions().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A handler that writes its own session cookie by hand (and another
/// cookie), then signs in: the layer's cookie must be the only one.
/// `AppendHeaders`, since an array of headers would keep only the last.
async fn sign_in_with_stray_cookie(
    auth: SessionManager<Store>,
) -> Result<impl IntoResponse, Error> {
    auth.sign_in("ada", ()).await?;
    Ok((
        AppendHeaders([
            (header::SET_COOKIE, format!("{COOKIE}=stray; Path=/")),
            (header::SET_COOKIE, format!(" {COOKIE} =stray2")),
            (
                header::SET_COOKIE,
                format!("{COOKIE}_theme={COOKIE}; Path=/"),
            ),
            (header::SET_COOKIE, "theme=dark; Path=/".to_owned()),
        ]),
        "ok",
    ))
}

/// Signs in and chooses its own caching, which the layer must keep.
async fn sign_in_cached_privately(auth: SessionManager<Store>) -> Result<impl IntoResponse, Error> {
    auth.sign_in("ada", ()).await?;
    Ok(([(header::CACHE_CONTROL, "private, max-age=60")], "ok"))
}

async fn write(session: CurrentSession) -> String {
    format!("written by {}", session.user_id)
}

async fn open() -> &'static str {
    "open"
}

/// The app's routes; `/count` counts its calls in `calls`.
fn routes(calls: &Arc<AtomicUsize>) -> Router {
    let calls = Arc::clone(calls);
    Router::new()
        .route(
            "/count",
            post(move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { "counted" }
            }),
        )
        .route("/hooks/in", post(maybe))
        .route("/hooks/sign-in", post(sign_in))
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/method", get(method))
        .route("/sign-in", post(sign_in))
        .route("/sign-in-as-grace", post(sign_in_as_grace))
        .route("/token", post(token))
        .route("/sign-out", post(sign_out))
        .route("/sign-out-everywhere", post(sign_out_everywhere))
        .route("/sign-out-others", post(sign_out_others))
        .route("/stray", post(sign_in_with_stray_cookie))
        .route("/sign-in-cached", post(sign_in_cached_privately))
        .route("/write", post(write).delete(write).put(write).patch(write))
        .route("/open", post(open))
}

struct App {
    router: Router,
    store: CountingStore,
    narvik: Arc<Narvik<Store>>,
    clock: ManualClock,
    /// How often the `/count` handler ran.
    calls: Arc<AtomicUsize>,
}

fn app(path: Path) -> App {
    app_with(path, Config::default(), |b| b)
}

fn app_with(
    path: Path,
    config: Config,
    options: impl FnOnce(NarvikLayerBuilder<Store>) -> NarvikLayerBuilder<Store>,
) -> App {
    let store = path.store();
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let narvik = Arc::new(Narvik::with_config(store.clone(), config).with_clock(clock.clone()));
    let layer = options(NarvikLayer::builder(Arc::clone(&narvik)))
        .build()
        .expect("valid options");
    let calls = Arc::default();
    App {
        router: routes(&calls).layer(layer),
        store,
        narvik,
        clock,
        calls,
    }
}

fn get_with_cookie(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

fn same_origin_post(path: &str) -> http::request::Builder {
    Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, SITE)
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

/// Signs in through the app and returns the cookie pair `name=token`.
async fn signed_in(app: &App) -> String {
    let response = send(
        &app.router,
        same_origin_post("/sign-in")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = the_set_cookie(response.headers(), COOKIE);
    format!("{}={}", cookie.name(), cookie.value())
}

fn token_of(cookie_pair: &str) -> &str {
    cookie_pair.split_once('=').expect("name=value").1
}

// ------------------------------------------------------------------ paths

/// A case runs on the path it asks for: a live read is answered at once,
/// or only by waiting.
async fn the_case_runs_on_the_path_it_asks_for(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let before = app.store.calls(Op::FetchSession);
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.store.calls(Op::FetchSession) - before, 1);
    assert_eq!(
        app.store.answered_at_once(),
        usize::from(path == Path::Direct)
    );
}

// ---------------------------------------------------------------- cookies

async fn sign_in_sets_an_httponly_secure_lax_root_cookie(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        same_origin_post("/sign-in")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert!(Token::parse(cookie.value()).is_some());
    assert_eq!(
        cookie.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
    assert_eq!(app.store.inner().len(), 1);
}

async fn secure_can_be_turned_off_for_local_http(path: Path) {
    let config = Config::builder().secure(false).build().expect("config");
    let app = app_with(path, config, |b| b);
    let response = send(
        &app.router,
        Request::post("/sign-in")
            .header(header::HOST, "localhost:3000")
            .header(header::ORIGIN, "http://localhost:3000")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let cookie = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(cookie.secure(), None);
    assert_eq!(cookie.http_only(), Some(true));
}

async fn sign_in_response_is_not_cacheable(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        same_origin_post("/sign-in")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

    // A handler's own choice is left alone.
    let response = send(
        &app.router,
        same_origin_post("/sign-in-cached")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert!(Token::parse(the_set_cookie(response.headers(), COOKIE).value()).is_some());
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, max-age=60"
    );

    // Clearing the cookie hands out nothing: no caching rule added.
    let response = send(
        &app.router,
        get_with_cookie("/maybe", &format!("{COOKIE}=not-a-token")),
    )
    .await;
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), "");
    assert!(response.headers().get(header::CACHE_CONTROL).is_none());
}

async fn the_cookie_opens_protected_routes(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
    assert_eq!(body_text(response).await, "ada");
}

async fn current_session_reports_the_cookie_method(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(&app.router, get_with_cookie("/method", &cookie)).await;
    assert_eq!(body_text(response).await, "cookie");
}

async fn no_cookie_is_written_while_more_than_half_the_session_remains(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    app.clock.advance(Duration::from_secs(14 * 24 * 3600));
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
}

async fn an_extended_session_gets_a_fresh_cookie_without_the_handler(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    app.clock.advance(Duration::from_secs(16 * 24 * 3600));
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = the_set_cookie(response.headers(), COOKIE);
    // Same token (extension never changes it), a full Max-Age again.
    assert_eq!(refreshed.value(), token_of(&cookie));
    assert_eq!(
        refreshed.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
    assert_eq!(refreshed.http_only(), Some(true));
}

/// With an absolute lifetime, an extension can leave less than a full
/// length; the refreshed cookie's `Max-Age` is then what is left, so the
/// browser never keeps a cookie past its session (RFC 6265bis 4.1.2.2). The
/// sign-in's cookie, with the cap not binding yet, has the full length.
async fn the_cookie_never_outlives_a_capped_session(path: Path) {
    const HOUR: u64 = 3600;
    let config = Config::builder()
        .session_length(Duration::from_secs(24 * HOUR))
        .absolute_lifetime(Duration::from_secs(30 * HOUR))
        .build()
        .expect("config");
    let app = app_with(path, config, |b| b);
    let response = send(
        &app.router,
        same_origin_post("/sign-in")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let first = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(
        first.max_age(),
        Some(narvik_core::cookie::time::Duration::hours(24))
    );
    let cookie = format!("{}={}", first.name(), first.value());

    // 13 h in: under half the length left, so it extends, but only to
    // the cap at 30 h, 17 h from now.
    app.clock.advance(Duration::from_secs(13 * HOUR));
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(refreshed.value(), first.value());
    assert_eq!(
        refreshed.max_age(),
        Some(narvik_core::cookie::time::Duration::hours(17))
    );
}

async fn an_unknown_token_clears_the_cookie(path: Path) {
    let app = app(path);
    let unknown = Token::generate().expect("os rng");
    let response = send(
        &app.router,
        get_with_cookie("/maybe", &format!("{COOKIE}={}", unknown.as_str())),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let blank = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(blank.value(), "");
    assert_eq!(
        blank.max_age(),
        Some(narvik_core::cookie::time::Duration::ZERO)
    );
    assert_eq!(blank.path(), Some("/"));
    assert_eq!(body_text(response).await, "anonymous");
}

async fn a_malformed_cookie_is_cleared_without_a_store_call(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        get_with_cookie("/me", &format!("{COOKIE}=not-a-token")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), "");
    assert_eq!(app.store.total_calls(), 0);
}

async fn an_expired_session_is_401_and_the_cookie_is_cleared(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    app.clock.advance(Duration::from_secs(30 * 24 * 3600));
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), "");
    assert_eq!(app.store.inner().len(), 0);
}

async fn sign_out_ends_the_session_and_clears_the_cookie(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = send(
        &app.router,
        same_origin_post("/sign-out")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), "");
    assert_eq!(app.store.inner().len(), 0);
    let response = send(&app.router, get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn sign_in_ends_the_previous_session(path: Path) {
    let app = app(path);
    let first = signed_in(&app).await;
    let response = send(
        &app.router,
        same_origin_post("/sign-in-as-grace")
            .header(header::COOKIE, &first)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let second = the_set_cookie(response.headers(), COOKIE);
    assert_ne!(second.value(), token_of(&first));
    // One live session: the first is gone, or left as a rotation marker
    // that grants nothing.
    assert_eq!(
        app.narvik
            .fetch_sessions_for_user("ada")
            .await
            .expect("list")
            .len(),
        0
    );
    assert_eq!(
        app.narvik
            .fetch_sessions_for_user("grace")
            .await
            .expect("list")
            .len(),
        1
    );
    let response = send(&app.router, get_with_cookie("/me", &first)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A request still in flight with the first cookie must not clear the
    // second one, which the browser holds by now.
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
}

async fn sign_out_others_keeps_only_this_session(path: Path) {
    let app = app(path);
    let keep = signed_in(&app).await;
    let _other = signed_in(&app).await;
    let _third = signed_in(&app).await;
    assert_eq!(app.store.inner().len(), 3);
    let response = send(
        &app.router,
        same_origin_post("/sign-out-others")
            .header(header::COOKIE, &keep)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
    assert_eq!(app.store.inner().len(), 1);
    let response = send(&app.router, get_with_cookie("/me", &keep)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn sign_out_everywhere_ends_every_session_and_clears_the_cookie(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let _other = signed_in(&app).await;
    let response = send(
        &app.router,
        same_origin_post("/sign-out-everywhere")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), "");
    assert_eq!(app.store.inner().len(), 0);
}

// ------------------------------------------------- one Set-Cookie at most

async fn the_handlers_stray_session_cookie_is_replaced_by_the_layers(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        same_origin_post("/stray")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    // Only the layer's session cookie is left, however the handler spaced
    // its own; cookies of other names stay, even one whose name starts
    // with the session cookie's or whose value is that name.
    let all: Vec<&str> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    let cookie = the_set_cookie(response.headers(), COOKIE);
    assert!(Token::parse(cookie.value()).is_some());
    assert_eq!(set_cookies_named(response.headers(), "theme").len(), 1);
    assert_eq!(
        set_cookies_named(response.headers(), &format!("{COOKIE}_theme")).len(),
        1
    );
}

async fn sign_in_wins_over_clearing_a_bad_cookie(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        same_origin_post("/sign-in")
            .header(header::COOKIE, format!("{COOKIE}=garbage"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let cookie = the_set_cookie(response.headers(), COOKIE);
    assert!(Token::parse(cookie.value()).is_some());
}

async fn sign_out_wins_over_refreshing_an_extended_session(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    app.clock.advance(Duration::from_secs(20 * 24 * 3600));
    let response = send(
        &app.router,
        same_origin_post("/sign-out")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(the_set_cookie(response.headers(), COOKIE).value(), "");
}

// ------------------------------------------------------------- Cookie headers

async fn cookies_split_over_several_headers_are_read(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let mut request = get_with_cookie("/me", "theme=dark; lang=en");
    request
        .headers_mut()
        .append(header::COOKIE, HeaderValue::from_static("a=1"));
    request.headers_mut().append(
        header::COOKIE,
        HeaderValue::from_str(&cookie).expect("header"),
    );
    let response = send(&app.router, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "ada");
}

async fn with_duplicate_names_garbage_values_are_skipped(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    // Garbage first, then the real token: the garbage is skipped without
    // a store call.
    let header = format!("{COOKIE}=garbage; {cookie}");
    let before = app.store.total_calls();
    let response = send(&app.router, get_with_cookie("/me", &header)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.store.total_calls() - before, 1);
}

/// Cookie tossing: a value planted for a parent domain or a longer path
/// comes first in the header; the user's own session still counts, and
/// nothing is cleared.
async fn a_tossed_cookie_before_the_valid_one_does_not_sign_the_user_out(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let tossed = Token::generate().expect("os rng");
    let header = format!("{COOKIE}={}; {cookie}", tossed.as_str());
    let before = app.store.total_calls();
    let response = send(&app.router, get_with_cookie("/me", &header)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
    assert_eq!(body_text(response).await, "ada");
    assert_eq!(app.store.total_calls() - before, 2, "one lookup per value");
}

async fn a_tossed_cookie_after_the_valid_one_costs_nothing(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let tossed = Token::generate().expect("os rng");
    let header = format!("{cookie}; {COOKIE}={}", tossed.as_str());
    let before = app.store.total_calls();
    let response = send(&app.router, get_with_cookie("/me", &header)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.store.total_calls() - before, 1, "the first valid wins");
}

async fn with_no_valid_value_the_cookie_is_cleared_once_after_at_most_three_lookups(path: Path) {
    let app = app(path);
    let values: Vec<String> = (0..5)
        .map(|_| format!("{COOKIE}={}", Token::generate().expect("os rng").as_str()))
        .collect();
    let response = send(&app.router, get_with_cookie("/me", &values.join("; "))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let cleared = set_cookies_named(response.headers(), COOKIE);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(cleared[0].contains("Max-Age=0"), "{cleared:?}");
    assert_eq!(app.store.total_calls(), 3);
}

async fn an_extended_session_behind_a_tossed_cookie_gets_its_own_cookie_refreshed(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    app.clock.advance(Duration::from_secs(20 * 24 * 3600));
    let tossed = Token::generate().expect("os rng");
    let header = format!("{COOKIE}={}; {cookie}", tossed.as_str());
    let response = send(&app.router, get_with_cookie("/me", &header)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = the_set_cookie(response.headers(), COOKIE);
    assert_eq!(refreshed.value(), token_of(&cookie));
}

async fn malformed_cookie_headers_never_panic_and_never_reach_the_store(path: Path) {
    let app = app(path);
    let values: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b";;;;".to_vec(),
        b"=".to_vec(),
        COOKIE.as_bytes().to_vec(),
        format!("{COOKIE}=").into_bytes(),
        format!("{COOKIE}==").into_bytes(),
        format!("{COOKIE}=\"").into_bytes(),
        format!("{COOKIE}=\"\"").into_bytes(),
        format!("{COOKIE}={}", "a".repeat(100_000)).into_bytes(),
        format!("{COOKIE}={}", "A".repeat(32)).into_bytes(),
        format!("{COOKIE}=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;").into_bytes(),
        format!("{COOKIE}=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\u{e9}").into_bytes(),
        b"narvik_session=\xff\xfe\xfd".to_vec(),
        b"\x80\x81=\x82; narvik_session=\x7f".to_vec(),
        format!("{COOKIE} = ; ; = ; {COOKIE}\t=\tx").into_bytes(),
    ];
    for value in values {
        let mut request = Request::get("/maybe")
            .header(header::HOST, HOST)
            .body(Body::empty())
            .expect("request");
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            continue;
        };
        request.headers_mut().insert(header::COOKIE, value);
        let response = send(&app.router, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_text(response).await, "anonymous");
    }
    assert_eq!(app.store.total_calls(), 0);
}

async fn the_token_is_never_read_from_the_query_string(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let token = token_of(&cookie);
    let request = Request::get(format!(
        "/me?{COOKIE}={token}&token={token}&access_token={token}"
    ))
    .header(header::HOST, HOST)
    .body(Body::empty())
    .expect("request");
    let response = send(&app.router, request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------------ bearer

async fn bearer_sign_in_returns_the_token_and_sets_no_cookie(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        Request::post("/token")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let token = body_text(response).await;
    assert!(Token::parse(&token).is_some());

    let response = send(&app.router, bearer(http::Method::GET, "/me", &token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(body_text(response).await, "ada");
}

async fn bearer_requests_never_get_cookies(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let token = token_of(&cookie).to_owned();

    // Extended: no refresh cookie.
    app.clock.advance(Duration::from_secs(20 * 24 * 3600));
    let response = send(&app.router, bearer(http::Method::GET, "/method", &token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(body_text(response).await, "bearer");

    // Unknown or malformed: 401, no clearing cookie.
    for bad in [
        Token::generate().expect("os rng").as_str().to_owned(),
        "junk".to_owned(),
    ] {
        let response = send(&app.router, bearer(http::Method::GET, "/me", &bad)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
    }

    // Signing out: the session ends, still no cookie.
    let response = send(&app.router, bearer(http::Method::POST, "/sign-out", &token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(app.store.inner().len(), 0);
}

async fn bearer_wins_over_the_cookie(path: Path) {
    let app = app(path);
    let ada_cookie = signed_in(&app).await;
    let grace = app
        .narvik
        .create_session("grace", ())
        .await
        .expect("create");
    let mut request = bearer(http::Method::GET, "/me", grace.token.as_str());
    request.headers_mut().insert(
        header::COOKIE,
        HeaderValue::from_str(&ada_cookie).expect("header"),
    );
    let response = send(&app.router, request).await;
    assert_eq!(body_text(response).await, "grace");
}

async fn bearer_requests_skip_the_origin_check(path: Path) {
    let app = app(path);
    let created = app.narvik.create_session("ada", ()).await.expect("create");
    let mut request = bearer(http::Method::POST, "/write", created.token.as_str());
    request
        .headers_mut()
        .insert(header::ORIGIN, HeaderValue::from_static("https://evil.com"));
    let response = send(&app.router, request).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn with_bearer_off_the_header_is_ignored(path: Path) {
    let app = app_with(path, Config::default(), |b| b.bearer(false));
    let created = app.narvik.create_session("ada", ()).await.expect("create");
    let response = send(
        &app.router,
        bearer(http::Method::GET, "/me", created.token.as_str()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
}

// -------------------------------------------------------------------- CSRF

async fn cookie_post(app: &App, cookie: &str, headers: &[(&str, &str)]) -> http::Response<Body> {
    cookie_post_to(app, "/write", cookie, headers).await
}

async fn cookie_post_to(
    app: &App,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> http::Response<Body> {
    let mut builder = Request::post(path).header(header::COOKIE, cookie);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(&app.router, builder.body(Body::empty()).expect("request")).await
}

async fn cross_origin_cookie_requests_are_refused_before_the_store(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    for origin in [
        "https://evil.com",
        "https://app.example.com.evil.com",
        "https://evilapp.example.com",
        "https://evil.com/https://app.example.com",
        "https://app.example.com@evil.com",
        "http://app.example.com:8443",
        "null",
        "app.example.com",
    ] {
        let before = app.store.total_calls();
        let response = cookie_post(&app, &cookie, &[("host", HOST), ("origin", origin)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(set_cookies_named(response.headers(), COOKIE).is_empty());
        assert_eq!(
            app.store.total_calls(),
            before,
            "store touched for {origin}"
        );
    }
}

async fn every_state_changing_method_is_checked(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    for method in [
        http::Method::POST,
        http::Method::PUT,
        http::Method::PATCH,
        http::Method::DELETE,
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/write")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, "https://evil.com")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request");
        let response = send(&app.router, request).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method}");
    }
}

async fn missing_origin_is_refused_unless_sec_fetch_site_is_same_origin(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = cookie_post(&app, &cookie, &[("host", HOST)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    for site in ["cross-site", "same-site", "none"] {
        let response =
            cookie_post(&app, &cookie, &[("host", HOST), ("sec-fetch-site", site)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{site}");
    }
    let response = cookie_post(
        &app,
        &cookie,
        &[("host", HOST), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn an_allowed_sec_fetch_site_passes_without_origin(path: Path) {
    let app = app_with(path, Config::default(), |b| {
        b.allow_sec_fetch_site("same-site")
    });
    let cookie = signed_in(&app).await;
    for (site, status) in [
        ("same-site", StatusCode::OK),
        ("same-origin", StatusCode::OK),
        ("none", StatusCode::FORBIDDEN),
        ("cross-site", StatusCode::FORBIDDEN),
    ] {
        let response =
            cookie_post(&app, &cookie, &[("host", HOST), ("sec-fetch-site", site)]).await;
        assert_eq!(response.status(), status, "{site}");
    }
}

async fn same_origin_requests_pass(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let response = cookie_post(&app, &cookie, &[("host", HOST), ("origin", SITE)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "written by ada");
}

async fn allow_listed_origins_pass_and_only_exactly(path: Path) {
    let app = app_with(path, Config::default(), |b| {
        b.allow_origin("https://admin.example.com")
    });
    let cookie = signed_in(&app).await;
    let response = cookie_post(
        &app,
        &cookie,
        &[("host", HOST), ("origin", "https://ADMIN.example.com:443")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    for origin in [
        "https://admin.example.com.evil.com",
        "http://admin.example.com",
        "https://admin.example.co",
    ] {
        let response = cookie_post(&app, &cookie, &[("host", HOST), ("origin", origin)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
    }
}

async fn configured_request_scheme_refuses_the_http_twin(path: Path) {
    let app = app_with(path, Config::default(), |b| b.request_scheme("https"));
    let cookie = signed_in(&app).await;
    let response = cookie_post(
        &app,
        &cookie,
        &[("host", HOST), ("origin", "http://app.example.com")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = cookie_post(&app, &cookie, &[("host", HOST), ("origin", SITE)]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn safe_methods_pass_whatever_the_origin(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    for method in [http::Method::GET, http::Method::HEAD] {
        let mut request = get_with_cookie("/me", &cookie);
        *request.method_mut() = method.clone();
        request
            .headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_static("https://evil.com"));
        let response = send(&app.router, request).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
    }
}

async fn the_check_can_be_turned_off(path: Path) {
    let app = app_with(path, Config::default(), |b| b.csrf(false));
    let cookie = signed_in(&app).await;
    let response = cookie_post(
        &app,
        &cookie,
        &[("host", HOST), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A POST to the counting handler with these headers (and no cookie
/// unless given).
async fn post_count(app: &App, headers: &[(&str, &str)]) -> http::Response<Body> {
    let mut builder = Request::post("/count");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(&app.router, builder.body(Body::empty()).expect("request")).await
}

async fn cross_site_requests_without_a_cookie_are_refused_before_the_handler(path: Path) {
    let app = app(path);
    for headers in [
        &[("host", HOST), ("origin", "https://evil.com")][..],
        &[("host", HOST), ("sec-fetch-site", "cross-site")],
        &[
            ("host", HOST),
            ("origin", "https://evil.com"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("host", HOST), ("origin", "null")],
        &[("host", HOST), ("sec-fetch-site", "same-site")],
    ] {
        let response = post_count(&app, headers).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(response.headers().get(header::SET_COOKIE).is_none());
    }
    assert_eq!(app.calls.load(Ordering::SeqCst), 0, "the handler never ran");
    assert_eq!(app.store.total_calls(), 0);
}

async fn a_refusal_is_logged_at_debug_level_only(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let (logs, _guard) = LogCapture::start();
    let response = post_count(&app, &[("host", HOST), ("origin", "https://evil.com")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = cookie_post(
        &app,
        &cookie,
        &[("host", HOST), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let text = logs.text();
    assert_eq!(text.matches("DEBUG").count(), 2, "{text}");
    assert!(text.contains("refused by the cross-origin check"), "{text}");
    for level in ["ERROR", "WARN", "INFO"] {
        assert!(!text.contains(level), "{level} in {text}");
    }
    assert!(!text.contains(token_of(&cookie)), "{text}");
}

async fn requests_with_neither_header_pass_without_a_cookie(path: Path) {
    let app = app(path);
    // curl, a server, a mobile app: no browser sent it.
    let response = post_count(&app, &[("host", HOST)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = post_count(&app, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.calls.load(Ordering::SeqCst), 2);
}

async fn same_origin_and_allow_listed_requests_without_a_cookie_reach_the_handler(path: Path) {
    let app = app_with(path, Config::default(), |b| {
        b.allow_origin("https://admin.example.com")
    });
    for headers in [
        &[("host", HOST), ("origin", SITE)][..],
        &[("host", HOST), ("sec-fetch-site", "same-origin")],
        &[
            ("host", HOST),
            ("origin", SITE),
            ("sec-fetch-site", "same-origin"),
        ],
        &[("host", HOST), ("origin", "https://admin.example.com")],
        &[
            ("host", HOST),
            ("origin", "https://admin.example.com"),
            ("sec-fetch-site", "same-site"),
        ],
    ] {
        let response = post_count(&app, headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{headers:?}");
    }
    assert_eq!(app.calls.load(Ordering::SeqCst), 5);
}

async fn with_the_https_scheme_set_an_http_origin_is_refused_with_or_without_a_cookie(path: Path) {
    let app = app_with(path, Config::default(), |b| b.request_scheme("https"));
    let response = post_count(
        &app,
        &[("host", HOST), ("origin", "http://app.example.com")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post_count(&app, &[("host", HOST), ("origin", SITE)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.calls.load(Ordering::SeqCst), 1);
}

async fn a_bearer_header_with_the_session_cookie_is_checked(path: Path) {
    let app = app(path);
    let cookie = signed_in(&app).await;
    let created = app.narvik.create_session("ada", ()).await.expect("create");
    let mut request = bearer(http::Method::POST, "/count", created.token.as_str());
    let headers = request.headers_mut();
    headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.com"));
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&cookie).expect("header"),
    );
    let response = send(&app.router, request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.calls.load(Ordering::SeqCst), 0);
}

async fn an_exempt_path_passes_cross_site_requests_without_their_session(path: Path) {
    let app = app_with(path, Config::default(), |b| b.exempt_path("/hooks/in"));
    let cookie = signed_in(&app).await;
    let before = app.store.total_calls();
    let response = cookie_post_to(
        &app,
        "/hooks/in",
        &cookie,
        &[("host", HOST), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get(header::SET_COOKIE).is_none(),
        "the cookie it did not read is not cleared"
    );
    assert_eq!(body_text(response).await, "anonymous");
    assert_eq!(
        app.store.total_calls(),
        before,
        "the cookie was not looked up"
    );
    // Without a cookie (a webhook's sender), it simply passes.
    let response = send(
        &app.router,
        Request::post("/hooks/in")
            .header(header::HOST, HOST)
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    // From the site itself, the session is there as usual.
    let response = cookie_post_to(
        &app,
        "/hooks/in",
        &cookie,
        &[("host", HOST), ("origin", SITE)],
    )
    .await;
    assert_eq!(body_text(response).await, "ada");
    // Only that path.
    let response = cookie_post(
        &app,
        &cookie,
        &[("host", HOST), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn a_prefix_exempts_every_path_under_it(path: Path) {
    let app = app_with(path, Config::default(), |b| b.exempt_path("/hooks/"));
    let response = send(
        &app.router,
        Request::post("/hooks/in")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, "https://evil.com")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = post_count(&app, &[("host", HOST), ("origin", "https://evil.com")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn sign_in_checks_again_on_an_exempt_path_or_with_a_bearer_header(path: Path) {
    let app = app_with(path, Config::default(), |b| b.exempt_path("/hooks/"));
    let response = send(
        &app.router,
        Request::post("/hooks/sign-in")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, "https://evil.com")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let mut request = bearer(http::Method::POST, "/sign-in", "junk");
    request
        .headers_mut()
        .insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    let response = send(&app.router, request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(app.store.inner().len(), 0, "no session was created");
}

async fn a_cookie_sign_in_needs_origin_evidence(path: Path) {
    let app = app(path);
    // Neither header: the layer lets it through (no cookie), sign_in does
    // not hand out a cookie.
    let response = send(
        &app.router,
        Request::post("/sign-in")
            .header(header::HOST, HOST)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.inner().len(), 0);
    // The bearer sign-in from the same client works.
    let response = send(
        &app.router,
        Request::post("/token")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn cross_origin_cookie_sign_in_is_refused(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        Request::post("/sign-in")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, "https://evil.com")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(app.store.inner().len(), 0);
}

// ------------------------------------------------------------- 401 bodies

async fn protected_routes_answer_401_with_a_bearer_challenge_by_default(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        Request::get("/me").body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(body_text(response).await, "Unauthorized");
}

async fn the_401_body_is_customisable(path: Path) {
    let app = app_with(path, Config::default(), |b| {
        b.unauthorized(|parts| {
            let wants_html = parts
                .headers
                .get(header::ACCEPT)
                .is_some_and(|a| a.as_bytes().starts_with(b"text/html"));
            if wants_html {
                (StatusCode::UNAUTHORIZED, "<a href=/sign-in>sign in</a>").into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "{\"error\":\"sign in first\"}").into_response()
            }
        })
    });
    let response = send(
        &app.router,
        Request::get("/me").body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_text(response).await, "{\"error\":\"sign in first\"}");
    let response = send(
        &app.router,
        Request::get("/me")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(body_text(response).await, "<a href=/sign-in>sign in</a>");
}

async fn optional_session_is_none_without_a_session(path: Path) {
    let app = app(path);
    let response = send(
        &app.router,
        Request::get("/maybe").body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "anonymous");
}

#[tokio::test]
async fn extractors_without_the_layer_are_a_500_not_a_401() {
    let router = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe));
    for path in ["/me", "/maybe"] {
        let response = send(
            &router,
            Request::get(path).body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
    }
}

// ------------------------------------------------------------ store errors

fn failing_app(path: Path, status: Option<StatusCode>) -> Router {
    async fn me(session: CurrentSession) -> String {
        session.user_id.to_string()
    }
    async fn maybe(session: Option<CurrentSession>) -> &'static str {
        if session.is_some() {
            "someone"
        } else {
            "anonymous"
        }
    }
    async fn sign_in(auth: SessionManager<Store>) -> Result<StatusCode, Error> {
        auth.sign_in("ada", ()).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    let mut builder = NarvikLayer::builder(Narvik::new(failing_store(path.store())));
    if let Some(status) = status {
        builder = builder.store_error_status(status);
    }
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/sign-in", post(sign_in))
        .layer(builder.build().expect("valid options"))
}

async fn a_failing_store_is_a_500_never_a_401_and_the_token_is_not_logged(path: Path) {
    let router = failing_app(path, None);
    let token = Token::generate().expect("os rng");
    let (logs, _guard) = LogCapture::start();
    for path in ["/me", "/maybe"] {
        let response = send(
            &router,
            get_with_cookie(path, &format!("{COOKIE}={}", token.as_str())),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        // Not "signed out": the cookie stays.
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let body = body_text(response).await;
        assert_eq!(body, "Internal Server Error");
        assert!(!body.contains(token.as_str()));
    }
    let response = send(&router, bearer(http::Method::GET, "/me", token.as_str())).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let logged = logs.text();
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(
        logged.contains(narvik_testkit::wrap::INJECTED_FAILURE),
        "the store's reason is logged: {logged}"
    );
    assert!(!logged.contains(token.as_str()), "{logged}");
}

/// A store whose one row does not decode, with the decoder's message
/// quoting the stored data, as serde_json's does. It answers at once (as
/// an in-process store that keeps its data encoded would); wrapped with
/// answering at once off, it takes the waiting path.
#[derive(Debug, Clone, Copy)]
struct UndecodableStore;

impl UndecodableStore {
    fn undecodable(id: narvik_core::SessionId) -> narvik_core::Error {
        narvik_core::Error::data(
            id,
            "invalid type: string \"diary: my secret\", expected unit",
        )
    }
}

impl narvik_core::store::SessionStore for UndecodableStore {
    type Data = ();

    async fn save_session(&self, _: &narvik_core::Session) -> Result<(), narvik_core::Error> {
        Ok(())
    }

    async fn fetch_session(
        &self,
        id: &narvik_core::SessionId,
    ) -> Result<Option<narvik_core::Session>, narvik_core::Error> {
        Err(Self::undecodable(*id))
    }

    fn fetch_session_now(
        &self,
        id: &narvik_core::SessionId,
    ) -> Option<Result<Option<narvik_core::Session>, narvik_core::Error>> {
        Some(Err(Self::undecodable(*id)))
    }

    async fn update_session(
        &self,
        _: &narvik_core::SessionId,
        _: narvik_core::SessionUpdate,
    ) -> Result<bool, narvik_core::Error> {
        Ok(true)
    }

    async fn delete_session(&self, _: &narvik_core::SessionId) -> Result<(), narvik_core::Error> {
        Ok(())
    }
}

async fn undecodable_session_data_is_a_500_and_stays_out_of_the_log(path: Path) {
    let store = Wrapped::new(UndecodableStore).answering_at_once(path == Path::Direct);
    let router = Router::new()
        .route("/me", get(me))
        .layer(NarvikLayer::new(Narvik::new(store)));
    let token = Token::generate().expect("os rng");
    let (logs, _guard) = LogCapture::start();
    let response = send(
        &router,
        get_with_cookie("/me", &format!("{COOKIE}={}", token.as_str())),
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_text(response).await;
    assert!(!body.contains("secret"), "{body}");
    let logged = logs.text();
    assert!(logged.contains("ERROR"), "{logged}");
    // The row to look at is named; what it holds is not.
    assert!(logged.contains(&token.session_id().to_string()), "{logged}");
    assert!(!logged.contains("secret"), "{logged}");
    assert!(!logged.contains(token.as_str()), "{logged}");
}

async fn the_store_error_status_is_configurable(path: Path) {
    let router = failing_app(path, Some(StatusCode::SERVICE_UNAVAILABLE));
    let token = Token::generate().expect("os rng");
    let response = send(
        &router,
        get_with_cookie("/me", &format!("{COOKIE}={}", token.as_str())),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_text(response).await, "Service Unavailable");
}

async fn a_failing_sign_in_is_the_store_error_status_and_sets_no_cookie(path: Path) {
    let router = failing_app(path, Some(StatusCode::SERVICE_UNAVAILABLE));
    let (logs, _guard) = LogCapture::start();
    let response = send(
        &router,
        same_origin_post("/sign-in")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert!(logs.text().contains(narvik_testkit::wrap::INJECTED_FAILURE));
}

#[test]
fn a_non_5xx_store_error_status_is_refused() {
    let result = NarvikLayer::builder(Narvik::new(MemoryStore::<()>::new()))
        .store_error_status(StatusCode::UNAUTHORIZED)
        .build();
    assert!(matches!(result, Err(Error::InvalidStatus(_))));
}

#[test]
fn allowing_cross_site_is_refused_at_build_time() {
    let result = NarvikLayer::builder(Narvik::new(MemoryStore::<()>::new()))
        .allow_sec_fetch_site("cross-site")
        .build();
    assert!(matches!(
        result,
        Err(Error::CrossOriginPolicy(PolicyError::InvalidSecFetchSite(
            _
        )))
    ));
}

#[test]
fn an_invalid_allowed_origin_is_refused_at_build_time() {
    let result = NarvikLayer::builder(Narvik::new(MemoryStore::<()>::new()))
        .allow_origin("admin.example.com")
        .build();
    assert!(matches!(
        result,
        Err(Error::CrossOriginPolicy(PolicyError::InvalidOrigin { .. }))
    ));
}

// -------------------------------------------------------------- typed data

#[derive(Debug, Clone, PartialEq, Eq)]
struct Device {
    user_agent: String,
}

#[tokio::test]
async fn typed_session_data_reaches_the_handler() {
    async fn sign_in(
        auth: SessionManager<MemoryStore<Device>>,
        headers: http::HeaderMap,
    ) -> Result<StatusCode, Error> {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_owned();
        auth.sign_in("ada", Device { user_agent }).await?;
        Ok(StatusCode::NO_CONTENT)
    }
    async fn device(session: CurrentSession<Device>) -> String {
        session.data.user_agent.clone()
    }
    let narvik = Narvik::new(MemoryStore::<Device>::new());
    let router = Router::new()
        .route("/sign-in", post(sign_in))
        .route("/device", get(device))
        .layer(NarvikLayer::new(narvik));
    let response = send(
        &router,
        same_origin_post("/sign-in")
            .header(header::USER_AGENT, "narvik-test/1.0")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let cookie = the_set_cookie(response.headers(), COOKIE);
    let response = send(
        &router,
        get_with_cookie("/device", &format!("{COOKIE}={}", cookie.value())),
    )
    .await;
    assert_eq!(body_text(response).await, "narvik-test/1.0");
}

#[tokio::test]
async fn a_shared_dyn_store_works_too() {
    use narvik_core::store::DynSessionStore;
    async fn me(session: CurrentSession) -> String {
        session.user_id.to_string()
    }
    let store: Arc<dyn DynSessionStore<()>> = Arc::new(MemoryStore::new());
    let narvik = Narvik::new(store);
    let created = narvik.create_session("ada", ()).await.expect("create");
    let router = Router::new()
        .route("/me", get(me))
        .layer(NarvikLayer::new(narvik));
    let response = send(
        &router,
        get_with_cookie("/me", &format!("{COOKIE}={}", created.token.as_str())),
    )
    .await;
    assert_eq!(body_text(response).await, "ada");
}

// ------------------------------------------------------------ both paths

/// Runs each case on both of the layer's paths: `direct::<case>` with a
/// store that answers at once, `waiting::<case>` with one that does not.
macro_rules! on_both_paths {
    ($($case:ident),* $(,)?) => {
        mod direct {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Path::Direct).await;
                }
            )*
        }
        mod waiting {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Path::Waiting).await;
                }
            )*
        }
    };
}

on_both_paths!(
    the_case_runs_on_the_path_it_asks_for,
    sign_in_sets_an_httponly_secure_lax_root_cookie,
    secure_can_be_turned_off_for_local_http,
    sign_in_response_is_not_cacheable,
    the_cookie_opens_protected_routes,
    current_session_reports_the_cookie_method,
    no_cookie_is_written_while_more_than_half_the_session_remains,
    an_extended_session_gets_a_fresh_cookie_without_the_handler,
    the_cookie_never_outlives_a_capped_session,
    an_unknown_token_clears_the_cookie,
    a_malformed_cookie_is_cleared_without_a_store_call,
    an_expired_session_is_401_and_the_cookie_is_cleared,
    sign_out_ends_the_session_and_clears_the_cookie,
    sign_in_ends_the_previous_session,
    sign_out_others_keeps_only_this_session,
    sign_out_everywhere_ends_every_session_and_clears_the_cookie,
    the_handlers_stray_session_cookie_is_replaced_by_the_layers,
    sign_in_wins_over_clearing_a_bad_cookie,
    sign_out_wins_over_refreshing_an_extended_session,
    cookies_split_over_several_headers_are_read,
    with_duplicate_names_garbage_values_are_skipped,
    a_tossed_cookie_before_the_valid_one_does_not_sign_the_user_out,
    a_tossed_cookie_after_the_valid_one_costs_nothing,
    with_no_valid_value_the_cookie_is_cleared_once_after_at_most_three_lookups,
    an_extended_session_behind_a_tossed_cookie_gets_its_own_cookie_refreshed,
    malformed_cookie_headers_never_panic_and_never_reach_the_store,
    the_token_is_never_read_from_the_query_string,
    bearer_sign_in_returns_the_token_and_sets_no_cookie,
    bearer_requests_never_get_cookies,
    bearer_wins_over_the_cookie,
    bearer_requests_skip_the_origin_check,
    with_bearer_off_the_header_is_ignored,
    cross_origin_cookie_requests_are_refused_before_the_store,
    every_state_changing_method_is_checked,
    missing_origin_is_refused_unless_sec_fetch_site_is_same_origin,
    an_allowed_sec_fetch_site_passes_without_origin,
    same_origin_requests_pass,
    allow_listed_origins_pass_and_only_exactly,
    configured_request_scheme_refuses_the_http_twin,
    safe_methods_pass_whatever_the_origin,
    the_check_can_be_turned_off,
    cross_site_requests_without_a_cookie_are_refused_before_the_handler,
    a_refusal_is_logged_at_debug_level_only,
    requests_with_neither_header_pass_without_a_cookie,
    same_origin_and_allow_listed_requests_without_a_cookie_reach_the_handler,
    with_the_https_scheme_set_an_http_origin_is_refused_with_or_without_a_cookie,
    a_bearer_header_with_the_session_cookie_is_checked,
    an_exempt_path_passes_cross_site_requests_without_their_session,
    a_prefix_exempts_every_path_under_it,
    sign_in_checks_again_on_an_exempt_path_or_with_a_bearer_header,
    a_cookie_sign_in_needs_origin_evidence,
    cross_origin_cookie_sign_in_is_refused,
    protected_routes_answer_401_with_a_bearer_challenge_by_default,
    the_401_body_is_customisable,
    optional_session_is_none_without_a_session,
    a_failing_store_is_a_500_never_a_401_and_the_token_is_not_logged,
    undecodable_session_data_is_a_500_and_stays_out_of_the_log,
    the_store_error_status_is_configurable,
    a_failing_sign_in_is_the_store_error_status_and_sets_no_cookie,
);
