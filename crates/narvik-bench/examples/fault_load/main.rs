//! Faults under load: the demo app (examples/demo, run as a child
//! process) on a Redis or PostgreSQL server of the harness's own, with a
//! few hundred signed-in users reading pages over HTTP and one more task
//! signing users in, while the harness breaks the database or the link
//! to it, one fault at a time.
//!
//! ```sh
//! ./scripts/faults.sh            # builds the demo and this, runs both backends
//! ```
//!
//! Faults (`NARVIK_FAULTS_ONLY` picks some by name):
//!
//! - Redis: `kill` (SIGKILL, down for the fault's length, restarted from
//!   its AOF), `stop` (SIGSTOP for the fault's length, well past the
//!   store's 500 ms timeout, then SIGCONT);
//! - PostgreSQL: `terminate` (`pg_terminate_backend` on every client
//!   backend), `restart` (`pg_ctl stop -m fast`, then start);
//! - both, on the link (a TCP proxy in this program, between the demo and
//!   the database): `delay` (100 ms each way), `stall` (nothing forwarded,
//!   connections held open), `cut` (every connection closed, new ones
//!   closed as they come); on PostgreSQL also `long-stall`, a stall past
//!   sqlx's 30 s pool-acquire timeout.
//!
//! Each fault is a phase: the load runs for a baseline, the fault starts,
//! ends, and the load goes on until it has recovered (nothing from before
//! the end still waiting, then a quiet period without a failure) or a
//! deadline passes; then every session made before the fault is checked
//! (GET / must show its user's page). A markdown table of the figures
//! goes to stdout (and to `NARVIK_FAULTS_REPORT`); the exit status is 1
//! if a valid session was signed out, a session was lost, or the demo
//! panicked or died.
//!
//! Settings (environment): `NARVIK_FAULTS_DEMO` (the demo binary; by
//! default `narvik-demo` in this program's target directory),
//! `NARVIK_FAULTS_BACKENDS` (`redis,postgres`), `NARVIK_FAULTS_ONLY`
//! (all faults), `NARVIK_FAULTS_USERS` (300 readers),
//! `NARVIK_FAULTS_SIGNERS` (8 accounts the sign-in task uses),
//! `NARVIK_FAULTS_SECONDS` (3, the length of each fault),
//! `NARVIK_FAULTS_LONG_SECONDS` (35, the long stall's),
//! `NARVIK_FAULTS_THINK` (1 s between one user's requests),
//! `NARVIK_FAULTS_BASELINE` (2 s), `NARVIK_FAULTS_QUIET` (2 s),
//! `NARVIK_FAULTS_WITHIN` (50 s), `NARVIK_FAULTS_DIR` (the run's
//! directory; a fresh temporary one by default),
//! `NARVIK_FAULTS_PG_BIN` (where initdb and pg_ctl are).
//!
//! Loopback only. The servers, the proxy and the demo are the run's own,
//! and stop when it ends, however it ends short of SIGKILL (the script
//! cleans up after that too).

#![allow(clippy::print_stdout, reason = "a harness that prints its figures")]

mod client;
mod demo;
mod load;
mod proxy;
mod report;
mod servers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use client::Client;
use demo::Demo;
use load::{Load, Users};
use proxy::{Link, Proxy};
use report::{Phase, Row};
use servers::{Postgres, Redis};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The slow link's delay, each way.
const DELAY: Duration = Duration::from_millis(100);

struct Settings {
    demo: PathBuf,
    backends: Vec<Backend>,
    only: Option<Vec<String>>,
    users: usize,
    signers: usize,
    fault_for: Duration,
    long_for: Duration,
    think: Duration,
    baseline: Duration,
    quiet: Duration,
    within: Duration,
    dir: Option<PathBuf>,
    report: Option<PathBuf>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BoxError> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not valid").into()),
        Err(_) => Ok(default),
    }
}

