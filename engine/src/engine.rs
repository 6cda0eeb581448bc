//! [`Engine`]: a warehouse opened once and shared by every session on it.
//!
//! The engine holds what is expensive to make and safe to share: the
//! catalog connection, the object stores and the `iceberg` crate's
//! `FileIO` over them, the cache of parsed metadata files, one DataFusion
//! [`RuntimeEnv`] (a memory pool with a limit, a spill directory) and the
//! template of every session's DataFusion state. A [`Session`] is the
//! per-client part: its branch, namespace, transaction and settings.
//! Making one does no I/O and takes no lock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::SessionState;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use floe_catalog::{Catalog, CatalogError, NamespaceIdent, SqliteCatalog, TableIdent};
use iceberg::io::FileIO;

use crate::cache::MetadataCache;
use crate::error::{FloeError, Result};
use crate::locks::CommitLocks;
use crate::session::Session;
use crate::storage::{ObjectStoreStorage, StoreRegistry, WarehouseUri};
use crate::table::{LoadedTable, TableVersion, read_metadata};

/// The catalog name tables are addressed under in SQL (`floe.db.t`) and
/// recorded under in the catalog database.
pub const CATALOG_NAME: &str = "floe";

/// The namespace unqualified table names resolve in.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The share of the machine's memory the engine's queries may use when no
/// limit is given (`--memory-limit`): the rest is left to the process's
/// other work (metadata, buffers, the allocator) and to the machine.
const DEFAULT_MEMORY_FRACTION: f64 = 0.75;

/// How to open a warehouse: its location, its catalog, and the limits of
/// the engine's queries.
#[derive(Debug, Clone)]
#[must_use]
pub struct EngineBuilder {
    warehouse: String,
    catalog: Option<String>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
}

impl EngineBuilder {
    /// Use the catalog at `uri`: `sqlite:PATH`, `sqlite:///PATH` (the form
    /// SQLAlchemy and PyIceberg use), `sqlite::memory:`, or
    /// `postgresql://user:password@host:port/database` (the JDBC catalog's
    /// tables in PostgreSQL, for a warehouse several machines share).
    pub fn with_catalog(mut self, uri: impl Into<String>) -> Self {
        self.catalog = Some(uri.into());
        self
    }

    /// The memory every query of the engine may use together, in bytes
    /// (default: three quarters of the machine's memory). Past it, sorts,
    /// joins and aggregations spill to disk; what cannot spill fails with
    /// [`ErrorKind::ResourceExhausted`](crate::ErrorKind::ResourceExhausted).
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Where queries spill (default: the system's temporary directory).
    pub fn with_spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Open the warehouse.
    pub async fn open(self) -> Result<Engine> {
        let root = WarehouseUri::parse(&self.warehouse)?;
        let registry = Arc::new(StoreRegistry::default());
        check_reachable(&root, &registry).await?;
        let catalog = open_catalog(&root, self.catalog.as_deref()).await?;
        let memory_limit = self.memory_limit.unwrap_or_else(default_memory_limit);
        let mut disk = DiskManagerBuilder::default();
        if let Some(dir) = &self.spill_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                FloeError::invalid(format!(
                    "cannot create the spill directory {}: {e}",
                    dir.display()
                ))
            })?;
            disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.clone()]));
        }
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(memory_limit),
            std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&registry) as _)
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(disk)
            .build_arc()?;
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_NAMESPACE)
            .with_information_schema(true);
        let template = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&runtime))
            .with_default_features()
            .build();
        let file_io = ObjectStoreStorage::file_io(Arc::clone(&registry));
        let engine = Engine {
            inner: Arc::new(EngineInner {
                root,
                catalog,
                registry,
                file_io,
                cache: MetadataCache::default(),
                template,
                memory_limit,
                commit_locks: CommitLocks::default(),
            }),
        };
        let default = NamespaceIdent::new(DEFAULT_NAMESPACE.to_string());
        match engine
            .catalog()
            .create_namespace(&default, HashMap::new())
            .await
        {
            Ok(()) | Err(CatalogError::NamespaceAlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(engine)
    }
}

