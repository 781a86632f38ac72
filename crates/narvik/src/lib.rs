//! Server-side session authentication: the Rust successor of the
//! TypeScript library Narvik.
//!
//! An application that has already checked who a user is asks narvik to
//! start a session. narvik mints a random token for a cookie or a bearer
//! header, stores only its SHA-256 hash, validates the token on every
//! request, slides the expiry while the user is active, and forgets
//! sessions that expire or are revoked.
//!
//! ```
//! use narvik::{Narvik, store::MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let narvik = Narvik::new(MemoryStore::new());
//!
//! let created = narvik.create_session("user-42", ()).await?;
//! println!("Set-Cookie: {}", narvik.create_cookie(&created.token));
//!
//! let valid = narvik.validate_session(created.token.as_str()).await?;
//! assert_eq!(valid.expect("just created").session.user_id, "user-42");
//! # Ok::<(), narvik::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Map of the crate
//!
//! - [`Narvik`]: the manager, with Narvik's calls in snake_case:
//!   [`create_session`](Narvik::create_session),
//!   [`validate_session`](Narvik::validate_session),
//!   [`invalidate_session`](Narvik::invalidate_session),
//!   [`fetch_sessions_for_user`](Narvik::fetch_sessions_for_user),
//!   [`delete_sessions_for_user`](Narvik::delete_sessions_for_user),
//!   [`delete_all_expired_sessions`](Narvik::delete_all_expired_sessions),
//!   [`create_cookie`](Narvik::create_cookie),
//!   [`create_blank_cookie`](Narvik::create_blank_cookie),
//!   [`cookie_name`](Narvik::cookie_name).
//! - [`Config`]: Narvik's settings and defaults, checked when built.
//! - [`Session`], [`NewSession`], [`ValidSession`]: what is stored and what
//!   the calls return.
//! - [`Token`] and [`SessionId`]: Narvik's token and id scheme (20 random
//!   bytes in base32; the id is hex SHA-256 of the token).
//! - [`store`]: the store traits, [`store::MemoryStore`] and
//!   [`store::CallbackStore`].
//! - [`Clock`], [`Timestamp`]: time, injectable for tests.
//! - [`Error`]: the one error type.
//!
//! Everything above is re-exported from `narvik-core`, which has no I/O.
//! Stores and the framework integrations are behind features:
//!
//! | feature | module | what |
//! |---|---|---|
//! | `tokio` | `narvik::PurgeTask` | background purge of expired sessions, any store |
//! | `sqlite`, `postgres`, `mysql` | `narvik::sqlx` | SQL stores on sqlx (and `tokio`) |
//! | `redis` | `narvik::redis` | Redis and Redis Cluster (and `tokio`) |
//! | `axum` | `narvik::axum` | tower layer, extractors, CSRF origin check |
//! | `actix` | `narvik::actix` | actix-web middleware, extractors, the same CSRF origin check |
//!
//! Every store feature turns on `tokio`, since those stores run on tokio
//! anyway; an application on [`store::MemoryStore`] or a store of its own
//! asks for `tokio` to get the purge task.
//!
//! # Security
//!
//! Tokens come from the OS CSPRNG (160 bits) and never reach a store, a log
//! or a `Debug` string. A string that cannot be a token is "no session"
//! without a store call. A store failure is always an `Err`, never "no
//! session". Expiry is checked here, on every validation, whatever the
//! store returns.
//!
//! `SECURITY.md` in the repository holds the threat model, how to report a
//! vulnerability, and each OWASP ASVS session requirement with how narvik
//! meets it (or what the application must do) and the test that proves it.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use narvik_core::*;

// Named here as well as in the glob above, so that the docs say which
// feature it needs.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use narvik_core::PurgeTask;

/// SQLite, PostgreSQL and MySQL/MariaDB stores (`narvik-sqlx`).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql")))
)]
pub use narvik_sqlx as sqlx;

/// The Redis and Redis Cluster store (`narvik-redis`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use narvik_redis as redis;

/// The axum / tower integration (`narvik-axum`).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use narvik_axum as axum;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The actix-web integration (`narvik-actix`).
#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub use narvik_actix as actix;
