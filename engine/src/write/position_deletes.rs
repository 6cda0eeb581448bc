//! Merge-on-read: position delete files (Iceberg v2), the rows of a data
//! file a DELETE removes, by their position in the file.

use std::collections::{HashMap, HashSet};

use arrow::row::RowConverter;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr_adapter::PhysicalExprAdapterFactory;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat};
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{
    ArrowWriter, PARQUET_FIELD_ID_META_KEY, ParquetRecordBatchStreamBuilder, ProjectionMask,
};

use crate::error::{FloeError, Result};
use crate::scan::FieldIdAdapterFactory;
use crate::scan::positions::deleted_positions;
use crate::scope::Scope;
use crate::storage::split_location;
use crate::table::LoadedTable;

/// The reserved field ids of a position delete file's columns.
const FILE_PATH_ID: i32 = 2147483546;
const POS_ID: i32 = 2147483545;

/// Evaluate `exprs` (written against `table_schema`) on every batch of the
/// data file of `task`, its columns matched to `table`'s by field id (or
/// name mapping) as a scan does, and return the positions (0-based, in
/// file order) of the rows `select` keeps. Rows the task's delete files
/// already delete are left out: a delete file never names a row twice,
/// so the snapshot summaries' counts of deleted rows stay exact.
async fn select_positions(
    scope: &Scope,
    table: &LoadedTable,
    table_schema: &SchemaRef,
    task: &FileScanTask,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    mut select: impl FnMut(&[ArrayRef], usize) -> Result<Vec<bool>>,
) -> Result<Vec<i64>> {
    let deleted = deleted_positions(scope.engine(), &[task])
        .await?
        .pop()
        .unwrap_or_default();
    let (url, object) = split_location(&task.data_file_path)?;
    let store = scope.engine().registry().store(&url)?;
    let builder =
        ParquetRecordBatchStreamBuilder::new(ParquetObjectReader::new(store, object)).await?;
    // Only the columns the expressions read are decoded: a DELETE by key
    // reads the key column, not the whole row.
    let factory = FieldIdAdapterFactory::for_properties(table.metadata().properties());
    let read = exprs
        .iter()
        .flat_map(collect_columns)
        .map(|c| table_schema.field(c.index()));
    let projection = factory.file_projection(read, builder.schema());
    let file_schema = Arc::new(builder.schema().project(&projection)?);
    let mask = ProjectionMask::roots(builder.parquet_schema(), projection);
    let adapter = factory.create(Arc::clone(table_schema), file_schema)?;
    let exprs = exprs
        .into_iter()
        .map(|e| adapter.rewrite(e))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let mut batches = builder.with_projection(mask).build()?;
    let mut positions = Vec::new();
    let mut offset = 0i64;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        let values = exprs
            .iter()
            .map(|e| Ok(e.evaluate(&batch)?.into_array(batch.num_rows())?))
            .collect::<Result<Vec<_>>>()?;
        for (i, keep) in select(&values, batch.num_rows())?.into_iter().enumerate() {
            let position = offset + i as i64;
            if keep && deleted.binary_search(&position).is_err() {
                positions.push(position);
            }
        }
        offset += batch.num_rows() as i64;
    }
    Ok(positions)
}

/// `predicate` (written against `table_schema`, its columns qualified by
/// `alias`) as a physical expression, made once for every file it is
/// evaluated on.
pub fn physical_predicate(
    ctx: &SessionContext,
    alias: &str,
    table_schema: &SchemaRef,
    predicate: &Expr,
) -> Result<Arc<dyn PhysicalExpr>> {
    let schema = DFSchema::try_from_qualified_schema(alias, table_schema)?;
    Ok(ctx.create_physical_expr(predicate.clone(), &schema)?)
}

/// Positions of the live rows of `task`'s data file for which `predicate`
/// (from [`physical_predicate`]) is true.
pub async fn matching_positions(
    scope: &Scope,
    table: &LoadedTable,
    table_schema: &SchemaRef,
    task: &FileScanTask,
    predicate: &Arc<dyn PhysicalExpr>,
) -> Result<Vec<i64>> {
    select_positions(
        scope,
        table,
        table_schema,
        task,
        vec![Arc::clone(predicate)],
        |values, _| {
            let mask = values[0]
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| {
                    FloeError::InvalidInput("the WHERE condition is not a boolean".into())
                })?;
            Ok((0..mask.len())
                .map(|i| mask.is_valid(i) && mask.value(i))
                .collect())
        },
    )
    .await
}

/// Positions of the live rows of `task`'s data file whose values, all
/// columns of `table_schema` taken together, are one of `rows` (encoded by
/// `converter`). Identical rows always share a MERGE's fate, so values
/// identify the rows a MERGE changes.
pub async fn positions_of_rows(
    scope: &Scope,
    table: &LoadedTable,
    table_schema: &SchemaRef,
    task: &FileScanTask,
    converter: &RowConverter,
    rows: &HashSet<Vec<u8>>,
) -> Result<Vec<i64>> {
    let columns = table_schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Arc::new(Column::new(f.name(), i)) as Arc<dyn PhysicalExpr>)
        .collect();
    select_positions(scope, table, table_schema, task, columns, |values, n| {
        let encoded = converter.convert_columns(values)?;
        Ok((0..n)
            .map(|i| rows.contains(encoded.row(i).as_ref()))
            .collect())
    })
    .await
}

/// Write one position delete file for `data_file`'s `positions` (sorted),
/// in the same partition; returns it ready for a delete manifest.
pub async fn write_position_deletes(
    scope: &Scope,
    table: &LoadedTable,
    data_file: &DataFile,
    spec_id: i32,
    positions: &[i64],
) -> Result<DataFile> {
    let field = |name: &str, data_type: DataType, id: i32| {
        Field::new(name, data_type, false).with_metadata(HashMap::from([(
            PARQUET_FIELD_ID_META_KEY.to_string(),
            id.to_string(),
        )]))
    };
    let schema = Arc::new(Schema::new(vec![
        field("file_path", DataType::Utf8, FILE_PATH_ID),
        field("pos", DataType::Int64, POS_ID),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec![
                data_file.file_path();
                positions.len()
            ])),
            Arc::new(Int64Array::from(positions.to_vec())),
        ],
    )?;
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;

    let location = format!(
        "{}/data/{}-deletes.parquet",
        table.metadata().location(),
        uuid::Uuid::now_v7()
    );
    let size = bytes.len() as u64;
    scope
        .engine()
        .file_io()
        .new_output(&location)?
        .write(bytes.into())
        .await?;
    DataFileBuilder::default()
        .content(DataContentType::PositionDeletes)
        .file_path(location)
        .file_format(DataFileFormat::Parquet)
        .record_count(positions.len() as u64)
        .file_size_in_bytes(size)
        .partition(data_file.partition().clone())
        .partition_spec_id(spec_id)
        .referenced_data_file(Some(data_file.file_path().to_string()))
        .build()
        .map_err(|e| FloeError::Internal(format!("position delete file: {e}")))
}
