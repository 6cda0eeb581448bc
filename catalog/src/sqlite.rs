//! The SQLite catalog, on the tables of the Iceberg JDBC catalog and
//! PyIceberg's `SqlCatalog`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use iceberg::{NamespaceIdent, TableIdent};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::{
    Catalog, CatalogChange, CatalogError, EntryKind, NamespaceEntries, PointerSwap, Result,
    TablePointer, entry_exists, entry_not_found, group_entries,
};

/// How long one attempt waits for another connection's lock on the
/// catalog file before SQLite answers `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an operation keeps retrying `SQLITE_BUSY` (with backoff)
/// before it fails.
const BUSY_DEADLINE: Duration = Duration::from_secs(60);

/// Idle reader connections kept open.
const READERS: usize = 8;

/// A catalog kept in one SQLite file.
///
/// The database runs in WAL mode: readers never wait for a writer, nor
/// block one. The catalog keeps one writer connection, through which
/// every change goes inside `BEGIN IMMEDIATE`, and a pool of reader
/// connections, so that lookups from many sessions do not queue behind
/// one another or behind a commit. Several processes may open the same
/// file: SQLite's locking serialises their writes, and each pointer swap
/// is a compare-and-swap, so no commit is lost. A lock held by another
/// process (`SQLITE_BUSY`) is waited for and retried with backoff, not
/// failed.
#[derive(Debug, Clone)]
pub struct SqliteCatalog {
    name: String,
    path: PathBuf,
    db: Arc<Db>,
}

#[derive(Debug)]
struct Db {
    /// How long one attempt waits for a lock.
    busy_timeout: Duration,
    writer: Mutex<Connection>,
    /// Idle reader connections; empty and unused for an in-memory
    /// database, whose every connection would be a database of its own.
    readers: Mutex<Vec<Connection>>,
    shared_file: bool,
}

fn connect(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

impl SqliteCatalog {
    /// Open (creating if needed) the catalog file at `path`, serving the
    /// catalog called `name`.
    pub fn open(path: impl AsRef<Path>, name: &str) -> Result<Self> {
        Self::open_with_busy_timeout(path, name, BUSY_TIMEOUT)
    }

    fn open_with_busy_timeout(
        path: impl AsRef<Path>,
        name: &str,
        busy_timeout: Duration,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let display = path.display().to_string();
        let shared_file = display != ":memory:" && !display.is_empty();
        let conn = with_busy_retry(&display, || {
            let conn = connect(&path, busy_timeout)?;
            // Readers do not wait for a committing writer, nor block it.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.execute_batch(crate::JDBC_SCHEMA)?;
            Ok(conn)
        })?;
        Ok(Self {
            name: name.to_string(),
            path,
            db: Arc::new(Db {
                busy_timeout,
                writer: Mutex::new(conn),
                readers: Mutex::new(Vec::new()),
                shared_file,
            }),
        })
    }

    /// Path of the catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the writer connection on a blocking thread: SQLite calls
    /// block, possibly for as long as another process holds the write
    /// lock. `f` may run more than once: it is retried while SQLite
    /// answers `SQLITE_BUSY`.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection, &str, &str) -> Result<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        let name = self.name.clone();
        let path = self.path.display().to_string();
        tokio::task::spawn_blocking(move || {
            let mut conn = db
                .writer
                .lock()
                .map_err(|_| CatalogError::Internal("catalog connection poisoned".into()))?;
            retry_busy(&path, || f(&mut conn, &name, &path))
        })
        .await
        .map_err(|e| CatalogError::Internal(e.to_string()))?
    }

    /// Run a read-only `f` on a reader connection (the writer's, for an
    /// in-memory database), on a blocking thread, retried while busy.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection, &str, &str) -> Result<T> + Send + 'static,
    {
        if !self.db.shared_file {
            return self.write(f).await;
        }
        let db = Arc::clone(&self.db);
        let name = self.name.clone();
        let file = self.path.clone();
        let path = self.path.display().to_string();
        tokio::task::spawn_blocking(move || {
            let idle = db.readers.lock().ok().and_then(|mut r| r.pop());
            let mut conn = match idle {
                Some(conn) => conn,
                None => with_busy_retry(&path, || connect(&file, db.busy_timeout))?,
            };
            let result = retry_busy(&path, || f(&mut conn, &name, &path));
            if let Ok(mut readers) = db.readers.lock()
                && readers.len() < READERS
            {
                readers.push(conn);
            }
            result
        })
        .await
        .map_err(|e| CatalogError::Internal(e.to_string()))?
    }
}

