//! The extractors: [`CurrentSession`] (required, or `Option` for "if there
//! is one") and [`SessionManager`] (sign in, sign out).

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use narvik_core::store::{SessionStore, UserSessionStore};
use narvik_core::{Narvik, NewSession, Session, SessionId, SessionOptions, UserId};

pub use narvik_core::credentials::AuthMethod;

use crate::Error;
use crate::layer::{LayerShared, Shared};
use crate::service::{Action, RequestState, StateExtension, Target};

/// The request's validated session: the extractor for routes that need
/// one.
///
/// Derefs to the [`Session`], so `session.user_id` reads the user.
/// `D` is the session data type of the layer's store (`()` by default).
///
/// **On failure**: without a valid session, the rejection is the layer's
/// unauthorized response, by default `401 Unauthorized` with the body
/// `Unauthorized` (customise it with
/// [`NarvikLayerBuilder::unauthorized`](crate::NarvikLayerBuilder::unauthorized)).
/// Without a [`NarvikLayer`](crate::NarvikLayer) for this `D` on the route,
/// it is `500 Internal Server Error` (a wiring mistake, never "signed
/// out").
///
/// Use `Option<CurrentSession<D>>` for routes that work either way: it is
/// `None` without a valid session and fails only when the layer is
/// missing.
///
/// ```
/// use narvik_axum::CurrentSession;
///
/// async fn home(session: CurrentSession) -> String {
///     format!("signed in as {}", session.user_id)
/// }
///
/// async fn landing(session: Option<CurrentSession>) -> &'static str {
///     if session.is_some() { "welcome back" } else { "hello, stranger" }
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(home).post(landing);
/// ```
///
/// Extracting it copies nothing: it shares the layer's per-request state,
/// so `D` need not be `Clone` and large session data costs nothing per
/// request.
pub struct CurrentSession<D = ()> {
    /// Always holds a validated session: only [`current`] makes one.
    state: Arc<RequestState<D>>,
}

impl<D> CurrentSession<D> {
    /// The session, with its expiry already moved if validation extended
    /// it.
    pub fn session(&self) -> &Session<D> {
        self
    }

    /// How the request presented the token.
    pub fn method(&self) -> AuthMethod {
        // A validated session always came with a token, so a method.
        self.state.method.unwrap_or(AuthMethod::Cookie)
    }

    /// True if validation extended the session on this request (the layer
    /// re-sends the cookie).
    pub fn extended(&self) -> bool {
        self.state.current.as_ref().is_some_and(|v| v.extended)
    }
}

impl<D> Deref for CurrentSession<D> {
    type Target = Session<D>;

    fn deref(&self) -> &Session<D> {
        match &self.state.current {
            Some(valid) => &valid.session,
            // `current` below is the only constructor, and it checks.
            None => unreachable!("a CurrentSession always holds a validated session"),
        }
    }
}

impl<D> Clone for CurrentSession<D> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<D: fmt::Debug> fmt::Debug for CurrentSession<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentSession")
            .field("session", self.session())
            .field("method", &self.method())
            .field("extended", &self.extended())
            .finish()
    }
}

fn current<D>(state: &Arc<RequestState<D>>) -> Option<CurrentSession<D>> {
    state.current.as_ref()?;
    Some(CurrentSession {
        state: Arc::clone(state),
    })
}

fn state<D: Send + Sync + 'static>(
    parts: &Parts,
) -> Result<&Arc<RequestState<D>>, SessionRejection> {
    parts
        .extensions
        .get::<StateExtension<D>>()
        .map(|ext| &ext.0)
        .ok_or(SessionRejection::MissingLayer)
}

impl<St, D> FromRequestParts<St> for CurrentSession<D>
where
    St: Send + Sync,
    D: Send + Sync + 'static,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let parts: &Parts = parts;
        let state = state::<D>(parts)?;
        current(state).ok_or_else(|| {
            SessionRejection::Unauthorized(Box::new(state.options().unauthorized(parts)))
        })
    }
}

