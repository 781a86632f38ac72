//! Shared pieces of the integration tests: a call-counting store, a store
//! that always fails (both the testkit's wrapper), a log capture, and
//! request helpers.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Response, header};
use http_body_util::BodyExt;
use narvik_core::store::MemoryStore;
use narvik_testkit::wrap::Wrapped;
use tower::ServiceExt;

/// A [`MemoryStore`] that counts every call, to check that refused or
/// malformed requests never reach the store, and fails on demand.
pub type CountingStore = Wrapped<MemoryStore>;

/// `store` with its backend down: every call fails with
/// [`narvik_testkit::wrap::injected_failure`], the lookup without waiting
/// included.
pub fn failing_store(store: CountingStore) -> CountingStore {
    store.fail_all();
    store
}

/// Everything logged while the guard lives, at every level, as text:
/// events, and spans with their fields as they open and close.
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
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
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
