//! The harness's own database servers, on free loopback ports, with their
//! files in the run's directory: a redis-server with AOF on (every write
//! fsynced before it is acknowledged), and a PostgreSQL cluster made with
//! initdb. Never the machine's shared servers: the harness kills, stops
//! and restarts these.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use narvik_sqlx::sqlx::{self, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::BoxError;

/// A free loopback port (free when asked; nothing else here binds one).
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Sends `signal` (`-STOP`, `-CONT`) to `pid` with kill(1).
async fn signal(pid: u32, signal: &str) -> Result<(), BoxError> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .await?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill {signal} {pid}: {status}").into())
    }
}

/// Waits until `ready` holds, for at most `within`.
async fn wait_until<F, Fut>(what: &str, within: Duration, mut ready: F) -> Result<(), BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ready().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{what} not ready within {within:?}").into())
}

/// One redis-server, run in the foreground as a child of the harness
/// (killed when dropped).
pub(crate) struct Redis {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Redis {
    /// Starts redis-server on a free port, its AOF in `dir`.
    pub(crate) async fn start(dir: &Path) -> Result<Self, BoxError> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let child = Self::spawn(port, dir).await?;
        Ok(Self {
            port,
            dir: dir.to_owned(),
            child,
        })
    }

    async fn spawn(port: u16, dir: &Path) -> Result<Child, BoxError> {
        let dir_arg = dir.to_string_lossy().into_owned();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("redis.log"))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &dir_arg, "--daemonize", "no", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--pidfile", &format!("{dir_arg}/redis.pid")])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run redis-server (is it installed?): {e}"))?;
        wait_until("redis-server", Duration::from_secs(10), || ping(port)).await?;
        Ok(child)
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL, as a crash: no goodbye to clients, nothing flushed beyond
    /// what AOF already fsynced.
    pub(crate) async fn kill(&mut self) -> Result<(), BoxError> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Runs it again on the same port and directory: it loads its AOF.
    pub(crate) async fn restart(&mut self) -> Result<(), BoxError> {
        self.child = Self::spawn(self.port, &self.dir).await?;
        Ok(())
    }

    /// SIGSTOP: connections stay open and nothing answers.
    pub(crate) async fn pause(&self) -> Result<(), BoxError> {
        signal(self.pid()?, "-STOP").await
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub(crate) async fn resume(&self) -> Result<(), BoxError> {
        signal(self.pid()?, "-CONT").await
    }

    fn pid(&self) -> Result<u32, BoxError> {
        self.child
            .id()
            .ok_or_else(|| "redis-server has exited".into())
    }
}

/// True if something answers PING with PONG on the port.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(&reply == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}

/// A PostgreSQL cluster of the harness's own: initdb into the run's
/// directory, pg_ctl on a free loopback port with its socket there too.
/// Stopped (immediate mode) when dropped.
pub(crate) struct Postgres {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    socket: PathBuf,
}

impl Postgres {
    /// Creates the cluster under `dir` and starts it.
    pub(crate) async fn start(dir: &Path) -> Result<Self, BoxError> {
        let bin = pg_bin_dir()?;
        let socket = dir.join("socket");
        std::fs::create_dir_all(&socket)?;
        let data = dir.join("data");
        let log = dir.join("postgres.log");
        if running_as_root()? {
            // PostgreSQL refuses to run as root: its files belong to the
            // postgres account, which must reach them.
            // The run's directories (below the temp dir) open to it.
            let temp = std::env::temp_dir();
            for path in dir
                .ancestors()
                .take_while(|p| p.starts_with(&temp) && *p != temp)
            {
                let mode = std::fs::metadata(path)?.permissions().mode();
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o755))?;
            }
            let mut chown = std::process::Command::new("chown");
            chown.args(["-R", "postgres:"]).arg(dir);
            run(chown).await?;
        }
        let server = Self {
            port: free_port()?,
            bin,
            data,
            log,
            socket,
        };
        let mut initdb = server.command("initdb");
        initdb
            .arg("-D")
            .arg(&server.data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
            .args(["--no-sync", "--no-instructions"]);
        run(initdb).await?;
        server.pg_ctl_start().await?;
        Ok(server)
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The database URL on `port` (the server's own, or a proxy's).
    pub(crate) fn url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    /// `pg_terminate_backend` on every client backend but its own, from
    /// a connection of its own; how many it terminated.
    pub(crate) async fn terminate_backends(&self) -> Result<i64, BoxError> {
        let mut admin = sqlx::PgConnection::connect(&Self::url(self.port)).await?;
        let terminated: i64 = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut admin)
        .await?;
        let _ = admin.close().await;
        Ok(terminated)
    }

    /// `pg_ctl stop -m fast` (clients are disconnected, transactions
    /// rolled back, a clean shutdown), then start again.
    pub(crate) async fn restart(&self) -> Result<(), BoxError> {
        self.pg_ctl_stop("fast").await?;
        self.pg_ctl_start().await
    }

    async fn pg_ctl_start(&self) -> Result<(), BoxError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            self.port,
            self.socket.display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(start).await
    }

    async fn pg_ctl_stop(&self, mode: &str) -> Result<(), BoxError> {
        run(self.stop_command(mode)).await
    }

    fn stop_command(&self, mode: &str) -> std::process::Command {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        stop
    }

    /// One of PostgreSQL's programs, as the postgres account when the
    /// harness runs as root.
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if running_as_root().unwrap_or(false) {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            std::process::Command::new(path)
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .stop_command("immediate")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `command` to the end; its output becomes the error if it fails.
async fn run(command: std::process::Command) -> Result<(), BoxError> {
    let shown = format!("{command:?}");
    let output = Command::from(command).stdin(Stdio::null()).output().await?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown}: {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into())
    }
}

fn running_as_root() -> std::io::Result<bool> {
    // /proc/self belongs to the process's effective user.
    Ok(std::fs::metadata("/proc/self")?.uid() == 0)
}

/// Where initdb and pg_ctl are: `NARVIK_FAULTS_PG_BIN`, else the
/// directory of `initdb` on PATH, else the newest
/// /usr/lib/postgresql/*/bin.
fn pg_bin_dir() -> Result<PathBuf, BoxError> {
    if let Ok(dir) = std::env::var("NARVIK_FAULTS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no initdb: install PostgreSQL or set NARVIK_FAULTS_PG_BIN".into())
}
