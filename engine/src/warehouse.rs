//! The warehouse: its root location, its catalog and its storage, and the
//! table-level operations every other module builds on.

use std::collections::HashMap;
use std::sync::Arc;

use floe_catalog::{Catalog, CatalogError, NamespaceIdent, TableIdent};
use iceberg::MetadataLocation;
use iceberg::io::FileIO;
use iceberg::spec::{
    FormatVersion, MAIN_BRANCH, Schema, SortOrder, TableMetadata, TableMetadataBuilder,
    UnboundPartitionSpec,
};

use crate::commit::{update_metadata, with_empty_branch};
use crate::error::{FloeError, Result};
use crate::storage::{ObjectStoreStorage, StoreRegistry, WarehouseUri};
use crate::table::{
    ABSENT_FROM_MAIN, LoadedTable, TableVersion, VersionSpec, read_metadata, write_metadata,
};
use crate::transaction::TransactionState;

/// A warehouse: where tables live, the catalog that points at their
/// metadata, and the one storage layer that reads and writes their files.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: WarehouseUri,
    catalog: Arc<dyn Catalog>,
    registry: Arc<StoreRegistry>,
    file_io: FileIO,
    transaction: TransactionState,
    settings: Arc<std::sync::RwLock<SessionSettings>>,
    metadata_cache: Arc<MetadataCache>,
}

/// How many parsed metadata files a warehouse keeps.
const CACHED_METADATA_FILES: usize = 64;

/// Parsed metadata files by location. A metadata file never changes once
/// written, so a statement that finds the catalog pointing at a file it
/// already parsed (the common case: the last commit was this process's)
/// does not read or parse it again.
#[derive(Debug, Default)]
struct MetadataCache {
    entries: std::sync::Mutex<MetadataEntries>,
}

#[derive(Debug, Default)]
struct MetadataEntries {
    by_location: HashMap<String, LoadedTable>,
    /// Locations, oldest first, for eviction.
    order: std::collections::VecDeque<String>,
}

impl MetadataCache {
    fn get(&self, location: &str) -> Option<LoadedTable> {
        let entries = self.entries.lock().ok()?;
        entries.by_location.get(location).cloned()
    }

    fn insert(&self, location: &str, table: LoadedTable) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries
            .by_location
            .insert(location.to_string(), table)
            .is_none()
        {
            entries.order.push_back(location.to_string());
        }
        while entries.order.len() > CACHED_METADATA_FILES {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_location.remove(&oldest);
            }
        }
    }
}

/// Floe's settings of one session (`SET floe.<key> = ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// `floe.wap_id`: with `write.wap.enabled`, writes to `main` are staged
    /// under this id until published.
    pub wap_id: Option<String>,
    /// `USE BRANCH b`: the warehouse branch every read and write of the
    /// session goes to (`None`: `main`).
    pub branch: Option<String>,
}

impl SessionSettings {
    /// The session's branch.
    pub fn branch(&self) -> &str {
        self.branch.as_deref().unwrap_or(MAIN_BRANCH)
    }
}

impl Warehouse {
    /// A warehouse over an opened catalog.
    pub fn new(
        root: WarehouseUri,
        catalog: Arc<dyn Catalog>,
        registry: Arc<StoreRegistry>,
    ) -> Self {
        let file_io = ObjectStoreStorage::file_io(Arc::clone(&registry));
        Self {
            root,
            catalog,
            registry,
            file_io,
            transaction: TransactionState::default(),
            settings: Arc::default(),
            metadata_cache: Arc::default(),
        }
    }

    /// The table `ident` as the metadata file at `location` describes it
    /// (read once per process and kept, see [`MetadataCache`]).
    pub async fn read_table(&self, ident: &TableIdent, location: String) -> Result<LoadedTable> {
        if let Some(table) = self.metadata_cache.get(&location) {
            return Ok(table.with_ident(ident.clone()));
        }
        let (metadata, refs) = read_metadata(&self.file_io, &location).await.map_err(|e| {
            FloeError::Invalid(format!(
                "cannot read the metadata of table '{ident}' at {location}: {e}"
            ))
        })?;
        let table =
            LoadedTable::with_refs(ident.clone(), location, Arc::new(metadata), Arc::new(refs));
        self.remember(&table);
        Ok(table)
    }