fn list(name: &str) -> Option<Vec<String>> {
    let v = std::env::var(name).ok()?;
    Some(
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

impl Settings {
    fn from_env() -> Result<Self, BoxError> {
        let demo = match std::env::var_os("NARVIK_FAULTS_DEMO") {
            Some(path) => PathBuf::from(path),
            // This program is target/<profile>/examples/fault_load; the
            // demo of the same build is target/<profile>/narvik-demo.
            None => std::env::current_exe()?
                .parent()
                .and_then(Path::parent)
                .map(|dir| dir.join("narvik-demo"))
                .ok_or("set NARVIK_FAULTS_DEMO to the demo binary")?,
        };
        let backends = list("NARVIK_FAULTS_BACKENDS")
            .unwrap_or_else(|| vec!["redis".into(), "postgres".into()])
            .iter()
            .map(|name| match name.as_str() {
                "redis" => Ok(Backend::Redis),
                "postgres" => Ok(Backend::Postgres),
                other => Err(format!("unknown backend {other:?}: redis or postgres")),
            })
            .collect::<Result<_, _>>()?;
        let secs = |name: &str, default: f64| -> Result<Duration, BoxError> {
            Ok(Duration::from_secs_f64(env_or(name, default)?))
        };
        Ok(Self {
            demo,
            backends,
            only: list("NARVIK_FAULTS_ONLY"),
            users: env_or("NARVIK_FAULTS_USERS", 300)?,
            signers: env_or("NARVIK_FAULTS_SIGNERS", 8)?,
            fault_for: secs("NARVIK_FAULTS_SECONDS", 3.0)?,
            long_for: secs("NARVIK_FAULTS_LONG_SECONDS", 35.0)?,
            think: secs("NARVIK_FAULTS_THINK", 1.0)?,
            baseline: secs("NARVIK_FAULTS_BASELINE", 2.0)?,
            quiet: secs("NARVIK_FAULTS_QUIET", 2.0)?,
            within: secs("NARVIK_FAULTS_WITHIN", 50.0)?,
            dir: std::env::var_os("NARVIK_FAULTS_DIR").map(PathBuf::from),
            report: std::env::var_os("NARVIK_FAULTS_REPORT").map(PathBuf::from),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Redis,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Redis => "Redis",
            Self::Postgres => "PostgreSQL",
        }
    }

    fn faults(self) -> &'static [Fault] {
        match self {
            Self::Redis => &[
                Fault::Kill,
                Fault::Stop,
                Fault::Delay,
                Fault::Stall,
                Fault::Cut,
            ],
            Self::Postgres => &[
                Fault::Terminate,
                Fault::Restart,
                Fault::Delay,
                Fault::Stall,
                Fault::LongStall,
                Fault::Cut,
            ],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill,
    Stop,
    Terminate,
    Restart,
    Delay,
    Stall,
    LongStall,
    Cut,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Stop => "stop",
            Self::Terminate => "terminate",
            Self::Restart => "restart",
            Self::Delay => "delay",
            Self::Stall => "stall",
            Self::LongStall => "long-stall",
            Self::Cut => "cut",
        }
    }

    fn describe(self, settings: &Settings) -> String {
        let s = settings.fault_for.as_secs_f64();
        match self {
            Self::Kill => format!("`kill`: SIGKILL, down {s} s, restart (AOF)"),
            Self::Stop => format!("`stop`: SIGSTOP {s} s, SIGCONT"),
            Self::Terminate => "`terminate`: pg_terminate_backend, all".to_owned(),
            Self::Restart => "`restart`: pg_ctl stop -m fast, start".to_owned(),
            Self::Delay => format!("`delay`: link +{} ms each way, {s} s", DELAY.as_millis()),
            Self::Stall => format!("`stall`: link forwards nothing, {s} s"),
            Self::LongStall => format!(
                "`long-stall`: link forwards nothing, {} s",
                settings.long_for.as_secs_f64()
            ),
            Self::Cut => format!("`cut`: link closes every connection, {s} s"),
        }
    }
}

/// The run's database server.
enum Server {
    Redis(Redis),
    Postgres(Postgres),
}

impl Server {
    async fn start(backend: Backend, dir: &Path) -> Result<Self, BoxError> {
        Ok(match backend {
            Backend::Redis => Self::Redis(Redis::start(&dir.join("redis")).await?),
            Backend::Postgres => Self::Postgres(Postgres::start(&dir.join("postgres")).await?),
        })
    }

    fn port(&self) -> u16 {
        match self {
            Self::Redis(r) => r.port(),
            Self::Postgres(p) => p.port(),
        }
    }

    /// The URL the demo gets: the server behind the proxy on `port`.
    fn url_via(&self, port: u16) -> String {
        match self {
            Self::Redis(_) => format!("redis://127.0.0.1:{port}"),
            Self::Postgres(_) => Postgres::url(port),
        }
    }

    /// Injects `fault` and undoes it; returns what it has to say.
    async fn inject(
        &mut self,
        fault: Fault,
        proxy: &Proxy,
        settings: &Settings,
    ) -> Result<String, BoxError> {
        let fault_for = settings.fault_for;
        let on_link = |link, lasting| async move {
            proxy.set(link);
            tokio::time::sleep(lasting).await;
            proxy.set(Link::Normal);
            Ok(String::new())
        };
        match (fault, self) {
            (Fault::Delay, _) => on_link(Link::Delay(DELAY), fault_for).await,
            (Fault::Stall, _) => on_link(Link::Stall, fault_for).await,
            (Fault::LongStall, _) => on_link(Link::Stall, settings.long_for).await,
            (Fault::Cut, _) => on_link(Link::Cut, fault_for).await,
            (Fault::Kill, Self::Redis(redis)) => {
                redis.kill().await?;
                tokio::time::sleep(fault_for).await;
                redis.restart().await?;
                Ok(String::new())
            }
            (Fault::Stop, Self::Redis(redis)) => {
                redis.pause().await?;
                tokio::time::sleep(fault_for).await;
                redis.resume().await?;
                Ok(String::new())
            }
            (Fault::Terminate, Self::Postgres(pg)) => {
                let n = pg.terminate_backends().await?;
                Ok(format!("terminated {n} backends"))
            }
            (Fault::Restart, Self::Postgres(pg)) => {
                pg.restart().await?;
                Ok(String::new())
            }
            (fault, _) => Err(format!("no fault {} on this backend", fault.name()).into()),
        }
    }
}

/// A label for this run's accounts: `fl` and a few random characters.
fn run_label() -> Result<String, BoxError> {
    let token = narvik_core::Token::generate()?;
    let random: String = token
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    Ok(format!("fl{random}"))
}

async fn run_backend(
    settings: &Settings,
    backend: Backend,
    dir: &Path,
) -> Result<(Vec<Row>, Option<String>), BoxError> {
    let faults: Vec<Fault> = backend
        .faults()
        .iter()
        .copied()
        .filter(|f| {
            settings
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n == f.name()))
        })
        .collect();
    if faults.is_empty() {
        return Ok((Vec::new(), None));
    }
    // Dropped in reverse: the demo first, then the proxy, then the server.
    let mut server = Server::start(backend, dir).await?;
    let proxy = Proxy::start(server.port()).await?;
    let url = server.url_via(proxy.port());
    let log_path = dir.join(format!("demo-{}.log", backend.name()));
    let mut demo = Demo::start(&settings.demo, &url, &log_path).await?;
    let client = Client::new(demo.port());
    let started = Instant::now();
    let users = Users::sign_up(
        client,
        &run_label()?,
        settings.users,
        settings.signers,
        settings.think,
    )
    .await?;
    let users = Arc::new(users);
    println!(
        "{}: {} users signed up in {:.1} s; demo log {}",
        backend.name(),
        settings.users + settings.signers,
        started.elapsed().as_secs_f64(),
        log_path.display()
    );
    let mut rows = Vec::new();
    for fault in faults {
        let load = Load::start(&users);
        tokio::time::sleep(settings.baseline).await;
        let before = users.sessions();
        let panics = demo.log().panics();
        let start = Instant::now();
        let note = server.inject(fault, &proxy, settings).await?;
        let end = Instant::now();
        let recovery = load
            .wait_recovered(end, settings.quiet, settings.within)
            .await;
        let records = load.stop().await;
        let sessions = before.len();
        let check = load::check(&users.client, before).await;
        let phase = Phase {
            start: users.since_epoch(start),
            end: users.since_epoch(end),
        };
        let row = Row::new(
            backend.name(),
            fault.describe(settings),
            &phase,
            &records,
            recovery,
            demo.log().panics() - panics,
            sessions,
            check,
            note,
        );
        println!(
            "{} {}: {} requests, {} in the window, {} 5xx in it; demo ERROR lines so far {}",
            backend.name(),
            fault.name(),
            records.len(),
            row.in_window,
            row.errors_in_window,
            demo.log().errors()
        );
        println!(
            "  by second (OK/5xx/other): {}",
            report::timeline(&phase, &records)
        );
        rows.push(row);
    }
    let died = demo
        .exited()
        .map(|status| format!("the demo on {} exited: {status}", backend.name()));
    Ok((rows, died))
}

async fn run(settings: Settings) -> Result<bool, BoxError> {
    let temp;
    let dir = match &settings.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("narvik-faults-")
                .tempdir()?;
            temp.path().to_owned()
        }
    };
    let mut rows = Vec::new();
    let mut deaths = Vec::new();
    for &backend in &settings.backends {
        let (more, died) = run_backend(&settings, backend, &dir).await?;
        rows.extend(more);
        deaths.extend(died);
    }
    let mut table = report::table(&rows);
    for death in &deaths {
        table.push_str(&format!("- {death}.\n"));
    }
    println!("\n{table}");
    if let Some(path) = &settings.report {
        std::fs::write(path, &table)?;
    }
    Ok(rows.iter().any(Row::has_defect) || !deaths.is_empty())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fault_load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = tokio::select! {
        outcome = run(settings) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    match outcome {
        Ok(false) => std::process::ExitCode::SUCCESS,
        Ok(true) => {
            eprintln!(
                "fault_load: a valid session was signed out or lost, or the demo panicked or died (see the table)"
            );
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("fault_load: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
