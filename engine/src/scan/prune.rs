//! File pruning by the manifests' column metrics, with DataFusion's
//! `PruningPredicate`: each data file is one container whose min / max are
//! its lower / upper bounds, as parquet row groups are for DataFusion's own
//! scans (delta-rs prunes its add actions the same way).
//!
//! Bounds are always safe to prune by: every value of a file lies between
//! them (Iceberg truncates string bounds outward). A float column's bounds
//! leave NaN out, so they are used only for a file known to hold no NaN.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_optimizer::pruning::PruningPredicate;
use iceberg::expr::Predicate;
use iceberg::spec::{DataFile, Datum, ManifestFile, TableMetadata, Transform};

use super::field_ids::field_id;
use super::stats::scalar;

/// DataFusion's filters on a scan, to prune its files with.
#[derive(Debug, Clone, Copy)]
pub struct ScanFilters<'a> {
    /// The filters pushed into the scan (each one is applied to the rows
    /// again by DataFusion, so pruning may keep more than it must).
    pub filters: &'a [Expr],
    /// The scan's schema: the columns the filters name, with field ids.
    pub schema: &'a SchemaRef,
    /// The columns whose bounds may prune: the scan's, less those whose
    /// older files hold bounds of another type (see
    /// [`IcebergTableProvider::pruning_schema`](super::IcebergTableProvider::pruning_schema)).
    pub trusted: &'a Schema,
}

impl ScanFilters<'_> {
    /// The filters as an Iceberg predicate, for the `iceberg` planner: the
    /// conjunction of those that convert, on trusted columns only.
    pub fn iceberg_predicate(&self) -> Option<Predicate> {
        super::filter::to_predicate(self.filters, self.trusted)
    }

    /// Which of `files` may hold rows the filters keep (`true`: read it).
    /// A filter that cannot be evaluated on the bounds prunes nothing.
    pub fn keep(&self, files: &[&DataFile]) -> Vec<bool> {
        let all = || vec![true; files.len()];
        let Some(predicate) = self.predicate() else {
            return all();
        };
        let metrics = FileMetrics {
            files,
            schema: self.trusted,
        };
        predicate.prune(&metrics).unwrap_or_else(|_| all())
    }

    /// Which of the data `manifests` may list files the filters keep, by
    /// the manifest list's partition summaries: the bounds of an identity
    /// partition field are its source column's. Other columns prune no
    /// manifest here; their files are pruned one by one ([`Self::keep`]).
    pub fn keep_manifests(
        &self,
        manifests: &[&ManifestFile],
        metadata: &TableMetadata,
    ) -> Vec<bool> {
        let all = || vec![true; manifests.len()];
        let Some(predicate) = self.predicate() else {
            return all();
        };
        let summaries = ManifestSummaries {
            manifests,
            metadata,
            schema: self.trusted,
        };
        predicate.prune(&summaries).unwrap_or_else(|_| all())
    }

    /// The filters as one pruning predicate, if any of them can prune.
    fn predicate(&self) -> Option<PruningPredicate> {
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone()).ok()?;
        let props = ExecutionProps::new();
        // Each filter on its own: one that does not convert (a column the
        // scan lacks, an unsupported expression) leaves the others.
        let converted: Vec<Expr> = self
            .filters
            .iter()
            .map(|f| unnormalize_col(f.clone()))
            .filter(|f| create_physical_expr(f, &df_schema, &props).is_ok())
            .collect();
        let expr = create_physical_expr(&conjunction(converted)?, &df_schema, &props).ok()?;
        let predicate = PruningPredicate::try_new(expr, Arc::clone(self.schema)).ok()?;
        (!predicate.always_true()).then_some(predicate)
    }
}

/// A column's field and field id, if its bounds can be trusted (and are
/// not a float column's, whose bounds leave NaN out).
fn trusted_field<'a>(schema: &'a Schema, column: &Column) -> Option<(&'a Field, i32, bool)> {
    let field = schema.field_with_name(&column.name).ok()?;
    let is_float = matches!(
        field.data_type(),
        DataType::Float16 | DataType::Float32 | DataType::Float64
    );
    Some((field, field_id(field)?, is_float))
}