/// Run `f` until it does not fail with `SQLITE_BUSY`, waiting longer each
/// time (with jitter), for at most [`BUSY_DEADLINE`].
fn retry_busy<T>(path: &str, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        match f() {
            Err(e) if e.is_busy() && started.elapsed() < BUSY_DEADLINE => {
                attempt += 1;
                std::thread::sleep(busy_backoff(attempt));
            }
            Err(e) if e.is_busy() => {
                return Err(CatalogError::Busy {
                    path: path.to_string(),
                    waited: started.elapsed(),
                });
            }
            result => return result,
        }
    }
}

/// [`retry_busy`] for a plain SQLite call.
fn with_busy_retry<T>(path: &str, mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    retry_busy(path, || f().map_err(sqlite_err(path)))
}

/// 10 ms doubling to 1 s, each with up to half as much again at random.
fn busy_backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(7);
    let base = base.min(1_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base / 2 + 1))
}

fn ns_string(ns: &NamespaceIdent) -> String {
    ns.join(".")
}

fn sqlite_err(path: &str) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
    move |source| CatalogError::Sqlite {
        path: path.to_string(),
        source,
    }
}

/// Begin a transaction holding the database's write lock from the start
/// (`BEGIN IMMEDIATE`), so two processes never both read a pointer and
/// then race to write it.
fn begin_write<'c>(conn: &'c mut Connection, path: &str) -> Result<Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err(path))
}

fn namespace_exists(conn: &Connection, catalog: &str, path: &str, ns: &str) -> Result<bool> {
    // PyIceberg and the JDBC catalog treat a namespace as existing if it has
    // properties or holds a table; do the same.
    let found: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ?1 AND namespace = ?2
             UNION ALL
             SELECT 1 FROM iceberg_tables WHERE catalog_name = ?1 AND table_namespace = ?2
             LIMIT 1",
        )
        .and_then(|mut stmt| stmt.query_row(params![catalog, ns], |row| row.get(0)))
        .optional()
        .map_err(sqlite_err(path))?;
    Ok(found.is_some())
}

fn current_pointer(
    conn: &Connection,
    catalog: &str,
    path: &str,
    table: &TableIdent,
    kind: EntryKind,
) -> Result<Option<TablePointer>> {
    // Prepared once per connection: every statement looks tables up.
    conn.prepare_cached(&format!(
        "SELECT metadata_location, previous_metadata_location FROM iceberg_tables
         WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3
           AND {}",
        kind.sql_filter()
    ))
    .and_then(|mut stmt| {
        stmt.query_row(
            params![catalog, ns_string(table.namespace()), table.name()],
            |row| {
                Ok(TablePointer {
                    metadata_location: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    previous_metadata_location: row.get(1)?,
                    metadata: None,
                })
            },
        )
    })
    .optional()
    .map_err(sqlite_err(path))
}

/// Register an entry inside `tx`.
fn insert_table(
    tx: &Transaction<'_>,
    catalog: &str,
    path: &str,
    table: &TableIdent,
    location: &str,
    kind: EntryKind,
) -> Result<()> {
    let ns = ns_string(table.namespace());
    if !namespace_exists(tx, catalog, path, &ns)? {
        return Err(CatalogError::NamespaceNotFound(table.namespace().clone()));
    }
    let exists: Option<Option<String>> = tx
        .prepare_cached(
            "SELECT iceberg_type FROM iceberg_tables
             WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
        )
        .and_then(|mut stmt| stmt.query_row(params![catalog, ns, table.name()], |row| row.get(0)))
        .optional()
        .map_err(sqlite_err(path))?;
    if let Some(existing) = exists {
        return Err(entry_exists(
            EntryKind::from_iceberg_type(existing.as_deref()),
            table,
        ));
    }
    tx.prepare_cached(
        "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name,
             metadata_location, previous_metadata_location, iceberg_type)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            catalog,
            ns,
            table.name(),
            location,
            kind.iceberg_type()
        ])
    })
    .map_err(sqlite_err(path))?;
    Ok(())
}

