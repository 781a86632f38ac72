//! The demo app (examples/demo) as a child process on a free loopback
//! port, its output kept in the run's directory and read as it comes for
//! panics and errors.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::BoxError;
use crate::servers::free_port;

/// What the demo's log has said so far.
#[derive(Default)]
pub(crate) struct LogCounts {
    panics: AtomicU64,
    errors: AtomicU64,
}

impl LogCounts {
    /// Lines reporting a panic (`panicked at`) so far.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// ERROR lines (the demo logs each 500's cause at ERROR) so far.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// The running demo; killed when dropped.
pub(crate) struct Demo {
    port: u16,
    child: Child,
    log: Arc<LogCounts>,
}

impl Demo {
    /// Starts `binary --database-url url` and waits until it serves its
    /// sign-in page. Its output goes to `log_path`.
    pub(crate) async fn start(binary: &Path, url: &str, log_path: &Path) -> Result<Self, BoxError> {
        let port = free_port()?;
        let mut child = Command::new(binary)
            .args([
                "--database-url",
                url,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run the demo at {}: {e}", binary.display()))?;
        let log = Arc::new(LogCounts::default());
        let file = Arc::new(Mutex::new(tokio::fs::File::create(log_path).await?));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_log(out, Arc::clone(&file), Arc::clone(&log)));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_log(err, file, Arc::clone(&log)));
        }
        let demo = Self { port, child, log };
        demo.wait_until_serving().await?;
        Ok(demo)
    }

    async fn wait_until_serving(&self) -> Result<(), BoxError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let request = format!(
                    "GET /signin HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                let mut reply = Vec::new();
                if stream.write_all(request.as_bytes()).await.is_ok()
                    && tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut reply)
                        .await
                        .is_ok()
                    && reply.starts_with(b"HTTP/1.1 200")
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the demo did not serve /signin on port {} within 60 s",
            self.port
        )
        .into())
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// What its log has said.
    pub(crate) fn log(&self) -> &LogCounts {
        &self.log
    }

    /// Its exit status if it has exited (a crash), else None.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

async fn read_log(
    stream: impl AsyncRead + Unpin,
    file: Arc<Mutex<tokio::fs::File>>,
    counts: Arc<LogCounts>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains("panicked at") {
            counts.panics.fetch_add(1, Ordering::Relaxed);
        }
        if line.contains(" ERROR ") {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut file = file.lock().await;
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
    }
}
