//! The extractors: [`CurrentSession`] (required), [`OptionalSession`] (if
//! there is one) and [`SessionManager`] (sign in, sign out).

use std::any::Any;
use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use narvik_core::credentials::AuthMethod;
use narvik_core::store::{SessionStore, UserSessionStore};
use narvik_core::{Narvik, NewSession, Session, SessionId, SessionOptions, UserId};

use crate::Error;
use crate::middleware::{MiddlewareShared, Shared};
use crate::service::{Action, RequestState, StateExtension, Target};

/// The request's validated session: the extractor for handlers that need
/// one.
///
/// Derefs to the [`Session`], so `session.user_id` reads the user.
/// `D` is the session data type of the middleware's store (`()` by
/// default).
///
/// **On failure**: without a valid session, the rejection answers with the
/// middleware's unauthorized response, by default `401 Unauthorized` with
/// the body `Unauthorized` (customise it with
/// [`NarvikMiddlewareBuilder::unauthorized`](crate::NarvikMiddlewareBuilder::unauthorized)).
/// Without a [`NarvikMiddleware`](crate::NarvikMiddleware) for this `D`
/// around the route, it is `500 Internal Server Error` (a wiring mistake,
/// never "signed out").
///
/// Use [`OptionalSession<D>`] for handlers that work either way.
/// (`Option<CurrentSession<D>>` works too, but actix-web turns every
/// failure into `None`, a missing middleware included; that one is still
/// logged at error level.)
///
/// ```
/// use narvik_actix::{CurrentSession, OptionalSession};
///
/// async fn home(session: CurrentSession) -> String {
///     format!("signed in as {}", session.user_id)
/// }
///
/// async fn landing(session: OptionalSession) -> &'static str {
///     if session.is_some() { "welcome back" } else { "hello, stranger" }
/// }
/// # let _ = actix_web::web::get().to(home);
/// # let _ = actix_web::web::get().to(landing);
/// ```
///
/// Extracting it copies nothing: it shares the middleware's per-request
/// state, so `D` need not be `Clone` and large session data costs nothing
/// per request.
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

    /// True if validation extended the session on this request (the
    /// middleware re-sends the cookie).
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

/// The request's state, if a middleware for data type `D` put it there.
fn state<D: 'static>(request: &HttpRequest) -> Result<Arc<RequestState<D>>, SessionRejection> {
    request
        .extensions()
        .get::<StateExtension<D>>()
        .map(|ext| Arc::clone(&ext.0))
        .ok_or_else(SessionRejection::missing_middleware)
}

impl<D: 'static> FromRequest for CurrentSession<D> {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state::<D>(request).and_then(|state| {
            current(&state).ok_or_else(|| SessionRejection {
                kind: Kind::Unauthorized {
                    request: request.clone(),
                    shared: Arc::clone(&state.shared),
                },
            })
        }))
    }
}

/// The request's validated session if there is one: the extractor for
/// handlers that work either way.
///
/// `None` without a valid session; extraction fails only without a
/// [`NarvikMiddleware`](crate::NarvikMiddleware) for this `D` around the
/// route (`500 Internal Server Error`). Derefs to
/// `Option<CurrentSession<D>>`; [`into_inner`](Self::into_inner) takes it.
///
/// ```
/// use narvik_actix::OptionalSession;
///
/// async fn greet(session: OptionalSession) -> String {
///     match session.into_inner() {
///         Some(session) => format!("hello, {}", session.user_id),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// # let _ = actix_web::web::get().to(greet);
/// ```
pub struct OptionalSession<D = ()>(Option<CurrentSession<D>>);

impl<D> OptionalSession<D> {
    /// The session, if there is one.
    pub fn into_inner(self) -> Option<CurrentSession<D>> {
        self.0
    }
}

impl<D> Deref for OptionalSession<D> {
    type Target = Option<CurrentSession<D>>;

    fn deref(&self) -> &Option<CurrentSession<D>> {
        &self.0
    }
}

impl<D> Clone for OptionalSession<D> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<D: fmt::Debug> fmt::Debug for OptionalSession<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OptionalSession").field(&self.0).finish()
    }
}

impl<D: 'static> FromRequest for OptionalSession<D> {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state::<D>(request).map(|state| Self(current(&state))))
    }
}

/// Why [`CurrentSession`], [`OptionalSession`] or [`SessionManager`] could
/// not be extracted. A [`ResponseError`]: actix-web answers with it.
pub struct SessionRejection {
    kind: Kind,
}

