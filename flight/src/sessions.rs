//! The server's sessions: one engine [`Session`] per client connection,
//! with what the client opened on it (prepared statements, planned
//! queries, a transaction).
//!
//! A request finds its session as the Flight SQL session spec says: by
//! the `arrow_flight_session_id` cookie, else by the bearer token a
//! handshake issued, else by its connection (so two clients sharing one
//! static token are two sessions). A new session's id goes back in a
//! `set-cookie` header. Idle sessions expire; their open transactions are
//! rolled back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use floe_engine::{Engine, PreparedStatement, Session};
use futures::stream::AbortHandle;
use tonic::Status;

/// The cookie that names a session.
pub(crate) const SESSION_COOKIE: &str = "arrow_flight_session_id";

/// Most queries a session may have planned and not yet read; the oldest
/// is dropped past it.
const MAX_PLANNED_QUERIES: usize = 64;

fn poisoned() -> Status {
    Status::internal("a session lock was poisoned by an earlier failure")
}

/// Lock a mutex, or fail the request.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, Status> {
    mutex.lock().map_err(|_| poisoned())
}

/// A statement prepared on a session.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub statement: PreparedStatement,
    /// Prepared inside a transaction: it runs in the session's transaction.
    pub in_transaction: bool,
    /// The parameter rows bound to it (DoPut), for the next execution.
    pub bound: Mutex<Option<Vec<Vec<ScalarValue>>>>,
}

/// A query planned by GetFlightInfo, read by DoGet.
pub(crate) struct PlannedQuery {
    pub plan: Arc<dyn ExecutionPlan>,
    /// The schema the FlightInfo announced, which the stream must have.
    pub schema: SchemaRef,
    pub task: Arc<TaskContext>,
    planned: Instant,
}

impl PlannedQuery {
    pub(crate) fn new(
        plan: Arc<dyn ExecutionPlan>,
        schema: SchemaRef,
        task: Arc<TaskContext>,
    ) -> Self {
        Self {
            plan,
            schema,
            task,
            planned: Instant::now(),
        }
    }
}

/// A Flight SQL transaction: its id, and why it was rolled back if a
/// statement in it failed (every later statement is refused until the
/// client ends it).
#[derive(Debug, Clone)]
pub(crate) struct Transaction {
    pub id: Vec<u8>,
    pub aborted: Option<String>,
}

/// One client's session.
pub(crate) struct ClientSession {
    pub id: String,
    pub session: Session,
    last_used: Mutex<Instant>,
    pub prepared: Mutex<HashMap<String, Arc<Prepared>>>,
    queries: Mutex<HashMap<String, PlannedQuery>>,
    running: Mutex<HashMap<String, AbortHandle>>,
    pub transaction: Mutex<Option<Transaction>>,
}

impl ClientSession {
    fn touch(&self) {
        if let Ok(mut last) = self.last_used.lock() {
            *last = Instant::now();
        }
    }

    /// How long since the session was last used; a session streaming a
    /// result is in use.
    fn idle_for(&self) -> Duration {
        if self.running.lock().map(|r| !r.is_empty()).unwrap_or(true) {
            return Duration::ZERO;
        }
        self.last_used
            .lock()
            .map(|last| last.elapsed())
            .unwrap_or_default()
    }

    /// A handle of this session: `<session id>/<fresh id>`.
    pub(crate) fn new_handle(&self) -> String {
        format!("{}/{}", self.id, uuid::Uuid::new_v4().simple())
    }

    /// Keep a planned query until DoGet reads it.
    pub(crate) fn add_query(&self, handle: String, query: PlannedQuery) -> Result<(), Status> {
        let mut queries = lock(&self.queries)?;
        if queries.len() >= MAX_PLANNED_QUERIES
            && let Some(oldest) = queries
                .iter()
                .min_by_key(|(_, q)| q.planned)
                .map(|(k, _)| k.clone())
        {
            queries.remove(&oldest);
        }
        queries.insert(handle, query);
        Ok(())
    }

