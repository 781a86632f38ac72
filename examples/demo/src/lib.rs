//! The narvik demo app: accounts with argon2-hashed passwords, sessions
//! through narvik's axum layer, on SQLite (the embedded default),
//! PostgreSQL, MySQL/MariaDB or Redis.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use narvik::axum::{CurrentSession, NarvikLayer, SessionManager};
use narvik::sqlx::{MySqlStore, PostgresStore, SqliteStore};
use narvik::store::{DynSessionStore, MemoryStore};
use narvik::{Clock, Config, Narvik, PurgeTask, SessionId, SessionOptions, SystemClock};
use serde::{Deserialize, Serialize};

pub mod pages;
pub mod users;

use users::Users;

/// What the demo keeps with each session: the browser it was started in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoData {
    /// The `User-Agent` of the sign-in request.
    pub user_agent: String,
}

/// The session store, chosen at run time.
pub type Store = Arc<dyn DynSessionStore<DemoData>>;

/// A connected database: the session store and the accounts.
pub struct Backend {
    store: Store,
    users: Users,
}

impl Backend {
    /// Connects to `url` (`sqlite://FILE`, `sqlite::memory:`,
    /// `postgres://`, `mysql://`, `redis://`, or `memory:` for sessions in
    /// memory and accounts in SQLite in memory) and creates what is
    /// missing.
    ///
    /// # Errors
    ///
    /// If the URL's scheme is unknown or the database cannot be reached.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with_redis_prefix(url, "narvik-demo").await
    }

    /// As [`connect`](Self::connect), with `prefix` for every Redis key
    /// (sessions and accounts), so that several demos (or test runs) can
    /// share a server. Other databases ignore it.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_redis_prefix(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let (store, users): (Store, Users) = if url == "memory:" {
            // Sessions in narvik's MemoryStore (gone when the process
            // ends), accounts in SQLite in memory.
            let accounts = SqliteStore::<DemoData>::open_in_memory().await?;
            let users = Users::Sqlite(accounts.write_pool().clone());
            (Arc::new(MemoryStore::<DemoData>::new()), users)
        } else if url == "sqlite::memory:" {
            let store = SqliteStore::<DemoData>::open_in_memory().await?;
            store.migrate().await?;
            let users = Users::Sqlite(store.write_pool().clone());
            (Arc::new(store), users)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let store = SqliteStore::<DemoData>::open(path).await?;
            store.migrate().await?;
            let users = Users::Sqlite(store.write_pool().clone());
            (Arc::new(store), users)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let store = PostgresStore::<DemoData>::connect(url).await?;
            store.migrate().await?;
            let users = Users::Postgres(store.pool().clone());
            (Arc::new(store), users)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let store = MySqlStore::<DemoData>::connect(url).await?;
            store.migrate().await?;
            let users = Users::MySql(store.pool().clone());
            (Arc::new(store), users)
        } else if url.starts_with("redis://") {
            let store = narvik::redis::RedisStore::builder()
                .key_prefix(prefix)
                .connect::<DemoData>(url)
                .await?;
            let client = redis::Client::open(url).context("redis url")?;
            // Bounded as the session store's connection is (its default
            // timeout): without a bound, a sign-in waits for as long as
            // Redis is stopped, unreachable or reconnecting (seconds under
            // scripts/faults.sh) while every page read fails in 500 ms.
            let bound = Duration::from_millis(500);
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(bound))
                .set_response_timeout(Some(bound))
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(bound)
                .set_number_of_retries(4);
            let conn = redis::aio::ConnectionManager::new_with_config(client, config)
                .await
                .context("connect to redis for accounts")?;
            (Arc::new(store), Users::Redis(conn, prefix.to_owned()))
        } else {
            bail!(
                "unknown database url {url:?}: use sqlite://, postgres://, mysql://, redis:// or memory:"
            );
        };
        users.migrate().await?;
        Ok(Self { store, users })
    }
}

#[derive(Clone)]
struct AppState {
    users: Users,
}

type Auth = SessionManager<Store>;
type Current = CurrentSession<DemoData>;

/// The demo's router, and the background purge of expired sessions
/// (shut it down after the server stops).
///
/// # Errors
///
/// If the session configuration or layer cannot be built.
pub fn app(backend: Backend, secure_cookies: bool) -> anyhow::Result<(Router, PurgeTask)> {
    app_with_clock(backend, secure_cookies, SystemClock)
}

