//! [`NarvikService`]: what [`NarvikLayer`](crate::NarvikLayer) wraps
//! around the app, and the per-request state it shares with the
//! extractors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum_core::body::Body;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use narvik_core::credentials::sets_cookie_named;
use narvik_core::cross_origin::{Decision, Refusal};
use narvik_core::store::SessionStore;
use narvik_core::{SessionId, Timestamp, Token, UserId, ValidSession, Validation};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::AuthMethod;
use crate::credentials;
use crate::error::{log_narvik_error, plain};
use crate::layer::{LayerShared, Options, Shared};
use crate::origin;

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
    type Future = ResponseFuture<I::Future, S, I::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Everything up to the handler is done here when it needs no
        // waiting (no token, or a store that answers at once and a session
        // that needs no write), so that the common request calls the inner
        // service directly and boxes no future.
        let (mut parts, body) = request.into_parts();
        let shared = &self.shared;
        let (narvik, options) = (&shared.narvik, &shared.options);

        let credential = credentials::read(&parts.headers, narvik.cookie_name(), options.bearer);
        let verdict = origin::check(&options.cross_origin, &parts, credential);
        match verdict.request {
            Decision::Allow => {}
            Decision::PassWithoutCookie(refusal) => tracing::debug!(
                reason = refusal.reason(),
                "narvik: cross-origin request on an exempt path; its session cookie is not read"
            ),
            Decision::Refuse(refusal) => return ResponseFuture::ready(refuse(refusal)),
        }
        let credential = credential.usable(verdict.request);
        let (method, tokens) = (credential.method(), credential.tokens());
        let mut found = Found::Nothing;
        for (tried, token) in tokens.iter().enumerate() {
            match narvik.validate_now(token) {
                Some(Ok(validation)) => {
                    if found.add(validation, token) {
                        break;
                    }
                }
                Some(Err(err)) => return ResponseFuture::ready(store_failed(options, &err)),
                None => {
                    // The store is remote, or validation writes: wait, in a
                    // boxed future that owns the polled-ready service (the
                    // clone stays here: a fresh clone may not be ready).
                    let rotated = matches!(found, Found::Rotated);
                    let clone = self.inner.clone();
                    let inner = std::mem::replace(&mut self.inner, clone);
                    return ResponseFuture::boxed(Box::pin(validate_then_call(
                        inner,
                        Arc::clone(shared),
                        parts,
                        body,
                        Checked {
                            decision: verdict.request,
                            sign_in: verdict.sign_in,
                            tried,
                            rotated,
                        },
                    )));
                }
            }
        }
        let after = After::new(
            Arc::clone(shared),
            &mut parts.extensions,
            found,
            method,
            verdict.sign_in,
        );
        let future = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::inner(future, after)
    }
}

pin_project! {
    /// The response future of [`NarvikService`]: the inner service's, with
    /// the session cookie written on its response. A request whose session
    /// the store cannot answer at once is handled in a boxed future.
    pub struct ResponseFuture<F, S: SessionStore, E> {
        #[pin]
        kind: Kind<F, S, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, S: SessionStore, E> {
        /// Answered without the inner service (refused, or the store failed).
        Ready { response: Option<Response<Body>> },
        /// The inner service's future, and what to do with its response.
        Inner {
            #[pin]
            future: F,
            after: Option<After<S>>,
        },
        /// Validation that waits, then the inner service.
        Boxed { future: BoxFuture<Result<Response<Body>, E>> },
    }
}

impl<F, S: SessionStore, E> ResponseFuture<F, S, E> {
    fn ready(response: Response<Body>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    fn inner(future: F, after: After<S>) -> Self {
        Self {
            kind: Kind::Inner {
                future,
                after: Some(after),
            },
        }
    }

    fn boxed(future: BoxFuture<Result<Response<Body>, E>>) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }
}

impl<F, S: SessionStore, E> fmt::Debug for ResponseFuture<F, S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Ready { .. } => "ready",
            Kind::Inner { .. } => "inner",
            Kind::Boxed { .. } => "boxed",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl<F, S, E, ResBody> Future for ResponseFuture<F, S, E>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    S: SessionStore + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
            KindProj::Inner { future, after } => {
                let response = std::task::ready!(future.poll(cx))?;
                let after = after
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(Ok(after.finish(response)))
            }
            KindProj::Boxed { future } => future.as_mut().poll(cx),
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
    /// Whether a handler may set the session cookie on this request: the
    /// cross-origin check's verdict for a sign-in (always `Ok` for safe
    /// methods, or with the check off).
    pub(crate) sign_in: Result<(), Refusal>,
    pending: Mutex<Pending>,
}

