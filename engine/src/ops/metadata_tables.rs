//! Iceberg metadata tables, `db."t$snapshots"` and friends, with the columns
//! Spark's Iceberg metadata tables have.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, MapBuilder, RecordBatch, StringArray,
    StringBuilder, StructArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::ScalarValue;
use iceberg::spec::{
    DataContentType, Literal, ManifestContentType, ManifestFile, PrimitiveLiteral,
    SnapshotRetention, Struct, StructType, Type,
};

use crate::error::{Result, invalid};
use crate::scope::Scope;
use crate::table::{LiveFile, LoadedTable};

/// The metadata tables a `t$kind` name can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataTable {
    /// `$snapshots`: every snapshot.
    Snapshots,
    /// `$history`: the snapshot log of `main`.
    History,
    /// `$refs`: branches and tags.
    Refs,
    /// `$files`: the live data files of the current snapshot.
    Files,
    /// `$manifests`: the manifests of the current snapshot.
    Manifests,
    /// `$partitions`: one row per partition of the current snapshot.
    Partitions,
}

impl MetadataTable {
    /// Parse the part after `$`.
    pub fn parse(kind: &str) -> Result<Self> {
        Ok(match kind.to_ascii_lowercase().as_str() {
            "snapshots" => Self::Snapshots,
            "history" => Self::History,
            "refs" => Self::Refs,
            "files" | "data_files" => Self::Files,
            "manifests" => Self::Manifests,
            "partitions" => Self::Partitions,
            other => {
                return Err(invalid!(
                    "unknown metadata table '${other}': expected $snapshots, $history, $refs, \
                     $files, $manifests or $partitions"
                ));
            }
        })
    }
}

/// A provider holding the rows of one metadata table of `table`.
pub async fn metadata_table_provider(
    scope: &Scope,
    table: &LoadedTable,
    kind: MetadataTable,
) -> Result<Arc<dyn TableProvider>> {
    let batch = match kind {
        MetadataTable::Snapshots => snapshots(table)?,
        MetadataTable::History => history(table)?,
        MetadataTable::Refs => refs(table)?,
        MetadataTable::Files => files(scope, table).await?,
        MetadataTable::Manifests => manifests(scope, table).await?,
        MetadataTable::Partitions => partitions(scope, table).await?,
    };
    Ok(Arc::new(MemTable::try_new(
        batch.schema(),
        vec![vec![batch]],
    )?))
}

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()))
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn snapshots(table: &LoadedTable) -> Result<RecordBatch> {
    let mut snapshots: Vec<_> = table.metadata().snapshots().cloned().collect();
    snapshots.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
    let mut summary = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for s in &snapshots {
        let props: BTreeMap<_, _> = s.summary().additional_properties.iter().collect();
        for (k, v) in props {
            summary.keys().append_value(k);
            summary.values().append_value(v);
        }
        summary.append(true)?;
    }
    let summary = summary.finish();
    batch(
        vec![
            Field::new("committed_at", utc_millis(), false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("operation", DataType::Utf8, true),
            Field::new("manifest_list", DataType::Utf8, true),
            Field::new("summary", summary.data_type().clone(), true),
        ],
        vec![
            Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    snapshots.iter().map(|s| s.timestamp_ms()),
                )
                .with_timezone("+00:00"),
            ),
            Arc::new(Int64Array::from_iter_values(
                snapshots.iter().map(|s| s.snapshot_id()),
            )),
            Arc::new(Int64Array::from_iter(
                snapshots.iter().map(|s| s.parent_snapshot_id()),
            )),
            Arc::new(StringArray::from_iter_values(
                snapshots.iter().map(|s| s.summary().operation.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                snapshots.iter().map(|s| s.manifest_list()),
            )),
            Arc::new(summary),
        ],
    )
}

