//! `ALTER TABLE` as Spark and Iceberg spell it: schema changes (nested
//! columns included), properties, partition fields and write order.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::refs::Tokens;
use crate::command::alter::{AlterAction, ColumnChange, NewColumn, Position, SortKey};
use crate::error::{Result, invalid};
use crate::names::{Names, table_ident};

/// Parse what follows `ALTER TABLE name`.
pub(super) fn parse_action(t: &mut Tokens, names: &Names<'_>) -> Result<AlterAction> {
    let action = action(t, names)?;
    t.end("ALTER TABLE")?;
    Ok(action)
}

fn action(t: &mut Tokens, names: &Names<'_>) -> Result<AlterAction> {
    for (keywords, set) in [
        (["SET", "IDENTIFIER", "FIELDS"], true),
        (["DROP", "IDENTIFIER", "FIELDS"], false),
    ] {
        if t.keywords(&keywords) {
            let columns = t.comma_separated(|t| t.name("a column name"))?;
            return Ok(AlterAction::IdentifierFields { columns, set });
        }
    }
    if t.keywords(&["ADD", "PARTITION", "FIELD"]) {
        let transform = Box::new(t.expr()?);
        let name = alias(t)?;
        return Ok(AlterAction::AddPartitionField { transform, name });
    }
    if t.keywords(&["DROP", "PARTITION", "FIELD"]) {
        return Ok(AlterAction::DropPartitionField(Box::new(t.expr()?)));
    }
    if t.keywords(&["REPLACE", "PARTITION", "FIELD"]) {
        let from = t.expr()?;
        if !t.keyword("WITH") {
            return Err(invalid!(
                "REPLACE PARTITION FIELD {from}: expected WITH <transform>"
            ));
        }
        let transform = t.expr()?;
        let name = alias(t)?;
        return Ok(AlterAction::ReplacePartitionField {
            from: Box::new(from),
            transform: Box::new(transform),
            name,
        });
    }
    if t.keywords(&["WRITE", "UNORDERED"]) {
        return Ok(AlterAction::WriteOrder(Vec::new()));
    }
    if t.keywords(&["WRITE", "ORDERED", "BY"]) || t.keywords(&["WRITE", "LOCALLY", "ORDERED", "BY"])
    {
        let keys = t.comma_separated(|t| {
            let expr = t.expr()?;
            let descending = if t.keyword("DESC") {
                true
            } else {
                t.keyword("ASC");
                false
            };
            let nulls_first = if t.keywords(&["NULLS", "FIRST"]) {
                Some(true)
            } else if t.keywords(&["NULLS", "LAST"]) {
                Some(false)
            } else {
                None
            };
            Ok(SortKey {
                expr,
                descending,
                nulls_first,
            })
        })?;
        return Ok(AlterAction::WriteOrder(keys));
    }
    if t.keywords(&["RENAME", "TO"]) {
        let to = t.object_name("a table name")?;
        return Ok(AlterAction::RenameTable(table_ident(
            &to,
            names.catalog,
            names.default_namespace,
        )?));
    }
    if t.keywords(&["RENAME", "COLUMN"]) {
        let path = path(t)?;
        if !t.keyword("TO") {
            return Err(invalid!(
                "RENAME COLUMN {}: expected TO <name>",
                path.join(".")
            ));
        }
        let to = t.name("a column name")?;
        return Ok(AlterAction::RenameColumn { path, to });
    }
    if t.keywords(&["SET", "TBLPROPERTIES"]) {
        let pairs = t.parenthesized(|t| {
            let key = t.name("a property name")?;
            if t.peek() == Some(&Token::Eq) {
                t.advance();
            }
            let value = t.literal("a property value")?;
            Ok((key, value))
        })?;
        return Ok(AlterAction::SetProperties(pairs));
    }
    if t.keywords(&["UNSET", "TBLPROPERTIES"]) {
        let if_exists = t.keywords(&["IF", "EXISTS"]);
        let keys = t.parenthesized(|t| t.name("a property name"))?;
        return Ok(AlterAction::UnsetProperties { keys, if_exists });
    }
    if t.keyword("ADD") {
        let plural = t.keyword("COLUMNS");
        if !plural {
            t.keyword("COLUMN");
        }
        let if_not_exists = t.keywords(&["IF", "NOT", "EXISTS"]);
        let columns = if t.peek() == Some(&Token::LParen) {
            t.parenthesized(new_column)?
        } else {
            t.comma_separated(new_column)?
        };
        return Ok(AlterAction::AddColumns {
            columns,
            if_not_exists,
        });
    }
    if t.keyword("DROP") {
        if !t.keyword("COLUMNS") {
            t.keyword("COLUMN");
        }
        let if_exists = t.keywords(&["IF", "EXISTS"]);
        let paths = if t.peek() == Some(&Token::LParen) {
            t.parenthesized(path)?
        } else {
            t.comma_separated(path)?
        };
        return Ok(AlterAction::DropColumns { paths, if_exists });
    }
    if t.keyword("ALTER") || t.keyword("CHANGE") {
        t.keyword("COLUMN");
        let path = path(t)?;
        let change = if t.keyword("TYPE") || t.keywords(&["SET", "DATA", "TYPE"]) {
            ColumnChange::Type(t.data_type()?)
        } else if t.keywords(&["DROP", "NOT", "NULL"]) {
            ColumnChange::DropNotNull
        } else if t.keywords(&["SET", "NOT", "NULL"]) {
            ColumnChange::SetNotNull
        } else if t.keyword("COMMENT") {
            ColumnChange::Comment(t.literal("a comment")?)
        } else if let Some(position) = position(t)? {
            ColumnChange::Position(position)
        } else {
            return Err(invalid!(
                "ALTER COLUMN {}: expected TYPE <type>, DROP NOT NULL, COMMENT '...', FIRST or \
                 AFTER <column>",
                path.join(".")
            ));
        };
        return Ok(AlterAction::AlterColumn { path, change });
    }
    Err(invalid!(
        "ALTER TABLE: expected ADD / DROP / RENAME / ALTER COLUMN, RENAME TO, SET / UNSET \
         TBLPROPERTIES, ADD / DROP / REPLACE PARTITION FIELD, WRITE ORDERED BY, WRITE UNORDERED, \
         SET / DROP IDENTIFIER FIELDS, or CREATE / REPLACE / DROP BRANCH / TAG"
    ))
}

