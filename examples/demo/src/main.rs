//! The narvik demo: sign up, sign in, see and revoke your sessions.
//!
//! ```sh
//! cargo run -p narvik-demo                      # SQLite in ./narvik-demo.db
//! cargo run -p narvik-demo -- --database-url postgres://postgres@127.0.0.1/test
//! cargo run -p narvik-demo -- --database-url mysql://root@127.0.0.1/test
//! cargo run -p narvik-demo -- --database-url redis://127.0.0.1:6379
//! cargo run -p narvik-demo -- --database-url memory:   # nothing kept
//! ```
//!
//! Then open <http://127.0.0.1:3000>.

use std::net::SocketAddr;

use clap::Parser;
use narvik_demo::{Backend, app};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "narvik demo: server-side sessions in a small web app")]
struct Args {
    /// Where sessions and accounts live: sqlite://FILE, sqlite::memory:,
    /// postgres://..., mysql://..., redis://... or memory: (sessions in
    /// memory, accounts in SQLite in memory)
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://narvik-demo.db")]
    database_url: String,

    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// Behind TLS: mark the session cookie `Secure`, name it
    /// `__Host-narvik_session` (no other host can set it), and count only
    /// `https://` pages as the site. Off by default because the demo
    /// serves plain HTTP.
    #[arg(long)]
    secure_cookies: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let args = Args::parse();
    let backend = Backend::connect(&args.database_url).await?;
    let (router, purge) = app(backend, args.secure_cookies)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!("narvik demo on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    purge.shutdown().await;
    Ok(())
}
