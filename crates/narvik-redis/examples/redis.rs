//! The Redis store on one server: connect under a key prefix, a session
//! and the two keys it makes, and signing a user out everywhere.
//!
//! ```sh
//! cargo run -p narvik-redis --example redis
//! NARVIK_TEST_REDIS_URL=redis://127.0.0.1:6380 cargo run -p narvik-redis --example redis
//! ```
//!
//! The URL defaults to `redis://127.0.0.1:6379`. For a Redis Cluster, build
//! the store with `connect_cluster(["redis://10.0.0.1:7000", ...])`
//! instead; everything else is the same. The example's keys live under a
//! prefix of their own, deleted at the end.

#![allow(clippy::print_stdout, reason = "an example that says what it does")]

use narvik_core::{Error, Narvik, Token};
use narvik_redis::RedisStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("NARVIK_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // An application picks one prefix for all its instances, e.g. "my-app".
    let prefix = format!("narvik-example-{}", &Token::generate()?.as_str()[..12]);
    let store: RedisStore<()> = RedisStore::builder()
        .key_prefix(prefix.as_str())
        .connect(&url)
        .await?;
    println!("connected to {url}, keys under {prefix}:");
    let narvik = Narvik::new(store);

    let created = narvik.create_session("user-42", ()).await?;
    println!(
        "signed in; the session is {}",
        narvik.store().session_key(&created.session.id)
    );
    println!(
        "user-42's index is {}",
        narvik.store().user_index_key("user-42")
    );

    let valid = narvik.validate_session(created.token.as_str()).await?;
    let user = valid.map(|v| v.session.user_id);
    println!(
        "validated with one GET: user {}",
        user.as_deref().unwrap_or("none")
    );

    let _second_device = narvik.create_session("user-42", ()).await?;
    let sessions = narvik.fetch_sessions_for_user("user-42").await?;
    println!("user-42 has {} sessions", sessions.len());
    narvik.delete_sessions_for_user("user-42").await?;
    let left = narvik.fetch_sessions_for_user("user-42").await?.len();
    println!("signed out everywhere: {left} session(s) left");

    let deleted = narvik.store().clear().await?;
    println!("deleted the example's {deleted} remaining key(s)");
    Ok(())
}
