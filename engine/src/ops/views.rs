//! Views, stored as Iceberg views (view spec v1) in the catalog beside the
//! tables: `CREATE [OR REPLACE] VIEW`, `DROP VIEW`, `SHOW VIEWS`.
//!
//! A view's metadata file holds its versions: each a SQL representation
//! (dialect [`VIEW_DIALECT`]), the schema it had and the namespace its
//! names resolve in. A view is versioned on warehouse branches as tables
//! are. Its `current-version-id` is its version on `main`; on any other
//! branch `b`, the property `floe.branch.b` holds the version id the view
//! has there (or `dropped`), and a view without that property is not on
//! `b`. `CREATE BRANCH` stamps every view of the source branch into the
//! new one, `DROP BRANCH` removes the stamps, and a warehouse `MERGE
//! BRANCH` moves `main` to the branch's versions. A view made on another
//! branch than `main` carries `floe.absent-from-main` until it is merged.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe_catalog::{
    CatalogChange, CatalogError, EntryKind, NamespaceIdent, PointerSwap, TableIdent,
};
use iceberg::spec::{
    MAIN_BRANCH, Schema as IcebergSchema, ViewFormatVersion, ViewMetadata, ViewMetadataBuilder,
    ViewRepresentation, ViewVersion, ViewVersionRef,
};

use crate::engine::{CATALOG_NAME, Engine};
use crate::error::{FloeError, Result, already_exists, invalid, not_found};
use crate::scope::Scope;
use crate::table::ABSENT_FROM_MAIN;

/// The dialect of the SQL Floe stores in a view.
pub const VIEW_DIALECT: &str = "datafusion";

/// The value of a branch's stamp when the view was dropped there.
const DROPPED: &str = "dropped";

/// The view property holding a view's version on warehouse branch
/// `branch`.
fn branch_key(branch: &str) -> String {
    format!("floe.branch.{branch}")
}

/// A view as the catalog holds it.
#[derive(Debug, Clone)]
pub struct LoadedView {
    ident: TableIdent,
    metadata_location: String,
    metadata: ViewMetadata,
}

impl LoadedView {
    /// The view's version on warehouse branch `branch`; `None` when the
    /// view is not on it.
    pub fn version_on(&self, branch: &str) -> Result<Option<&ViewVersionRef>> {
        let properties = self.metadata.properties();
        let id = if branch == MAIN_BRANCH {
            if properties.contains_key(ABSENT_FROM_MAIN) {
                return Ok(None);
            }
            self.metadata.current_version_id()
        } else {
            match properties.get(&branch_key(branch)) {
                None => return Ok(None),
                Some(value) if value == DROPPED => return Ok(None),
                Some(value) => value.parse().map_err(|_| {
                    invalid!(
                        "view '{}': property {} is '{value}', not a version id",
                        self.ident,
                        branch_key(branch)
                    )
                })?,
            }
        };
        self.metadata.version_by_id(id).map(Some).ok_or_else(|| {
            invalid!(
                "view '{}' has no version {id} (branch '{branch}' needs it): it was expired \
                 from the view's history (version.history.num-entries)",
                self.ident
            )
        })
    }

    /// The SQL of `version`: its `datafusion` representation, else its
    /// first SQL one (another engine's view), with the dialect it has.
    pub fn sql(&self, version: &ViewVersion) -> Result<(String, String)> {
        let mut sql = version.representations().iter().map(|r| match r {
            ViewRepresentation::Sql(sql) => (sql.sql.clone(), sql.dialect.clone()),
        });
        let all: Vec<_> = sql.by_ref().collect();
        all.iter()
            .find(|(_, dialect)| dialect.eq_ignore_ascii_case(VIEW_DIALECT))
            .or_else(|| all.first())
            .cloned()
            .ok_or_else(|| invalid!("view '{}' has no SQL representation", self.ident))
    }

