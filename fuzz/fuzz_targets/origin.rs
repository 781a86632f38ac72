//! The origin check (narvik-axum's `Origin` / `Sec-Fetch-Site` parsing),
//! through the public layer API: `NarvikLayer` around a handler, a
//! state-changing request with a live session cookie and fuzzed `Host`,
//! `Origin` and `Sec-Fetch-Site` headers, and a fuzzed allow-list and
//! request scheme. (The check is moving to a narvik-core module of its
//! own; until then this target drives it as an app does.)
//!
//! Never a panic; the answer is 200 (the handler ran) or 403 (it did not);
//! a safe method always passes; and a request passes only as the Fetch
//! and URL standards say it may: exactly one `Origin` whose WHATWG origin
//! is the request's own (`Host` with the configured scheme, or the
//! Origin's own if none is configured) or an allow-listed one, or no
//! `Origin` and exactly one `Sec-Fetch-Site` that is `same-origin` or an
//! allowed value.
#![no_main]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use axum_core::body::Body;
use http::header::{COOKIE, HOST, ORIGIN};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use narvik_axum::NarvikLayer;
use narvik_core::Narvik;
use narvik_core::store::MemoryStore;
use tower_layer::Layer;
use tower_service::Service;
use url::Url;

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    host: Option<Vec<u8>>,
    origins: Vec<Vec<u8>>,
    sites: Vec<Vec<u8>>,
    allow_origins: Vec<String>,
    allow_sites: Vec<String>,
    scheme: Option<String>,
}

/// The app: counts the requests that reached it.
#[derive(Clone, Default)]
struct Handler(Arc<AtomicUsize>);

impl Service<Request<Body>> for Handler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        ready(Ok(Response::new(Body::empty())))
    }
}

/// Runs a future that never waits (the memory store answers at once).
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the memory store made the layer wait");
}

const METHODS: [Method; 6] = [
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::GET,
    Method::HEAD,
];

/// An `http(s)://host[:port]` origin, as the standards parse it.
fn origin_of(text: &str) -> Option<url::Origin> {
    let url = Url::parse(text).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then(|| url.origin())
}

fuzz_target!(|input: Input| {
    let narvik = Arc::new(Narvik::new(MemoryStore::<()>::new()));
    let mut builder = NarvikLayer::builder(Arc::clone(&narvik));
    for origin in &input.allow_origins {
        builder = builder.allow_origin(origin.as_str());
    }
    for site in &input.allow_sites {
        builder = builder.allow_sec_fetch_site(site.as_str());
    }
    if let Some(scheme) = &input.scheme {
        builder = builder.request_scheme(scheme.as_str());
    }
    let Ok(layer) = builder.build() else {
        return;
    };
    let scheme = input.scheme.as_deref().map(str::to_ascii_lowercase);
    let allowed: Vec<url::Origin> = input
        .allow_origins
        .iter()
        .map(|o| origin_of(o).expect("the layer took it"))
        .collect();
    let sites: Vec<String> = input
        .allow_sites
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();

    let created = now(narvik.create_session("ada", ())).expect("memory store");
    let method = METHODS[usize::from(input.method) % METHODS.len()].clone();
    let mut request = Request::builder()
        .method(method.clone())
        .uri("/")
        .header(
            COOKIE,
            format!("{}={}", narvik.cookie_name(), created.token.as_str()),
        )
        .body(Body::empty())
        .expect("request");
    let headers = request.headers_mut();
    let host = input
        .host
        .as_deref()
        .and_then(|h| HeaderValue::from_bytes(h).ok());
    if let Some(host) = &host {
        headers.insert(HOST, host.clone());
    }
    let origins: Vec<HeaderValue> = input
        .origins
        .iter()
        .filter_map(|o| HeaderValue::from_bytes(o).ok())
        .collect();
    for origin in &origins {
        headers.append(ORIGIN, origin.clone());
    }
    let fetch_sites: Vec<HeaderValue> = input
        .sites
        .iter()
        .filter_map(|s| HeaderValue::from_bytes(s).ok())
        .collect();
    for site in &fetch_sites {
        headers.append("sec-fetch-site", site.clone());
    }

    let handler = Handler::default();
    let mut service = layer.layer(handler.clone());
    let response = now(service.call(request)).expect("infallible");
    let ran = handler.0.load(Ordering::SeqCst);
    match response.status() {
        StatusCode::OK => assert_eq!(ran, 1),
        StatusCode::FORBIDDEN => assert_eq!(ran, 0, "a refused request reached the handler"),
        other => panic!("status {other}"),
    }
    if method == Method::GET || method == Method::HEAD {
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "a safe method was refused"
        );
        return;
    }

    // What the standards allow.
    let may_pass = match origins.as_slice() {
        [origin] => origin
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_some_and(|origin| {
                let url::Origin::Tuple(origin_scheme, ..) = &origin else {
                    return false;
                };
                let own_scheme = scheme.clone().unwrap_or_else(|| origin_scheme.clone());
                let own = host
                    .as_ref()
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| {
                        !h.is_empty()
                            && !h
                                .bytes()
                                .any(|b| b"/\\?#@".contains(&b) || b <= b' ' || b == 0x7f)
                    })
                    .and_then(|h| Url::parse(&format!("{own_scheme}://{h}")).ok())
                    .map(|u| u.origin());
                allowed.contains(&origin) || own == Some(origin)
            }),
        [] => match fetch_sites.as_slice() {
            [site] => {
                let site = site.as_bytes();
                site == b"same-origin"
                    || sites
                        .iter()
                        .any(|s| s.as_bytes() == site && s != "cross-site")
            }
            _ => false,
        },
        _ => false,
    };
    if response.status() == StatusCode::OK {
        assert!(
            may_pass,
            "let through: {origins:?} {fetch_sites:?} host {host:?}"
        );
    } else {
        assert!(
            !may_pass,
            "refused: {origins:?} {fetch_sites:?} host {host:?}"
        );
    }
});
