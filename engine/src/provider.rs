//! DataFusion's view of the warehouse: a catalog provider whose schemas are
//! the catalog's namespaces and whose tables are Iceberg tables (plus the
//! session's external tables and the `t$snapshots`-style metadata tables).

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::SessionState;
use datafusion::logical_expr::TableType;
use floe_catalog::{EntryKind, NamespaceIdent, TableIdent};

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
    planner: Arc<ViewPlanner>,
}

/// The session state views are planned in, as the session gives it.
type StateFn = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// Plans the SQL of stored views in the session's state.
#[derive(Default)]
struct ViewPlanner(OnceLock<StateFn>);

impl std::fmt::Debug for ViewPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewPlanner")
    }
}

impl FloeCatalogProvider {
    /// A provider over `scope`; call [`Self::refresh`] before use.
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            schemas: RwLock::new(BTreeMap::new()),
            planner: Arc::new(ViewPlanner::default()),
        }
    }

    /// Give the provider the session's state, in which it plans views
    /// (set once; a provider without it reads no views).
    pub fn set_session_state(
        &self,
        state: impl Fn() -> Option<SessionState> + Send + Sync + 'static,
    ) {
        let _ = self.planner.0.set(Box::new(state));
    }

    /// Re-read the namespaces and table and view names from the catalog.
    /// Session tables (external tables) of namespaces that still exist are
    /// kept.
    pub async fn refresh(&self) -> Result<()> {
        let catalog = self.scope.engine().catalog();
        let mut listing = BTreeMap::new();
        for (namespace, entries) in catalog.list_all_entries().await? {
            listing.insert(namespace.join("."), (namespace, entries));
        }
        let mut schemas = self.schemas.write().map_err(|_| lock_poisoned())?;
        schemas.retain(|name, _| listing.contains_key(name));
        for (name, (namespace, entries)) in listing {
            let schema = schemas.entry(name).or_insert_with(|| {
                Arc::new(FloeSchemaProvider::new(
                    self.scope.clone(),
                    namespace,
                    Arc::clone(&self.planner),
                ))
            });
            let of = |wanted: EntryKind| -> Vec<String> {
                entries
                    .iter()
                    .filter(|(_, kind)| *kind == wanted)
                    .map(|(name, _)| name.clone())
                    .collect()
            };
            schema.set_table_names(
                of(EntryKind::Table),
                of(EntryKind::View),
                of(EntryKind::Files),
            )?;
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
    views: RwLock<Vec<String>>,
    file_tables: RwLock<Vec<String>>,
    session_tables: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    planner: Arc<ViewPlanner>,
}

impl FloeSchemaProvider {
    fn new(scope: Scope, namespace: NamespaceIdent, planner: Arc<ViewPlanner>) -> Self {
        Self {
            scope,
            namespace,
            iceberg_tables: RwLock::new(Vec::new()),
            views: RwLock::new(Vec::new()),
            file_tables: RwLock::new(Vec::new()),
            session_tables: RwLock::new(HashMap::new()),
            planner,
        }
    }

    fn set_table_names(
        &self,
        tables: Vec<String>,
        views: Vec<String>,
        file_tables: Vec<String>,
    ) -> DFResult<()> {
        *self.iceberg_tables.write().map_err(|_| lock_poisoned())? = tables;
        *self.views.write().map_err(|_| lock_poisoned())? = views;
        *self.file_tables.write().map_err(|_| lock_poisoned())? = file_tables;
        Ok(())
    }

    /// Whether the catalog lists a stored external table (over files
    /// other than Parquet) of this name here.
    pub fn is_file_table(&self, name: &str) -> bool {
        self.file_tables
            .read()
            .map(|v| v.iter().any(|n| n == name))
            .unwrap_or(false)
    }

    /// The session's state, to plan views and external tables in.
    fn session_state(&self) -> Option<SessionState> {
        self.planner.0.get().and_then(|state| state())
    }

    /// Whether the catalog lists a view of this name here.
    pub fn is_view(&self, name: &str) -> bool {
        self.views
            .read()
            .map(|v| v.iter().any(|n| n == name))
            .unwrap_or(false)
    }

    /// The view `name` as the session's branch has it, planned in the
    /// session's state with the view's default namespace; `None` when the
    /// view is not on the branch.
    async fn view(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let ident = self.ident(name);
        let Some(view) = crate::ops::views::load_view(self.scope.engine(), &ident).await? else {
            return Ok(None);
        };
        let Some(version) = view.version_on(&self.scope.branch()?)? else {
            return Ok(None);
        };
        let (sql, dialect) = view.sql(version)?;
        let Some(mut state) = self.session_state() else {
            return Ok(None);
        };
        let options = state.config_mut().options_mut();
        // The view's default catalog is whatever its writer called this
        // catalog (Spark's `rest`): its names resolve here.
        options.catalog.default_catalog = crate::engine::CATALOG_NAME.to_string();
        options.catalog.default_schema = version.default_namespace().join(".");
        let plan = state.create_logical_plan(&sql).await.map_err(|e| {
            crate::error::invalid!("view '{ident}': its {dialect} SQL does not plan: {e}")
        })?;
        Ok(Some(Arc::new(ViewTable::new(plan, Some(sql)))))
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
        if let Ok(views) = self.views.read() {
            names.extend(views.iter().cloned());
        }
        if let Ok(files) = self.file_tables.read() {
            names.extend(files.iter().cloned());
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.session_table(name) {
            return Ok(Some(table));
        }
        if self.is_view(name) {
            return Ok(self.view(name).await?);
        }
        if self.is_file_table(name) {
            let Some(state) = self.session_state() else {
                return Ok(None);
            };
            let ident = self.ident(name);
            return Ok(crate::ops::file_tables::load(self.scope.engine(), &state, &ident).await?);
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
        if self.is_view(name) {
            return Ok(Some(TableType::View));
        }
        if self.is_file_table(name) {
            return Ok(Some(TableType::Base));
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
            || self.is_view(name)
            || self.is_file_table(name)
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