/// A warehouse opened once: its catalog, its storage, the metadata cache
/// and one memory-limited query runtime, shared by every [`Session`] made
/// from it. Cloning is cheap (a reference count); an engine is `Send` and
/// `Sync`, so a server keeps one and gives each client a session.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> floe_engine::Result<()> {
/// use floe_engine::Engine;
///
/// let dir = tempfile::tempdir().unwrap();
/// let engine = Engine::builder(dir.path().to_str().unwrap())
///     .with_memory_limit(256 << 20)
///     .open()
///     .await?;
/// let (alice, bob) = (engine.session(), engine.session());
/// alice.sql("CREATE TABLE t (id BIGINT)").await?;
/// alice.sql("BEGIN").await?;
/// alice.sql("INSERT INTO t VALUES (1)").await?;
/// // Bob does not see Alice's open transaction...
/// let rows = bob.sql("SELECT count(*) FROM t").await?.collect().await?;
/// assert_eq!(arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string(),
///     "+----------+\n| count(*) |\n+----------+\n| 0        |\n+----------+");
/// alice.sql("COMMIT").await?;
/// // ...until she commits it.
/// let rows = bob.sql("SELECT count(*) FROM t").await?.collect().await?;
/// assert_eq!(arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string(),
///     "+----------+\n| count(*) |\n+----------+\n| 1        |\n+----------+");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    root: WarehouseUri,
    catalog: Arc<dyn Catalog>,
    registry: Arc<StoreRegistry>,
    file_io: FileIO,
    cache: MetadataCache,
    /// The DataFusion state every session starts from (functions, config,
    /// the shared runtime), cloned per session.
    template: SessionState,
    memory_limit: usize,
    commit_locks: CommitLocks,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("warehouse", &self.inner.root.as_str())
            .field("catalog", &self.inner.catalog)
            .field("memory_limit", &self.inner.memory_limit)
            .finish()
    }
}

impl Engine {
    /// Open the warehouse at `uri` (a local path, `file://`,
    /// `s3://bucket/prefix` or `memory://`) with its default catalog:
    /// `<warehouse>/catalog.db` for a local warehouse, an in-memory one for
    /// `memory://`.
    pub async fn open(uri: &str) -> Result<Self> {
        Self::builder(uri).open().await
    }

    /// Options for opening the warehouse at `uri`.
    pub fn builder(uri: impl Into<String>) -> EngineBuilder {
        EngineBuilder {
            warehouse: uri.into(),
            catalog: None,
            memory_limit: None,
            spill_dir: None,
        }
    }

    /// A new session on `main`, in the `default` namespace, with no open
    /// transaction. No I/O: it costs microseconds.
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }

    /// The warehouse root, e.g. `file:///data/wh`.
    pub fn warehouse(&self) -> &str {
        self.inner.root.as_str()
    }

    /// The object store holding `location` (a plain absolute path,
    /// `file://`, `s3://bucket/key` or `memory://`), with the path inside
    /// it: the same store, credentials and client the engine's own reads
    /// use, for callers that list or read objects besides tables (the
    /// pipeline runner's sources).
    pub fn object_store(
        &self,
        location: &str,
    ) -> Result<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
        let (url, path) = crate::storage::split_location(location)?;
        Ok((self.registry().store(&url)?, path))
    }

    /// The memory limit of the engine's queries, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.inner.memory_limit
    }

    pub(crate) fn root(&self) -> &WarehouseUri {
        &self.inner.root
    }

    pub(crate) fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.inner.catalog
    }

    pub(crate) fn registry(&self) -> &Arc<StoreRegistry> {
        &self.inner.registry
    }

    pub(crate) fn file_io(&self) -> &FileIO {
        &self.inner.file_io
    }

    pub(crate) fn cache(&self) -> &MetadataCache {
        &self.inner.cache
    }

    pub(crate) fn session_template(&self) -> &SessionState {
        &self.inner.template
    }

    pub(crate) fn commit_locks(&self) -> &CommitLocks {
        &self.inner.commit_locks
    }

    /// The table `ident` as the metadata file at `location` describes it,
    /// seen at `main` (parsed once per engine, see [`MetadataCache`]).
    pub(crate) async fn read_table(
        &self,
        ident: &TableIdent,
        location: String,
    ) -> Result<LoadedTable> {
        if let Some(table) = self.cache().table(&location) {
            return Ok(table.with_ident(ident.clone()));
        }
        let (metadata, refs) = read_metadata(self.file_io(), &location)
            .await
            .map_err(|e| {
                e.context(format!(
                    "cannot read the metadata of table '{ident}' at {location}"
                ))
            })?;
        let table =
            LoadedTable::with_refs(ident.clone(), location, Arc::new(metadata), Arc::new(refs));
        self.remember(&table);
        Ok(table)
    }

    /// Keep a metadata version this engine wrote (or read).
    pub(crate) fn remember(&self, table: &LoadedTable) {
        self.cache()
            .insert_table(&table.with_version(TableVersion::default()));
    }

    /// The table's current metadata, as the catalog points at it, seen at
    /// `main`.
    pub(crate) async fn load_committed(&self, ident: &TableIdent) -> Result<LoadedTable> {
        let pointer = self.catalog().load_table(ident).await?;
        match pointer.metadata {
            // A REST catalog's load result: the table is what it served.
            Some(json) => crate::table::table_from_json(ident, pointer.metadata_location, &json),
            None => self.read_table(ident, pointer.metadata_location).await,
        }
    }

    /// Where a new table's files go: `<warehouse>/<namespace>/<table>`, as
    /// PyIceberg's `SqlCatalog` lays them out.
    pub(crate) fn table_location(&self, ident: &TableIdent) -> String {
        let namespace = ident.namespace().join(".");
        self.root().join([namespace.as_str(), ident.name()])
    }
}