    /// Keep a metadata version this process wrote (or read).
    pub(crate) fn remember(&self, table: &LoadedTable) {
        self.metadata_cache.insert(
            table.metadata_location(),
            table.with_version(TableVersion::default()),
        );
    }

    /// The session's settings.
    pub fn settings(&self) -> SessionSettings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Change the session's settings.
    pub fn update_settings(&self, change: impl FnOnce(&mut SessionSettings)) -> Result<()> {
        let mut settings = self
            .settings
            .write()
            .map_err(|_| FloeError::Internal("session settings poisoned".into()))?;
        change(&mut settings);
        Ok(())
    }

    /// The warehouse root.
    pub fn root(&self) -> &WarehouseUri {
        &self.root
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// The object stores, shared with DataFusion.
    pub fn registry(&self) -> &Arc<StoreRegistry> {
        &self.registry
    }

    /// The `iceberg` crate's file IO over the same stores.
    pub fn file_io(&self) -> &FileIO {
        &self.file_io
    }

    /// The session's open transaction, if any.
    pub fn transaction(&self) -> &TransactionState {
        &self.transaction
    }

    /// Load a table's current metadata (inside a transaction that wrote
    /// it, the transaction's version), seen at `main`.
    pub async fn load_table(&self, ident: &TableIdent) -> Result<LoadedTable> {
        if let Some(staged) = self.transaction.staged(ident)? {
            return Ok(staged.with_version(TableVersion::default()));
        }
        let pointer = self.catalog.load_table(ident).await?;
        self.read_table(ident, pointer.metadata_location).await
    }

    /// Load a table at a version (`None`: the head of the session's
    /// branch, on which the table must exist).
    pub async fn load_table_at(
        &self,
        ident: &TableIdent,
        version: Option<&VersionSpec>,
    ) -> Result<LoadedTable> {
        let table = self.load_table(ident).await?;
        if let Some(spec) = version {
            return table.at(spec);
        }
        let settings = self.settings();
        let branch = settings.branch();
        if !table.exists_on(branch)? {
            return Err(not_on_branch(&table, branch)?);
        }
        table.at(&VersionSpec::Branch(branch.to_string()))
    }

    /// Load a table's latest metadata, seen at the same version as `table`
    /// (a commit that lost a race retries on it). A branch that was
    /// dropped meanwhile is an error.
    pub async fn reload(&self, table: &LoadedTable) -> Result<LoadedTable> {
        let latest = self.load_table(table.ident()).await?;
        match table.version() {
            TableVersion::Branch(name) if table.snapshot().is_none() => {
                // A branch being created by this commit, or an empty main.
                Ok(latest.with_version(TableVersion::Branch(name.clone())))
            }
            TableVersion::Branch(name) => latest.at(&VersionSpec::Branch(name.clone())),
            TableVersion::Tag(name) => latest.at(&VersionSpec::Tag(name.clone())),
            TableVersion::Snapshot(id) => latest.at(&VersionSpec::Snapshot(*id)),
        }
    }

    /// Where a new table's files go: `<warehouse>/<namespace>/<table>`, as
    /// PyIceberg's `SqlCatalog` lays them out.
    pub fn table_location(&self, ident: &TableIdent) -> String {
        let namespace = ident.namespace().join(".");
        self.root.join([namespace.as_str(), ident.name()])
    }

    /// Create a table: write its first metadata file, then register it.
    pub async fn create_table(
        &self,
        ident: &TableIdent,
        schema: Schema,
        partition_spec: UnboundPartitionSpec,
        properties: HashMap<String, String>,
    ) -> Result<LoadedTable> {
        if !self.catalog.namespace_exists(ident.namespace()).await? {
            return Err(CatalogError::NamespaceNotFound(ident.namespace().clone()).into());
        }
        let location = self.table_location(ident);
        let metadata = TableMetadataBuilder::new(
            schema,
            partition_spec,
            SortOrder::unsorted_order(),
            location.clone(),
            FormatVersion::V2,
            properties,
        )
        .and_then(|b| b.build())
        .map_err(|e| FloeError::Invalid(format!("cannot create table '{ident}': {}", e.message())))?
        .metadata;
        // Made on a warehouse branch, the table exists only there (until
        // the branch is merged).
        let metadata = match self.settings().branch {
            Some(branch) => {
                let metadata = metadata
                    .into_builder(None)
                    .set_properties(HashMap::from([(
                        ABSENT_FROM_MAIN.to_string(),
                        "true".to_string(),
                    )]))?
                    .build()?
                    .metadata;
                with_empty_branch(self, metadata, None, &branch).await?
            }
            None => metadata,
        };
        let metadata_location = MetadataLocation::new_with_metadata(&location, &metadata);
        let refs = Arc::new(write_metadata(&self.file_io, &metadata, &metadata_location).await?);
        let metadata_location = metadata_location.to_string();
        self.catalog.create_table(ident, &metadata_location).await?;
        let table =
            LoadedTable::with_refs(ident.clone(), metadata_location, Arc::new(metadata), refs);
        self.remember(&table);
        Ok(table)
    }

    /// Drop a table from the catalog; with `purge`, delete its files too.
    pub async fn drop_table(&self, ident: &TableIdent, purge: bool) -> Result<()> {
        let table = if purge {
            Some(self.load_table(ident).await?)
        } else {
            None
        };
        self.catalog.drop_table(ident).await?;
        if let Some(table) = table {
            let location = format!("{}/", table.metadata().location().trim_end_matches('/'));
            self.file_io.delete_prefix(&location).await?;
        }
        Ok(())
    }

    /// `DROP TABLE` in a session: a table that also exists on other
    /// branches than the session's loses only the session's branch (it
    /// stays on the others); otherwise it leaves the catalog.
    /// With `if_exists`, a table that is not on the branch is no error.
    pub async fn drop_table_on_branch(
        &self,
        ident: &TableIdent,
        purge: bool,
        if_exists: bool,
    ) -> Result<()> {
        let table = match self.load_table(ident).await {
            Err(FloeError::Catalog(CatalogError::TableNotFound(_))) if if_exists => return Ok(()),
            other => other?,
        };
        let settings = self.settings();
        let branch = settings.branch();
        if !table.exists_on(branch)? {
            if if_exists {
                return Ok(());
            }
            return Err(not_on_branch(&table, branch)?);
        }
        let mut others: Vec<String> = table
            .branches()?
            .into_iter()
            .filter(|b| b != branch)
            .collect();
        if branch != MAIN_BRANCH
            && !others.iter().any(|b| b == MAIN_BRANCH)
            && table.exists_on(MAIN_BRANCH)?
        {
            others.insert(0, MAIN_BRANCH.to_string());
        }
        if others.is_empty() {
            return self.drop_table(ident, purge).await;
        }
        if purge {
            return Err(FloeError::Invalid(format!(
                "DROP TABLE '{ident}' PURGE: the table also exists on branch(es) {}, whose data \
                 would go too; drop it there first",
                others.join(", ")
            )));
        }
        update_metadata(self, ident, |current| {
            let mut builder = TableMetadata::clone(current.metadata())
                .into_builder(Some(current.metadata_location().to_string()))
                .remove_ref(branch);
            if branch == MAIN_BRANCH {
                builder = builder.set_properties(HashMap::from([(
                    ABSENT_FROM_MAIN.to_string(),
                    "true".to_string(),
                )]))?;
            }
            Ok(Some(builder.build()?.metadata))
        })
        .await?;
        Ok(())
    }

    /// Whether a namespace exists.
    pub async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        Ok(self.catalog.namespace_exists(namespace).await?)
    }
}

/// The error for a table that is not on the session's branch.
fn not_on_branch(table: &LoadedTable, branch: &str) -> Result<FloeError> {
    let branches = table.branches()?;
    Ok(FloeError::Invalid(format!(
        "table '{}' does not exist on branch '{branch}' (it exists on: {})",
        table.ident(),
        if branches.is_empty() {
            "main".to_string()
        } else {
            branches.join(", ")
        }
    )))
}