    /// The branches (other than `main`) the view is on.
    fn branches(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .metadata
            .properties()
            .iter()
            .filter(|(_, v)| *v != DROPPED)
            .filter_map(|(k, _)| k.strip_prefix("floe.branch.").map(str::to_string))
            .collect();
        out.sort();
        out
    }

    /// Whether the view is on any branch at all.
    fn exists_anywhere(&self) -> Result<bool> {
        Ok(self.version_on(MAIN_BRANCH)?.is_some() || !self.branches().is_empty())
    }
}

/// Load the view `ident`; `None` when the catalog has none of that name.
pub async fn load_view(engine: &Engine, ident: &TableIdent) -> Result<Option<LoadedView>> {
    let Some((metadata_location, bytes)) =
        super::read_entry(engine, EntryKind::View, ident).await?
    else {
        return Ok(None);
    };
    let metadata: ViewMetadata = serde_json::from_slice(&bytes).map_err(|e| {
        invalid!("view '{ident}': cannot read its metadata {metadata_location}: {e}")
    })?;
    Ok(Some(LoadedView {
        ident: ident.clone(),
        metadata_location,
        metadata,
    }))
}

/// Write `metadata` as the view's next metadata file and move the
/// catalog's pointer to it from `previous` (create when `None`); without
/// `metadata`, drop the entry.
async fn commit(
    engine: &Engine,
    ident: &TableIdent,
    previous: Option<&LoadedView>,
    metadata: Option<ViewMetadata>,
) -> Result<()> {
    let change = match metadata {
        None => {
            let previous =
                previous.ok_or_else(|| FloeError::internal("a view drop without a view"))?;
            CatalogChange::Drop {
                table: ident.clone(),
                expected: previous.metadata_location.clone(),
            }
        }
        Some(metadata) => {
            let sequence = previous
                .and_then(|p| p.metadata_location.rsplit('/').next())
                .and_then(|name| name.split('-').next())
                .and_then(|n| n.parse::<u32>().ok())
                .map_or(0, |n| n + 1);
            // `write.metadata.path` moves the metadata files, as for tables.
            let directory = match metadata.properties().get("write.metadata.path") {
                Some(path) => path.trim_end_matches('/').to_string(),
                None => format!("{}/metadata", metadata.location().trim_end_matches('/')),
            };
            let location = format!(
                "{directory}/{sequence:05}-{}.metadata.json",
                uuid::Uuid::new_v4()
            );
            let metadata = keep_stamped_versions(metadata, previous)?;
            let json = serde_json::to_vec(&metadata_json(&metadata)?)?;
            engine
                .file_io()
                .new_output(&location)?
                .write(json.into())
                .await?;
            match previous {
                None => CatalogChange::Create {
                    table: ident.clone(),
                    metadata_location: location,
                },
                Some(previous) => CatalogChange::Swap(PointerSwap {
                    table: ident.clone(),
                    expected: previous.metadata_location.clone(),
                    new: location,
                }),
            }
        }
    };
    // Another session's change first is a conflict: run the statement
    // again.
    Ok(engine
        .catalog()
        .commit_entries(EntryKind::View, vec![change])
        .await?)
}

/// `metadata` with every version a branch is stamped at: Iceberg's
/// `version.history.num-entries` expires old versions on every build, but
/// a version a branch still reads must stay (with its schema).
fn keep_stamped_versions(
    metadata: ViewMetadata,
    previous: Option<&LoadedView>,
) -> Result<ViewMetadata> {
    let Some(previous) = previous else {
        return Ok(metadata);
    };
    let missing: Vec<i32> = metadata
        .properties()
        .iter()
        .filter(|(k, _)| k.starts_with("floe.branch."))
        .filter_map(|(_, v)| v.parse::<i32>().ok())
        .filter(|id| metadata.version_by_id(*id).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(metadata);
    }
    let mut json = serde_json::to_value(&metadata)?;
    for id in missing {
        let Some(version) = previous.metadata.version_by_id(id) else {
            continue;
        };
        if metadata.schema_by_id(version.schema_id()).is_none()
            && let Some(schema) = previous.metadata.schema_by_id(version.schema_id())
            && let Some(serde_json::Value::Array(schemas)) = json.get_mut("schemas")
        {
            schemas.push(serde_json::to_value(schema.as_ref())?);
        }
        if let Some(serde_json::Value::Array(versions)) = json.get_mut("versions") {
            versions.push(serde_json::to_value(version.as_ref())?);
        }
    }
    Ok(serde_json::from_value(json)?)
}