impl<D> RequestState<D> {
    pub(crate) fn options(&self) -> &Options {
        self.shared.options()
    }

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

// Derived Clone would require `D: Clone`; the Arc is enough.
impl<D> Clone for StateExtension<D> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// `403 Forbidden` for a request the cross-origin check refused. Logged at
/// debug level only: any site can send one through its visitors.
fn refuse(refusal: Refusal) -> Response<Body> {
    tracing::debug!(
        reason = refusal.reason(),
        "narvik: state-changing request refused by the cross-origin check"
    );
    plain(StatusCode::FORBIDDEN)
}

/// What the request's path up to the handler decided before it had to
/// wait for the store.
struct Checked {
    decision: Decision,
    sign_in: Result<(), Refusal>,
    /// Token values found to be no session already (the one that could
    /// not be answered at once is next).
    tried: usize,
    /// Whether one of those values is a session rotated moments ago.
    rotated: bool,
}

/// What validating the request's token values found so far.
enum Found<'a, D> {
    /// No value is a session.
    Nothing,
    /// No value is a live session, but one is a session rotated moments
    /// ago: a request that was in flight during the rotation.
    Rotated,
    /// A live session, and the token value that stands for it.
    Valid(ValidSession<D>, &'a str),
}

impl<'a, D> Found<'a, D> {
    /// What the boxed path starts from: `rotated` from the values tried
    /// before it had to wait.
    fn start(rotated: bool) -> Self {
        if rotated {
            Self::Rotated
        } else {
            Self::Nothing
        }
    }

    /// Takes the validation of one more token value; true once a live
    /// session is found (the first wins: stop trying values).
    fn add(&mut self, validation: Validation<D>, token: &'a str) -> bool {
        match validation {
            Validation::Valid(valid) => {
                *self = Self::Valid(valid, token);
                true
            }
            Validation::Rotated => {
                *self = Self::Rotated;
                false
            }
            Validation::Invalid => false,
        }
    }
}

/// The response when validation fails in the store: the handler does not
/// run, and a failing store never looks like "signed out".
fn store_failed(options: &Options, err: &narvik_core::Error) -> Response<Body> {
    log_narvik_error(err, "session validation failed");
    plain(options.store_error_status)
}

/// The request's path when validation has to wait: validate, then call
/// the inner service, then write the cookie.
async fn validate_then_call<I, S, ReqBody, ResBody>(
    mut inner: I,
    shared: Arc<Shared<S>>,
    mut parts: Parts,
    body: ReqBody,
    checked: Checked,
) -> Result<Response<Body>, I::Error>
where
    I: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S: SessionStore + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    let (narvik, options) = (&shared.narvik, &shared.options);
    // Read again rather than copied out of `call`: the tokens borrow the
    // headers that moved here. The origin check is not repeated.
    let credential = credentials::read(&parts.headers, narvik.cookie_name(), options.bearer)
        .usable(checked.decision);
    let (method, tokens) = (credential.method(), credential.tokens());
    let mut found = Found::start(checked.rotated);
    for token in tokens.iter().skip(checked.tried) {
        match narvik.validate(token).await {
            Ok(validation) => {
                if found.add(validation, token) {
                    break;
                }
            }
            Err(err) => return Ok(store_failed(options, &err)),
        }
    }
    let after = After::new(
        Arc::clone(&shared),
        &mut parts.extensions,
        found,
        method,
        checked.sign_in,
    );
    let response = inner.call(Request::from_parts(parts, body)).await?;
    Ok(after.finish(response))
}

/// What the layer does once the handler has answered.
struct After<S: SessionStore> {
    shared: Arc<Shared<S>>,
    state: Arc<RequestState<S::Data>>,
    /// What validation found, unless the handler decides otherwise.
    cookie: CookieAfter,
}

