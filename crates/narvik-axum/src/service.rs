//! [`NarvikService`]: what [`NarvikLayer`](crate::NarvikLayer) wraps
//! around the app, and the per-request state it shares with the
//! extractors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum_core::body::Body;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use narvik_core::store::SessionStore;
use narvik_core::{Timestamp, Token, ValidSession};
use tower_service::Service;

use crate::AuthMethod;
use crate::credentials::{self, Credential};
use crate::error::{log_narvik_error, plain};
use crate::layer::{LayerShared, Options, Shared};
use crate::origin::{self, Verdict};

/// The service [`NarvikLayer`](crate::NarvikLayer) produces. Not built by
/// hand.
///
/// Its responses have axum's [`Body`]; its errors are the inner service's
/// (for an axum `Router`, none).
pub struct NarvikService<I, S> {
    inner: I,
    shared: Arc<Shared<S>>,
}

impl<I, S> NarvikService<I, S> {
    pub(crate) fn new(inner: I, shared: Arc<Shared<S>>) -> Self {
        Self { inner, shared }
    }
}

impl<I: Clone, S> Clone for NarvikService<I, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<I: fmt::Debug, S> fmt::Debug for NarvikService<I, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NarvikService")
            .field("inner", &self.inner)
            .field("narvik", &self.shared.narvik)
            .field("options", &self.shared.options)
            .finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<I, S, ReqBody, ResBody> Service<Request<ReqBody>> for NarvikService<I, S>
where
    I: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send,
    S: SessionStore + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Response = Response<Body>;
    type Error = I::Error;
    type Future = BoxFuture<Result<Response<Body>, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call (tower's
        // usual swap): a fresh clone may not be ready.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(handle(inner, Arc::clone(&self.shared), request))
    }
}

/// What the response does with the session cookie: the handler's
/// [`Action`] if it took one, else what validation found.
enum CookieAfter {
    Keep,
    /// Set it: a sign-in's new token, or a session that validation extended,
    /// sent again with the new `Max-Age` (SECURITY E.16), which never
    /// outlasts the session's `expires_at`.
    Set(Token, Timestamp),
    /// Clear it: a sign-out, or a cookie that holds no valid session (so
    /// the browser stops sending it).
    Clear,
}

/// What a handler asked for through [`SessionManager`](crate::SessionManager).
#[derive(Debug)]
pub(crate) enum Action {
    SetCookie(Token, Timestamp),
    ClearCookie,
}

/// The per-request state the layer shares with the extractors.
pub(crate) struct RequestState<D> {
    /// The layer's shared part, type-erased so that one extension, found
    /// by `D` alone, serves both extractors (one allocation per request
    /// fewer than a second extension).
    pub(crate) shared: Arc<dyn LayerShared>,
    /// The session the request's token stands for, if it validated.
    pub(crate) current: Option<ValidSession<D>>,
    /// How the request presented a token (valid or not), if it did.
    pub(crate) method: Option<AuthMethod>,
    /// The origin check's verdict for this request (always `Allowed` for
    /// safe methods, bearer requests, or with the check off).
    pub(crate) origin: Verdict,
    action: Mutex<Option<Action>>,
}

impl<D> RequestState<D> {
    pub(crate) fn options(&self) -> &Options {
        self.shared.options()
    }

    /// Records the handler's decision; the last one wins.
    pub(crate) fn set_action(&self, action: Action) {
        // A poisoned lock only means another holder panicked; the slot
        // itself is always a valid value.
        *self.action.lock().unwrap_or_else(PoisonError::into_inner) = Some(action);
    }

