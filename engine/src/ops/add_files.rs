//! `CALL system.add_files(table => 'db.t', source_table => '`parquet`.`<path>`')`:
//! register existing Parquet files as data files of a table, without
//! copying a byte, as Spark's procedure and PyIceberg's `add_files` do.
//!
//! Each file's footer gives its row count, column sizes, value and null
//! counts and column bounds for the manifest. A file's columns are matched
//! to the table's by field id when the file has ids, by name otherwise (the
//! table then gets a `schema.name-mapping.default`, which other Iceberg
//! readers need for such files). A partitioned table takes files that each
//! hold one partition, found from the bounds of the partition's source
//! columns, as PyIceberg does. Nothing is committed unless every file fits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use futures::TryStreamExt;
use iceberg::spec::{
    DEFAULT_SCHEMA_NAME_MAPPING, DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum,
    Literal, NestedField, PartitionSpec, PrimitiveType, Struct, Type,
};
use iceberg::transform::create_transform_function;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};
use parquet::file::metadata::ParquetMetaData;

use crate::commit::SnapshotUpdate;
use crate::error::{FloeError, Result, already_exists, invalid};
use crate::scan::field_ids::field_id;
use crate::scan::filter::datum;
use crate::scope::Scope;
use crate::storage::{WarehouseUri, split_location};
use crate::table::LoadedTable;

/// Where `add_files` takes files from: `` `parquet`.`<path>` ``, a Parquet
/// file or a directory of them (searched recursively).
pub fn parse_source(source: &str) -> Result<String> {
    let bad = || {
        invalid!(
            "CALL system.add_files: source_table must be `parquet`.`<path>` (a Parquet file or \
             a directory of them), not '{source}'"
        )
    };
    let (format, path) = source.trim().split_once('.').ok_or_else(bad)?;
    let format = format.trim().trim_matches('`');
    let path = path.trim();
    let path = path
        .strip_prefix('`')
        .and_then(|p| p.strip_suffix('`'))
        .unwrap_or(path);
    if !format.eq_ignore_ascii_case("parquet") {
        return Err(invalid!(
            "CALL system.add_files: files of format '{format}' cannot be added; Floe adds \
             Parquet files (`parquet`.`<path>`)"
        ));
    }
    if path.is_empty() {
        return Err(bad());
    }
    Ok(path.to_string())
}

/// Add the Parquet files at `source` (a file or directory location) to
/// `table`'s branch in one append; returns Spark's result row
/// (`added_files_count`, `changed_partition_count`).
pub async fn add_files(
    scope: &Scope,
    table: LoadedTable,
    source: &str,
    check_duplicate_files: bool,
) -> Result<RecordBatch> {
    table.write_branch()?;
    let files = parquet_files_at(scope, source).await?;
    if files.is_empty() {
        return Err(invalid!(
            "CALL system.add_files: no Parquet files at '{}' (it is neither a file nor a \
             directory holding *.parquet files)",
            WarehouseUri::parse(source)?.as_str().trim_end_matches('/')
        ));
    }
    if check_duplicate_files {
        let live = table.live_files_by_path(scope.engine()).await?;
        let present: Vec<&str> = files
            .iter()
            .map(|f| f.location.as_str())
            .filter(|l| live.contains_key(*l))
            .take(3)
            .collect();
        if !present.is_empty() {
            return Err(already_exists!(
                "CALL system.add_files: table '{}' already has data file(s) {} (pass \
                 check_duplicate_files => false to add them again)",
                table.ident(),
                present.join(", ")
            ));
        }
    }
    let (data_files, mapping) = describe_files(&table, &files, "CALL system.add_files").await?;
    let partitions: HashSet<&Struct> = data_files.iter().map(|f| f.partition()).collect();
    let changed_partitions = partitions.len() as i64;
    let added = data_files.len() as i64;
    let mut update = SnapshotUpdate::append(data_files);
    if let Some(mapping) = mapping {
        update = update.with_property(DEFAULT_SCHEMA_NAME_MAPPING, mapping);
    }
    update.commit(&scope.target()?, table).await?;
    super::counts_row(&[
        ("added_files_count", added),
        ("changed_partition_count", changed_partitions),
    ])
}