/// Make sure the warehouse can be used before anything is written to it.
async fn check_reachable(root: &WarehouseUri, registry: &StoreRegistry) -> Result<()> {
    let unreachable = |reason: String| FloeError::InvalidWarehouse {
        uri: root.as_str().to_string(),
        reason,
    };
    if let Some(path) = root.local_path() {
        return std::fs::create_dir_all(&path)
            .map_err(|e| unreachable(format!("cannot create directory {}: {e}", path.display())));
    }
    let (url, prefix) = crate::storage::split_location(root.as_str())?;
    let store = registry.store(&url)?;
    // Any answer but an error means the store is there and lets us in.
    store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| unreachable(format!("cannot list it: {e}")))?;
    Ok(())
}

async fn open_catalog(root: &WarehouseUri, uri: Option<&str>) -> Result<Arc<dyn Catalog>> {
    let path = match uri {
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            let catalog = floe_catalog::RestCatalog::connect(uri, CATALOG_NAME).await?;
            return Ok(Arc::new(catalog));
        }
        Some(uri) if uri.starts_with("postgresql://") || uri.starts_with("postgres://") => {
            let catalog = floe_catalog::PostgresCatalog::connect(uri, CATALOG_NAME).await?;
            return Ok(Arc::new(catalog));
        }
        Some(uri) => {
            let rest = uri.strip_prefix("sqlite:").ok_or_else(|| {
                FloeError::Catalog(CatalogError::InvalidUri {
                    uri: uri.to_string(),
                    reason: "expected sqlite:PATH, postgresql://user:password@host:port/database \
                             or http(s)://host:port[?warehouse=W] (an Iceberg REST catalog)"
                        .into(),
                })
            })?;
            // SQLAlchemy's form: sqlite:///relative.db, sqlite:////absolute.db.
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            rest.to_string()
        }
        None => match root.local_path() {
            Some(dir) => dir.join("catalog.db").display().to_string(),
            None if root.url().scheme() == "memory" => ":memory:".to_string(),
            None => {
                return Err(FloeError::InvalidWarehouse {
                    uri: root.as_str().to_string(),
                    reason: "an object-store warehouse needs a catalog: pass \
                             --catalog sqlite:PATH (or set FLOE_CATALOG)"
                        .into(),
                });
            }
        },
    };
    // Opening may wait on another process's lock: not on an async thread.
    let catalog = tokio::task::spawn_blocking(move || SqliteCatalog::open(&path, CATALOG_NAME))
        .await
        .map_err(|e| FloeError::Internal(format!("opening the catalog: {e}")))??;
    Ok(Arc::new(catalog))
}

/// Three quarters of the machine's memory (or of the cgroup's limit, if
/// lower); 4 GiB when neither can be read.
fn default_memory_limit() -> usize {
    let total = physical_memory().unwrap_or(4 << 30);
    (total as f64 * DEFAULT_MEMORY_FRACTION) as usize
}

fn physical_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let total = kib * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    Some(cgroup.map_or(total, |limit| limit.min(total)))
}

/// Parse a memory size as a person writes it: `512MB`, `2GiB`, `1.5G`,
/// `256m` or a number of bytes. `K`/`M`/`G`/`T` and their `B` and `iB`
/// spellings are powers of 1024, as in DataFusion's and DuckDB's settings.
///
/// ```
/// use floe_engine::parse_memory_size;
/// assert_eq!(parse_memory_size("256MB").unwrap(), 256 << 20);
/// assert_eq!(parse_memory_size("2GiB").unwrap(), 2 << 30);
/// assert_eq!(parse_memory_size("1.5g").unwrap(), 3 << 29);
/// assert_eq!(parse_memory_size("4096").unwrap(), 4096);
/// assert!(parse_memory_size("lots").is_err());
/// ```
pub fn parse_memory_size(text: &str) -> Result<usize> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad = || {
        FloeError::invalid(format!(
            "'{text}' is not a memory size: write e.g. 512MB, 2GiB or a number of bytes"
        ))
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < usize::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as usize)
}
