//! [`NarvikLayer`] and its builder: the options, checked once.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};
use http::header::WWW_AUTHENTICATE;
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use narvik_core::Narvik;
use tower_layer::Layer;

use crate::origin::OriginPolicy;
use crate::{Error, NarvikService};

/// Builds the response of a rejected [`CurrentSession`](crate::CurrentSession).
type UnauthorizedFn = dyn Fn(&Parts) -> Response + Send + Sync;

/// The layer's options, shared by every request.
pub(crate) struct Options {
    pub(crate) bearer: bool,
    pub(crate) csrf: bool,
    pub(crate) origins: OriginPolicy,
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
            .field("csrf", &self.csrf)
            .field("origins", &self.origins)
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
///    cookie from every `Cookie` header (the first value with a token's
///    shape when the name repeats). Never the URL.
/// 2. For a state-changing method (anything but GET, HEAD, OPTIONS,
///    TRACE) on a request that carries the session cookie and no bearer
///    header, checks the origin (see [`NarvikLayerBuilder::csrf`]); a
///    refusal is `403 Forbidden` before any store call.
/// 3. Validates the token (one store read; a write only when the session
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
///    cookie if the request sent a cookie that is not a valid session.
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
                    csrf: true,
                    origins: OriginPolicy::default(),
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
            csrf: true,
            allowed_origins: Vec::new(),
            allowed_sites: Vec::new(),
            request_scheme: None,
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
    csrf: bool,
    allowed_origins: Vec<String>,
    allowed_sites: Vec<String>,
    request_scheme: Option<String>,
    store_error_status: StatusCode,
    unauthorized: Option<Arc<UnauthorizedFn>>,
}

impl<S> fmt::Debug for NarvikLayerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NarvikLayerBuilder")
            .field("bearer", &self.bearer)
            .field("csrf", &self.csrf)
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_sec_fetch_sites", &self.allowed_sites)
            .field("request_scheme", &self.request_scheme)
            .field("store_error_status", &self.store_error_status)
            .field("custom_unauthorized", &self.unauthorized.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> NarvikLayerBuilder<S> {
    /// Whether `Authorization: Bearer <token>` is read; default true. When
    /// both a bearer header and the cookie are present, the bearer header
    /// wins and the cookie is ignored. Bearer-authenticated requests skip
    /// the origin check (a cross-site page cannot add the header) and never
    /// get a refreshed or cleared cookie.
    pub fn bearer(mut self, on: bool) -> Self {
        self.bearer = on;
        self
    }

    /// Whether the origin check against CSRF runs; default true.
    ///
    /// It applies to requests with a state-changing method (anything but
    /// GET, HEAD, OPTIONS, TRACE) that carry the session cookie and no
    /// bearer header. If `Origin` is present, its parsed origin must equal
    /// the request's own (the `Host` header with the
    /// [request scheme](Self::request_scheme)) or an
    /// [allow-listed](Self::allow_origin) origin, exactly: no prefix or
    /// suffix matching. If `Origin` is absent, `Sec-Fetch-Site` must be
    /// `same-origin` (or a value [allowed](Self::allow_sec_fetch_site)).
    /// A refusal is
    /// `403 Forbidden` and the store is not touched.
    ///
    /// The same verdict guards [`SessionManager::sign_in`](crate::SessionManager::sign_in)
    /// on requests without a cookie, against login CSRF.
    ///
    /// Turn it off only if something else already checks origins or
    /// tokens for every state-changing route.
    pub fn csrf(mut self, on: bool) -> Self {
        self.csrf = on;
        self
    }

    /// Adds an origin that may send state-changing requests besides the
    /// site itself, e.g. `https://admin.example.com`. Written
    /// `scheme://host[:port]`; compared after parsing (lower case, IDN
    /// hosts as punycode, default ports dropped). May be called repeatedly.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Adds a `Sec-Fetch-Site` value that lets a state-changing request
    /// with no `Origin` header pass, besides `same-origin`: `same-site` or
    /// `none` (a request the user started, not a page). Case-insensitive
    /// here; `cross-site` can never be allowed.
    ///
    /// `same-site` trusts every host under the site's registrable domain
    /// (any subdomain of `example.com`, including ones you do not run
    /// yourself), and older browsers also count other schemes and ports as
    /// the same site: much wider than the exact origins of
    /// [`allow_origin`](Self::allow_origin). It matters only for requests
    /// without `Origin`; when `Origin` is present it alone decides. May be
    /// called repeatedly; [`build`](Self::build) checks the values.
    pub fn allow_sec_fetch_site(mut self, value: impl Into<String>) -> Self {
        self.allowed_sites.push(value.into());
        self
    }

    /// The scheme of the site's own origin, `"https"` or `"http"`, for the
    /// comparison with `Origin`. By default any: the `Origin`'s scheme is
    /// taken, so only host and port are compared with `Host`. Set
    /// `"https"` in production behind TLS so that a page on
    /// `http://` the same host (reachable by a network attacker) does not
    /// count as the site.
    pub fn request_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.request_scheme = Some(scheme.into());
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
    /// [`Error::InvalidOrigin`] for an allow-list entry that is not an
    /// `http(s)://host[:port]` origin; [`Error::InvalidScheme`] for a
    /// request scheme other than `http` or `https`;
    /// [`Error::InvalidSecFetchSite`] for a `Sec-Fetch-Site` value to allow
    /// other than `same-origin`, `same-site` or `none`;
    /// [`Error::InvalidStatus`] for a store-error status that is not 5xx.
    pub fn build(self) -> Result<NarvikLayer<S>, Error> {
        if !self.store_error_status.is_server_error() {
            return Err(Error::InvalidStatus(self.store_error_status));
        }
        let origins = OriginPolicy::new(
            self.request_scheme.as_deref(),
            &self.allowed_origins,
            &self.allowed_sites,
        )?;
        Ok(NarvikLayer {
            shared: Arc::new(Shared {
                narvik: self.narvik,
                options: Options {
                    bearer: self.bearer,
                    csrf: self.csrf,
                    origins,
                    store_error_status: self.store_error_status,
                    unauthorized: self.unauthorized,
                },
            }),
        })
    }
}
