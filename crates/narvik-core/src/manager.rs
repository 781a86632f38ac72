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

    /// [`validate_session`](Self::validate_session) without waiting, when
    /// that is possible: `Some` with exactly what `validate_session` would
    /// return, or `None` when it would have to wait. That is when the store
    /// cannot answer at once (see [`SessionStore::fetch_session_now`]; of
    /// the stores here only [`MemoryStore`](crate::store::MemoryStore)
    /// can), and when validation must write: the session is expired (and
    /// is deleted) or due for extension. Call `validate_session` then; it
    /// looks the session up again.
    ///
    /// For callers that cannot hold a future without boxing it, such as a
    /// tower layer.
    ///
    /// ```
    /// use narvik_core::{Narvik, store::MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let narvik = Narvik::new(MemoryStore::new());
    /// let created = narvik.create_session("user-42", ()).await?;
    /// let valid = match narvik.validate_session_now(created.token.as_str()) {
    ///     Some(answer) => answer?,
    ///     None => narvik.validate_session(created.token.as_str()).await?,
    /// };
    /// assert_eq!(valid.expect("valid").session.user_id, "user-42");
    /// // A string that cannot be a token never needs the store.
    /// assert!(matches!(narvik.validate_session_now("nope"), Some(Ok(None))));
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// Inside the `Some`: any store error, as `validate_session`.
    pub fn validate_session_now(
        &self,
        token: &str,
    ) -> Option<Result<Option<ValidSession<S::Data>>, Error>> {
        if !token::is_well_formed(token) {
            return Some(Ok(None));
        }
        let id = SessionId::from_token(token);
        let span = debug_span!("narvik.validate_session", session_id = field::Empty);
        let _entered = (!span.is_disabled()).then(|| {
            span.record("session_id", field::display(&id));
            span.enter()
        });
        let session = match self.store.fetch_session_now(&id)? {
            Ok(Some(session)) => session,
            Ok(None) => return Some(Ok(None)),
            Err(err) => return Some(Err(err)),
        };
        match self.judge(&session, &id, self.clock.now()) {
            Ok(Judgement::Live) => Some(Ok(Some(ValidSession {
                session,
                extended: false,
            }))),
            Ok(Judgement::Dead | Judgement::Extend(_)) => None,
            Err(err) => Some(Err(err)),
        }
    }

    /// What validation does with a session the store returned for `id`.
    fn judge(
        &self,
        session: &Session<S::Data>,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Judgement, Error> {
        if session.id != *id {
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
        if self.is_dead(session, now) {
            return Ok(Judgement::Dead);
        }
        // Narvik extends when now >= expires_at - length / 2, i.e. when
        // 2 * (expires_at - now) <= length, kept in integers.
        let remaining = i128::from(session.expires_at.as_unix_millis() - now.as_unix_millis());
        let length = i128::from(duration_millis(self.config.session_length()));
        if 2 * remaining <= length {
            let expires_at = self.expiry_from(session.created_at, now);
            // At the absolute cap the expiry cannot move: no write.
            if expires_at > session.expires_at {
                return Ok(Judgement::Extend(expires_at));
            }
        }
        Ok(Judgement::Live)
    }

    async fn validate_id(&self, id: SessionId) -> Result<Option<ValidSession<S::Data>>, Error> {
        let Some(mut session) = self.store.fetch_session(&id).await? else {
            return Ok(None);
        };
        let extended = match self.judge(&session, &id, self.clock.now())? {
            Judgement::Live => false,
            Judgement::Dead => {
                self.store.delete_session(&id).await?;
                tracing::debug!("session expired; deleted");
                return Ok(None);
            }
            Judgement::Extend(expires_at) => {
                self.store.update_session_expiry(&id, expires_at).await?;
                session.expires_at = expires_at;
                tracing::debug!(expires_at = %expires_at, "session extended");
                true
            }
        };
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

/// What validation does with a session it found.
enum Judgement {
    /// Return it as it is.
    Live,
    /// Expired or past the absolute lifetime: delete it, answer "no
    /// session".
    Dead,
    /// Move its expiry to this time, then return it.
    Extend(Timestamp),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::MemoryStore;
    use crate::{ManualClock, Session};

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn manager() -> (Narvik<MemoryStore>, ManualClock, Token) {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000_000));
        let narvik = Narvik::new(MemoryStore::new()).with_clock(clock.clone());
        let created = block_on(narvik.create_session("ada", ())).expect("create");
        (narvik, clock, created.token)
    }

    /// The manager's ready-made `Set-Cookie` texts are its cookies' own,
    /// and the session cookie counts down on the manager's clock.
    #[test]
    fn the_ready_made_headers_are_the_cookies_text() {
        let (narvik, clock, token) = manager();
        assert_eq!(
            narvik.create_cookie_header(&token),
            narvik.create_cookie(&token).to_string()
        );
        assert_eq!(
            narvik.blank_cookie_header(),
            narvik.create_blank_cookie().to_string()
        );
        let expires_at = narvik.now() + DAY;
        let header = narvik.session_cookie_header(&token, expires_at);
        assert!(header.contains("Max-Age=86400"), "{header}");
        assert!(header.starts_with(&format!("narvik_session={}", token.as_str())));
        clock.advance(DAY / 2);
        let header = narvik.session_cookie_header(&token, expires_at);
        assert!(header.contains("Max-Age=43200"), "{header}");
    }

    #[test]
    fn validate_now_answers_a_live_session_as_validate_does() {
        let (narvik, _, token) = manager();
        let now = narvik.validate_session_now(token.as_str());
        let later = block_on(narvik.validate_session(token.as_str()));
        let now = now.expect("answered").expect("no error").expect("valid");
        assert_eq!(Some(now), later.expect("no error"));
    }

    #[test]
    fn validate_now_answers_unknown_and_malformed_tokens_with_no_session() {
        let (narvik, _, _) = manager();
        let unknown = narvik.validate_session_now("aaaqeayeaudaocajbifqydiob4ibceqt");
        assert!(matches!(unknown, Some(Ok(None))));
        assert!(matches!(narvik.validate_session_now(""), Some(Ok(None))));
    }

    #[test]
    fn validate_now_leaves_an_extension_to_validate() {
        let (narvik, clock, token) = manager();
        clock.advance(16 * DAY);
        assert!(narvik.validate_session_now(token.as_str()).is_none());
        let valid = block_on(narvik.validate_session(token.as_str()))
            .expect("no error")
            .expect("valid");
        assert!(valid.extended);
    }

    #[test]
    fn validate_now_leaves_an_expired_session_to_validate_which_deletes_it() {
        let (narvik, clock, token) = manager();
        clock.advance(30 * DAY);
        assert!(narvik.validate_session_now(token.as_str()).is_none());
        assert_eq!(narvik.store().len(), 1, "nothing deleted without waiting");
        assert!(
            block_on(narvik.validate_session(token.as_str()))
                .expect("no error")
                .is_none()
        );
        assert!(narvik.store().is_empty());
    }

    /// A store without `fetch_session_now` (the default).
    struct Remote(MemoryStore);

    impl SessionStore for Remote {
        type Data = ();

        async fn save_session(&self, session: &Session) -> Result<(), Error> {
            self.0.save_session(session).await
        }
        async fn fetch_session(&self, id: &SessionId) -> Result<Option<Session>, Error> {
            self.0.fetch_session(id).await
        }
        async fn update_session_expiry(
            &self,
            id: &SessionId,
            expires_at: Timestamp,
        ) -> Result<(), Error> {
            self.0.update_session_expiry(id, expires_at).await
        }
        async fn delete_session(&self, id: &SessionId) -> Result<(), Error> {
            self.0.delete_session(id).await
        }
    }

    #[test]
    fn validate_now_defers_to_validate_for_a_store_that_cannot_answer_at_once() {
        let narvik = Narvik::new(Remote(MemoryStore::new()));
        let created = block_on(narvik.create_session("ada", ())).expect("create");
        assert!(
            narvik
                .validate_session_now(created.token.as_str())
                .is_none()
        );
        assert!(
            block_on(narvik.validate_session(created.token.as_str()))
                .expect("no error")
                .is_some()
        );
    }

    #[test]
    fn validate_now_reaches_a_memory_store_behind_an_arc_dyn() {
        let store: Arc<dyn crate::store::DynSessionStore<()>> = Arc::new(MemoryStore::new());
        let narvik = Narvik::new(store);
        let created = block_on(narvik.create_session("ada", ())).expect("create");
        let valid = narvik.validate_session_now(created.token.as_str());
        assert!(matches!(valid, Some(Ok(Some(_)))));
    }
}
