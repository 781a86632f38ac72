//! The demo's user accounts: a name and an argon2 password hash, kept in
//! the same database as the sessions.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use narvik::sqlx::sqlx::{self, MySqlPool, PgPool, SqlitePool};
use rand_core::OsRng;
use redis::AsyncCommands;

/// Where accounts live.
#[derive(Clone)]
pub enum Users {
    /// A `demo_users` table in SQLite.
    Sqlite(SqlitePool),
    /// A `demo_users` table in PostgreSQL.
    Postgres(PgPool),
    /// A `demo_users` table in MySQL or MariaDB.
    MySql(MySqlPool),
    /// `<prefix>:user:<name>` keys in Redis.
    Redis(redis::aio::ConnectionManager, String),
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS demo_users (
    name VARCHAR(64) PRIMARY KEY,
    password_hash VARCHAR(255) NOT NULL
)";

impl Users {
    /// Creates the table if it is missing.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool) => sqlx::query(CREATE_TABLE).execute(pool).await.map(drop),
            Self::Postgres(pool) => sqlx::query(CREATE_TABLE).execute(pool).await.map(drop),
            Self::MySql(pool) => sqlx::query(CREATE_TABLE).execute(pool).await.map(drop),
            Self::Redis(..) => Ok(()),
        }
        .context("create the demo_users table")
    }

    /// Creates an account; false if the name is taken.
    pub async fn create(&self, name: &str, password: &str) -> anyhow::Result<bool> {
        let hash = hash_password(password)?;
        let created = match self {
            Self::Sqlite(pool) => sqlx::query("INSERT INTO demo_users (name, password_hash) VALUES (?, ?) ON CONFLICT DO NOTHING")
                .bind(name).bind(&hash).execute(pool).await?.rows_affected() == 1,
            Self::Postgres(pool) => sqlx::query("INSERT INTO demo_users (name, password_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(name).bind(&hash).execute(pool).await?.rows_affected() == 1,
            Self::MySql(pool) => sqlx::query("INSERT IGNORE INTO demo_users (name, password_hash) VALUES (?, ?)")
                .bind(name).bind(&hash).execute(pool).await?.rows_affected() == 1,
            Self::Redis(conn, prefix) => {
                let mut conn = conn.clone();
                let options = redis::SetOptions::default().conditional_set(redis::ExistenceCheck::NX);
                let set: Option<String> = conn.set_options(format!("{prefix}:user:{name}"), &hash, options).await?;
                set.is_some()
            }
        };
        Ok(created)
    }

    /// True if `password` is the account's password. A missing account
    /// costs a hash too, so timing does not reveal which names exist.
    pub async fn verify(&self, name: &str, password: &str) -> anyhow::Result<bool> {
        let stored: Option<String> = match self {
            Self::Sqlite(pool) => {
                sqlx::query_scalar("SELECT password_hash FROM demo_users WHERE name = ?")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar("SELECT password_hash FROM demo_users WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?
            }
            Self::MySql(pool) => {
                sqlx::query_scalar("SELECT password_hash FROM demo_users WHERE name = ?")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?
            }
            Self::Redis(conn, prefix) => {
                let mut conn = conn.clone();
                conn.get(format!("{prefix}:user:{name}")).await?
            }
        };
        let Some(stored) = stored else {
            let _ = hash_password(password);
            return Ok(false);
        };
        let parsed =
            PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored password hash: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hash password: {e}"))
}
