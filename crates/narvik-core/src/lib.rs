//! The core of [narvik](https://docs.rs/narvik): server-side session
//! authentication, the Rust successor of the TypeScript library Narvik.
//! No I/O and no database driver here; applications add the `narvik`
//! crate, which re-exports all of this, and store crates build on it.
//!
//! An application that has already checked who a user is asks narvik to
//! start a session. narvik mints a random token for a cookie or a bearer
//! header, stores only its SHA-256 hash, validates the token on every
//! request, slides the expiry while the user is active, and forgets
//! sessions that expire or are revoked.
//!
//! ```
//! use narvik_core::{Narvik, store::MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let narvik = Narvik::new(MemoryStore::new());
//!
//! let created = narvik.create_session("user-42", ()).await?;
//! println!("Set-Cookie: {}", narvik.create_cookie(&created.token));
//!
//! let valid = narvik.validate_session(created.token.as_str()).await?;
//! assert_eq!(valid.expect("just created").session.user_id, "user-42");
//! # Ok::<(), narvik_core::Error>(())
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
//! - The session lifecycle, beyond Narvik (none of it changes a session
//!   that does not use it):
//!   [`rotate_session`](Narvik::rotate_session) (a new token after a
//!   privilege change; [`validate`](Narvik::validate) answers
//!   [`Validation::Rotated`] for the old one's in-flight requests),
//!   [`create_session_with`](Narvik::create_session_with) and
//!   [`SessionOptions`] (remember-me: a session's own length, persistent
//!   or browser-session cookie, written by [`cookie_for`](Narvik::cookie_for)),
//!   activity ([`ConfigBuilder::activity_interval`],
//!   [`Session::last_active_at`]), step-up
//!   ([`mark_reauthenticated`](Narvik::mark_reauthenticated),
//!   [`is_fresh`](Narvik::is_fresh)), data updates
//!   ([`update_session_data`](Narvik::update_session_data)) and a cap on
//!   sessions per user ([`with_session_cap`](Narvik::with_session_cap)).
//! - [`Config`]: Narvik's settings and defaults, checked when built.
//! - [`Session`], [`NewSession`], [`ValidSession`], [`Validation`],
//!   [`SessionUpdate`], [`UserId`]: what is stored, what the calls return,
//!   and what a store is asked to change.
//! - [`Token`] and [`SessionId`]: Narvik's token and id scheme (20 random
//!   bytes in base32; the id is hex SHA-256 of the token).
//! - [`store`]: the store traits, [`store::MemoryStore`] and
//!   [`store::CallbackStore`].
//! - [`Clock`], [`Timestamp`]: time, injectable for tests.
//! - [`Error`]: the one error type; [`TimedOut`], the cause of a store call
//!   that ran out of its time bound ([`Error::is_timeout`]).
//! - `credentials` (feature `credentials`): reading the session token
//!   from the `Cookie` and `Authorization: Bearer` headers, as every
//!   framework integration does.
//! - `cross_origin` (feature `cross-origin`): the cross-origin (CSRF)
//!   check for every state-changing request that the web framework
//!   integrations share.
//! - `PurgeTask` (feature `tokio`): purges expired sessions of any
//!   [`PurgeableStore`](store::PurgeableStore) in the background on a
//!   period. The only part of the crate that needs a runtime, so it is
//!   optional.
//!
//! # Security
//!
//! Tokens come from the OS CSPRNG (160 bits) and never reach a store, a log
//! or a `Debug` string. A string that cannot be a token is "no session"
//! without a store call. A store failure is always an `Err`, never "no
//! session". Expiry is checked here, on every validation, whatever the
//! store returns.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod cookies;
#[cfg(feature = "credentials")]
#[cfg_attr(docsrs, doc(cfg(feature = "credentials")))]
pub mod credentials;
#[cfg(feature = "cross-origin")]
#[cfg_attr(docsrs, doc(cfg(feature = "cross-origin")))]
pub mod cross_origin;
mod error;
mod manager;
#[cfg(feature = "tokio")]
mod purge;
mod session;
mod session_id;
pub mod store;
mod time;
mod token;

pub use cookie::{self, Cookie};

pub use config::{Config, ConfigBuilder, DEFAULT_SESSION_LENGTH};
pub use cookies::{DEFAULT_COOKIE_NAME, MAX_COOKIE_MAX_AGE, SameSite};
pub use error::{BoxError, ConfigError, Error, Redacted, TimedOut};
pub use manager::Narvik;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use purge::PurgeTask;
pub use session::{
    NewSession, ROTATED_MARKER_TTL, Session, SessionOptions, SessionUpdate, UserId, ValidSession,
    Validation,
};
pub use session_id::{SESSION_ID_BYTES, SESSION_ID_LEN, SessionId};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use token::{TOKEN_BYTES, TOKEN_LEN, Token};