enum Kind {
    /// No valid session: the middleware's unauthorized response, built
    /// only when actix-web asks for it (an `Option<CurrentSession>` never
    /// does).
    Unauthorized {
        request: HttpRequest,
        shared: Arc<dyn MiddlewareShared>,
    },
    MissingMiddleware,
}

impl SessionRejection {
    fn missing_middleware() -> Self {
        // Logged here, where it happens: `Option<CurrentSession>` would
        // otherwise hide the wiring mistake.
        tracing::error!(
            "narvik: a session extractor ran on a route without a matching NarvikMiddleware"
        );
        Self {
            kind: Kind::MissingMiddleware,
        }
    }

    /// True if the request had no valid session (the response is the
    /// middleware's unauthorized one, `401` by default).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.kind, Kind::Unauthorized { .. })
    }

    /// True if no [`NarvikMiddleware`](crate::NarvikMiddleware) with this
    /// store or data type wraps the route (the response is `500`).
    pub fn is_missing_middleware(&self) -> bool {
        matches!(self.kind, Kind::MissingMiddleware)
    }
}

impl fmt::Debug for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Unauthorized { .. } => "Unauthorized",
            Kind::MissingMiddleware => "MissingMiddleware",
        };
        f.debug_struct("SessionRejection")
            .field("kind", &kind)
            .finish()
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Unauthorized { .. } => f.write_str("no valid session"),
            Kind::MissingMiddleware => f.write_str("NarvikMiddleware missing on this route"),
        }
    }
}

impl std::error::Error for SessionRejection {}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        match self.kind {
            Kind::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Kind::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.kind {
            Kind::Unauthorized { request, shared } => shared.options().unauthorized(request),
            Kind::MissingMiddleware => HttpResponse::InternalServerError().body(
                "session middleware missing: wrap this route in NarvikMiddleware with the same store type",
            ),
        }
    }
}

/// Signs users in and out from a handler; the middleware then writes the
/// session cookie on the response.
///
/// `S` is the middleware's store type. The handler's decision wins over
/// the middleware's own refresh or clearing, and a response carries at
/// most one `Set-Cookie` for the session cookie; when a handler calls
/// several of these, the last one decides the cookie.
///
/// **On failure**: extraction fails only without a
/// [`NarvikMiddleware`](crate::NarvikMiddleware) for store `S` around the
/// route: `500 Internal Server Error`.
///
/// ```
/// use actix_web::HttpResponse;
/// use narvik_actix::{Error, SessionManager};
/// use narvik_core::store::MemoryStore;
///
/// // Browser sign-in: the middleware sets the cookie.
/// async fn sign_in(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
///     // ... check the password first ...
///     auth.sign_in("user-42", ()).await?;
///     Ok(HttpResponse::NoContent().finish())
/// }
///
/// // API sign-in: the token goes in the body, no cookie.
/// async fn token(auth: SessionManager<MemoryStore>) -> Result<String, Error> {
///     let created = auth.sign_in_bearer("user-42", ()).await?;
///     Ok(created.token.as_str().to_owned())
/// }
///
/// async fn sign_out(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
///     auth.sign_out().await?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// # let _ = actix_web::web::post().to(sign_in);
/// # let _ = actix_web::web::post().to(token);
/// # let _ = actix_web::web::post().to(sign_out);
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

