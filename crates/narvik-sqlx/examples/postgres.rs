//! The PostgreSQL store: connect, migrate a table, sessions with data of
//! the application's own type, and signing a user out everywhere.
//!
//! ```sh
//! cargo run -p narvik-sqlx --example postgres --features postgres
//! NARVIK_TEST_POSTGRES_URL=postgres://app@127.0.0.1/app cargo run -p narvik-sqlx --example postgres --features postgres
//! ```
//!
//! The URL defaults to `postgres://postgres@127.0.0.1:5432/test`. The
//! example makes a table of its own and drops it at the end; an
//! application keeps the default table, `narvik_sessions`.

#![allow(clippy::print_stdout, reason = "an example that says what it does")]

use narvik_core::{Error, Narvik, Token};
use narvik_sqlx::sqlx::{self, AssertSqlSafe};
use narvik_sqlx::{PostgresStore, TableName};
use serde::{Deserialize, Serialize};

/// What the application keeps with each session (a `JSONB` column).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Device {
    user_agent: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("NARVIK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let random = Token::generate()?;
    let table = TableName::new(&format!("narvik_example_{}", &random.as_str()[..12]))
        .map_err(|e| Error::store("example table name", e))?;

    let store = PostgresStore::<Device>::connect(&url)
        .await?
        .with_table_name(table.clone());
    store.migrate().await?;
    println!("connected to {url}; migrated table {table}");
    let pool = store.pool().clone();
    let narvik = Narvik::new(store);

    for user_agent in ["Firefox on a laptop", "Safari on a phone"] {
        let device = Device {
            user_agent: user_agent.to_owned(),
        };
        let created = narvik.create_session("user-42", device).await?;
        println!("signed in from {user_agent}: {}", created.session.id);
    }
    for session in narvik.fetch_sessions_for_user("user-42").await? {
        println!("user-42's session on {}", session.data.user_agent);
    }
    narvik.delete_sessions_for_user("user-42").await?;
    let left = narvik.fetch_sessions_for_user("user-42").await?.len();
    println!("signed out everywhere: {left} session(s) left");

    sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await
        .map_err(|e| Error::store("drop the example table", e))?;
    println!("dropped table {table}");
    Ok(())
}
