//! Property tests: whatever bytes arrive in `Cookie`, `Authorization` and
//! `Origin` headers, the layer never panics, never lets anyone in without
//! a live session, calls the store at most once, and writes at most one
//! `Set-Cookie` for the session cookie.

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode, header};
use narvik_axum::{CurrentSession, NarvikLayer};
use narvik_core::Narvik;
use proptest::prelude::*;
use support::{CountingStore, body_text, send, set_cookies_named};

const COOKIE: &str = "narvik_session";

async fn maybe(session: Option<CurrentSession>) -> String {
    session.map_or_else(|| "anonymous".to_owned(), |s| s.user_id.to_string())
}

fn router(store: CountingStore) -> Router {
    Router::new()
        .route("/", get(maybe).post(maybe))
        .layer(NarvikLayer::new(Narvik::new(store)))
}

/// Header bytes built from the pieces a cookie parser trips on, plus raw
/// bytes.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(COOKIE.as_bytes().to_vec()),
        Just(b"=".to_vec()),
        Just(b";".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        "[a-z2-7]{30,34}".prop_map(String::into_bytes),
        "[A-Za-z0-9_-]{0,8}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_cookie_headers_never_panic(
        cookies in proptest::collection::vec(header_bytes(), 0..4),
        post in any::<bool>(),
    ) {
        let store = CountingStore::default();
        let app = router(store.clone());
        let mut request = if post { Request::post("/") } else { Request::get("/") }
            .header(header::HOST, "example.com")
            .header(header::ORIGIN, "https://example.com")
            .body(Body::empty())
            .expect("request");
        for value in &cookies {
            // Bytes a header cannot hold never reach a server: skip them.
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request.headers_mut().append(header::COOKIE, value);
            }
        }
        let response = runtime().block_on(send(&app, request));
        prop_assert_eq!(response.status(), StatusCode::OK);
        prop_assert!(set_cookies_named(response.headers(), COOKIE).len() <= 1);
        prop_assert!(store.total_calls() <= 1);
        let body = runtime().block_on(body_text(response));
        prop_assert_eq!(body, "anonymous");
    }

    #[test]
    fn arbitrary_authorization_and_origin_headers_never_panic(
        authorization in header_bytes(),
        origin in header_bytes(),
        cookie in header_bytes(),
    ) {
        let store = CountingStore::default();
        let app = router(store.clone());
        let mut request = Request::post("/")
            .header(header::HOST, "example.com")
            .body(Body::empty())
            .expect("request");
        for (name, value) in [
            (header::AUTHORIZATION, &authorization),
            (header::ORIGIN, &origin),
            (header::COOKIE, &cookie),
        ] {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request.headers_mut().append(name, value);
            }
        }
        let response = runtime().block_on(send(&app, request));
        prop_assert!(
            matches!(response.status(), StatusCode::OK | StatusCode::FORBIDDEN),
            "status {}", response.status()
        );
        prop_assert!(set_cookies_named(response.headers(), COOKIE).len() <= 1);
        prop_assert!(store.total_calls() <= 1);
    }
}
