//! The demo on each database its `--database-url` takes: PostgreSQL,
//! MySQL/MariaDB and Redis (the browser test covers SQLite). In-process,
//! through the router: sign up, see the home page and the session list
//! (with the browser's user agent), sign out, be sent to the sign-in page
//! with the old cookie, fail with a wrong password, sign in again.
//!
//! Each run gets a database of its own (PostgreSQL, MySQL) or a key
//! prefix of its own (Redis), dropped or deleted at the end. The servers
//! are the machine's, on loopback; a missing one fails the test. The
//! database names built into SQL below are this file's own (a fixed
//! label and base32 characters), never outside input.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use narvik_demo::{Backend, app};
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:3000";
const ORIGIN: &str = "http://127.0.0.1:3000";
const AGENT: &str = "backend-test-agent/1.0";

/// A name no other run uses.
fn unique(label: &str) -> String {
    let token = narvik::Token::generate().expect("os rng");
    format!("{label}_{}", &token.as_str()[..10])
}

async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.expect("infallible")
}

fn form(path: &str, cookie: Option<&str>, body: String) -> Request<Body> {
    let mut builder = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::USER_AGENT, AGENT)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::from(body)).expect("request")
}

fn page(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

/// The `name=value` of the response's session cookie, if it sets one.
fn session_cookie(response: &Response<Body>) -> Option<String> {
    let set = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    let pair = set.split(';').next()?.trim();
    Some(pair.to_owned())
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn location(response: &Response<Body>) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The flow ran in a task of its own so that its database is cleaned up
/// even when it fails; its panic, if any, is the test's.
fn rethrow(outcome: Result<(), tokio::task::JoinError>) {
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The demo's whole flow on `backend`.
async fn sign_up_in_and_out(backend: Backend) {
    let (router, purge) = app(backend, false).expect("app");
    let user = unique("ada");
    let password = "correct horse battery staple";

    let response = send(
        &router,
        form(
            "/signup",
            None,
            format!("username={user}&password={password}&remember=on"),
        ),
    )
    .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(location(&response), "/");
    let cookie = session_cookie(&response).expect("signed up and in");
    assert!(!cookie.ends_with('='), "a live cookie: {cookie}");
    // Remembered: the demo's 30 days in full, though the clock moved on
    // since the session was made.
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii");
    assert!(set.contains("Max-Age=2592000"), "{set}");

    let home = send(&router, page("/", &cookie)).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(text(home).await.contains(&user));

    let sessions = send(&router, page("/sessions", &cookie)).await;
    assert_eq!(sessions.status(), StatusCode::OK);
    let listed = text(sessions).await;
    assert!(listed.contains(AGENT), "the user agent is listed: {listed}");
    assert_eq!(listed.matches("data-session=").count(), 1, "{listed}");
    // Started, last active and expires: relative, and the date itself.
    assert_eq!(listed.matches(" UTC</time>").count(), 3, "{listed}");
    assert!(listed.contains("remembered"), "{listed}");

    let response = send(&router, form("/signout", Some(&cookie), String::new())).await;
    assert!(response.status().is_redirection());
    assert_eq!(location(&response), "/signin");
    let cleared = session_cookie(&response).expect("the cookie is cleared");
    assert!(cleared.ends_with('='), "{cleared}");

    let response = send(&router, page("/", &cookie)).await;
    assert!(response.status().is_redirection());
    assert_eq!(location(&response), "/signin", "the old cookie is dead");

    let response = send(
        &router,
        form("/signin", None, format!("username={user}&password=wrong")),
    )
    .await;
    assert!(
        session_cookie(&response).is_none(),
        "a wrong password signs nobody in"
    );

    let response = send(
        &router,
        form(
            "/signin",
            None,
            format!("username={user}&password={password}"),
        ),
    )
    .await;
    assert_eq!(location(&response), "/");
    let cookie = session_cookie(&response).expect("signed in again");
    // Without "remember me": a browser-session cookie.
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii");
    assert!(
        !set.contains("Max-Age") && !set.contains("Expires"),
        "{set}"
    );
    let home = send(&router, page("/", &cookie)).await;
    assert_eq!(home.status(), StatusCode::OK);
    purge.shutdown().await;
}

/// The flow on a database of its own on the SQL server at `server`
/// (created through its `test` database, dropped after with `DROP
/// DATABASE <name><drop_options>`).
async fn on_own_database<DB>(server: &str, drop_options: &str)
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let admin = sqlx::Pool::<DB>::connect(&format!("{server}/test"))
        .await
        .expect("the machine's SQL server");
    let run = |sql: String| {
        let admin = admin.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&admin)
                .await
                .expect("admin statement");
        }
    };
    let db = unique("narvik_demo");
    run(format!("CREATE DATABASE {db}")).await;
    let backend = Backend::connect(&format!("{server}/{db}"))
        .await
        .expect("connect");
    let outcome = tokio::spawn(sign_up_in_and_out(backend)).await;
    run(format!("DROP DATABASE {db}{drop_options}")).await;
    rethrow(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    on_own_database::<sqlx::Postgres>("postgres://postgres@127.0.0.1:5432", " WITH (FORCE)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql() {
    on_own_database::<sqlx::MySql>("mysql://root@127.0.0.1:3306", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis() {
    let url = "redis://127.0.0.1:6379";
    let prefix = unique("narvik-demo-test").replace('_', "-");
    let backend = Backend::connect_with_redis_prefix(url, &prefix)
        .await
        .expect("connect");
    let outcome = tokio::spawn(sign_up_in_and_out(backend)).await;
    // Everything under the run's prefix: sessions, indexes, accounts.
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("delete");
    }
    rethrow(outcome);
    assert!(!keys.is_empty(), "the run wrote under its prefix");
}
