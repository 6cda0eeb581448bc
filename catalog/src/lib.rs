//! Floe's catalog: where each Iceberg table's current metadata file is, and
//! atomic swaps of that pointer.
//!
//! A catalog knows nothing about SQL, DataFusion or the content of metadata
//! files: it maps a [`TableIdent`] to the location of the table's current
//! `*.metadata.json` and moves that pointer with compare-and-swap, several
//! tables at once if asked ([`Catalog::swap`]).
//!
//! The default implementation, [`SqliteCatalog`], uses exactly the tables of
//! the Iceberg JDBC catalog and PyIceberg's `SqlCatalog`, so those clients can
//! open a Floe warehouse directly. [`PostgresCatalog`] keeps the same tables
//! in PostgreSQL, for a warehouse that several machines share.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> floe_catalog::Result<()> {
//! use floe_catalog::{Catalog, PointerSwap, SqliteCatalog};
//! use iceberg::{NamespaceIdent, TableIdent};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let catalog = SqliteCatalog::open(dir.path().join("catalog.db"), "floe")?;
//! let ns = NamespaceIdent::new("db".to_string());
//! catalog.create_namespace(&ns, Default::default()).await?;
//! let t = TableIdent::new(ns.clone(), "t".to_string());
//! catalog.create_table(&t, "file:///wh/db/t/metadata/00000-a.metadata.json").await?;
//! catalog
//!     .swap(vec![PointerSwap {
//!         table: t.clone(),
//!         expected: "file:///wh/db/t/metadata/00000-a.metadata.json".into(),
//!         new: "file:///wh/db/t/metadata/00001-b.metadata.json".into(),
//!     }])
//!     .await?;
//! let pointer = catalog.load_table(&t).await?;
//! assert_eq!(pointer.metadata_location, "file:///wh/db/t/metadata/00001-b.metadata.json");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod postgres;
mod rest;
mod sqlite;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
pub use error::{CatalogError, Result};
use iceberg::spec::TableMetadata;
pub use iceberg::{NamespaceIdent, TableIdent};
use iceberg::{TableRequirement, TableUpdate};
pub use postgres::PostgresCatalog;
pub use rest::RestCatalog;
pub use sqlite::SqliteCatalog;

/// The DDL of the Iceberg JDBC catalog's tables (its V1 schema, with
/// `iceberg_type`: NULL or `TABLE` for tables), as PyIceberg's `SqlCatalog`
/// and Java's JDBC catalog make them; every catalog of this crate keeps
/// them.
pub(crate) const JDBC_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS iceberg_tables (
    catalog_name VARCHAR(255) NOT NULL,
    table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    metadata_location VARCHAR(1000),
    previous_metadata_location VARCHAR(1000),
    iceberg_type VARCHAR(5),
    PRIMARY KEY (catalog_name, table_namespace, table_name)
);
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
    catalog_name VARCHAR(255) NOT NULL,
    namespace VARCHAR(255) NOT NULL,
    property_key VARCHAR(255) NOT NULL,
    property_value VARCHAR(1000),
    PRIMARY KEY (catalog_name, namespace, property_key)
);
";

/// What a catalog entry is: the JDBC schema's `iceberg_type`. Tables,
/// views and Floe's file tables share one name space per namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// An Iceberg table (`TABLE`, or NULL as older catalogs wrote it).
    Table,
    /// An Iceberg view (`VIEW`), as Java's JDBC catalog keeps views.
    View,
    /// A Floe table over CSV or JSON files (`FILES`), whose pointer is its
    /// definition file. Iceberg catalogs list only `TABLE` and `VIEW`
    /// entries, so other engines do not see it.
    Files,
}

impl EntryKind {
    /// The `iceberg_type` value of the entry.
    pub fn iceberg_type(self) -> &'static str {
        match self {
            Self::Table => "TABLE",
            Self::View => "VIEW",
            Self::Files => "FILES",
        }
    }

    /// The kind an `iceberg_type` value names (NULL and unknown values
    /// are tables, as Java's JDBC catalog reads them).
    pub fn from_iceberg_type(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.eq_ignore_ascii_case("VIEW") => Self::View,
            Some(v) if v.eq_ignore_ascii_case("FILES") => Self::Files,
            _ => Self::Table,
        }
    }

    /// The SQL condition on `iceberg_type` that selects entries of this
    /// kind.
    pub(crate) fn sql_filter(self) -> &'static str {
        match self {
            Self::Table => "(iceberg_type IS NULL OR iceberg_type = 'TABLE')",
            Self::View => "iceberg_type = 'VIEW'",
            Self::Files => "iceberg_type = 'FILES'",
        }
    }
}

