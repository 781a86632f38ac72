//! Test fixtures: the Redis servers the tests talk to, and stores that
//! clean up after themselves.
//!
//! - One server: the machine's Redis at 127.0.0.1:6379, or
//!   `NARVIK_TEST_REDIS_URL`. Unreachable is a failure naming the URL and
//!   the variable, never a skip.
//! - A 3-master cluster: started here, on free loopback ports, from
//!   `redis-server` and `redis-cli --cluster create`. Its processes die
//!   with the test binary, however it ends (see [`Server`]).
//! - Private servers for the failure tests: [`Server::start`]; replicas
//!   and sentinels for the Sentinel test: [`Server::replica_of`],
//!   [`Server::sentinel`].

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use narvik_core::Token;
use narvik_redis::RedisStore;
use narvik_testkit::TestData;
use narvik_testkit::wrap::Wrapped;

/// A two-thread runtime with time and I/O, for tests that start servers
/// before they run async code.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Overrides the single server's URL (loopback only).
pub const URL_VAR: &str = "NARVIK_TEST_REDIS_URL";
const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// Where a test store lives.
#[derive(Debug, Clone)]
pub enum Target {
    Single(String),
    Cluster(Vec<String>),
}

impl Target {
    /// The machine's Redis, or `NARVIK_TEST_REDIS_URL`.
    pub fn single() -> Self {
        let url = std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        assert_loopback(&url);
        Self::Single(url)
    }

    /// The test binary's own 3-master cluster, started on first use.
    pub fn cluster() -> Self {
        Self::Cluster(cluster().urls())
    }
}

/// Tests talk to loopback servers only, never to a shared one elsewhere.
fn assert_loopback(url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    assert!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "{URL_VAR}={url} is not a loopback address; the tests only ever use loopback Redis servers"
    );
}

/// A prefix no other case or run uses.
pub fn unique_prefix(label: &str) -> String {
    let token = Token::generate().expect("os rng");
    format!("narvik-test-{label}-{}", &token.as_str()[..16])
}

/// Connects a store under `prefix`, or fails saying what to do.
pub async fn connect<D>(target: &Target, prefix: &str) -> RedisStore<D> {
    // Generous: the conformance suite fires 1,000-way bursts at debug
    // builds on small shared machines, and a burst queued behind one
    // connection can pass 500 ms. Timeouts are tested in failures.rs.
    let builder = RedisStore::builder()
        .key_prefix(prefix)
        .timeout(Duration::from_secs(5));
    match target {
        Target::Single(url) => builder.connect(url).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach Redis at {url}: {e:?}\n\
                 start redis-server there, or set {URL_VAR} to a loopback Redis URL"
            )
        }),
        Target::Cluster(nodes) => builder
            .connect_cluster(nodes)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test cluster at {nodes:?}: {e:?}")),
    }
}

/// A raw connection for checks the store API does not expose.
pub enum Raw {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Raw {
    pub async fn connect(target: &Target) -> Self {
        match target {
            Target::Single(url) => Self::Single(
                redis::Client::open(url.as_str())
                    .expect("redis url")
                    .get_multiplexed_async_connection()
                    .await
                    .expect("raw connection"),
            ),
            Target::Cluster(nodes) => Self::Cluster(
                redis::cluster::ClusterClient::new(nodes.clone())
                    .expect("cluster client")
                    .get_async_connection()
                    .await
                    .expect("raw cluster connection"),
            ),
        }
    }

    pub async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> T {
        let result = match self {
            Self::Single(c) => cmd.query_async(c).await,
            Self::Cluster(c) => cmd.query_async(c).await,
        };
        result.unwrap_or_else(|e| panic!("raw redis command failed: {e:?}"))
    }
}

/// A store under its own prefix that deletes its keys when dropped (also
/// when the case panics).
pub type TestStore = Wrapped<RedisStore<TestData>>;

/// Connects a [`TestStore`] under a prefix of its own.
pub async fn test_store(target: Target, label: &str) -> TestStore {
    let prefix = unique_prefix(label);
    let inner = connect(&target, &prefix).await;
    Wrapped::new(inner).on_drop(move || {
        // Its own thread and runtime: a drop hook cannot await, and the
        // case's runtime may be the one dropping the store.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async {
                let store: RedisStore<TestData> = connect(&target, &prefix).await;
                if let Err(e) = store.clear().await {
                    eprintln!("could not clean up prefix {prefix}: {e:?}");
                }
            });
        });
        let _ = cleanup.join();
    })
}

/// A free loopback port; with `bus`, port + 10000 (the cluster bus) is
/// free too.
pub fn free_port(bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        if !bus || (port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()) {
            return port;
        }
    }
}

/// Runs redis-server under `sh`, which kills it (and removes its
/// directory) as soon as its stdin closes: when this handle drops, or
/// when the test binary exits in any way, since the pipe closes with it.
/// A static cluster is never dropped; this is what tears it down.
const WATCHDOG: &str = r#"dir="$1"; shift
"$@" >/dev/null 2>&1 </dev/null &
pid=$!
echo "$pid"
cat >/dev/null
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$dir""#;