/// What `CREATE VIEW` stores: the query and the schema it gives.
#[derive(Debug, Clone)]
pub struct ViewDefinition {
    /// The query, as SQL.
    pub sql: String,
    /// The columns it gives.
    pub schema: IcebergSchema,
    /// `COMMENT`.
    pub comment: Option<String>,
}

/// A new version of a view (its version id is assigned on build).
fn new_version(definition: &ViewDefinition, namespace: &NamespaceIdent) -> Result<ViewVersion> {
    let mut summary = serde_json::Map::new();
    summary.insert("engine-name".into(), "floe".into());
    summary.insert("engine-version".into(), env!("CARGO_PKG_VERSION").into());
    let version = serde_json::json!({
        "version-id": 1,
        "schema-id": -1,
        "timestamp-ms": chrono::Utc::now().timestamp_millis(),
        "summary": summary,
        "representations": [{"type": "sql", "sql": definition.sql, "dialect": VIEW_DIALECT}],
        "default-catalog": CATALOG_NAME,
        "default-namespace": namespace.clone().inner(),
    });
    serde_json::from_value(version).map_err(|e| FloeError::internal(format!("view version: {e}")))
}

/// The id the built `metadata` gave `version` (a version that behaves as
/// an existing one reuses its id).
fn version_id_of(metadata: &ViewMetadata, version: &ViewVersion) -> Result<i32> {
    metadata
        .versions()
        .filter(|v| {
            v.representations() == version.representations()
                && v.default_namespace() == version.default_namespace()
        })
        .map(|v| v.version_id())
        .max()
        .ok_or_else(|| FloeError::internal("a view version went missing on build"))
}

fn build_error(ident: &TableIdent) -> impl Fn(iceberg::Error) -> FloeError + '_ {
    move |e| invalid!("view '{ident}': {}", e.message())
}

/// What a create of the view `ident` on `branch` starts from: the view,
/// if the catalog has one of that name, and whether it is on `branch`.
/// Refused when the namespace does not exist or a table holds the name.
async fn before_create(
    engine: &Engine,
    ident: &TableIdent,
    branch: &str,
) -> Result<(Option<LoadedView>, bool)> {
    if !engine.catalog().namespace_exists(ident.namespace()).await? {
        return Err(CatalogError::NamespaceNotFound(ident.namespace().clone()).into());
    }
    if engine.catalog().load_table(ident).await.is_ok() {
        return Err(already_exists!(
            "Table with same name already exists: {ident}"
        ));
    }
    let existing = load_view(engine, ident).await?;
    let on_branch = match &existing {
        Some(view) => view.version_on(branch)?.is_some(),
        None => false,
    };
    Ok((existing, on_branch))
}

