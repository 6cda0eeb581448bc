//! Namespaces and tables: CREATE / DROP SCHEMA, CREATE TABLE [AS SELECT],
//! DROP TABLE [PURGE], SHOW TABLES.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, CreateTableOptions, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, SqlOption, Value,
};
use floe_catalog::{CatalogError, NamespaceIdent, TableIdent};
use iceberg::spec::{
    FormatVersion, MAIN_BRANCH, NestedField, Schema as IcebergSchema, SortOrder, TableMetadata,
    TableMetadataBuilder, Transform, Type, UnboundPartitionSpec,
};

use crate::commit::{
    Batch, TableChange, TableCommit, add_empty_branch, changes, commit_batch, commit_tables,
};
use crate::error::{FloeError, Result, invalid, not_found, unsupported};
use crate::scope::Scope;
use crate::scope::not_on_branch;
use crate::table::{ABSENT_FROM_MAIN, LoadedTable};
use crate::types::{FieldIds, iceberg_type, iceberg_type_from_arrow};

/// `CREATE SCHEMA [IF NOT EXISTS] ns`.
pub async fn create_namespace(
    scope: &Scope,
    namespace: &NamespaceIdent,
    if_not_exists: bool,
) -> Result<()> {
    let catalog = scope.engine().catalog();
    match catalog.create_namespace(namespace, HashMap::new()).await {
        Err(CatalogError::NamespaceAlreadyExists(_)) if if_not_exists => Ok(()),
        other => Ok(other?),
    }
}

/// `DROP SCHEMA [IF EXISTS] ns [CASCADE]`: with `CASCADE`, its tables
/// leave the catalog first, all in one commit (their files stay), then its
/// views.
pub async fn drop_namespace(
    scope: &Scope,
    namespace: &NamespaceIdent,
    if_exists: bool,
    cascade: bool,
) -> Result<()> {
    let catalog = scope.engine().catalog();
    if !catalog.namespace_exists(namespace).await? {
        return if if_exists {
            Ok(())
        } else {
            Err(CatalogError::NamespaceNotFound(namespace.clone()).into())
        };
    }
    if cascade {
        let tables = catalog.list_tables(namespace).await?;
        commit_tables(&scope.target()?, &tables, |_| async {
            Ok(Some(TableChange::Drop))
        })
        .await?;
        crate::ops::views::drop_all_in(scope.engine(), namespace).await?;
    }
    Ok(catalog.drop_namespace(namespace).await?)
}

/// Create a table on the session's branch: its first metadata file is
/// written and the catalog entry made in one commit (`assert-create`).
/// Made on a warehouse branch, the table exists only there (until the
/// branch is merged).
pub async fn create_table(
    scope: &Scope,
    ident: &TableIdent,
    definition: TableDefinition,
) -> Result<LoadedTable> {
    if let Some(version) = definition.properties.get("format-version")
        && version != "2"
    {
        return Err(unsupported!(
            "format-version {version}: Floe writes Iceberg format version 2"
        ));
    }
    let catalog = scope.engine().catalog();
    if !catalog.namespace_exists(ident.namespace()).await? {
        return Err(CatalogError::NamespaceNotFound(ident.namespace().clone()).into());
    }
    let mut properties = definition.properties;
    properties.remove("format-version");
    let location = scope.engine().table_location(ident);
    let build = |e: iceberg::Error| invalid!("cannot create table '{ident}': {}", e.message());
    let mut builder = TableMetadataBuilder::new(
        definition.schema,
        definition.partition_spec,
        SortOrder::unsorted_order(),
        location,
        FormatVersion::V2,
        properties,
    )
    .map_err(build)?;
    let branch = scope.branch()?;
    if branch != MAIN_BRANCH {
        builder = builder
            .set_properties(HashMap::from([(
                ABSENT_FROM_MAIN.to_string(),
                "true".to_string(),
            )]))
            .map_err(build)?;
        let metadata = builder.clone().build().map_err(build)?.metadata;
        builder = add_empty_branch(scope.engine(), &metadata, builder, &branch).await?;
    }
    let built = builder.build().map_err(build)?;
    // The table's UUID is the one made here, not a new one at commit.
    let mut updates = vec![iceberg::TableUpdate::AssignUuid {
        uuid: built.metadata.uuid(),
    }];
    updates.extend(built.changes);
    let commit = TableCommit::on(ident.clone(), None, updates);
    let mut created = commit_batch(scope.engine(), &Batch::one(commit)).await?;
    created
        .pop()
        .ok_or_else(|| FloeError::internal("a create committed no table"))
}

