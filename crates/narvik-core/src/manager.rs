//! [`Narvik`], the session manager: create, validate, invalidate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cookie::Cookie;
use tracing::{Instrument, debug_span, field};

use crate::store::{PurgeableStore, SessionStore, UserSessionStore};
use crate::time::duration_millis;
use crate::token;
use crate::{
    Clock, Config, Error, NewSession, Session, SessionId, SystemClock, Timestamp, Token,
    ValidSession,
};

/// The session manager: Narvik's `Narvik` class.
///
/// Holds a store, a checked [`Config`] and a [`Clock`]. Cheap to clone when
/// the store is (the configuration and clock are shared).
///
/// The type of the sessions' additional data is the store's
/// [`SessionStore::Data`].
///
/// ```
/// use narvik_core::{Narvik, store::MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let narvik = Narvik::new(MemoryStore::new());
///
/// // On sign-in: start a session and set the cookie.
/// let created = narvik.create_session("user-42", ()).await?;
/// let set_cookie = narvik.create_cookie(&created.token).to_string();
/// assert!(set_cookie.contains("HttpOnly"));
///
/// // On every request: validate the token from the cookie.
/// let valid = narvik.validate_session(created.token.as_str()).await?.expect("valid");
/// assert_eq!(valid.session.user_id, "user-42");
///
/// // On sign-out: forget it and clear the cookie.
/// narvik.invalidate_session(&valid.session.id).await?;
/// let _clear = narvik.create_blank_cookie();
/// assert!(narvik.validate_session(created.token.as_str()).await?.is_none());
/// # Ok::<(), narvik_core::Error>(())
/// # }).unwrap();
/// ```
pub struct Narvik<S> {
    store: S,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
}

impl<S: Clone> Clone for Narvik<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            config: Arc::clone(&self.config),
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<S> fmt::Debug for Narvik<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Narvik")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S> Narvik<S> {
    /// A manager over `store` with Narvik's default configuration.
    pub fn new(store: S) -> Self {
        Self::with_config(store, Config::default())
    }

    /// A manager over `store` with a checked configuration.
    pub fn with_config(store: S, config: Config) -> Self {
        Self {
            store,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock (the system clock by default), e.g. with a
    /// [`crate::ManualClock`] in tests.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The current time on this manager's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The session cookie's name (Narvik's `cookieName`).
    pub fn cookie_name(&self) -> &str {
        self.config.cookie_name()
    }

    /// The `Set-Cookie` for a token; see [`Config::create_cookie`].
    pub fn create_cookie(&self, token: &Token) -> Cookie<'static> {
        self.config.create_cookie(token)
    }

    /// The `Set-Cookie` that clears the session cookie; see
    /// [`Config::create_blank_cookie`].
    pub fn create_blank_cookie(&self) -> Cookie<'static> {
        self.config.create_blank_cookie()
    }

    /// The text of [`create_cookie`](Self::create_cookie), ready-made; see
    /// [`Config::create_cookie_header`].
    pub fn create_cookie_header(&self, token: &Token) -> String {
        self.config.create_cookie_header(token)
    }

    /// The session cookie for a session's `token`, never outliving the
    /// session (`expires_at`) on this manager's clock; see
    /// [`Config::session_cookie_header`].
    pub fn session_cookie_header(&self, token: &Token, expires_at: Timestamp) -> String {
        self.config
            .session_cookie_header(token, expires_at, self.now())
    }

    /// The text of [`create_blank_cookie`](Self::create_blank_cookie),
    /// formatted once; see [`Config::blank_cookie_header`].
    pub fn blank_cookie_header(&self) -> &str {
        self.config.blank_cookie_header()
    }
}

impl<S: SessionStore> Narvik<S> {
    /// True if `session` was created less than `max_age` ago: ask for
    /// re-authentication before a sensitive action when it is not.
    ///
    /// ```
    /// use std::time::Duration;
    /// use narvik_core::{ManualClock, Narvik, Timestamp, store::MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000));
    /// let narvik = Narvik::new(MemoryStore::new()).with_clock(clock.clone());
    /// let created = narvik.create_session("u", ()).await?;
    /// assert!(narvik.is_fresh(&created.session, Duration::from_secs(300)));
    /// clock.advance(Duration::from_secs(300));
    /// assert!(!narvik.is_fresh(&created.session, Duration::from_secs(300)));
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn is_fresh(&self, session: &Session<S::Data>, max_age: Duration) -> bool {
        self.clock.now() < session.created_at.saturating_add(max_age)
    }

    /// True if the session is dead at `now`: expired, or past the absolute
    /// lifetime.
    fn is_dead(&self, session: &Session<S::Data>, now: Timestamp) -> bool {
        session.is_expired_at(now)
            || self
                .config
                .absolute_lifetime()
                .is_some_and(|cap| now >= session.created_at.saturating_add(cap))
    }

    /// `now + length`, held back to the absolute lifetime if there is one.
    fn expiry_from(&self, created_at: Timestamp, now: Timestamp) -> Timestamp {
        let sliding = now.saturating_add(self.config.session_length());
        match self.config.absolute_lifetime() {
            Some(cap) => sliding.min(created_at.saturating_add(cap)),
            None => sliding,
        }
    }