/// `AS name`, if there.
fn alias(t: &mut Tokens) -> Result<Option<String>> {
    if t.keyword("AS") {
        Ok(Some(t.name("a partition field name")?))
    } else {
        Ok(None)
    }
}

/// A column path: `a` or `s.inner`.
fn path(t: &mut Tokens) -> Result<Vec<String>> {
    let mut parts = vec![t.name("a column name")?];
    while t.peek() == Some(&Token::Period) {
        t.advance();
        parts.push(t.name("a column name")?);
    }
    Ok(parts)
}

fn position(t: &mut Tokens) -> Result<Option<Position>> {
    if t.keyword("FIRST") {
        Ok(Some(Position::First))
    } else if t.keyword("AFTER") {
        Ok(Some(Position::After(t.name("a column name")?)))
    } else {
        Ok(None)
    }
}

fn new_column(t: &mut Tokens) -> Result<NewColumn> {
    let path = path(t)?;
    let data_type = t.data_type()?;
    let mut not_null = false;
    let mut comment = None;
    let mut position_ = None;
    loop {
        if t.keywords(&["NOT", "NULL"]) {
            not_null = true;
        } else if t.keyword("NULL") {
            not_null = false;
        } else if t.keyword("COMMENT") {
            comment = Some(t.literal("a comment")?);
        } else if let Some(p) = position(t)? {
            position_ = Some(p);
        } else {
            break;
        }
    }
    Ok(NewColumn {
        path,
        data_type,
        not_null,
        comment,
        position: position_,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::DataType;

    fn parse(sql: &str) -> AlterAction {
        let statement = crate::sql::lexer::split(sql).unwrap().remove(0);
        let mut t = Tokens::new(&statement.tokens);
        let names = Names {
            catalog: "floe",
            default_namespace: "default",
            table_exists: &|_| true,
        };
        parse_action(&mut t, &names).unwrap()
    }

    #[test]
    fn parses_spark_alter_table() {
        assert_eq!(
            parse("ADD COLUMN s.inner BIGINT NOT NULL COMMENT 'x' AFTER a"),
            AlterAction::AddColumns {
                columns: vec![NewColumn {
                    path: vec!["s".into(), "inner".into()],
                    data_type: DataType::BigInt(None),
                    not_null: true,
                    comment: Some("x".into()),
                    position: Some(Position::After("a".into())),
                }],
                if_not_exists: false,
            }
        );
        assert_eq!(
            parse("DROP COLUMNS (a, s.b)"),
            AlterAction::DropColumns {
                paths: vec![vec!["a".into()], vec!["s".into(), "b".into()]],
                if_exists: false,
            }
        );
        assert_eq!(
            parse("ALTER COLUMN n TYPE DECIMAL(12, 2)"),
            AlterAction::AlterColumn {
                path: vec!["n".into()],
                change: ColumnChange::Type(DataType::Decimal(
                    datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(12, 2)
                )),
            }
        );
        assert_eq!(
            parse("SET TBLPROPERTIES ('a' = 'b', 'c' = 1)"),
            AlterAction::SetProperties(vec![("a".into(), "b".into()), ("c".into(), "1".into())])
        );
        assert!(matches!(
            parse("REPLACE PARTITION FIELD ts_day WITH hours(ts) AS hour"),
            AlterAction::ReplacePartitionField { name: Some(n), .. } if n == "hour"
        ));
        assert!(matches!(
            parse("WRITE ORDERED BY a DESC NULLS LAST, b"),
            AlterAction::WriteOrder(keys) if keys.len() == 2 && keys[0].descending && keys[0].nulls_first == Some(false)
        ));
    }
}