/// `CREATE [OR REPLACE] VIEW` on the session's branch.
pub async fn create_view(
    scope: &Scope,
    ident: &TableIdent,
    definition: ViewDefinition,
    or_replace: bool,
    if_not_exists: bool,
) -> Result<()> {
    let engine = scope.engine();
    let branch = scope.branch()?;
    let (existing, on_branch) = before_create(engine, ident, &branch)
        .await
        .map_err(|e| e.context(format!("CREATE VIEW {ident}")))?;
    if on_branch && if_not_exists {
        return Ok(());
    }
    if on_branch && !or_replace {
        return Err(already_exists!("View already exists: {ident}"));
    }
    let version = new_version(&definition, ident.namespace())?;
    let mut properties = HashMap::new();
    if let Some(comment) = &definition.comment {
        properties.insert("comment".to_string(), comment.clone());
    }
    let build = build_error(ident);
    let built = match &existing {
        None => {
            let location = engine.table_location(ident);
            if branch != MAIN_BRANCH {
                properties.insert(ABSENT_FROM_MAIN.to_string(), "true".to_string());
            }
            let metadata = ViewMetadataBuilder::new(
                location,
                definition.schema.clone(),
                version.clone(),
                ViewFormatVersion::V1,
                properties,
            )
            .map_err(&build)?
            .build()
            .map_err(&build)?
            .metadata;
            if branch == MAIN_BRANCH {
                metadata
            } else {
                let id = version_id_of(&metadata, &version)?;
                set_on(metadata, ident, &branch, Some(id))?
            }
        }
        Some(view) if branch == MAIN_BRANCH => {
            let mut builder = ViewMetadataBuilder::new_from_metadata(view.metadata.clone())
                .set_current_version(version, definition.schema.clone())
                .map_err(&build)?
                .remove_properties(&[ABSENT_FROM_MAIN.to_string()]);
            if !properties.is_empty() {
                builder = builder.set_properties(properties).map_err(&build)?;
            }
            builder.build().map_err(&build)?.metadata
        }
        Some(view) => {
            let mut builder = ViewMetadataBuilder::new_from_metadata(view.metadata.clone())
                .add_schema(definition.schema.clone())
                .add_version(version.clone())
                .map_err(&build)?;
            if !properties.is_empty() {
                builder = builder.set_properties(properties).map_err(&build)?;
            }
            let metadata = builder.build().map_err(&build)?.metadata;
            let id = version_id_of(&metadata, &version)?;
            set_on(metadata, ident, &branch, Some(id))?
        }
    };
    commit(engine, ident, existing.as_ref(), Some(built)).await
}

/// `metadata` with the view at `version` on `branch` (`None`: dropped
/// there). On `main` a drop is [`ABSENT_FROM_MAIN`]; on another branch a
/// view `main` has is marked [`DROPPED`], so a merge carries the drop.
fn set_on(
    metadata: ViewMetadata,
    ident: &TableIdent,
    branch: &str,
    version: Option<i32>,
) -> Result<ViewMetadata> {
    let build = build_error(ident);
    let on_main = !metadata.properties().contains_key(ABSENT_FROM_MAIN);
    let builder = ViewMetadataBuilder::new_from_metadata(metadata);
    let builder = match (branch == MAIN_BRANCH, version) {
        (true, Some(id)) => builder
            .set_current_version_id(id)
            .map_err(&build)?
            .remove_properties(&[ABSENT_FROM_MAIN.to_string()]),
        (true, None) => builder
            .set_properties(HashMap::from([(
                ABSENT_FROM_MAIN.to_string(),
                "true".to_string(),
            )]))
            .map_err(&build)?,
        (false, Some(id)) => builder
            .set_properties(HashMap::from([(branch_key(branch), id.to_string())]))
            .map_err(&build)?,
        (false, None) => {
            if on_main {
                builder
                    .set_properties(HashMap::from([(branch_key(branch), DROPPED.to_string())]))
                    .map_err(&build)?
            } else {
                builder.remove_properties(&[branch_key(branch)])
            }
        }
    };
    Ok(builder.build().map_err(&build)?.metadata)
}

/// `DROP VIEW [IF EXISTS] v` on the session's branch: the view leaves the
/// catalog when no branch has it any more.
pub async fn drop_view(scope: &Scope, ident: &TableIdent, if_exists: bool) -> Result<()> {
    match drop_on(scope.engine(), ident, &scope.branch()?).await {
        Err(FloeError::NotFound(_)) if if_exists => Ok(()),
        other => other,
    }
}

/// Every view of the catalog, loaded; a view whose metadata cannot be
/// read is logged and left out, so one lost file does not hide the rest.
async fn all_views(engine: &Engine) -> Result<Vec<LoadedView>> {
    let mut out = Vec::new();
    for ident in view_idents(engine).await? {
        match load_view(engine, &ident).await {
            Ok(Some(view)) => out.push(view),
            Ok(None) => {}
            Err(e) => log::warn!("view '{ident}' is left out: {e}"),
        }
    }
    Ok(out)
}

