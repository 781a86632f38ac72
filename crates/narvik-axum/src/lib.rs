//! [axum](https://docs.rs/axum) and [tower](https://docs.rs/tower)
//! integration for narvik: a layer that validates the session on every
//! request, extractors for handlers, cookie refresh and clearing, and a
//! cross-origin check against CSRF on every state-changing request.
//!
//! A tiny app, driven in-process here (serve it with `axum::serve` as
//! usual):
//!
//! ```
//! use axum::{Router, body::Body, routing::{get, post}};
//! use http::{Request, StatusCode, header};
//! use narvik_axum::{CurrentSession, Error, NarvikLayer, SessionManager};
//! use narvik_core::{Config, Narvik, store::MemoryStore};
//! use tower::ServiceExt;
//!
//! async fn home(session: CurrentSession) -> String {
//!     format!("hello, {}", session.user_id)
//! }
//!
//! async fn sign_in(auth: SessionManager<MemoryStore>) -> Result<StatusCode, Error> {
//!     // The app has checked the password (or passkey, or OAuth) by now.
//!     auth.sign_in("ada", ()).await?;
//!     Ok(StatusCode::NO_CONTENT)
//! }
//!
//! async fn sign_out(auth: SessionManager<MemoryStore>) -> Result<StatusCode, Error> {
//!     auth.sign_out().await?;
//!     Ok(StatusCode::NO_CONTENT)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // `secure(false)` only because this example talks plain HTTP.
//! let config = Config::builder().secure(false).build()?;
//! let narvik: Narvik<MemoryStore> = Narvik::with_config(MemoryStore::new(), config);
//! let app = Router::new()
//!     .route("/", get(home))
//!     .route("/sign-in", post(sign_in))
//!     .route("/sign-out", post(sign_out))
//!     .layer(NarvikLayer::new(narvik));
//!
//! // Without a session, the home page is 401.
//! let response = app.clone().oneshot(Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! // Signing in (from the site's own page: Origin matches Host) sets the cookie.
//! let response = app
//!     .clone()
//!     .oneshot(
//!         Request::post("/sign-in")
//!             .header(header::HOST, "localhost:3000")
//!             .header(header::ORIGIN, "http://localhost:3000")
//!             .body(Body::empty())?,
//!     )
//!     .await?;
//! let set_cookie = response.headers()[header::SET_COOKIE].to_str()?;
//! assert!(set_cookie.contains("HttpOnly"));
//! let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
//!
//! // The cookie opens the home page.
//! let response = app
//!     .oneshot(Request::get("/").header(header::COOKIE, cookie).body(Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Map of the crate
//!
//! - [`NarvikLayer`] (built with [`NarvikLayerBuilder`]): reads the token
//!   from the session cookie or `Authorization: Bearer`, checks where
//!   every state-changing request comes from, validates once per request,
//!   and writes the session cookie on the way out. [`NarvikService`] is the
//!   service it wraps around the app.
//! - [`CurrentSession`]: the extractor for "a session is required"
//!   (`401` otherwise, customisable), and `Option<CurrentSession>` for "a
//!   session if there is one".
//! - [`SessionManager`]: sign in (cookie or bearer; with
//!   [`sign_in_with`](SessionManager::sign_in_with), remember-me or a
//!   browser-session cookie), [`rotate`](SessionManager::rotate) (a new
//!   token and its cookie in one call; [`Rotation`] says which), step-up
//!   ([`mark_reauthenticated`](SessionManager::mark_reauthenticated),
//!   [`is_fresh`](SessionManager::is_fresh)), data updates
//!   ([`update_data`](SessionManager::update_data)), sign out, sign out
//!   everywhere (else), and the [`Narvik`](narvik_core::Narvik) manager
//!   for everything else.
//! - [`Error`]: this crate's one error; handlers can return it with `?`
//!   (the store-error status for store failures, 403 for a cross-origin
//!   sign-in; [`Error::status`] for apps that wrap it).
//!   [`SessionRejection`] is the extractors' rejection.
//!
//! # On the routes or around the router
//!
//! `Router::layer` (as above) puts the layer on each route, as axum's own
//! layers are usually added; the layer then runs for the routes added
//! before it (axum's rule for every layer). The layer can also wrap the whole router,
//! `NarvikLayer::new(narvik).layer(router)` served with
//! `into_make_service()`, where it runs once per request before routing,
//! for unmatched paths too. The second form costs two heap allocations
//! fewer per request, because axum's per-route wrapping is not paid
//! (BENCHMARKS.md: 3 beyond a bare router instead of 5 for an
//! authenticated read). The behaviour is otherwise the same, except that
//! no route escapes it: exempt a webhook with
//! [`exempt_path`](NarvikLayerBuilder::exempt_path) there.
//!
//! # Security
//!
//! - The token is read from the cookie or the bearer header only, never
//!   from the URL. Several `Cookie` headers are read (HTTP/2 splits them).
//! - A store failure is the configured 5xx (500 by default), logged with
//!   [`tracing::error!`]; never "signed out", never let through. Neither
//!   the log nor the body holds a token or session data.
//! - A sign-in ends the request's previous session (no fixation), and a
//!   response carries at most one `Set-Cookie` for the session cookie.
//! - A request still in flight with a cookie whose session was rotated
//!   (or replaced by a sign-in) moments ago is answered as signed out, and
//!   gets no blank cookie: that would sign the browser out of the new
//!   session the rotation's response set. Meanwhile the old token grants
//!   nothing: an attacker holding it gets only "signed out"
//!   ([`Validation::Rotated`](narvik_core::Validation::Rotated), for
//!   [`ROTATED_MARKER_TTL`](narvik_core::ROTATED_MARKER_TTL)).
//! - Cookies come from [`Narvik::cookie_for`](narvik_core::Narvik::cookie_for)
//!   on sign-in, rotation and extension: a browser-session cookie stays
//!   one (no `Max-Age`), a remember-me cookie gets its session's length.
//!
//! ## Cross-origin requests (CSRF)
//!
//! Every state-changing request (any method but GET, HEAD, OPTIONS,
//! TRACE) is checked before the store or the handler is reached, with or
//! without a cookie, as Go 1.25's `CrossOriginProtection` does; the rules
//! live in [`narvik_core::cross_origin`], shared by every framework
//! integration. In short:
//!
//! - allowed: `Sec-Fetch-Site: same-origin` (or a value allowed with
//!   [`allow_sec_fetch_site`](NarvikLayerBuilder::allow_sec_fetch_site));
//!   without it, an `Origin` that equals the request's own (`Host` with the
//!   [request scheme](NarvikLayerBuilder::request_scheme): set `https`
//!   in production) or an [allow-listed](NarvikLayerBuilder::allow_origin)
//!   origin, compared exactly after parsing;
//! - allowed: requests with a bearer header and no session cookie (a page
//!   on another site cannot add the header), and requests with neither
//!   `Sec-Fetch-Site` nor `Origin` and no session cookie (no browser sent
//!   them: curl, servers, apps);
//! - passed without their session: cross-origin requests to an
//!   [exempt path](NarvikLayerBuilder::exempt_path) (webhooks);
//! - refused with `403 Forbidden`, logged at debug level only (any site
//!   can cause one): everything else, including a request with the
//!   session cookie and neither header.
//!
//! [`SessionManager::sign_in`] checks again before it sets the cookie
//! (login CSRF) and needs the site's own origin (or an allowed one) even
//! where the layer let the request through; call
//! [`SessionManager::check_sign_in_origin`] first in a handler that does
//! other work before signing in (creating an account).
//!
//! What the check cannot protect: state changes behind `GET` (never
//! checked); attacks from a subdomain when `same-site` is allowed; XSS on
//! the site or an allowed origin; non-browser clients, which send what
//! they like (they act for themselves, not for a visitor). See
//! [`narvik_core::cross_origin`] for the whole list.
//!
//! ## Several session cookies (cookie tossing)
//!
//! Another host of the site (a sibling subdomain, perhaps the attacker's)
//! can set a cookie of the same name for the parent domain or a longer
//! path; the browser then sends both, the planted one usually first, and
//! nothing says which is ours. The layer tries up to three values with a
//! token's shape in header order (one store lookup each) and the first
//! valid session wins, so a planted value cannot sign the user out. When
//! none is valid the response clears the cookie, which removes only the
//! layer's own host-only cookie (`Path=/`, no `Domain`): a planted one for
//! a parent domain stays and is tried again on the next request. A planted
//! value that is a valid session of the attacker's can still win if it
//! comes first: use a `__Host-` cookie name
//! ([`Config::builder().cookie_name("__Host-session")`](narvik_core::ConfigBuilder::cookie_name))
//! wherever the site is served over HTTPS: browsers accept a `__Host-`
//! cookie only from the host itself, `Secure`, with `Path=/` and no
//! `Domain`, so no other host can plant one.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod credentials;
mod error;
mod extract;
// Not part of the API: the fuzz targets' entry points.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
mod layer;
mod origin;
mod service;

pub use error::Error;
pub use extract::{AuthMethod, CurrentSession, Rotation, SessionManager, SessionRejection};
pub use layer::{NarvikLayer, NarvikLayerBuilder};
pub use service::{NarvikService, ResponseFuture};
