//! [`NarvikService`]: what [`NarvikMiddleware`](crate::NarvikMiddleware)
//! wraps around the app, and the per-request state it shares with the
//! extractors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderMap, HeaderValue, SET_COOKIE};
use narvik_core::credentials::{AuthMethod, sets_cookie_named};
use narvik_core::cross_origin::{Decision, Refusal};
use narvik_core::store::SessionStore;
use narvik_core::{Narvik, SessionId, Timestamp, Token, UserId, ValidSession, Validation};

use crate::error::{log_narvik_error, plain};
use crate::middleware::{MiddlewareShared, Shared};
use crate::request;

/// The service [`NarvikMiddleware`](crate::NarvikMiddleware) produces.
/// Not built by hand.
pub struct NarvikService<Svc, S> {
    service: Rc<Svc>,
    shared: Arc<Shared<S>>,
}

impl<Svc, S> NarvikService<Svc, S> {
    pub(crate) fn new(service: Rc<Svc>, shared: Arc<Shared<S>>) -> Self {
        Self { service, shared }
    }
}

impl<Svc, S> fmt::Debug for NarvikService<Svc, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NarvikService")
            .field("narvik", &self.shared.narvik)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// The response future: actix-web's services run on one thread, so it
/// need not be `Send`.
type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<Svc, B, S> Service<ServiceRequest> for NarvikService<Svc, S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionStore + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        Box::pin(handle(
            Rc::clone(&self.service),
            Arc::clone(&self.shared),
            request,
        ))
    }
}

/// One request: check, validate, call the app, write the cookie.
async fn handle<Svc, B, S>(
    service: Rc<Svc>,
    shared: Arc<Shared<S>>,
    request: ServiceRequest,
) -> Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S: SessionStore + 'static,
{
    let (narvik, options) = (&shared.narvik, &shared.options);
    let checked = {
        let credential = request::credential(request.head(), narvik.cookie_name(), options.bearer);
        let verdict = request::check_origin(&options.cross_origin, request.head(), credential);
        match verdict.request {
            Decision::Allow => {}
            Decision::PassWithoutCookie(refusal) => tracing::debug!(
                reason = refusal.reason(),
                "narvik: cross-origin request on an exempt path; its session cookie is not read"
            ),
            Decision::Refuse(refusal) => {
                return Ok(request.into_response(refuse(refusal)).map_into_right_body());
            }
        }
        let credential = credential.usable(verdict.request);
        match validate_first(narvik, credential.tokens()).await {
            Ok(found) => Validated::new(found, credential.method(), verdict.sign_in),
            Err(err) => {
                log_narvik_error(&err, "session validation failed");
                let response = plain(options.store_error_status);
                return Ok(request.into_response(response).map_into_right_body());
            }
        }
    };
    let state = Arc::new(RequestState {
        shared: Arc::clone(&shared) as Arc<dyn MiddlewareShared>,
        current: checked.current,
        method: checked.method,
        sign_in: checked.sign_in,
        pending: Mutex::new(Pending {
            action: None,
            target: Target::Validated,
            proved_at: None,
        }),
    });
    request
        .extensions_mut()
        .insert(StateExtension(Arc::clone(&state)));
    let mut response = service.call(request).await?;
    let cookie = match state.take_action() {
        Some(Action::SetCookie(value)) => CookieAfter::Set(value),
        Some(Action::ClearCookie) => CookieAfter::Clear,
        None => checked.cookie,
    };
    let current = state.current.as_ref().map(|valid| &valid.session);
    write_cookie(narvik, response.headers_mut(), cookie, current);
    Ok(response.map_into_left_body())
}

/// What validating the request's token values found, trying them in
/// order (one store read each) until one is a live session.
///
/// # Errors
///
/// The first store error: a failing store is never "no session".
async fn validate_first<'t, S: SessionStore>(
    narvik: &Narvik<S>,
    tokens: &[&'t str],
) -> Result<Found<'t, S::Data>, narvik_core::Error> {
    let mut found = Found::Nothing;
    for token in tokens {
        match narvik.validate(token).await? {
            Validation::Valid(valid) => return Ok(Found::Valid(valid, token)),
            Validation::Rotated => found = Found::Rotated,
            Validation::Invalid => {}
        }
    }
    Ok(found)
}

/// What validating the request's token values found.
enum Found<'a, D> {
    /// No value is a session.
    Nothing,
    /// No value is a live session, but one is a session rotated moments
    /// ago: a request that was in flight during the rotation.
    Rotated,
    /// A live session, and the token value that stands for it.
    Valid(ValidSession<D>, &'a str),
}

/// What validation found, before the app runs.
struct Validated<D> {
    current: Option<ValidSession<D>>,
    method: Option<AuthMethod>,
    sign_in: Result<(), Refusal>,
    /// What the response does with the cookie unless the handler decides.
    cookie: CookieAfter,
}

impl<D> Validated<D> {
    /// `found`: what validating the request's token values found.
    fn new(found: Found<'_, D>, method: Option<AuthMethod>, sign_in: Result<(), Refusal>) -> Self {
        let (cookie, current) = match (method, found) {
            (Some(AuthMethod::Cookie), Found::Valid(valid, token)) if valid.extended => {
                let cookie = Token::parse(token).map_or(CookieAfter::Keep, CookieAfter::Extended);
                (cookie, Some(valid))
            }
            (_, Found::Valid(valid, _)) => (CookieAfter::Keep, Some(valid)),
            // Rotated while this request was in flight: the browser holds
            // the new cookie by now (or will, from the rotation's
            // response), and a blank one here would sign it out.
            (_, Found::Rotated) => (CookieAfter::Keep, None),
            // No value of the cookie is a session. The blank cookie clears
            // only the host-only one at `Path=/`: a value planted for a
            // parent domain or another path stays, and is tried again.
            (Some(AuthMethod::Cookie), Found::Nothing) => (CookieAfter::Clear, None),
            (_, Found::Nothing) => (CookieAfter::Keep, None),
        };
        Self {
            current,
            method,
            sign_in,
            cookie,
        }
    }
}

