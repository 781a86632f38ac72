//! The SQLite store: open, migrate, one session from sign-in to sign-out,
//! and the background purge. On an in-memory database, so it leaves
//! nothing behind.
//!
//! ```sh
//! cargo run -p narvik-sqlx --example sqlite --features sqlite
//! ```

#![allow(clippy::print_stdout, reason = "an example that says what it does")]

use std::sync::Arc;
use std::time::Duration;

use narvik_core::{Error, Narvik, PurgeTask};
use narvik_sqlx::SqliteStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // An application opens a file instead: `SqliteStore::open("sessions.db")`.
    let store = Arc::new(SqliteStore::<()>::open_in_memory().await?);
    store.migrate().await?;
    println!("migrated table {}", store.table_name());

    let narvik = Narvik::new(Arc::clone(&store));
    let purge = PurgeTask::spawn(Arc::clone(&store), Duration::from_secs(600));
    println!("purging expired sessions every 10 minutes");

    let created = narvik.create_session("user-42", ()).await?;
    // The token goes to the client (`narvik.create_cookie(&created.token)`)
    // and nowhere else; the table holds only its hash, the session id.
    println!(
        "signed in: session {}, its token in cookie {}",
        created.session.id,
        narvik.cookie_name()
    );

    let valid = narvik.validate_session(created.token.as_str()).await?;
    let user = valid.map(|v| v.session.user_id);
    println!("validated: user {}", user.as_deref().unwrap_or("none"));

    let sessions = narvik.fetch_sessions_for_user("user-42").await?;
    println!("user-42 has {} session(s)", sessions.len());

    narvik.invalidate_session(&created.session.id).await?;
    let gone = narvik.validate_session(created.token.as_str()).await?;
    println!("signed out: session found afterwards: {}", gone.is_some());

    purge.shutdown().await;
    store.close().await;
    Ok(())
}