/// One redis-server process on a loopback port.
pub struct Server {
    pub port: u16,
    pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    dir: std::path::PathBuf,
    /// Arguments before the common ones: a config file.
    leading: Vec<String>,
    extra: Vec<String>,
    /// Watchdogs of earlier runs of this server ([`Server::restart`]):
    /// they remove the directory when dropped, so they go last.
    earlier: Vec<Server>,
}

impl Server {
    /// A plain server (no persistence) on `port`.
    pub fn start(port: u16) -> Self {
        Self::spawn(port, &[])
    }

    /// A replica of the server on `primary`, once its link is up.
    pub fn replica_of(port: u16, primary: u16) -> Self {
        let server = Self::spawn(port, &["--replicaof", "127.0.0.1", &primary.to_string()]);
        wait_for(
            Duration::from_secs(20),
            "the replica's link to its primary",
            || redis_cli(port, &["INFO", "replication"]).contains("master_link_status:up"),
        );
        server
    }

    /// A sentinel (`redis-server <config> --sentinel`) whose config file,
    /// in its own directory, holds `config`.
    pub fn sentinel(port: u16, config: &str) -> Self {
        let dir = Self::new_dir(port);
        let file = dir.join("sentinel.conf");
        std::fs::write(&file, config).expect("write the sentinel's config");
        let leading = vec![file.to_string_lossy().into_owned()];
        Self::launch(port, dir, leading, vec!["--sentinel".to_owned()])
    }

    fn spawn(port: u16, extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|&a| a.to_owned()).collect();
        Self::launch(port, Self::new_dir(port), Vec::new(), extra)
    }

    fn new_dir(port: u16) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "narvik-redis-{}-{port}-{}",
            std::process::id(),
            &Token::generate().expect("os rng").as_str()[..8]
        ));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        dir
    }

    fn launch(
        port: u16,
        dir: std::path::PathBuf,
        leading: Vec<String>,
        extra: Vec<String>,
    ) -> Self {
        let port_arg = port.to_string();
        let dir_arg = dir.to_string_lossy().into_owned();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(&dir_arg)
            .arg("redis-server")
            .args(&leading)
            .args([
                "--port",
                &port_arg,
                "--bind",
                "127.0.0.1",
                "--dir",
                &dir_arg,
            ])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh to start redis-server: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read redis-server's pid");
        let pid = line.trim().parse().expect("redis-server's pid");
        let server = Self {
            port,
            pid,
            stdin: child.stdin.take(),
            child,
            dir,
            leading,
            extra,
            earlier: Vec::new(),
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer on 127.0.0.1:{} within 10 s; is redis-server (7.0+) installed and on PATH?",
            self.port
        );
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL as [`Server::kill`], but the directory (a cluster node's
    /// `nodes.conf`) stays, for [`Server::restart`].
    pub fn crash(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        while ping(self.port) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGSTOP: the server keeps its connections but answers nothing,
    /// as a hung host; [`Server::resume`] undoes it.
    pub fn pause(&self) {
        let _ = Command::new("kill")
            .args(["-STOP", &self.pid.to_string()])
            .status();
    }

    pub fn resume(&self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid.to_string()])
            .status();
    }

    /// Runs redis-server again, same port, directory and options: a
    /// crashed cluster node comes back as the same node (empty: nothing
    /// is persisted).
    pub fn restart(&mut self) {
        let next = Self::launch(
            self.port,
            self.dir.clone(),
            self.leading.clone(),
            self.extra.clone(),
        );
        let earlier = std::mem::replace(self, next);
        self.earlier.push(earlier);
    }

    /// SIGKILL: no goodbye to clients, as in a crash.
    pub fn kill(mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        self.stdin.take();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog kill the server; wait for it so
        // no process outlives the test.
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// `redis-cli -p port args...`'s output ("" if it cannot run).
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Polls `ready` every 50 ms until it holds, or panics naming `what`
/// after `within`.
pub fn wait_for(within: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what}: not ready within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True if something answers PING with PONG on the port.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A 3-master Redis Cluster on loopback ports of its own.
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    pub fn start() -> Self {
        let ports: Vec<u16> = {
            let mut ports = Vec::new();
            while ports.len() < 3 {
                let port = free_port(true);
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
            ports
        };
        let nodes: Vec<Server> = ports
            .iter()
            .map(|&port| {
                Server::spawn(
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli --cluster create: {e}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all_ok = self.nodes.iter().all(|node| {
                Command::new("redis-cli")
                    .args(["-p", &node.port.to_string(), "cluster", "info"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
                    .unwrap_or(false)
            });
            if all_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster did not reach cluster_state:ok within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }
}

/// The test binary's cluster: started once, torn down when the binary
/// exits (see [`WATCHDOG`]).
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}
