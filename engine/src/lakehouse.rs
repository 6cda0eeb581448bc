//! [`Lakehouse`]: an engine with one session, for the CLI, the examples
//! and simple embedding.

use crate::engine::{Engine, EngineBuilder};
use crate::error::Result;
use crate::session::Session;

/// How to open a warehouse as a [`Lakehouse`] (see [`EngineBuilder`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct LakehouseBuilder {
    engine: EngineBuilder,
}

impl LakehouseBuilder {
    /// Use the catalog at `uri`: `sqlite:PATH`, `sqlite:///PATH` (the form
    /// SQLAlchemy and PyIceberg use), `sqlite::memory:`, or
    /// `postgresql://user:password@host:port/database` (the JDBC catalog's
    /// tables in PostgreSQL, for a warehouse several machines share).
    pub fn with_catalog(mut self, uri: impl Into<String>) -> Self {
        self.engine = self.engine.with_catalog(uri);
        self
    }

    /// The memory every query may use, in bytes (see
    /// [`EngineBuilder::with_memory_limit`]).
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.engine = self.engine.with_memory_limit(bytes);
        self
    }

    /// Where queries spill (see [`EngineBuilder::with_spill_dir`]).
    pub fn with_spill_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.engine = self.engine.with_spill_dir(dir);
        self
    }

    /// Open the warehouse.
    pub async fn open(self) -> Result<Lakehouse> {
        Ok(Lakehouse::from(self.engine.open().await?))
    }
}

/// An open warehouse and one SQL session on it: an [`Engine`] with one
/// [`Session`], which it dereferences to.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> floe_engine::Result<()> {
/// use floe_engine::Lakehouse;
///
/// let dir = tempfile::tempdir().unwrap();
/// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await?;
/// lh.sql("CREATE TABLE trips (id BIGINT NOT NULL, city STRING) PARTITIONED BY (city)").await?;
/// lh.sql("INSERT INTO trips VALUES (1, 'Oslo'), (2, 'Lima'), (3, 'Oslo')").await?;
/// let batches = lh
///     .sql("SELECT city, count(*) AS n FROM trips GROUP BY city ORDER BY city")
///     .await?
///     .collect()
///     .await?;
/// let table = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
/// assert_eq!(
///     table,
///     "+------+---+\n\
///      | city | n |\n\
///      +------+---+\n\
///      | Lima | 1 |\n\
///      | Oslo | 2 |\n\
///      +------+---+"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Lakehouse {
    engine: Engine,
    session: Session,
}

impl Lakehouse {
    /// Open the warehouse at `uri` (a local path, `file://`, `s3://bucket/prefix`
    /// or `memory://`) with its default catalog: `<warehouse>/catalog.db` for
    /// a local warehouse, an in-memory one for `memory://`.
    pub async fn open(uri: &str) -> Result<Self> {
        Self::builder(uri).open().await
    }

    /// Options for opening the warehouse at `uri`.
    pub fn builder(uri: impl Into<String>) -> LakehouseBuilder {
        LakehouseBuilder {
            engine: Engine::builder(uri),
        }
    }

    /// The engine, to make more sessions on it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

impl From<Engine> for Lakehouse {
    /// `engine` with one new session.
    fn from(engine: Engine) -> Self {
        let session = engine.session();
        Self { engine, session }
    }
}

impl std::ops::Deref for Lakehouse {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.session
    }
}