/// What a `DROP TABLE` takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropFrom {
    /// The session's branch: a table that also exists on other branches
    /// stays on them (Floe's `DROP TABLE`).
    Branch,
    /// The whole table, every ref with it, as an Iceberg catalog's
    /// `dropTable` does (the REST catalog's `main`).
    Everywhere,
}

/// `DROP TABLE` in a session: with [`DropFrom::Branch`], a table that also
/// exists on other branches than the session's loses only the session's
/// branch (it stays on the others); otherwise it leaves the catalog, and
/// with `purge` its files are deleted. With `if_exists`, a table that is
/// not on the branch is no error. What to do is decided on the table's
/// latest version, under its commit lock, and decided again if another
/// writer moves it first.
pub async fn drop_table(
    scope: &Scope,
    ident: &TableIdent,
    purge: bool,
    if_exists: bool,
    from: DropFrom,
) -> Result<()> {
    let location = match scope.load_table(ident).await {
        Ok(table) => table
            .metadata()
            .location()
            .trim_end_matches('/')
            .to_string(),
        Err(e) if if_exists && e.is_table_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    let branch = scope.branch()?;
    let branch = branch.as_str();
    let (_, dropped) = commit_tables(&scope.target()?, std::slice::from_ref(ident), |table| {
        std::future::ready(match from {
            DropFrom::Branch => drop_from_branch(&table, branch, purge, if_exists),
            DropFrom::Everywhere => Ok(Some(TableChange::Drop)),
        })
    })
    .await?;
    if purge && !dropped.is_empty() {
        scope
            .engine()
            .file_io()
            .delete_prefix(&format!("{location}/"))
            .await?;
    }
    Ok(())
}

/// What `DROP TABLE` does to `table` from `branch`: nothing (`None`, with
/// `if_exists`, when it is not there), drop it (no other branch has it),
/// or remove the branch from it.
fn drop_from_branch(
    table: &LoadedTable,
    branch: &str,
    purge: bool,
    if_exists: bool,
) -> Result<Option<TableChange>> {
    if !table.exists_on(branch)? {
        if if_exists {
            return Ok(None);
        }
        return Err(not_on_branch(table, branch)?);
    }
    let mut others: Vec<String> = table
        .branches()?
        .into_iter()
        .filter(|b| b != branch)
        .collect();
    if branch != MAIN_BRANCH
        && !others.iter().any(|b| b == MAIN_BRANCH)
        && table.exists_on(MAIN_BRANCH)?
    {
        others.insert(0, MAIN_BRANCH.to_string());
    }
    if others.is_empty() {
        return Ok(Some(TableChange::Drop));
    }
    if purge {
        return Err(invalid!(
            "DROP TABLE '{}' PURGE: the table also exists on branch(es) {}, whose data would go \
             too; drop it there first",
            table.ident(),
            others.join(", ")
        ));
    }
    let mut builder = TableMetadata::clone(table.metadata()).into_builder(None);
    builder = builder.remove_ref(branch);
    if branch == MAIN_BRANCH {
        builder = builder.set_properties(HashMap::from([(
            ABSENT_FROM_MAIN.to_string(),
            "true".to_string(),
        )]))?;
    }
    Ok(changes(builder)?.map(TableChange::Update))
}

/// `SHOW TABLES [IN ns]`: one row per table, `(namespace, table_name)`.
pub async fn show_tables(scope: &Scope, namespace: &NamespaceIdent) -> Result<RecordBatch> {
    let branch = scope.branch()?;
    let catalog = scope.engine().catalog();
    let mut tables = Vec::new();
    for ident in catalog.list_tables(namespace).await? {
        // Only the tables on the session's branch.
        match scope.load_table(&ident).await {
            Ok(table) if table.exists_on(&branch)? => tables.push(ident),
            Ok(_) => {}
            Err(e) if e.is_table_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    // Stored external tables over other files than Parquet, on every
    // branch.
    for (ns, entries) in catalog.list_all_entries().await? {
        if ns == *namespace {
            tables.extend(
                entries
                    .into_iter()
                    .filter(|(_, kind)| *kind == floe_catalog::EntryKind::Files)
                    .map(|(name, _)| TableIdent::new(ns.clone(), name)),
            );
        }
    }
    tables.sort_by(|a, b| a.name().cmp(b.name()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("namespace", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
    ]));
    let ns = namespace.join(".");
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(|_| ns.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(|t| t.name()),
            )),
        ],
    )?)
}