impl<St, D> OptionalFromRequestParts<St> for CurrentSession<D>
where
    St: Send + Sync,
    D: Send + Sync + 'static,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &St,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(current(state::<D>(parts)?))
    }
}

/// Why [`CurrentSession`] or [`SessionManager`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No valid session. Responds with the layer's unauthorized response
    /// (default `401 Unauthorized`, body `Unauthorized`).
    Unauthorized(Box<Response>),
    /// No [`NarvikLayer`](crate::NarvikLayer) with this store or data type
    /// wraps the route. Responds `500 Internal Server Error` with a body
    /// that says so.
    MissingLayer,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized(response) => *response,
            Self::MissingLayer => {
                tracing::error!(
                    "narvik: a session extractor ran on a route without a matching NarvikLayer"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "session layer missing: add NarvikLayer to this route with the same store type",
                )
                    .into_response()
            }
        }
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthorized(_) => f.write_str("no valid session"),
            Self::MissingLayer => f.write_str("NarvikLayer missing on this route"),
        }
    }
}

impl std::error::Error for SessionRejection {}

/// Signs users in and out from a handler; the layer then writes the
/// session cookie on the response.
///
/// `S` is the layer's store type. The handler's decision wins over the
/// layer's own refresh or clearing, and a response carries at most one
/// `Set-Cookie` for the session cookie; when a handler calls several of
/// these, the last one decides the cookie.
///
/// **On failure**: extraction fails only without a
/// [`NarvikLayer`](crate::NarvikLayer) for store `S` on the route:
/// `500 Internal Server Error` ([`SessionRejection::MissingLayer`]).
///
/// ```
/// use http::StatusCode;
/// use narvik_axum::{Error, SessionManager};
/// use narvik_core::store::MemoryStore;
///
/// // Browser sign-in: the layer sets the cookie.
/// async fn sign_in(auth: SessionManager<MemoryStore>) -> Result<StatusCode, Error> {
///     // ... check the password first ...
///     auth.sign_in("user-42", ()).await?;
///     Ok(StatusCode::NO_CONTENT)
/// }
///
/// // API sign-in: the token goes in the body, no cookie.
/// async fn token(auth: SessionManager<MemoryStore>) -> Result<String, Error> {
///     let created = auth.sign_in_bearer("user-42", ()).await?;
///     Ok(created.token.as_str().to_owned())
/// }
///
/// async fn sign_out(auth: SessionManager<MemoryStore>) -> Result<StatusCode, Error> {
///     auth.sign_out().await?;
///     Ok(StatusCode::NO_CONTENT)
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(sign_in).put(token).delete(sign_out);
/// ```
pub struct SessionManager<S: SessionStore> {
    shared: Arc<Shared<S>>,
    state: Arc<RequestState<S::Data>>,
}

impl<S: SessionStore> Clone for SessionManager<S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            state: Arc::clone(&self.state),
        }
    }
}

impl<S: SessionStore> fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("narvik", &self.shared.narvik)
            .field(
                "session_id",
                &self.state.current.as_ref().map(|v| v.session.id),
            )
            .finish_non_exhaustive()
    }
}

impl<St, S> FromRequestParts<St> for SessionManager<S>
where
    St: Send + Sync,
    S: SessionStore + 'static,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let state = state::<S::Data>(parts)?;
        // A layer over another store type with the same data type is
        // still the wrong layer.
        let shared: Arc<dyn LayerShared> = Arc::clone(&state.shared);
        let shared: Arc<dyn Any + Send + Sync> = shared;
        let shared = shared
            .downcast::<Shared<S>>()
            .map_err(|_| SessionRejection::MissingLayer)?;
        Ok(Self {
            shared,
            state: Arc::clone(state),
        })
    }
}

impl<S: SessionStore> SessionManager<S> {
    /// The session manager, for the calls not wrapped here (listing a
    /// user's sessions, revoking one by id, purging).
    pub fn narvik(&self) -> &Narvik<S> {
        &self.shared.narvik
    }

    /// The request's validated session, if any (as it was when the request
    /// arrived: a sign-in, rotation, data update or sign-out in this
    /// handler does not change it).
    pub fn session(&self) -> Option<&Session<S::Data>> {
        self.state.current.as_ref().map(|v| &v.session)
    }

