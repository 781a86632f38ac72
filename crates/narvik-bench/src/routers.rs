//! The three routers the benchmark and the load harness compare, with the
//! same two routes each: `GET /me` (a handler that reads the user id) and
//! `POST /sign-in` (a handler that starts a session).
//!
//! - bare: no session layer; the handlers answer a fixed user id / 204.
//! - tower-sessions 0.15 with its `MemoryStore`: the user id is a value in
//!   the session.
//! - narvik-axum with narvik's `MemoryStore`.
//!
//! Each is populated with [`SESSIONS`] live sessions, and every request
//! carries the same headers (Host and a same-site Origin; a session cookie
//! for reads) so only the session layer differs. Each router is made with
//! `with_state(())`, as `axum::serve` does (`Router::into_make_service`),
//! so its routes are built once and not for every request.
//!
//! Used by `benches/axum_overhead.rs` (time), `examples/axum_load.rs`
//! (64 tasks) and `examples/axum_allocations.rs` (heap allocations).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::middleware::AddExtension;
use axum::routing::{get, post};
use http::{HeaderValue, Request, Response, StatusCode, header};
use narvik_axum::{CurrentSession, NarvikLayer, NarvikService, SessionManager};
use narvik_core::store::MemoryStore;
use narvik_core::{Config, Narvik};
use tower::{Layer, ServiceExt};

/// Live sessions in each store.
pub const SESSIONS: usize = 100_000;

const HOST: &str = "bench.example.com";
const ORIGIN: &str = "https://bench.example.com";

/// A router and valid session cookies for it (`name=value`).
pub struct Subject {
    /// `bare`, `tower-sessions` or `narvik`.
    pub name: &'static str,
    /// The router with both routes (and the session layer, if any).
    pub router: App,
    /// One valid session cookie per live session (`name=value`; a dummy
    /// one for the bare router).
    pub cookies: Vec<HeaderValue>,
    store: Store,
}

/// The subject's store, to delete the sessions a sign-in bench created so
/// that every sample runs at [`SESSIONS`] live sessions.
enum Store {
    None,
    Tower(tower_sessions::MemoryStore),
    Narvik(Arc<Narvik<MemoryStore>>),
}

/// A distinct user id per sign-in (both layers pay the same `format!`),
/// as in real traffic: one user with millions of sessions is not.
fn next_user() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("user-new-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Subject {
    /// Signs in once; returns the `name=value` of the session cookie, if
    /// one was set.
    ///
    /// # Panics
    ///
    /// If the sign-in does not answer `204 No Content`.
    pub async fn sign_in(&self) -> Option<HeaderValue> {
        let response = self.router.respond(sign_in_request()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let set_cookie = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
        HeaderValue::from_str(set_cookie.split(';').next()?).ok()
    }

    /// Deletes the sessions behind `cookies` (from [`Self::sign_in`]).
    ///
    /// # Panics
    ///
    /// If a store fails.
    pub async fn forget(&self, cookies: Vec<HeaderValue>) {
        let values = cookies.iter().filter_map(|c| {
            let pair = c.to_str().ok()?;
            Some(pair.split_once('=')?.1.to_owned())
        });
        match &self.store {
            Store::None => {}
            Store::Tower(store) => {
                use tower_sessions::SessionStore as _;
                for value in values {
                    let id = value.parse().expect("tower-sessions id");
                    store.delete(&id).await.expect("delete");
                }
            }
            Store::Narvik(narvik) => {
                for value in values {
                    let id = narvik_core::SessionId::from_token(&value);
                    narvik.invalidate_session(&id).await.expect("delete");
                }
            }
        }
    }
}

/// `GET /me` with cookie `cookie`.
///
/// # Panics
///
/// Never: the request is built from constants.
pub fn read_request(cookie: &HeaderValue) -> Request<Body> {
    let mut request = Request::get("/me")
        .header(header::HOST, HOST)
        .body(Body::empty())
        .expect("request");
    request.headers_mut().insert(header::COOKIE, cookie.clone());
    request
}

/// `POST /sign-in` from the site's own page, without a cookie.
///
/// # Panics
///
/// Never: the request is built from constants.
pub fn sign_in_request() -> Request<Body> {
    Request::post("/sign-in")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .body(Body::empty())
        .expect("request")
}

/// Sends a request and checks the status, so a misconfigured router
/// cannot pass for a fast one.
///
/// # Panics
///
/// If the response's status is not `expect`.
pub async fn call(app: &App, request: Request<Body>, expect: StatusCode) {
    let response = app.respond(request).await;
    assert_eq!(response.status(), expect);
}

/// Where the session layer sits: the two forms axum apps use.
#[derive(Clone)]
pub enum App {
    /// `Router::layer`: the layer wraps each route (axum's usual form, and
    /// the only one for the bare router).
    Routes(Router),
    /// axum's `Extension` layer around the whole router
    /// (`Extension(..).layer(router)`), which then runs once per request
    /// before routing, as a layer that rewrites requests must.
    ExtensionOutside(AddExtension<Router, Arc<str>>),
    /// narvik's layer around the whole router
    /// (`NarvikLayer::new(..).layer(router)`).
    NarvikOutside(NarvikService<Router, MemoryStore>),
}

impl App {
    /// Sends a request through a clone, as a server does per connection.
    ///
    /// # Panics
    ///
    /// Never: axum routers do not fail.
    pub async fn respond(&self, request: Request<Body>) -> Response<Body> {
        match self {
            Self::Routes(router) => router.clone().oneshot(request).await,
            Self::ExtensionOutside(app) => app.clone().oneshot(request).await,
            Self::NarvikOutside(app) => app.clone().oneshot(request).await,
        }
        .expect("infallible")
    }
}

/// The same body as the session routers' handlers: the user id as a
/// `String` (theirs is the session's, so it cannot be borrowed), so that
/// the handler's own allocation is not counted as the layer's.
async fn bare_me() -> String {
    String::from("user-0")
}

/// The bare router: no session layer, the same routes.
#[must_use]
pub fn bare() -> Subject {
    let router = Router::new()
        .route("/me", get(bare_me))
        .route("/sign-in", post(|| async { StatusCode::NO_CONTENT }))
        .with_state(());
    Subject {
        name: "bare",
        router: App::Routes(router),
        cookies: vec![HeaderValue::from_static("id=none")],
        store: Store::None,
    }
}

async fn extension_me(axum::Extension(user): axum::Extension<Arc<str>>) -> String {
    user.as_ref().to_owned()
}

/// The least any layer that hands a handler per-request data adds on
/// axum routes: axum's own `Extension` layer, inserting one `Arc<str>` into
/// each request's extensions (no validation, no future of its own), and a
/// handler that reads it. For the allocation counts, as a floor.
#[must_use]
pub fn extension_only() -> Subject {
    let router = Router::new()
        .route("/me", get(extension_me))
        .route("/sign-in", post(|| async { StatusCode::NO_CONTENT }))
        .layer(axum::Extension(Arc::<str>::from("user-0")))
        .with_state(());
    Subject {
        name: "axum Extension",
        router: App::Routes(router),
        cookies: vec![HeaderValue::from_static("id=none")],
        store: Store::None,
    }
}

async fn ts_me(session: tower_sessions::Session) -> Result<String, StatusCode> {
    session
        .get::<String>("user_id")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::UNAUTHORIZED)
}

