//! [`NarvikLayer`] and its builder: the options, checked once.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};
use http::header::WWW_AUTHENTICATE;
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use narvik_core::Narvik;
use narvik_core::cross_origin::{CrossOriginPolicy, CrossOriginPolicyBuilder};
use tower_layer::Layer;

use crate::{Error, NarvikService};

/// Builds the response of a rejected [`CurrentSession`](crate::CurrentSession).
type UnauthorizedFn = dyn Fn(&Parts) -> Response + Send + Sync;

/// The layer's options, shared by every request.
pub(crate) struct Options {
    pub(crate) bearer: bool,
    pub(crate) cross_origin: CrossOriginPolicy,
    pub(crate) store_error_status: StatusCode,
    unauthorized: Option<Arc<UnauthorizedFn>>,
}

impl Options {
    /// The response for a request that needed a session and had none.
    pub(crate) fn unauthorized(&self, parts: &Parts) -> Response {
        match &self.unauthorized {
            Some(respond) => respond(parts),
            None => {
                let mut response = crate::error::plain(StatusCode::UNAUTHORIZED);
                // RFC 9110 11.6.1: a 401 carries a challenge. Only bearer
                // is an HTTP authentication scheme; cookies have none.
                if self.bearer {
                    response
                        .headers_mut()
                        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                response
            }
        }
    }
}

/// What every request through one layer shares, behind one `Arc`.
pub(crate) struct Shared<S> {
    pub(crate) narvik: Arc<Narvik<S>>,
    pub(crate) options: Options,
}

/// [`Shared`] with the store type erased, for the per-request state that
/// the extractors find by session data type alone;
/// [`SessionManager`](crate::SessionManager) downcasts it back.
pub(crate) trait LayerShared: Any + Send + Sync {
    fn options(&self) -> &Options;
}

impl<S: Send + Sync + 'static> LayerShared for Shared<S> {
    fn options(&self) -> &Options {
        &self.options
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("bearer", &self.bearer)
            .field("cross_origin", &self.cross_origin)
            .field("store_error_status", &self.store_error_status)
            .field("custom_unauthorized", &self.unauthorized.is_some())
            .finish()
    }
}

/// The tower layer: reads the session token from each request, validates
/// it once, and hands the result to the extractors
/// ([`CurrentSession`](crate::CurrentSession),
/// [`SessionManager`](crate::SessionManager)); then writes the session
/// cookie on the response when it must change.
///
/// Cheap to clone (two `Arc`s). Works with any store `S`; the per-user
/// calls of [`SessionManager`](crate::SessionManager) need a
/// [`UserSessionStore`](narvik_core::store::UserSessionStore).
///
/// What it does per request, in order:
///
/// 1. Reads the token: `Authorization: Bearer <token>` if bearer auth is on
///    and the header is there (it wins over a cookie), else the session
///    cookie from every `Cookie` header. Never the URL. When the name
///    repeats (a cookie planted for a parent domain or a longer path),
///    up to three values with a token's shape are tried in header order
///    and the first valid session wins.
/// 2. For a state-changing method (anything but GET, HEAD, OPTIONS,
///    TRACE), with or without a cookie, checks where the request came
///    from (see [`NarvikLayerBuilder::csrf`]); a refusal is
///    `403 Forbidden` before any store call, logged at debug level.
/// 3. Validates the token (one store read per value tried; a write only when the session
///    is extended). A store error is answered with the configured status
///    (500 by default), logged with [`tracing::error!`], and the handler
///    does not run: a failing store never looks like "signed out". With a
///    store that answers at once ([`MemoryStore`](narvik_core::store::MemoryStore))
///    and a session that needs no write, and for requests without a token,
///    this happens before the inner service is called and no future is
///    boxed; otherwise in a boxed future.
/// 4. Runs the handler, then sets at most one `Set-Cookie` for the session
///    cookie: the handler's sign-in or sign-out if it made one, else a
///    fresh cookie if validation extended the session, else the blank
///    cookie if the request sent the cookie and no value of it is a valid
///    session (nor a session rotated moments ago: see
///    [`SessionManager::rotate`](crate::SessionManager::rotate)). Cookies
///    come from [`Narvik::cookie_for`], so a browser-session cookie stays
///    one.
///    Bearer-authenticated requests never get a cookie this way.
///
/// ```
/// use narvik_axum::NarvikLayer;
/// use narvik_core::{Narvik, store::MemoryStore};
///
/// let layer = NarvikLayer::builder(Narvik::new(MemoryStore::<()>::new()))
///     .allow_origin("https://admin.example.com")
///     .build()?;
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # let _ = app;
/// # Ok::<(), narvik_axum::Error>(())
/// ```
pub struct NarvikLayer<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for NarvikLayer<S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> fmt::Debug for NarvikLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NarvikLayer")
            .field("narvik", &self.shared.narvik)
            .field("options", &self.shared.options)
            .finish()
    }
}

