//! Position deletes applied by DataFusion's own parquet scan.
//!
//! A data file whose delete files are all position deletes is read with a
//! row selection that skips its deleted rows (a [`ParquetAccessPlan`] in
//! the file's extensions), so it keeps everything the scan does for files
//! without deletes: row group and page pruning, filter pushdown, its
//! statistics and its parallelism. Files with equality deletes still go
//! through the iceberg reader ([`super::delete_exec`]).
//!
//! Each position delete file is read once per scan, however many data
//! files it names (Floe writes one per data file; Spark may write one per
//! partition).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use futures::{StreamExt, TryStreamExt};
use iceberg::scan::FileScanTask;
use iceberg::spec::DataContentType;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::ParquetMetaData;

use crate::engine::Engine;
use crate::error::{FloeError, Result};
use crate::storage::split_location;

/// How many delete files (or data file footers) are read at once.
const CONCURRENT_READS: usize = 16;

/// Whether `task` has delete files and all of them are position delete
/// files in Parquet (a format v3 deletion vector, in a Puffin file, is
/// left to the iceberg reader).
pub(super) fn has_position_deletes_only(task: &FileScanTask) -> bool {
    !task.deletes.is_empty()
        && task.deletes.iter().all(|d| {
            d.file_type == DataContentType::PositionDeletes && !d.file_path.ends_with(".puffin")
        })
}

/// The deleted positions of each task's data file (sorted, distinct), from
/// the tasks' position delete files.
pub(crate) async fn deleted_positions(
    engine: &Engine,
    tasks: &[&FileScanTask],
) -> Result<Vec<Vec<i64>>> {
    let mut files: Vec<(String, u64)> = tasks
        .iter()
        .flat_map(|t| &t.deletes)
        .map(|d| (d.file_path.clone(), d.file_size_in_bytes))
        .collect();
    files.sort_unstable();
    files.dedup_by(|a, b| a.0 == b.0);
    let reads = files.into_iter().map(|(path, size)| async move {
        let positions = read_position_deletes(engine, &path, size)
            .await
            .map_err(|e| e.context(format!("reading position delete file {path}")))?;
        Ok::<_, FloeError>((path, positions))
    });
    let read: HashMap<String, HashMap<String, Vec<i64>>> = futures::stream::iter(reads)
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok(tasks
        .iter()
        .map(|task| {
            let mut positions: Vec<i64> = task
                .deletes
                .iter()
                .filter_map(|d| read.get(d.file_path.as_str())?.get(&task.data_file_path))
                .flatten()
                .copied()
                .filter(|p| *p >= 0)
                .collect();
            positions.sort_unstable();
            positions.dedup();
            positions
        })
        .collect())
}

/// The `(file_path, pos)` rows of one position delete file, by data file.
async fn read_position_deletes(
    engine: &Engine,
    path: &str,
    size: u64,
) -> Result<HashMap<String, Vec<i64>>> {
    let (url, object) = split_location(path)?;
    let store = engine.registry().store(&url)?;
    let mut reader = ParquetObjectReader::new(store, object);
    if size > 0 {
        reader = reader.with_file_size(size);
    }
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let (file_column, pos_column) = (
        delete_column(builder.schema(), path, "file_path")?,
        delete_column(builder.schema(), path, "pos")?,
    );
    let mask = ProjectionMask::roots(builder.parquet_schema(), [file_column, pos_column]);
    // The projected batch holds the two columns in file order.
    let (file_index, pos_index) = if file_column < pos_column {
        (0, 1)
    } else {
        (1, 0)
    };
    let mut batches = builder.with_projection(mask).build()?;
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        let files = cast(batch.column(file_index), &DataType::Utf8)?;
        let files = files.as_string::<i32>();
        let positions = cast(batch.column(pos_index), &DataType::Int64)?;
        let positions = positions.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            if files.is_null(i) || positions.is_null(i) {
                continue;
            }
            let (file, pos) = (files.value(i), positions.value(i));
            match out.get_mut(file) {
                Some(list) => list.push(pos),
                None => {
                    out.insert(file.to_string(), vec![pos]);
                }
            }
        }
    }
    Ok(out)
}

/// The index of the column `name` of the position delete file at `path`.
fn delete_column(schema: &arrow::datatypes::Schema, path: &str, name: &str) -> Result<usize> {
    schema
        .fields()
        .iter()
        .position(|f| f.name() == name)
        .ok_or_else(|| {
            FloeError::InvalidInput(format!(
                "position delete file {path} has no '{name}' column"
            ))
        })
}

