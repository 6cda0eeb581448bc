//! [`PostgresCatalog`]: the Iceberg JDBC catalog's tables in PostgreSQL,
//! the same ones PyIceberg's `SqlCatalog` and Spark's JDBC catalog use, so
//! that several machines share one warehouse without a REST server.
//!
//! A pointer swap is `UPDATE … WHERE metadata_location = <expected>`:
//! under PostgreSQL's row locks, of two writers swapping the same pointer
//! the second sees the first's new value and changes nothing, which is a
//! [`CatalogError::CommitConflict`]. A multi-table commit is one
//! transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use iceberg::{NamespaceIdent, TableIdent};
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient, NoTls};

use crate::{
    Catalog, CatalogChange, CatalogError, EntryKind, NamespaceEntries, PointerSwap, Result,
    TablePointer, entry_exists, entry_not_found, group_entries,
};

/// The advisory lock key under which the tables are made.
const SCHEMA_LOCK: i64 = 0x0066_6c6f_6563_6174; // "floecat"

/// The catalog in a PostgreSQL database.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> floe_catalog::Result<()> {
/// use floe_catalog::{Catalog, PostgresCatalog};
///
/// let catalog = PostgresCatalog::connect("postgresql://floe:secret@db.internal/lake", "floe").await?;
/// println!("{:?}", catalog.list_namespaces().await?);
/// # Ok(())
/// # }
/// ```
pub struct PostgresCatalog {
    name: String,
    /// Where, for messages: the URI without its password.
    display: String,
    uri: String,
    /// Writes take this connection, one transaction at a time.
    writer: Mutex<Client>,
    /// Reads share this one (a client pipelines concurrent queries).
    reader: Mutex<Client>,
}

impl std::fmt::Debug for PostgresCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCatalog")
            .field("name", &self.name)
            .field("database", &self.display)
            .finish()
    }
}

/// `uri` without the password of its user info.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &uri[scheme + 3..at];
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &uri[..scheme + 3], &uri[at + 1..])
        }
        _ => uri.to_string(),
    }
}

impl PostgresCatalog {
    /// Connect to the database at `uri` (`postgresql://user:password@host:port/db`,
    /// or libpq's `key=value` form) and make the catalog's tables if they
    /// are missing. `name` is the `catalog_name` of every row.
    pub async fn connect(uri: &str, name: &str) -> Result<Self> {
        let display = redact(uri);
        let mut writer = open(uri, &display).await?;
        // Two machines starting at once would race their CREATE TABLE IF
        // NOT EXISTS: one at a time, under a lock of the transaction.
        let tx = writer.transaction().await.map_err(pg_err(&display))?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {}",
            crate::JDBC_SCHEMA
        ))
        .await
        .map_err(pg_err(&display))?;
        tx.commit().await.map_err(pg_err(&display))?;
        let reader = open(uri, &display).await?;
        Ok(Self {
            name: name.to_string(),
            display,
            uri: uri.to_string(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// A live connection from `slot`, reconnecting if the last one died.
    async fn live<'a>(
        &self,
        slot: &'a Mutex<Client>,
    ) -> Result<tokio::sync::MutexGuard<'a, Client>> {
        let mut client = slot.lock().await;
        if client.is_closed() {
            *client = open(&self.uri, &self.display).await?;
        }
        Ok(client)
    }
}

async fn open(uri: &str, display: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(uri, NoTls)
        .await
        .map_err(pg_err(display))?;
    let display = display.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            log::warn!("PostgreSQL catalog {display}: connection closed: {e}");
        }
    });
    Ok(client)
}

fn pg_err(display: &str) -> impl Fn(tokio_postgres::Error) -> CatalogError + '_ {
    move |source| CatalogError::Postgres {
        database: display.to_string(),
        source,
    }
}

fn ns_string(ns: &NamespaceIdent) -> String {
    ns.join(".")
}