impl<S> NarvikLayer<S> {
    /// A layer with the default options: bearer auth on, the origin check
    /// on with no extra origins and any request scheme, store errors as
    /// 500, and a plain `401 Unauthorized` for a missing session.
    ///
    /// Takes a [`Narvik`] or an `Arc<Narvik<S>>` (to share the manager
    /// with the app's state).
    pub fn new(narvik: impl Into<Arc<Narvik<S>>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                narvik: narvik.into(),
                options: Options {
                    bearer: true,
                    cross_origin: CrossOriginPolicy::default(),
                    store_error_status: StatusCode::INTERNAL_SERVER_ERROR,
                    unauthorized: None,
                },
            }),
        }
    }

    /// A builder to change the options; see [`NarvikLayerBuilder`].
    pub fn builder(narvik: impl Into<Arc<Narvik<S>>>) -> NarvikLayerBuilder<S> {
        NarvikLayerBuilder {
            narvik: narvik.into(),
            bearer: true,
            cross_origin: CrossOriginPolicy::builder(),
            store_error_status: StatusCode::INTERNAL_SERVER_ERROR,
            unauthorized: None,
        }
    }

    /// The session manager the layer validates with.
    pub fn narvik(&self) -> &Arc<Narvik<S>> {
        &self.shared.narvik
    }
}

impl<I, S> Layer<I> for NarvikLayer<S> {
    type Service = NarvikService<I, S>;

    fn layer(&self, inner: I) -> Self::Service {
        NarvikService::new(inner, Arc::clone(&self.shared))
    }
}

/// Options for a [`NarvikLayer`], checked by [`build`](Self::build).
#[must_use]
pub struct NarvikLayerBuilder<S> {
    narvik: Arc<Narvik<S>>,
    bearer: bool,
    cross_origin: CrossOriginPolicyBuilder,
    store_error_status: StatusCode,
    unauthorized: Option<Arc<UnauthorizedFn>>,
}

