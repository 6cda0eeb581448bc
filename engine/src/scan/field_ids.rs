//! Mapping a data file's columns to the table's by Iceberg field id, so a
//! renamed column still reads its old values and a dropped-and-re-added one
//! reads NULL for old files.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapter, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

/// The Iceberg field id an arrow field carries (parquet's field id).
pub(crate) fn field_id(field: &Field) -> Option<i32> {
    field
        .metadata()
        .get(PARQUET_FIELD_ID_META_KEY)?
        .parse()
        .ok()
}

/// Rewrites table columns to the file columns with the same field id, then
/// lets DataFusion's default adapter cast types and fill missing columns
/// with NULL. Files without field ids (added with `add_files`, or written
/// by other tools) are matched through the table's name mapping
/// (`schema.name-mapping.default`), or by name when it has none.
#[derive(Debug, Default)]
pub struct FieldIdAdapterFactory {
    /// Top-level field id -> the names a file without ids may use for it.
    names: HashMap<i32, Vec<String>>,
}

impl FieldIdAdapterFactory {
    /// An adapter factory for a table with these table properties.
    pub fn for_properties(properties: &HashMap<String, String>) -> Self {
        let names = properties
            .get(iceberg::spec::DEFAULT_SCHEMA_NAME_MAPPING)
            .and_then(|raw| serde_json::from_str::<iceberg::spec::NameMapping>(raw).ok())
            .map(|mapping| {
                mapping
                    .fields()
                    .iter()
                    .filter_map(|f| Some((f.field_id()?, f.names().to_vec())))
                    .collect()
            })
            .unwrap_or_default();
        Self { names }
    }

    /// Whether `file_field` (of a file without field ids) holds the table
    /// field `table_field`.
    fn maps_to(&self, file_field: &Field, table_field: &Field) -> bool {
        match field_id(table_field).and_then(|id| self.names.get(&id)) {
            Some(names) => names.iter().any(|n| n == file_field.name()),
            None => file_field.name() == table_field.name(),
        }
    }

    /// The index of the top-level field of `file` that holds the table
    /// field `table_field`: the one with its field id, or for a file
    /// without ids, the one the name mapping (else the name) points at.
    fn file_field(&self, table_field: &Field, file: &Schema) -> Option<usize> {
        let file_has_ids = file.fields().iter().any(|f| field_id(f).is_some());
        match field_id(table_field) {
            Some(id) if file_has_ids => file.fields().iter().position(|f| field_id(f) == Some(id)),
            _ => file
                .fields()
                .iter()
                .position(|f| self.maps_to(f, table_field)),
        }
    }

    /// The indices of `file`'s top-level fields that hold `table_fields`,
    /// ascending, for reading only those columns of a file. A table field
    /// the file lacks needs none (it reads as NULL).
    pub fn file_projection<'a>(
        &self,
        table_fields: impl IntoIterator<Item = &'a Field>,
        file: &Schema,
    ) -> Vec<usize> {
        let mut indices: Vec<usize> = table_fields
            .into_iter()
            .filter_map(|f| self.file_field(f, file))
            .collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    }
}

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(
        &self,
        logical: SchemaRef,
        physical: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let file_has_ids = physical.fields().iter().any(|f| field_id(f).is_some());
        let mut rename = HashMap::new();
        let mut nested = HashMap::new();
        let fields: Vec<Field> = logical
            .fields()
            .iter()
            .map(|table_field| {
                let file_field = self
                    .file_field(table_field, &physical)
                    .map(|i| &physical.fields()[i]);
                let target = match (file_field, field_id(table_field)) {
                    (Some(f), _) => f.name().clone(),
                    (None, Some(id)) if file_has_ids => format!("__floe_missing_field_{id}"),
                    (None, _) => table_field.name().clone(),
                };
                rename.insert(table_field.name().clone(), target.clone());
                // Nested columns whose shape differs are converted by field
                // id here; DataFusion's cast would match struct fields by name.
                if let Some(file_field) = file_field
                    && table_field.data_type().is_nested()
                    && file_field.data_type() != table_field.data_type()
                {
                    nested.insert(target.clone(), Arc::clone(table_field));
                    return file_field.as_ref().clone();
                }
                table_field.as_ref().clone().with_name(target)
            })
            .collect();
        let renamed = Arc::new(Schema::new_with_metadata(
            fields,
            logical.metadata().clone(),
        ));
        Ok(Arc::new(FieldIdAdapter {
            rename,
            nested,
            inner: DefaultPhysicalExprAdapter::new(renamed, physical),
        }))
    }
}

#[derive(Debug)]
struct FieldIdAdapter {
    rename: HashMap<String, String>,
    /// File column name -> the table field it converts to.
    nested: HashMap<String, FieldRef>,
    inner: DefaultPhysicalExprAdapter,
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let expr = expr
            .transform(|e| {
                let Some(c) = e.as_any().downcast_ref::<Column>() else {
                    return Ok(Transformed::no(e));
                };
                // Not in the map: already renamed, or not a table column.
                let name = self.rename.get(c.name()).map_or(c.name(), String::as_str);
                let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(name, c.index()));
                if let Some(target) = self.nested.get(name) {
                    return Ok(Transformed::yes(Arc::new(ByFieldId {
                        input: column,
                        target: Arc::clone(target),
                    })));
                }
                if name != c.name() {
                    return Ok(Transformed::yes(column));
                }
                Ok(Transformed::no(e))
            })
            .data()?;
        self.inner.rewrite(expr)
    }
}