/// Group `(namespace, entry name, iceberg_type)` rows, sorted by
/// namespace, into each namespace's entries; a row without a name is a
/// namespace without entries.
pub(crate) fn group_entries(
    rows: Vec<(String, Option<String>, Option<String>)>,
) -> Result<NamespaceEntries> {
    let mut out: Vec<(String, Vec<(String, EntryKind)>)> = Vec::new();
    for (namespace, name, kind) in rows {
        if out.last().is_none_or(|(last, _)| *last != namespace) {
            out.push((namespace, Vec::new()));
        }
        if let (Some(name), Some((_, entries))) = (name, out.last_mut()) {
            entries.push((name, EntryKind::from_iceberg_type(kind.as_deref())));
        }
    }
    out.into_iter()
        .map(|(namespace, entries)| {
            NamespaceIdent::from_strs(namespace.split('.'))
                .map(|ns| (ns, entries))
                .map_err(|e| CatalogError::Internal(e.to_string()))
        })
        .collect()
}

/// The error for a missing entry of `kind`.
pub(crate) fn entry_not_found(kind: EntryKind, name: &TableIdent) -> CatalogError {
    match kind {
        EntryKind::Table => CatalogError::TableNotFound(name.clone()),
        kind => CatalogError::EntryNotFound {
            kind,
            name: name.clone(),
        },
    }
}

/// The error for a create over a name an entry of `existing` kind holds.
pub(crate) fn entry_exists(existing: EntryKind, name: &TableIdent) -> CatalogError {
    match existing {
        EntryKind::Table => CatalogError::TableAlreadyExists(name.clone()),
        kind => CatalogError::EntryExists {
            kind,
            name: name.clone(),
        },
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Table => "table",
            Self::View => "view",
            Self::Files => "external table",
        })
    }
}

/// Every namespace with the `(name, kind)` of each entry it holds
/// ([`Catalog::list_all_entries`]).
pub type NamespaceEntries = Vec<(NamespaceIdent, Vec<(String, EntryKind)>)>;

/// Where a table's current metadata lives, as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePointer {
    /// Location of the current `*.metadata.json`.
    pub metadata_location: String,
    /// Location of the metadata file before the last commit, if any.
    pub previous_metadata_location: Option<String>,
    /// The metadata itself (its JSON), when the catalog serves it (a REST
    /// catalog's load result). It is what the table is then, not the file
    /// at `metadata_location`: a REST server may serve a view of that file
    /// (Floe's branch prefixes do).
    pub metadata: Option<Arc<serde_json::Value>>,
}

/// One table's commit to a catalog that takes requirements and updates
/// ([`UpdateCatalog`]).
#[derive(Debug, Clone)]
pub struct UpdateCommit {
    /// The table.
    pub table: TableIdent,
    /// What must hold of its current metadata.
    pub requirements: Vec<TableRequirement>,
    /// What to change.
    pub updates: Vec<TableUpdate>,
    /// For a commit that creates its table (`assert-create`): the new
    /// table's metadata as the updates make it, whose schema, spec, order,
    /// location and properties a staged create is asked for first.
    pub creates: Option<Arc<TableMetadata>>,
}

/// A table as a commit left it.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Its new metadata file.
    pub metadata_location: String,
    /// Its new metadata, as the server served it.
    pub metadata: Arc<serde_json::Value>,
}

/// A catalog whose server checks commits and writes their metadata: it
/// takes Iceberg's requirements and updates (the REST protocol) instead of
/// pointer swaps.
#[async_trait]
pub trait UpdateCatalog: Send + Sync + Debug {
    /// Commit to one or several tables at once, all or none. A failed
    /// requirement is [`CatalogError::RemoteConflict`] (retry on the
    /// table's new metadata), a create of a table that exists
    /// [`CatalogError::TableAlreadyExists`]. Returns each table's new
    /// state, in order.
    async fn commit_updates(&self, commits: Vec<UpdateCommit>) -> Result<Vec<Committed>>;
}

/// One compare-and-swap of a table's metadata pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerSwap {
    /// The table whose pointer moves.
    pub table: TableIdent,
    /// The metadata location the commit was based on; the swap fails if the
    /// catalog holds anything else.
    pub expected: String,
    /// The new metadata location. A swap to `expected` itself only checks
    /// the pointer (its previous location stays).
    pub new: String,
}

/// One change of an atomic catalog commit ([`Catalog::commit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChange {
    /// Move a table's pointer, if it still is where the commit expects.
    Swap(PointerSwap),
    /// Register a new table whose first metadata file is written.
    Create {
        /// The table.
        table: TableIdent,
        /// Its first metadata file.
        metadata_location: String,
    },
    /// Remove a table from the catalog, if it still points at `expected`.
    Drop {
        /// The table.
        table: TableIdent,
        /// The metadata location the drop was decided on.
        expected: String,
    },
}