    fn take_action(&self) -> Option<Action> {
        self.action
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The extension the extractors find by session data type.
pub(crate) struct StateExtension<D>(pub(crate) Arc<RequestState<D>>);

// Derived Clone would require `D: Clone`; the Arc is enough.
impl<D> Clone for StateExtension<D> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

async fn handle<I, S, ReqBody, ResBody>(
    mut inner: I,
    shared: Arc<Shared<S>>,
    request: Request<ReqBody>,
) -> Result<Response<Body>, I::Error>
where
    I: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S: SessionStore + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    // Work on the parts so that no borrow of the body is held across an
    // await (request bodies are `Send` but rarely `Sync`).
    let (mut parts, body) = request.into_parts();
    let (narvik, options) = (&shared.narvik, &shared.options);

    let credential = credentials::read(&parts.headers, narvik.cookie_name(), options.bearer);
    let origin = if options.csrf
        && !matches!(credential, Credential::Bearer(_))
        && !origin::is_safe(&parts.method)
    {
        options.origins.check(&parts.headers, &parts.uri)
    } else {
        Verdict::Allowed
    };
    if let (Credential::Cookie(_), Verdict::Refused(reason)) = (credential, origin) {
        tracing::debug!(
            reason,
            "narvik: state-changing request refused by the origin check"
        );
        return Ok(plain(StatusCode::FORBIDDEN));
    }

    let (method, token) = match credential {
        Credential::None => (None, None),
        Credential::Bearer(token) => (Some(AuthMethod::Bearer), Some(token)),
        Credential::Cookie(token) => (Some(AuthMethod::Cookie), token),
    };
    let current = match token {
        Some(token) => match narvik.validate_session(token).await {
            Ok(valid) => valid,
            Err(err) => {
                log_narvik_error(&err, "session validation failed");
                return Ok(plain(options.store_error_status));
            }
        },
        None => None,
    };
    let cookie_after = match (method, &current, token) {
        (Some(AuthMethod::Cookie), Some(valid), Some(token)) if valid.extended => {
            Token::parse(token).map_or(CookieAfter::Keep, |token| {
                CookieAfter::Set(token, valid.session.expires_at)
            })
        }
        (Some(AuthMethod::Cookie), None, _) => CookieAfter::Clear,
        _ => CookieAfter::Keep,
    };
    let state = Arc::new(RequestState {
        shared: Arc::clone(&shared) as Arc<dyn LayerShared>,
        current,
        method,
        origin,
        action: Mutex::new(None),
    });
    parts.extensions.insert(StateExtension(Arc::clone(&state)));

    let response = inner.call(Request::from_parts(parts, body)).await?;
    let mut response = response.map(Body::new);

    // The handler's decision wins over the layer's own.
    let cookie = match state.take_action() {
        Some(Action::SetCookie(token, expires_at)) => CookieAfter::Set(token, expires_at),
        Some(Action::ClearCookie) => CookieAfter::Clear,
        None => cookie_after,
    };
    let name = narvik.cookie_name();
    match cookie {
        CookieAfter::Keep => {}
        CookieAfter::Set(token, expires_at) => {
            let value = narvik.session_cookie_header(&token, expires_at);
            set_session_cookie(response.headers_mut(), value, name, true);
        }
        CookieAfter::Clear => {
            let value = narvik.blank_cookie_header().to_owned();
            set_session_cookie(response.headers_mut(), value, name, false);
        }
    }
    Ok(response)
}

/// Appends the session cookie's `Set-Cookie` (`live` unless it is the
/// blank cookie), first dropping any `Set-Cookie` the handler wrote for
/// the same name: a response carries at most one (RFC 6265bis 4.1.1,
/// SECURITY G.26), and the layer's is the one that matches the store.
fn set_session_cookie(headers: &mut HeaderMap, value: String, name: &str, live: bool) {
    // Takes the string's buffer as it is (no copy).
    let Ok(value) = HeaderValue::try_from(value) else {
        // The core's configuration check keeps name and attributes to
        // cookie-octets, and tokens are base32; this cannot happen, but a
        // missing cookie beats a panic.
        tracing::error!("narvik: session cookie is not a valid header value; not sent");
        return;
    };
    let name = name.as_bytes();
    if headers.contains_key(SET_COOKIE) {
        let kept: Vec<HeaderValue> = headers
            .get_all(SET_COOKIE)
            .iter()
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

/// True if a `Set-Cookie` value sets the cookie `name`.
fn sets_cookie_named(set_cookie: &[u8], name: &[u8]) -> bool {
    let pair = set_cookie.split(|&b| b == b';').next().unwrap_or_default();
    let cookie_name = pair.split(|&b| b == b'=').next().unwrap_or_default();
    cookie_name.trim_ascii() == name
}
