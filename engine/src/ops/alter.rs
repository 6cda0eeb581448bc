//! `ALTER TABLE` changes to a table's schema: each one metadata-only
//! commit. (For now `ADD COLUMN`; the rest of schema evolution builds on
//! the same path.)

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{AlterTableOperation, ColumnOption};
use floe_catalog::TableIdent;
use iceberg::spec::{NestedField, Schema, TableMetadata};

use crate::commit::update_metadata;
use crate::error::{FloeError, Result, invalid};
use crate::sql::types::{FieldIds, iceberg_type};
use crate::warehouse::Warehouse;

/// Apply `ALTER TABLE` operations to `table` as one metadata commit.
pub async fn alter_table(
    warehouse: &Warehouse,
    table: &TableIdent,
    operations: &[AlterTableOperation],
) -> Result<()> {
    update_metadata(warehouse, table, |current| {
        let metadata = current.metadata();
        let schema = metadata.current_schema();
        let mut ids = FieldIds::after(metadata.last_column_id());
        let mut fields: Vec<Arc<NestedField>> = schema.as_struct().fields().to_vec();
        for operation in operations {
            let AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                column_position,
                ..
            } = operation
            else {
                return Err(FloeError::Unsupported(format!(
                    "ALTER TABLE '{table}' {operation}: only ADD COLUMN and the branch and tag \
                     statements are supported yet"
                )));
            };
            let name = column_def.name.value.clone();
            if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                if *if_not_exists {
                    continue;
                }
                return Err(invalid!("table '{table}' already has a column '{name}'"));
            }
            if column_position.is_some() {
                return Err(FloeError::Unsupported(format!(
                    "ALTER TABLE '{table}' ADD COLUMN {name} FIRST / AFTER: columns are added \
                     last for now"
                )));
            }
            let id = ids.fresh();
            let field_type = iceberg_type(&column_def.data_type, &mut ids, &name)?;
            let mut field = NestedField::optional(id, &name, field_type);
            for option in &column_def.options {
                match &option.option {
                    ColumnOption::Null => {}
                    ColumnOption::Comment(c) => field = field.with_doc(c),
                    ColumnOption::NotNull => {
                        return Err(invalid!(
                            "ALTER TABLE '{table}' ADD COLUMN {name} NOT NULL: rows already \
                             written have no value for it; add it nullable"
                        ));
                    }
                    other => {
                        return Err(FloeError::Unsupported(format!(
                            "ALTER TABLE '{table}' ADD COLUMN {name}: option '{other}' is not \
                             supported"
                        )));
                    }
                }
            }
            fields.push(Arc::new(field));
        }
        if fields.len() == schema.as_struct().fields().len() {
            return Ok(None);
        }
        let new_schema = Schema::builder()
            .with_schema_id(schema.schema_id() + 1)
            .with_identifier_field_ids(schema.identifier_field_ids())
            .with_fields(fields)
            .build()?;
        Ok(Some(
            TableMetadata::clone(metadata)
                .into_builder(Some(current.metadata_location().to_string()))
                .add_current_schema(new_schema)?
                .build()?
                .metadata,
        ))
    })
    .await?;
    Ok(())
}

/// `ALTER TABLE t SET IDENTIFIER FIELDS a, b` (`set`) or `DROP IDENTIFIER
/// FIELDS a` (`!set`): the columns that identify a row (a branch merge
/// matches rows by them). Identifier fields must be NOT NULL primitive
/// columns, not floating point.
pub async fn identifier_fields(
    warehouse: &Warehouse,
    table: &TableIdent,
    columns: &[String],
    set: bool,
) -> Result<()> {
    update_metadata(warehouse, table, |current| {
        let metadata = current.metadata();
        let schema = metadata.current_schema();
        let mut ids: Vec<i32> = if set {
            Vec::new()
        } else {
            schema.identifier_field_ids().collect()
        };
        for column in columns {
            let field = schema
                .as_struct()
                .fields()
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(column))
                .ok_or_else(|| invalid!("table '{table}' has no column '{column}'"))?;
            if !set {
                if !ids.contains(&field.id) {
                    return Err(invalid!(
                        "column '{column}' of table '{table}' is not an identifier field"
                    ));
                }
                ids.retain(|id| *id != field.id);
                continue;
            }
            if !field.required {
                return Err(invalid!(
                    "column '{column}' of table '{table}' is nullable: identifier fields must be \
                     NOT NULL"
                ));
            }
            let allowed = matches!(
                &*field.field_type,
                iceberg::spec::Type::Primitive(p)
                    if !matches!(p, iceberg::spec::PrimitiveType::Float | iceberg::spec::PrimitiveType::Double)
            );
            if !allowed {
                return Err(invalid!(
                    "column '{column}' of table '{table}' is {}: identifier fields must be of a \
                     primitive type other than float and double",
                    field.field_type
                ));
            }
            if !ids.contains(&field.id) {
                ids.push(field.id);
            }
        }
        let new_schema = Schema::builder()
            .with_schema_id(schema.schema_id() + 1)
            .with_identifier_field_ids(ids)
            .with_fields(schema.as_struct().fields().to_vec())
            .build()?;
        Ok(Some(
            TableMetadata::clone(metadata)
                .into_builder(Some(current.metadata_location().to_string()))
                .add_current_schema(new_schema)?
                .build()?
                .metadata,
        ))
    })
    .await?;
    Ok(())
}
