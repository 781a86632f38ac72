//! Shared pieces of the integration tests: a call-counting store, a store
//! that always fails (both the testkit's wrapper), a log capture, and
//! request and response helpers for apps driven with `actix_web::test`.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, test};
use narvik_core::store::MemoryStore;
use narvik_testkit::wrap::Wrapped;

/// A [`MemoryStore`] that counts every call, to check that refused or
/// malformed requests never reach the store, and fails on demand.
pub type CountingStore = Wrapped<MemoryStore>;

/// `store` with its backend down: every call fails with
/// [`narvik_testkit::wrap::injected_failure`].
pub fn failing_store(store: CountingStore) -> CountingStore {
    store.fail_all();
    store
}

/// Everything logged while the guard lives, at every level, as text:
/// events, and spans with their fields as they open and close.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures the current thread's logs (`actix_web::test` runs the
    /// app on the test's own thread, so the whole request is on it).
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

/// A request to send: method, URI and headers in order (repeats kept).
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Req {
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: Vec::new(),
        }
    }

    pub fn get(uri: impl Into<String>) -> Self {
        Self::new(Method::GET, uri)
    }

    pub fn post(uri: impl Into<String>) -> Self {
        Self::new(Method::POST, uri)
    }

    /// Appends a header (a second one of a name adds to the first).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
        let value = HeaderValue::from_bytes(value.as_ref()).expect("header value");
        self.headers.push((name, value));
        self
    }

    /// Replaces every header of `name` with this one.
    pub fn replace_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.retain(|(n, _)| n.as_str() != name);
        self.header(name, value)
    }

    pub fn into_test_request(self) -> test::TestRequest {
        let mut request = test::TestRequest::default()
            .method(self.method)
            .uri(&self.uri);
        for (name, value) in self.headers {
            request = request.append_header((name, value));
        }
        request
    }
}

/// A response, its body read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Builds the app and sends one request through it. An error from the
/// app is answered as actix-web's server would: its `error_response`.
pub async fn send<T, B>(app: App<T>, request: Req) -> Resp
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    T::Future: 'static,
    B: MessageBody + 'static,
{
    let service = test::init_service(app).await;
    let response = match service.call(request.into_test_request().to_request()).await {
        Ok(response) => response.into_parts().1.map_into_boxed_body(),
        Err(err) => err.error_response(),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_else(|_| panic!("in-memory body"));
    Resp {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
    }
}

/// The value of header `name` as text; panics if it is missing.
pub fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii header")
}

/// Every `Set-Cookie` value for the cookie `name`.
pub fn set_cookies_named(headers: &HeaderMap, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    headers
        .get_all(SET_COOKIE)
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
