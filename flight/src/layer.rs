//! A tower layer in front of every RPC: it checks the credentials (every
//! RPC but the handshake), finds the caller's session and puts it in the
//! request's extensions, and names a new session in a `set-cookie`
//! header.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::auth::{Authenticator, Caller};
use crate::sessions::{CallSession, SESSION_COOKIE, SessionKeys, Sessions};

#[derive(Clone)]
pub(crate) struct SessionLayer {
    pub sessions: Arc<Sessions>,
    pub auth: Arc<Authenticator>,
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            sessions: Arc::clone(&self.sessions),
            auth: Arc::clone(&self.auth),
        }
    }
}

#[derive(Clone)]
pub(crate) struct SessionService<S> {
    inner: S,
    sessions: Arc<Sessions>,
    auth: Arc<Authenticator>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // The handshake checks its own credentials and makes its session.
        if request.uri().path().ends_with("/Handshake") {
            return Box::pin(inner.call(request));
        }
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = match self.auth.check(header) {
            Ok(caller) => caller,
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        };
        let keys = SessionKeys {
            cookie: session_cookie(&request),
            token: match caller {
                Caller::IssuedToken(token) => Some(token),
                Caller::Anonymous | Caller::StaticToken => None,
            },
            peer: peer(&request),
        };
        let (session, fresh) = match self.sessions.resolve(&keys) {
            Ok(found) => found,
            Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
        };
        request
            .extensions_mut()
            .insert(CallSession(session.id.clone()));
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            if fresh
                && let Ok(value) =
                    HeaderValue::from_str(&format!("{SESSION_COOKIE}={}", session.id))
            {
                response
                    .headers_mut()
                    .append(http::header::SET_COOKIE, value);
            }
            Ok(response)
        })
    }
}

/// The session cookie of a request, if it sends one.
fn session_cookie<B>(request: &Request<B>) -> Option<String> {
    request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

/// The client's address, over TCP or TLS.
fn peer<B>(request: &Request<B>) -> Option<std::net::SocketAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}
