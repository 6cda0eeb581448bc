//! Mapping a data file's columns to the table's by Iceberg field id, so a
//! renamed column still reads its old values and a dropped-and-re-added one
//! reads NULL for old files.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapter, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

fn field_id(field: &Field) -> Option<i32> {
    field
        .metadata()
        .get(PARQUET_FIELD_ID_META_KEY)?
        .parse()
        .ok()
}

/// Rewrites table columns to the file columns with the same field id, then
/// lets DataFusion's default adapter cast types and fill missing columns
/// with NULL. Files without field ids are matched by name.
#[derive(Debug, Default)]
pub struct FieldIdAdapterFactory;

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(
        &self,
        logical: SchemaRef,
        physical: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let file_has_ids = physical.fields().iter().any(|f| field_id(f).is_some());
        let mut rename = HashMap::new();
        let fields: Vec<Field> = logical
            .fields()
            .iter()
            .map(|table_field| {
                let target = match field_id(table_field) {
                    Some(id) if file_has_ids => physical
                        .fields()
                        .iter()
                        .find(|f| field_id(f) == Some(id))
                        .map(|f| f.name().clone())
                        .unwrap_or_else(|| format!("__floe_missing_field_{id}")),
                    _ => table_field.name().clone(),
                };
                rename.insert(table_field.name().clone(), target.clone());
                table_field.as_ref().clone().with_name(target)
            })
            .collect();
        let renamed = Arc::new(Schema::new_with_metadata(
            fields,
            logical.metadata().clone(),
        ));
        Ok(Arc::new(FieldIdAdapter {
            rename,
            inner: DefaultPhysicalExprAdapter::new(renamed, physical),
        }))
    }
}

#[derive(Debug)]
struct FieldIdAdapter {
    rename: HashMap<String, String>,
    inner: DefaultPhysicalExprAdapter,
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let expr = expr
            .transform(|e| {
                if let Some(c) = e.as_any().downcast_ref::<Column>()
                    && let Some(name) = self.rename.get(c.name())
                    && name != c.name()
                {
                    let renamed: Arc<dyn PhysicalExpr> = Arc::new(Column::new(name, c.index()));
                    return Ok(Transformed::yes(renamed));
                }
                Ok(Transformed::no(e))
            })
            .data()?;
        self.inner.rewrite(expr)
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
        let adapter = FieldIdAdapterFactory.create(table, file).unwrap();

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
