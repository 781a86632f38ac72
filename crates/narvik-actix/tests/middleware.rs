//! The middleware and extractors end to end, in-process with
//! `actix_web::test`: cookies, bearer, the origin check, store failures,
//! and the cookie header edge cases. The same paths as narvik-axum's
//! `tests/layer.rs`, case for case (axum's two validation paths are one
//! here: the middleware always awaits).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, HttpResponse, web};
use narvik_actix::{
    AuthMethod, CurrentSession, Error, NarvikMiddleware, NarvikMiddlewareBuilder, OptionalSession,
    SessionManager,
};
use narvik_core::cross_origin::PolicyError;
use narvik_core::store::MemoryStore;
use narvik_core::{Config, ManualClock, Narvik, SameSite, Timestamp, Token};
use narvik_testkit::wrap::Wrapped;
use support::{
    CountingStore, LogCapture, Req, Resp, failing_store, header_text, send, set_cookies_named,
    the_set_cookie,
};

const HOST: &str = "app.example.com";
const SITE: &str = "https://app.example.com";
const COOKIE: &str = "narvik_session";

type Store = CountingStore;

async fn me(session: CurrentSession) -> String {
    session.user_id.to_string()
}

async fn maybe(session: OptionalSession) -> String {
    session
        .as_ref()
        .map_or_else(|| "anonymous".to_owned(), |s| s.user_id.to_string())
}

async fn method(session: CurrentSession) -> &'static str {
    match session.method() {
        AuthMethod::Cookie => "cookie",
        AuthMethod::Bearer => "bearer",
        _ => "other",
    }
}

