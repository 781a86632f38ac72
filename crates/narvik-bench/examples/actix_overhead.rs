//! What a session middleware adds to one actix-web request, in-process
//! (`actix_web::test` services, no sockets), in one run: the bare app,
//! actix-session 0.11 with its encrypted `CookieSessionStore` and with its
//! `RedisSessionStore`, and narvik-actix with narvik's `MemoryStore` and
//! with narvik-redis's `RedisStore`; for an authenticated read (`GET /me`
//! with a valid cookie) and a sign-in that creates a session
//! (`POST /sign-in`).
//!
//! ```text
//! cargo run --release -p narvik-bench --example actix_overhead
//! NARVIK_BENCH_REDIS_URL=redis://127.0.0.1:6380 cargo run --release -p narvik-bench --example actix_overhead
//! ```
//!
//! Every subject starts with 10,000 sessions, made by signing in through
//! its own app. Then, in rounds that rotate which subject goes first (a
//! shared 2-core machine drifts): one request at a time, reads and
//! sign-ins, for every subject; and, for the two Redis subjects, 64
//! requests in flight on the one thread (as one actix-web worker serves
//! them). Each figure is the median round's time per request; "added" is
//! the difference to the bare app's in the same rounds.
//!
//! Loopback Redis only. Both Redis subjects write under a fresh key
//! prefix, and every key under the two prefixes is deleted at the end,
//! also when a measurement fails.

#![allow(clippy::print_stdout, reason = "a harness that prints its figures")]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_session::storage::{CookieSessionStore, RedisSessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HOST, ORIGIN, SET_COOKIE};
use actix_web::{App, HttpResponse, test, web};
use narvik_actix::{CurrentSession, NarvikMiddleware, SessionManager};
use narvik_core::store::{MemoryStore, SessionStore};
use narvik_core::{Narvik, Token};
use narvik_redis::RedisStore;

type BoxError = Box<dyn std::error::Error>;
type Request = actix_http::Request;
type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;
/// One request through a subject's app: the status, and the session
/// cookie's `name=value` if `want_cookie` and the response set one.
type Call = Rc<dyn Fn(Request, bool) -> LocalFuture<Result<Reply, actix_web::Error>>>;

const SESSIONS: usize = 10_000;
/// Short rounds, many of them, the order rotating: on a shared 2-core
/// machine a long run of one subject swings with the neighbours.
const ROUNDS: usize = 15;
const IN_FLIGHT: usize = 64;
const HOST_NAME: &str = "app.example.com";
const SITE: &str = "https://app.example.com";

/// Requests per round, one at a time, for in-process and Redis subjects.
const MEMORY_READS: usize = 5_000;
const MEMORY_SIGN_INS: usize = 3_000;
const REDIS_READS: usize = 1_000;
const REDIS_SIGN_INS: usize = 600;
/// Requests per in-flight task per round (64 tasks).
const REDIS_CONCURRENT_PER_TASK: usize = 40;

struct Reply {
    status: StatusCode,
    cookie: Option<String>,
}

/// Every sign-in is for a new user.
fn next_user() -> String {
    static USERS: AtomicUsize = AtomicUsize::new(0);
    format!("bench-user-{}", USERS.fetch_add(1, Ordering::Relaxed))
}

// ------------------------------------------------------------- handlers

async fn bare_me() -> &'static str {
    "bench-user"
}

async fn bare_sign_in() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