/// Compare-and-swap one pointer inside `tx`. A swap to the location it
/// expects only checks the pointer: the previous location stays.
fn swap_pointer(
    tx: &Transaction<'_>,
    catalog: &str,
    path: &str,
    swap: &PointerSwap,
    kind: EntryKind,
) -> Result<()> {
    let changed = tx
        .prepare_cached(&format!(
            "UPDATE iceberg_tables
             SET metadata_location = ?5,
                 previous_metadata_location =
                     CASE WHEN ?5 = ?4 THEN previous_metadata_location ELSE ?4 END
             WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3
               AND metadata_location = ?4 AND {}",
            kind.sql_filter()
        ))
        .and_then(|mut stmt| {
            stmt.execute(params![
                catalog,
                ns_string(swap.table.namespace()),
                swap.table.name(),
                swap.expected,
                swap.new
            ])
        })
        .map_err(sqlite_err(path))?;
    if changed == 1 {
        return Ok(());
    }
    Err(
        match current_pointer(tx, catalog, path, &swap.table, kind)? {
            None => entry_not_found(kind, &swap.table),
            Some(current) => CatalogError::CommitConflict {
                table: swap.table.clone(),
                expected: swap.expected.clone(),
                actual: current.metadata_location,
            },
        },
    )
}

/// Remove a table inside `tx`; with `expected`, only if it still points
/// there.
fn delete_table(
    tx: &Transaction<'_>,
    catalog: &str,
    path: &str,
    table: &TableIdent,
    expected: Option<&str>,
    kind: EntryKind,
) -> Result<TablePointer> {
    let pointer = current_pointer(tx, catalog, path, table, kind)?
        .ok_or_else(|| entry_not_found(kind, table))?;
    if let Some(expected) = expected
        && pointer.metadata_location != expected
    {
        return Err(CatalogError::CommitConflict {
            table: table.clone(),
            expected: expected.to_string(),
            actual: pointer.metadata_location,
        });
    }
    tx.prepare_cached(
        "DELETE FROM iceberg_tables
         WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
    )
    .and_then(|mut stmt| stmt.execute(params![catalog, ns_string(table.namespace()), table.name()]))
    .map_err(sqlite_err(path))?;
    Ok(pointer)
}

#[async_trait]
impl Catalog for SqliteCatalog {
    fn name(&self) -> &str {
        &self.name
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        let namespace = namespace.clone();
        self.write(move |conn, catalog, path| {
            let tx = begin_write(conn, path)?;
            let ns = ns_string(&namespace);
            if namespace_exists(&tx, catalog, path, &ns)? {
                return Err(CatalogError::NamespaceAlreadyExists(namespace.clone()));
            }
            // PyIceberg writes an `exists` property for a namespace created
            // without properties; a namespace must have at least one row.
            let mut properties: Vec<(&String, &String)> = properties.iter().collect();
            let exists = ("exists".to_string(), "true".to_string());
            if properties.is_empty() {
                properties.push((&exists.0, &exists.1));
            }
            for (key, value) in properties {
                tx.execute(
                    "INSERT INTO iceberg_namespace_properties
                     (catalog_name, namespace, property_key, property_value) VALUES (?1, ?2, ?3, ?4)",
                    params![catalog, ns, key, value],
                )
                .map_err(sqlite_err(path))?;
            }
            tx.commit().map_err(sqlite_err(path))
        })
        .await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        let ns = ns_string(namespace);
        self.read(move |conn, catalog, path| namespace_exists(conn, catalog, path, &ns))
            .await
    }