/// The footers of the data files at `files` (paths in `store`), through
/// the session's file metadata cache, which the scan then reads them from.
pub(super) async fn footers(
    store: &Arc<dyn ObjectStore>,
    cache: &Arc<dyn FileMetadataCache>,
    files: Vec<ObjectMeta>,
) -> Result<Vec<Arc<ParquetMetaData>>> {
    let reads = files.into_iter().map(|meta| {
        let (store, cache) = (Arc::clone(store), Arc::clone(cache));
        async move {
            DFParquetMetadata::new(store.as_ref(), &meta)
                .with_file_metadata_cache(Some(cache))
                .fetch_metadata()
                .await
                .map_err(FloeError::from)
        }
    });
    futures::stream::iter(reads)
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}

/// The row groups and rows of a file with `metadata` to read when the rows
/// at `deleted` (sorted, distinct) are gone: a row group without deletes
/// is read whole, one with every row deleted is skipped, and the others
/// are read through a row selection. Also returns how many rows that
/// removes (positions past the file's end remove none).
pub(super) fn access_plan(
    metadata: &ParquetMetaData,
    deleted: &[i64],
) -> (ParquetAccessPlan, usize) {
    let mut plan = ParquetAccessPlan::new_all(metadata.num_row_groups());
    let mut removed = 0;
    let mut start = 0i64;
    let mut rest = deleted;
    for (index, group) in metadata.row_groups().iter().enumerate() {
        let end = start + group.num_rows();
        let (here, next) = rest.split_at(rest.partition_point(|p| *p < end));
        rest = next;
        removed += here.len();
        if here.len() as i64 == group.num_rows() {
            plan.skip(index);
        } else if !here.is_empty() {
            let mut selectors = Vec::with_capacity(here.len() * 2 + 1);
            let mut at = start;
            for &position in here {
                if position > at {
                    selectors.push(RowSelector::select((position - at) as usize));
                }
                selectors.push(RowSelector::skip(1));
                at = position + 1;
            }
            if end > at {
                selectors.push(RowSelector::select((end - at) as usize));
            }
            plan.scan_selection(index, RowSelection::from(selectors));
        }
        start = end;
    }
    (plan, removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use datafusion::datasource::physical_plan::parquet::RowGroupAccess;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// The footer of a file of `rows` rows in row groups of `group` rows.
    fn metadata(rows: i64, group: usize) -> Arc<ParquetMetaData> {
        let batch = RecordBatch::try_from_iter([(
            "a",
            Arc::new(Int64Array::from_iter_values(0..rows)) as _,
        )])
        .unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let mut bytes = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(bytes),
        )
        .unwrap();
        Arc::clone(builder.metadata())
    }

    #[test]
    fn row_groups_without_deletes_are_read_whole_and_emptied_ones_skipped() {
        // Row groups [0, 4), [4, 8), [8, 10).
        let metadata = metadata(10, 4);
        let (plan, removed) = access_plan(&metadata, &[4, 5, 6, 7, 9, 12]);
        assert_eq!(removed, 5);
        assert!(matches!(plan.inner()[0], RowGroupAccess::Scan));
        assert!(matches!(plan.inner()[1], RowGroupAccess::Skip));
        let RowGroupAccess::Selection(selection) = &plan.inner()[2] else {
            panic!("expected a selection, got {:?}", plan.inner()[2]);
        };
        assert_eq!(
            selection.iter().copied().collect::<Vec<_>>(),
            vec![RowSelector::select(1), RowSelector::skip(1)]
        );
    }

    #[test]
    fn a_selection_skips_each_run_of_deleted_rows() {
        let metadata = metadata(10, 10);
        let (plan, removed) = access_plan(&metadata, &[0, 1, 5, 8]);
        assert_eq!(removed, 4);
        let RowGroupAccess::Selection(selection) = &plan.inner()[0] else {
            panic!("expected a selection, got {:?}", plan.inner()[0]);
        };
        assert_eq!(
            selection.iter().copied().collect::<Vec<_>>(),
            vec![
                RowSelector::skip(2),
                RowSelector::select(3),
                RowSelector::skip(1),
                RowSelector::select(2),
                RowSelector::skip(1),
                RowSelector::select(1),
            ]
        );
    }
}