/// `DESCRIBE t`: one row per column, `(column_name, data_type, is_nullable,
/// comment)`, with Iceberg's types in SQL spelling.
pub fn describe_table(table: &LoadedTable) -> Result<RecordBatch> {
    let schema = table.schema();
    let fields = schema.as_struct().fields();
    let out = Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("is_nullable", DataType::Utf8, false),
        Field::new("comment", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        out,
        vec![
            Arc::new(StringArray::from_iter_values(
                fields.iter().map(|f| f.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                fields.iter().map(|f| sql_type_name(&f.field_type)),
            )),
            Arc::new(StringArray::from_iter_values(
                fields.iter().map(|f| if f.required { "NO" } else { "YES" }),
            )),
            Arc::new(StringArray::from_iter(
                fields.iter().map(|f| f.doc.as_deref()),
            )),
        ],
    )?)
}

/// An Iceberg type as SQL spells it (`bigint`, `struct<a: int>`, ...).
pub fn sql_type_name(t: &Type) -> String {
    use iceberg::spec::PrimitiveType as P;
    match t {
        Type::Primitive(p) => match p {
            P::Boolean => "boolean".into(),
            P::Int => "int".into(),
            P::Long => "bigint".into(),
            P::Float => "float".into(),
            P::Double => "double".into(),
            P::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            P::Date => "date".into(),
            P::Time => "time".into(),
            P::Timestamp => "timestamp".into(),
            P::Timestamptz => "timestamptz".into(),
            P::TimestampNs => "timestamp_ns".into(),
            P::TimestamptzNs => "timestamptz_ns".into(),
            P::String => "string".into(),
            P::Uuid => "uuid".into(),
            P::Fixed(n) => format!("fixed({n})"),
            P::Binary => "binary".into(),
        },
        Type::Struct(s) => format!(
            "struct<{}>",
            s.fields()
                .iter()
                .map(|f| format!("{}: {}", f.name, sql_type_name(&f.field_type)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::List(l) => format!("array<{}>", sql_type_name(&l.element_field.field_type)),
        Type::Map(m) => format!(
            "map<{}, {}>",
            sql_type_name(&m.key_field.field_type),
            sql_type_name(&m.value_field.field_type)
        ),
    }
}

/// The parts of a CREATE TABLE that Floe reads.
pub struct TableDefinition {
    /// The table's schema (field ids are reassigned on creation).
    pub schema: IcebergSchema,
    /// Its partition spec, by source field ids of `schema`.
    pub partition_spec: UnboundPartitionSpec,
    /// `TBLPROPERTIES`.
    pub properties: HashMap<String, String>,
}

/// Read the columns and table properties of a parsed `CREATE TABLE`, and
/// the `PARTITIONED BY` clause lifted out of it.
pub fn table_definition(
    table: &TableIdent,
    create: &CreateTable,
    partitioned_by: &[Expr],
    query_schema: Option<&SchemaRef>,
) -> Result<TableDefinition> {
    let mut ids = FieldIds::default();
    let schema = match query_schema {
        Some(arrow) if create.columns.is_empty() => schema_from_arrow(arrow, &mut ids)?,
        Some(_) => {
            return Err(FloeError::Unsupported(format!(
                "CREATE TABLE '{table}' AS SELECT with a column list: \
                 name and cast the columns in the SELECT instead"
            )));
        }
        None => schema_from_columns(table, create, &mut ids)?,
    };
    let partition_spec = partition_spec(table, &schema, partitioned_by)?;
    let properties = table_properties(&create.table_options)?;
    Ok(TableDefinition {
        schema,
        partition_spec,
        properties,
    })
}

fn schema_from_columns(
    table: &TableIdent,
    create: &CreateTable,
    ids: &mut FieldIds,
) -> Result<IcebergSchema> {
    if create.columns.is_empty() {
        return Err(invalid!("CREATE TABLE '{table}' needs at least one column"));
    }
    // Top-level ids first, then nested ones, as Iceberg assigns them.
    let top: Vec<i32> = create.columns.iter().map(|_| ids.fresh()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut fields = Vec::with_capacity(create.columns.len());
    for (column, id) in create.columns.iter().zip(top) {
        let name = column.name.value.clone();
        if !seen.insert(name.to_lowercase()) {
            return Err(invalid!(
                "CREATE TABLE '{table}': column '{name}' is defined twice"
            ));
        }
        let field_type = iceberg_type(&column.data_type, ids, &name)?;
        let mut required = false;
        let mut comment = None;
        for option in &column.options {
            match &option.option {
                ColumnOption::NotNull => required = true,
                ColumnOption::Null => required = false,
                ColumnOption::Comment(c) => comment = Some(c.clone()),
                other => {
                    return Err(FloeError::Unsupported(format!(
                        "CREATE TABLE '{table}': column option '{other}' on '{name}' is not supported"
                    )));
                }
            }
        }
        let mut field = NestedField::new(id, name, field_type, required);
        if let Some(comment) = comment {
            field = field.with_doc(comment);
        }
        fields.push(Arc::new(field));
    }
    Ok(IcebergSchema::builder().with_fields(fields).build()?)
}

/// An Iceberg schema with the columns of an Arrow schema, ids assigned
/// from 1, every column optional.
pub fn schema_from_arrow_schema(arrow: &SchemaRef) -> Result<IcebergSchema> {
    schema_from_arrow(arrow, &mut FieldIds::default())
}

fn schema_from_arrow(arrow: &SchemaRef, ids: &mut FieldIds) -> Result<IcebergSchema> {
    let top: Vec<i32> = arrow.fields().iter().map(|_| ids.fresh()).collect();
    let mut fields = Vec::with_capacity(top.len());
    for (field, id) in arrow.fields().iter().zip(top) {
        let field_type = iceberg_type_from_arrow(field.data_type(), ids, field.name())?;
        fields.push(Arc::new(NestedField::optional(
            id,
            field.name(),
            field_type,
        )));
    }
    Ok(IcebergSchema::builder().with_fields(fields).build()?)
}

fn table_properties(options: &CreateTableOptions) -> Result<HashMap<String, String>> {
    let options: &[SqlOption] = match options {
        CreateTableOptions::None => return Ok(HashMap::new()),
        CreateTableOptions::TableProperties(o) | CreateTableOptions::With(o) => o,
        other => {
            return Err(FloeError::Unsupported(format!(
                "table options {other}: use TBLPROPERTIES ('key' = 'value')"
            )));
        }
    };
    let mut properties = HashMap::new();
    for option in options {
        let SqlOption::KeyValue { key, value } = option else {
            return Err(invalid!("table property {option} is not 'key' = 'value'"));
        };
        let value = match value {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.clone(),
                Value::Boolean(b) => b.to_string(),
                other => other.to_string(),
            },
            other => other.to_string(),
        };
        properties.insert(key.value.clone(), value);
    }
    Ok(properties)
}

/// Parse `PARTITIONED BY (col, bucket(16, id), days(ts), ...)`.
fn partition_spec(
    table: &TableIdent,
    schema: &IcebergSchema,
    exprs: &[Expr],
) -> Result<UnboundPartitionSpec> {
    let mut builder = UnboundPartitionSpec::builder();
    let mut names = std::collections::HashSet::new();
    for expr in exprs {
        let (source_id, name, transform) = partition_field(table, schema, expr, "PARTITIONED BY")?;
        if !names.insert(name.clone()) {
            return Err(invalid!(
                "PARTITIONED BY lists partition field '{name}' twice"
            ));
        }
        builder = builder.add_partition_field(source_id, name, transform)?;
    }
    Ok(builder.build())
}

/// A partition field from its SQL (`col`, `bucket(16, id)`, ...): its
/// source column's id, its default name (as Spark names it) and its
/// transform, checked against the column's type.
/// `context` starts error messages (`PARTITIONED BY`, `partition field`).
pub fn partition_field(
    table: &TableIdent,
    schema: &IcebergSchema,
    expr: &Expr,
    context: &str,
) -> Result<(i32, String, Transform)> {
    let (transform, column) = transform_of(expr)?;
    let field = schema
        .field_by_name(&column)
        .or_else(|| {
            schema
                .as_struct()
                .fields()
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(&column))
        })
        .ok_or_else(|| not_found!("{context} {expr}: table '{table}' has no column '{column}'"))?;
    if let Type::Primitive(_) = field.field_type.as_ref() {
        transform.result_type(&field.field_type).map_err(|_| {
            invalid!(
                "invalid partition transform {expr}: {transform} cannot apply to column \
                 '{column}' of type {}",
                field.field_type
            )
        })?;
    } else {
        return Err(invalid!(
            "invalid partition transform {expr}: column '{column}' is not of a primitive type"
        ));
    }
    let column = field.name.clone();
    let name = match transform {
        Transform::Identity => column.clone(),
        Transform::Bucket(_) => format!("{column}_bucket"),
        Transform::Truncate(_) => format!("{column}_trunc"),
        Transform::Year => format!("{column}_year"),
        Transform::Month => format!("{column}_month"),
        Transform::Day => format!("{column}_day"),
        Transform::Hour => format!("{column}_hour"),
        _ => format!("{column}_{transform}"),
    };
    Ok((field.id, name, transform))
}

fn transform_of(expr: &Expr) -> Result<(Transform, String)> {
    let bad = || {
        invalid!(
            "invalid partition transform {expr}: expected a column, bucket(N, col), \
             truncate(W, col), year(col), month(col), day(col) or hour(col)"
        )
    };
    match expr {
        Expr::Identifier(ident) => Ok((Transform::Identity, ident.value.clone())),
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let FunctionArguments::List(list) = &f.args else {
                return Err(bad());
            };
            let args: Vec<&Expr> = list
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                    _ => Err(bad()),
                })
                .collect::<Result<_>>()?;
            let column = |e: &Expr| match e {
                Expr::Identifier(i) => Ok(i.value.clone()),
                _ => Err(bad()),
            };
            let width = |e: &Expr| match e {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(bad),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            };
            match (name.as_str(), args.as_slice()) {
                ("identity", [c]) => Ok((Transform::Identity, column(c)?)),
                ("bucket", [n, c]) => Ok((Transform::Bucket(width(n)?), column(c)?)),
                ("truncate", [w, c]) => Ok((Transform::Truncate(width(w)?), column(c)?)),
                ("year" | "years", [c]) => Ok((Transform::Year, column(c)?)),
                ("month" | "months", [c]) => Ok((Transform::Month, column(c)?)),
                ("day" | "days" | "date", [c]) => Ok((Transform::Day, column(c)?)),
                ("hour" | "hours" | "date_hour", [c]) => Ok((Transform::Hour, column(c)?)),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}
