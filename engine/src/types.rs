//! SQL column types to Iceberg types.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, CharacterLength, DataType, ExactNumberInfo, TimezoneInfo,
};
use iceberg::spec::{ListType, MapType, NestedField, PrimitiveType, StructType, Type};

use crate::error::{Result, invalid};

/// Hands out field ids while a schema is built.
#[derive(Debug, Default)]
pub struct FieldIds {
    last: i32,
}

impl FieldIds {
    /// Start after `last` (the table's `last-column-id`).
    pub fn after(last: i32) -> Self {
        Self { last }
    }

    /// The next unused id.
    pub fn fresh(&mut self) -> i32 {
        self.last += 1;
        self.last
    }
}

/// The Iceberg type of a SQL column type. `column` names the column in errors.
pub fn iceberg_type(data_type: &DataType, ids: &mut FieldIds, column: &str) -> Result<Type> {
    use PrimitiveType as P;
    let primitive = |p: PrimitiveType| Ok(Type::Primitive(p));
    match data_type {
        DataType::Boolean | DataType::Bool => primitive(P::Boolean),
        DataType::TinyInt(_) | DataType::SmallInt(_) | DataType::Int2(_) => primitive(P::Int),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) | DataType::Int32 => {
            primitive(P::Int)
        }
        DataType::BigInt(_) | DataType::Int8(_) | DataType::Int64 => primitive(P::Long),
        DataType::Float(_) | DataType::Real | DataType::Float4 | DataType::Float32 => {
            primitive(P::Float)
        }
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 | DataType::Float64 => {
            primitive(P::Double)
        }
        DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info) => {
            let (precision, scale) = match info {
                ExactNumberInfo::None => (38, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, (*s).max(0) as u64),
            };
            if !(1..=38).contains(&precision) || scale > precision {
                return Err(invalid!(
                    "column '{column}': decimal({precision}, {scale}) is not valid: \
                     precision must be 1 to 38 and scale at most the precision"
                ));
            }
            primitive(P::Decimal {
                precision: precision as u32,
                scale: scale as u32,
            })
        }
        DataType::Date => primitive(P::Date),
        DataType::Time(_, _) => primitive(P::Time),
        DataType::Timestamp(_, tz) => match tz {
            TimezoneInfo::None | TimezoneInfo::WithoutTimeZone => primitive(P::Timestamp),
            TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => primitive(P::Timestamptz),
        },
        DataType::TimestampNtz(_) | DataType::Datetime(_) => primitive(P::Timestamp),
        DataType::String(_)
        | DataType::Text
        | DataType::Varchar(_)
        | DataType::Nvarchar(_)
        | DataType::CharVarying(_)
        | DataType::CharacterVarying(_) => primitive(P::String),
        DataType::Char(len) | DataType::Character(len) => match len {
            None | Some(CharacterLength::IntegerLength { .. }) | Some(CharacterLength::Max) => {
                primitive(P::String)
            }
        },
        DataType::Binary(_) | DataType::Varbinary(_) | DataType::Bytea | DataType::Blob(_) => {
            primitive(P::Binary)
        }
        DataType::Uuid => primitive(P::Uuid),
        DataType::Custom(name, args) if args.is_empty() => {
            match name.to_string().to_ascii_lowercase().as_str() {
                "long" => primitive(P::Long),
                "short" | "byte" => primitive(P::Int),
                "timestamp_ltz" => primitive(P::Timestamptz),
                other => Err(invalid!("column '{column}': unknown type '{other}'")),
            }
        }
        DataType::Array(elem) => {
            let inner = match elem {
                ArrayElemTypeDef::AngleBracket(t)
                | ArrayElemTypeDef::SquareBracket(t, _)
                | ArrayElemTypeDef::Parenthesis(t) => t.as_ref(),
                ArrayElemTypeDef::None => {
                    return Err(invalid!(
                        "column '{column}': an array needs an element type, e.g. ARRAY<INT>"
                    ));
                }
            };
            let id = ids.fresh();
            let element = iceberg_type(inner, ids, column)?;
            Ok(Type::List(ListType::new(Arc::new(
                NestedField::list_element(id, element, false),
            ))))
        }
        DataType::Map(key, value) => {
            let key_id = ids.fresh();
            let value_id = ids.fresh();
            let key = iceberg_type(key, ids, column)?;
            let value = iceberg_type(value, ids, column)?;
            Ok(Type::Map(MapType::new(
                Arc::new(NestedField::map_key_element(key_id, key)),
                Arc::new(NestedField::map_value_element(value_id, value, false)),
            )))
        }
        DataType::Struct(fields, _) => {
            let mut named = Vec::with_capacity(fields.len());
            for field in fields {
                let name = field.field_name.as_ref().ok_or_else(|| {
                    invalid!("column '{column}': every struct field needs a name")
                })?;
                named.push((ids.fresh(), name.value.clone(), &field.field_type));
            }
            let mut nested = Vec::with_capacity(named.len());
            for (id, name, field_type) in named {
                let t = iceberg_type(field_type, ids, &format!("{column}.{name}"))?;
                nested.push(Arc::new(NestedField::optional(id, name, t)));
            }
            Ok(Type::Struct(StructType::new(nested)))
        }
        other => Err(invalid!(
            "column '{column}': type {other} has no Iceberg equivalent"
        )),
    }
}