/// A catalog of Iceberg tables: namespaces, and a metadata pointer per table.
///
/// Every method is atomic. Implementations must make [`Catalog::swap`] all or
/// nothing across the tables it names: it is how a multi-table transaction
/// commits.
#[async_trait]
pub trait Catalog: Debug + Send + Sync {
    /// The catalog's name (the `catalog_name` column of the JDBC schema).
    fn name(&self) -> &str;

    /// Create a namespace with the given properties.
    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()>;

    /// Whether the namespace exists.
    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool>;

    /// Every namespace, sorted.
    async fn list_namespaces(&self) -> Result<Vec<NamespaceIdent>>;

    /// A namespace's properties ([`CatalogError::NamespaceNotFound`] if it
    /// does not exist).
    async fn namespace_properties(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<HashMap<String, String>>;

    /// Remove the properties `removals` names and set `updates`, in one
    /// transaction. Returns the removals that were not set.
    async fn update_namespace_properties(
        &self,
        namespace: &NamespaceIdent,
        removals: Vec<String>,
        updates: HashMap<String, String>,
    ) -> Result<Vec<String>>;

    /// Drop an empty namespace; refused while it holds tables.
    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()>;

    /// Register a new table whose first metadata file is already written.
    async fn create_table(&self, table: &TableIdent, metadata_location: &str) -> Result<()>;

    /// Where the table's current metadata is.
    async fn load_table(&self, table: &TableIdent) -> Result<TablePointer>;

    /// The tables of a namespace, sorted by name.
    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>>;

    /// Every namespace, sorted, with the names of its tables, sorted: what
    /// [`Catalog::list_namespaces`] and [`Catalog::list_tables`] give,
    /// in one call (a session refreshes its view of the catalog with it
    /// before every statement).
    async fn list_all_tables(&self) -> Result<Vec<(NamespaceIdent, Vec<String>)>> {
        Ok(self
            .list_all_entries()
            .await?
            .into_iter()
            .map(|(ns, entries)| {
                let tables = entries
                    .into_iter()
                    .filter(|(_, kind)| *kind == EntryKind::Table)
                    .map(|(name, _)| name)
                    .collect();
                (ns, tables)
            })
            .collect())
    }

    /// Every namespace, sorted, with each entry it holds (tables, views and
    /// file tables), sorted by name.
    async fn list_all_entries(&self) -> Result<NamespaceEntries> {
        let mut out = Vec::new();
        for namespace in self.list_namespaces().await? {
            let tables = self.list_tables(&namespace).await?;
            let names = tables
                .into_iter()
                .map(|t| (t.name().to_string(), EntryKind::Table))
                .collect();
            out.push((namespace, names));
        }
        Ok(out)
    }

    /// Where an entry of `kind` (a view or a file table) points
    /// ([`CatalogError::EntryNotFound`] if there is none).
    async fn load_entry(&self, kind: EntryKind, name: &TableIdent) -> Result<TablePointer> {
        if kind == EntryKind::Table {
            return self.load_table(name).await;
        }
        Err(CatalogError::Unsupported(format!(
            "this catalog keeps no {kind}s (looking for '{name}')"
        )))
    }

    /// [`Catalog::commit`] for entries of `kind`: create, swap or drop views
    /// or file tables, all or none. A create over a name any entry holds is
    /// [`CatalogError::EntryExists`].
    async fn commit_entries(&self, kind: EntryKind, changes: Vec<CatalogChange>) -> Result<()> {
        if kind == EntryKind::Table {
            return self.commit(changes).await;
        }
        Err(CatalogError::Unsupported(format!(
            "this catalog keeps no {kind}s"
        )))
    }

    /// Remove a table from the catalog and return its last pointer (the
    /// caller decides whether to purge its files).
    async fn drop_table(&self, table: &TableIdent) -> Result<TablePointer>;

    /// Rename a table, possibly into another existing namespace.
    async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<()>;

    /// Make every change at once, or none: pointer swaps, new tables and
    /// dropped ones, over any number of tables.
    ///
    /// Fails with [`CatalogError::CommitConflict`] naming the first table
    /// whose current pointer is not the expected one,
    /// [`CatalogError::TableAlreadyExists`] for a table created twice,
    /// [`CatalogError::TableNotFound`], or
    /// [`CatalogError::NamespaceNotFound`] for a table created in a
    /// namespace that does not exist; then nothing changes.
    async fn commit(&self, changes: Vec<CatalogChange>) -> Result<()>;

    /// The catalog as one that takes commits as requirements and updates
    /// (a REST catalog), if it is one: then its server, not Floe's
    /// committer, writes the metadata files.
    fn as_update_catalog(&self) -> Option<&dyn UpdateCatalog> {
        None
    }

    /// Compare-and-swap the pointers of one or several tables, all or none
    /// (a [`Catalog::commit`] of swaps only).
    async fn swap(&self, swaps: Vec<PointerSwap>) -> Result<()> {
        self.commit(swaps.into_iter().map(CatalogChange::Swap).collect())
            .await
    }
}