    async fn list_namespaces(&self) -> Result<Vec<NamespaceIdent>> {
        self.read(move |conn, catalog, path| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = ?1
                     UNION
                     SELECT table_namespace FROM iceberg_tables WHERE catalog_name = ?1
                     ORDER BY 1",
                )
                .map_err(sqlite_err(path))?;
            let names = stmt
                .query_map(params![catalog], |row| row.get::<_, String>(0))
                .map_err(sqlite_err(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite_err(path))?;
            names
                .into_iter()
                .map(|n| {
                    NamespaceIdent::from_strs(n.split('.'))
                        .map_err(|e| CatalogError::Internal(e.to_string()))
                })
                .collect()
        })
        .await
    }

    async fn namespace_properties(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<HashMap<String, String>> {
        let namespace = namespace.clone();
        self.read(move |conn, catalog, path| {
            let ns = ns_string(&namespace);
            if !namespace_exists(conn, catalog, path, &ns)? {
                return Err(CatalogError::NamespaceNotFound(namespace.clone()));
            }
            let mut stmt = conn
                .prepare_cached(
                    "SELECT property_key, property_value FROM iceberg_namespace_properties
                     WHERE catalog_name = ?1 AND namespace = ?2",
                )
                .map_err(sqlite_err(path))?;
            let rows = stmt
                .query_map(params![catalog, ns], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
                })
                .map_err(sqlite_err(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite_err(path))?;
            Ok(rows
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect())
        })
        .await
    }

    async fn update_namespace_properties(
        &self,
        namespace: &NamespaceIdent,
        removals: Vec<String>,
        updates: HashMap<String, String>,
    ) -> Result<Vec<String>> {
        let namespace = namespace.clone();
        self.write(move |conn, catalog, path| {
            let tx = begin_write(conn, path)?;
            let ns = ns_string(&namespace);
            if !namespace_exists(&tx, catalog, path, &ns)? {
                return Err(CatalogError::NamespaceNotFound(namespace.clone()));
            }
            let mut missing = Vec::new();
            for key in &removals {
                let removed = tx
                    .execute(
                        "DELETE FROM iceberg_namespace_properties
                         WHERE catalog_name = ?1 AND namespace = ?2 AND property_key = ?3",
                        params![catalog, ns, key],
                    )
                    .map_err(sqlite_err(path))?;
                if removed == 0 {
                    missing.push(key.clone());
                }
            }
            for (key, value) in &updates {
                tx.execute(
                    "INSERT INTO iceberg_namespace_properties
                     (catalog_name, namespace, property_key, property_value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (catalog_name, namespace, property_key)
                     DO UPDATE SET property_value = excluded.property_value",
                    params![catalog, ns, key, value],
                )
                .map_err(sqlite_err(path))?;
            }
            // A namespace with no property row and no table would vanish.
            tx.execute(
                "INSERT INTO iceberg_namespace_properties
                 (catalog_name, namespace, property_key, property_value)
                 SELECT ?1, ?2, 'exists', 'true' WHERE NOT EXISTS (
                     SELECT 1 FROM iceberg_namespace_properties
                     WHERE catalog_name = ?1 AND namespace = ?2)",
                params![catalog, ns],
            )
            .map_err(sqlite_err(path))?;
            tx.commit().map_err(sqlite_err(path))?;
            Ok(missing)
        })
        .await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        let namespace = namespace.clone();
        self.write(move |conn, catalog, path| {
            let tx = begin_write(conn, path)?;
            let ns = ns_string(&namespace);
            if !namespace_exists(&tx, catalog, path, &ns)? {
                return Err(CatalogError::NamespaceNotFound(namespace.clone()));
            }
            let tables: i64 = tx
                .query_row(
                    "SELECT count(*) FROM iceberg_tables WHERE catalog_name = ?1 AND table_namespace = ?2",
                    params![catalog, ns],
                    |row| row.get(0),
                )
                .map_err(sqlite_err(path))?;
            if tables > 0 {
                return Err(CatalogError::NamespaceNotEmpty {
                    namespace: namespace.clone(),
                    tables: tables as usize,
                });
            }
            tx.execute(
                "DELETE FROM iceberg_namespace_properties WHERE catalog_name = ?1 AND namespace = ?2",
                params![catalog, ns],
            )
            .map_err(sqlite_err(path))?;
            tx.commit().map_err(sqlite_err(path))
        })
        .await
    }

    async fn create_table(&self, table: &TableIdent, metadata_location: &str) -> Result<()> {
        self.commit(vec![CatalogChange::Create {
            table: table.clone(),
            metadata_location: metadata_location.to_string(),
        }])
        .await
    }

    async fn load_table(&self, table: &TableIdent) -> Result<TablePointer> {
        let table = table.clone();
        self.read(move |conn, catalog, path| {
            current_pointer(conn, catalog, path, &table, EntryKind::Table)?
                .ok_or_else(|| CatalogError::TableNotFound(table.clone()))
        })
        .await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let namespace = namespace.clone();
        self.read(move |conn, catalog, path| {
            let ns = ns_string(&namespace);
            if !namespace_exists(conn, catalog, path, &ns)? {
                return Err(CatalogError::NamespaceNotFound(namespace.clone()));
            }
            let mut stmt = conn
                .prepare_cached(
                    "SELECT table_name FROM iceberg_tables
                     WHERE catalog_name = ?1 AND table_namespace = ?2
                       AND (iceberg_type IS NULL OR iceberg_type = 'TABLE')
                     ORDER BY table_name",
                )
                .map_err(sqlite_err(path))?;
            let names = stmt
                .query_map(params![catalog, ns], |row| row.get::<_, String>(0))
                .map_err(sqlite_err(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite_err(path))?;
            Ok(names
                .into_iter()
                .map(|n| TableIdent::new(namespace.clone(), n))
                .collect())
        })
        .await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<TablePointer> {
        let table = table.clone();
        self.write(move |conn, catalog, path| {
            let tx = begin_write(conn, path)?;
            let pointer = delete_table(&tx, catalog, path, &table, None, EntryKind::Table)?;
            tx.commit().map_err(sqlite_err(path))?;
            Ok(pointer)
        })
        .await
    }

    async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<()> {
        let (from, to) = (from.clone(), to.clone());
        self.write(move |conn, catalog, path| {
            let tx = begin_write(conn, path)?;
            if current_pointer(&tx, catalog, path, &from, EntryKind::Table)?.is_none() {
                return Err(CatalogError::TableNotFound(from.clone()));
            }
            if !namespace_exists(&tx, catalog, path, &ns_string(to.namespace()))? {
                return Err(CatalogError::NamespaceNotFound(to.namespace().clone()));
            }
            if let Some(existing) = entry_kind(&tx, catalog, path, &to)? {
                return Err(entry_exists(existing, &to));
            }
            tx.execute(
                "UPDATE iceberg_tables SET table_namespace = ?4, table_name = ?5
                 WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
                params![
                    catalog,
                    ns_string(from.namespace()),
                    from.name(),
                    ns_string(to.namespace()),
                    to.name()
                ],
            )
            .map_err(sqlite_err(path))?;
            tx.commit().map_err(sqlite_err(path))
        })
        .await
    }

    async fn commit(&self, changes: Vec<CatalogChange>) -> Result<()> {
        self.commit_entries(EntryKind::Table, changes).await
    }

    async fn list_all_entries(&self) -> Result<NamespaceEntries> {
        self.read(move |conn, catalog, path| {
            // A namespace exists if it has properties or holds an entry.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT namespace, NULL, NULL FROM iceberg_namespace_properties
                     WHERE catalog_name = ?1
                     UNION
                     SELECT table_namespace, table_name, iceberg_type
                     FROM iceberg_tables WHERE catalog_name = ?1
                     ORDER BY 1, 2",
                )
                .map_err(sqlite_err(path))?;
            let rows = stmt
                .query_map(params![catalog], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                    ))
                })
                .map_err(sqlite_err(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqlite_err(path))?;
            group_entries(rows)
        })
        .await
    }

    async fn load_entry(&self, kind: EntryKind, name: &TableIdent) -> Result<TablePointer> {
        let name = name.clone();
        self.read(move |conn, catalog, path| {
            current_pointer(conn, catalog, path, &name, kind)?
                .ok_or_else(|| entry_not_found(kind, &name))
        })
        .await
    }

    async fn commit_entries(&self, kind: EntryKind, changes: Vec<CatalogChange>) -> Result<()> {
        self.write(move |conn, catalog, path| {
            let tx = begin_write(conn, path)?;
            // Dropping `tx` on an error rolls back every change made so far.
            for change in &changes {
                match change {
                    CatalogChange::Swap(swap) => swap_pointer(&tx, catalog, path, swap, kind)?,
                    CatalogChange::Create {
                        table,
                        metadata_location,
                    } => insert_table(&tx, catalog, path, table, metadata_location, kind)?,
                    CatalogChange::Drop { table, expected } => {
                        delete_table(&tx, catalog, path, table, Some(expected), kind)?;
                    }
                }
            }
            tx.commit().map_err(sqlite_err(path))
        })
        .await
    }
}