/// What the response does with the session cookie: the handler's
/// [`Action`] if it took one, else what validation found.
enum CookieAfter {
    Keep,
    /// Send it again for a session that validation extended, with the new
    /// `Max-Age` (RFC 6265bis 4.1.2.2) for a persistent cookie, which
    /// never outlasts the session's `expires_at`.
    Extended(Token),
    /// Set this `Set-Cookie` value: a sign-in's or rotation's new token.
    Set(String),
    /// Clear it: a sign-out, or a cookie that holds no valid session (so
    /// the browser stops sending it).
    Clear,
}

/// Sets at most one `Set-Cookie` for the session cookie. `current`: the
/// session validation found, which an extension's cookie is for.
fn write_cookie<S: SessionStore>(
    narvik: &Narvik<S>,
    headers: &mut HeaderMap,
    cookie: CookieAfter,
    current: Option<&narvik_core::Session<S::Data>>,
) {
    let name = narvik.cookie_name();
    match cookie {
        CookieAfter::Keep => {}
        CookieAfter::Extended(token) => {
            if let Some(session) = current {
                let value = narvik.cookie_for(&token, session);
                set_session_cookie(headers, value, name, true);
            }
        }
        CookieAfter::Set(value) => {
            set_session_cookie(headers, value, name, true);
        }
        CookieAfter::Clear => {
            let value = narvik.blank_cookie_header().to_owned();
            set_session_cookie(headers, value, name, false);
        }
    }
}

/// Appends the session cookie's `Set-Cookie` (`live` unless it is the
/// blank cookie), first dropping any `Set-Cookie` the handler wrote for
/// the same name: a response carries at most one (RFC 6265bis 4.1.1), and
/// the middleware's is the one that matches the store.
fn set_session_cookie(headers: &mut HeaderMap, value: String, name: &str, live: bool) {
    let Ok(value) = HeaderValue::try_from(value) else {
        // The core's configuration check keeps name and attributes to
        // cookie-octets, and tokens are base32; this cannot happen, but a
        // missing cookie beats a panic.
        tracing::error!("narvik: session cookie is not a valid header value; not sent");
        return;
    };
    if headers.contains_key(SET_COOKIE) {
        let kept: Vec<HeaderValue> = headers
            .get_all(SET_COOKIE)
            .filter(|v| !sets_cookie_named(v.as_bytes(), name))
            .cloned()
            .collect();
        headers.remove(SET_COOKIE);
        for v in kept {
            headers.append(SET_COOKIE, v);
        }
    }
    headers.append(SET_COOKIE, value);
    // A response that hands out a session must not be stored by a shared
    // cache and replayed to someone else. Leave an explicit choice alone.
    if live && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// `403 Forbidden` for a request the cross-origin check refused. Logged at
/// debug level only: any site can send one through its visitors.
fn refuse(refusal: Refusal) -> actix_web::HttpResponse {
    tracing::debug!(
        reason = refusal.reason(),
        "narvik: state-changing request refused by the cross-origin check"
    );
    plain(StatusCode::FORBIDDEN)
}

/// What a handler asked for through [`SessionManager`](crate::SessionManager).
#[derive(Debug)]
pub(crate) enum Action {
    /// The `Set-Cookie` value for a new token, from
    /// [`Narvik::cookie_for`](narvik_core::Narvik::cookie_for).
    SetCookie(String),
    ClearCookie,
}

/// Which session the handler's calls act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The one validation found, if any.
    Validated,
    /// One the handler started (sign-in) or rotated to in this request,
    /// with its user and how its token travels.
    Replaced {
        id: SessionId,
        user_id: UserId,
        method: AuthMethod,
    },
    /// None: the handler signed out.
    Ended,
}

/// What the handler did to the request's session, in order; the last
/// decision wins.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) action: Option<Action>,
    pub(crate) target: Target,
    /// When the user last proved who they are, if the handler changed it
    /// (a sign-in or [`mark_reauthenticated`](crate::SessionManager::mark_reauthenticated)).
    pub(crate) proved_at: Option<Timestamp>,
}

/// The per-request state the middleware shares with the extractors.
pub(crate) struct RequestState<D> {
    /// The middleware's shared part, type-erased so that one extension,
    /// found by `D` alone, serves every extractor.
    pub(crate) shared: Arc<dyn MiddlewareShared>,
    /// The session the request's token stands for, if it validated.
    pub(crate) current: Option<ValidSession<D>>,
    /// How the request presented a token (valid or not), if it did.
    pub(crate) method: Option<AuthMethod>,
    /// Whether a handler may set the session cookie on this request: the
    /// cross-origin check's verdict for a sign-in (always `Ok` for safe
    /// methods, or with the check off).
    pub(crate) sign_in: Result<(), Refusal>,
    pending: Mutex<Pending>,
}

impl<D> RequestState<D> {
    /// The handler's decisions so far, to read or change.
    pub(crate) fn pending(&self) -> MutexGuard<'_, Pending> {
        // A poisoned lock only means another holder panicked; the value
        // itself is always valid.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_action(&self) -> Option<Action> {
        self.pending().action.take()
    }
}

/// The extension the extractors find by session data type.
pub(crate) struct StateExtension<D>(pub(crate) Arc<RequestState<D>>);