    /// How the request presented its token, if it presented one.
    pub fn method(&self) -> Option<AuthMethod> {
        self.state.method
    }

    fn error(&self, source: narvik_core::Error) -> Error {
        Error::Narvik {
            source,
            status: self.shared.options.store_error_status,
        }
    }

    /// The session the calls here act on, with its user and how its token
    /// travels: the validated one, or the one this handler signed in or
    /// rotated to; none after a sign-out.
    fn target(&self) -> Option<(SessionId, UserId, AuthMethod)> {
        match &self.state.pending().target {
            Target::Validated => self.state.current.as_ref().map(|v| {
                (
                    v.session.id,
                    v.session.user_id.clone(),
                    self.state.method.unwrap_or(AuthMethod::Cookie),
                )
            }),
            Target::Replaced {
                id,
                user_id,
                method,
            } => Some((*id, user_id.clone(), *method)),
            Target::Ended => None,
        }
    }

    /// Ends the request's current session, if any, before a sign-in, so a
    /// sign-in always gets a new token and the old one stops working
    /// (session fixation: SECURITY.md, ASVS 4.0.3 V3.2.1 and 5.0.0 V7.2.4).
    ///
    /// The old session is retired ([`Narvik::retire_session`]): left as a
    /// rotation marker rather than deleted, so that requests still in
    /// flight with the old cookie are answered as signed out without the
    /// blank cookie that would undo this sign-in's.
    async fn end_before_sign_in(&self) -> Result<(), Error> {
        let Some((id, ..)) = self.target() else {
            return Ok(());
        };
        self.shared
            .narvik
            .retire_session(&id)
            .await
            .map_err(|e| self.error(e))
    }

    /// Records a session the handler started, for the calls after it.
    fn started(&self, session: &Session<S::Data>, method: AuthMethod, cookie: Option<String>) {
        let mut pending = self.state.pending();
        pending.target = Target::Replaced {
            id: session.id,
            user_id: session.user_id.clone(),
            method,
        };
        pending.proved_at = Some(session.created_at);
        if let Some(cookie) = cookie {
            pending.action = Some(Action::SetCookie(cookie));
        }
    }

    /// Starts a session for `user_id` (call it once the user has proved who
    /// they are) and has the layer set the session cookie on the response.
    /// The session has the configured length and a persistent cookie; see
    /// [`sign_in_with`](Self::sign_in_with) for others (remember-me).
    ///
    /// The request's current session, if any, is ended first. Returns the
    /// new session but not its token: the token goes only into the
    /// `HttpOnly` cookie, out of reach of page scripts, and a handler that
    /// never holds it cannot echo it into a page. Use
    /// [`sign_in_bearer`](Self::sign_in_bearer) when the client needs the
    /// token itself.
    ///
    /// # Errors
    ///
    /// [`Error::CrossOrigin`] (403) if the request is state-changing and
    /// nothing shows that the site's own page sent it (see
    /// [`check_sign_in_origin`](Self::check_sign_in_origin)): a cross-site
    /// form must not sign the browser into someone else's account (login
    /// CSRF). [`Error::Narvik`] (the store-error status) if the store
    /// fails.
    pub async fn sign_in(
        &self,
        user_id: impl Into<UserId>,
        data: S::Data,
    ) -> Result<Session<S::Data>, Error> {
        self.sign_in_with(user_id, data, SessionOptions::default())
            .await
    }