fn history(table: &LoadedTable) -> Result<RecordBatch> {
    let metadata = table.metadata();
    let log = metadata.history();
    // Ancestors of the current snapshot.
    let mut ancestors = std::collections::HashSet::new();
    let mut next = metadata.current_snapshot_id();
    while let Some(id) = next {
        ancestors.insert(id);
        next = metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id());
    }
    batch(
        vec![
            Field::new("made_current_at", utc_millis(), false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("is_current_ancestor", DataType::Boolean, false),
        ],
        vec![
            Arc::new(
                TimestampMillisecondArray::from_iter_values(log.iter().map(|l| l.timestamp_ms))
                    .with_timezone("+00:00"),
            ),
            Arc::new(Int64Array::from_iter_values(
                log.iter().map(|l| l.snapshot_id),
            )),
            Arc::new(Int64Array::from_iter(log.iter().map(|l| {
                metadata
                    .snapshot_by_id(l.snapshot_id)
                    .and_then(|s| s.parent_snapshot_id())
            }))),
            Arc::new(BooleanArray::from_iter(
                log.iter().map(|l| Some(ancestors.contains(&l.snapshot_id))),
            )),
        ],
    )
}

fn refs(table: &LoadedTable) -> Result<RecordBatch> {
    let refs: Vec<_> = table.refs()?.iter().collect();
    let mut kind = Vec::new();
    let mut max_ref_age = Vec::new();
    let mut min_keep = Vec::new();
    let mut max_snapshot_age = Vec::new();
    for (_, r) in &refs {
        match &r.retention {
            SnapshotRetention::Branch {
                min_snapshots_to_keep,
                max_snapshot_age_ms,
                max_ref_age_ms,
            } => {
                kind.push("BRANCH");
                max_ref_age.push(*max_ref_age_ms);
                min_keep.push(*min_snapshots_to_keep);
                max_snapshot_age.push(*max_snapshot_age_ms);
            }
            SnapshotRetention::Tag { max_ref_age_ms } => {
                kind.push("TAG");
                max_ref_age.push(*max_ref_age_ms);
                min_keep.push(None);
                max_snapshot_age.push(None);
            }
        }
    }
    batch(
        vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("max_reference_age_in_ms", DataType::Int64, true),
            Field::new("min_snapshots_to_keep", DataType::Int32, true),
            Field::new("max_snapshot_age_in_ms", DataType::Int64, true),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                refs.iter().map(|(n, _)| n.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(kind)),
            Arc::new(Int64Array::from_iter_values(
                refs.iter().map(|(_, r)| r.snapshot_id),
            )),
            Arc::new(Int64Array::from(max_ref_age)),
            Arc::new(Int32Array::from(min_keep)),
            Arc::new(Int64Array::from(max_snapshot_age)),
        ],
    )
}

async fn current_manifests(scope: &Scope, table: &LoadedTable) -> Result<Vec<ManifestFile>> {
    table.snapshot_manifests(scope.engine()).await
}

fn content_code(content: DataContentType) -> i32 {
    match content {
        DataContentType::Data => 0,
        DataContentType::PositionDeletes => 1,
        DataContentType::EqualityDeletes => 2,
    }
}

async fn live_files(scope: &Scope, table: &LoadedTable) -> Result<Vec<LiveFile>> {
    table.live_files(scope.engine()).await
}

/// Arrow struct type and values for partition tuples, each of its own
/// spec: as in Spark, the struct has every partition field of every spec
/// (by field id), NULL where a file's spec lacks it.
fn partition_column(table: &LoadedTable, tuples: &[(i32, &Struct)]) -> Result<(Field, ArrayRef)> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    // Partition field id -> (name, type), for every spec.
    let mut union: BTreeMap<i32, (String, Type)> = Default::default();
    let mut specs: HashMap<i32, Vec<i32>> = HashMap::new();
    for spec in metadata.partition_specs_iter() {
        let partition_type: StructType = spec.partition_type(schema)?;
        let ids: Vec<i32> = spec.fields().iter().map(|f| f.field_id).collect();
        for (id, field) in ids.iter().zip(partition_type.fields()) {
            union
                .entry(*id)
                .or_insert_with(|| (field.name.clone(), field.field_type.as_ref().clone()));
        }
        specs.insert(spec.spec_id(), ids);
    }
    let mut names = std::collections::HashSet::new();
    let mut fields = Vec::with_capacity(union.len());
    for (id, (name, field_type)) in &union {
        // Two specs may reuse a name for different fields.
        let name = if names.insert(name.clone()) {
            name.clone()
        } else {
            format!("{name}_{id}")
        };
        fields.push(Field::new(
            name,
            iceberg::arrow::type_to_arrow_type(field_type)?,
            true,
        ));
    }
    if fields.is_empty() {
        // Spark shows an empty struct for unpartitioned tables; DataFusion
        // cannot hold one, so the column is a NULL string there.
        let field = Field::new("partition", DataType::Utf8, true);
        let nulls: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>; tuples.len()]));
        return Ok((field, nulls));
    }
    let mut columns = Vec::with_capacity(fields.len());
    for (field, (id, (_, field_type))) in fields.iter().zip(&union) {
        let values = tuples
            .iter()
            .map(|(spec_id, tuple)| {
                let position = specs
                    .get(spec_id)
                    .and_then(|ids| ids.iter().position(|i| i == id));
                let value = position.and_then(|i| tuple.fields().get(i).cloned().flatten());
                scalar(value, field_type, field.data_type())
            })
            .collect::<Result<Vec<_>>>()?;
        columns.push(ScalarValue::iter_to_array(values)?);
    }
    let fields = Fields::from(fields);
    let array = StructArray::try_new(fields.clone(), columns, None)?;
    Ok((
        Field::new("partition", DataType::Struct(fields), true),
        Arc::new(array),
    ))
}

