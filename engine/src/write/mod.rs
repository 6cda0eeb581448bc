//! Data files: writing record batches as parquet files of a table, fanned
//! out per partition and rolled at `write.target-file-size-bytes`, and the
//! DataFusion sink that writes and commits an INSERT.

pub mod position_deletes;
mod sink;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat, TableMetadata};
use iceberg::writer::base_writer::data_file_writer::{DataFileWriter, DataFileWriterBuilder};
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
pub use sink::{IcebergSink, IcebergWriteExec, InsertMode};

use crate::error::{FloeError, Result, invalid, not_found};
use crate::scan::{arrow_schema, with_string_views};
use crate::scope::Scope;

/// Iceberg's default target size of a data file (512 MiB).
pub(crate) const DEFAULT_TARGET_FILE_SIZE: usize = 512 * 1024 * 1024;

type Builder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;
type Writer =
    DataFileWriter<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

enum Inner {
    Unpartitioned(Box<Writer>),
    Partitioned(Box<Partitioned>),
}

struct Partitioned {
    splitter: RecordBatchPartitionSplitter,
    writer: FanoutWriter<Builder>,
}

/// Rows per parquet row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// The largest dictionary a column chunk keeps before it falls back to
/// plain encoding (`write.parquet.dict-size-bytes`). Smaller than Java's
/// 2 MiB: parquet-rs hashes every value until the dictionary is full, so
/// a column of mostly distinct values (keys, comments) pays for a large
/// dictionary it then drops; low-cardinality columns (flags, dates,
/// names) fit easily.
const DEFAULT_DICTIONARY_SIZE: usize = 64 * 1024;

/// Write every row of `rows` as data files of a table; returns the files
/// and the number of rows.
pub async fn write_frame(
    scope: &Scope,
    table: &str,
    metadata: &TableMetadata,
    rows: datafusion::prelude::DataFrame,
) -> Result<(Vec<DataFile>, u64)> {
    let order = write_order(metadata);
    let rows = if order.is_empty() {
        rows
    } else {
        rows.sort(
            order
                .iter()
                .map(|k| datafusion::prelude::ident(&k.column).sort(!k.descending, k.nulls_first))
                .collect(),
        )?
    };
    let mut writers = DataFileWriterSet::try_new(scope, table, metadata).await?;
    let mut stream = rows.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        writers.write(batch?).await?;
    }
    writers.close().await
}

/// Write every batch of `batches` as data files of `table`; returns the
/// files and the number of rows. Columns are matched to the table's by
/// name (as written, else ignoring case); a nullable column the batches
/// lack is written as NULL, and a column the table lacks is an error.
/// A table with a write order gets its rows sorted by it first.
pub async fn write_stream(
    scope: &Scope,
    ctx: &datafusion::prelude::SessionContext,
    table: &str,
    metadata: &TableMetadata,
    mut batches: datafusion::execution::SendableRecordBatchStream,
) -> Result<(Vec<DataFile>, u64)> {
    let target = arrow_schema(metadata.current_schema())?;
    if !write_order(metadata).is_empty() {
        let name = table.to_string();
        let schema = Arc::new(arrow::datatypes::Schema::new(
            target
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let conformed = futures::StreamExt::map(batches, {
            let target = Arc::clone(&target);
            move |batch| Ok(by_name(&name, &target, batch?)?)
        });
        let stream: datafusion::execution::SendableRecordBatchStream = Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                Arc::clone(&schema),
                conformed,
            ),
        );
        let partition = Arc::new(OnceStream::new(schema, stream));
        let source = datafusion::catalog::streaming::StreamingTable::try_new(
            Arc::clone(&partition.schema),
            vec![partition],
        )?;
        let rows = ctx.read_table(Arc::new(source))?;
        return write_frame(scope, table, metadata, rows).await;
    }
    // A small stream is one writer's (one file per partition). Past
    // `SERIAL_BATCHES`, the batches are dealt out to a writer per core,
    // each decoding, encoding and compressing its share at once.
    let mut first = DataFileWriterSet::try_new(scope, table, metadata).await?;
    for _ in 0..SERIAL_BATCHES {
        match futures::StreamExt::next(&mut batches).await {
            Some(batch) => first.write(by_name(table, &target, batch?)?).await?,
            None => return first.close().await,
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut senders = Vec::with_capacity(cores);
    let mut tasks = Vec::with_capacity(cores);
    let mut first = Some(first);
    for _ in 0..cores {
        let mut writer = match first.take() {
            Some(writer) => writer,
            None => DataFileWriterSet::try_new(scope, table, metadata).await?,
        };
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        senders.push(sender);
        // Dropping the handle (a failed ingest) stops the task.
        tasks.push(datafusion::common::runtime::SpawnedTask::spawn(
            async move {
                while let Some(batch) = receiver.recv().await {
                    writer.write(batch).await?;
                }
                writer.close().await
            },
        ));
    }
    let mut next = 0;
    while let Some(batch) = futures::StreamExt::next(&mut batches).await {
        let batch = by_name(table, &target, batch?)?;
        if senders[next].send(batch).await.is_err() {
            // The writer failed: its task says why, below.
            break;
        }
        next = (next + 1) % senders.len();
    }
    drop(senders);
    join_writers(tasks).await
}

/// Batches one writer takes before an input is written by several at
/// once: a small INSERT or append stays one file per table partition.
pub(crate) const SERIAL_BATCHES: usize = 16;

/// A writer running on its own task: the files and rows it wrote.
pub(crate) type WriterTask = datafusion::common::runtime::SpawnedTask<Result<(Vec<DataFile>, u64)>>;

/// Wait for every writer task; their files and rows together.
pub(crate) async fn join_writers(tasks: Vec<WriterTask>) -> Result<(Vec<DataFile>, u64)> {
    let (mut files, mut rows) = (Vec::new(), 0);
    for task in tasks {
        let (more, n) = task
            .join_unwind()
            .await
            .map_err(|e| FloeError::Internal(format!("a writer task failed: {e}")))??;
        files.extend(more);
        rows += n;
    }
    Ok((files, rows))
}

/// A stream DataFusion reads once, as one partition.
struct OnceStream {
    schema: SchemaRef,
    stream: std::sync::Mutex<Option<datafusion::execution::SendableRecordBatchStream>>,
}

impl OnceStream {
    fn new(schema: SchemaRef, stream: datafusion::execution::SendableRecordBatchStream) -> Self {
        Self {
            schema,
            stream: std::sync::Mutex::new(Some(stream)),
        }
    }
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceStream").finish()
    }
}

impl datafusion::physical_plan::streaming::PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::execution::SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        match taken {
            Some(stream) => stream,
            None => Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    Arc::clone(&self.schema),
                    futures::stream::once(async {
                        Err(datafusion::error::DataFusionError::Internal(
                            "the rows of an append were read twice".into(),
                        ))
                    }),
                ),
            ),
        }
    }
}