    /// [`sign_in`](Self::sign_in) with the session's own length and kind
    /// of cookie: for a "remember me" box, a persistent cookie with a long
    /// length when it is ticked, a browser-session cookie (no `Max-Age`,
    /// gone when the browser closes) with a short one when it is not. The
    /// cookie is [`Narvik::cookie_for`]'s, on sign-in and on every
    /// extension after it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::{Form, Router, body::Body, routing::post};
    /// use http::{Request, StatusCode, header};
    /// use narvik_axum::{Error, NarvikLayer, SessionManager};
    /// use narvik_core::{Config, Narvik, SessionOptions, store::MemoryStore};
    /// use tower::ServiceExt;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct SignIn {
    ///     remember: Option<String>,
    /// }
    ///
    /// async fn sign_in(
    ///     auth: SessionManager<MemoryStore>,
    ///     Form(form): Form<SignIn>,
    /// ) -> Result<StatusCode, Error> {
    ///     // ... check the password first ...
    ///     let options = if form.remember.is_some() {
    ///         SessionOptions::persistent(Duration::from_secs(30 * 24 * 3600))
    ///     } else {
    ///         SessionOptions::browser_session(Duration::from_secs(12 * 3600))
    ///     };
    ///     auth.sign_in_with("ada", (), options).await?;
    ///     Ok(StatusCode::NO_CONTENT)
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = Config::builder().secure(false).build()?;
    /// let app = Router::new()
    ///     .route("/sign-in", post(sign_in))
    ///     .layer(NarvikLayer::new(Narvik::with_config(MemoryStore::<()>::new(), config)));
    /// let post = |body: &'static str| {
    ///     Request::post("/sign-in")
    ///         .header(header::HOST, "localhost")
    ///         .header(header::ORIGIN, "http://localhost")
    ///         .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    ///         .body(Body::from(body))
    /// };
    /// let remembered = app.clone().oneshot(post("remember=on")?).await?;
    /// let cookie = remembered.headers()[header::SET_COOKIE].to_str()?;
    /// assert!(cookie.contains("Max-Age=2592000"), "{cookie}");
    /// let this_visit = app.oneshot(post("")?).await?;
    /// let cookie = this_visit.headers()[header::SET_COOKIE].to_str()?;
    /// assert!(!cookie.contains("Max-Age") && !cookie.contains("Expires"), "{cookie}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`sign_in`](Self::sign_in).
    pub async fn sign_in_with(
        &self,
        user_id: impl Into<UserId>,
        data: S::Data,
        options: SessionOptions,
    ) -> Result<Session<S::Data>, Error> {
        self.check_sign_in_origin()?;
        self.end_before_sign_in().await?;
        let narvik = &self.shared.narvik;
        let created = narvik
            .create_session_with(user_id, data, options)
            .await
            .map_err(|e| self.error(e))?;
        let cookie = narvik.cookie_for(&created.token, &created.session);
        self.started(&created.session, AuthMethod::Cookie, Some(cookie));
        Ok(created.session)
    }

    /// The cross-origin check of [`sign_in`](Self::sign_in), on its own:
    /// call it first in a handler that does other work before it signs
    /// the user in (creating the account at sign-up, say), so that a
    /// refused request changes nothing.
    ///
    /// It is stricter than the layer's check, which has let the request
    /// through: a state-changing request may set the session cookie only
    /// when `Sec-Fetch-Site` or `Origin` shows the site's own page (or an
    /// allowed origin), even on an exempt path or with a bearer header,
    /// and not when neither header came (a client outside a browser that
    /// wants the cookie sends `Origin`). Safe methods pass (an OAuth
    /// callback is a `GET` from elsewhere; its `state` parameter protects
    /// it). With the check off ([`NarvikLayerBuilder::csrf`](crate::NarvikLayerBuilder::csrf)),
    /// always `Ok`.
    ///
    /// ```
    /// use http::StatusCode;
    /// use narvik_axum::{Error, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// async fn sign_up(auth: SessionManager<MemoryStore>) -> Result<StatusCode, Error> {
    ///     auth.check_sign_in_origin()?;
    ///     // ... create the account: a forged request never gets here ...
    ///     auth.sign_in("new-user", ()).await?;
    ///     Ok(StatusCode::CREATED)
    /// }
    /// # let _: axum::routing::MethodRouter = axum::routing::post(sign_up);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::CrossOrigin`] (403) if the request may not be signed in.
    /// Logged at debug level: any site can cause it.
    pub fn check_sign_in_origin(&self) -> Result<(), Error> {
        self.state.sign_in.map_err(|refusal| {
            tracing::debug!(
                reason = refusal.reason(),
                "narvik: sign-in refused by the cross-origin check"
            );
            Error::CrossOrigin
        })
    }