/// The Iceberg type for an arrow type produced by a query (CREATE TABLE AS
/// SELECT). Nanosecond timestamps become Iceberg's microsecond ones.
pub fn iceberg_type_from_arrow(
    data_type: &arrow::datatypes::DataType,
    ids: &mut FieldIds,
    column: &str,
) -> Result<Type> {
    use PrimitiveType as P;
    use arrow::datatypes::DataType as A;
    let primitive = |p: PrimitiveType| Ok(Type::Primitive(p));
    match data_type {
        A::Boolean => primitive(P::Boolean),
        A::Int8 | A::Int16 | A::Int32 | A::UInt8 | A::UInt16 => primitive(P::Int),
        A::Int64 | A::UInt32 | A::UInt64 => primitive(P::Long),
        A::Float16 | A::Float32 => primitive(P::Float),
        A::Float64 => primitive(P::Double),
        A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal128(p, s) if *p <= 38 => {
            primitive(P::Decimal {
                precision: u32::from(*p),
                scale: (*s).max(0) as u32,
            })
        }
        A::Date32 | A::Date64 => primitive(P::Date),
        A::Time32(_) | A::Time64(_) => primitive(P::Time),
        A::Timestamp(_, None) => primitive(P::Timestamp),
        A::Timestamp(_, Some(_)) => primitive(P::Timestamptz),
        A::Utf8 | A::LargeUtf8 | A::Utf8View => primitive(P::String),
        A::Binary | A::LargeBinary | A::BinaryView => primitive(P::Binary),
        A::FixedSizeBinary(16) => primitive(P::Uuid),
        A::FixedSizeBinary(n) => primitive(P::Fixed(*n as u64)),
        A::List(f)
        | A::LargeList(f)
        | A::ListView(f)
        | A::LargeListView(f)
        | A::FixedSizeList(f, _) => {
            let id = ids.fresh();
            let element = iceberg_type_from_arrow(f.data_type(), ids, column)?;
            Ok(Type::List(ListType::new(Arc::new(
                NestedField::list_element(id, element, false),
            ))))
        }
        A::Struct(fields) => {
            let top: Vec<i32> = fields.iter().map(|_| ids.fresh()).collect();
            let mut nested = Vec::with_capacity(fields.len());
            for (f, id) in fields.iter().zip(top) {
                let t =
                    iceberg_type_from_arrow(f.data_type(), ids, &format!("{column}.{}", f.name()))?;
                nested.push(Arc::new(NestedField::optional(id, f.name(), t)));
            }
            Ok(Type::Struct(StructType::new(nested)))
        }
        A::Map(entries, _) => {
            let A::Struct(kv) = entries.data_type() else {
                return Err(invalid!(
                    "column '{column}': malformed map type {data_type}"
                ));
            };
            let (key_id, value_id) = (ids.fresh(), ids.fresh());
            let key = iceberg_type_from_arrow(kv[0].data_type(), ids, column)?;
            let value = iceberg_type_from_arrow(kv[1].data_type(), ids, column)?;
            Ok(Type::Map(MapType::new(
                Arc::new(NestedField::map_key_element(key_id, key)),
                Arc::new(NestedField::map_value_element(value_id, value, false)),
            )))
        }
        A::Null => Err(invalid!(
            "column '{column}' is always NULL and has no type: CAST it to the type it should have"
        )),
        other => Err(invalid!(
            "column '{column}': type {other} has no Iceberg equivalent"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(t: &str) -> Result<Type> {
        let dt = Parser::new(&GenericDialect {})
            .try_with_sql(t)
            .unwrap()
            .parse_data_type()
            .unwrap();
        iceberg_type(&dt, &mut FieldIds::default(), "c")
    }

    #[test]
    fn primitives() {
        assert_eq!(
            parse("BIGINT").unwrap(),
            Type::Primitive(PrimitiveType::Long)
        );
        assert_eq!(
            parse("VARCHAR(10)").unwrap(),
            Type::Primitive(PrimitiveType::String)
        );
        assert_eq!(
            parse("TIMESTAMP WITH TIME ZONE").unwrap(),
            Type::Primitive(PrimitiveType::Timestamptz)
        );
        assert_eq!(
            parse("DECIMAL(10, 2)").unwrap(),
            Type::Primitive(PrimitiveType::Decimal {
                precision: 10,
                scale: 2
            })
        );
        let err = parse("DECIMAL(40, 2)").unwrap_err().to_string();
        assert!(err.contains("decimal(40, 2) is not valid"), "{err}");
    }

    #[test]
    fn nested_types_get_fresh_ids() {
        let t = parse("STRUCT<a INT, b ARRAY<STRING>>").unwrap();
        let Type::Struct(s) = t else {
            panic!("not a struct")
        };
        assert_eq!(s.fields()[0].id, 1);
        assert_eq!(s.fields()[1].id, 2);
        let Type::List(l) = s.fields()[1].field_type.as_ref() else {
            panic!("not a list")
        };
        assert_eq!(l.element_field.id, 3);
    }
}