/// The kind of the entry `name` holds, if any.
fn entry_kind(
    conn: &Connection,
    catalog: &str,
    path: &str,
    name: &TableIdent,
) -> Result<Option<EntryKind>> {
    conn.prepare_cached(
        "SELECT iceberg_type FROM iceberg_tables
         WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(
            params![catalog, ns_string(name.namespace()), name.name()],
            |row| row.get::<_, Option<String>>(0),
        )
    })
    .optional()
    .map(|found| found.map(|t| EntryKind::from_iceberg_type(t.as_deref())))
    .map_err(sqlite_err(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ident(ns: &str, name: &str) -> TableIdent {
        TableIdent::new(NamespaceIdent::new(ns.into()), name.into())
    }

    async fn catalog() -> (tempfile::TempDir, SqliteCatalog) {
        let dir = tempfile::tempdir().unwrap();
        let catalog = SqliteCatalog::open(dir.path().join("catalog.db"), "floe").unwrap();
        catalog
            .create_namespace(&NamespaceIdent::new("db".into()), HashMap::new())
            .await
            .unwrap();
        (dir, catalog)
    }

    #[tokio::test]
    async fn namespaces_create_list_drop() {
        let (_dir, catalog) = catalog().await;
        let db = NamespaceIdent::new("db".into());
        assert!(matches!(
            catalog.create_namespace(&db, HashMap::new()).await,
            Err(CatalogError::NamespaceAlreadyExists(_))
        ));
        catalog
            .create_namespace(&NamespaceIdent::new("a".into()), HashMap::new())
            .await
            .unwrap();
        let names: Vec<String> = catalog
            .list_namespaces()
            .await
            .unwrap()
            .iter()
            .map(|n| n.join("."))
            .collect();
        assert_eq!(names, vec!["a", "db"]);

        catalog.create_table(&ident("db", "t"), "m0").await.unwrap();
        match catalog.drop_namespace(&db).await {
            Err(CatalogError::NamespaceNotEmpty { tables, .. }) => assert_eq!(tables, 1),
            other => panic!("expected NamespaceNotEmpty, got {other:?}"),
        }
        catalog.drop_table(&ident("db", "t")).await.unwrap();
        catalog.drop_namespace(&db).await.unwrap();
        assert!(!catalog.namespace_exists(&db).await.unwrap());
    }

    #[tokio::test]
    async fn list_all_tables_lists_namespaces_and_their_tables() {
        let (dir, catalog) = catalog().await;
        catalog
            .create_namespace(&NamespaceIdent::new("empty".into()), HashMap::new())
            .await
            .unwrap();
        catalog.create_table(&ident("db", "b"), "m0").await.unwrap();
        catalog.create_table(&ident("db", "a"), "m0").await.unwrap();
        {
            // As another writer leaves them: a namespace known only by its
            // table (no properties row), and a view, which is not a table.
            let conn = Connection::open(dir.path().join("catalog.db")).unwrap();
            conn.execute_batch(
                "INSERT INTO iceberg_tables VALUES ('floe', 'only.tables', 't', 'm', NULL, 'TABLE');
                 INSERT INTO iceberg_tables VALUES ('floe', 'db', 'v', 'm', NULL, 'VIEW');
                 INSERT INTO iceberg_tables VALUES ('other', 'elsewhere', 't', 'm', NULL, 'TABLE');",
            )
            .unwrap();
        }
        let listed: Vec<(String, Vec<String>)> = catalog
            .list_all_tables()
            .await
            .unwrap()
            .into_iter()
            .map(|(ns, tables)| (ns.join("."), tables))
            .collect();
        let expected = vec![
            ("db".to_string(), vec!["a".to_string(), "b".to_string()]),
            ("empty".to_string(), vec![]),
            ("only.tables".to_string(), vec!["t".to_string()]),
        ];
        assert_eq!(listed, expected);
        // The same as listing namespaces, then each one's tables.
        let mut one_by_one = Vec::new();
        for ns in catalog.list_namespaces().await.unwrap() {
            let tables = catalog.list_tables(&ns).await.unwrap();
            one_by_one.push((
                ns.join("."),
                tables.iter().map(|t| t.name().to_string()).collect(),
            ));
        }
        assert_eq!(one_by_one, expected);
    }

    #[tokio::test]
    async fn swap_is_compare_and_swap() {
        let (_dir, catalog) = catalog().await;
        let t = ident("db", "t");
        catalog.create_table(&t, "m0").await.unwrap();
        let swap = |expected: &str, new: &str| PointerSwap {
            table: t.clone(),
            expected: expected.into(),
            new: new.into(),
        };
        catalog.swap(vec![swap("m0", "m1")]).await.unwrap();
        match catalog.swap(vec![swap("m0", "m2")]).await {
            Err(CatalogError::CommitConflict { actual, .. }) => assert_eq!(actual, "m1"),
            other => panic!("expected CommitConflict, got {other:?}"),
        }
        let pointer = catalog.load_table(&t).await.unwrap();
        assert_eq!(pointer.metadata_location, "m1");
        assert_eq!(pointer.previous_metadata_location.as_deref(), Some("m0"));
        // A swap to where it points checks it and changes nothing.
        catalog.swap(vec![swap("m1", "m1")]).await.unwrap();
        let pointer = catalog.load_table(&t).await.unwrap();
        assert_eq!(pointer.metadata_location, "m1");
        assert_eq!(pointer.previous_metadata_location.as_deref(), Some("m0"));
        match catalog.swap(vec![swap("m0", "m0")]).await {
            Err(CatalogError::CommitConflict { actual, .. }) => assert_eq!(actual, "m1"),
            other => panic!("expected CommitConflict, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn multi_table_swap_is_all_or_nothing() {
        let (_dir, catalog) = catalog().await;
        let (a, b) = (ident("db", "a"), ident("db", "b"));
        catalog.create_table(&a, "a0").await.unwrap();
        catalog.create_table(&b, "b0").await.unwrap();
        let result = catalog
            .swap(vec![
                PointerSwap {
                    table: a.clone(),
                    expected: "a0".into(),
                    new: "a1".into(),
                },
                PointerSwap {
                    table: b.clone(),
                    expected: "stale".into(),
                    new: "b1".into(),
                },
            ])
            .await;
        assert!(matches!(result, Err(CatalogError::CommitConflict { .. })));
        assert_eq!(
            catalog.load_table(&a).await.unwrap().metadata_location,
            "a0"
        );
        assert_eq!(
            catalog.load_table(&b).await.unwrap().metadata_location,
            "b0"
        );
    }

    #[tokio::test]
    async fn a_lock_held_past_the_busy_timeout_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let catalog =
            SqliteCatalog::open_with_busy_timeout(&path, "floe", Duration::from_millis(20))
                .unwrap();
        catalog
            .create_namespace(&NamespaceIdent::new("db".into()), HashMap::new())
            .await
            .unwrap();
        // Another process holds the write lock for 20 times the timeout.
        let (locked, wait) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(400));
            tx.commit().unwrap();
        });
        wait.recv().unwrap();
        let started = std::time::Instant::now();
        catalog.create_table(&ident("db", "t"), "m0").await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        holder.join().unwrap();
        assert_eq!(
            catalog
                .load_table(&ident("db", "t"))
                .await
                .unwrap()
                .metadata_location,
            "m0"
        );
    }

    #[tokio::test]
    async fn readers_do_not_wait_for_a_writer() {
        let (dir, catalog) = catalog().await;
        catalog.create_table(&ident("db", "t"), "m0").await.unwrap();
        // A writer holds the lock with an uncommitted swap.
        let mut conn = Connection::open(dir.path().join("catalog.db")).unwrap();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "UPDATE iceberg_tables SET metadata_location = 'm1' WHERE table_name = 't'",
            [],
        )
        .unwrap();
        let started = std::time::Instant::now();
        let pointer = catalog.load_table(&ident("db", "t")).await.unwrap();
        assert_eq!(pointer.metadata_location, "m0");
        assert!(started.elapsed() < Duration::from_secs(1));
        tx.commit().unwrap();
        let pointer = catalog.load_table(&ident("db", "t")).await.unwrap();
        assert_eq!(pointer.metadata_location, "m1");
    }

    #[tokio::test]
    async fn commit_creates_swaps_and_drops_at_once() {
        let (_dir, catalog) = catalog().await;
        let (a, b, c) = (ident("db", "a"), ident("db", "b"), ident("db", "c"));
        catalog.create_table(&a, "a0").await.unwrap();
        catalog.create_table(&b, "b0").await.unwrap();
        // A stale drop fails the whole commit: `c` is not created.
        let stale = catalog
            .commit(vec![
                CatalogChange::Create {
                    table: c.clone(),
                    metadata_location: "c0".into(),
                },
                CatalogChange::Drop {
                    table: b.clone(),
                    expected: "stale".into(),
                },
            ])
            .await;
        assert!(
            matches!(stale, Err(CatalogError::CommitConflict { .. })),
            "{stale:?}"
        );
        assert!(matches!(
            catalog.load_table(&c).await,
            Err(CatalogError::TableNotFound(_))
        ));
        catalog
            .commit(vec![
                CatalogChange::Swap(PointerSwap {
                    table: a.clone(),
                    expected: "a0".into(),
                    new: "a1".into(),
                }),
                CatalogChange::Drop {
                    table: b.clone(),
                    expected: "b0".into(),
                },
                CatalogChange::Create {
                    table: c.clone(),
                    metadata_location: "c0".into(),
                },
            ])
            .await
            .unwrap();
        let names: Vec<String> = catalog
            .list_tables(&NamespaceIdent::new("db".into()))
            .await
            .unwrap()
            .iter()
            .map(|t| t.name().to_string())
            .collect();
        assert_eq!(names, vec!["a", "c"]);
        assert_eq!(
            catalog.load_table(&a).await.unwrap().metadata_location,
            "a1"
        );
    }

    #[tokio::test]
    async fn rename_moves_between_namespaces() {
        let (_dir, catalog) = catalog().await;
        catalog
            .create_namespace(&NamespaceIdent::new("other".into()), HashMap::new())
            .await
            .unwrap();
        catalog.create_table(&ident("db", "t"), "m0").await.unwrap();
        catalog
            .rename_table(&ident("db", "t"), &ident("other", "u"))
            .await
            .unwrap();
        assert!(matches!(
            catalog.load_table(&ident("db", "t")).await,
            Err(CatalogError::TableNotFound(_))
        ));
        assert_eq!(
            catalog
                .load_table(&ident("other", "u"))
                .await
                .unwrap()
                .metadata_location,
            "m0"
        );
    }
}