impl<S> fmt::Debug for NarvikLayerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NarvikLayerBuilder")
            .field("bearer", &self.bearer)
            .field("cross_origin", &self.cross_origin)
            .field("store_error_status", &self.store_error_status)
            .field("custom_unauthorized", &self.unauthorized.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> NarvikLayerBuilder<S> {
    /// Whether `Authorization: Bearer <token>` is read; default true. When
    /// both a bearer header and the cookie are present, the bearer header
    /// wins and the cookie is ignored. Requests with a bearer header and
    /// no session cookie skip the cross-origin check (a cross-site page
    /// cannot add the header) and never get a refreshed or cleared cookie.
    pub fn bearer(mut self, on: bool) -> Self {
        self.bearer = on;
        self
    }

    /// Whether the cross-origin check against CSRF runs; default true.
    ///
    /// It covers every request with a state-changing method (anything but
    /// GET, HEAD, OPTIONS, TRACE), with or without the session cookie,
    /// before the store or the handler is reached: a request that
    /// `Sec-Fetch-Site` or `Origin` shows to come from another origin is
    /// `403 Forbidden`, logged at debug level only. The rules, and what
    /// they cannot protect, are those of [`narvik_core::cross_origin`]:
    /// trusted are `Sec-Fetch-Site: same-origin` (or a value
    /// [allowed](Self::allow_sec_fetch_site)), and without it an `Origin`
    /// equal to the request's own (the `Host` with the
    /// [request scheme](Self::request_scheme)) or an
    /// [allow-listed](Self::allow_origin) origin, exactly. Requests with
    /// neither header (not from a browser) pass unless they carry the
    /// session cookie; bearer-only requests and
    /// [exempt paths](Self::exempt_path) pass.
    ///
    /// [`SessionManager::sign_in`](crate::SessionManager::sign_in) checks
    /// again before it sets the cookie (login CSRF), and needs a trusted
    /// origin even where the layer let the request through.
    ///
    /// Turn it off only if something else already checks origins or
    /// tokens for every state-changing route.
    pub fn csrf(mut self, on: bool) -> Self {
        self.cross_origin = self.cross_origin.enabled(on);
        self
    }

    /// Adds an origin that may send state-changing requests besides the
    /// site itself, e.g. `https://admin.example.com`; see
    /// [`CrossOriginPolicyBuilder::allow_origin`]. May be called
    /// repeatedly.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.cross_origin = self.cross_origin.allow_origin(origin);
        self
    }

    /// Adds a `Sec-Fetch-Site` value that counts as the site's own besides
    /// `same-origin`: `same-site` or `none`; see
    /// [`CrossOriginPolicyBuilder::allow_sec_fetch_site`], and mind that
    /// `same-site` trusts every subdomain of the site.
    pub fn allow_sec_fetch_site(mut self, value: impl Into<String>) -> Self {
        self.cross_origin = self.cross_origin.allow_sec_fetch_site(value);
        self
    }

    /// The scheme of the site's own origin, `"https"` or `"http"`, for the
    /// comparison of `Origin` with `Host`. By default the request's (when
    /// the URI has one, as over HTTP/2), else the `Origin`'s own, so that
    /// only host and port are compared. Set `"https"` in production behind
    /// TLS so that a page on `http://` the same host (reachable by a
    /// network attacker) does not count as the site.
    pub fn request_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.cross_origin = self.cross_origin.request_scheme(scheme);
        self
    }

    /// Exempts a path from the cross-origin check, for requests that no
    /// browser page sends (webhooks, which prove themselves with a
    /// signature): `"/hooks/stripe"` is that path only, `"/hooks/"` every
    /// path under it; see [`CrossOriginPolicyBuilder::exempt_path`]. A
    /// cross-origin request there reaches the handler as if it had no
    /// session cookie. May be called repeatedly.
    ///
    /// Routes added to the `Router` after `.layer(...)` are outside the
    /// layer altogether (no check, no session): the other way to exempt a
    /// webhook.
    ///
    /// ```
    /// use narvik_axum::NarvikLayer;
    /// use narvik_core::{Narvik, store::MemoryStore};
    ///
    /// let layer = NarvikLayer::builder(Narvik::new(MemoryStore::<()>::new()))
    ///     .exempt_path("/hooks/stripe")
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), narvik_axum::Error>(())
    /// ```
    pub fn exempt_path(mut self, path: impl Into<String>) -> Self {
        self.cross_origin = self.cross_origin.exempt_path(path);
        self
    }

    /// The status of a response when the store fails; default
    /// `500 Internal Server Error`. Must be a 5xx, e.g.
    /// `503 Service Unavailable`.
    pub fn store_error_status(mut self, status: StatusCode) -> Self {
        self.store_error_status = status;
        self
    }

    /// The response when [`CurrentSession`](crate::CurrentSession) finds no
    /// session. The default is `401 Unauthorized` with the body
    /// `Unauthorized` (and `WWW-Authenticate: Bearer` when bearer auth is
    /// on).
    ///
    /// The function gets the request's parts (to answer HTML or JSON by
    /// `Accept`, say) and its response is used as it is, status included:
    /// keep the 401 for APIs, or redirect a browser to the sign-in page.
    ///
    /// ```
    /// use http::StatusCode;
    /// use narvik_axum::NarvikLayer;
    /// use narvik_core::{Narvik, store::MemoryStore};
    ///
    /// let layer = NarvikLayer::builder(Narvik::new(MemoryStore::<()>::new()))
    ///     .unauthorized(|_parts| (StatusCode::UNAUTHORIZED, "please sign in"))
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), narvik_axum::Error>(())
    /// ```
    pub fn unauthorized<F, R>(mut self, respond: F) -> Self
    where
        F: Fn(&Parts) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.unauthorized = Some(Arc::new(move |parts| respond(parts).into_response()));
        self
    }

    /// Checks the options and returns the layer.
    ///
    /// # Errors
    ///
    /// [`Error::CrossOriginPolicy`] for a cross-origin option that cannot
    /// work: an allow-list entry that is not an `http(s)://host[:port]`
    /// origin, a request scheme other than `http` or `https`, a
    /// `Sec-Fetch-Site` value to allow other than `same-origin`,
    /// `same-site` or `none`, an exempt path that is not an absolute path;
    /// [`Error::InvalidStatus`] for a store-error status that is not 5xx.
    pub fn build(self) -> Result<NarvikLayer<S>, Error> {
        if !self.store_error_status.is_server_error() {
            return Err(Error::InvalidStatus(self.store_error_status));
        }
        let cross_origin = self.cross_origin.build()?;
        Ok(NarvikLayer {
            shared: Arc::new(Shared {
                narvik: self.narvik,
                options: Options {
                    bearer: self.bearer,
                    cross_origin,
                    store_error_status: self.store_error_status,
                    unauthorized: self.unauthorized,
                },
            }),
        })
    }
}
