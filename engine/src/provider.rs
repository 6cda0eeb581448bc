//! DataFusion's view of the warehouse: a catalog provider whose schemas are
//! the catalog's namespaces and whose tables are Iceberg tables (plus the
//! session's external tables and the `t$snapshots`-style metadata tables).

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::TableType;
use floe_catalog::{NamespaceIdent, TableIdent};

use crate::error::Result;
use crate::names::split_version;
use crate::ops::metadata_tables::{MetadataTable, metadata_table_provider};
use crate::scan::IcebergTableProvider;
use crate::scope::Scope;
use crate::table::VersionSpec;

fn lock_poisoned() -> DataFusionError {
    DataFusionError::Internal("catalog listing lock poisoned".into())
}

/// The `floe` catalog of a session.
///
/// DataFusion asks for schema and table names synchronously, so the listing
/// is cached and refreshed from the catalog before every statement
/// ([`FloeCatalogProvider::refresh`]); tables themselves are loaded fresh.
#[derive(Debug)]
pub struct FloeCatalogProvider {
    scope: Scope,
    schemas: RwLock<BTreeMap<String, Arc<FloeSchemaProvider>>>,
}

impl FloeCatalogProvider {
    /// A provider over `scope`; call [`Self::refresh`] before use.
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            schemas: RwLock::new(BTreeMap::new()),
        }
    }

    /// Re-read the namespaces and table names from the catalog. Session
    /// tables (external tables) of namespaces that still exist are kept.
    pub async fn refresh(&self) -> Result<()> {
        let catalog = self.scope.engine().catalog();
        let mut listing = BTreeMap::new();
        for (namespace, names) in catalog.list_all_tables().await? {
            listing.insert(namespace.join("."), (namespace, names));
        }
        let mut schemas = self.schemas.write().map_err(|_| lock_poisoned())?;
        schemas.retain(|name, _| listing.contains_key(name));
        for (name, (namespace, tables)) in listing {
            let schema = schemas.entry(name).or_insert_with(|| {
                Arc::new(FloeSchemaProvider::new(self.scope.clone(), namespace))
            });
            schema.set_table_names(tables)?;
        }
        Ok(())
    }
}

impl FloeCatalogProvider {
    /// The provider of one namespace, if it is listed.
    pub fn schema_provider(&self, name: &str) -> Option<Arc<FloeSchemaProvider>> {
        self.schemas.read().ok()?.get(name).cloned()
    }
}

impl CatalogProvider for FloeCatalogProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.schemas
            .read()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let schemas = self.schemas.read().ok()?;
        schemas
            .get(name)
            .map(|s| Arc::clone(s) as Arc<dyn SchemaProvider>)
    }
}

/// One namespace of the catalog.
#[derive(Debug)]
pub struct FloeSchemaProvider {
    scope: Scope,
    namespace: NamespaceIdent,
    iceberg_tables: RwLock<Vec<String>>,
    session_tables: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
}

impl FloeSchemaProvider {
    fn new(scope: Scope, namespace: NamespaceIdent) -> Self {
        Self {
            scope,
            namespace,
            iceberg_tables: RwLock::new(Vec::new()),
            session_tables: RwLock::new(HashMap::new()),
        }
    }

    fn set_table_names(&self, names: Vec<String>) -> DFResult<()> {
        *self.iceberg_tables.write().map_err(|_| lock_poisoned())? = names;
        Ok(())
    }

    fn session_table(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.session_tables.read().ok()?.get(name).cloned()
    }

    fn ident(&self, name: &str) -> TableIdent {
        TableIdent::new(self.namespace.clone(), name.to_string())
    }

    /// Load an Iceberg table at a version, `None` if the catalog has no
    /// such table.
    async fn load(
        &self,
        name: &str,
        version: Option<&VersionSpec>,
    ) -> Result<Option<IcebergTableProvider>> {
        match self.scope.load_table_at(&self.ident(name), version).await {
            Ok(table) => Ok(Some(IcebergTableProvider::try_new(
                self.scope.clone(),
                table,
            )?)),
            Err(e) if e.is_table_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl SchemaProvider for FloeSchemaProvider {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .iceberg_tables
            .read()
            .map(|t| t.clone())
            .unwrap_or_default();
        if let Ok(session) = self.session_tables.read() {
            names.extend(session.keys().cloned());
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.session_table(name) {
            return Ok(Some(table));
        }
        if let Some((base, kind)) = name.rsplit_once('$') {
            let kind = MetadataTable::parse(kind).map_err(DataFusionError::from)?;
            let Some(table) = self.load(base, None).await? else {
                return Ok(None);
            };
            let provider = metadata_table_provider(&self.scope, table.table(), kind)
                .await
                .map_err(DataFusionError::from)?;
            return Ok(Some(provider));
        }
        let (name, version) = match split_version(name) {
            (base, Some(version)) if !self.table_exist(name) => (base, Some(version)),
            _ => (name, None),
        };
        Ok(self
            .load(name, version.as_ref())
            .await?
            .map(|t| Arc::new(t) as Arc<dyn TableProvider>))
    }

    async fn table_type(&self, name: &str) -> DFResult<Option<TableType>> {
        if let Some(table) = self.session_table(name) {
            return Ok(Some(table.table_type()));
        }
        let exists = self.table_exist(name) || self.table_exist(split_version(name).0);
        Ok(exists.then_some(TableType::Base))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if self.table_exist(&name) {
            return Err(DataFusionError::Plan(format!(
                "table '{}.{name}' already exists",
                self.namespace.join(".")
            )));
        }
        let mut session = self.session_tables.write().map_err(|_| lock_poisoned())?;
        Ok(session.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let mut session = self.session_tables.write().map_err(|_| lock_poisoned())?;
        Ok(session.remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.session_table(name).is_some()
            || self
                .iceberg_tables
                .read()
                .map(|t| t.iter().any(|n| n == name))
                .unwrap_or(false)
    }
}

impl FloeSchemaProvider {
    /// Whether `name` is a session (external) table rather than an Iceberg one.
    pub fn is_session_table(&self, name: &str) -> bool {
        self.session_table(name).is_some()
    }
}