    /// Starts a session for `user_id` with additional `data` (Narvik's
    /// `createSession`): mints a token, saves the session under the token's
    /// hash, and returns both. The token is not kept anywhere.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the OS cannot supply randomness; whatever the
    /// store's `save_session` returns, including
    /// [`Error::DuplicateSessionId`] (never an overwrite).
    pub async fn create_session(
        &self,
        user_id: impl Into<String>,
        data: S::Data,
    ) -> Result<NewSession<S::Data>, Error> {
        let token = Token::generate()?;
        let id = token.session_id();
        let span = debug_span!("narvik.create_session", session_id = %id);
        async move {
            let now = self.clock.now();
            let session = Session {
                id,
                user_id: user_id.into(),
                created_at: now,
                expires_at: self.expiry_from(now, now),
                data,
            };
            self.store.save_session(&session).await?;
            Ok(NewSession { token, session })
        }
        .instrument(span)
        .await
    }

    /// Validates a token (Narvik's `validateSession`), to the millisecond:
    ///
    /// - a string that cannot be a token (not 32 characters of `a-z2-7`) is
    ///   `Ok(None)` without a store call;
    /// - an unknown session is `Ok(None)`;
    /// - an expired session (`now >= expires_at`, or past the absolute
    ///   lifetime) is deleted, then `Ok(None)`;
    /// - a session with half its length or less remaining is extended to
    ///   `now + length` (one store write) and returned with
    ///   `extended: true`: send the cookie again;
    /// - otherwise the session is returned and nothing is written.
    ///
    /// # Errors
    ///
    /// Any store error. A store failure is never "no session".
    pub async fn validate_session(
        &self,
        token: &str,
    ) -> Result<Option<ValidSession<S::Data>>, Error> {
        if !token::is_well_formed(token) {
            return Ok(None);
        }
        let id = SessionId::from_token(token);
        let span = debug_span!("narvik.validate_session", session_id = field::Empty);
        // The hot path: with no subscriber listening, skip the span's
        // bookkeeping (recording the id, entering and leaving on each poll).
        if span.is_disabled() {
            return self.validate_id(id).await;
        }
        span.record("session_id", field::display(&id));
        self.validate_id(id).instrument(span).await
    }

    async fn validate_id(&self, id: SessionId) -> Result<Option<ValidSession<S::Data>>, Error> {
        let Some(mut session) = self.store.fetch_session(&id).await? else {
            return Ok(None);
        };
        if session.id != id {
            // A store that answers with another session is broken; failing
            // loudly beats handing out someone else's session.
            return Err(Error::store(
                "fetch session",
                format!(
                    "asked for session {id}, store returned session {}",
                    session.id
                ),
            ));
        }
        let now = self.clock.now();
        if self.is_dead(&session, now) {
            self.store.delete_session(&id).await?;
            tracing::debug!("session expired; deleted");
            return Ok(None);
        }
        // Narvik extends when now >= expires_at - length / 2, i.e. when
        // 2 * (expires_at - now) <= length, kept in integers.
        let remaining = i128::from(session.expires_at.as_unix_millis() - now.as_unix_millis());
        let length = i128::from(duration_millis(self.config.session_length()));
        let mut extended = false;
        if 2 * remaining <= length {
            let expires_at = self.expiry_from(session.created_at, now);
            // At the absolute cap the expiry cannot move: no write.
            if expires_at > session.expires_at {
                self.store.update_session_expiry(&id, expires_at).await?;
                session.expires_at = expires_at;
                extended = true;
                tracing::debug!(expires_at = %expires_at, "session extended");
            }
        }
        Ok(Some(ValidSession { session, extended }))
    }

    /// Ends a session (Narvik's `invalidateSession`). Takes the session's
    /// id (from a validated session), not the token. Idempotent.
    ///
    /// # Errors
    ///
    /// Any store error.
    pub async fn invalidate_session(&self, id: &SessionId) -> Result<(), Error> {
        self.store
            .delete_session(id)
            .instrument(debug_span!("narvik.invalidate_session", session_id = %id))
            .await
    }
}

impl<S: UserSessionStore> Narvik<S> {
    /// The user's live sessions (Narvik's `fetchSessionsForUser`), expired
    /// ones left out.
    ///
    /// # Errors
    ///
    /// Any store error; [`Error::NotSupported`] from a
    /// [`crate::store::CallbackStore`] without that callback.
    pub async fn fetch_sessions_for_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<Session<S::Data>>, Error> {
        let mut sessions = self.store.fetch_sessions_for_user(user_id).await?;
        let now = self.clock.now();
        sessions.retain(|s| !self.is_dead(s, now));
        Ok(sessions)
    }

    /// Signs the user out everywhere (Narvik's `deleteSessionsForUser`):
    /// call it when a password or second factor changes, or an account is
    /// disabled.
    ///
    /// # Errors
    ///
    /// Any store error; [`Error::NotSupported`] as above.
    pub async fn delete_sessions_for_user(&self, user_id: &str) -> Result<(), Error> {
        self.store.delete_sessions_for_user(user_id).await
    }

    /// Signs the user out everywhere but `keep` (typically the current
    /// session). Not in Narvik.
    ///
    /// # Errors
    ///
    /// Any store error; [`Error::NotSupported`] as above.
    pub async fn delete_other_sessions_for_user(
        &self,
        user_id: &str,
        keep: &SessionId,
    ) -> Result<(), Error> {
        self.store
            .delete_other_sessions_for_user(user_id, keep)
            .await
    }
}

impl<S: PurgeableStore> Narvik<S> {
    /// Deletes every expired session (`expires_at <= now`, Narvik's
    /// `deleteAllExpiredSessions`) and returns how many it deleted.
    ///
    /// # Errors
    ///
    /// Any store error; [`Error::NotSupported`] as above.
    pub async fn delete_all_expired_sessions(&self) -> Result<u64, Error> {
        self.store
            .delete_all_expired_sessions(self.clock.now())
            .await
    }
}
