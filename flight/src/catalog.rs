//! The metadata commands: branches are Flight SQL catalogs, namespaces
//! are its schemas, and a branch's tables are the tables on it.

use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTableTypes,
    CommandGetTables,
};
use floe_engine::{NamespaceIdent, TableIdent};
use tonic::Status;

use crate::error::{internal, status};
use crate::results::plain_type;
use crate::sessions::ClientSession;

/// The one table type.
const TABLE: &str = "TABLE";

pub(crate) async fn catalogs(
    client: &ClientSession,
    query: CommandGetCatalogs,
) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for branch in client.session.branches().await.map_err(status)?.keys() {
        builder.append(branch);
    }
    builder
        .build()
        .map_err(|e| internal("cannot list the catalogs", e))
}

pub(crate) async fn db_schemas(
    client: &ClientSession,
    query: CommandGetDbSchemas,
) -> Result<RecordBatch, Status> {
    let wanted = query.catalog.clone();
    let mut builder = query.into_builder();
    let namespaces = client.session.namespaces().await.map_err(status)?;
    for branch in client.session.branches().await.map_err(status)?.keys() {
        if wanted.as_ref().is_some_and(|w| w != branch) {
            continue;
        }
        for namespace in &namespaces {
            builder.append(branch, namespace.join("."));
        }
    }
    builder
        .build()
        .map_err(|e| internal("cannot list the schemas", e))
}

pub(crate) async fn tables(
    client: &ClientSession,
    query: CommandGetTables,
) -> Result<RecordBatch, Status> {
    let wanted = query.catalog.clone();
    let include_schema = query.include_schema;
    let types_wanted = query.table_types.is_empty() || query.table_types.iter().any(|t| t == TABLE);
    let mut builder = query.into_builder();
    if types_wanted {
        for (branch, tables) in client.session.branches().await.map_err(status)? {
            if wanted.as_ref().is_some_and(|w| *w != branch) {
                continue;
            }
            for table in tables {
                let ident = table.ident();
                let schema = if include_schema {
                    columns_schema(&table.arrow_schema().map_err(status)?, &branch, ident)
                } else {
                    Schema::empty()
                };
                builder
                    .append(
                        &branch,
                        ident.namespace().join("."),
                        ident.name(),
                        TABLE,
                        &schema,
                    )
                    .map_err(|e| internal("cannot list the tables", e))?;
            }
        }
    }
    builder
        .build()
        .map_err(|e| internal("cannot list the tables", e))
}

pub(crate) fn table_types(query: CommandGetTableTypes) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    builder.append(TABLE);
    builder
        .build()
        .map_err(|e| internal("cannot list the table types", e))
}

/// The schema of GetPrimaryKeys, as the Flight SQL spec gives it.
pub(crate) fn primary_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ])
}

/// A table's identifier fields (`ALTER TABLE ... SET IDENTIFIER FIELDS`)
/// are its primary key.
pub(crate) async fn primary_keys(
    client: &ClientSession,
    query: CommandGetPrimaryKeys,
) -> Result<RecordBatch, Status> {
    let branch = match query.catalog {
        Some(branch) => branch,
        None => client.session.branch().map_err(status)?,
    };
    let namespace = query
        .db_schema
        .unwrap_or_else(|| client.session.namespace());
    let namespace = NamespaceIdent::from_strs(namespace.split('.'))
        .map_err(|e| status(floe_engine::FloeError::from(e)))?;
    let ident = TableIdent::new(namespace, query.table);
    let table = client
        .session
        .table_on(&ident, &branch)
        .await
        .map_err(status)?;
    let keys = table.identifier_fields();
    let n = keys.len();
    let ns = ident.namespace().join(".");
    RecordBatch::try_new(
        Arc::new(primary_keys_schema()),
        vec![
            Arc::new(StringArray::from(vec![Some(branch.as_str()); n])),
            Arc::new(StringArray::from(vec![Some(ns.as_str()); n])),
            Arc::new(StringArray::from(vec![ident.name(); n])),
            Arc::new(StringArray::from_iter_values(keys.iter())),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            Arc::new(Int32Array::from_iter_values(1..=n as i32)),
        ],
    )
    .map_err(|e| internal("cannot list the primary key", e))
}

/// A table's columns as GetTables' `table_schema` gives them: plain
/// types, and the column metadata JDBC's `getColumns` reads.
fn columns_schema(schema: &SchemaRef, branch: &str, table: &TableIdent) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = plain_type(f.data_type());
            let mut metadata = std::collections::HashMap::new();
            let mut put = |key: &str, value: String| {
                metadata.insert(format!("ARROW:FLIGHT:SQL:{key}"), value);
            };
            put("TYPE_NAME", sql_type_name(&data_type));
            put("CATALOG_NAME", branch.to_string());
            put("SCHEMA_NAME", table.namespace().join("."));
            put("TABLE_NAME", table.name().to_string());
            put("IS_AUTO_INCREMENT", "0".to_string());
            put(
                "IS_CASE_SENSITIVE",
                matches!(data_type, DataType::Utf8).to_string(),
            );
            put("IS_READ_ONLY", "0".to_string());
            put("IS_SEARCHABLE", "1".to_string());
            if let DataType::Decimal128(p, s) = data_type {
                put("PRECISION", p.to_string());
                put("SCALE", s.to_string());
            }
            Field::new(f.name(), data_type, f.is_nullable()).with_metadata(metadata)
        })
        .collect();
    Schema::new(fields)
}

/// The SQL name of a column type, as `CREATE TABLE` spells it.
pub(crate) fn sql_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Date32 => "DATE".into(),
        DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BINARY".into(),
        DataType::FixedSizeBinary(16) => "UUID".into(),
        DataType::FixedSizeBinary(n) => format!("FIXED({n})"),
        DataType::List(_) | DataType::LargeList(_) => "ARRAY".into(),
        DataType::Struct(_) => "STRUCT".into(),
        DataType::Map(..) => "MAP".into(),
        other => other.to_string().to_uppercase(),
    }
}

/// A DML result: one `count` row.
pub(crate) fn count_batch(count: i64) -> Result<RecordBatch, Status> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(UInt64Array::from(vec![count.max(0) as u64]))],
    )
    .map_err(|e| internal("cannot build the count", e))
}
