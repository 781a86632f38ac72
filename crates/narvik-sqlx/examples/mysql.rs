//! The MySQL / MariaDB store: connect, migrate a table, and a session that
//! slides forward when validated late in its life.
//!
//! ```sh
//! cargo run -p narvik-sqlx --example mysql --features mysql
//! NARVIK_TEST_MYSQL_URL=mysql://app@127.0.0.1/app cargo run -p narvik-sqlx --example mysql --features mysql
//! ```
//!
//! The URL defaults to `mysql://root@127.0.0.1:3306/test`. The example
//! makes a table of its own and drops it at the end; an application keeps
//! the default table, `narvik_sessions`.

#![allow(clippy::print_stdout, reason = "an example that says what it does")]

use std::time::Duration;

use narvik_core::{Clock, Config, Error, ManualClock, Narvik, Timestamp, Token};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{MySqlStore, TableName};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("NARVIK_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let random = Token::generate()?;
    let table = TableName::new(&format!("narvik_example_{}", &random.as_str()[..12]))
        .map_err(|e| Error::store("example table name", e))?;

    let store = MySqlStore::<()>::connect(&url)
        .await?
        .with_table_name(table.clone());
    store.migrate().await?;
    println!("connected to {url}; migrated table {table}");
    let pool = store.pool().clone();

    // A clock the example moves by hand, so the days pass at once.
    let clock = ManualClock::new(Timestamp::now());
    let config = Config::builder().session_length(30 * DAY).build()?;
    let narvik = Narvik::with_config(store, config).with_clock(clock.clone());
    let days_left = |expires_at: Timestamp| {
        expires_at.saturating_duration_since(clock.now()).as_secs() / DAY.as_secs()
    };

    let created = narvik.create_session("user-42", ()).await?;
    let _abandoned = narvik.create_session("user-7", ()).await?;
    println!(
        "signed in; {} days left",
        days_left(created.session.expires_at)
    );
    clock.advance(20 * DAY);
    if let Some(valid) = narvik.validate_session(created.token.as_str()).await? {
        // Less than half of the 30 days was left: the expiry slid forward,
        // and the application sends the cookie again.
        println!(
            "20 days later: extended {}, {} days left",
            valid.extended,
            days_left(valid.session.expires_at)
        );
    }
    clock.advance(31 * DAY);
    let expired = narvik.validate_session(created.token.as_str()).await?;
    println!("31 days idle: session found {}", expired.is_some());
    // Validation deleted that one; the purge takes user-7's, never used.
    let purged = narvik.delete_all_expired_sessions().await?;
    println!("purged {purged} expired session(s)");

    sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await
        .map_err(|e| Error::store("drop the example table", e))?;
    println!("dropped table {table}");
    Ok(())
}