async fn ts_sign_in(session: tower_sessions::Session) -> StatusCode {
    match session.insert("user_id", next_user()).await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// tower-sessions 0.15 with its `MemoryStore`, populated with
/// [`SESSIONS`] sessions through its own sign-in route.
///
/// # Panics
///
/// If a sign-in fails.
pub async fn tower_sessions() -> Subject {
    let store = tower_sessions::MemoryStore::default();
    let layer = tower_sessions::SessionManagerLayer::new(store.clone()).with_secure(false);
    let router = Router::new()
        .route("/me", get(ts_me))
        .route("/sign-in", post(ts_sign_in))
        .layer(layer)
        .with_state(());
    // Populate through the router: tower-sessions' store API needs its
    // record type; a sign-in per session is what an app would do.
    let mut cookies = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let response = router
            .clone()
            .oneshot(sign_in_request())
            .await
            .expect("infallible");
        let set_cookie = response.headers()[header::SET_COOKIE]
            .to_str()
            .expect("ascii");
        let pair = set_cookie.split(';').next().expect("name=value");
        cookies.push(HeaderValue::from_str(pair).expect("header"));
    }
    Subject {
        name: "tower-sessions",
        router: App::Routes(router),
        cookies,
        store: Store::Tower(store),
    }
}

async fn narvik_me(session: CurrentSession) -> String {
    session.user_id.to_string()
}

async fn narvik_sign_in(auth: SessionManager<MemoryStore>) -> StatusCode {
    match auth.sign_in(next_user(), ()).await {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The routes of [`extension_only`], with the `Extension` layer around
/// the whole router ([`App::ExtensionOutside`]).
#[must_use]
pub fn extension_outside() -> Subject {
    let router = Router::new()
        .route("/me", get(extension_me))
        .route("/sign-in", post(|| async { StatusCode::NO_CONTENT }))
        .with_state(());
    Subject {
        name: "Extension outside",
        router: App::ExtensionOutside(axum::Extension(Arc::<str>::from("user-0")).layer(router)),
        cookies: vec![HeaderValue::from_static("id=none")],
        store: Store::None,
    }
}

/// A narvik with narvik's `MemoryStore` holding [`SESSIONS`] sessions, one
/// user each, and their cookies.
async fn populated_narvik() -> (Arc<Narvik<MemoryStore>>, Vec<HeaderValue>) {
    let config = Config::builder().secure(false).build().expect("config");
    let narvik: Arc<Narvik<MemoryStore>> =
        Arc::new(Narvik::with_config(MemoryStore::new(), config));
    let mut cookies = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let created = narvik
            .create_session(format!("user-{i}"), ())
            .await
            .expect("create");
        let pair = format!("{}={}", narvik.cookie_name(), created.token.as_str());
        cookies.push(HeaderValue::from_str(&pair).expect("header"));
    }
    (narvik, cookies)
}

/// The two routes, without a layer, for narvik.
fn narvik_routes() -> Router {
    Router::new()
        .route("/me", get(narvik_me))
        .route("/sign-in", post(narvik_sign_in))
}

/// narvik-axum with narvik's `MemoryStore`, populated with [`SESSIONS`]
/// sessions, one user each; the layer on the routes (`Router::layer`).
///
/// # Panics
///
/// If a session cannot be created.
pub async fn narvik() -> Subject {
    let (narvik, cookies) = populated_narvik().await;
    let router = narvik_routes()
        .layer(NarvikLayer::new(Arc::clone(&narvik)))
        .with_state(());
    Subject {
        name: "narvik",
        router: App::Routes(router),
        cookies,
        store: Store::Narvik(narvik),
    }
}

/// [`narvik`] with the layer around the whole router
/// ([`App::NarvikOutside`]).
///
/// # Panics
///
/// If a session cannot be created.
pub async fn narvik_outside() -> Subject {
    let (narvik, cookies) = populated_narvik().await;
    let app = NarvikLayer::new(Arc::clone(&narvik)).layer(narvik_routes().with_state(()));
    Subject {
        name: "narvik outside",
        router: App::NarvikOutside(app),
        cookies,
        store: Store::Narvik(narvik),
    }
}