/// [`app`] with its sessions on `clock` (a test's, to move time on).
///
/// # Errors
///
/// As [`app`].
pub fn app_with_clock(
    backend: Backend,
    secure_cookies: bool,
    clock: impl Clock,
) -> anyhow::Result<(Router, PurgeTask)> {
    let mut config = Config::builder()
        // Each session has its own length (remember me or not, below);
        // this one is for sessions made by other means.
        .session_length(Duration::from_secs(7 * 24 * 60 * 60))
        // For "last active" on the sessions page: written at most once a
        // minute per session, so most page views write nothing.
        .activity_interval(ACTIVITY_INTERVAL)
        .secure(secure_cookies);
    if secure_cookies {
        // Behind TLS: a `__Host-` cookie, which no other host (a sibling
        // subdomain) can set or overwrite (cookie tossing).
        config = config.cookie_name(SECURE_COOKIE_NAME);
    }
    let config = config.build()?;
    let purge = PurgeTask::spawn(
        Arc::new(Arc::clone(&backend.store)),
        Duration::from_secs(600),
    );
    let narvik = Narvik::with_config(backend.store, config).with_clock(clock);
    let mut layer = NarvikLayer::builder(narvik)
        // An HTML app: send the browser to the sign-in page rather than
        // show a bare 401.
        .unauthorized(|_| Redirect::to("/signin"));
    if secure_cookies {
        // The site is https only: a page on http://the-same-host (which a
        // network attacker can serve) is not the site.
        layer = layer.request_scheme("https");
    }
    let layer = layer.build()?;
    let router = Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signup", get(signup_page).post(signup))
        .route("/signout", post(signout))
        .route("/sessions", get(sessions))
        .route("/sessions/revoke", post(revoke))
        .route("/sessions/others", post(sign_out_others))
        .layer(layer)
        .with_state(AppState {
            users: backend.users,
        });
    Ok((router, purge))
}

/// The session cookie's name with `--secure-cookies`.
pub const SECURE_COOKIE_NAME: &str = "__Host-narvik_session";

/// A session without "remember me": a browser-session cookie (gone when
/// the browser closes), and at most this long unused on the server.
pub const VISIT_LENGTH: Duration = Duration::from_secs(12 * 60 * 60);

/// A session with "remember me": a persistent cookie, this long unused.
pub const REMEMBER_LENGTH: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How often a session's last activity is recorded, at most.
pub const ACTIVITY_INTERVAL: Duration = Duration::from_secs(60);

/// How recently the password must have been typed for "sign out
/// everywhere else" ("sudo mode"); older sessions are asked for it again.
pub const FRESH_FOR: Duration = Duration::from_secs(5 * 60);

/// A failed request. A narvik error answers with its own status: a
/// client's (a refused cross-origin sign-in, 403) logged at debug level
/// only, since any site can cause one; a store failure (5xx) at error
/// level. Anything else is a plain 500 page, its cause in the log.
struct Failure(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = self
            .0
            .chain()
            .find_map(|cause| cause.downcast_ref::<narvik::axum::Error>())
            .map_or(
                StatusCode::INTERNAL_SERVER_ERROR,
                narvik::axum::Error::status,
            );
        if status.is_client_error() {
            tracing::debug!(error = %self.0, %status, "request refused");
            return (status, Html("<h1>Request refused</h1>")).into_response();
        }
        // The whole chain, as `{:#}` would print it, but a narvik error
        // in it prints itself redacted: a decoder's message can quote
        // session data, which stays out of the log.
        let mut line = String::new();
        for cause in self.0.chain() {
            if !line.is_empty() {
                line.push_str(": ");
            }
            if let Some(err) = cause.downcast_ref::<narvik::Error>() {
                line.push_str(&err.redacted().to_string());
                break;
            }
            line.push_str(&cause.to_string());
        }
        tracing::error!(error = line, "request failed");
        (status, Html("<h1>Something went wrong</h1>")).into_response()
    }
}

type Page = Result<Response, Failure>;

async fn home(auth: Auth, session: Option<Current>) -> Page {
    let Some(session) = session else {
        return Ok(Redirect::to("/signin").into_response());
    };
    let now = auth.narvik().now();
    Ok(Html(pages::home(&session.user_id, &session, now).into_string()).into_response())
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    /// The "remember me" box: sent (as `on`) only when ticked.
    remember: Option<String>,
}

impl Credentials {
    /// The session the form asks for.
    fn session_options(&self) -> SessionOptions {
        if self.remember.is_some() {
            SessionOptions::persistent(REMEMBER_LENGTH)
        } else {
            SessionOptions::browser_session(VISIT_LENGTH)
        }
    }
}

async fn signin_page(session: Option<Current>) -> Response {
    if session.is_some() {
        return Redirect::to("/").into_response();
    }
    Html(pages::credentials_form(false, None, "").into_string()).into_response()
}

async fn signup_page(session: Option<Current>) -> Response {
    if session.is_some() {
        return Redirect::to("/").into_response();
    }
    Html(pages::credentials_form(true, None, "").into_string()).into_response()
}