/// The name of every view the catalog lists.
async fn view_idents(engine: &Engine) -> Result<Vec<TableIdent>> {
    let mut out = Vec::new();
    for (namespace, entries) in engine.catalog().list_all_entries().await? {
        out.extend(
            entries
                .into_iter()
                .filter(|(_, kind)| *kind == EntryKind::View)
                .map(|(name, _)| TableIdent::new(namespace.clone(), name)),
        );
    }
    Ok(out)
}

/// The views of `namespace` on `branch`, sorted; on `main`, also the
/// views whose metadata cannot be read (so that they can be dropped).
async fn names_on(
    engine: &Engine,
    namespace: &NamespaceIdent,
    branch: &str,
) -> Result<Vec<TableIdent>> {
    if !engine.catalog().namespace_exists(namespace).await? {
        return Err(CatalogError::NamespaceNotFound(namespace.clone()).into());
    }
    let mut out = Vec::new();
    for ident in view_idents(engine).await? {
        if ident.namespace() != namespace {
            continue;
        }
        let on_branch = match load_view(engine, &ident).await {
            Ok(Some(view)) => view.version_on(branch)?.is_some(),
            Ok(None) => false,
            Err(_) => branch == MAIN_BRANCH,
        };
        if on_branch {
            out.push(ident);
        }
    }
    out.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(out)
}

/// Take the entry of a view whose metadata cannot be read out of the
/// catalog.
async fn drop_unreadable(engine: &Engine, ident: &TableIdent) -> Result<()> {
    let pointer = engine.catalog().load_entry(EntryKind::View, ident).await?;
    Ok(engine
        .catalog()
        .commit_entries(
            EntryKind::View,
            vec![CatalogChange::Drop {
                table: ident.clone(),
                expected: pointer.metadata_location,
            }],
        )
        .await?)
}

/// Take every view of `namespace` out of the catalog, on every branch
/// (`DROP SCHEMA ... CASCADE`).
pub(crate) async fn drop_all_in(engine: &Engine, namespace: &NamespaceIdent) -> Result<()> {
    for ident in view_idents(engine).await? {
        if ident.namespace() == namespace {
            drop_unreadable(engine, &ident).await?;
        }
    }
    Ok(())
}

/// `SHOW VIEWS [IN ns]`: the views of a namespace on the session's branch,
/// `(namespace, view_name)`.
pub async fn show_views(scope: &Scope, namespace: &NamespaceIdent) -> Result<RecordBatch> {
    let names: Vec<String> = names_on(scope.engine(), namespace, &scope.branch()?)
        .await?
        .into_iter()
        .map(|v| v.name().to_string())
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("namespace", DataType::Utf8, false),
        Field::new("view_name", DataType::Utf8, false),
    ]));
    let ns = namespace.join(".");
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                names.iter().map(|_| ns.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(names.iter())),
        ],
    )?)
}

/// What a warehouse branch operation does to every view.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BranchChange<'a> {
    /// `CREATE BRANCH name FROM from`: each view of `from` is on `name` at
    /// the version it has on `from`.
    Create {
        /// The new branch.
        name: &'a str,
        /// Its source.
        from: &'a str,
    },
    /// `DROP BRANCH name`.
    Drop {
        /// The branch.
        name: &'a str,
    },
    /// `MERGE BRANCH from INTO into`: each view whose version differs
    /// takes `from`'s (a view dropped on `from` is dropped on `into`).
    Merge {
        /// The merged branch.
        from: &'a str,
        /// The branch it goes to.
        into: &'a str,
    },
}

