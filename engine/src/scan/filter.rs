//! DataFusion filters to Iceberg predicates, for file pruning.
//!
//! Only what can be pruned on is converted (comparisons of a column with a
//! literal, `IS [NOT] NULL`, `IN`, `BETWEEN`, `AND` / `OR` / `NOT`); the rest
//! is left to DataFusion, which still applies every filter to the rows.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::Datum;

/// The conjunction of the filters that convert, if any do.
pub fn to_predicate(filters: &[Expr]) -> Option<Predicate> {
    filters.iter().filter_map(convert).reduce(|a, b| a.and(b))
}

fn column(expr: &Expr) -> Option<Reference> {
    match expr {
        Expr::Column(c) => Some(Reference::new(c.name.clone())),
        Expr::Cast(c) => column(&c.expr),
        _ => None,
    }
}

fn literal(expr: &Expr) -> Option<Datum> {
    match expr {
        Expr::Literal(value, _) => datum(value),
        Expr::Cast(c) => literal(&c.expr),
        _ => None,
    }
}

fn datum(value: &ScalarValue) -> Option<Datum> {
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

fn convert(expr: &Expr) -> Option<Predicate> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => match (convert(left), convert(right)) {
                (Some(l), Some(r)) => Some(l.and(r)),
                // Pruning on one side of an AND is still correct.
                (Some(p), None) | (None, Some(p)) => Some(p),
                (None, None) => None,
            },
            Operator::Or => Some(convert(left)?.or(convert(right)?)),
            _ => {
                if let (Some(c), Some(v)) = (column(left), literal(right)) {
                    compare(c, *op, v)
                } else if let (Some(v), Some(c)) = (literal(left), column(right)) {
                    compare(c, op.swap()?, v)
                } else {
                    None
                }
            }
        },
        Expr::Not(inner) => Some(!convert(inner)?),
        Expr::IsNull(inner) => Some(column(inner)?.is_null()),
        Expr::IsNotNull(inner) => Some(column(inner)?.is_not_null()),
        Expr::InList(list) => {
            let c = column(&list.expr)?;
            let values = list.list.iter().map(literal).collect::<Option<Vec<_>>>()?;
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
            let c = column(expr)?;
            let (low, high) = (literal(low)?, literal(high)?);
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
    use datafusion::prelude::{col, lit};

    #[test]
    fn converts_what_prunes_and_skips_the_rest() {
        let filters = [
            col("id").gt_eq(lit(5i64)).and(col("name").like(lit("a%"))),
            lit(3i32).lt(col("x")),
        ];
        let predicate = to_predicate(&filters).unwrap();
        assert_eq!(predicate.to_string(), "(id >= 5) AND (x > 3)");
        assert!(to_predicate(&[col("name").like(lit("a%"))]).is_none());
    }
}
