//! The demo in a real browser: headless Chromium through chromedriver.
//!
//! Signs up, signs out and in again, checks that page scripts cannot read
//! the session cookie, signs in from a second browser, revokes the first
//! browser's session from the second, and sees the first land on the
//! sign-in page.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); fails, never skips, when they are missing.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use narvik_demo::{Backend, app};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    _child: Child,
    url: String,
}

async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

async fn start_driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "{CHROMEDRIVER} and {CHROMIUM} are needed: apt-get install chromium chromium-driver"
    );
    let port = free_port().await;
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver {
        _child: child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A fresh browser: its own profile directory, so its own cookie jar.
async fn browser(driver: &Driver, profile: &tempfile::TempDir) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a browser session")
}

async fn serve_demo() -> SocketAddr {
    let backend = Backend::connect("sqlite::memory:").await.expect("database");
    let (router, _purge) = app(backend, false).expect("app");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn path(client: &Client) -> String {
    client.current_url().await.expect("url").path().to_owned()
}

/// Waits for a navigation (a form post, a click) to land on `expected`:
/// WebDriver's click returns before the next page has loaded.
async fn lands_on(client: &Client, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = path(client).await;
        if now == expected {
            let ready = client
                .execute("return document.readyState;", vec![])
                .await
                .expect("readyState");
            if ready.as_str() == Some("complete") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "expected to land on {expected}, still on {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill_and_submit(client: &Client, action: &str, username: &str, password: &str) {
    let form = client
        .form(Locator::Css(&format!("form[action='{action}']")))
        .await
        .expect("the form");
    form.set_by_name("username", username)
        .await
        .expect("username");
    form.set_by_name("password", password)
        .await
        .expect("password");
    form.submit().await.expect("submit");
}

async fn welcome_text(client: &Client) -> String {
    client
        .find(Locator::Id("welcome"))
        .await
        .expect("the home page's greeting")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_sign_in_revoke_from_a_second_browser() {
    let addr = serve_demo().await;
    let base = format!("http://{addr}");
    let driver = start_driver().await;
    let (profile_a, profile_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let first = browser(&driver, &profile_a).await;

    // Sign up: lands on the home page, signed in.
    first
        .goto(&format!("{base}/signup"))
        .await
        .expect("open sign-up");
    fill_and_submit(&first, "/signup", "ada", "correct horse battery").await;
    lands_on(&first, "/").await;
    assert_eq!(welcome_text(&first).await, "Welcome, ada");

    // Sign out, then sign in again.
    first
        .find(Locator::Css("header form[action='/signout'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    lands_on(&first, "/signin").await;
    first.goto(&base).await.expect("open home");
    assert_eq!(
        path(&first).await,
        "/signin",
        "signed out means no home page"
    );
    fill_and_submit(&first, "/signin", "ada", "correct horse battery").await;
    lands_on(&first, "/").await;
    assert_eq!(welcome_text(&first).await, "Welcome, ada");

    // The cookie is there, HttpOnly, and scripts cannot read it.
    let cookies = first.get_all_cookies().await.expect("cookies");
    let session_cookie = cookies
        .iter()
        .find(|c| c.name() == "narvik_session")
        .expect("the session cookie is set");
    assert_eq!(session_cookie.http_only(), Some(true));
    let script_view = first
        .execute("return document.cookie;", vec![])
        .await
        .expect("run script");
    let script_view = script_view.as_str().unwrap_or_default().to_owned();
    assert!(
        !script_view.contains("narvik_session") && !script_view.contains(session_cookie.value()),
        "document.cookie exposes the session: {script_view:?}"
    );

    // A second browser signs in and sees two sessions.
    let second = browser(&driver, &profile_b).await;
    second
        .goto(&format!("{base}/signin"))
        .await
        .expect("open sign-in");
    fill_and_submit(&second, "/signin", "ada", "correct horse battery").await;
    lands_on(&second, "/").await;
    assert_eq!(welcome_text(&second).await, "Welcome, ada");
    second
        .goto(&format!("{base}/sessions"))
        .await
        .expect("open sessions");
    let rows = second
        .find_all(Locator::Css("#sessions tbody tr"))
        .await
        .expect("session rows");
    assert_eq!(rows.len(), 2, "one session per browser");

    // Revoke the first browser's session from the second.
    second
        .find(Locator::Css("form[action='/sessions/revoke'] button"))
        .await
        .expect("a revoke button for the other session")
        .click()
        .await
        .expect("click revoke");
    // The revoke posts and redirects back to /sessions: wait for the new
    // page's list rather than the URL, which does not change.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = second
            .find_all(Locator::Css("#sessions tbody tr"))
            .await
            .unwrap_or_default();
        if rows.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked session stays listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lands_on(&second, "/sessions").await;

    // The first browser is signed out: it lands on the sign-in page.
    first.goto(&base).await.expect("reload home");
    assert_eq!(path(&first).await, "/signin");
    // The second is still signed in.
    second.goto(&base).await.expect("open home");
    assert_eq!(welcome_text(&second).await, "Welcome, ada");

    first.close().await.expect("close first browser");
    second.close().await.expect("close second browser");
}
