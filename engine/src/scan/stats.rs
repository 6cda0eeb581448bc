//! Column statistics for DataFusion's optimizer, from the manifests: the
//! bounds and null counts Iceberg keeps for every data file, so the planner
//! sees what it would read from parquet footers without opening a file.

use super::field_ids::field_id;
use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue};
use iceberg::spec::{DataFile, Datum, PrimitiveLiteral, PrimitiveType};

/// A bound as a DataFusion value of `target` type, if it converts.
pub(super) fn scalar(datum: &Datum, target: &DataType) -> Option<ScalarValue> {
    use PrimitiveLiteral as L;
    use PrimitiveType as P;
    let value = match (datum.data_type(), datum.literal()) {
        (P::Boolean, L::Boolean(b)) => ScalarValue::Boolean(Some(*b)),
        (P::Int, L::Int(i)) => ScalarValue::Int32(Some(*i)),
        (P::Long, L::Long(i)) => ScalarValue::Int64(Some(*i)),
        (P::Float, L::Float(f)) => ScalarValue::Float32(Some(f.0)),
        (P::Double, L::Double(f)) => ScalarValue::Float64(Some(f.0)),
        (P::Date, L::Int(d)) => ScalarValue::Date32(Some(*d)),
        (P::Time, L::Long(t)) => ScalarValue::Time64Microsecond(Some(*t)),
        (P::Timestamp, L::Long(t)) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        (P::Timestamptz, L::Long(t)) => {
            ScalarValue::TimestampMicrosecond(Some(*t), Some("+00:00".into()))
        }
        (P::String, L::String(s)) => ScalarValue::Utf8(Some(s.clone())),
        (P::Decimal { precision, scale }, L::Int128(v)) => ScalarValue::Decimal128(
            Some(*v),
            u8::try_from(*precision).ok()?,
            i8::try_from(*scale).ok()?,
        ),
        _ => return None,
    };
    match target {
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Utf8View | DataType::Utf8 => {
            value.cast_to(target).ok()
        }
        t if *t == value.data_type() => Some(value),
        t => value.cast_to(t).ok(),
    }
}

/// Statistics of each column of `fields` over `files`: min of the lower
/// bounds, max of the upper bounds, sum of the null counts, each only when
/// every file has it. Inexact: string bounds may be truncated, and delete
/// files may remove rows.
///
/// A fixed-width column's in-memory size is its width times `rows`; other
/// columns' sizes are unknown. That is how DataFusion sizes a parquet
/// scan, so the optimizer compares join sides the same way on both.
pub fn column_statistics(
    fields: &[Field],
    files: &[&DataFile],
    rows: usize,
) -> Vec<ColumnStatistics> {
    fields
        .iter()
        .map(|field| {
            let mut stats = ColumnStatistics::new_unknown();
            if let Some(width) = field.data_type().primitive_width() {
                stats.byte_size = Precision::Inexact(width * rows);
            }
            let Some(id) = field_id(field) else {
                return stats;
            };
            if files.is_empty() {
                return stats;
            }
            let bound = |pick: fn(&DataFile) -> &std::collections::HashMap<i32, Datum>,
                         keep: std::cmp::Ordering| {
                let mut best: Option<ScalarValue> = None;
                for file in files {
                    let value = scalar(pick(file).get(&id)?, field.data_type())?;
                    best = match best {
                        Some(b) if b.partial_cmp(&value)? != keep => Some(value),
                        Some(b) => Some(b),
                        None => Some(value),
                    };
                }
                best
            };
            if let Some(min) = bound(DataFile::lower_bounds, std::cmp::Ordering::Less) {
                stats.min_value = Precision::Inexact(min);
            }
            if let Some(max) = bound(DataFile::upper_bounds, std::cmp::Ordering::Greater) {
                stats.max_value = Precision::Inexact(max);
            }
            let nulls: Option<u64> = files
                .iter()
                .map(|f| f.null_value_counts().get(&id).copied())
                .sum();
            if let Some(nulls) = nulls {
                stats.null_count = Precision::Inexact(nulls as usize);
            }
            stats
        })
        .collect()
}
