//! [`Narvik`], the session manager: create, validate, invalidate.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use cookie::Cookie;
use tracing::{Instrument, debug_span, field};

use crate::store::{BoxFuture, PurgeableStore, SessionStore, UserSessionStore};
use crate::time::duration_millis;
use crate::token;
use crate::{
    Clock, Config, Error, NewSession, ROTATED_MARKER_TTL, Session, SessionId, SessionOptions,
    SessionUpdate, SystemClock, Timestamp, Token, UserId, ValidSession, Validation,
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
    cap: Option<Cap<S>>,
}

impl<S: Clone> Clone for Narvik<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            config: Arc::clone(&self.config),
            clock: Arc::clone(&self.clock),
            cap: self.cap,
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
            cap: None,
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
    /// True if the user proved who they are less than `max_age` ago in
    /// this session: at sign-in (`created_at`) or since
    /// ([`mark_reauthenticated`](Self::mark_reauthenticated)), whichever
    /// is later. Ask for the password (or passkey) again before a
    /// sensitive action when it is not ("sudo mode").
    ///
    /// ```
    /// use std::time::Duration;
    /// use narvik_core::{ManualClock, Narvik, Timestamp, store::MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000));
    /// let narvik = Narvik::new(MemoryStore::new()).with_clock(clock.clone());
    /// let five_minutes = Duration::from_secs(300);
    /// let created = narvik.create_session("u", ()).await?;
    /// assert!(narvik.is_fresh(&created.session, five_minutes));
    /// clock.advance(five_minutes);
    /// assert!(!narvik.is_fresh(&created.session, five_minutes));
    ///
    /// // The user types their password again:
    /// narvik.mark_reauthenticated(&created.session.id).await?;
    /// let valid = narvik.validate_session(created.token.as_str()).await?.expect("valid");
    /// assert!(narvik.is_fresh(&valid.session, five_minutes));
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn is_fresh(&self, session: &Session<S::Data>, max_age: Duration) -> bool {
        let proved_at = session
            .reauthenticated_at
            .map_or(session.created_at, |t| t.max(session.created_at));
        self.clock.now() < proved_at.saturating_add(max_age)
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
    fn expiry_from(&self, created_at: Timestamp, now: Timestamp, length: Duration) -> Timestamp {
        let sliding = now.saturating_add(length);
        match self.config.absolute_lifetime() {
            Some(cap) => sliding.min(created_at.saturating_add(cap)),
            None => sliding,
        }
    }

    /// The length that drives `session`'s extension: its own, or the
    /// configured one.
    fn length_of(&self, session: &Session<S::Data>) -> Duration {
        session.length.unwrap_or(self.config.session_length())
    }

    /// Starts a session for `user_id` with additional `data` (Narvik's
    /// `createSession`): mints a token, saves the session under the token's
    /// hash, and returns both. The token is not kept anywhere.
    ///
    /// The session has the configured length and a persistent cookie; see
    /// [`create_session_with`](Self::create_session_with) for others.
    ///
    /// # Errors
    ///
    /// As [`create_session_with`](Self::create_session_with).
    pub async fn create_session(
        &self,
        user_id: impl Into<UserId>,
        data: S::Data,
    ) -> Result<NewSession<S::Data>, Error> {
        self.create_session_with(user_id, data, SessionOptions::default())
            .await
    }

    /// Starts a session with `options`: its own length and kind of cookie
    /// (remember-me, see [`SessionOptions`]). The length is stored with the
    /// session and drives its extension; the cookie comes from
    /// [`cookie_for`](Self::cookie_for).
    ///
    /// With a cap on sessions per user
    /// ([`with_session_cap`](Self::with_session_cap)), the user's oldest
    /// sessions beyond the cap are revoked once this one is saved.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the OS cannot supply randomness; whatever the
    /// store's `save_session` returns, including
    /// [`Error::DuplicateSessionId`] (never an overwrite); with a cap, any
    /// store error while enforcing it (the new session is saved then, but
    /// its token is not returned, so nothing can use it).
    pub async fn create_session_with(
        &self,
        user_id: impl Into<UserId>,
        data: S::Data,
        options: SessionOptions,
    ) -> Result<NewSession<S::Data>, Error> {
        let token = Token::generate()?;
        let id = token.session_id();
        let span = debug_span!("narvik.create_session", session_id = %id);
        async move {
            let now = self.clock.now();
            let length = options.length.unwrap_or(self.config.session_length());
            let mut session =
                Session::new(id, user_id, now, self.expiry_from(now, now, length), data);
            session.length = options.length;
            session.persistent = options.persistent;
            self.store.save_session(&session).await?;
            if let Some(cap) = self.cap {
                (cap.enforce)(self, &session.user_id, &session.id, cap.max).await?;
            }
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
    /// - otherwise the session is returned and nothing is written (unless
    ///   activity is recorded and due: [`crate::ConfigBuilder::activity_interval`]).
    ///
    /// A rotated session is `Ok(None)` too; [`validate`](Self::validate)
    /// tells it apart, which a framework integration needs.
    ///
    /// # Errors
    ///
    /// Any store error. A store failure is never "no session".
    pub async fn validate_session(
        &self,
        token: &str,
    ) -> Result<Option<ValidSession<S::Data>>, Error> {
        Ok(self.validate(token).await?.valid())
    }

    /// [`validate_session`](Self::validate_session), telling apart the two
    /// kinds of "no session": [`Validation::Invalid`] (clear the cookie)
    /// and [`Validation::Rotated`] (a request that was in flight during a
    /// rotation: answer it as signed out, but leave the cookie alone).
    ///
    /// # Errors
    ///
    /// Any store error.
    pub async fn validate(&self, token: &str) -> Result<Validation<S::Data>, Error> {
        if !token::is_well_formed(token) {
            return Ok(Validation::Invalid);
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
    /// is deleted), due for extension, or due for an activity record. Call
    /// `validate_session` then; it looks the session up again.
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
        self.validate_now(token)
            .map(|answer| answer.map(Validation::valid))
    }

    /// [`validate_session_now`](Self::validate_session_now), telling apart
    /// the two kinds of "no session" as [`validate`](Self::validate) does.
    ///
    /// # Errors
    ///
    /// Inside the `Some`: any store error.
    pub fn validate_now(&self, token: &str) -> Option<Result<Validation<S::Data>, Error>> {
        if !token::is_well_formed(token) {
            return Some(Ok(Validation::Invalid));
        }
        let id = SessionId::from_token(token);
        let span = debug_span!("narvik.validate_session", session_id = field::Empty);
        let _entered = (!span.is_disabled()).then(|| {
            span.record("session_id", field::display(&id));
            span.enter()
        });
        let session = match self.store.fetch_session_now(&id)? {
            Ok(Some(session)) => session,
            Ok(None) => return Some(Ok(Validation::Invalid)),
            Err(err) => return Some(Err(err)),
        };
        match self.judge(&session, &id, self.clock.now()) {
            Ok(Judgement::Live) => Some(Ok(Validation::Valid(ValidSession {
                session,
                extended: false,
            }))),
            Ok(Judgement::Rotated) => Some(Ok(Validation::Rotated)),
            Ok(Judgement::Dead | Judgement::Touch { .. }) => None,
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
        if let Some(rotated_at) = session.rotated_at {
            // A rotation marker grants nothing, whatever its expiry says.
            return Ok(if now < rotated_at.saturating_add(ROTATED_MARKER_TTL) {
                Judgement::Rotated
            } else {
                Judgement::Dead
            });
        }
        if self.is_dead(session, now) {
            return Ok(Judgement::Dead);
        }
        // Narvik extends when now >= expires_at - length / 2, i.e. when
        // 2 * (expires_at - now) <= length, kept in integers.
        let length = self.length_of(session);
        let remaining = i128::from(session.expires_at.as_unix_millis() - now.as_unix_millis());
        let extend_to = (2 * remaining <= i128::from(duration_millis(length)))
            .then(|| self.expiry_from(session.created_at, now, length))
            // At the absolute cap the expiry cannot move: no write.
            .filter(|&expires_at| expires_at > session.expires_at);
        let interval = self.config.activity_interval();
        let activity_due =
            interval.is_some_and(|i| now >= session.last_seen_at().saturating_add(i));
        if extend_to.is_none() && !activity_due {
            return Ok(Judgement::Live);
        }
        Ok(Judgement::Touch {
            expires_at: extend_to,
            // Recorded whenever validation writes anyway (piggy-backed on
            // an extension), so it costs no write of its own then.
            active_at: interval.is_some().then_some(now),
        })
    }

    async fn validate_id(&self, id: SessionId) -> Result<Validation<S::Data>, Error> {
        let Some(mut session) = self.store.fetch_session(&id).await? else {
            return Ok(Validation::Invalid);
        };
        let extended = match self.judge(&session, &id, self.clock.now())? {
            Judgement::Live => false,
            Judgement::Rotated => return Ok(Validation::Rotated),
            Judgement::Dead => {
                self.store.delete_session(&id).await?;
                tracing::debug!("session expired; deleted");
                return Ok(Validation::Invalid);
            }
            Judgement::Touch {
                expires_at,
                active_at,
            } => {
                let update = SessionUpdate {
                    expires_at,
                    last_active_at: active_at,
                    ..SessionUpdate::default()
                };
                if !self.store.update_session(&id, update).await? {
                    // Revoked between the fetch and the write: it is gone,
                    // and answering with it would undo the revocation for
                    // this request.
                    tracing::debug!("session deleted during validation");
                    return Ok(Validation::Invalid);
                }
                if let Some(expires_at) = expires_at {
                    session.expires_at = expires_at;
                    tracing::debug!(expires_at = %expires_at, "session extended");
                }
                session.last_active_at = active_at.or(session.last_active_at);
                expires_at.is_some()
            }
        };
        Ok(Validation::Valid(ValidSession { session, extended }))
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

    /// Ends a session that a new one replaces (a sign-in over it) the way a
    /// rotation ends the old session: it grants nothing from now on, and is
    /// left as a marker for [`ROTATED_MARKER_TTL`] so that requests in
    /// flight with its cookie validate as [`Validation::Rotated`] (signed
    /// out, without the blank cookie that would undo the new sign-in's).
    /// A store that cannot record the marker (a
    /// [`CallbackStore`](crate::store::CallbackStore) without
    /// `with_update_session`) deletes the session instead. Idempotent.
    ///
    /// # Errors
    ///
    /// Any store error but [`Error::NotSupported`].
    pub async fn retire_session(&self, id: &SessionId) -> Result<(), Error> {
        let now = self.clock.now();
        let marker = SessionUpdate {
            expires_at: Some(now),
            rotated_at: Some(now),
            ..SessionUpdate::default()
        };
        match self.store.update_session(id, marker).await {
            Ok(_) => Ok(()),
            Err(Error::NotSupported(_)) => self.invalidate_session(id).await,
            Err(e) => Err(e),
        }
    }

    /// Gives a session a new token (ASVS 4.0.3 3.2.1, 5.0 7.2.4): call it
    /// after a privilege change such as a sign-in over an existing session,
    /// a role change or a re-authentication. The new session has the old
    /// one's user, data, `created_at` (so the absolute lifetime still
    /// counts from the sign-in), length, kind of cookie and
    /// re-authentication time, and a new id, saved like any new session
    /// (never overwriting one).
    ///
    /// The new session is saved before the old one goes. Once this returns
    /// the old token grants nothing: the old session is left as a marker
    /// for [`ROTATED_MARKER_TTL`], so that requests in flight with the old
    /// cookie validate as [`Validation::Rotated`] (signed out for that
    /// request, and no blank cookie to sign the browser out), then is gone.
    /// Its `expires_at` is the rotation's time, so a TypeScript Narvik
    /// sharing the table sees it as expired.
    ///
    /// `Ok(None)` if the session is not there (or no longer live), or was
    /// revoked while it rotated (then the new one is deleted too).
    ///
    /// ```
    /// use narvik_core::{Narvik, Validation, store::MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let narvik = Narvik::new(MemoryStore::new());
    /// let old = narvik.create_session("ada", ()).await?;
    /// let new = narvik.rotate_session(&old.session.id).await?.expect("rotated");
    /// assert_eq!(new.session.user_id, "ada");
    /// assert_eq!(new.session.created_at, old.session.created_at);
    /// assert!(narvik.validate_session(new.token.as_str()).await?.is_some());
    /// assert_eq!(narvik.validate(old.token.as_str()).await?, Validation::Rotated);
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the OS cannot supply randomness; any store
    /// error. After an error the old session may still be valid (if the
    /// new one was not saved) or both may be (if marking the old one
    /// failed): retry, or invalidate the old one.
    pub async fn rotate_session(
        &self,
        id: &SessionId,
    ) -> Result<Option<NewSession<S::Data>>, Error> {
        let span = debug_span!("narvik.rotate_session", session_id = %id);
        async move {
            let Some(old) = self.store.fetch_session(id).await? else {
                return Ok(None);
            };
            let now = self.clock.now();
            match self.judge(&old, id, now)? {
                Judgement::Live | Judgement::Touch { .. } => {}
                Judgement::Rotated => return Ok(None),
                Judgement::Dead => {
                    self.store.delete_session(id).await?;
                    return Ok(None);
                }
            }
            let token = Token::generate()?;
            let length = self.length_of(&old);
            let mut session = Session::new(
                token.session_id(),
                old.user_id,
                old.created_at,
                self.expiry_from(old.created_at, now, length),
                old.data,
            );
            session.length = old.length;
            session.persistent = old.persistent;
            session.reauthenticated_at = old.reauthenticated_at;
            session.last_active_at = self.config.activity_interval().map(|_| now);
            self.store.save_session(&session).await?;
            let marker = SessionUpdate {
                expires_at: Some(now),
                rotated_at: Some(now),
                ..SessionUpdate::default()
            };
            if !self.store.update_session(id, marker).await? {
                // The old session was revoked while this one was saved:
                // the new one must not outlive the revocation.
                self.store.delete_session(&session.id).await?;
                tracing::debug!("session revoked during rotation");
                return Ok(None);
            }
            tracing::debug!(new_session_id = %session.id, "session rotated");
            Ok(Some(NewSession { token, session }))
        }
        .instrument(span)
        .await
    }

    /// Records that the user proved who they are again in this session
    /// (typed their password, used a passkey) without a new session, for
    /// [`is_fresh`](Self::is_fresh). Consider rotating the session too
    /// ([`rotate_session`](Self::rotate_session)). `Ok(false)` if the
    /// session is gone (nothing is created).
    ///
    /// # Errors
    ///
    /// Any store error.
    pub async fn mark_reauthenticated(&self, id: &SessionId) -> Result<bool, Error> {
        let update = SessionUpdate {
            reauthenticated_at: Some(self.clock.now()),
            ..SessionUpdate::default()
        };
        self.store
            .update_session(id, update)
            .instrument(debug_span!("narvik.mark_reauthenticated", session_id = %id))
            .await
    }

    /// Replaces a session's additional data (for example the active
    /// organisation). `Ok(false)` if the session is gone: an update never
    /// re-creates a deleted (signed-out) session.
    ///
    /// ```
    /// use narvik_core::{Narvik, store::MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let narvik = Narvik::new(MemoryStore::<String>::new());
    /// let created = narvik.create_session("ada", "org-1".to_owned()).await?;
    /// assert!(narvik.update_session_data(&created.session.id, "org-2".to_owned()).await?);
    /// let valid = narvik.validate_session(created.token.as_str()).await?.expect("valid");
    /// assert_eq!(valid.session.data, "org-2");
    ///
    /// narvik.invalidate_session(&created.session.id).await?;
    /// assert!(!narvik.update_session_data(&created.session.id, "org-3".to_owned()).await?);
    /// assert!(narvik.validate_session(created.token.as_str()).await?.is_none());
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// Any store error; [`Error::Data`] if the store cannot encode `data`.
    pub async fn update_session_data(&self, id: &SessionId, data: S::Data) -> Result<bool, Error> {
        let update = SessionUpdate {
            data: Some(data),
            ..SessionUpdate::default()
        };
        self.store
            .update_session(id, update)
            .instrument(debug_span!("narvik.update_session_data", session_id = %id))
            .await
    }

    /// The `Set-Cookie` header value for a session's token, as the session
    /// was created: a persistent cookie that never outlives the session,
    /// or a browser-session cookie; see [`Config::cookie_for`]. Use it
    /// after a sign-in, a rotation or an extension.
    pub fn cookie_for(&self, token: &Token, session: &Session<S::Data>) -> String {
        self.config.cookie_for(token, session, self.clock.now())
    }
}

impl<S: UserSessionStore> Narvik<S> {
    /// Caps the sessions of one user at `max` (Spring Security's
    /// concurrency control, Keycloak's session limit): creating a session
    /// beyond the cap revokes the user's oldest, by last activity
    /// ([`Session::last_seen_at`]), then by creation, never the one being
    /// created (sessions tied to the millisecond go in an arbitrary but
    /// fixed order). Off by default.
    ///
    /// Under concurrent sign-ins of one user, once all have returned at
    /// most `max` of their sessions remain. A racing sign-in can see the
    /// session it just created revoked by another sign-in's enforcement,
    /// before or soon after it returns, exactly as if the user had signed
    /// in once more elsewhere: its next request is signed out.
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use std::time::Duration;
    /// use narvik_core::{ManualClock, Narvik, Timestamp, store::MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let clock = ManualClock::new(Timestamp::from_unix_millis(1_000_000));
    /// let narvik = Narvik::new(MemoryStore::new())
    ///     .with_clock(clock.clone())
    ///     .with_session_cap(NonZeroUsize::new(2).expect("2"));
    /// let first = narvik.create_session("ada", ()).await?;
    /// clock.advance(Duration::from_secs(1));
    /// narvik.create_session("ada", ()).await?;
    /// clock.advance(Duration::from_secs(1));
    /// narvik.create_session("ada", ()).await?;
    /// assert_eq!(narvik.fetch_sessions_for_user("ada").await?.len(), 2);
    /// assert!(narvik.validate_session(first.token.as_str()).await?.is_none());
    /// # Ok::<(), narvik_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn with_session_cap(mut self, max: NonZeroUsize) -> Self {
        self.cap = Some(Cap {
            max: max.get(),
            enforce: enforce_cap::<S>,
        });
        self
    }

    /// The cap on sessions per user, if one is set.
    pub fn session_cap(&self) -> Option<NonZeroUsize> {
        self.cap.and_then(|cap| NonZeroUsize::new(cap.max))
    }

    /// The user's live sessions (Narvik's `fetchSessionsForUser`), expired
    /// ones (and rotation markers) left out.
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
        sessions.retain(|s| !self.is_dead(s, now) && s.rotated_at.is_none());
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

/// Revokes `user_id`'s sessions beyond the newest `max`, keeping `keep`
/// (the one just created) whatever its rank.
///
/// Why this keeps the cap under concurrent sign-ins: each sign-in saves
/// its session before it lists the user's, so the sign-in that lists last
/// sees every session saved by then and leaves at most `max`; the others'
/// deletions only remove more.
fn enforce_cap<'a, S: UserSessionStore>(
    narvik: &'a Narvik<S>,
    user_id: &'a UserId,
    keep: &'a SessionId,
    max: usize,
) -> BoxFuture<'a, Result<(), Error>> {
    Box::pin(async move {
        let mut sessions = narvik.fetch_sessions_for_user(user_id).await?;
        if sessions.len() <= max {
            return Ok(());
        }
        sessions.retain(|s| s.id != *keep);
        // Newest first: by last activity, then creation, then id (any
        // fixed order, so that concurrent sign-ins agree on who goes).
        sessions.sort_by(|a, b| {
            b.last_seen_at()
                .cmp(&a.last_seen_at())
                .then(b.created_at.cmp(&a.created_at))
                .then_with(|| b.id.as_bytes().cmp(a.id.as_bytes()))
        });
        for session in sessions.iter().skip(max.saturating_sub(1)) {
            narvik.store.delete_session(&session.id).await?;
            tracing::debug!(session_id = %session.id, "session revoked by the per-user cap");
        }
        Ok(())
    })
}

/// The per-user cap: its size, and the code that enforces it, chosen where
/// the store is known to list a user's sessions.
struct Cap<S> {
    max: usize,
    enforce: EnforceCap<S>,
}

/// [`enforce_cap`] for one store type.
type EnforceCap<S> =
    for<'a> fn(&'a Narvik<S>, &'a UserId, &'a SessionId, usize) -> BoxFuture<'a, Result<(), Error>>;

impl<S> Clone for Cap<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Cap<S> {}

impl<S: PurgeableStore> Narvik<S> {
    /// Deletes every expired session (`expires_at <= now`, Narvik's
    /// `deleteAllExpiredSessions`) and returns how many it deleted.
    /// Rotation markers stay until [`ROTATED_MARKER_TTL`] has passed.
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
    /// A rotation marker: answer "no session", and leave it.
    Rotated,
    /// Write, then return it: move its expiry (an extension) and/or record
    /// activity.
    Touch {
        expires_at: Option<Timestamp>,
        active_at: Option<Timestamp>,
    },
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
        async fn update_session(
            &self,
            id: &SessionId,
            update: SessionUpdate,
        ) -> Result<bool, Error> {
            self.0.update_session(id, update).await
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