fn scalar(
    value: Option<Literal>,
    iceberg_type: &Type,
    arrow_type: &DataType,
) -> Result<ScalarValue> {
    let Some(Literal::Primitive(p)) = value else {
        return Ok(ScalarValue::try_from(arrow_type)?);
    };
    let v = match (p, iceberg_type) {
        (PrimitiveLiteral::Boolean(b), _) => ScalarValue::Boolean(Some(b)),
        (PrimitiveLiteral::Int(i), Type::Primitive(iceberg::spec::PrimitiveType::Date)) => {
            ScalarValue::Date32(Some(i))
        }
        (PrimitiveLiteral::Int(i), _) => ScalarValue::Int32(Some(i)),
        (PrimitiveLiteral::Long(i), _) => ScalarValue::Int64(Some(i)),
        (PrimitiveLiteral::Float(f), _) => ScalarValue::Float32(Some(f.0)),
        (PrimitiveLiteral::Double(f), _) => ScalarValue::Float64(Some(f.0)),
        (PrimitiveLiteral::String(s), _) => ScalarValue::Utf8(Some(s)),
        (PrimitiveLiteral::Binary(b), _) => ScalarValue::LargeBinary(Some(b)),
        (PrimitiveLiteral::Int128(i), _) => match arrow_type {
            DataType::Decimal128(p, s) => ScalarValue::Decimal128(Some(i), *p, *s),
            _ => ScalarValue::Utf8(Some(i.to_string())),
        },
        (other, _) => ScalarValue::Utf8(Some(format!("{other:?}"))),
    };
    Ok(v.cast_to(arrow_type)?)
}

async fn files(scope: &Scope, table: &LoadedTable) -> Result<RecordBatch> {
    let files = live_files(scope, table).await?;
    let tuples: Vec<(i32, &Struct)> = files
        .iter()
        .map(|f| (f.spec_id, f.file.partition()))
        .collect();
    let (partition_field, partition) = partition_column(table, &tuples)?;
    batch(
        vec![
            Field::new("content", DataType::Int32, false),
            Field::new("file_path", DataType::Utf8, false),
            Field::new("file_format", DataType::Utf8, false),
            Field::new("spec_id", DataType::Int32, false),
            partition_field,
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_size_in_bytes", DataType::Int64, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                files.iter().map(|f| content_code(f.file.content_type())),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.file.file_path()),
            )),
            Arc::new(StringArray::from_iter_values(
                files
                    .iter()
                    .map(|f| f.file.file_format().to_string().to_uppercase()),
            )),
            Arc::new(Int32Array::from_iter_values(
                files.iter().map(|f| f.spec_id),
            )),
            partition,
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| f.file.record_count() as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| f.file.file_size_in_bytes() as i64),
            )),
        ],
    )
}