impl<S: SessionStore + 'static> After<S> {
    /// Hands the request's state to the extractors (one extension) and
    /// keeps what the response needs.
    /// `found`: what validating the request's token values found.
    fn new(
        shared: Arc<Shared<S>>,
        extensions: &mut http::Extensions,
        found: Found<'_, S::Data>,
        method: Option<AuthMethod>,
        sign_in: Result<(), Refusal>,
    ) -> Self {
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
        let state = Arc::new(RequestState {
            shared: Arc::clone(&shared) as Arc<dyn LayerShared>,
            current,
            method,
            sign_in,
            pending: Mutex::new(Pending {
                action: None,
                target: Target::Validated,
                proved_at: None,
            }),
        });
        extensions.insert(StateExtension(Arc::clone(&state)));
        Self {
            shared,
            state,
            cookie,
        }
    }

    /// Sets at most one `Set-Cookie` for the session cookie: the handler's
    /// decision wins over the layer's own.
    fn finish<B>(self, response: Response<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum_core::BoxError>,
    {
        let mut response = response.map(Body::new);
        let cookie = match self.state.take_action() {
            Some(Action::SetCookie(value)) => CookieAfter::Set(value),
            Some(Action::ClearCookie) => CookieAfter::Clear,
            None => self.cookie,
        };
        let narvik = &self.shared.narvik;
        let name = narvik.cookie_name();
        match cookie {
            CookieAfter::Keep => {}
            CookieAfter::Extended(token) => {
                if let Some(valid) = &self.state.current {
                    let value = narvik.cookie_for(&token, &valid.session);
                    set_session_cookie(response.headers_mut(), value, name, true);
                }
            }
            CookieAfter::Set(value) => {
                set_session_cookie(response.headers_mut(), value, name, true);
            }
            CookieAfter::Clear => {
                let value = narvik.blank_cookie_header().to_owned();
                set_session_cookie(response.headers_mut(), value, name, false);
            }
        }
        response
    }
}