    /// Starts a session for a bearer client (an API or mobile client):
    /// like [`sign_in`](Self::sign_in) but sets no cookie; hand
    /// `token.as_str()` to the client, which sends it back as
    /// `Authorization: Bearer <token>`.
    ///
    /// The request's current session, if any, is ended first. No origin
    /// check: no cookie is set, so a cross-site page gains nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails.
    pub async fn sign_in_bearer(
        &self,
        user_id: impl Into<UserId>,
        data: S::Data,
    ) -> Result<NewSession<S::Data>, Error> {
        self.sign_in_bearer_with(user_id, data, SessionOptions::default())
            .await
    }

    /// [`sign_in_bearer`](Self::sign_in_bearer) with the session's own
    /// length ([`SessionOptions`]; the kind of cookie does not matter to a
    /// bearer client).
    ///
    /// # Errors
    ///
    /// As [`sign_in_bearer`](Self::sign_in_bearer).
    pub async fn sign_in_bearer_with(
        &self,
        user_id: impl Into<UserId>,
        data: S::Data,
        options: SessionOptions,
    ) -> Result<NewSession<S::Data>, Error> {
        self.end_before_sign_in().await?;
        let created = self
            .shared
            .narvik
            .create_session_with(user_id, data, options)
            .await
            .map_err(|e| self.error(e))?;
        self.started(&created.session, AuthMethod::Bearer, None);
        Ok(created)
    }

