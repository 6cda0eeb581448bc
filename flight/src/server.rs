//! Starting the server: its settings, and the gRPC server with the
//! session layer in front of the Flight SQL service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use floe_engine::Engine;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::auth::{Authenticator, Credentials};
use crate::error::{FlightError, Result};
use crate::layer::SessionLayer;
use crate::service::FlightSqlServer;
use crate::sessions::Sessions;

/// The largest message a client may send (an ingest batch, parameters).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// The HTTP/2 flow-control windows: how much a client may send ahead.
const STREAM_WINDOW: u32 = 16 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 64 * 1024 * 1024;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Who may call.
    pub credentials: Credentials,
    /// PEM certificate chain and private key: serve TLS.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// A session unused this long is closed (its transaction rolled back).
    pub idle_timeout: Duration,
    /// The largest message a client may send.
    pub max_message_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            credentials: Credentials::default(),
            tls: None,
            idle_timeout: Duration::from_secs(30 * 60),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl ServerConfig {
    /// Serve TLS with the PEM files `cert` and `key`.
    pub fn with_tls_files(mut self, cert: &str, key: &str) -> Result<Self> {
        let read = |path: &str| {
            std::fs::read(path).map_err(|source| FlightError::ReadFile {
                path: path.to_string(),
                source,
            })
        };
        self.tls = Some((read(cert)?, read(key)?));
        Ok(self)
    }
}

/// A Flight SQL server bound to its address, ready to serve.
pub struct FlightSqlListener {
    listener: tokio::net::TcpListener,
    engine: Engine,
    config: ServerConfig,
}

impl FlightSqlListener {
    /// Bind `addr` (port 0: any free port).
    pub async fn bind(engine: Engine, addr: &str, config: ServerConfig) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| FlightError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        Ok(Self {
            listener,
            engine,
            config,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|source| FlightError::Bind {
                addr: "the listener".into(),
                source,
            })
    }

    /// Serve until `shutdown` completes.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send) -> Result<()> {
        let sessions = Arc::new(Sessions::new(self.engine.clone(), self.config.idle_timeout));
        let auth = Arc::new(Authenticator::new(self.config.credentials.clone()));
        let ctx = self.engine.session();
        let service = FlightSqlServer {
            sessions: Arc::clone(&sessions),
            auth: Arc::clone(&auth),
            sql_info: Arc::new(crate::sql_info::sql_info(ctx.session_context())?),
            xdbc: Arc::new(crate::sql_info::xdbc_type_info()?),
        };
        let sweeper = {
            let sessions = Arc::clone(&sessions);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(sessions.sweep_interval());
                loop {
                    tick.tick().await;
                    sessions.expire_idle().await;
                }
            })
        };
        let grpc = FlightServiceServer::new(service)
            .max_decoding_message_size(self.config.max_message_size)
            .max_encoding_message_size(usize::MAX);
        // HTTP/2's default 64 KiB windows hold an upload (an ingest) to a
        // trickle; let the peer send ahead.
        let mut builder = Server::builder()
            .initial_stream_window_size(Some(STREAM_WINDOW))
            .initial_connection_window_size(Some(CONNECTION_WINDOW));
        if let Some((cert, key)) = &self.config.tls {
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
                .map_err(|e| FlightError::Config(format!("TLS: {e}")))?;
        }
        let incoming = tonic::transport::server::TcpIncoming::from(self.listener);
        let served = builder
            .layer(SessionLayer { sessions, auth })
            .add_service(grpc)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        sweeper.abort();
        Ok(served?)
    }
}
