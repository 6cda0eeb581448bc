//! `ALTER TABLE`: schema evolution (nested columns included), properties,
//! partition evolution and write order. Each is one metadata-only commit:
//! data files are never rewritten, and reads map columns by field id, so a
//! renamed column keeps its values, a dropped one disappears, a re-added
//! one reads NULL in old files and a promoted one reads widened values.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Expr;
use floe_catalog::TableIdent;
use iceberg::spec::{
    NestedField, NestedFieldRef, NullOrder, PrimitiveType, Schema, SortDirection, SortField,
    SortOrder, StructType, TableMetadata, Type, UnboundPartitionField, UnboundPartitionSpec,
};

use crate::command::alter::{AlterAction, ColumnChange, NewColumn, Position, SortKey};
use crate::commit::{rename_table, update_metadata};
use crate::error::{FloeError, Result, already_exists, invalid, not_found};
use crate::ops::ddl::partition_field;
use crate::scope::Scope;
use crate::table::LoadedTable;
use crate::types::{FieldIds, iceberg_type};

/// Apply one `ALTER TABLE` action to `table`.
pub(crate) async fn alter_table(
    scope: &Scope,
    table: &TableIdent,
    action: AlterAction,
) -> Result<()> {
    if let AlterAction::RenameTable(to) = &action {
        return rename_table(scope.engine(), table, to).await;
    }
    update_metadata(&scope.target()?, table, |current| {
        let metadata = current.metadata();
        let builder = TableMetadata::clone(metadata).into_builder(None);
        let builder = match &action {
            AlterAction::SetProperties(pairs) => {
                builder.set_properties(pairs.iter().cloned().collect::<HashMap<_, _>>())?
            }
            AlterAction::UnsetProperties { keys, if_exists } => {
                let missing: Vec<&String> = keys
                    .iter()
                    .filter(|k| !metadata.properties().contains_key(*k))
                    .collect();
                if !missing.is_empty() && !if_exists {
                    return Err(not_found!(
                        "table '{table}' has no property {}",
                        missing
                            .iter()
                            .map(|k| format!("'{k}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                builder.remove_properties(keys)?
            }
            AlterAction::AddPartitionField { .. }
            | AlterAction::DropPartitionField(_)
            | AlterAction::ReplacePartitionField { .. } => {
                let spec = new_partition_spec(current, &action)?;
                builder
                    .add_partition_spec(spec)?
                    .set_default_partition_spec(-1)?
            }
            AlterAction::WriteOrder(keys) => {
                let order = sort_order(current, keys)?;
                builder.add_sort_order(order)?.set_default_sort_order(-1)?
            }
            _ => {
                let Some(schema) = new_schema(current, &action)? else {
                    return Ok(None);
                };
                // Files without field ids are read through the name
                // mapping: it gains new columns and keeps old names.
                let mapping = metadata
                    .properties()
                    .get(iceberg::spec::DEFAULT_SCHEMA_NAME_MAPPING)
                    .map(|previous| super::add_files::name_mapping(&schema, Some(previous)))
                    .transpose()?;
                let builder = builder.add_current_schema(schema)?;
                match mapping {
                    Some(mapping) => builder.set_properties(HashMap::from([(
                        iceberg::spec::DEFAULT_SCHEMA_NAME_MAPPING.to_string(),
                        mapping,
                    )]))?,
                    None => builder,
                }
            }
        };
        Ok(Some(builder))
    })
    .await
    .map_err(|e| match e {
        // The iceberg crate's messages do not name the table.
        FloeError::Iceberg(e) => invalid!("ALTER TABLE '{table}': {}", e.message()),
        other => other,
    })?;
    Ok(())
}

/// A struct's fields, found by a column path.
fn find<'a>(fields: &'a [NestedFieldRef], name: &str) -> Option<(usize, &'a NestedFieldRef)> {
    fields
        .iter()
        .enumerate()
        .find(|(_, f)| f.name == name)
        .or_else(|| {
            fields
                .iter()
                .enumerate()
                .find(|(_, f)| f.name.eq_ignore_ascii_case(name))
        })
}

/// Apply `edit` to the fields of the struct that holds the column at
/// `path` (the top level for a one-part path), rebuilding the structs on
/// the way.
fn edit_struct(
    fields: &[NestedFieldRef],
    path: &[String],
    edit: &mut dyn FnMut(&mut Vec<NestedFieldRef>, &str) -> Result<()>,
) -> Result<Vec<NestedFieldRef>> {
    let mut out = fields.to_vec();
    match path {
        [] => Err(FloeError::Internal("empty column path".into())),
        [last] => {
            edit(&mut out, last)?;
            Ok(out)
        }
        [parent, rest @ ..] => {
            let (i, field) =
                find(fields, parent).ok_or_else(|| not_found!("there is no column '{parent}'"))?;
            let Type::Struct(inner) = field.field_type.as_ref() else {
                return Err(invalid!(
                    "column '{parent}' is {}, not a struct: it has no field '{}'",
                    field.field_type,
                    rest.join(".")
                ));
            };
            let children = edit_struct(inner.fields(), rest, edit)?;
            let mut parent = field.as_ref().clone();
            parent.field_type = Box::new(Type::Struct(StructType::new(children)));
            out[i] = Arc::new(parent);
            Ok(out)
        }
    }
}

/// Place `field` in `fields` at `position` (default: last).
fn place(
    fields: &mut Vec<NestedFieldRef>,
    field: NestedFieldRef,
    position: Option<&Position>,
) -> Result<()> {
    match position {
        None => fields.push(field),
        Some(Position::First) => fields.insert(0, field),
        Some(Position::After(sibling)) => {
            let (i, _) = find(fields, sibling)
                .ok_or_else(|| not_found!("AFTER {sibling}: there is no column '{sibling}'"))?;
            fields.insert(i + 1, field);
        }
    }
    Ok(())
}

/// Field ids of every field (nested ones too) under `field`, itself
/// included.
fn field_ids(field: &NestedField, out: &mut Vec<i32>) {
    out.push(field.id);
    match field.field_type.as_ref() {
        Type::Struct(s) => s.fields().iter().for_each(|f| field_ids(f, out)),
        Type::List(l) => field_ids(&l.element_field, out),
        Type::Map(m) => {
            field_ids(&m.key_field, out);
            field_ids(&m.value_field, out);
        }
        Type::Primitive(_) => {}
    }
}

/// Whether an Iceberg type promotion is allowed: int to long, float to
/// double, decimal(p, s) to decimal(p', s) with p' > p.
fn promotion_allowed(from: &Type, to: &Type) -> bool {
    use PrimitiveType as P;
    match (from, to) {
        (Type::Primitive(a), Type::Primitive(b)) => match (a, b) {
            (P::Int, P::Long) | (P::Float, P::Double) => true,
            (
                P::Decimal {
                    precision: p1,
                    scale: s1,
                },
                P::Decimal {
                    precision: p2,
                    scale: s2,
                },
            ) => s1 == s2 && p2 > p1,
            _ => false,
        },
        _ => false,
    }
}

/// The schema after a column change; `None` if nothing changes.
fn new_schema(current: &LoadedTable, action: &AlterAction) -> Result<Option<Schema>> {
    let metadata = current.metadata();
    let table = current.ident();
    let schema = metadata.current_schema();
    let mut ids = FieldIds::after(metadata.last_column_id());
    let mut identifiers: Vec<i32> = schema.identifier_field_ids().collect();
    let top = schema.as_struct().fields();
    let fields = match action {
        AlterAction::AddColumns {
            columns,
            if_not_exists,
        } => {
            let has_rows = metadata.snapshots().any(|s| {
                s.summary()
                    .additional_properties
                    .get("total-records")
                    .is_some_and(|n| n != "0")
            });
            let mut fields = top.to_vec();
            for column in columns {
                fields = add_column(table, &fields, column, *if_not_exists, has_rows, &mut ids)?;
            }
            fields
        }
        AlterAction::DropColumns { paths, if_exists } => {
            let mut fields = top.to_vec();
            for path in paths {
                let name = path.join(".");
                let Some(field) = schema.field_by_name(&name).or_else(|| {
                    // A case-insensitive match of a top-level column.
                    find(top, &name).map(|(_, f)| f)
                }) else {
                    if *if_exists {
                        continue;
                    }
                    return Err(not_found!("table '{table}' has no column '{name}'"));
                };
                let mut dropped = Vec::new();
                field_ids(field, &mut dropped);
                check_not_referenced(current, &dropped, &name)?;
                if dropped.iter().any(|id| identifiers.contains(id)) {
                    return Err(invalid!(
                        "cannot drop column '{name}' of table '{table}': it is an identifier \
                         field (ALTER TABLE {table} DROP IDENTIFIER FIELDS {name} first)"
                    ));
                }
                fields = edit_struct(&fields, path, &mut |fields, last| {
                    let (i, _) = find(fields, last)
                        .ok_or_else(|| not_found!("table '{table}' has no column '{name}'"))?;
                    fields.remove(i);
                    Ok(())
                })?;
                if fields.is_empty() {
                    return Err(invalid!(
                        "cannot drop column '{name}' of table '{table}': a table needs a column"
                    ));
                }
            }
            fields
        }
        AlterAction::RenameColumn { path, to } => {
            let name = path.join(".");
            edit_struct(top, path, &mut |fields, last| {
                if find(fields, to).is_some_and(|(_, f)| !f.name.eq_ignore_ascii_case(last)) {
                    return Err(invalid!(
                        "cannot rename column '{name}' of table '{table}' to '{to}': a column \
                         of that name exists"
                    ));
                }
                let (i, field) = find(fields, last)
                    .ok_or_else(|| not_found!("table '{table}' has no column '{name}'"))?;
                let mut renamed = field.as_ref().clone();
                renamed.name = to.clone();
                fields[i] = Arc::new(renamed);
                Ok(())
            })?
        }
        AlterAction::AlterColumn { path, change } => {
            let name = path.join(".");
            edit_struct(top, path, &mut |fields, last| {
                let (i, field) = find(fields, last)
                    .ok_or_else(|| not_found!("table '{table}' has no column '{name}'"))?;
                let mut changed = field.as_ref().clone();
                match change {
                    ColumnChange::Type(data_type) => {
                        let to = iceberg_type(data_type, &mut FieldIds::default(), &name)?;
                        if to != *changed.field_type {
                            if !promotion_allowed(&changed.field_type, &to) {
                                return Err(invalid!(
                                    "cannot change column '{name}' of table '{table}' from {} \
                                     to {to}: Iceberg allows only int to bigint, float to \
                                     double, and decimal(p, s) to decimal(p', s) with p' > p",
                                    changed.field_type
                                ));
                            }
                            changed.field_type = Box::new(to);
                        }
                    }
                    ColumnChange::DropNotNull => changed.required = false,
                    ColumnChange::SetNotNull => {
                        if !changed.required {
                            return Err(invalid!(
                                "cannot make column '{name}' of table '{table}' NOT NULL: rows \
                                 already written may hold NULL"
                            ));
                        }
                    }
                    ColumnChange::Comment(comment) => changed.doc = Some(comment.clone()),
                    ColumnChange::Position(position) => {
                        fields.remove(i);
                        return place(fields, Arc::new(changed), Some(position));
                    }
                }
                fields[i] = Arc::new(changed);
                Ok(())
            })?
        }
        AlterAction::IdentifierFields { columns, set } => {
            if *set {
                identifiers.clear();
            }
            for column in columns {
                let field = schema
                    .field_by_name(column)
                    .or_else(|| find(top, column).map(|(_, f)| f))
                    .ok_or_else(|| not_found!("table '{table}' has no column '{column}'"))?;
                if !set {
                    if !identifiers.contains(&field.id) {
                        return Err(invalid!(
                            "column '{column}' of table '{table}' is not an identifier field"
                        ));
                    }
                    identifiers.retain(|id| *id != field.id);
                    continue;
                }
                if !field.required {
                    return Err(invalid!(
                        "column '{column}' of table '{table}' is nullable: identifier fields \
                         must be NOT NULL"
                    ));
                }
                let allowed = matches!(
                    field.field_type.as_ref(),
                    Type::Primitive(p) if !matches!(p, PrimitiveType::Float | PrimitiveType::Double)
                );
                if !allowed {
                    return Err(invalid!(
                        "column '{column}' of table '{table}' is {}: identifier fields must be \
                         of a primitive type other than float and double",
                        field.field_type
                    ));
                }
                if !identifiers.contains(&field.id) {
                    identifiers.push(field.id);
                }
            }
            top.to_vec()
        }
        _ => {
            return Err(FloeError::Internal(format!(
                "{action:?} is not a column change"
            )));
        }
    };
    let new = Schema::builder()
        .with_schema_id(schema.schema_id() + 1)
        .with_identifier_field_ids(identifiers)
        .with_fields(fields)
        .build()?;
    if new.as_struct() == schema.as_struct()
        && new.identifier_field_ids().eq(schema.identifier_field_ids())
    {
        return Ok(None);
    }
    Ok(Some(new))
}

fn add_column(
    table: &TableIdent,
    fields: &[NestedFieldRef],
    column: &NewColumn,
    if_not_exists: bool,
    has_rows: bool,
    ids: &mut FieldIds,
) -> Result<Vec<NestedFieldRef>> {
    let name = column.path.join(".");
    let mut skip = false;
    let out = edit_struct(fields, &column.path, &mut |fields, last| {
        if find(fields, last).is_some() {
            if if_not_exists {
                skip = true;
                return Ok(());
            }
            return Err(already_exists!(
                "table '{table}' already has a column '{name}'"
            ));
        }
        if column.not_null && has_rows {
            return Err(invalid!(
                "cannot add column '{name}' to table '{table}' as NOT NULL: its rows have no \
                 value for it (add it nullable)"
            ));
        }
        let id = ids.fresh();
        let field_type = iceberg_type(&column.data_type, ids, &name)?;
        let mut field = NestedField::new(id, last, field_type, column.not_null);
        if let Some(comment) = &column.comment {
            field = field.with_doc(comment);
        }
        place(fields, Arc::new(field), column.position.as_ref())
    })?;
    Ok(if skip { fields.to_vec() } else { out })
}

/// Refuse to drop a column a partition field (of any spec) or the sort
/// order uses.
fn check_not_referenced(current: &LoadedTable, dropped: &[i32], name: &str) -> Result<()> {
    let metadata = current.metadata();
    let mut specs: Vec<_> = metadata.partition_specs_iter().collect();
    specs.sort_by_key(|s| s.spec_id());
    for spec in specs {
        if let Some(field) = spec
            .fields()
            .iter()
            .find(|f| dropped.contains(&f.source_id))
        {
            return Err(invalid!(
                "cannot drop column '{name}' of table '{}': partition field '{}' ({}) of spec \
                 {} is computed from it",
                current.ident(),
                field.name,
                field.transform,
                spec.spec_id()
            ));
        }
    }
    if let Some(field) = metadata
        .default_sort_order()
        .fields
        .iter()
        .find(|f| dropped.contains(&f.source_id))
    {
        return Err(invalid!(
            "cannot drop column '{name}' of table '{}': the table's write order sorts by it \
             ({}); ALTER TABLE ... WRITE UNORDERED first",
            current.ident(),
            field.transform
        ));
    }
    Ok(())
}

/// The partition field an expression names in the current spec: by name,
/// or by the same source column and transform.
fn matching_partition_field(
    current: &LoadedTable,
    expr: &Expr,
) -> Result<iceberg::spec::PartitionField> {
    let metadata = current.metadata();
    let spec = metadata.default_partition_spec();
    if let Expr::Identifier(ident) = expr
        && let Some(field) = spec
            .fields()
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&ident.value))
    {
        return Ok(field.clone());
    }
    let fields = || {
        spec.fields()
            .iter()
            .map(|f| format!("{} ({})", f.name, f.transform))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Ok((source_id, _, transform)) = partition_field(
        current.ident(),
        metadata.current_schema(),
        expr,
        "partition field",
    ) else {
        return Err(not_found!(
            "table '{}' has no partition field {expr} (its fields: {})",
            current.ident(),
            fields()
        ));
    };
    spec.fields()
        .iter()
        .find(|f| f.source_id == source_id && f.transform == transform)
        .cloned()
        .ok_or_else(|| {
            not_found!(
                "table '{}' has no partition field {expr} (its fields: {})",
                current.ident(),
                fields()
            )
        })
}

/// The spec after `ADD | DROP | REPLACE PARTITION FIELD`; kept fields keep
/// their ids.
fn new_partition_spec(current: &LoadedTable, action: &AlterAction) -> Result<UnboundPartitionSpec> {
    let metadata = current.metadata();
    let table = current.ident();
    let mut fields: Vec<UnboundPartitionField> = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|f| UnboundPartitionField {
            source_id: f.source_id,
            field_id: Some(f.field_id),
            name: f.name.clone(),
            transform: f.transform,
        })
        .collect();
    let (drop, add) = match action {
        AlterAction::AddPartitionField { transform, name } => (None, Some((transform, name))),
        AlterAction::DropPartitionField(expr) => (Some(expr), None),
        AlterAction::ReplacePartitionField {
            from,
            transform,
            name,
        } => (Some(from), Some((transform, name))),
        _ => return Err(FloeError::Internal("not a partition change".into())),
    };
    if let Some(expr) = drop {
        let field = matching_partition_field(current, expr)?;
        fields.retain(|f| f.field_id != Some(field.field_id));
    }
    if let Some((expr, name)) = add {
        let (source_id, default_name, transform) =
            partition_field(table, metadata.current_schema(), expr, "partition field")?;
        if let Some(existing) = fields
            .iter()
            .find(|f| f.source_id == source_id && f.transform == transform)
        {
            return Err(already_exists!(
                "table '{table}' is already partitioned by {expr} (partition field '{}')",
                existing.name
            ));
        }
        let name = name.clone().unwrap_or(default_name);
        if fields.iter().any(|f| f.name == name) {
            return Err(already_exists!(
                "table '{table}' already has a partition field '{name}' (name the new one with AS)"
            ));
        }
        fields.push(UnboundPartitionField {
            source_id,
            field_id: None,
            name,
            transform,
        });
    }
    Ok(UnboundPartitionSpec::builder()
        .add_partition_fields(fields)?
        .build())
}

/// The sort order of `WRITE ORDERED BY` (empty: unsorted).
fn sort_order(current: &LoadedTable, keys: &[SortKey]) -> Result<SortOrder> {
    let metadata = current.metadata();
    let mut fields = Vec::with_capacity(keys.len());
    for key in keys {
        let (source_id, _, transform) = partition_field(
            current.ident(),
            metadata.current_schema(),
            &key.expr,
            "WRITE ORDERED BY",
        )?;
        let direction = if key.descending {
            SortDirection::Descending
        } else {
            SortDirection::Ascending
        };
        // Spark's defaults: NULLS FIRST when ascending, NULLS LAST when not.
        let nulls_first = key.nulls_first.unwrap_or(!key.descending);
        fields.push(SortField {
            source_id,
            transform,
            direction,
            null_order: if nulls_first {
                NullOrder::First
            } else {
                NullOrder::Last
            },
        });
    }
    if fields.is_empty() {
        return Ok(SortOrder::unsorted_order());
    }
    Ok(SortOrder::builder()
        .with_fields(fields)
        .build(metadata.current_schema())?)
}
