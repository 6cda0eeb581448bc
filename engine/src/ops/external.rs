//! Persisted Parquet external tables: `CREATE EXTERNAL TABLE t STORED AS
//! PARQUET LOCATION '…'` makes an Iceberg table over the files in place,
//! and `REFRESH TABLE t` brings it up to date with the location.
//!
//! The table's own location (its metadata, and the files `INSERT` writes)
//! is in the warehouse like any table's; the Parquet files stay where they
//! are, registered as its data files as `add_files` registers them, so
//! every Iceberg reader sees the same rows. The location is kept in the
//! table property [`EXTERNAL_LOCATION`]. `REFRESH TABLE` lists it again and
//! commits, in one snapshot, the files that appeared (or changed size) and
//! the removal of those that vanished; the table's other files are not
//! touched. `DROP TABLE ... PURGE` deletes only the table's own location,
//! never the files it was made over.

use std::collections::HashMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use floe_catalog::TableIdent;
use iceberg::spec::{DEFAULT_SCHEMA_NAME_MAPPING, UnboundPartitionSpec};

use crate::commit::SnapshotUpdate;
use crate::error::{Result, invalid};
use crate::ops::add_files::{describe_files, parquet_files_at};
use crate::ops::ddl::{self, DropFrom, TableDefinition};
use crate::scope::Scope;
use crate::storage::WarehouseUri;
use crate::table::LoadedTable;

/// Table property of a Parquet external table: the location of its files.
pub const EXTERNAL_LOCATION: &str = "floe.external.location";

/// Create the Iceberg table `ident` of columns `schema` over the Parquet
/// files at `location` (a file, or a directory searched recursively),
/// registering every file in its first snapshot. If a file does not fit,
/// nothing is left behind.
pub(crate) async fn create_parquet(
    scope: &Scope,
    ident: &TableIdent,
    schema: &SchemaRef,
    location: &str,
) -> Result<LoadedTable> {
    let uri = WarehouseUri::parse(location)?;
    let location = uri.as_str().trim_end_matches('/').to_string();
    let files = parquet_files_at(scope, &location).await?;
    let definition = TableDefinition {
        schema: ddl::schema_from_arrow_schema(schema)?,
        partition_spec: UnboundPartitionSpec::builder().build(),
        properties: HashMap::from([(EXTERNAL_LOCATION.to_string(), location)]),
    };
    let table = ddl::create_table(scope, ident, definition).await?;
    if files.is_empty() {
        return Ok(table);
    }
    let context = format!("CREATE EXTERNAL TABLE {ident}");
    let registered = async {
        let (data_files, mapping) = describe_files(&table, &files, &context).await?;
        let mut update = SnapshotUpdate::append(data_files);
        if let Some(mapping) = mapping {
            update = update.with_property(DEFAULT_SCHEMA_NAME_MAPPING, mapping);
        }
        update.commit(&scope.target()?, table).await
    };
    match registered.await {
        Ok(table) => Ok(table),
        Err(e) => {
            // The statement fails as a whole: the table it made goes.
            ddl::drop_table(scope, ident, true, true, DropFrom::Everywhere).await?;
            Err(e)
        }
    }
}

/// `REFRESH TABLE t`: register the Parquet files that appeared at the
/// table's external location (or changed size) and drop the data files
/// that vanished from it, in one snapshot on the session's branch; nothing
/// is committed when the table is up to date. Returns
/// `(added_files_count, removed_files_count)`.
pub(crate) async fn refresh(scope: &Scope, table: LoadedTable) -> Result<RecordBatch> {
    table.write_branch()?;
    let ident = table.ident().clone();
    let location = table
        .metadata()
        .properties()
        .get(EXTERNAL_LOCATION)
        .cloned()
        .ok_or_else(|| {
            invalid!(
                "REFRESH TABLE {ident}: '{ident}' is not an external table (REFRESH TABLE \
                 re-reads the files of a table made by CREATE EXTERNAL TABLE ... STORED AS \
                 PARQUET)"
            )
        })?;
    let files = parquet_files_at(scope, &location).await?;
    let live = table.live_files_by_path(scope.engine()).await?;
    let under_location = |path: &str| {
        path == location
            || path
                .strip_prefix(location.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let listed: HashMap<&str, u64> = files
        .iter()
        .map(|f| (f.location.as_str(), f.size))
        .collect();
    let mut removed: Vec<_> = live
        .iter()
        .filter(|(path, file)| {
            under_location(path)
                && listed
                    .get(path.as_str())
                    .is_none_or(|size| *size != file.file.file_size_in_bytes())
        })
        .map(|(_, file)| file.file.clone())
        .collect();
    removed.sort_by(|a, b| a.file_path().cmp(b.file_path()));
    let added: Vec<_> = files
        .into_iter()
        .filter(|f| {
            live.get(&f.location)
                .is_none_or(|file| file.file.file_size_in_bytes() != f.size)
        })
        .collect();
    let counts = (added.len() as i64, removed.len() as i64);
    if !added.is_empty() || !removed.is_empty() {
        let context = format!("REFRESH TABLE {ident}");
        let (data_files, mapping) = describe_files(&table, &added, &context).await?;
        let mut update = SnapshotUpdate::overwrite(data_files, removed);
        if let Some(mapping) = mapping {
            update = update.with_property(DEFAULT_SCHEMA_NAME_MAPPING, mapping);
        }
        update.commit(&scope.target()?, table).await?;
    }
    super::counts_row(&[
        ("added_files_count", counts.0),
        ("removed_files_count", counts.1),
    ])
}