/// Appends the session cookie's `Set-Cookie` (`live` unless it is the
/// blank cookie), first dropping any `Set-Cookie` the handler wrote for
/// the same name: a response carries at most one (RFC 6265bis 4.1.1), and
/// the layer's is the one that matches the store.
fn set_session_cookie(headers: &mut HeaderMap, value: String, name: &str, live: bool) {
    // Takes the string's buffer as it is (no copy).
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

#[cfg(test)]
mod tests {
    //! The path without a boxed future (a store that answers at once); the
    //! integration tests in `tests/layer.rs` run the waiting path.

    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use http::header::{COOKIE, SET_COOKIE};
    use narvik_core::store::MemoryStore;
    use narvik_core::{Error, ManualClock, Narvik, Session, SessionId, Timestamp};
    use tower::ServiceExt;
    use tower_layer::Layer;

    use super::*;
    use crate::{CurrentSession, NarvikLayer, SessionManager};

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    async fn me(session: CurrentSession) -> String {
        session.user_id.to_string()
    }

    async fn sign_out(auth: SessionManager<MemoryStore>) -> StatusCode {
        match auth.sign_out().await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    struct Fixture {
        narvik: Arc<Narvik<MemoryStore>>,
        clock: ManualClock,
        service: NarvikService<Router, MemoryStore>,
        cookie: String,
    }

    async fn fixture() -> Fixture {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000_000));
        let narvik = Arc::new(Narvik::new(MemoryStore::new()).with_clock(clock.clone()));
        let created = narvik.create_session("ada", ()).await.expect("create");
        let router = Router::new()
            .route("/me", get(me))
            .route("/sign-out", get(sign_out));
        let service = NarvikLayer::new(Arc::clone(&narvik)).layer(router);
        let cookie = format!("{}={}", narvik.cookie_name(), created.token.as_str());
        Fixture {
            narvik,
            clock,
            service,
            cookie,
        }
    }

    fn get_with_cookie(path: &str, cookie: &str) -> Request<axum_core::body::Body> {
        Request::get(path)
            .header(COOKIE, cookie)
            .body(axum_core::body::Body::empty())
            .expect("request")
    }

    /// Calls the service once; returns the response and whether the
    /// future was the boxed one.
    async fn call(
        service: &NarvikService<Router, MemoryStore>,
        request: Request<axum_core::body::Body>,
    ) -> (Response<Body>, bool) {
        let mut service = service.clone();
        let service = ServiceExt::<Request<axum_core::body::Body>>::ready(&mut service)
            .await
            .expect("ready");
        let future = service.call(request);
        let boxed = matches!(future.kind, Kind::Boxed { .. });
        (future.await.expect("infallible"), boxed)
    }

    #[tokio::test]
    async fn a_read_from_a_memory_store_boxes_no_future() {
        let f = fixture().await;
        let (response, boxed) = call(&f.service, get_with_cookie("/me", &f.cookie)).await;
        assert!(!boxed);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(SET_COOKIE).is_none());
    }

    #[tokio::test]
    async fn an_unknown_token_clears_the_cookie_without_waiting() {
        let f = fixture().await;
        let cookie = format!(
            "{}=aaaqeayeaudaocajbifqydiob4ibceqt",
            f.narvik.cookie_name()
        );
        let (response, boxed) = call(&f.service, get_with_cookie("/me", &cookie)).await;
        assert!(!boxed);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let set_cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
        assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
    }

    #[tokio::test]
    async fn a_session_due_for_extension_waits_and_gets_a_fresh_cookie() {
        let f = fixture().await;
        f.clock.advance(16 * DAY);
        let (response, boxed) = call(&f.service, get_with_cookie("/me", &f.cookie)).await;
        assert!(boxed);
        assert_eq!(response.status(), StatusCode::OK);
        let set_cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
        assert!(set_cookie.starts_with(&f.cookie), "{set_cookie}");
        let token = f.cookie.split_once('=').expect("pair").1;
        let session = f
            .narvik
            .store()
            .fetch_session(&SessionId::from_token(token))
            .await
            .expect("fetch")
            .expect("still there");
        assert_eq!(
            session.expires_at,
            f.narvik.now().saturating_add(30 * DAY),
            "extended to a full length from now"
        );
    }

    #[tokio::test]
    async fn an_expired_session_waits_is_deleted_and_the_cookie_cleared() {
        let f = fixture().await;
        f.clock.advance(31 * DAY);
        let (response, boxed) = call(&f.service, get_with_cookie("/me", &f.cookie)).await;
        assert!(boxed);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(SET_COOKIE));
        assert!(f.narvik.store().is_empty());
    }

    #[tokio::test]
    async fn a_sign_out_without_waiting_clears_the_cookie_and_ends_the_session() {
        let f = fixture().await;
        let (response, boxed) = call(&f.service, get_with_cookie("/sign-out", &f.cookie)).await;
        assert!(!boxed);
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let set_cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
        assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
        assert!(f.narvik.store().is_empty());
    }

    /// Answers every fetch at once, with an error.
    struct BrokenNow;

    impl SessionStore for BrokenNow {
        type Data = ();

        async fn save_session(&self, _: &Session) -> Result<(), Error> {
            Err(Error::store("save session", "down"))
        }
        async fn fetch_session(&self, _: &SessionId) -> Result<Option<Session>, Error> {
            Err(Error::store("fetch session", "down"))
        }
        async fn update_session(
            &self,
            _: &SessionId,
            _: narvik_core::SessionUpdate,
        ) -> Result<bool, Error> {
            Err(Error::store("update session", "down"))
        }
        async fn delete_session(&self, _: &SessionId) -> Result<(), Error> {
            Err(Error::store("delete session", "down"))
        }
        fn fetch_session_now(&self, _: &SessionId) -> Option<Result<Option<Session>, Error>> {
            Some(Err(Error::store("fetch session", "down")))
        }
    }

    #[tokio::test]
    async fn a_store_failing_at_once_is_the_store_error_status_and_the_handler_does_not_run() {
        let narvik = Narvik::new(BrokenNow);
        let name = narvik.cookie_name().to_owned();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let router: Router = Router::new().route(
            "/me",
            get(move || {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                async { "handler ran" }
            }),
        );
        let app = router.layer(NarvikLayer::new(narvik));
        let cookie = format!("{name}=aaaqeayeaudaocajbifqydiob4ibceqt");
        let response = app
            .oneshot(get_with_cookie("/me", &cookie))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
