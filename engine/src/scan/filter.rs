//! DataFusion filters to Iceberg predicates, for file pruning.
//!
//! Only what can be pruned on is converted (comparisons of a column with a
//! literal, `IS [NOT] NULL`, `IN`, `BETWEEN`, `AND` / `OR` / `NOT`); the rest
//! is left to DataFusion, which still applies every filter to the rows.
//!
//! A comparison converts only when the literal has exactly the column's
//! type: anything else would need SQL's cast rules, and a wrong conversion
//! could prune a file that holds matching rows. DataFusion's optimizer has
//! already coerced the literals of a query's filters.

use arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::Datum;

/// The conjunction of the filters that convert, if any do; `schema` is the
/// one the filters' columns belong to.
pub fn to_predicate(filters: &[Expr], schema: &Schema) -> Option<Predicate> {
    filters
        .iter()
        .filter_map(|f| convert(f, schema))
        .reduce(|a, b| a.and(b))
}

/// A column of the table, with its type.
fn column<'a>(expr: &Expr, schema: &'a Schema) -> Option<(Reference, &'a DataType)> {
    match expr {
        Expr::Column(c) => {
            let field = schema.field_with_name(&c.name).ok()?;
            Some((Reference::new(c.name.clone()), field.data_type()))
        }
        _ => None,
    }
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// Whether an expression reads a float column.
fn mentions_float(expr: &Expr, schema: &Schema) -> bool {
    expr.column_refs().iter().any(|c| {
        schema
            .field_with_name(&c.name)
            .is_ok_and(|f| is_float(f.data_type()))
    })
}

fn same_type(column: &DataType, literal: &DataType) -> bool {
    use DataType::{LargeUtf8, Utf8, Utf8View};
    column == literal
        || matches!(
            (column, literal),
            (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View)
        )
}

/// A literal of exactly the column's type.
fn literal(expr: &Expr, column_type: &DataType) -> Option<Datum> {
    match expr {
        Expr::Literal(value, _) if same_type(column_type, &value.data_type()) => datum(value),
        _ => None,
    }
}

/// The Iceberg value of a DataFusion scalar, when there is one.
pub fn datum(value: &ScalarValue) -> Option<Datum> {
    Some(match value {
        ScalarValue::Boolean(Some(v)) => Datum::bool(*v),
        ScalarValue::Int8(Some(v)) => Datum::int(i32::from(*v)),
        ScalarValue::Int16(Some(v)) => Datum::int(i32::from(*v)),
        ScalarValue::Int32(Some(v)) => Datum::int(*v),
        ScalarValue::Int64(Some(v)) => Datum::long(*v),
        ScalarValue::Float32(Some(v)) => Datum::float(*v),
        ScalarValue::Float64(Some(v)) => Datum::double(*v),
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v)) => Datum::string(v),
        ScalarValue::Date32(Some(v)) => Datum::date(*v),
        ScalarValue::TimestampMicrosecond(Some(v), None) => Datum::timestamp_micros(*v),
        ScalarValue::TimestampMicrosecond(Some(v), Some(_)) => Datum::timestamptz_micros(*v),
        ScalarValue::TimestampNanosecond(Some(v), None) => {
            Datum::timestamp_micros(v.div_euclid(1000))
        }
        ScalarValue::TimestampNanosecond(Some(v), Some(_)) => {
            Datum::timestamptz_micros(v.div_euclid(1000))
        }
        _ => return None,
    })
}

/// Convert `expr` to a predicate every matching row satisfies. With
/// `partial`, an AND may keep just its convertible side (still implied by
/// the row); under NOT that would be wrong, so NOT converts exactly.
fn convert(expr: &Expr, schema: &Schema) -> Option<Predicate> {
    convert_with(expr, schema, true)
}