/// The data file entries of Parquet `files` for `table`, each checked to
/// fit its columns (errors start with `context`), and the name mapping the
/// table needs when a file has no field ids and the table has none yet.
pub(crate) async fn describe_files(
    table: &LoadedTable,
    files: &[SourceFile],
    context: &str,
) -> Result<(Vec<DataFile>, Option<String>)> {
    let schema = table.metadata().current_schema().clone();
    let spec = table.metadata().default_partition_spec().clone();
    let table_arrow = crate::scan::arrow_schema(&schema)?;
    let mut data_files = Vec::with_capacity(files.len());
    let mut without_ids = false;
    for file in files {
        let (data_file, has_ids) = describe_file(table, &table_arrow, &spec, file, context).await?;
        without_ids |= !has_ids;
        data_files.push(data_file);
    }
    let mapping = if without_ids
        && !table
            .metadata()
            .properties()
            .contains_key(DEFAULT_SCHEMA_NAME_MAPPING)
    {
        Some(name_mapping(&schema, None)?)
    } else {
        None
    };
    Ok((data_files, mapping))
}

/// A Parquet file to add: its store, its path there, its size and the
/// location the manifest records.
pub(crate) struct SourceFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Its location, as a manifest records it.
    pub(crate) location: String,
}

/// The Parquet files at `source`: the file itself, or every `*.parquet`
/// under the directory (hidden and `_`-prefixed names skipped), by path;
/// none if there are none.
pub(crate) async fn parquet_files_at(scope: &Scope, source: &str) -> Result<Vec<SourceFile>> {
    let uri = WarehouseUri::parse(source)?;
    let (store_url, path) = split_location(uri.as_str())?;
    let store = scope.engine().registry().store(&store_url)?;
    let location_of = |p: &Path| format!("{}://{}/{p}", store_url.scheme(), store_url.authority());
    if let Ok(meta) = store.head(&path).await {
        return Ok(vec![SourceFile {
            store: Arc::clone(&store),
            location: location_of(&meta.location),
            path: meta.location,
            size: meta.size,
        }]);
    }
    let mut listed: Vec<_> = store.list(Some(&path)).try_collect().await?;
    // Below the directory, hidden and `_`-prefixed names (`_SUCCESS`,
    // `.crc`, `_temporary/`) are not data.
    listed.retain(|m| {
        m.location
            .filename()
            .is_some_and(|n| n.ends_with(".parquet"))
            && m.location.prefix_match(&path).is_some_and(|mut below| {
                below.all(|p| !p.as_ref().starts_with('.') && !p.as_ref().starts_with('_'))
            })
    });
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(listed
        .into_iter()
        .map(|m| SourceFile {
            store: Arc::clone(&store),
            location: location_of(&m.location),
            path: m.location,
            size: m.size,
        })
        .collect())
}

