//! Persisted external tables over CSV, JSON and other files DataFusion
//! reads (Parquet ones are Iceberg tables: see [`super::external`]).
//!
//! The definition is the `CREATE EXTERNAL TABLE` statement itself, with
//! its location absolute, in a small JSON file in
//! the warehouse; the catalog holds it as an entry of kind
//! [`EntryKind::Files`], which Iceberg catalogs and other engines skip.
//! Every session plans the statement again when a query names the table,
//! so the files are read as they are then. The table is the same on every
//! warehouse branch: files outside the lakehouse have no versions.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::CreateExternalTable;
use floe_catalog::{CatalogChange, CatalogError, EntryKind, TableIdent};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{FloeError, Result, invalid};
use crate::storage::WarehouseUri;

/// What the definition file holds.
#[derive(Debug, Serialize, Deserialize)]
struct Definition {
    /// The statement, as DataFusion plans it.
    sql: String,
}

/// The name the stored statement creates: in no catalog a session has, so
/// that planning it looks up no table (DataFusion resolves the names a
/// statement names before planning it, the created one too).
const DEFINITION_NAME: &str = "__floe_definition.external.t";

/// The statement that defines a table over `create`'s files: its columns,
/// format, partition columns, location (made absolute) and options.
fn definition_sql(create: &CreateExternalTable) -> Result<String> {
    let location = WarehouseUri::parse(&create.location)?;
    let mut location = location.as_str().to_string();
    if create.location.ends_with('/') && !location.ends_with('/') {
        location.push('/');
    }
    let mut sql = format!("CREATE EXTERNAL TABLE {DEFINITION_NAME}");
    if !create.columns.is_empty() {
        let columns: Vec<String> = create.columns.iter().map(ToString::to_string).collect();
        sql.push_str(&format!(" ({})", columns.join(", ")));
    }
    sql.push_str(&format!(" STORED AS {}", create.file_type));
    if !create.table_partition_cols.is_empty() {
        sql.push_str(&format!(
            " PARTITIONED BY ({})",
            create.table_partition_cols.join(", ")
        ));
    }
    sql.push_str(&format!(" LOCATION '{}'", location.replace('\'', "''")));
    if !create.options.is_empty() {
        let options: Vec<String> = create
            .options
            .iter()
            .map(|(k, v)| format!("'{}' {v}", k.replace('\'', "''")))
            .collect();
        sql.push_str(&format!(" OPTIONS ({})", options.join(", ")));
    }
    Ok(sql)
}

/// Store the definition of `ident`. Fails with
/// [`CatalogError::Unsupported`] on a catalog that keeps no such entries.
pub(crate) async fn create(
    engine: &Engine,
    ident: &TableIdent,
    create: &CreateExternalTable,
) -> Result<()> {
    let definition = Definition {
        sql: definition_sql(create)?,
    };
    let location = format!(
        "{}/floe-external-{}.json",
        engine.table_location(ident),
        uuid::Uuid::new_v4()
    );
    let json = serde_json::to_vec(&definition)?;
    engine
        .file_io()
        .new_output(&location)?
        .write(json.into())
        .await?;
    let created = engine
        .catalog()
        .commit_entries(
            EntryKind::Files,
            vec![CatalogChange::Create {
                table: ident.clone(),
                metadata_location: location.clone(),
            }],
        )
        .await;
    if created.is_err() {
        let _ = engine.file_io().delete(&location).await;
    }
    Ok(created?)
}

/// The table `ident`, planned in `state`; `None` when there is none.
pub(crate) async fn load(
    engine: &Engine,
    state: &SessionState,
    ident: &TableIdent,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let Some((_, bytes)) = super::read_entry(engine, EntryKind::Files, ident).await? else {
        return Ok(None);
    };
    let definition: Definition = serde_json::from_slice(&bytes)?;
    let plan = state.create_logical_plan(&definition.sql).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) = &plan else {
        return Err(FloeError::internal(format!(
            "the definition of '{ident}' is not a CREATE EXTERNAL TABLE"
        )));
    };
    let provider = provider(state, create)
        .await
        .map_err(|e| invalid!("external table '{ident}' over {}: {e}", create.location))?;
    Ok(Some(provider))
}

/// The table DataFusion's reader for `create`'s file type makes of it
/// (which reads the files' schema when no columns are declared).
pub(crate) async fn provider(
    state: &SessionState,
    create: &datafusion::logical_expr::CreateExternalTable,
) -> Result<Arc<dyn TableProvider>> {
    let factory = state
        .table_factories()
        .get(&create.file_type.to_ascii_uppercase())
        .ok_or_else(|| invalid!("no reader for files of type {}", create.file_type))?;
    Ok(factory.create(state, create).await?)
}

/// Drop the table `ident`: its definition goes, its files stay. `false`
/// when there is no such table.
pub(crate) async fn drop(engine: &Engine, ident: &TableIdent) -> Result<bool> {
    let pointer = match engine.catalog().load_entry(EntryKind::Files, ident).await {
        Ok(pointer) => pointer,
        Err(CatalogError::EntryNotFound { .. } | CatalogError::Unsupported(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    engine
        .catalog()
        .commit_entries(
            EntryKind::Files,
            vec![CatalogChange::Drop {
                table: ident.clone(),
                expected: pointer.metadata_location.clone(),
            }],
        )
        .await?;
    let _ = engine.file_io().delete(&pointer.metadata_location).await;
    Ok(true)
}