/// `batch`'s columns in `target`'s order, matched by name.
fn by_name(table: &str, target: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    let source = batch.schema();
    let find = |name: &str| {
        source.index_of(name).ok().or_else(|| {
            source
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
    };
    let mut used = vec![false; source.fields().len()];
    let mut columns = Vec::with_capacity(target.fields().len());
    let mut fields = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        match find(field.name()) {
            Some(i) => {
                used[i] = true;
                columns.push(Arc::clone(batch.column(i)));
                fields.push(
                    source
                        .field(i)
                        .as_ref()
                        .clone()
                        .with_name(field.name())
                        .with_nullable(true),
                );
            }
            None if field.is_nullable() => {
                columns.push(arrow::array::new_null_array(
                    field.data_type(),
                    batch.num_rows(),
                ));
                fields.push(field.as_ref().clone());
            }
            None => {
                return Err(invalid!(
                    "table '{table}': the rows have no column '{}', which is declared NOT NULL",
                    field.name()
                ));
            }
        }
    }
    if let Some(extra) = used.iter().position(|u| !u) {
        return Err(not_found!(
            "table '{table}' has no column '{}' (its columns: {})",
            source.field(extra).name(),
            target
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// One key of a table's write order that writes can sort by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOrderKey {
    /// The column.
    pub column: String,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST`.
    pub nulls_first: bool,
}

/// The keys of the table's sort order (`WRITE ORDERED BY`) that rows are
/// sorted by before they are written: the leading keys on plain columns
/// (a key on a transform, such as `bucket`, and those after it, are not
/// applied yet).
pub fn write_order(metadata: &TableMetadata) -> Vec<WriteOrderKey> {
    let schema = metadata.current_schema();
    metadata
        .default_sort_order()
        .fields
        .iter()
        .map_while(|f| {
            if f.transform != iceberg::spec::Transform::Identity {
                return None;
            }
            Some(WriteOrderKey {
                column: schema.name_by_field_id(f.source_id)?.to_string(),
                descending: f.direction == iceberg::spec::SortDirection::Descending,
                nulls_first: f.null_order == iceberg::spec::NullOrder::First,
            })
        })
        .collect()
}

/// Writes the data files of one statement into one table.
pub struct DataFileWriterSet {
    table: String,
    schema: SchemaRef,
    /// For an unpartitioned table: `schema` with top-level strings and
    /// binaries as views, the form DataFusion produces them in. The
    /// parquet encoder takes views as they are; casting them to plain
    /// strings would copy every value. (Partition transforms take only
    /// plain strings.)
    view_schema: Option<SchemaRef>,
    required: Vec<usize>,
    inner: Inner,
    rows: u64,
}

impl DataFileWriterSet {
    /// Writers for `metadata`'s current schema and default partition spec.
    pub async fn try_new(scope: &Scope, table: &str, metadata: &TableMetadata) -> Result<Self> {
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let bytes = |key: &str, default: usize| -> Result<usize> {
            match metadata.properties().get(key) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    invalid!("table '{table}': property {key} = '{v}' is not a number of bytes")
                }),
            }
        };
        let target_size = bytes("write.target-file-size-bytes", DEFAULT_TARGET_FILE_SIZE)?;
        let dictionary_size = bytes("write.parquet.dict-size-bytes", DEFAULT_DICTIONARY_SIZE)?;
        let compression = match metadata
            .properties()
            .get("write.parquet.compression-codec")
            .map(|c| c.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("zstd") => Compression::ZSTD(ZstdLevel::try_new(1)?),
            Some("snappy") => Compression::SNAPPY,
            Some("gzip") => Compression::GZIP(Default::default()),
            Some("lz4") => Compression::LZ4_RAW,
            Some("uncompressed" | "none") => Compression::UNCOMPRESSED,
            Some(other) => {
                return Err(invalid!(
                    "table '{table}': write.parquet.compression-codec = '{other}' is not zstd, \
                     snappy, gzip, lz4 or uncompressed"
                ));
            }
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            // Row groups of about a hundred thousand rows, as DuckDB and
            // tpchgen write: a file of any size is read with every core.
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_dictionary_page_size_limit(dictionary_size)
            .build();
        let rolling = RollingFileWriterBuilder::new(
            ParquetWriterBuilder::new(properties, schema.clone()),
            target_size,
            scope.engine().file_io().clone(),
            DefaultLocationGenerator::new(metadata)?,
            DefaultFileNameGenerator::new(
                format!("00000-{}", uuid::Uuid::now_v7()),
                None,
                DataFileFormat::Parquet,
            ),
        );
        let builder = DataFileWriterBuilder::new(rolling);
        let inner = if spec.is_unpartitioned() {
            Inner::Unpartitioned(Box::new(builder.build(None).await?))
        } else {
            Inner::Partitioned(Box::new(Partitioned {
                splitter: RecordBatchPartitionSplitter::try_new_with_computed_values(
                    schema.clone(),
                    spec,
                )?,
                writer: FanoutWriter::new(builder),
            }))
        };
        let arrow = arrow_schema(&schema)?;
        let view_schema =
            matches!(inner, Inner::Unpartitioned(_)).then(|| with_string_views(&arrow));
        let required = arrow
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_nullable())
            .map(|(i, _)| i)
            .collect();
        Ok(Self {
            table: table.to_string(),
            schema: arrow,
            view_schema,
            required,
            inner,
            rows: 0,
        })
    }

    /// Write one batch (columns in table order, types castable to the table's).
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(batch)?;
        self.rows += batch.num_rows() as u64;
        match &mut self.inner {
            Inner::Unpartitioned(writer) => writer.write(batch).await?,
            Inner::Partitioned(p) => {
                for (key, part) in p.splitter.split(&batch)? {
                    p.writer.write(key, part).await?;
                }
            }
        }
        Ok(())
    }

    /// Close every file; returns the data files and the rows written.
    pub async fn close(self) -> Result<(Vec<DataFile>, u64)> {
        let files = match self.inner {
            Inner::Unpartitioned(mut writer) => writer.close().await?,
            Inner::Partitioned(p) => p.writer.close().await?,
        };
        Ok((files, self.rows))
    }

    /// Give the batch the table's exact arrow schema (field ids included),
    /// refusing NULLs in NOT NULL columns with the column's name.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(FloeError::Internal(format!(
                "table '{}': a batch of {} columns for {} table columns",
                self.table,
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        for &i in &self.required {
            if batch.column(i).null_count() > 0 {
                return Err(invalid!(
                    "NULL value in column '{}' of table '{}', which is declared NOT NULL",
                    self.schema.field(i).name(),
                    self.table
                ));
            }
        }
        // Views go to the encoder as they are when every string column
        // comes as a view.
        let schema = match &self.view_schema {
            Some(views)
                if batch
                    .columns()
                    .iter()
                    .zip(views.fields().iter().zip(self.schema.fields()))
                    .all(|(c, (view, plain))| {
                        view.data_type() == plain.data_type() || c.data_type() == view.data_type()
                    }) =>
            {
                views
            }
            _ => &self.schema,
        };
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(Arc::clone(column))
                } else {
                    arrow::compute::cast(column, field.data_type()).map_err(|e| {
                        invalid!(
                            "column '{}' of table '{}': cannot store {} as {}: {e}",
                            field.name(),
                            self.table,
                            column.data_type(),
                            field.data_type()
                        )
                    })
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}