async fn sign_in(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_in("ada", ()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn sign_in_as_grace(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_in("grace", ()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn token(auth: SessionManager<Store>) -> Result<String, Error> {
    let created = auth.sign_in_bearer("ada", ()).await?;
    Ok(created.token.as_str().to_owned())
}

async fn sign_out(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_out().await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn sign_out_everywhere(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_out_everywhere().await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn sign_out_others(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_out_other_sessions().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A handler that writes its own session cookie by hand (and another
/// cookie), then signs in: the middleware's cookie must be the only one.
async fn sign_in_with_stray_cookie(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_in("ada", ()).await?;
    Ok(HttpResponse::Ok()
        .append_header((header::SET_COOKIE, format!("{COOKIE}=stray; Path=/")))
        .append_header((header::SET_COOKIE, format!(" {COOKIE} =stray2")))
        .append_header((
            header::SET_COOKIE,
            format!("{COOKIE}_theme={COOKIE}; Path=/"),
        ))
        .append_header((header::SET_COOKIE, "theme=dark; Path=/"))
        .body("ok"))
}

/// Signs in and chooses its own caching, which the middleware must keep.
async fn sign_in_cached_privately(auth: SessionManager<Store>) -> Result<HttpResponse, Error> {
    auth.sign_in("ada", ()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
        .body("ok"))
}

async fn write(session: CurrentSession) -> String {
    format!("written by {}", session.user_id)
}

async fn open() -> &'static str {
    "open"
}

/// The app's routes; `/count` counts its calls in `calls`.
fn routes(config: &mut web::ServiceConfig, calls: &Arc<AtomicUsize>) {
    let calls = Arc::clone(calls);
    config
        .route(
            "/count",
            web::post().to(move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { "counted" }
            }),
        )
        .route("/hooks/in", web::post().to(maybe))
        .route("/hooks/sign-in", web::post().to(sign_in))
        .service(
            web::resource("/me")
                .route(web::get().to(me))
                .route(web::head().to(me)),
        )
        .route("/maybe", web::get().to(maybe))
        .route("/method", web::get().to(method))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-in-as-grace", web::post().to(sign_in_as_grace))
        .route("/token", web::post().to(token))
        .route("/sign-out", web::post().to(sign_out))
        .route("/sign-out-everywhere", web::post().to(sign_out_everywhere))
        .route("/sign-out-others", web::post().to(sign_out_others))
        .route("/stray", web::post().to(sign_in_with_stray_cookie))
        .route("/sign-in-cached", web::post().to(sign_in_cached_privately))
        .service(
            web::resource("/write")
                .route(web::post().to(write))
                .route(web::delete().to(write))
                .route(web::put().to(write))
                .route(web::patch().to(write)),
        )
        .route("/open", web::post().to(open));
}

/// The app under test: the middleware around [`routes`], built afresh for
/// each request (`actix_web::test` services are not `Clone`), over one
/// store and clock.
struct Site {
    middleware: NarvikMiddleware<Store>,
    store: CountingStore,
    narvik: Arc<Narvik<Store>>,
    clock: ManualClock,
    /// How often the `/count` handler ran.
    calls: Arc<AtomicUsize>,
}

impl Site {
    async fn send(&self, request: Req) -> Resp {
        let calls = Arc::clone(&self.calls);
        let app = App::new()
            .wrap(self.middleware.clone())
            .configure(move |config| routes(config, &calls));
        send(app, request).await
    }
}

fn site() -> Site {
    site_with(Config::default(), |b| b)
}

fn site_with(
    config: Config,
    options: impl FnOnce(NarvikMiddlewareBuilder<Store>) -> NarvikMiddlewareBuilder<Store>,
) -> Site {
    let store = CountingStore::default();
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_750_000_000_000));
    let narvik = Arc::new(Narvik::with_config(store.clone(), config).with_clock(clock.clone()));
    let middleware = options(NarvikMiddleware::builder(Arc::clone(&narvik)))
        .build()
        .expect("valid options");
    Site {
        middleware,
        store,
        narvik,
        clock,
        calls: Arc::default(),
    }
}

fn get_with_cookie(path: &str, cookie: &str) -> Req {
    Req::get(path).header("host", HOST).header("cookie", cookie)
}

fn same_origin_post(path: &str) -> Req {
    Req::post(path).header("host", HOST).header("origin", SITE)
}

fn bearer(method: Method, path: &str, token: &str) -> Req {
    Req::new(method, path)
        .header("host", HOST)
        .header("authorization", format!("Bearer {token}"))
}

fn no_set_cookie(headers: &HeaderMap) -> bool {
    headers.get(header::SET_COOKIE).is_none()
}

/// Signs in through the app and returns the cookie pair `name=token`.
async fn signed_in(site: &Site) -> String {
    let response = site.send(same_origin_post("/sign-in")).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let cookie = the_set_cookie(&response.headers, COOKIE);
    format!("{}={}", cookie.name(), cookie.value())
}

fn token_of(cookie_pair: &str) -> &str {
    cookie_pair.split_once('=').expect("name=value").1
}

// ---------------------------------------------------------------- cookies

#[actix_web::test]
async fn sign_in_sets_an_httponly_secure_lax_root_cookie() {
    let site = site();
    let response = site.send(same_origin_post("/sign-in")).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let cookie = the_set_cookie(&response.headers, COOKIE);
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
    assert_eq!(site.store.inner().len(), 1);
}

#[actix_web::test]
async fn secure_can_be_turned_off_for_local_http() {
    let config = Config::builder().secure(false).build().expect("config");
    let site = site_with(config, |b| b);
    let response = site
        .send(
            Req::post("/sign-in")
                .header("host", "localhost:3000")
                .header("origin", "http://localhost:3000"),
        )
        .await;
    let cookie = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(cookie.secure(), None);
    assert_eq!(cookie.http_only(), Some(true));
}

#[actix_web::test]
async fn sign_in_response_is_not_cacheable() {
    let site = site();
    let response = site.send(same_origin_post("/sign-in")).await;
    assert_eq!(header_text(&response.headers, "cache-control"), "no-store");

    // A handler's own choice is left alone.
    let response = site.send(same_origin_post("/sign-in-cached")).await;
    assert!(Token::parse(the_set_cookie(&response.headers, COOKIE).value()).is_some());
    assert_eq!(
        header_text(&response.headers, "cache-control"),
        "private, max-age=60"
    );

    // Clearing the cookie hands out nothing: no caching rule added.
    let response = site
        .send(get_with_cookie("/maybe", &format!("{COOKIE}=not-a-token")))
        .await;
    assert_eq!(the_set_cookie(&response.headers, COOKIE).value(), "");
    assert!(response.headers.get(header::CACHE_CONTROL).is_none());
}

#[actix_web::test]
async fn the_cookie_opens_protected_routes() {
    let site = site();
    let cookie = signed_in(&site).await;
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
    assert_eq!(response.body, "ada");
}

#[actix_web::test]
async fn current_session_reports_the_cookie_method() {
    let site = site();
    let cookie = signed_in(&site).await;
    let response = site.send(get_with_cookie("/method", &cookie)).await;
    assert_eq!(response.body, "cookie");
}

#[actix_web::test]
async fn validation_reads_the_store_once_per_request() {
    let site = site();
    let cookie = signed_in(&site).await;
    let before = site.store.total_calls();
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(site.store.total_calls() - before, 1);
}

#[actix_web::test]
async fn no_cookie_is_written_while_more_than_half_the_session_remains() {
    let site = site();
    let cookie = signed_in(&site).await;
    site.clock.advance(Duration::from_secs(14 * 24 * 3600));
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
}

#[actix_web::test]
async fn an_extended_session_gets_a_fresh_cookie_without_the_handler() {
    let site = site();
    let cookie = signed_in(&site).await;
    site.clock.advance(Duration::from_secs(16 * 24 * 3600));
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    let refreshed = the_set_cookie(&response.headers, COOKIE);
    // Same token (extension never changes it), a full Max-Age again.
    assert_eq!(refreshed.value(), token_of(&cookie));
    assert_eq!(
        refreshed.max_age(),
        Some(narvik_core::cookie::time::Duration::days(30))
    );
    assert_eq!(refreshed.http_only(), Some(true));
}

/// With an absolute lifetime, an extension can leave less than a full
/// length; the refreshed cookie's `Max-Age` is then what is left.
#[actix_web::test]
async fn the_cookie_never_outlives_a_capped_session() {
    const HOUR: u64 = 3600;
    let config = Config::builder()
        .session_length(Duration::from_secs(24 * HOUR))
        .absolute_lifetime(Duration::from_secs(30 * HOUR))
        .build()
        .expect("config");
    let site = site_with(config, |b| b);
    let response = site.send(same_origin_post("/sign-in")).await;
    let first = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(
        first.max_age(),
        Some(narvik_core::cookie::time::Duration::hours(24))
    );
    let cookie = format!("{}={}", first.name(), first.value());

    // 13 h in: under half the length left, so it extends, but only to
    // the cap at 30 h, 17 h from now.
    site.clock.advance(Duration::from_secs(13 * HOUR));
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    let refreshed = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(refreshed.value(), first.value());
    assert_eq!(
        refreshed.max_age(),
        Some(narvik_core::cookie::time::Duration::hours(17))
    );
}

#[actix_web::test]
async fn an_unknown_token_clears_the_cookie() {
    let site = site();
    let unknown = Token::generate().expect("os rng");
    let response = site
        .send(get_with_cookie(
            "/maybe",
            &format!("{COOKIE}={}", unknown.as_str()),
        ))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let blank = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(blank.value(), "");
    assert_eq!(
        blank.max_age(),
        Some(narvik_core::cookie::time::Duration::ZERO)
    );
    assert_eq!(blank.path(), Some("/"));
    assert_eq!(response.body, "anonymous");
}

#[actix_web::test]
async fn a_malformed_cookie_is_cleared_without_a_store_call() {
    let site = site();
    let response = site
        .send(get_with_cookie("/me", &format!("{COOKIE}=not-a-token")))
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(the_set_cookie(&response.headers, COOKIE).value(), "");
    assert_eq!(site.store.total_calls(), 0);
}

#[actix_web::test]
async fn an_expired_session_is_401_and_the_cookie_is_cleared() {
    let site = site();
    let cookie = signed_in(&site).await;
    site.clock.advance(Duration::from_secs(30 * 24 * 3600));
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(the_set_cookie(&response.headers, COOKIE).value(), "");
    assert_eq!(site.store.inner().len(), 0);
}

#[actix_web::test]
async fn sign_out_ends_the_session_and_clears_the_cookie() {
    let site = site();
    let cookie = signed_in(&site).await;
    let response = site
        .send(same_origin_post("/sign-out").header("cookie", &cookie))
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(the_set_cookie(&response.headers, COOKIE).value(), "");
    assert_eq!(site.store.inner().len(), 0);
    let response = site.send(get_with_cookie("/me", &cookie)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn sign_in_ends_the_previous_session() {
    let site = site();
    let first = signed_in(&site).await;
    let response = site
        .send(same_origin_post("/sign-in-as-grace").header("cookie", &first))
        .await;
    let second = the_set_cookie(&response.headers, COOKIE);
    assert_ne!(second.value(), token_of(&first));
    // One live session: the first is gone, or left as a rotation marker
    // that grants nothing.
    let live = |user: &'static str| {
        let narvik = Arc::clone(&site.narvik);
        async move {
            narvik
                .fetch_sessions_for_user(user)
                .await
                .expect("list")
                .len()
        }
    };
    assert_eq!(live("ada").await, 0);
    assert_eq!(live("grace").await, 1);
    let response = site.send(get_with_cookie("/me", &first)).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    // A request still in flight with the first cookie must not clear the
    // second one, which the browser holds by now.
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
}

#[actix_web::test]
async fn sign_out_others_keeps_only_this_session() {
    let site = site();
    let keep = signed_in(&site).await;
    let _other = signed_in(&site).await;
    let _third = signed_in(&site).await;
    assert_eq!(site.store.inner().len(), 3);
    let response = site
        .send(same_origin_post("/sign-out-others").header("cookie", &keep))
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
    assert_eq!(site.store.inner().len(), 1);
    let response = site.send(get_with_cookie("/me", &keep)).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn sign_out_everywhere_ends_every_session_and_clears_the_cookie() {
    let site = site();
    let cookie = signed_in(&site).await;
    let _other = signed_in(&site).await;
    let response = site
        .send(same_origin_post("/sign-out-everywhere").header("cookie", &cookie))
        .await;
    assert_eq!(the_set_cookie(&response.headers, COOKIE).value(), "");
    assert_eq!(site.store.inner().len(), 0);
}

// ------------------------------------------------- one Set-Cookie at most

#[actix_web::test]
async fn the_handlers_stray_session_cookie_is_replaced_by_the_middlewares() {
    let site = site();
    let response = site.send(same_origin_post("/stray")).await;
    // Only the middleware's session cookie is left, however the handler
    // spaced its own; cookies of other names stay, even one whose name
    // starts with the session cookie's or whose value is that name.
    let all: Vec<&str> = response
        .headers
        .get_all(header::SET_COOKIE)
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    let cookie = the_set_cookie(&response.headers, COOKIE);
    assert!(Token::parse(cookie.value()).is_some());
    assert_eq!(set_cookies_named(&response.headers, "theme").len(), 1);
    assert_eq!(
        set_cookies_named(&response.headers, &format!("{COOKIE}_theme")).len(),
        1
    );
}

#[actix_web::test]
async fn sign_in_wins_over_clearing_a_bad_cookie() {
    let site = site();
    let response = site
        .send(same_origin_post("/sign-in").header("cookie", format!("{COOKIE}=garbage")))
        .await;
    let cookie = the_set_cookie(&response.headers, COOKIE);
    assert!(Token::parse(cookie.value()).is_some());
}

#[actix_web::test]
async fn sign_out_wins_over_refreshing_an_extended_session() {
    let site = site();
    let cookie = signed_in(&site).await;
    site.clock.advance(Duration::from_secs(20 * 24 * 3600));
    let response = site
        .send(same_origin_post("/sign-out").header("cookie", &cookie))
        .await;
    assert_eq!(the_set_cookie(&response.headers, COOKIE).value(), "");
}

// ------------------------------------------------------------- Cookie headers

#[actix_web::test]
async fn cookies_split_over_several_headers_are_read() {
    let site = site();
    let cookie = signed_in(&site).await;
    let request = get_with_cookie("/me", "theme=dark; lang=en")
        .header("cookie", "a=1")
        .header("cookie", &cookie);
    let response = site.send(request).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, "ada");
}

#[actix_web::test]
async fn with_duplicate_names_garbage_values_are_skipped() {
    let site = site();
    let cookie = signed_in(&site).await;
    // Garbage first, then the real token: the garbage is skipped without
    // a store call.
    let header = format!("{COOKIE}=garbage; {cookie}");
    let before = site.store.total_calls();
    let response = site.send(get_with_cookie("/me", &header)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(site.store.total_calls() - before, 1);
}

/// Cookie tossing: a value planted for a parent domain or a longer path
/// comes first in the header; the user's own session still counts, and
/// nothing is cleared.
#[actix_web::test]
async fn a_tossed_cookie_before_the_valid_one_does_not_sign_the_user_out() {
    let site = site();
    let cookie = signed_in(&site).await;
    let tossed = Token::generate().expect("os rng");
    let header = format!("{COOKIE}={}; {cookie}", tossed.as_str());
    let before = site.store.total_calls();
    let response = site.send(get_with_cookie("/me", &header)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
    assert_eq!(response.body, "ada");
    assert_eq!(site.store.total_calls() - before, 2, "one lookup per value");
}

#[actix_web::test]
async fn a_tossed_cookie_after_the_valid_one_costs_nothing() {
    let site = site();
    let cookie = signed_in(&site).await;
    let tossed = Token::generate().expect("os rng");
    let header = format!("{cookie}; {COOKIE}={}", tossed.as_str());
    let before = site.store.total_calls();
    let response = site.send(get_with_cookie("/me", &header)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(site.store.total_calls() - before, 1, "the first valid wins");
}

#[actix_web::test]
async fn with_no_valid_value_the_cookie_is_cleared_once_after_at_most_three_lookups() {
    let site = site();
    let values: Vec<String> = (0..5)
        .map(|_| format!("{COOKIE}={}", Token::generate().expect("os rng").as_str()))
        .collect();
    let response = site.send(get_with_cookie("/me", &values.join("; "))).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let cleared = set_cookies_named(&response.headers, COOKIE);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(cleared[0].contains("Max-Age=0"), "{cleared:?}");
    assert_eq!(site.store.total_calls(), 3);
}

#[actix_web::test]
async fn an_extended_session_behind_a_tossed_cookie_gets_its_own_cookie_refreshed() {
    let site = site();
    let cookie = signed_in(&site).await;
    site.clock.advance(Duration::from_secs(20 * 24 * 3600));
    let tossed = Token::generate().expect("os rng");
    let header = format!("{COOKIE}={}; {cookie}", tossed.as_str());
    let response = site.send(get_with_cookie("/me", &header)).await;
    assert_eq!(response.status, StatusCode::OK);
    let refreshed = the_set_cookie(&response.headers, COOKIE);
    assert_eq!(refreshed.value(), token_of(&cookie));
}

#[actix_web::test]
async fn malformed_cookie_headers_never_panic_and_never_reach_the_store() {
    let site = site();
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
        // Values no header can hold (a raw DEL) are left out, as no
        // client can send them.
        if actix_web::http::header::HeaderValue::from_bytes(&value).is_err() {
            continue;
        }
        let response = site
            .send(
                Req::get("/maybe")
                    .header("host", HOST)
                    .header("cookie", &value),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.body, "anonymous");
    }
    assert_eq!(site.store.total_calls(), 0);
}

#[actix_web::test]
async fn the_token_is_never_read_from_the_query_string() {
    let site = site();
    let cookie = signed_in(&site).await;
    let token = token_of(&cookie);
    let request = Req::get(format!(
        "/me?{COOKIE}={token}&token={token}&access_token={token}"
    ))
    .header("host", HOST);
    let response = site.send(request).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------------ bearer

#[actix_web::test]
async fn bearer_sign_in_returns_the_token_and_sets_no_cookie() {
    let site = site();
    let response = site.send(Req::post("/token")).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(no_set_cookie(&response.headers));
    let token = response.body;
    assert!(Token::parse(&token).is_some());

    let response = site.send(bearer(Method::GET, "/me", &token)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(no_set_cookie(&response.headers));
    assert_eq!(response.body, "ada");
}

#[actix_web::test]
async fn bearer_requests_never_get_cookies() {
    let site = site();
    let cookie = signed_in(&site).await;
    let token = token_of(&cookie).to_owned();

    // Extended: no refresh cookie.
    site.clock.advance(Duration::from_secs(20 * 24 * 3600));
    let response = site.send(bearer(Method::GET, "/method", &token)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(no_set_cookie(&response.headers));
    assert_eq!(response.body, "bearer");

    // Unknown or malformed: 401, no clearing cookie.
    for bad in [
        Token::generate().expect("os rng").as_str().to_owned(),
        "junk".to_owned(),
    ] {
        let response = site.send(bearer(Method::GET, "/me", &bad)).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert!(no_set_cookie(&response.headers));
    }

    // Signing out: the session ends, still no cookie.
    let response = site.send(bearer(Method::POST, "/sign-out", &token)).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(no_set_cookie(&response.headers));
    assert_eq!(site.store.inner().len(), 0);
}

#[actix_web::test]
async fn bearer_wins_over_the_cookie() {
    let site = site();
    let ada_cookie = signed_in(&site).await;
    let grace = site
        .narvik
        .create_session("grace", ())
        .await
        .expect("create");
    let request = bearer(Method::GET, "/me", grace.token.as_str()).header("cookie", &ada_cookie);
    let response = site.send(request).await;
    assert_eq!(response.body, "grace");
}

#[actix_web::test]
async fn bearer_requests_skip_the_origin_check() {
    let site = site();
    let created = site.narvik.create_session("ada", ()).await.expect("create");
    let request =
        bearer(Method::POST, "/write", created.token.as_str()).header("origin", "https://evil.com");
    let response = site.send(request).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn with_bearer_off_the_header_is_ignored() {
    let site = site_with(Config::default(), |b| b.bearer(false));
    let created = site.narvik.create_session("ada", ()).await.expect("create");
    let response = site
        .send(bearer(Method::GET, "/me", created.token.as_str()))
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.headers.get(header::WWW_AUTHENTICATE).is_none());
}

// -------------------------------------------------------------------- CSRF

async fn cookie_post(site: &Site, cookie: &str, headers: &[(&str, &str)]) -> Resp {
    cookie_post_to(site, "/write", cookie, headers).await
}

async fn cookie_post_to(site: &Site, path: &str, cookie: &str, headers: &[(&str, &str)]) -> Resp {
    let mut request = Req::post(path).header("cookie", cookie);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    site.send(request).await
}

#[actix_web::test]
async fn cross_origin_cookie_requests_are_refused_before_the_store() {
    let site = site();
    let cookie = signed_in(&site).await;
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
        let before = site.store.total_calls();
        let response = cookie_post(&site, &cookie, &[("host", HOST), ("origin", origin)]).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(set_cookies_named(&response.headers, COOKIE).is_empty());
        assert_eq!(
            site.store.total_calls(),
            before,
            "store touched for {origin}"
        );
    }
}

#[actix_web::test]
async fn every_state_changing_method_is_checked() {
    let site = site();
    let cookie = signed_in(&site).await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let request = Req::new(method.clone(), "/write")
            .header("host", HOST)
            .header("origin", "https://evil.com")
            .header("cookie", &cookie);
        let response = site.send(request).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{method}");
    }
}

#[actix_web::test]
async fn missing_origin_is_refused_unless_sec_fetch_site_is_same_origin() {
    let site = site();
    let cookie = signed_in(&site).await;
    let response = cookie_post(&site, &cookie, &[("host", HOST)]).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    for fetch_site in ["cross-site", "same-site", "none"] {
        let response = cookie_post(
            &site,
            &cookie,
            &[("host", HOST), ("sec-fetch-site", fetch_site)],
        )
        .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{fetch_site}");
    }
    let response = cookie_post(
        &site,
        &cookie,
        &[("host", HOST), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn an_allowed_sec_fetch_site_passes_without_origin() {
    let site = site_with(Config::default(), |b| b.allow_sec_fetch_site("same-site"));
    let cookie = signed_in(&site).await;
    for (fetch_site, status) in [
        ("same-site", StatusCode::OK),
        ("same-origin", StatusCode::OK),
        ("none", StatusCode::FORBIDDEN),
        ("cross-site", StatusCode::FORBIDDEN),
    ] {
        let response = cookie_post(
            &site,
            &cookie,
            &[("host", HOST), ("sec-fetch-site", fetch_site)],
        )
        .await;
        assert_eq!(response.status, status, "{fetch_site}");
    }
}

#[actix_web::test]
async fn same_origin_requests_pass() {
    let site = site();
    let cookie = signed_in(&site).await;
    let response = cookie_post(&site, &cookie, &[("host", HOST), ("origin", SITE)]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, "written by ada");
}

#[actix_web::test]
async fn allow_listed_origins_pass_and_only_exactly() {
    let site = site_with(Config::default(), |b| {
        b.allow_origin("https://admin.example.com")
    });
    let cookie = signed_in(&site).await;
    let response = cookie_post(
        &site,
        &cookie,
        &[("host", HOST), ("origin", "https://ADMIN.example.com:443")],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    for origin in [
        "https://admin.example.com.evil.com",
        "http://admin.example.com",
        "https://admin.example.co",
    ] {
        let response = cookie_post(&site, &cookie, &[("host", HOST), ("origin", origin)]).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{origin}");
    }
}

#[actix_web::test]
async fn configured_request_scheme_refuses_the_http_twin() {
    let site = site_with(Config::default(), |b| b.request_scheme("https"));
    let cookie = signed_in(&site).await;
    let response = cookie_post(
        &site,
        &cookie,
        &[("host", HOST), ("origin", "http://app.example.com")],
    )
    .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let response = cookie_post(&site, &cookie, &[("host", HOST), ("origin", SITE)]).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn safe_methods_pass_whatever_the_origin() {
    let site = site();
    let cookie = signed_in(&site).await;
    for method in [Method::GET, Method::HEAD] {
        let request = Req::new(method.clone(), "/me")
            .header("host", HOST)
            .header("cookie", &cookie)
            .header("origin", "https://evil.com");
        let response = site.send(request).await;
        assert_eq!(response.status, StatusCode::OK, "{method}");
    }
}

#[actix_web::test]
async fn the_check_can_be_turned_off() {
    let site = site_with(Config::default(), |b| b.csrf(false));
    let cookie = signed_in(&site).await;
    let response = cookie_post(
        &site,
        &cookie,
        &[("host", HOST), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
}

/// A POST to the counting handler with these headers (and no cookie
/// unless given).
async fn post_count(site: &Site, headers: &[(&str, &str)]) -> Resp {
    let mut request = Req::post("/count");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    site.send(request).await
}

#[actix_web::test]
async fn cross_site_requests_without_a_cookie_are_refused_before_the_handler() {
    let site = site();
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
        let response = post_count(&site, headers).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(no_set_cookie(&response.headers));
    }
    assert_eq!(
        site.calls.load(Ordering::SeqCst),
        0,
        "the handler never ran"
    );
    assert_eq!(site.store.total_calls(), 0);
}

#[actix_web::test]
async fn a_refusal_is_logged_at_debug_level_only() {
    let site = site();
    let cookie = signed_in(&site).await;
    let (logs, _guard) = LogCapture::start();
    let response = post_count(&site, &[("host", HOST), ("origin", "https://evil.com")]).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let response = cookie_post(
        &site,
        &cookie,
        &[("host", HOST), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let text = logs.text();
    assert_eq!(
        text.matches("refused by the cross-origin check").count(),
        2,
        "{text}"
    );
    for level in ["ERROR", "WARN", "INFO"] {
        assert!(!text.contains(level), "{level} in {text}");
    }
    assert!(!text.contains(token_of(&cookie)), "{text}");
}

#[actix_web::test]
async fn requests_with_neither_header_pass_without_a_cookie() {
    let site = site();
    // curl, a server, a mobile app: no browser sent it.
    let response = post_count(&site, &[("host", HOST)]).await;
    assert_eq!(response.status, StatusCode::OK);
    let response = post_count(&site, &[]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(site.calls.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn same_origin_and_allow_listed_requests_without_a_cookie_reach_the_handler() {
    let site = site_with(Config::default(), |b| {
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
        let response = post_count(&site, headers).await;
        assert_eq!(response.status, StatusCode::OK, "{headers:?}");
    }
    assert_eq!(site.calls.load(Ordering::SeqCst), 5);
}

#[actix_web::test]
async fn with_the_https_scheme_set_an_http_origin_is_refused_with_or_without_a_cookie() {
    let site = site_with(Config::default(), |b| b.request_scheme("https"));
    let response = post_count(
        &site,
        &[("host", HOST), ("origin", "http://app.example.com")],
    )
    .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let response = post_count(&site, &[("host", HOST), ("origin", SITE)]).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(site.calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn a_bearer_header_with_the_session_cookie_is_checked() {
    let site = site();
    let cookie = signed_in(&site).await;
    let created = site.narvik.create_session("ada", ()).await.expect("create");
    let request = bearer(Method::POST, "/count", created.token.as_str())
        .header("origin", "https://evil.com")
        .header("cookie", &cookie);
    let response = site.send(request).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(site.calls.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn an_exempt_path_passes_cross_site_requests_without_their_session() {
    let site = site_with(Config::default(), |b| b.exempt_path("/hooks/in"));
    let cookie = signed_in(&site).await;
    let before = site.store.total_calls();
    let response = cookie_post_to(
        &site,
        "/hooks/in",
        &cookie,
        &[("host", HOST), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        no_set_cookie(&response.headers),
        "the cookie it did not read is not cleared"
    );
    assert_eq!(response.body, "anonymous");
    assert_eq!(
        site.store.total_calls(),
        before,
        "the cookie was not looked up"
    );
    // Without a cookie (a webhook's sender), it simply passes.
    let response = site
        .send(
            Req::post("/hooks/in")
                .header("host", HOST)
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    // From the site itself, the session is there as usual.
    let response = cookie_post_to(
        &site,
        "/hooks/in",
        &cookie,
        &[("host", HOST), ("origin", SITE)],
    )
    .await;
    assert_eq!(response.body, "ada");
    // Only that path.
    let response = cookie_post(
        &site,
        &cookie,
        &[("host", HOST), ("origin", "https://evil.com")],
    )
    .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_prefix_exempts_every_path_under_it() {
    let site = site_with(Config::default(), |b| b.exempt_path("/hooks/"));
    let response = site
        .send(
            Req::post("/hooks/in")
                .header("host", HOST)
                .header("origin", "https://evil.com"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let response = post_count(&site, &[("host", HOST), ("origin", "https://evil.com")]).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn sign_in_checks_again_on_an_exempt_path_or_with_a_bearer_header() {
    let site = site_with(Config::default(), |b| b.exempt_path("/hooks/"));
    let response = site
        .send(
            Req::post("/hooks/sign-in")
                .header("host", HOST)
                .header("origin", "https://evil.com"),
        )
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert!(no_set_cookie(&response.headers));
    let request = bearer(Method::POST, "/sign-in", "junk").header("sec-fetch-site", "cross-site");
    let response = site.send(request).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert!(no_set_cookie(&response.headers));
    assert_eq!(site.store.inner().len(), 0, "no session was created");
}

#[actix_web::test]
async fn a_cookie_sign_in_needs_origin_evidence() {
    let site = site();
    // Neither header: the middleware lets it through (no cookie), sign_in
    // does not hand out a cookie.
    let response = site.send(Req::post("/sign-in").header("host", HOST)).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(site.store.inner().len(), 0);
    // The bearer sign-in from the same client works.
    let response = site.send(Req::post("/token")).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[actix_web::test]
async fn cross_origin_cookie_sign_in_is_refused() {
    let site = site();
    let response = site
        .send(
            Req::post("/sign-in")
                .header("host", HOST)
                .header("origin", "https://evil.com"),
        )
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert!(no_set_cookie(&response.headers));
    assert_eq!(site.store.inner().len(), 0);
}

// ------------------------------------------------------------- 401 bodies

#[actix_web::test]
async fn protected_routes_answer_401_with_a_bearer_challenge_by_default() {
    let site = site();
    let response = site.send(Req::get("/me")).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_text(&response.headers, "www-authenticate"), "Bearer");
    assert!(no_set_cookie(&response.headers));
    assert_eq!(response.body, "Unauthorized");
}

#[actix_web::test]
async fn the_401_body_is_customisable() {
    let site = site_with(Config::default(), |b| {
        b.unauthorized(|request: &HttpRequest| {
            let wants_html = request
                .headers()
                .get(header::ACCEPT)
                .is_some_and(|a| a.as_bytes().starts_with(b"text/html"));
            if wants_html {
                HttpResponse::Unauthorized().body("<a href=/sign-in>sign in</a>")
            } else {
                HttpResponse::Unauthorized().body("{\"error\":\"sign in first\"}")
            }
        })
    });
    let response = site.send(Req::get("/me")).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.body, "{\"error\":\"sign in first\"}");
    let response = site
        .send(Req::get("/me").header("accept", "text/html"))
        .await;
    assert_eq!(response.body, "<a href=/sign-in>sign in</a>");
}

#[actix_web::test]
async fn the_custom_401_is_built_only_when_a_session_was_required() {
    let built = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&built);
    let site = site_with(Config::default(), move |b| {
        b.unauthorized(move |_: &HttpRequest| {
            counter.fetch_add(1, Ordering::SeqCst);
            HttpResponse::Unauthorized().finish()
        })
    });
    let response = site.send(Req::get("/maybe")).await;
    assert_eq!(response.body, "anonymous");
    assert_eq!(built.load(Ordering::SeqCst), 0);
    let response = site.send(Req::get("/me")).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(built.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn optional_session_is_none_without_a_session() {
    let site = site();
    let response = site.send(Req::get("/maybe")).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, "anonymous");
}

#[actix_web::test]
async fn option_of_current_session_works_too() {
    async fn either(session: Option<CurrentSession>) -> String {
        session.map_or_else(|| "anonymous".to_owned(), |s| s.user_id.to_string())
    }
    let site = site();
    let cookie = signed_in(&site).await;
    for (request, body) in [
        (get_with_cookie("/either", &cookie), "ada"),
        (Req::get("/either"), "anonymous"),
    ] {
        let app = App::new()
            .wrap(site.middleware.clone())
            .route("/either", web::get().to(either));
        assert_eq!(send(app, request).await.body, body);
    }
}

#[actix_web::test]
async fn extractors_without_the_middleware_are_a_500_not_a_401() {
    async fn manager(_: SessionManager<Store>) -> &'static str {
        "unreachable"
    }
    let (logs, _guard) = LogCapture::start();
    for path in ["/me", "/maybe", "/manager"] {
        let app = App::new()
            .route("/me", web::get().to(me))
            .route("/maybe", web::get().to(maybe))
            .route("/manager", web::get().to(manager));
        let response = send(app, Req::get(path)).await;
        assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
    }
    assert!(logs.text().contains("without a matching NarvikMiddleware"));
}

#[actix_web::test]
async fn a_manager_for_another_store_type_is_a_500() {
    async fn manager(_: SessionManager<MemoryStore>) -> &'static str {
        "unreachable"
    }
    let site = site();
    let app = App::new()
        .wrap(site.middleware.clone())
        .route("/manager", web::get().to(manager));
    let response = send(app, Req::get("/manager")).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
}

// ------------------------------------------------------------ store errors

async fn failing_send(status: Option<StatusCode>, request: Req) -> Resp {
    async fn me(session: CurrentSession) -> String {
        session.user_id.to_string()
    }
    async fn maybe(session: OptionalSession) -> &'static str {
        if session.is_some() {
            "someone"
        } else {
            "anonymous"
        }
    }
    let mut builder = NarvikMiddleware::builder(Narvik::new(failing_store(Store::default())));
    if let Some(status) = status {
        builder = builder.store_error_status(status);
    }
    let app = App::new()
        .wrap(builder.build().expect("valid options"))
        .route("/me", web::get().to(me))
        .route("/maybe", web::get().to(maybe))
        .route("/sign-in", web::post().to(sign_in));
    send(app, request).await
}

#[actix_web::test]
async fn a_failing_store_is_a_500_never_a_401_and_the_token_is_not_logged() {
    let token = Token::generate().expect("os rng");
    let (logs, _guard) = LogCapture::start();
    for path in ["/me", "/maybe"] {
        let response = failing_send(
            None,
            get_with_cookie(path, &format!("{COOKIE}={}", token.as_str())),
        )
        .await;
        assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        // Not "signed out": the cookie stays.
        assert!(no_set_cookie(&response.headers));
        assert_eq!(response.body, "Internal Server Error");
        assert!(!response.body.contains(token.as_str()));
    }
    let response = failing_send(None, bearer(Method::GET, "/me", token.as_str())).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);

    let logged = logs.text();
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(
        logged.contains(narvik_testkit::wrap::INJECTED_FAILURE),
        "the store's reason is logged: {logged}"
    );
    assert!(!logged.contains(token.as_str()), "{logged}");
}

/// A store whose one row does not decode, with the decoder's message
/// quoting the stored data, as serde_json's does.
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

#[actix_web::test]
async fn undecodable_session_data_is_a_500_and_stays_out_of_the_log() {
    let store = Wrapped::new(UndecodableStore);
    let app = App::new()
        .wrap(NarvikMiddleware::new(Narvik::new(store)))
        .route("/me", web::get().to(me));
    let token = Token::generate().expect("os rng");
    let (logs, _guard) = LogCapture::start();
    let response = send(
        app,
        get_with_cookie("/me", &format!("{COOKIE}={}", token.as_str())),
    )
    .await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!response.body.contains("secret"), "{}", response.body);
    let logged = logs.text();
    assert!(logged.contains("ERROR"), "{logged}");
    // The row to look at is named; what it holds is not.
    assert!(logged.contains(&token.session_id().to_string()), "{logged}");
    assert!(!logged.contains("secret"), "{logged}");
    assert!(!logged.contains(token.as_str()), "{logged}");
}

#[actix_web::test]
async fn the_store_error_status_is_configurable() {
    let token = Token::generate().expect("os rng");
    let response = failing_send(
        Some(StatusCode::SERVICE_UNAVAILABLE),
        get_with_cookie("/me", &format!("{COOKIE}={}", token.as_str())),
    )
    .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.body, "Service Unavailable");
}

#[actix_web::test]
async fn a_failing_sign_in_is_the_store_error_status_and_sets_no_cookie() {
    let (logs, _guard) = LogCapture::start();
    let response = failing_send(
        Some(StatusCode::SERVICE_UNAVAILABLE),
        same_origin_post("/sign-in"),
    )
    .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(no_set_cookie(&response.headers));
    assert!(logs.text().contains(narvik_testkit::wrap::INJECTED_FAILURE));
}

#[test]
fn a_non_5xx_store_error_status_is_refused() {
    let result = NarvikMiddleware::builder(Narvik::new(MemoryStore::<()>::new()))
        .store_error_status(StatusCode::UNAUTHORIZED)
        .build();
    assert!(matches!(result, Err(Error::InvalidStatus(_))));
}

#[test]
fn allowing_cross_site_is_refused_at_build_time() {
    let result = NarvikMiddleware::builder(Narvik::new(MemoryStore::<()>::new()))
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
    let result = NarvikMiddleware::builder(Narvik::new(MemoryStore::<()>::new()))
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

#[actix_web::test]
async fn typed_session_data_reaches_the_handler() {
    async fn sign_in(
        auth: SessionManager<MemoryStore<Device>>,
        request: HttpRequest,
    ) -> Result<HttpResponse, Error> {
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_owned();
        auth.sign_in("ada", Device { user_agent }).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    async fn device(session: CurrentSession<Device>) -> String {
        session.data.user_agent.clone()
    }
    let middleware = NarvikMiddleware::new(Narvik::new(MemoryStore::<Device>::new()));
    let app = || {
        App::new()
            .wrap(middleware.clone())
            .route("/sign-in", web::post().to(sign_in))
            .route("/device", web::get().to(device))
    };
    let response = send(
        app(),
        same_origin_post("/sign-in").header("user-agent", "narvik-test/1.0"),
    )
    .await;
    let cookie = the_set_cookie(&response.headers, COOKIE);
    let response = send(
        app(),
        get_with_cookie("/device", &format!("{COOKIE}={}", cookie.value())),
    )
    .await;
    assert_eq!(response.body, "narvik-test/1.0");
}

#[actix_web::test]
async fn a_shared_dyn_store_works_too() {
    use narvik_core::store::DynSessionStore;
    let store: Arc<dyn DynSessionStore<()>> = Arc::new(MemoryStore::new());
    let narvik = Arc::new(Narvik::new(store));
    let created = narvik.create_session("ada", ()).await.expect("create");
    let app = App::new()
        .app_data(web::Data::from(Arc::clone(&narvik)))
        .wrap(NarvikMiddleware::new(narvik))
        .route("/me", web::get().to(me));
    let response = send(
        app,
        get_with_cookie("/me", &format!("{COOKIE}={}", created.token.as_str())),
    )
    .await;
    assert_eq!(response.body, "ada");
}
