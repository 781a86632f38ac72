//! Shared pieces of the integration tests: a call-counting store, a store
//! that always fails, a log capture, and request helpers.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Response, header};
use http_body_util::BodyExt;
use narvik_core::store::{MemoryStore, SessionStore, UserSessionStore};
use narvik_core::{Error, Session, SessionId, Timestamp};
use tower::ServiceExt;

/// A [`MemoryStore`] that counts every call, to check that refused or
/// malformed requests never reach the store.
#[derive(Debug, Clone, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    calls: Arc<AtomicUsize>,
}

impl CountingStore {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl SessionStore for CountingStore {
    type Data = ();

    async fn save_session(&self, session: &Session) -> Result<(), Error> {
        self.count();
        self.inner.save_session(session).await
    }

    async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
        self.count();
        self.inner.fetch_session(id).await
    }

    async fn update_session_expiry(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        self.count();
        self.inner.update_session_expiry(id, expires_at).await
    }

    async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
        self.count();
        self.inner.delete_session(id).await
    }
}

impl UserSessionStore for CountingStore {
    async fn fetch_sessions_for_user(&self, user_id: &str) -> Result<Vec<Session>, Error> {
        self.count();
        self.inner.fetch_sessions_for_user(user_id).await
    }

    async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        self.count();
        self.inner.delete_sessions_for_user(user_id).await
    }

    async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        self.count();
        self.inner
            .delete_other_sessions_for_user(user_id, keep)
            .await
    }
}

/// A store whose backend is down: every call fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailingStore;

fn down(context: &'static str) -> Error {
    Error::store(
        context,
        io::Error::new(io::ErrorKind::ConnectionRefused, "database unreachable"),
    )
}

impl SessionStore for FailingStore {
    type Data = ();

    async fn save_session(&self, _: &Session) -> Result<(), Error> {
        Err(down("save session"))
    }

    async fn fetch_session(&self, _: &SessionId) -> Result<Option<Session>, Error> {
        Err(down("fetch session"))
    }

    async fn update_session_expiry(&self, _: &SessionId, _: Timestamp) -> Result<(), Error> {
        Err(down("update session expiry"))
    }

    async fn delete_session(&self, _: &SessionId) -> Result<(), Error> {
        Err(down("delete session"))
    }
}

/// Everything logged while the guard lives, at every level, as text.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures the current thread's logs (tests run on a current-thread
    /// runtime, so the whole request is on this thread).
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }

    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends one request through a clone of the router.
pub async fn send(router: &Router, request: http::Request<Body>) -> Response<Body> {
    router
        .clone()
        .oneshot(request)
        .await
        .expect("routers are infallible")
}

/// The response body as text.
pub async fn body_text(response: Response<Body>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("in-memory body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

/// Every `Set-Cookie` value for the cookie `name`.
pub fn set_cookies_named(headers: &HeaderMap, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// The one `Set-Cookie` for `name`, parsed; panics unless there is exactly
/// one.
pub fn the_set_cookie(headers: &HeaderMap, name: &str) -> narvik_core::Cookie<'static> {
    let all = set_cookies_named(headers, name);
    assert_eq!(all.len(), 1, "expected one Set-Cookie for {name}: {all:?}");
    narvik_core::Cookie::parse(all[0].clone()).expect("parsable Set-Cookie")
}