fn parse_namespace(text: &str) -> Result<NamespaceIdent> {
    NamespaceIdent::from_strs(text.split('.')).map_err(|e| CatalogError::Internal(e.to_string()))
}

async fn namespace_exists(
    db: &impl GenericClient,
    catalog: &str,
    display: &str,
    ns: &str,
) -> Result<bool> {
    let row = db
        .query_opt(
            "SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2
             UNION ALL
             SELECT 1 FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2
             LIMIT 1",
            &[&catalog, &ns],
        )
        .await
        .map_err(pg_err(display))?;
    Ok(row.is_some())
}

async fn current_pointer(
    db: &impl GenericClient,
    catalog: &str,
    display: &str,
    table: &TableIdent,
    kind: EntryKind,
) -> Result<Option<TablePointer>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT metadata_location, previous_metadata_location FROM iceberg_tables
                 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3
                   AND {}",
                kind.sql_filter()
            ),
            &[&catalog, &ns_string(table.namespace()), &table.name()],
        )
        .await
        .map_err(pg_err(display))?;
    Ok(row.map(|row| TablePointer {
        metadata_location: row.get::<_, Option<String>>(0).unwrap_or_default(),
        previous_metadata_location: row.get(1),
        metadata: None,
    }))
}

async fn insert_table(
    db: &impl GenericClient,
    catalog: &str,
    display: &str,
    table: &TableIdent,
    location: &str,
    kind: EntryKind,
) -> Result<()> {
    let ns = ns_string(table.namespace());
    if !namespace_exists(db, catalog, display, &ns).await? {
        return Err(CatalogError::NamespaceNotFound(table.namespace().clone()));
    }
    let inserted = db
        .execute(
            "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name,
                 metadata_location, previous_metadata_location, iceberg_type)
             VALUES ($1, $2, $3, $4, NULL, $5)
             ON CONFLICT DO NOTHING",
            &[
                &catalog,
                &ns,
                &table.name(),
                &location,
                &kind.iceberg_type(),
            ],
        )
        .await
        .map_err(pg_err(display))?;
    if inserted == 0 {
        let existing = entry_kind(db, catalog, display, table).await?;
        return Err(entry_exists(existing.unwrap_or(kind), table));
    }
    Ok(())
}

/// The kind of the entry `name` holds, if any.
async fn entry_kind(
    db: &impl GenericClient,
    catalog: &str,
    display: &str,
    name: &TableIdent,
) -> Result<Option<EntryKind>> {
    let row = db
        .query_opt(
            "SELECT iceberg_type FROM iceberg_tables
             WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3",
            &[&catalog, &ns_string(name.namespace()), &name.name()],
        )
        .await
        .map_err(pg_err(display))?;
    Ok(row.map(|row| EntryKind::from_iceberg_type(row.get::<_, Option<String>>(0).as_deref())))
}

async fn swap_pointer(
    db: &impl GenericClient,
    catalog: &str,
    display: &str,
    swap: &PointerSwap,
    kind: EntryKind,
) -> Result<()> {
    let changed = db
        .execute(
            &format!(
                "UPDATE iceberg_tables
                 SET metadata_location = $5::VARCHAR,
                     previous_metadata_location =
                         CASE WHEN $5::VARCHAR = $4::VARCHAR THEN previous_metadata_location
                              ELSE $4::VARCHAR END
                 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3
                   AND metadata_location = $4 AND {}",
                kind.sql_filter()
            ),
            &[
                &catalog,
                &ns_string(swap.table.namespace()),
                &swap.table.name(),
                &swap.expected,
                &swap.new,
            ],
        )
        .await
        .map_err(pg_err(display))?;
    if changed == 1 {
        return Ok(());
    }
    Err(
        match current_pointer(db, catalog, display, &swap.table, kind).await? {
            None => entry_not_found(kind, &swap.table),
            Some(current) => CatalogError::CommitConflict {
                table: swap.table.clone(),
                expected: swap.expected.clone(),
                actual: current.metadata_location,
            },
        },
    )
}