fn user_agent(headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("an unknown browser");
    agent.chars().take(200).collect()
}

fn form_error(signup: bool, status: StatusCode, message: &str, username: &str) -> Page {
    let page = pages::credentials_form(signup, Some(message), username).into_string();
    Ok((status, Html(page)).into_response())
}

async fn signin(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Page {
    // Before the password hash: a forged sign-in costs nothing.
    auth.check_sign_in_origin()?;
    if !state.users.verify(&form.username, &form.password).await? {
        return form_error(
            false,
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
            &form.username,
        );
    }
    // Signed in already as this user (the form was open in another tab):
    // the password was typed again, so record that and rotate the
    // session's token rather than start a second session. The session
    // keeps its kind of cookie.
    if auth
        .session()
        .is_some_and(|session| session.user_id == form.username)
    {
        auth.mark_reauthenticated().await?;
        auth.rotate().await?;
        return Ok(Redirect::to("/").into_response());
    }
    let data = DemoData {
        user_agent: user_agent(&headers),
    };
    let options = form.session_options();
    auth.sign_in_with(form.username, data, options).await?;
    Ok(Redirect::to("/").into_response())
}

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-".contains(c))
}

async fn signup(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Page {
    // First: a sign-up that may not sign in (a form on another site) must
    // not create the account either.
    auth.check_sign_in_origin()?;
    if !valid_username(&form.username) {
        return form_error(
            true,
            StatusCode::BAD_REQUEST,
            "Usernames are 1 to 64 letters, digits, dots, dashes or underscores.",
            &form.username,
        );
    }
    if form.password.chars().count() < 8 {
        return form_error(
            true,
            StatusCode::BAD_REQUEST,
            "Use at least 8 characters for the password.",
            &form.username,
        );
    }
    if !state.users.create(&form.username, &form.password).await? {
        return form_error(
            true,
            StatusCode::CONFLICT,
            "That username is taken.",
            &form.username,
        );
    }
    let data = DemoData {
        user_agent: user_agent(&headers),
    };
    let options = form.session_options();
    auth.sign_in_with(form.username, data, options).await?;
    Ok(Redirect::to("/").into_response())
}

async fn signout(auth: Auth) -> Page {
    auth.sign_out().await?;
    Ok(Redirect::to("/signin").into_response())
}

async fn sessions(auth: Auth, session: Current) -> Page {
    let mut list = auth
        .narvik()
        .fetch_sessions_for_user(&session.user_id)
        .await?;
    list.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    let now = auth.narvik().now();
    Ok(
        Html(pages::sessions(&session.user_id, &session.id, &list, now).into_string())
            .into_response(),
    )
}

#[derive(Deserialize)]
struct Revoke {
    id: String,
}

async fn revoke(auth: Auth, session: Current, Form(form): Form<Revoke>) -> Page {
    let Ok(id) = form.id.parse::<SessionId>() else {
        return Ok((StatusCode::BAD_REQUEST, "not a session id").into_response());
    };
    if id == session.id {
        auth.sign_out().await?;
        return Ok(Redirect::to("/signin").into_response());
    }
    // Only the user's own sessions can be revoked from here.
    let own = auth
        .narvik()
        .fetch_sessions_for_user(&session.user_id)
        .await?;
    if own.iter().any(|s| s.id == id) {
        auth.narvik().invalidate_session(&id).await?;
    }
    Ok(Redirect::to("/sessions").into_response())
}

#[derive(Deserialize)]
struct Confirm {
    /// The password, when the confirmation page sent it.
    password: Option<String>,
}

/// "Sign out everywhere else": a sensitive action, so the password is
/// asked for again unless it was typed in the last [`FRESH_FOR`].
async fn sign_out_others(
    State(state): State<AppState>,
    auth: Auth,
    session: Current,
    Form(form): Form<Confirm>,
) -> Page {
    if !auth.is_fresh(FRESH_FOR) {
        let Some(password) = form.password else {
            let page = pages::confirm_password(&session.user_id, None);
            return Ok(Html(page.into_string()).into_response());
        };
        if !state.users.verify(&session.user_id, &password).await? {
            let page = pages::confirm_password(&session.user_id, Some("Wrong password."));
            return Ok((StatusCode::UNAUTHORIZED, Html(page.into_string())).into_response());
        }
        // Proved again: fresh for the next few minutes, and a new token
        // for the privilege regained (the other sessions go next; this
        // one, rotated, stays).
        auth.mark_reauthenticated().await?;
        auth.rotate().await?;
    }
    auth.sign_out_other_sessions().await?;
    Ok(Redirect::to("/sessions").into_response())
}