/// Read `file`'s footer and make its data file entry, checking that its
/// columns fit the table. Returns whether the file has field ids.
async fn describe_file(
    table: &LoadedTable,
    table_arrow: &SchemaRef,
    spec: &PartitionSpec,
    file: &SourceFile,
    context: &str,
) -> Result<(DataFile, bool)> {
    let location = &file.location;
    let mut reader = ParquetObjectReader::new(Arc::clone(&file.store), file.path.clone())
        .with_file_size(file.size);
    let metadata = reader
        .get_metadata(None)
        .await
        .map_err(|e| invalid!("{context}: cannot read the Parquet footer of {location}: {e}"))?;
    let file_arrow = parquet::arrow::parquet_to_arrow_schema(
        metadata.file_metadata().schema_descr(),
        metadata.file_metadata().key_value_metadata(),
    )?;
    let has_ids = file_arrow.fields().iter().any(|f| field_id(f).is_some());
    let schema = table.metadata().current_schema();
    let fail = |what: String| {
        invalid!(
            "{context}: {location} does not fit table '{}': {what}",
            table.ident()
        )
    };
    // Table column -> the file's column of the same field id (or name).
    let mut matched: Vec<(&NestedField, &Field)> = Vec::new();
    let mut used = HashSet::new();
    for (table_field, arrow_field) in schema.as_struct().fields().iter().zip(table_arrow.fields()) {
        let file_field = file_arrow.fields().iter().find(|f| {
            if has_ids {
                field_id(f) == Some(table_field.id)
            } else {
                f.name() == &table_field.name
            }
        });
        let Some(file_field) = file_field else {
            if table_field.required {
                return Err(fail(format!(
                    "it has no column '{}', which is NOT NULL",
                    table_field.name
                )));
            }
            continue;
        };
        if has_ids && file_field.name() != &table_field.name {
            return Err(fail(format!(
                "its column '{}' has field id {}, which is column '{}' in the table",
                file_field.name(),
                table_field.id,
                table_field.name
            )));
        }
        if !readable_as(file_field.data_type(), arrow_field.data_type()) {
            return Err(fail(format!(
                "column '{}' is {} in the file, which does not read as the table's {}",
                table_field.name,
                file_field.data_type(),
                table_field.field_type
            )));
        }
        used.insert(file_field.name().clone());
        matched.push((table_field.as_ref(), file_field.as_ref()));
    }
    if let Some(extra) = file_arrow
        .fields()
        .iter()
        .find(|f| !used.contains(f.name()))
    {
        return Err(fail(format!(
            "the table has no column '{}'{}",
            extra.name(),
            match field_id(extra) {
                Some(id) if has_ids => format!(" (field id {id})"),
                _ => String::new(),
            }
        )));
    }

    let mut stats = FileStats::default();
    for (table_field, file_field) in &matched {
        column_stats(&metadata, &file_arrow, table_field, file_field, &mut stats)
            .map_err(|e| fail(e.to_string()))?;
        if table_field.required && stats.null_counts.get(&table_field.id) != Some(&0) {
            return Err(fail(format!(
                "column '{}' is NOT NULL in the table, but the file {}",
                table_field.name,
                match stats.null_counts.get(&table_field.id) {
                    Some(n) => format!("has {n} NULL(s) in it"),
                    None => "does not record how many NULLs it has".to_string(),
                }
            )));
        }
    }
    let partition = partition_of(spec, &stats).map_err(|e| fail(e.to_string()))?;
    let rows = u64::try_from(metadata.file_metadata().num_rows()).unwrap_or_default();
    let mut builder = DataFileBuilder::default();
    builder
        .content(DataContentType::Data)
        .file_path(location.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(partition)
        .partition_spec_id(spec.spec_id())
        .record_count(rows)
        .file_size_in_bytes(file.size)
        .column_sizes(stats.sizes)
        .value_counts(stats.value_counts)
        .null_value_counts(stats.null_counts)
        .lower_bounds(stats.lower)
        .upper_bounds(stats.upper)
        .split_offsets(Some(
            metadata
                .row_groups()
                .iter()
                .filter_map(|g| g.file_offset())
                .collect(),
        ));
    let data_file = builder
        .build()
        .map_err(|e| FloeError::Internal(format!("data file entry for {location}: {e}")))?;
    Ok((data_file, has_ids))
}

/// Whether a file column of type `file` reads as a table column of type
/// `table`: the same type (strings and binaries in any layout), or one of
/// Iceberg's promotions (int to long, float to double, a decimal to a
/// wider one of the same scale).
fn readable_as(file: &DataType, table: &DataType) -> bool {
    use DataType as D;
    let string = |t: &DataType| matches!(t, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let binary = |t: &DataType| matches!(t, D::Binary | D::LargeBinary | D::BinaryView);
    match (file, table) {
        (a, b) if string(a) && string(b) => true,
        (a, b) if binary(a) && binary(b) => true,
        (D::Int32 | D::Int16 | D::Int8, D::Int32 | D::Int64) | (D::Int64, D::Int64) => true,
        (D::Float32, D::Float32 | D::Float64) | (D::Float64, D::Float64) => true,
        (D::Decimal128(p, s), D::Decimal128(tp, ts)) => s == ts && p <= tp,
        (D::Timestamp(_, a), D::Timestamp(_, b)) => a.is_some() == b.is_some(),
        (D::Struct(a), D::Struct(b)) => a.iter().all(|f| {
            b.iter()
                .find(|t| t.name() == f.name())
                .is_some_and(|t| readable_as(f.data_type(), t.data_type()))
        }),
        (D::List(a) | D::LargeList(a), D::List(b) | D::LargeList(b)) => {
            readable_as(a.data_type(), b.data_type())
        }
        (D::Map(a, _), D::Map(b, _)) => readable_as(a.data_type(), b.data_type()),
        (a, b) => a == b,
    }
}

/// A file's statistics, by field id, in the manifest's terms.
#[derive(Default)]
struct FileStats {
    sizes: HashMap<i32, u64>,
    value_counts: HashMap<i32, u64>,
    null_counts: HashMap<i32, u64>,
    lower: HashMap<i32, Datum>,
    upper: HashMap<i32, Datum>,
}

/// Sizes, counts and (for primitive columns) bounds of one table column.
fn column_stats(
    metadata: &ParquetMetaData,
    file_arrow: &Schema,
    table_field: &NestedField,
    file_field: &Field,
    stats: &mut FileStats,
) -> Result<()> {
    let id = table_field.id;
    let Type::Primitive(primitive) = table_field.field_type.as_ref() else {
        // Nested columns: sizes only, summed over their leaves.
        for group in metadata.row_groups() {
            for column in group.columns() {
                if column.column_descr().path().parts().first() == Some(file_field.name()) {
                    *stats.sizes.entry(id).or_default() += column.compressed_size() as u64;
                }
            }
        }
        return Ok(());
    };
    let converter = StatisticsConverter::try_new(
        file_field.name(),
        file_arrow,
        metadata.file_metadata().schema_descr(),
    )?;
    let Some(index) = converter.parquet_column_index() else {
        return Ok(());
    };
    let groups = metadata.row_groups();
    let mut value_count = 0u64;
    let mut size = 0u64;
    for group in groups {
        let column = group.column(index);
        size += column.compressed_size() as u64;
        value_count += column.num_values() as u64;
    }
    stats.sizes.insert(id, size);
    stats.value_counts.insert(id, value_count);
    let nulls = converter.row_group_null_counts(groups.iter())?;
    if nulls.null_count() == 0 {
        stats
            .null_counts
            .insert(id, nulls.values().iter().copied().sum());
    }
    let rows = converter.row_group_row_counts(groups.iter())?;
    let mins = converter.row_group_mins(groups.iter())?;
    let maxes = converter.row_group_maxes(groups.iter())?;
    let bound = |values: &ArrayRef, pick_max: bool| -> Result<Option<Datum>> {
        let mut best: Option<ScalarValue> = None;
        for i in 0..values.len() {
            let all_null = match (&rows, nulls.is_valid(i)) {
                (Some(rows), true) => rows.is_valid(i) && rows.value(i) == nulls.value(i),
                _ => false,
            };
            if values.is_null(i) {
                if all_null {
                    continue;
                }
                // A row group with values but no bound: the file has none.
                return Ok(None);
            }
            let value = ScalarValue::try_from_array(values, i)?;
            best = match best {
                None => Some(value),
                Some(b) => {
                    let better = match value.partial_cmp(&b) {
                        Some(std::cmp::Ordering::Greater) => pick_max,
                        Some(std::cmp::Ordering::Less) => !pick_max,
                        _ => false,
                    };
                    Some(if better { value } else { b })
                }
            };
        }
        Ok(best.and_then(|v| bound_datum(&v, primitive)))
    };
    if let Some(lower) = bound(&mins, false)? {
        stats.lower.insert(id, lower);
    }
    if let Some(upper) = bound(&maxes, true)? {
        stats.upper.insert(id, upper);
    }
    Ok(())
}

/// A bound as an Iceberg value of the table column's type: only when the
/// file's value converts without loss (a widened int, float or decimal).
fn bound_datum(value: &ScalarValue, column: &PrimitiveType) -> Option<Datum> {
    match (column, value) {
        (PrimitiveType::Long, v) => match v.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(Some(n)) => Some(Datum::long(n)),
            _ => None,
        },
        (PrimitiveType::Double, ScalarValue::Float32(Some(f))) => {
            Some(Datum::double(f64::from(*f)))
        }
        (PrimitiveType::Decimal { .. }, ScalarValue::Decimal128(Some(v), _, _)) => {
            Datum::try_from_bytes(&v.to_be_bytes(), column.clone()).ok()
        }
        (PrimitiveType::Timestamp | PrimitiveType::Timestamptz, v)
            if !matches!(
                v,
                ScalarValue::TimestampMicrosecond(..) | ScalarValue::TimestampMillisecond(..)
            ) =>
        {
            None
        }
        (PrimitiveType::Timestamp | PrimitiveType::Timestamptz, v) => {
            let micros = v
                .cast_to(&DataType::Timestamp(
                    arrow::datatypes::TimeUnit::Microsecond,
                    match column {
                        PrimitiveType::Timestamptz => Some("+00:00".into()),
                        _ => None,
                    },
                ))
                .ok()?;
            datum(&micros)
        }
        (_, v) => datum(v).filter(|d| d.data_type() == column),
    }
}

/// The partition of a file of `spec`: each partition field's transform of
/// its source column's lower and upper bound must agree (a column of only
/// NULLs is the NULL partition).
fn partition_of(spec: &PartitionSpec, stats: &FileStats) -> Result<Struct> {
    if spec.is_unpartitioned() {
        return Ok(Struct::empty());
    }
    let mut values: Vec<Option<Literal>> = Vec::new();
    for field in spec.fields() {
        let source = field.source_id;
        let (lower, upper) = (stats.lower.get(&source), stats.upper.get(&source));
        let value = match (lower, upper) {
            (Some(lower), Some(upper)) => {
                let transform = create_transform_function(&field.transform)?;
                let (a, b) = (
                    transform.transform_literal(lower)?,
                    transform.transform_literal(upper)?,
                );
                if a != b {
                    return Err(invalid!(
                        "its rows span more than one value of partition field '{}' (from {} \
                         to {}); add_files takes files that each hold one partition",
                        field.name,
                        lower,
                        upper
                    ));
                }
                a.map(Literal::from)
            }
            (None, None)
                if stats.value_counts.contains_key(&source)
                    && stats.null_counts.get(&source) == stats.value_counts.get(&source) =>
            {
                None
            }
            _ => {
                return Err(invalid!(
                    "it records no bounds for the source column of partition field '{}', so \
                     its partition is unknown",
                    field.name
                ));
            }
        };
        values.push(value);
    }
    Ok(Struct::from_iter(values))
}

/// The table's name mapping (`schema.name-mapping.default`): each field id
/// with its names, nested fields included, as Java and PyIceberg write it.
/// Names a `previous` mapping gave a field id are kept after the current
/// one, so files written before a rename still map.
pub fn name_mapping(schema: &iceberg::spec::Schema, previous: Option<&str>) -> Result<String> {
    fn collect(fields: &[serde_json::Value], into: &mut HashMap<i64, Vec<String>>) {
        for field in fields {
            if let Some(id) = field.get("field-id").and_then(|v| v.as_i64()) {
                let names = field
                    .get("names")
                    .and_then(|n| n.as_array())
                    .map(|n| n.iter().filter_map(|v| v.as_str().map(String::from)));
                into.entry(id)
                    .or_default()
                    .extend(names.into_iter().flatten());
            }
            if let Some(children) = field.get("fields").and_then(|f| f.as_array()) {
                collect(children, into);
            }
        }
    }
    fn fields(
        fields: &[iceberg::spec::NestedFieldRef],
        old: &HashMap<i64, Vec<String>>,
    ) -> Vec<serde_json::Value> {
        fields.iter().map(|f| mapped(f, old)).collect()
    }
    fn mapped(field: &NestedField, old: &HashMap<i64, Vec<String>>) -> serde_json::Value {
        let mut names = vec![field.name.clone()];
        for name in old.get(&i64::from(field.id)).into_iter().flatten() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let mut entry = serde_json::json!({ "field-id": field.id, "names": names });
        let children = match field.field_type.as_ref() {
            Type::Struct(s) => fields(s.fields(), old),
            Type::List(l) => vec![mapped(&l.element_field, old)],
            Type::Map(m) => vec![mapped(&m.key_field, old), mapped(&m.value_field, old)],
            Type::Primitive(_) => Vec::new(),
        };
        if !children.is_empty() {
            entry["fields"] = serde_json::Value::Array(children);
        }
        entry
    }
    let mut old = HashMap::new();
    if let Some(previous) = previous {
        let parsed: serde_json::Value = serde_json::from_str(previous)?;
        collect(
            parsed.as_array().map(Vec::as_slice).unwrap_or_default(),
            &mut old,
        );
    }
    Ok(serde_json::to_string(&fields(
        schema.as_struct().fields(),
        &old,
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_parquet_paths() {
        assert_eq!(parse_source("`parquet`.`/data/t`").unwrap(), "/data/t");
        assert_eq!(
            parse_source("parquet.`s3://b/k/x.parquet`").unwrap(),
            "s3://b/k/x.parquet"
        );
        let err = parse_source("`orc`.`/data/t`").unwrap_err().to_string();
        assert!(err.contains("format 'orc'"), "{err}");
        let err = parse_source("db.t").unwrap_err().to_string();
        assert!(err.contains("format 'db'"), "{err}");
        assert!(parse_source("nothing").is_err());
    }

    #[test]
    fn promotions_read_and_others_do_not() {
        use DataType as D;
        assert!(readable_as(&D::Utf8View, &D::Utf8));
        assert!(readable_as(&D::Int32, &D::Int64));
        assert!(!readable_as(&D::Int64, &D::Int32));
        assert!(readable_as(&D::Decimal128(10, 2), &D::Decimal128(15, 2)));
        assert!(!readable_as(&D::Decimal128(15, 3), &D::Decimal128(15, 2)));
        assert!(!readable_as(&D::Utf8, &D::Int64));
    }
}