    /// Gives the current session a new token (ASVS 4.0.3 3.2.1, 5.0
    /// 7.2.4), for a privilege change: a re-authentication, a role change,
    /// a sign-in over an existing session of the same user. The new
    /// session keeps the user, data, `created_at`, length and kind of
    /// cookie ([`Narvik::rotate_session`]).
    ///
    /// For a cookie session the layer sets the new cookie on this
    /// response and the token stays out of the handler's reach
    /// ([`Rotation::Cookie`]); for a bearer session there is no cookie, so
    /// the new token comes back to hand to the client
    /// ([`Rotation::Bearer`]). Once this returns, the old token grants
    /// nothing; requests still in flight with it are answered as signed
    /// out for that request only, and never get a blank cookie that would
    /// sign the browser out of the new session. The calls after this one
    /// in the handler act on the new session.
    ///
    /// `Ok(None)` without a session, or if it was revoked meanwhile.
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::{get, post}};
    /// use http::{Request, StatusCode, header};
    /// use narvik_axum::{CurrentSession, Error, NarvikLayer, SessionManager};
    /// use narvik_core::{Config, Narvik, store::MemoryStore};
    /// use tower::ServiceExt;
    ///
    /// async fn promote(auth: SessionManager<MemoryStore>) -> Result<StatusCode, Error> {
    ///     // ... the user became an admin ...
    ///     auth.rotate().await?;
    ///     Ok(StatusCode::NO_CONTENT)
    /// }
    ///
    /// async fn me(session: CurrentSession) -> String {
    ///     session.user_id.to_string()
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = Config::builder().secure(false).build()?;
    /// let narvik = std::sync::Arc::new(Narvik::with_config(MemoryStore::new(), config));
    /// let app = Router::new()
    ///     .route("/promote", post(promote))
    ///     .route("/me", get(me))
    ///     .layer(NarvikLayer::new(narvik.clone()));
    /// let old = narvik.create_session("ada", ()).await?;
    /// let old_cookie = format!("{}={}", narvik.cookie_name(), old.token.as_str());
    ///
    /// let response = app
    ///     .clone()
    ///     .oneshot(
    ///         Request::post("/promote")
    ///             .header(header::HOST, "localhost")
    ///             .header(header::ORIGIN, "http://localhost")
    ///             .header(header::COOKIE, &old_cookie)
    ///             .body(Body::empty())?,
    ///     )
    ///     .await?;
    /// let set_cookie = response.headers()[header::SET_COOKIE].to_str()?;
    /// let new_cookie = set_cookie.split(';').next().unwrap_or_default().to_owned();
    /// assert_ne!(new_cookie, old_cookie);
    ///
    /// // The old cookie is signed out, without a blank cookie in reply.
    /// let get = |cookie: &str| Request::get("/me").header(header::COOKIE, cookie).body(Body::empty());
    /// let response = app.clone().oneshot(get(&old_cookie)?).await?;
    /// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    /// assert!(response.headers().get(header::SET_COOKIE).is_none());
    /// // The new one works.
    /// let response = app.oneshot(get(&new_cookie)?).await?;
    /// assert_eq!(response.status(), StatusCode::OK);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails; see
    /// [`Narvik::rotate_session`] for what may be left then.
    pub async fn rotate(&self) -> Result<Option<Rotation<S::Data>>, Error> {
        let Some((id, _, method)) = self.target() else {
            return Ok(None);
        };
        let narvik = &self.shared.narvik;
        let Some(rotated) = narvik
            .rotate_session(&id)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(None);
        };
        let mut pending = self.state.pending();
        pending.target = Target::Replaced {
            id: rotated.session.id,
            user_id: rotated.session.user_id.clone(),
            method,
        };
        Ok(Some(match method {
            AuthMethod::Bearer => Rotation::Bearer(rotated),
            // The cookie, and any way a browser may come to present it.
            _ => {
                let cookie = narvik.cookie_for(&rotated.token, &rotated.session);
                pending.action = Some(Action::SetCookie(cookie));
                Rotation::Cookie(rotated.session)
            }
        }))
    }

    /// Records that the user proved who they are again (typed their
    /// password, used a passkey) in the current session, without a new
    /// session ([`Narvik::mark_reauthenticated`]); [`is_fresh`](Self::is_fresh)
    /// is true again from now. Consider [`rotate`](Self::rotate) after it.
    /// `Ok(false)` without a session, or if it is gone (nothing is
    /// created).
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::{Form, response::{IntoResponse, Redirect, Response}};
    /// use narvik_axum::{Error, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// const SUDO: Duration = Duration::from_secs(5 * 60);
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Confirm {
    ///     password: String,
    /// }
    ///
    /// async fn delete_account(auth: SessionManager<MemoryStore>) -> Result<Response, Error> {
    ///     if !auth.is_fresh(SUDO) {
    ///         return Ok(Redirect::to("/confirm-password").into_response());
    ///     }
    ///     // ... delete the account ...
    ///     Ok(Redirect::to("/").into_response())
    /// }
    ///
    /// async fn confirm(
    ///     auth: SessionManager<MemoryStore>,
    ///     Form(form): Form<Confirm>,
    /// ) -> Result<Response, Error> {
    ///     // ... check form.password for the session's user first ...
    ///     # let _ = form.password;
    ///     auth.mark_reauthenticated().await?;
    ///     auth.rotate().await?;
    ///     Ok(Redirect::to("/delete-account").into_response())
    /// }
    /// # let _: axum::routing::MethodRouter = axum::routing::post(delete_account).put(confirm);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails.
    pub async fn mark_reauthenticated(&self) -> Result<bool, Error> {
        let Some((id, ..)) = self.target() else {
            return Ok(false);
        };
        let narvik = &self.shared.narvik;
        let now = narvik.now();
        let marked = narvik
            .mark_reauthenticated(&id)
            .await
            .map_err(|e| self.error(e))?;
        if marked {
            self.state.pending().proved_at = Some(now);
        }
        Ok(marked)
    }

    /// True if the user proved who they are less than `max_age` ago in the
    /// current session: at sign-in, or by a re-authentication
    /// ([`mark_reauthenticated`](Self::mark_reauthenticated), in this
    /// request or before); see [`Narvik::is_fresh`]. Ask for the password
    /// again before a sensitive action when it is not ("sudo mode").
    /// False without a session.
    pub fn is_fresh(&self, max_age: Duration) -> bool {
        let proved_at = {
            let pending = self.state.pending();
            if pending.target == Target::Ended {
                return false;
            }
            pending.proved_at
        };
        let narvik = &self.shared.narvik;
        match (proved_at, self.session()) {
            // Proved in this request: at least as late as anything stored.
            (Some(at), _) => narvik.now() < at.saturating_add(max_age),
            // A rotation in this request keeps the times it copies.
            (None, Some(session)) => narvik.is_fresh(session, max_age),
            (None, None) => false,
        }
    }

    /// Replaces the current session's data (the active organisation, say)
    /// in the store ([`Narvik::update_session_data`]); the next request
    /// sees it ([`session`](Self::session) and
    /// [`CurrentSession`](crate::CurrentSession) in this one still show
    /// the data it arrived with). `Ok(false)` without a session, or if it
    /// is gone: an update never re-creates a signed-out session.
    ///
    /// ```
    /// use narvik_axum::{Error, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// async fn switch_org(auth: SessionManager<MemoryStore<String>>) -> Result<&'static str, Error> {
    ///     if auth.update_data("org-2".to_owned()).await? {
    ///         Ok("switched")
    ///     } else {
    ///         Ok("signed out")
    ///     }
    /// }
    /// # let _: axum::routing::MethodRouter = axum::routing::post(switch_org);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails or
    /// cannot encode `data`.
    pub async fn update_data(&self, data: S::Data) -> Result<bool, Error> {
        let Some((id, ..)) = self.target() else {
            return Ok(false);
        };
        self.shared
            .narvik
            .update_session_data(&id, data)
            .await
            .map_err(|e| self.error(e))
    }

    /// Ends the request's session, if any, and has the layer clear the
    /// session cookie (not for a bearer-authenticated request, which gets
    /// no cookies). Signing out without a session is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails; the
    /// cookie is then left alone, so the user is not shown as signed out
    /// while the session lives on.
    pub async fn sign_out(&self) -> Result<(), Error> {
        if let Some((id, ..)) = self.target() {
            self.shared
                .narvik
                .invalidate_session(&id)
                .await
                .map_err(|e| self.error(e))?;
        }
        self.ended();
        Ok(())
    }

    /// Records a sign-out: no session for the calls after it, and the
    /// cookie cleared.
    fn ended(&self) {
        let mut pending = self.state.pending();
        pending.target = Target::Ended;
        pending.proved_at = None;
        if self.state.method != Some(AuthMethod::Bearer) {
            pending.action = Some(Action::ClearCookie);
        }
    }
}