    /// Take a planned query (a ticket is read once).
    pub(crate) fn take_query(&self, handle: &str) -> Result<Option<PlannedQuery>, Status> {
        Ok(lock(&self.queries)?.remove(handle))
    }

    /// Drop a planned query that has not started; `true` if there was one.
    pub(crate) fn forget_query(&self, handle: &str) -> Result<bool, Status> {
        Ok(lock(&self.queries)?.remove(handle).is_some())
    }

    /// A query stream started: it can be cancelled by its handle.
    pub(crate) fn started(&self, handle: &str, abort: AbortHandle) -> Result<(), Status> {
        lock(&self.running)?.insert(handle.to_string(), abort);
        Ok(())
    }

    /// A query stream ended.
    pub(crate) fn finished(&self, handle: &str) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(handle);
        }
    }

    /// Cancel a running query; `true` if it was running.
    pub(crate) fn cancel(&self, handle: &str) -> Result<bool, Status> {
        Ok(match lock(&self.running)?.remove(handle) {
            Some(abort) => {
                abort.abort();
                true
            }
            None => false,
        })
    }

    /// Stop everything the session runs and roll back its transaction.
    async fn close(&self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, abort) in running.drain() {
                abort.abort();
            }
        }
        if let Ok(mut queries) = self.queries.lock() {
            queries.clear();
        }
        if let Ok(mut prepared) = self.prepared.lock() {
            prepared.clear();
        }
        if let Ok(mut transaction) = self.transaction.lock() {
            *transaction = None;
        }
        if self.session.in_transaction().unwrap_or(false)
            && let Err(e) = self.session.sql("ROLLBACK").await
        {
            log::warn!("session {}: rollback on close failed: {e}", self.id);
        }
    }
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<ClientSession>>,
    by_token: HashMap<String, String>,
    by_peer: HashMap<SocketAddr, String>,
}

/// What a request says about which session it belongs to.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionKeys {
    pub cookie: Option<String>,
    pub token: Option<String>,
    pub peer: Option<SocketAddr>,
}

/// The session a request belongs to, put in its extensions by the layer.
#[derive(Debug, Clone)]
pub(crate) struct CallSession(pub String);

/// Every session of a server.
pub(crate) struct Sessions {
    engine: Engine,
    idle_timeout: Duration,
    registry: Mutex<Registry>,
    /// Query streams running now.
    pub running_queries: AtomicUsize,
}

impl Sessions {
    pub(crate) fn new(engine: Engine, idle_timeout: Duration) -> Self {
        Self {
            engine,
            idle_timeout,
            registry: Mutex::new(Registry::default()),
            running_queries: AtomicUsize::new(0),
        }
    }

    /// The session of a request, made if there is none; `true` if it is new.
    pub(crate) fn resolve(&self, keys: &SessionKeys) -> Result<(Arc<ClientSession>, bool), Status> {
        let mut registry = lock(&self.registry)?;
        let known = keys
            .cookie
            .as_ref()
            .filter(|id| registry.by_id.contains_key(*id))
            .cloned()
            .or_else(|| {
                keys.token
                    .as_ref()
                    .and_then(|t| registry.by_token.get(t).cloned())
            })
            .or_else(|| match (&keys.cookie, &keys.token) {
                // A client that keeps neither cookie nor token is known by its connection.
                (None, None) => keys.peer.and_then(|p| registry.by_peer.get(&p).cloned()),
                _ => None,
            })
            .and_then(|id| registry.by_id.get(&id).cloned());
        if let Some(session) = known {
            session.touch();
            return Ok((session, false));
        }
        let session = Arc::new(ClientSession {
            id: uuid::Uuid::new_v4().simple().to_string(),
            session: self.engine.session(),
            last_used: Mutex::new(Instant::now()),
            prepared: Mutex::new(HashMap::new()),
            queries: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            transaction: Mutex::new(None),
        });
        if let Some(token) = &keys.token {
            registry.by_token.insert(token.clone(), session.id.clone());
        }
        if let Some(peer) = keys.peer {
            registry.by_peer.insert(peer, session.id.clone());
        }
        registry
            .by_id
            .insert(session.id.clone(), Arc::clone(&session));
        Ok((session, true))
    }

