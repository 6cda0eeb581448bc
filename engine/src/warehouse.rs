//! The warehouse: its root location, its catalog and its storage, and the
//! table-level operations every other module builds on.

use std::collections::HashMap;
use std::sync::Arc;

use floe_catalog::{Catalog, CatalogError, NamespaceIdent, TableIdent};
use iceberg::MetadataLocation;
use iceberg::io::FileIO;
use iceberg::spec::{FormatVersion, Schema, SortOrder, TableMetadataBuilder, UnboundPartitionSpec};

use crate::error::{FloeError, Result};
use crate::storage::{ObjectStoreStorage, StoreRegistry, WarehouseUri};
use crate::table::{LoadedTable, TableVersion, VersionSpec, write_metadata};
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
}

/// Floe's settings of one session (`SET floe.<key> = ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// `floe.wap_id`: with `write.wap.enabled`, writes to `main` are staged
    /// under this id until published.
    pub wap_id: Option<String>,
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
        }
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

    /// Load a table's current version (inside a transaction that wrote it,
    /// the transaction's version).
    pub async fn load_table(&self, ident: &TableIdent) -> Result<LoadedTable> {
        if let Some(staged) = self.transaction.staged(ident)? {
            return Ok(staged);
        }
        let pointer = self.catalog.load_table(ident).await?;
        LoadedTable::read(ident.clone(), pointer.metadata_location, &self.file_io).await
    }

    /// Load a table at a version (`None`: the head of `main`).
    pub async fn load_table_at(
        &self,
        ident: &TableIdent,
        version: Option<&VersionSpec>,
    ) -> Result<LoadedTable> {
        let table = self.load_table(ident).await?;
        match version {
            Some(spec) => table.at(spec),
            None => Ok(table),
        }
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
        let metadata_location = MetadataLocation::new_with_metadata(&location, &metadata);
        write_metadata(&self.file_io, &metadata, &metadata_location).await?;
        let metadata_location = metadata_location.to_string();
        self.catalog.create_table(ident, &metadata_location).await?;
        Ok(LoadedTable::new(ident.clone(), metadata_location, metadata))
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

    /// Whether a namespace exists.
    pub async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        Ok(self.catalog.namespace_exists(namespace).await?)
    }
}