/// What [`SessionManager::rotate`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rotation<D> {
    /// A cookie session: the layer sets the new cookie on the response.
    Cookie(Session<D>),
    /// A bearer session: hand `token.as_str()` to the client, whose old
    /// token no longer works.
    Bearer(NewSession<D>),
}

impl<D> Rotation<D> {
    /// The new session.
    pub fn session(&self) -> &Session<D> {
        match self {
            Self::Cookie(session) => session,
            Self::Bearer(created) => &created.session,
        }
    }
}

impl<S: UserSessionStore> SessionManager<S> {
    /// Ends every session of the current user, this one included ("sign
    /// out everywhere"; also after a password change), and clears the
    /// cookie as [`sign_out`](Self::sign_out) does. Without a session it
    /// only clears the cookie.
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails,
    /// including `NotSupported` from a callback store without that
    /// callback.
    pub async fn sign_out_everywhere(&self) -> Result<(), Error> {
        if let Some((_, user_id, _)) = self.target() {
            self.shared
                .narvik
                .delete_sessions_for_user(&user_id)
                .await
                .map_err(|e| self.error(e))?;
        }
        self.ended();
        Ok(())
    }

    /// Ends every other session of the current user and keeps this one
    /// ("sign out everywhere else"; after a rotation in this request, the
    /// new one). Without a session it does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Narvik`] (the store-error status) if the store fails, as
    /// above.
    pub async fn sign_out_other_sessions(&self) -> Result<(), Error> {
        if let Some((id, user_id, _)) = self.target() {
            self.shared
                .narvik
                .delete_other_sessions_for_user(&user_id, &id)
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}