/// Carry a warehouse branch operation to every view.
pub(crate) async fn on_branch_change(engine: &Engine, change: BranchChange<'_>) -> Result<()> {
    for view in all_views(engine).await? {
        let ident = view.ident.clone();
        let metadata = match change {
            BranchChange::Create { name, from } => match view.version_on(from)? {
                Some(version) => {
                    let id = version.version_id();
                    Some(set_on(view.metadata.clone(), &ident, name, Some(id))?)
                }
                None => continue,
            },
            BranchChange::Drop { name } => {
                if !view.metadata.properties().contains_key(&branch_key(name)) {
                    continue;
                }
                let metadata = ViewMetadataBuilder::new_from_metadata(view.metadata.clone())
                    .remove_properties(&[branch_key(name)])
                    .build()
                    .map_err(build_error(&ident))?
                    .metadata;
                let left = LoadedView {
                    metadata: metadata.clone(),
                    ..view.clone()
                };
                left.exists_anywhere()?.then_some(metadata)
            }
            BranchChange::Merge { from, into } => {
                let from_version = view.version_on(from)?.map(|v| v.version_id());
                let into_version = view.version_on(into)?.map(|v| v.version_id());
                let dropped_on_from = from != MAIN_BRANCH
                    && view
                        .metadata
                        .properties()
                        .get(&branch_key(from))
                        .map(String::as_str)
                        == Some(DROPPED);
                if from_version == into_version || (from_version.is_none() && !dropped_on_from) {
                    continue;
                }
                let metadata = set_on(view.metadata.clone(), &ident, into, from_version)?;
                let left = LoadedView {
                    metadata: metadata.clone(),
                    ..view.clone()
                };
                left.exists_anywhere()?.then_some(metadata)
            }
        };
        commit(engine, &ident, Some(&view), metadata).await?;
    }
    Ok(())
}

/// A view as a catalog client sees it on one branch: its metadata with the
/// branch's version as the current one.
#[derive(Debug, Clone)]
pub struct ViewState {
    /// Where the view's metadata file is (the warehouse's view of it).
    pub metadata_location: String,
    /// The view's metadata, with the branch's version current.
    pub metadata: ViewMetadata,
}

/// A view's metadata as JSON, its versions and schemas in the order of
/// their ids (as Java writes them, and its clients compare them).
pub fn metadata_json(metadata: &ViewMetadata) -> Result<serde_json::Value> {
    let mut json = serde_json::to_value(metadata)?;
    for (list, id) in [("versions", "version-id"), ("schemas", "schema-id")] {
        if let Some(serde_json::Value::Array(items)) = json.get_mut(list) {
            items.sort_by_key(|item| item.get(id).and_then(serde_json::Value::as_i64));
        }
    }
    Ok(json)
}

/// What a client may ask of a view's current metadata before a commit:
/// the REST spec's `assert-view-uuid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewRequirement {
    /// The view's UUID is this one.
    AssertViewUuid(uuid::Uuid),
}

/// `metadata` with `version_id` as its current version, changing nothing
/// else (no version-log entry): how a branch's clients see the view.
fn with_current(metadata: &ViewMetadata, version_id: i32) -> Result<ViewMetadata> {
    let mut json = serde_json::to_value(metadata)?;
    json["current-version-id"] = version_id.into();
    Ok(serde_json::from_value(json)?)
}

impl LoadedView {
    /// The view as `branch`'s clients see it; `None` when it is not there.
    pub fn state_on(&self, branch: &str) -> Result<Option<ViewState>> {
        let Some(version) = self.version_on(branch)? else {
            return Ok(None);
        };
        Ok(Some(ViewState {
            metadata_location: self.metadata_location.clone(),
            metadata: with_current(&self.metadata, version.version_id())?,
        }))
    }
}