async fn session_me(session: Session) -> HttpResponse {
    match session.get::<String>("user_id") {
        Ok(Some(user)) => HttpResponse::Ok().body(user),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

async fn session_sign_in(session: Session) -> HttpResponse {
    // A new key at sign-in (no fixation), as narvik's sign-in does.
    session.renew();
    match session.insert("user_id", next_user()) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn narvik_me(session: CurrentSession) -> String {
    session.user_id.to_string()
}

async fn narvik_sign_in<S: SessionStore<Data = ()> + 'static>(
    auth: SessionManager<S>,
) -> Result<HttpResponse, narvik_actix::Error> {
    auth.sign_in(next_user(), ()).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ------------------------------------------------------------- subjects

/// One app under test and the cookies of its seeded sessions.
struct Subject {
    name: &'static str,
    call: Call,
    cookies: Vec<String>,
    redis: bool,
}

fn caller<Svc, B>(service: Svc) -> Call
where
    Svc: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    let service = Rc::new(service);
    Rc::new(move |request, want_cookie| {
        let service = Rc::clone(&service);
        Box::pin(async move {
            let response = service.call(request).await?;
            let cookie = want_cookie
                .then(|| response.headers().get(SET_COOKIE))
                .flatten()
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or_default().to_owned());
            Ok(Reply {
                status: response.status(),
                cookie,
            })
        })
    })
}

fn read_request(cookie: &str) -> Request {
    test::TestRequest::get()
        .uri("/me")
        .insert_header((HOST, HOST_NAME))
        .insert_header(("cookie", cookie))
        .to_request()
}

/// A sign-in from the site's own page, as every subject gets it (narvik's
/// cross-origin check wants `Origin`; the others ignore it).
fn sign_in_request() -> Request {
    test::TestRequest::post()
        .uri("/sign-in")
        .insert_header((HOST, HOST_NAME))
        .insert_header((ORIGIN, SITE))
        .to_request()
}

impl Subject {
    async fn new(name: &'static str, call: Call, redis: bool) -> Result<Self, BoxError> {
        let mut subject = Self {
            name,
            call,
            cookies: Vec::new(),
            redis,
        };
        if name != "bare" {
            for _ in 0..SESSIONS {
                let cookie = subject.sign_in(true).await?;
                subject
                    .cookies
                    .push(cookie.ok_or("a sign-in set no cookie")?);
            }
            // Each seeded cookie opens `/me`.
            let reply = (subject.call)(read_request(&subject.cookies[0]), false).await?;
            if reply.status != StatusCode::OK {
                return Err(format!("{name}: a seeded session did not read").into());
            }
        } else {
            subject.cookies.push("none=0".to_owned());
        }
        Ok(subject)
    }

    async fn sign_in(&self, want_cookie: bool) -> Result<Option<String>, BoxError> {
        let reply = (self.call)(sign_in_request(), want_cookie).await?;
        if reply.status != StatusCode::NO_CONTENT {
            return Err(format!("{}: sign-in answered {}", self.name, reply.status).into());
        }
        Ok(reply.cookie)
    }

    async fn read(&self, i: usize) -> Result<(), BoxError> {
        let cookie = &self.cookies[i % self.cookies.len()];
        let reply = (self.call)(read_request(cookie), false).await?;
        if reply.status != StatusCode::OK {
            return Err(format!("{}: read answered {}", self.name, reply.status).into());
        }
        Ok(())
    }

    /// Time per request, `n` one at a time.
    async fn one_at_a_time(&self, op: Op, n: usize) -> Result<Duration, BoxError> {
        let start = Instant::now();
        for i in 0..n {
            match op {
                Op::Read => self.read(i).await?,
                Op::SignIn => {
                    self.sign_in(false).await?;
                }
            }
        }
        Ok(start.elapsed() / u32::try_from(n)?)
    }

    /// Time per request (elapsed over requests) and the median latency,
    /// with [`IN_FLIGHT`] tasks on this thread, `per_task` requests each.
    async fn in_flight(&self, op: Op, per_task: usize) -> Result<(Duration, Duration), BoxError> {
        let start = Instant::now();
        let tasks = (0..IN_FLIGHT).map(|task| async move {
            let mut latencies = Vec::with_capacity(per_task);
            for j in 0..per_task {
                let begun = Instant::now();
                match op {
                    Op::Read => self.read(task * per_task + j).await?,
                    Op::SignIn => {
                        self.sign_in(false).await?;
                    }
                }
                latencies.push(begun.elapsed());
            }
            Ok::<_, BoxError>(latencies)
        });
        let results = futures_util::future::join_all(tasks).await;
        let elapsed = start.elapsed();
        let mut latencies = Vec::with_capacity(IN_FLIGHT * per_task);
        for result in results {
            latencies.extend(result?);
        }
        latencies.sort_unstable();
        let per_request = elapsed / u32::try_from(latencies.len())?;
        Ok((per_request, latencies[latencies.len() / 2]))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    SignIn,
}

async fn bare() -> Call {
    caller(
        test::init_service(
            App::new()
                .route("/me", web::get().to(bare_me))
                .route("/sign-in", web::post().to(bare_sign_in)),
        )
        .await,
    )
}

async fn actix_session_cookie(key: &Key) -> Call {
    let middleware = SessionMiddleware::new(CookieSessionStore::default(), key.clone());
    caller(
        test::init_service(
            App::new()
                .wrap(middleware)
                .route("/me", web::get().to(session_me))
                .route("/sign-in", web::post().to(session_sign_in)),
        )
        .await,
    )
}

async fn actix_session_redis(key: &Key, url: &str, prefix: &str) -> Result<Call, BoxError> {
    let prefix = prefix.to_owned();
    let store = RedisSessionStore::builder(url)
        .cache_keygen(move |key| format!("{prefix}{key}"))
        .build()
        .await
        .map_err(|e| format!("actix-session Redis store: {e}"))?;
    let middleware = SessionMiddleware::new(store, key.clone());
    Ok(caller(
        test::init_service(
            App::new()
                .wrap(middleware)
                .route("/me", web::get().to(session_me))
                .route("/sign-in", web::post().to(session_sign_in)),
        )
        .await,
    ))
}

async fn narvik_app<S: SessionStore<Data = ()> + 'static>(narvik: Narvik<S>) -> Call {
    caller(
        test::init_service(
            App::new()
                .wrap(NarvikMiddleware::new(narvik))
                .route("/me", web::get().to(narvik_me))
                .route("/sign-in", web::post().to(narvik_sign_in::<S>)),
        )
        .await,
    )
}

// ---------------------------------------------------------------- rounds

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Per subject, per round: microseconds per request.
type Table = Vec<Vec<f64>>;

async fn one_at_a_time_rounds(subjects: &[Subject], op: Op) -> Result<Table, BoxError> {
    let mut table = vec![Vec::new(); subjects.len()];
    for round in 0..ROUNDS {
        for turn in 0..subjects.len() {
            let k = (round + turn) % subjects.len();
            let subject = &subjects[k];
            let n = match (op, subject.redis) {
                (Op::Read, false) => MEMORY_READS,
                (Op::Read, true) => REDIS_READS,
                (Op::SignIn, false) => MEMORY_SIGN_INS,
                (Op::SignIn, true) => REDIS_SIGN_INS,
            };
            table[k].push(us(subject.one_at_a_time(op, n).await?));
        }
    }
    Ok(table)
}

fn print_table(title: &str, subjects: &[Subject], table: &Table) {
    println!("\n{title}");
    let bare = median(table[0].clone());
    for (subject, rounds) in subjects.iter().zip(table) {
        let median = median(rounds.clone());
        println!(
            "  {:<34} {:>8.2} us/request   added {:>8.2} us   (rounds: {})",
            subject.name,
            median,
            median - bare,
            rounds
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

/// The median of a subject's rounds.
fn of(table: &Table, k: usize) -> f64 {
    median(table[k].clone())
}

async fn run(url: &str, prefixes: &[String; 2], key: &Key) -> Result<(), BoxError> {
    let narvik_redis = RedisStore::builder()
        .key_prefix(&prefixes[1])
        .connect::<()>(url)
        .await?;
    // Index: 0 bare, 1 cookie, 2 narvik memory, 3 actix-session Redis,
    // 4 narvik Redis.
    let subjects = vec![
        Subject::new("bare", bare().await, false).await?,
        Subject::new(
            "actix-session CookieSessionStore",
            actix_session_cookie(key).await,
            false,
        )
        .await?,
        Subject::new(
            "narvik-actix MemoryStore",
            narvik_app(Narvik::new(MemoryStore::new())).await,
            false,
        )
        .await?,
        Subject::new(
            "actix-session RedisSessionStore",
            actix_session_redis(key, url, &prefixes[0]).await?,
            true,
        )
        .await?,
        Subject::new(
            "narvik-actix RedisStore",
            narvik_app(Narvik::new(narvik_redis)).await,
            true,
        )
        .await?,
    ];
    println!(
        "{SESSIONS} sessions per subject; {ROUNDS} rounds, medians; Redis at {url}, prefixes {} and {}",
        prefixes[0], prefixes[1]
    );

    // Warm-up: a little of everything, untimed.
    for subject in &subjects {
        subject.one_at_a_time(Op::Read, 500).await?;
        subject.one_at_a_time(Op::SignIn, 200).await?;
    }

    let reads = one_at_a_time_rounds(&subjects, Op::Read).await?;
    print_table(
        "authenticated read (GET /me), one at a time",
        &subjects,
        &reads,
    );
    let sign_ins = one_at_a_time_rounds(&subjects, Op::SignIn).await?;
    print_table(
        "sign-in (POST /sign-in), one at a time",
        &subjects,
        &sign_ins,
    );

    // 64 in flight, Redis subjects only (in-process ones gain nothing from
    // concurrency on one thread).
    println!("\n{IN_FLIGHT} requests in flight on one thread (Redis)");
    for op in [Op::Read, Op::SignIn] {
        let mut per_request: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut p50: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            for turn in 0..2 {
                let which = (round + turn) % 2;
                let (time, latency) = subjects[3 + which]
                    .in_flight(op, REDIS_CONCURRENT_PER_TASK)
                    .await?;
                per_request[which].push(us(time));
                p50[which].push(us(latency));
            }
        }
        for which in 0..2 {
            println!(
                "  {:<8} {:<34} {:>8.2} us/request ({:>6.0} requests/s)   p50 latency {:>8.1} us",
                format!("{op:?}"),
                subjects[3 + which].name,
                median(per_request[which].clone()),
                1e6 / median(per_request[which].clone()),
                median(p50[which].clone()),
            );
        }
        let ratio = median(per_request[0].clone()) / median(per_request[1].clone());
        let per_round = median(
            (0..ROUNDS)
                .map(|r| per_request[0][r] / per_request[1][r])
                .collect(),
        );
        println!(
            "  {op:?}: actix-session / narvik time per request: {ratio:.2}, per-round median \
             {per_round:.2} (target >= 1.0)"
        );
    }

    for (label, table) in [("read", &reads), ("sign-in", &sign_ins)] {
        let cookie_added = of(table, 1) - of(table, 0);
        let narvik_added = of(table, 2) - of(table, 0);
        // The same ratio taken in each round, where both saw the same
        // machine, then the median.
        let per_round = median(
            (0..ROUNDS)
                .map(|r| (table[2][r] - table[0][r]) / (table[1][r] - table[0][r]))
                .collect(),
        );
        println!(
            "\nMemoryStore {label}: narvik adds {narvik_added:.2} us, actix-session's cookie store \
             {cookie_added:.2} us; ratio {:.2}, per-round median {per_round:.2} (target for reads <= 0.5)",
            narvik_added / cookie_added
        );
    }
    for (label, table) in [("read", &reads), ("sign-in", &sign_ins)] {
        let (session, narvik) = (of(table, 3), of(table, 4));
        let per_round = median((0..ROUNDS).map(|r| table[3][r] / table[4][r]).collect());
        println!(
            "Redis {label} one at a time: narvik {narvik:.1} us, actix-session {session:.1} us; \
             actix-session / narvik {:.2}, per-round median {per_round:.2} (target >= 1.0)",
            session / narvik
        );
    }
    Ok(())
}

/// Deletes every key under `prefix`; returns how many.
async fn delete_prefix(url: &str, prefix: &str) -> Result<usize, BoxError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor = 0u64;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: usize = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

fn main() -> Result<(), BoxError> {
    let url = std::env::var("NARVIK_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let host = url
        .trim_start_matches("redis://")
        .split([':', '/'])
        .next()
        .unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost" | "[") {
        return Err(format!("loopback Redis only, not {url}").into());
    }
    let token = Token::generate()?;
    let unique = &token.as_str()[..12];
    let prefixes = [
        format!("narvik-bench-actix-session-{unique}:"),
        format!("narvik-bench-actix-{unique}"),
    ];
    let key = Key::generate();
    actix_web::rt::System::new().block_on(async {
        let outcome = run(&url, &prefixes, &key).await;
        for prefix in &prefixes {
            match delete_prefix(&url, prefix).await {
                Ok(n) => println!("cleaned up {n} keys under {prefix}"),
                Err(e) => println!("cleaning up {prefix} failed: {e}"),
            }
        }
        outcome
    })
}
