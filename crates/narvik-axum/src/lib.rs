//! [axum](https://docs.rs/axum) and [tower](https://docs.rs/tower)
//! integration for narvik: a layer that validates the session on every
//! request, extractors for handlers, cookie refresh and clearing, and an
//! origin check against CSRF.
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
//!   from the session cookie or `Authorization: Bearer`, checks the origin
//!   of state-changing cookie requests, validates once per request, and
//!   writes the session cookie on the way out. [`NarvikService`] is the
//!   service it wraps around the app.
//! - [`CurrentSession`]: the extractor for "a session is required"
//!   (`401` otherwise, customisable), and `Option<CurrentSession>` for "a
//!   session if there is one".
//! - [`SessionManager`]: sign in (cookie or bearer), sign out, sign out
//!   everywhere (else), and the [`Narvik`](narvik_core::Narvik) manager
//!   for everything else.
//! - [`Error`]: this crate's one error; handlers can return it with `?`
//!   (the store-error status for store failures, 403 for a cross-origin
//!   sign-in). [`SessionRejection`] is the extractors' rejection.
//!
//! # Security
//!
//! - The token is read from the cookie or the bearer header only, never
//!   from the URL. Several `Cookie` headers are read (HTTP/2 splits them);
//!   when the session cookie's name repeats, the first value with a
//!   token's shape is used, and only that one is validated.
//! - A store failure is the configured 5xx (500 by default), logged with
//!   [`tracing::error!`]; never "signed out", never let through. Neither
//!   the log nor the body holds a token or session data.
//! - State-changing requests that carry the session cookie must pass an
//!   origin check (Lucia's recommendation; see
//!   [`NarvikLayerBuilder::csrf`]), as must a cookie sign-in. Bearer
//!   requests are exempt: a cross-site page cannot add the header.
//! - A sign-in ends the request's previous session (no fixation), and a
//!   response carries at most one `Set-Cookie` for the session cookie.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod credentials;
mod error;
mod extract;
mod layer;
mod origin;
mod service;

pub use error::Error;
pub use extract::{AuthMethod, CurrentSession, SessionManager, SessionRejection};
pub use layer::{NarvikLayer, NarvikLayerBuilder};
pub use service::{NarvikService, ResponseFuture};