    /// A session by id (handles and tickets name theirs).
    pub(crate) fn get(&self, id: &str) -> Result<Option<Arc<ClientSession>>, Status> {
        let session = lock(&self.registry)?.by_id.get(id).cloned();
        if let Some(session) = &session {
            session.touch();
        }
        Ok(session)
    }

    /// How many sessions are open.
    pub(crate) fn count(&self) -> usize {
        self.registry.lock().map(|r| r.by_id.len()).unwrap_or(0)
    }

    /// Close a session (CloseSession): its transaction is rolled back.
    pub(crate) async fn close(&self, id: &str) -> Result<bool, Status> {
        let session = {
            let mut registry = lock(&self.registry)?;
            let session = registry.by_id.remove(id);
            registry.by_token.retain(|_, v| v != id);
            registry.by_peer.retain(|_, v| v != id);
            session
        };
        match session {
            Some(session) => {
                session.close().await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Close the sessions idle longer than the timeout; returns how many.
    pub(crate) async fn expire_idle(&self) -> usize {
        let idle: Vec<String> = match self.registry.lock() {
            Ok(registry) => registry
                .by_id
                .values()
                .filter(|s| s.idle_for() >= self.idle_timeout)
                .map(|s| s.id.clone())
                .collect(),
            Err(_) => return 0,
        };
        let mut closed = 0;
        for id in idle {
            if let Ok(true) = self.close(&id).await {
                log::info!("session {id} expired after {:?} idle", self.idle_timeout);
                closed += 1;
            }
        }
        closed
    }

    /// How often to look for idle sessions.
    pub(crate) fn sweep_interval(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// A query stream started; [`Self::query_ended`] when it ends.
    pub(crate) fn query_started(&self) {
        self.running_queries.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn query_ended(&self) {
        self.running_queries.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cookie_then_token_then_connection_find_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
        let sessions = Sessions::new(engine, Duration::from_millis(50));
        let peer = |port| Some(SocketAddr::from(([127, 0, 0, 1], port)));
        let keys = |cookie: Option<&str>, token: Option<&str>, port| SessionKeys {
            cookie: cookie.map(str::to_string),
            token: token.map(str::to_string),
            peer: peer(port),
        };

        // A connection with nothing else is known by its address.
        let (a, fresh) = sessions.resolve(&keys(None, None, 1000)).unwrap();
        assert!(fresh);
        let (again, fresh) = sessions.resolve(&keys(None, None, 1000)).unwrap();
        assert!(!fresh && again.id == a.id);
        // Another connection is another session, unless it sends the cookie.
        let (b, _) = sessions.resolve(&keys(None, None, 1001)).unwrap();
        assert_ne!(b.id, a.id);
        let (by_cookie, fresh) = sessions.resolve(&keys(Some(&a.id), None, 1002)).unwrap();
        assert!(!fresh && by_cookie.id == a.id);
        // A handshake's token names its session from any connection.
        let (t, _) = sessions.resolve(&keys(None, Some("tok"), 1003)).unwrap();
        let (by_token, _) = sessions.resolve(&keys(None, Some("tok"), 1004)).unwrap();
        assert_eq!(by_token.id, t.id);
        // An unknown cookie (a closed session) gets a new session.
        let (new, fresh) = sessions.resolve(&keys(Some("gone"), None, 1000)).unwrap();
        assert!(fresh && new.id != a.id);
        assert_eq!(sessions.count(), 4);

        // Idle sessions expire; a session streaming a result does not.
        let (abort, _) = AbortHandle::new_pair();
        b.started("q", abort).unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(sessions.expire_idle().await, 3);
        assert_eq!(sessions.count(), 1);
        assert!(sessions.get(&b.id).unwrap().is_some());
    }
}