async fn manifests(scope: &Scope, table: &LoadedTable) -> Result<RecordBatch> {
    let manifests = current_manifests(scope, table).await?;
    let count = |f: fn(&ManifestFile) -> Option<u32>, content: ManifestContentType| {
        Int32Array::from_iter(manifests.iter().map(move |m| {
            Some(if m.content == content {
                f(m).unwrap_or(0) as i32
            } else {
                0
            })
        }))
    };
    batch(
        vec![
            Field::new("content", DataType::Int32, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("length", DataType::Int64, false),
            Field::new("partition_spec_id", DataType::Int32, false),
            Field::new("added_snapshot_id", DataType::Int64, false),
            Field::new("added_data_files_count", DataType::Int32, false),
            Field::new("existing_data_files_count", DataType::Int32, false),
            Field::new("deleted_data_files_count", DataType::Int32, false),
            Field::new("added_delete_files_count", DataType::Int32, false),
            Field::new("existing_delete_files_count", DataType::Int32, false),
            Field::new("deleted_delete_files_count", DataType::Int32, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(manifests.iter().map(
                |m| match m.content {
                    ManifestContentType::Data => 0,
                    ManifestContentType::Deletes => 1,
                },
            ))),
            Arc::new(StringArray::from_iter_values(
                manifests.iter().map(|m| m.manifest_path.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                manifests.iter().map(|m| m.manifest_length),
            )),
            Arc::new(Int32Array::from_iter_values(
                manifests.iter().map(|m| m.partition_spec_id),
            )),
            Arc::new(Int64Array::from_iter_values(
                manifests.iter().map(|m| m.added_snapshot_id),
            )),
            Arc::new(count(|m| m.added_files_count, ManifestContentType::Data)),
            Arc::new(count(|m| m.existing_files_count, ManifestContentType::Data)),
            Arc::new(count(|m| m.deleted_files_count, ManifestContentType::Data)),
            Arc::new(count(|m| m.added_files_count, ManifestContentType::Deletes)),
            Arc::new(count(
                |m| m.existing_files_count,
                ManifestContentType::Deletes,
            )),
            Arc::new(count(
                |m| m.deleted_files_count,
                ManifestContentType::Deletes,
            )),
        ],
    )
}

async fn partitions(scope: &Scope, table: &LoadedTable) -> Result<RecordBatch> {
    #[derive(Default)]
    struct Agg {
        spec_id: i32,
        records: i64,
        files: i32,
        bytes: i64,
        last_snapshot: Option<i64>,
    }
    let files = live_files(scope, table).await?;
    let mut groups: Vec<(Struct, Agg)> = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.file.content_type() == DataContentType::Data)
    {
        let key = f.file.partition().clone();
        let index = match groups
            .iter()
            .position(|(k, a)| *k == key && a.spec_id == f.spec_id)
        {
            Some(i) => i,
            None => {
                groups.push((
                    key,
                    Agg {
                        spec_id: f.spec_id,
                        ..Agg::default()
                    },
                ));
                groups.len() - 1
            }
        };
        let agg = &mut groups[index].1;
        agg.records += f.file.record_count() as i64;
        agg.files += 1;
        agg.bytes += f.file.file_size_in_bytes() as i64;
        agg.last_snapshot = agg.last_snapshot.max(f.snapshot_id);
    }
    let metadata = table.metadata();
    let tuples: Vec<(i32, &Struct)> = groups.iter().map(|(k, a)| (a.spec_id, k)).collect();
    let (partition_field, partition) = partition_column(table, &tuples)?;
    let last_updated = groups.iter().map(|(_, a)| {
        a.last_snapshot
            .and_then(|id| metadata.snapshot_by_id(id))
            .map(|s| s.timestamp_ms())
    });
    batch(
        vec![
            partition_field,
            Field::new("spec_id", DataType::Int32, false),
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_count", DataType::Int32, false),
            Field::new("total_data_file_size_in_bytes", DataType::Int64, false),
            Field::new("last_updated_at", utc_millis(), true),
            Field::new("last_updated_snapshot_id", DataType::Int64, true),
        ],
        vec![
            partition,
            Arc::new(Int32Array::from_iter_values(
                groups.iter().map(|(_, a)| a.spec_id),
            )),
            Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|(_, a)| a.records),
            )),
            Arc::new(Int32Array::from_iter_values(
                groups.iter().map(|(_, a)| a.files),
            )),
            Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|(_, a)| a.bytes),
            )),
            Arc::new(TimestampMillisecondArray::from_iter(last_updated).with_timezone("+00:00")),
            Arc::new(Int64Array::from_iter(
                groups.iter().map(|(_, a)| a.last_snapshot),
            )),
        ],
    )
}