async fn delete_table(
    db: &impl GenericClient,
    catalog: &str,
    display: &str,
    table: &TableIdent,
    expected: Option<&str>,
    kind: EntryKind,
) -> Result<TablePointer> {
    let pointer = current_pointer(db, catalog, display, table, kind)
        .await?
        .ok_or_else(|| entry_not_found(kind, table))?;
    let deleted = db
        .execute(
            &format!(
                "DELETE FROM iceberg_tables
                 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3
                   AND ($4::VARCHAR IS NULL OR metadata_location = $4) AND {}",
                kind.sql_filter()
            ),
            &[
                &catalog,
                &ns_string(table.namespace()),
                &table.name(),
                &expected,
            ],
        )
        .await
        .map_err(pg_err(display))?;
    if deleted == 0 {
        let actual = current_pointer(db, catalog, display, table, kind)
            .await?
            .ok_or_else(|| entry_not_found(kind, table))?;
        return Err(CatalogError::CommitConflict {
            table: table.clone(),
            expected: expected.unwrap_or_default().to_string(),
            actual: actual.metadata_location,
        });
    }
    Ok(pointer)
}

#[async_trait]
impl Catalog for PostgresCatalog {
    fn name(&self) -> &str {
        &self.name
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        let (catalog, display) = (self.name.as_str(), self.display.as_str());
        let mut client = self.live(&self.writer).await?;
        let tx = client.transaction().await.map_err(pg_err(display))?;
        let ns = ns_string(namespace);
        if namespace_exists(&tx, catalog, display, &ns).await? {
            return Err(CatalogError::NamespaceAlreadyExists(namespace.clone()));
        }
        let mut properties: Vec<(String, String)> = properties.into_iter().collect();
        if properties.is_empty() {
            properties.push(("exists".into(), "true".into()));
        }
        for (key, value) in &properties {
            let inserted = tx
                .execute(
                    "INSERT INTO iceberg_namespace_properties
                     (catalog_name, namespace, property_key, property_value) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&catalog, &ns, key, value],
                )
                .await
                .map_err(pg_err(display))?;
            if inserted == 0 {
                return Err(CatalogError::NamespaceAlreadyExists(namespace.clone()));
            }
        }
        tx.commit().await.map_err(pg_err(display))
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        let client = self.live(&self.reader).await?;
        namespace_exists(&*client, &self.name, &self.display, &ns_string(namespace)).await
    }

    async fn list_namespaces(&self) -> Result<Vec<NamespaceIdent>> {
        let client = self.live(&self.reader).await?;
        let rows = client
            .query(
                "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = $1
                 UNION
                 SELECT table_namespace FROM iceberg_tables WHERE catalog_name = $1
                 ORDER BY 1",
                &[&self.name],
            )
            .await
            .map_err(pg_err(&self.display))?;
        rows.iter()
            .map(|row| parse_namespace(row.get::<_, &str>(0)))
            .collect()
    }

    async fn namespace_properties(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<HashMap<String, String>> {
        let client = self.live(&self.reader).await?;
        let ns = ns_string(namespace);
        if !namespace_exists(&*client, &self.name, &self.display, &ns).await? {
            return Err(CatalogError::NamespaceNotFound(namespace.clone()));
        }
        let rows = client
            .query(
                "SELECT property_key, property_value FROM iceberg_namespace_properties
                 WHERE catalog_name = $1 AND namespace = $2",
                &[&self.name, &ns],
            )
            .await
            .map_err(pg_err(&self.display))?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get::<_, String>(0),
                    row.get::<_, Option<String>>(1).unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn update_namespace_properties(
        &self,
        namespace: &NamespaceIdent,
        removals: Vec<String>,
        updates: HashMap<String, String>,
    ) -> Result<Vec<String>> {
        let (catalog, display) = (self.name.as_str(), self.display.as_str());
        let mut client = self.live(&self.writer).await?;
        let tx = client.transaction().await.map_err(pg_err(display))?;
        let ns = ns_string(namespace);
        if !namespace_exists(&tx, catalog, display, &ns).await? {
            return Err(CatalogError::NamespaceNotFound(namespace.clone()));
        }
        let mut missing = Vec::new();
        for key in &removals {
            let removed = tx
                .execute(
                    "DELETE FROM iceberg_namespace_properties
                     WHERE catalog_name = $1 AND namespace = $2 AND property_key = $3",
                    &[&catalog, &ns, key],
                )
                .await
                .map_err(pg_err(display))?;
            if removed == 0 {
                missing.push(key.clone());
            }
        }
        for (key, value) in &updates {
            tx.execute(
                "INSERT INTO iceberg_namespace_properties
                 (catalog_name, namespace, property_key, property_value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (catalog_name, namespace, property_key)
                 DO UPDATE SET property_value = excluded.property_value",
                &[&catalog, &ns, key, value],
            )
            .await
            .map_err(pg_err(display))?;
        }
        tx.execute(
            "INSERT INTO iceberg_namespace_properties
             (catalog_name, namespace, property_key, property_value)
             SELECT $1::VARCHAR, $2::VARCHAR, 'exists', 'true' WHERE NOT EXISTS (
                 SELECT 1 FROM iceberg_namespace_properties
                 WHERE catalog_name = $1 AND namespace = $2)",
            &[&catalog, &ns],
        )
        .await
        .map_err(pg_err(display))?;
        tx.commit().await.map_err(pg_err(display))?;
        Ok(missing)
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        let (catalog, display) = (self.name.as_str(), self.display.as_str());
        let mut client = self.live(&self.writer).await?;
        let tx = client.transaction().await.map_err(pg_err(display))?;
        let ns = ns_string(namespace);
        if !namespace_exists(&tx, catalog, display, &ns).await? {
            return Err(CatalogError::NamespaceNotFound(namespace.clone()));
        }
        let tables: i64 = tx
            .query_one(
                "SELECT count(*) FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2",
                &[&catalog, &ns],
            )
            .await
            .map_err(pg_err(display))?
            .get(0);
        if tables > 0 {
            return Err(CatalogError::NamespaceNotEmpty {
                namespace: namespace.clone(),
                tables: tables as usize,
            });
        }
        tx.execute(
            "DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2",
            &[&catalog, &ns],
        )
        .await
        .map_err(pg_err(display))?;
        tx.commit().await.map_err(pg_err(display))
    }

    async fn create_table(&self, table: &TableIdent, metadata_location: &str) -> Result<()> {
        self.commit(vec![CatalogChange::Create {
            table: table.clone(),
            metadata_location: metadata_location.to_string(),
        }])
        .await
    }

    async fn load_table(&self, table: &TableIdent) -> Result<TablePointer> {
        let client = self.live(&self.reader).await?;
        current_pointer(&*client, &self.name, &self.display, table, EntryKind::Table)
            .await?
            .ok_or_else(|| CatalogError::TableNotFound(table.clone()))
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let client = self.live(&self.reader).await?;
        let ns = ns_string(namespace);
        if !namespace_exists(&*client, &self.name, &self.display, &ns).await? {
            return Err(CatalogError::NamespaceNotFound(namespace.clone()));
        }
        let rows = client
            .query(
                "SELECT table_name FROM iceberg_tables
                 WHERE catalog_name = $1 AND table_namespace = $2
                   AND (iceberg_type IS NULL OR iceberg_type = 'TABLE')
                 ORDER BY table_name",
                &[&self.name, &ns],
            )
            .await
            .map_err(pg_err(&self.display))?;
        Ok(rows
            .iter()
            .map(|row| TableIdent::new(namespace.clone(), row.get(0)))
            .collect())
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<TablePointer> {
        let display = self.display.as_str();
        let mut client = self.live(&self.writer).await?;
        let tx = client.transaction().await.map_err(pg_err(display))?;
        let pointer = delete_table(&tx, &self.name, display, table, None, EntryKind::Table).await?;
        tx.commit().await.map_err(pg_err(display))?;
        Ok(pointer)
    }

    async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<()> {
        let (catalog, display) = (self.name.as_str(), self.display.as_str());
        let mut client = self.live(&self.writer).await?;
        let tx = client.transaction().await.map_err(pg_err(display))?;
        if current_pointer(&tx, catalog, display, from, EntryKind::Table)
            .await?
            .is_none()
        {
            return Err(CatalogError::TableNotFound(from.clone()));
        }
        if !namespace_exists(&tx, catalog, display, &ns_string(to.namespace())).await? {
            return Err(CatalogError::NamespaceNotFound(to.namespace().clone()));
        }
        let renamed = tx
            .execute(
                "UPDATE iceberg_tables SET table_namespace = $4, table_name = $5
                 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3",
                &[
                    &catalog,
                    &ns_string(from.namespace()),
                    &from.name(),
                    &ns_string(to.namespace()),
                    &to.name(),
                ],
            )
            .await;
        match renamed {
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                let existing = entry_kind(&tx, catalog, display, to).await.ok().flatten();
                return Err(entry_exists(existing.unwrap_or(EntryKind::Table), to));
            }
            other => {
                other.map_err(pg_err(display))?;
            }
        }
        tx.commit().await.map_err(pg_err(display))
    }

    async fn commit(&self, changes: Vec<CatalogChange>) -> Result<()> {
        self.commit_entries(EntryKind::Table, changes).await
    }

    async fn list_all_entries(&self) -> Result<NamespaceEntries> {
        let client = self.live(&self.reader).await?;
        let rows = client
            .query(
                "SELECT namespace, NULL::VARCHAR, NULL::VARCHAR FROM iceberg_namespace_properties
                 WHERE catalog_name = $1
                 UNION
                 SELECT table_namespace, table_name, iceberg_type
                 FROM iceberg_tables WHERE catalog_name = $1
                 ORDER BY 1, 2",
                &[&self.name],
            )
            .await
            .map_err(pg_err(&self.display))?;
        group_entries(
            rows.iter()
                .map(|row| (row.get(0), row.get(1), row.get(2)))
                .collect(),
        )
    }

    async fn load_entry(&self, kind: EntryKind, name: &TableIdent) -> Result<TablePointer> {
        let client = self.live(&self.reader).await?;
        current_pointer(&*client, &self.name, &self.display, name, kind)
            .await?
            .ok_or_else(|| entry_not_found(kind, name))
    }

    async fn commit_entries(&self, kind: EntryKind, changes: Vec<CatalogChange>) -> Result<()> {
        let (catalog, display) = (self.name.as_str(), self.display.as_str());
        let mut client = self.live(&self.writer).await?;
        let tx = client.transaction().await.map_err(pg_err(display))?;
        // Dropping `tx` on an error rolls back every change made so far.
        for change in &changes {
            match change {
                CatalogChange::Swap(swap) => {
                    swap_pointer(&tx, catalog, display, swap, kind).await?;
                }
                CatalogChange::Create {
                    table,
                    metadata_location,
                } => insert_table(&tx, catalog, display, table, metadata_location, kind).await?,
                CatalogChange::Drop { table, expected } => {
                    delete_table(&tx, catalog, display, table, Some(expected), kind).await?;
                }
            }
        }
        tx.commit().await.map_err(pg_err(display))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgresql://floe:s3cret@db:5432/lake"),
            "postgresql://floe@db:5432/lake"
        );
        assert_eq!(redact("postgresql://db/lake"), "postgresql://db/lake");
        assert_eq!(redact("host=db user=floe"), "host=db user=floe");
    }
}
