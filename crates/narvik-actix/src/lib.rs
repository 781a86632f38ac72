//! [actix-web](https://docs.rs/actix-web) integration for narvik: a
//! middleware that validates the session on every request, extractors for
//! handlers, cookie refresh and clearing, and a cross-origin check against
//! CSRF on every state-changing request. What
//! [narvik-axum](https://docs.rs/narvik-axum) gives axum, with the same
//! defaults and the same rules (both read tokens with
//! [`narvik_core::credentials`] and check origins with
//! [`narvik_core::cross_origin`]).
//!
//! A tiny app, driven in-process here (serve it with `HttpServer` as
//! usual):
//!
//! ```
//! use actix_web::http::{StatusCode, header};
//! use actix_web::{App, HttpResponse, test, web};
//! use narvik_actix::{CurrentSession, Error, NarvikMiddleware, SessionManager};
//! use narvik_core::{Config, Narvik, store::MemoryStore};
//!
//! async fn home(session: CurrentSession) -> String {
//!     format!("hello, {}", session.user_id)
//! }
//!
//! async fn sign_in(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
//!     // The app has checked the password (or passkey, or OAuth) by now.
//!     auth.sign_in("ada", ()).await?;
//!     Ok(HttpResponse::NoContent().finish())
//! }
//!
//! async fn sign_out(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
//!     auth.sign_out().await?;
//!     Ok(HttpResponse::NoContent().finish())
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! // `secure(false)` only because this example talks plain HTTP.
//! let config = Config::builder().secure(false).build()?;
//! let narvik: Narvik<MemoryStore> = Narvik::with_config(MemoryStore::new(), config);
//! let middleware = NarvikMiddleware::new(narvik);
//! let app = test::init_service(
//!     App::new()
//!         .wrap(middleware)
//!         .route("/", web::get().to(home))
//!         .route("/sign-in", web::post().to(sign_in))
//!         .route("/sign-out", web::post().to(sign_out)),
//! )
//! .await;
//!
//! // Without a session, the home page is 401.
//! let response = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! // Signing in (from the site's own page: Origin matches Host) sets the cookie.
//! let request = test::TestRequest::post()
//!     .uri("/sign-in")
//!     .insert_header((header::HOST, "localhost:8080"))
//!     .insert_header((header::ORIGIN, "http://localhost:8080"))
//!     .to_request();
//! let response = test::call_service(&app, request).await;
//! let set_cookie = response.headers().get(header::SET_COOKIE).ok_or("no cookie")?.to_str()?;
//! assert!(set_cookie.contains("HttpOnly"));
//! let cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
//!
//! // The cookie opens the home page.
//! let request = test::TestRequest::get()
//!     .uri("/")
//!     .insert_header((header::COOKIE, cookie))
//!     .to_request();
//! let response = test::call_service(&app, request).await;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Map of the crate
//!
//! - [`NarvikMiddleware`] (built with [`NarvikMiddlewareBuilder`]), for
//!   `App::wrap`: reads the token from the session cookie or
//!   `Authorization: Bearer`, checks where every state-changing request
//!   comes from, validates once per request, and writes the session
//!   cookie on the way out. [`NarvikService`] is the service it wraps
//!   around the app.
//! - [`CurrentSession`]: the extractor for "a session is required" (`401`
//!   otherwise, customisable); [`OptionalSession`] for "a session if
//!   there is one".
//! - [`SessionManager`]: sign in (cookie or bearer; remember-me and
//!   browser-session cookies with [`sign_in_with`](SessionManager::sign_in_with)),
//!   rotate the token ([`Rotation`]), step-up freshness, session data
//!   updates, sign out, sign out everywhere (else), and the
//!   [`Narvik`](narvik_core::Narvik) manager for everything else.
//! - [`Error`]: this crate's one error, a [`ResponseError`](actix_web::ResponseError);
//!   handlers can return it with `?` (the store-error status for store
//!   failures, 403 for a cross-origin sign-in). [`SessionRejection`] is
//!   the extractors' rejection.
//! - [`AuthMethod`]: how a request presented its token.
//!
//! The manager itself can go into `web::Data` as well (pass the middleware
//! an `Arc<Narvik<S>>` and keep a clone), for handlers that list or revoke
//! sessions without a request's own.
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
//! - A request still in flight with a token rotated moments ago (by
//!   [`SessionManager::rotate`] or a sign-in over it) has no session, and
//!   gets no blank cookie: that would sign the browser out of the new one.
//!
//! ## Cross-origin requests (CSRF)
//!
//! Every state-changing request (any method but GET, HEAD, OPTIONS,
//! TRACE) is checked before the store or the handler is reached, with or
//! without a cookie, by the rules of [`narvik_core::cross_origin`]
//! (those of narvik-axum, and of Go 1.25's `CrossOriginProtection`):
//!
//! - allowed: `Sec-Fetch-Site: same-origin` (or a value allowed with
//!   [`allow_sec_fetch_site`](NarvikMiddlewareBuilder::allow_sec_fetch_site));
//!   without it, an `Origin` that equals the request's own (`Host` with the
//!   [request scheme](NarvikMiddlewareBuilder::request_scheme): set `https`
//!   in production) or an [allow-listed](NarvikMiddlewareBuilder::allow_origin)
//!   origin, compared exactly after parsing;
//! - allowed: requests with a bearer header and no session cookie, and
//!   requests with neither `Sec-Fetch-Site` nor `Origin` and no session
//!   cookie (no browser sent them);
//! - passed without their session: cross-origin requests to an
//!   [exempt path](NarvikMiddlewareBuilder::exempt_path) (webhooks);
//! - refused with `403 Forbidden`, logged at debug level only: everything
//!   else, including a request with the session cookie and neither
//!   header.
//!
//! [`SessionManager::sign_in`] checks again before it sets the cookie
//! (login CSRF); call [`SessionManager::check_sign_in_origin`] first in a
//! handler that does other work before signing in.
//!
//! ## Several session cookies (cookie tossing)
//!
//! When the cookie's name repeats (another host of the site planted one
//! for a parent domain or a longer path), up to three values with a
//! token's shape are tried in header order and the first valid session
//! wins, so a planted value cannot sign the user out; when none is valid
//! the response clears the middleware's own host-only cookie. Use a
//! `__Host-` cookie name wherever the site is served over HTTPS, so that
//! no other host can plant one; see
//! [`CookieTokens`](narvik_core::credentials::CookieTokens).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod extract;
mod middleware;
mod request;
mod service;

pub use error::Error;
pub use extract::{CurrentSession, OptionalSession, Rotation, SessionManager, SessionRejection};
pub use middleware::{NarvikMiddleware, NarvikMiddlewareBuilder};
pub use narvik_core::credentials::AuthMethod;
pub use service::NarvikService;