/// Apply a client's view updates to `metadata` (the branch's view of it).
fn apply_updates(
    metadata: ViewMetadata,
    ident: &TableIdent,
    updates: Vec<iceberg::ViewUpdate>,
) -> Result<ViewMetadata> {
    use iceberg::ViewUpdate as U;
    let build = build_error(ident);
    let mut builder = ViewMetadataBuilder::new_from_metadata(metadata);
    for update in updates {
        builder = match update {
            U::AssignUuid { uuid } => builder.assign_uuid(uuid),
            U::UpgradeFormatVersion { format_version } => builder
                .upgrade_format_version(format_version)
                .map_err(&build)?,
            U::AddSchema { schema, .. } => builder.add_schema(schema),
            U::SetLocation { location } => builder.set_location(location),
            U::SetProperties { updates } => builder.set_properties(updates).map_err(&build)?,
            U::RemoveProperties { removals } => builder.remove_properties(&removals),
            U::AddViewVersion { view_version } => {
                builder.add_version(view_version).map_err(&build)?
            }
            U::SetCurrentViewVersion { view_version_id } => builder
                .set_current_version_id(view_version_id)
                .map_err(&build)?,
        };
    }
    Ok(builder.build().map_err(&build)?.metadata)
}

/// Store `client` (a view as `branch`'s clients now see it) over
/// `existing`: on `main` as it is, keeping Floe's branch stamps; on another
/// branch as a stamp of its current version, `main`'s staying as it was.
fn from_client(
    existing: Option<&LoadedView>,
    client: ViewMetadata,
    ident: &TableIdent,
    branch: &str,
) -> Result<ViewMetadata> {
    let stamps: HashMap<String, String> = existing
        .map(|v| {
            v.metadata
                .properties()
                .iter()
                .filter(|(k, _)| k.starts_with("floe.branch.") || *k == ABSENT_FROM_MAIN)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let build = build_error(ident);
    let id = client.current_version_id();
    let mut builder = ViewMetadataBuilder::new_from_metadata(client);
    if !stamps.is_empty() {
        builder = builder.set_properties(stamps).map_err(&build)?;
    }
    let merged = builder.build().map_err(&build)?.metadata;
    if branch == MAIN_BRANCH {
        return set_on(merged, ident, MAIN_BRANCH, Some(id));
    }
    let stored = match existing.and_then(|v| v.version_on(MAIN_BRANCH).ok().flatten()) {
        Some(main) => with_current(&merged, main.version_id())?,
        None => {
            ViewMetadataBuilder::new_from_metadata(merged)
                .set_properties(HashMap::from([(
                    ABSENT_FROM_MAIN.to_string(),
                    "true".to_string(),
                )]))
                .map_err(&build)?
                .build()
                .map_err(&build)?
                .metadata
        }
    };
    set_on(stored, ident, branch, Some(id))
}

/// Create the view `ident` on `branch` from a client's first metadata
/// (its location, schema, version and properties).
pub(crate) async fn create_from_client(
    engine: &Engine,
    branch: &str,
    ident: &TableIdent,
    location: Option<String>,
    schema: IcebergSchema,
    version: ViewVersion,
    properties: HashMap<String, String>,
) -> Result<ViewState> {
    let (existing, on_branch) = before_create(engine, ident, branch).await?;
    if on_branch {
        return Err(already_exists!("View already exists: {ident}"));
    }
    let build = build_error(ident);
    let client = match &existing {
        None => {
            let location = location.unwrap_or_else(|| engine.table_location(ident));
            ViewMetadataBuilder::new(location, schema, version, ViewFormatVersion::V1, properties)
                .map_err(&build)?
                .build()
                .map_err(&build)?
                .metadata
        }
        Some(view) => {
            let mut builder = ViewMetadataBuilder::new_from_metadata(view.metadata.clone())
                .set_current_version(version, schema)
                .map_err(&build)?;
            if !properties.is_empty() {
                builder = builder.set_properties(properties).map_err(&build)?;
            }
            builder.build().map_err(&build)?.metadata
        }
    };
    let stored = from_client(existing.as_ref(), client, ident, branch)?;
    commit(engine, ident, existing.as_ref(), Some(stored)).await?;
    load_state(engine, ident, branch).await
}

/// The view `ident` as `branch` sees it ([`FloeError::NotFound`] if it is
/// not there).
pub(crate) async fn load_state(
    engine: &Engine,
    ident: &TableIdent,
    branch: &str,
) -> Result<ViewState> {
    load_view(engine, ident)
        .await?
        .map(|view| view.state_on(branch))
        .transpose()?
        .flatten()
        .ok_or_else(|| not_found!("View does not exist: {ident}"))
}

/// Commit a client's requirements and updates to the view `ident` on
/// `branch`.
pub(crate) async fn commit_from_client(
    engine: &Engine,
    branch: &str,
    ident: &TableIdent,
    requirements: Vec<ViewRequirement>,
    updates: Vec<iceberg::ViewUpdate>,
) -> Result<ViewState> {
    let view = load_view(engine, ident)
        .await?
        .ok_or_else(|| not_found!("View does not exist: {ident}"))?;
    let state = view
        .state_on(branch)?
        .ok_or_else(|| not_found!("View does not exist: {ident}"))?;
    for requirement in requirements {
        match requirement {
            ViewRequirement::AssertViewUuid(uuid) if uuid != state.metadata.uuid() => {
                return Err(FloeError::RequirementFailed(Box::new(
                    crate::error::RequirementFailed {
                        table: ident.to_string(),
                        requirement: "assert-view-uuid".to_string(),
                        expected: uuid.to_string(),
                        found: state.metadata.uuid().to_string(),
                        java: Some(format!(
                            "Requirement failed: view UUID does not match: expected {} != {uuid}",
                            state.metadata.uuid()
                        )),
                    },
                )));
            }
            ViewRequirement::AssertViewUuid(_) => {}
        }
    }
    let client = apply_updates(state.metadata, ident, updates)?;
    let stored = from_client(Some(&view), client, ident, branch)?;
    commit(engine, ident, Some(&view), Some(stored)).await?;
    load_state(engine, ident, branch).await
}

/// The views of `namespace` on `branch`, sorted.
pub(crate) async fn list_on(
    engine: &Engine,
    namespace: &NamespaceIdent,
    branch: &str,
) -> Result<Vec<TableIdent>> {
    names_on(engine, namespace, branch).await
}

/// Drop the view `ident` from `branch` (from the catalog when no branch
/// keeps it).
pub(crate) async fn drop_on(engine: &Engine, ident: &TableIdent, branch: &str) -> Result<()> {
    let view = match load_view(engine, ident).await {
        Ok(Some(view)) if view.version_on(branch)?.is_some() => view,
        Ok(_) => return Err(not_found!("View does not exist: {ident}")),
        // Its metadata is gone: on `main`, the entry can still go.
        Err(_) if branch == MAIN_BRANCH => return drop_unreadable(engine, ident).await,
        Err(e) => return Err(e),
    };
    let metadata = set_on(view.metadata.clone(), ident, branch, None)?;
    let left = LoadedView {
        metadata: metadata.clone(),
        ..view.clone()
    };
    let keep = left.exists_anywhere()?;
    commit(engine, ident, Some(&view), keep.then_some(metadata)).await
}

/// Rename a view (on every branch: a view's name is the catalog's).
pub(crate) async fn rename(engine: &Engine, from: &TableIdent, to: &TableIdent) -> Result<()> {
    let view = load_view(engine, from)
        .await?
        .ok_or_else(|| not_found!("View does not exist: {from}"))?;
    if !engine.catalog().namespace_exists(to.namespace()).await? {
        return Err(CatalogError::NamespaceNotFound(to.namespace().clone()).into());
    }
    if engine.catalog().load_table(to).await.is_ok() {
        return Err(already_exists!(
            "Cannot rename {from} to {to}. Table already exists"
        ));
    }
    if load_view(engine, to).await?.is_some() {
        return Err(already_exists!(
            "Cannot rename {from} to {to}. View already exists"
        ));
    }
    Ok(engine
        .catalog()
        .commit_entries(
            EntryKind::View,
            vec![
                CatalogChange::Create {
                    table: to.clone(),
                    metadata_location: view.metadata_location.clone(),
                },
                CatalogChange::Drop {
                    table: from.clone(),
                    expected: view.metadata_location.clone(),
                },
            ],
        )
        .await?)
}