/// The partition summaries of each data manifest, as the bounds of the
/// columns that are identity partition sources.
struct ManifestSummaries<'a> {
    manifests: &'a [&'a ManifestFile],
    metadata: &'a TableMetadata,
    /// The trusted columns.
    schema: &'a Schema,
}

impl ManifestSummaries<'_> {
    /// One bound of every manifest, NULL where the column is not an
    /// identity partition source of the manifest's spec.
    fn bounds(&self, column: &Column, upper: bool) -> Option<ArrayRef> {
        let (field, id, is_float) = trusted_field(self.schema, column)?;
        let source_type = self
            .metadata
            .current_schema()
            .field_by_id(id)?
            .field_type
            .as_primitive_type()?
            .clone();
        let null = ScalarValue::try_from(field.data_type()).ok()?;
        let bound = |manifest: &ManifestFile| -> Option<ScalarValue> {
            let spec = self
                .metadata
                .partition_spec_by_id(manifest.partition_spec_id)?;
            let index = spec
                .fields()
                .iter()
                .position(|f| f.source_id == id && f.transform == Transform::Identity)?;
            let summary = manifest.partitions.as_ref()?.get(index)?;
            let bytes = if upper {
                summary.upper_bound.as_ref()?
            } else {
                summary.lower_bound.as_ref()?
            };
            let datum = Datum::try_from_bytes(bytes, source_type.clone()).ok()?;
            scalar(&datum, field.data_type())
        };
        let values = self.manifests.iter().map(|manifest| match is_float {
            true => null.clone(),
            false => bound(manifest).unwrap_or_else(|| null.clone()),
        });
        ScalarValue::iter_to_array(values).ok()
    }
}

impl PruningStatistics for ManifestSummaries<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, false)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, true)
    }

    fn num_containers(&self) -> usize {
        self.manifests.len()
    }

    fn null_counts(&self, _column: &Column) -> Option<ArrayRef> {
        None
    }

    fn row_counts(&self, _column: &Column) -> Option<ArrayRef> {
        None
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// The metrics of each data file, by column name.
struct FileMetrics<'a> {
    files: &'a [&'a DataFile],
    /// The trusted columns.
    schema: &'a Schema,
}

impl FileMetrics<'_> {
    /// The column's field and field id, if its metrics can be trusted.
    fn field(&self, column: &Column) -> Option<(&Field, i32)> {
        trusted_field(self.schema, column).map(|(field, id, _)| (field, id))
    }

    /// One bound of every file, NULL where a file has none.
    fn bounds(
        &self,
        column: &Column,
        pick: fn(&DataFile) -> &std::collections::HashMap<i32, Datum>,
    ) -> Option<ArrayRef> {
        let (field, id, is_float) = trusted_field(self.schema, column)?;
        let null = ScalarValue::try_from(field.data_type()).ok()?;
        let values = self.files.iter().map(|file| {
            if is_float && file.nan_value_counts().get(&id) != Some(&0) {
                return null.clone();
            }
            pick(file)
                .get(&id)
                .and_then(|bound| scalar(bound, field.data_type()))
                .unwrap_or_else(|| null.clone())
        });
        ScalarValue::iter_to_array(values).ok()
    }
}

impl PruningStatistics for FileMetrics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, DataFile::lower_bounds)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, DataFile::upper_bounds)
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let (_, id) = self.field(column)?;
        let counts: UInt64Array = self
            .files
            .iter()
            .map(|file| file.null_value_counts().get(&id).copied())
            .collect();
        Some(Arc::new(counts))
    }

    fn row_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.field(column)?;
        let counts: UInt64Array = self
            .files
            .iter()
            .map(|file| Some(file.record_count()))
            .collect();
        Some(Arc::new(counts))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}