fn convert_with(expr: &Expr, schema: &Schema, partial: bool) -> Option<Predicate> {
    let recurse = |e: &Expr| convert_with(e, schema, partial);
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => match (recurse(left), recurse(right)) {
                (Some(l), Some(r)) => Some(l.and(r)),
                (Some(p), None) | (None, Some(p)) if partial => Some(p),
                _ => None,
            },
            Operator::Or => Some(recurse(left)?.or(recurse(right)?)),
            _ => {
                let (c, t, op, value) = if let Some((c, t)) = column(left, schema) {
                    (c, t, *op, right)
                } else if let Some((c, t)) = column(right, schema) {
                    (c, t, op.swap()?, left)
                } else {
                    return None;
                };
                // Iceberg's bounds leave NaN out, and NaN sorts above every
                // number in DataFusion: only comparisons NaN cannot satisfy
                // may prune a float column.
                if is_float(t) && !matches!(op, Operator::Eq | Operator::Lt | Operator::LtEq) {
                    return None;
                }
                compare(c, op, literal(value, t)?)
            }
        },
        Expr::Not(inner) if !mentions_float(inner, schema) => {
            Some(!convert_with(inner, schema, false)?)
        }
        Expr::IsNull(inner) => Some(column(inner, schema)?.0.is_null()),
        Expr::IsNotNull(inner) => Some(column(inner, schema)?.0.is_not_null()),
        Expr::InList(list) => {
            let (c, t) = column(&list.expr, schema)?;
            let values = list
                .list
                .iter()
                .map(|v| literal(v, t))
                .collect::<Option<Vec<_>>>()?;
            Some(if list.negated {
                c.is_not_in(values)
            } else {
                c.is_in(values)
            })
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let (c, t) = column(expr, schema)?;
            let (low, high) = (literal(low, t)?, literal(high, t)?);
            Some(
                c.clone()
                    .greater_than_or_equal_to(low)
                    .and(c.less_than_or_equal_to(high)),
            )
        }
        _ => None,
    }
}

fn compare(c: Reference, op: Operator, v: Datum) -> Option<Predicate> {
    Some(match op {
        Operator::Eq => c.equal_to(v),
        Operator::NotEq => c.not_equal_to(v),
        Operator::Lt => c.less_than(v),
        Operator::LtEq => c.less_than_or_equal_to(v),
        Operator::Gt => c.greater_than(v),
        Operator::GtEq => c.greater_than_or_equal_to(v),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("x", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ])
    }

    #[test]
    fn converts_what_prunes_and_skips_the_rest() {
        let filters = [
            col("id").gt_eq(lit(5i64)).and(col("name").like(lit("a%"))),
            lit(3i32).lt(col("x")),
        ];
        let predicate = to_predicate(&filters, &schema()).unwrap();
        assert_eq!(predicate.to_string(), "(id >= 5) AND (x > 3)");
        assert!(to_predicate(&[col("name").like(lit("a%"))], &schema()).is_none());
    }

    #[test]
    fn only_literals_of_the_column_type_convert() {
        // 1.5 on a BIGINT column would need SQL's cast rules: no pruning.
        assert!(to_predicate(&[col("id").lt(lit(1.5f64))], &schema()).is_none());
        assert!(to_predicate(&[col("x").eq(lit(1i64))], &schema()).is_none());
    }

    #[test]
    fn float_comparisons_nan_satisfies_never_prune() {
        let schema = Schema::new(vec![Field::new("f", DataType::Float64, true)]);
        assert!(to_predicate(&[col("f").gt(lit(1.0f64))], &schema).is_none());
        assert!(to_predicate(&[col("f").not_eq(lit(1.0f64))], &schema).is_none());
        assert!(to_predicate(&[!col("f").lt(lit(1.0f64))], &schema).is_none());
        assert_eq!(
            to_predicate(&[col("f").lt_eq(lit(1.0f64))], &schema)
                .unwrap()
                .to_string(),
            "f <= 1"
        );
    }

    #[test]
    fn not_never_keeps_half_an_and() {
        let filter = !(col("id").eq(lit(1i64)).and(col("name").like(lit("a%"))));
        assert!(to_predicate(&[filter], &schema()).is_none());
        let filter = !(col("id").eq(lit(1i64)).and(col("name").eq(lit("a"))));
        assert_eq!(
            to_predicate(&[filter], &schema()).unwrap().to_string(),
            "NOT ((id = 1) AND (name = \"a\"))"
        );
    }
}