impl<S: SessionStore + 'static> FromRequest for SessionManager<S> {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(state::<S::Data>(request).and_then(|state| {
            // A middleware over another store type with the same data type
            // is still the wrong middleware.
            let shared: Arc<dyn MiddlewareShared> = Arc::clone(&state.shared);
            let shared: Arc<dyn Any + Send + Sync> = shared;
            let shared = shared
                .downcast::<Shared<S>>()
                .map_err(|_| SessionRejection::missing_middleware())?;
            Ok(Self { shared, state })
        }))
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
    /// they are) and has the middleware set the session cookie on the
    /// response. The session has the configured length and a persistent
    /// cookie; see [`sign_in_with`](Self::sign_in_with) for others
    /// (remember-me).
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
    /// use actix_web::{HttpResponse, web};
    /// use narvik_actix::{Error, SessionManager};
    /// use narvik_core::SessionOptions;
    /// use narvik_core::store::MemoryStore;
    ///
    /// async fn sign_in(
    ///     auth: SessionManager<MemoryStore>,
    ///     form: web::Query<std::collections::HashMap<String, String>>,
    /// ) -> Result<HttpResponse, Error> {
    ///     // ... check the password first ...
    ///     let options = if form.contains_key("remember") {
    ///         SessionOptions::persistent(Duration::from_secs(30 * 24 * 3600))
    ///     } else {
    ///         SessionOptions::browser_session(Duration::from_secs(12 * 3600))
    ///     };
    ///     auth.sign_in_with("ada", (), options).await?;
    ///     Ok(HttpResponse::NoContent().finish())
    /// }
    /// # let _ = web::post().to(sign_in);
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
    /// It is stricter than the middleware's check, which has let the
    /// request through: a state-changing request may set the session
    /// cookie only when `Sec-Fetch-Site` or `Origin` shows the site's own
    /// page (or an allowed origin), even on an exempt path or with a
    /// bearer header, and not when neither header came (a client outside
    /// a browser that wants the cookie sends `Origin`). Safe methods pass
    /// (an OAuth callback is a `GET` from elsewhere; its `state` parameter
    /// protects it). With the check off
    /// ([`NarvikMiddlewareBuilder::csrf`](crate::NarvikMiddlewareBuilder::csrf)),
    /// always `Ok`.
    ///
    /// ```
    /// use actix_web::HttpResponse;
    /// use narvik_actix::{Error, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// async fn sign_up(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
    ///     auth.check_sign_in_origin()?;
    ///     // ... create the account: a forged request never gets here ...
    ///     auth.sign_in("new-user", ()).await?;
    ///     Ok(HttpResponse::Created().finish())
    /// }
    /// # let _ = actix_web::web::post().to(sign_up);
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
    /// For a cookie session the middleware sets the new cookie on this
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
    /// use actix_web::HttpResponse;
    /// use narvik_actix::{Error, Rotation, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// async fn promote(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
    ///     // ... the user became an admin ...
    ///     Ok(match auth.rotate().await? {
    ///         // A bearer client gets its new token; a browser, its cookie.
    ///         Some(Rotation::Bearer(created)) => HttpResponse::Ok().body(created.token.as_str().to_owned()),
    ///         Some(_) => HttpResponse::NoContent().finish(),
    ///         None => HttpResponse::Unauthorized().finish(),
    ///     })
    /// }
    /// # let _ = actix_web::web::post().to(promote);
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
        Ok(Some(if method == AuthMethod::Bearer {
            Rotation::Bearer(rotated)
        } else {
            let cookie = narvik.cookie_for(&rotated.token, &rotated.session);
            pending.action = Some(Action::SetCookie(cookie));
            Rotation::Cookie(rotated.session)
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
    /// use actix_web::HttpResponse;
    /// use actix_web::http::header::LOCATION;
    /// use narvik_actix::{Error, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// const SUDO: Duration = Duration::from_secs(5 * 60);
    ///
    /// async fn delete_account(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
    ///     if !auth.is_fresh(SUDO) {
    ///         return Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/confirm-password")).finish());
    ///     }
    ///     // ... delete the account ...
    ///     Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/")).finish())
    /// }
    ///
    /// async fn confirm(auth: SessionManager<MemoryStore>) -> Result<HttpResponse, Error> {
    ///     // ... check the password for the session's user first ...
    ///     auth.mark_reauthenticated().await?;
    ///     auth.rotate().await?;
    ///     Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/delete-account")).finish())
    /// }
    /// # let _ = actix_web::web::post().to(delete_account);
    /// # let _ = actix_web::web::post().to(confirm);
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
    /// sees it ([`session`](Self::session) and [`CurrentSession`] in this
    /// one still show the data it arrived with). `Ok(false)` without a
    /// session, or if it is gone: an update never re-creates a signed-out
    /// session.
    ///
    /// ```
    /// use narvik_actix::{Error, SessionManager};
    /// use narvik_core::store::MemoryStore;
    ///
    /// async fn switch_org(auth: SessionManager<MemoryStore<String>>) -> Result<&'static str, Error> {
    ///     if auth.update_data("org-2".to_owned()).await? {
    ///         Ok("switched")
    ///     } else {
    ///         Ok("signed out")
    ///     }
    /// }
    /// # let _ = actix_web::web::post().to(switch_org);
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

    /// Ends the request's session, if any, and has the middleware clear
    /// the session cookie (not for a bearer-authenticated request, which
    /// gets no cookies). Signing out without a session is not an error.
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
    /// A cookie session: the middleware sets the new cookie on the
    /// response.
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