/// A nested file column converted to the table's type, matching struct
/// fields by field id at every level (NULL where the file lacks one) and
/// widening promoted primitives.
#[derive(Debug, Eq)]
struct ByFieldId {
    input: Arc<dyn PhysicalExpr>,
    target: FieldRef,
}

impl PartialEq for ByFieldId {
    fn eq(&self, other: &Self) -> bool {
        self.input.eq(&other.input) && self.target == other.target
    }
}

impl std::hash::Hash for ByFieldId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.target.hash(state);
    }
}

impl std::fmt::Display for ByFieldId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "by_field_id({})", self.input)
    }
}

impl PhysicalExpr for ByFieldId {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn return_field(&self, _input_schema: &Schema) -> Result<FieldRef> {
        Ok(Arc::clone(&self.target))
    }

    fn evaluate(&self, batch: &arrow::array::RecordBatch) -> Result<ColumnarValue> {
        let array = self.input.evaluate(batch)?.into_array(batch.num_rows())?;
        Ok(ColumnarValue::Array(convert(
            &array,
            self.target.data_type(),
        )?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let input = children.into_iter().next().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("by_field_id needs its input".into())
        })?;
        Ok(Arc::new(Self {
            input,
            target: Arc::clone(&self.target),
        }))
    }

    fn fmt_sql(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.input.fmt_sql(f)
    }
}

/// `array` as `target`: struct fields by field id (or name, without ids),
/// lists and maps element by element, primitives cast.
fn convert(array: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    use arrow::array::{Array, AsArray, ListArray, MapArray, StructArray, new_null_array};
    if array.data_type() == target {
        return Ok(Arc::clone(array));
    }
    match (array.data_type(), target) {
        (DataType::Struct(source_fields), DataType::Struct(target_fields)) => {
            let source = array.as_struct();
            let columns = target_fields
                .iter()
                .map(|t| {
                    let found =
                        source_fields
                            .iter()
                            .position(|s| match (field_id(s), field_id(t)) {
                                (Some(a), Some(b)) => a == b,
                                _ => s.name() == t.name(),
                            });
                    match found {
                        Some(i) => convert(source.column(i), t.data_type()),
                        None => Ok(new_null_array(t.data_type(), source.len())),
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(StructArray::try_new(
                target_fields.clone(),
                columns,
                source.nulls().cloned(),
            )?))
        }
        (DataType::List(_), DataType::List(target_element)) => {
            let list = array.as_list::<i32>();
            let values = convert(list.values(), target_element.data_type())?;
            Ok(Arc::new(ListArray::try_new(
                Arc::clone(target_element),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?))
        }
        (DataType::Map(_, _), DataType::Map(target_entries, sorted)) => {
            let map = array.as_map();
            let DataType::Struct(entry_fields) = target_entries.data_type() else {
                return Ok(arrow::compute::cast(array, target)?);
            };
            let entries = convert(
                &(Arc::new(map.entries().clone()) as ArrayRef),
                target_entries.data_type(),
            )?;
            let entries = entries.as_struct().clone();
            Ok(Arc::new(MapArray::try_new(
                Arc::new(Field::new(
                    target_entries.name(),
                    DataType::Struct(entry_fields.clone()),
                    false,
                )),
                map.offsets().clone(),
                entries,
                map.nulls().cloned(),
                *sorted,
            )?))
        }
        _ => Ok(arrow::compute::cast(array, target)?),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::datatypes::DataType;
    use datafusion::physical_expr::expressions::Literal;

    use super::*;

    fn field(name: &str, id: i32) -> Field {
        Field::new(name, DataType::Int64, true).with_metadata(HashMap::from([(
            PARQUET_FIELD_ID_META_KEY.to_string(),
            id.to_string(),
        )]))
    }

    #[test]
    fn columns_map_by_field_id_not_name() {
        // The table renamed `a` to `x` (id 1) and dropped and re-added `b` (now id 3).
        let table = Arc::new(Schema::new(vec![field("x", 1), field("b", 3)]));
        let file = Arc::new(Schema::new(vec![field("b", 2), field("a", 1)]));
        let adapter = FieldIdAdapterFactory::default()
            .create(table, file)
            .unwrap();

        let x = adapter.rewrite(Arc::new(Column::new("x", 0))).unwrap();
        let x = x.as_any().downcast_ref::<Column>().expect("a column");
        assert_eq!((x.name(), x.index()), ("a", 1));

        // The file's `b` is another field: the new `b` reads as NULL.
        let b = adapter.rewrite(Arc::new(Column::new("b", 1))).unwrap();
        let b = b
            .as_any()
            .downcast_ref::<Literal>()
            .expect("a NULL literal");
        assert!(b.value().is_null());
    }
}
