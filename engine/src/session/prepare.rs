//! Prepared statements: one statement parsed once for its placeholders
//! (`?` or `$1`), run many times with parameter values.
//!
//! A statement is prepared from its tokens. `?` placeholders are numbered
//! `$1`, `$2`, ... in order, so both spellings mean the same. Binding puts
//! each value in place of its placeholder as a SQL literal token (never by
//! pasting text into the SQL), and the statement is then parsed and run as
//! if it had been written with the values, against the tables as they are
//! when it runs, not as they were when it was prepared.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use super::Session;
use crate::command::Command;
use crate::error::{FloeError, Result, invalid, unsupported};
use crate::script::{Script, ScriptStatement};
use crate::sql::lexer::{StatementTokens, tokenize};

/// One statement prepared by [`Session::prepare`]: what it returns and
/// which parameters it takes. Run it with [`Session::execute_prepared`].
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> floe_engine::Result<()> {
/// use datafusion::common::ScalarValue;
///
/// let dir = tempfile::tempdir().unwrap();
/// let session = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?.session();
/// session.sql("CREATE TABLE t (id BIGINT, name STRING)").await?;
/// let insert = session.prepare("INSERT INTO t VALUES (?, ?)").await?;
/// assert!(!insert.returns_rows());
/// assert_eq!(insert.parameter_count(), 2);
/// for (id, name) in [(1, "a"), (2, "it's")] {
///     let values = [ScalarValue::Int64(Some(id)), ScalarValue::from(name)];
///     session.execute_prepared(&insert, &values).await?;
/// }
/// let query = session.prepare("SELECT name FROM t WHERE id = $1").await?;
/// assert_eq!(query.parameter_types(), [Some(arrow::datatypes::DataType::Int64)]);
/// let rows = session.execute_prepared(&query, &[ScalarValue::Int64(Some(2))]).await?;
/// let rows = rows.collect().await?;
/// assert_eq!(arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string(),
///     "+------+\n| name |\n+------+\n| it's |\n+------+");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PreparedStatement {
    /// The statement, its placeholders numbered `$1..$n`.
    statement: StatementTokens,
    /// How many parameters it takes (the highest placeholder number).
    parameters: usize,
    /// Each parameter's type where the statement decides it.
    parameter_types: Vec<Option<DataType>>,
    /// Whether running it returns rows (a query, `SHOW`, `CALL`).
    returns_rows: bool,
    /// Whether it may run inside a transaction (reads and DML).
    transactional: bool,
    /// The columns it returns, where known before it runs.
    schema: Option<SchemaRef>,
}

impl PreparedStatement {
    /// The statement's SQL, as given.
    pub fn sql(&self) -> &str {
        &self.statement.sql
    }

    /// Whether running it returns rows: a query, `SHOW ...`, `DESCRIBE`,
    /// `CALL`, `MERGE BRANCH` (its report). DML and DDL return none.
    pub fn returns_rows(&self) -> bool {
        self.returns_rows
    }

    /// Whether it may run inside a transaction: reads and DML may; DDL,
    /// branch and ref changes and `CALL` may not
    /// ([`Command::is_transactional`]).
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// How many parameters it takes.
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }

    /// Each parameter's type, where the statement decides it (`id = ?`
    /// takes the column's type); `None` where any value goes.
    pub fn parameter_types(&self) -> &[Option<DataType>] {
        &self.parameter_types
    }

    /// The parameters as an Arrow schema, `$1`, `$2`, ... in order, each
    /// nullable; a parameter of no fixed type is `Null`.
    pub fn parameter_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .parameter_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Field::new(
                    format!("${}", i + 1),
                    t.clone().unwrap_or(DataType::Null),
                    true,
                )
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The columns it returns, where known before it runs (queries,
    /// `SHOW`, `DESCRIBE`); `None` for statements that return no rows and
    /// for those whose columns only running tells (`CALL`).
    pub fn schema(&self) -> Option<&SchemaRef> {
        self.schema.as_ref()
    }

    /// The statement with `values` in place of its placeholders.
    fn bind(&self, values: &[ScalarValue]) -> Result<ScriptStatement> {
        if values.len() != self.parameters {
            return Err(invalid!(
                "the statement takes {} parameter{}, {} given: {}",
                self.parameters,
                if self.parameters == 1 { "" } else { "s" },
                values.len(),
                self.statement.sql
            ));
        }
        let mut literals = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let value = match &self.parameter_types[i] {
                Some(wanted) if value.data_type() != *wanted && !value.is_null() => {
                    value.cast_to(wanted).map_err(|_| {
                        invalid!(
                            "parameter {} is {value} of type {}, but the statement takes {wanted} \
                             there: {}",
                            i + 1,
                            value.data_type(),
                            self.statement.sql
                        )
                    })?
                }
                _ => value.clone(),
            };
            literals.push(literal_tokens(&value, i + 1)?);
        }
        let mut tokens = Vec::with_capacity(self.statement.tokens.len());
        for token in &self.statement.tokens {
            match placeholder_index(&token.token)? {
                Some(n) => tokens.extend(literals[n - 1].iter().cloned()),
                None => tokens.push(token.clone()),
            }
        }
        Ok(ScriptStatement::from_tokens(StatementTokens {
            tokens,
            ..self.statement.clone()
        }))
    }
}

impl Session {
    /// Prepare one statement with `?` or `$1`, `$2`, ... placeholders
    /// (not both): check that it parses, and find what it returns and the
    /// types of its parameters. Nothing runs.
    pub async fn prepare(&self, sql: &str) -> Result<PreparedStatement> {
        let script = Script::parse(sql)?;
        let mut statements = script.into_statements();
        if statements.len() != 1 {
            return Err(invalid!(
                "a prepared statement is one statement, found {}: {sql}",
                statements.len()
            ));
        }
        let mut statement = statements.remove(0).into_tokens();
        let parameters = number_placeholders(&mut statement)?;
        let mut prepared = PreparedStatement {
            statement,
            parameters,
            parameter_types: vec![None; parameters],
            returns_rows: false,
            transactional: true,
            schema: None,
        };
        // Parsed and planned once, with its placeholders: DataFusion infers
        // their types. A placeholder where the parser wants a literal is
        // parsed with NULL for every parameter instead, as it will run.
        let nulls = vec![ScalarValue::Null; parameters];
        let placeholders = ScriptStatement::from_tokens(prepared.statement.clone());
        let command = match self.parse(placeholders).await {
            Ok(command) => command,
            Err(_) if parameters > 0 => self.parse(prepared.bind(&nulls)?).await?,
            Err(e) => return Err(e),
        };
        prepared.returns_rows = command.returns_rows();
        prepared.transactional = command.is_transactional();
        match command {
            Command::DataFusion(statement) | Command::Insert { statement, .. } => {
                let typed = match self.plan_statement(statement).await {
                    Ok(plan) => Some(plan),
                    // A query that cannot be planned is refused now; DML
                    // fails when it runs, with its table named.
                    Err(e) if prepared.returns_rows && parameters == 0 => return Err(e),
                    Err(_) => None,
                };
                if let Some(plan) = &typed {
                    let types = plan.get_parameter_types()?;
                    for (i, slot) in prepared.parameter_types.iter_mut().enumerate() {
                        *slot = types.get(&format!("${}", i + 1)).cloned().flatten();
                    }
                }
                if prepared.returns_rows {
                    let schema = match typed {
                        Some(plan) => Arc::clone(plan.schema().inner()),
                        None => {
                            let Command::DataFusion(statement) =
                                self.parse(prepared.bind(&nulls)?).await?
                            else {
                                return Err(FloeError::internal(
                                    "a query parsed as another statement",
                                ));
                            };
                            Arc::clone(self.plan_statement(statement).await?.schema().inner())
                        }
                    };
                    prepared.schema = Some(schema);
                }
            }
            // Read-only and cheap: their columns are what they return.
            command @ (Command::ShowTables { .. }
            | Command::ShowBranches
            | Command::ShowRefs { .. }
            | Command::Describe { .. }) => {
                let frame = self.execute(command).await?;
                prepared.schema = Some(Arc::clone(frame.schema().inner()));
            }
            _ => {}
        }
        Ok(prepared)
    }

    /// Run a prepared statement with one value per parameter, as
    /// [`Session::run`] runs a statement: DDL and DML to completion, a
    /// query as a frame. A value is cast to its parameter's type; one that
    /// does not fit is an error, and nothing runs.
    pub async fn execute_prepared(
        &self,
        prepared: &PreparedStatement,
        values: &[ScalarValue],
    ) -> Result<DataFrame> {
        let statement = prepared.bind(values)?;
        self.run(statement).await
    }
}

/// Number `?` placeholders `$1`, `$2`, ... in place; returns how many
/// parameters the statement takes.
fn number_placeholders(statement: &mut StatementTokens) -> Result<usize> {
    let (mut questions, mut highest, mut numbered) = (0, 0, false);
    for token in &mut statement.tokens {
        let Token::Placeholder(text) = &token.token else {
            continue;
        };
        if text == "?" {
            questions += 1;
            token.token = Token::Placeholder(format!("${questions}"));
        } else {
            numbered = true;
            highest = highest.max(placeholder_index(&token.token)?.unwrap_or(0));
        }
    }
    if numbered && questions > 0 {
        return Err(invalid!(
            "the statement mixes ? and $n placeholders; use one kind: {}",
            statement.sql
        ));
    }
    Ok(questions.max(highest))
}

/// The number of a `$n` placeholder token; `None` for any other token.
fn placeholder_index(token: &Token) -> Result<Option<usize>> {
    let Token::Placeholder(text) = token else {
        return Ok(None);
    };
    match text.strip_prefix('$').map(str::parse::<usize>) {
        Some(Ok(n)) if n > 0 => Ok(Some(n)),
        _ => Err(unsupported!(
            "placeholder {text}: use ? or $1, $2, ... (numbered from 1)"
        )),
    }
}

/// The tokens of `value` as a SQL literal of its type.
fn literal_tokens(value: &ScalarValue, index: usize) -> Result<Vec<TokenWithSpan>> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let sql = match value {
        v if v.is_null() => match v.data_type() {
            DataType::Null => "NULL".to_string(),
            t => format!("arrow_cast(NULL, {})", quote(&t.to_string())),
        },
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_) => {
            // Negative numbers need parentheses where a bare `-` would not parse.
            let text = value.to_string();
            let wanted = value.data_type();
            if wanted == DataType::Int64 {
                if text.starts_with('-') {
                    format!("({text})")
                } else {
                    text
                }
            } else {
                format!("arrow_cast({text}, {})", quote(&wanted.to_string()))
            }
        }
        ScalarValue::Float64(Some(f)) if f.is_finite() && *f < 0.0 => format!("({f:?})"),
        ScalarValue::Float64(Some(f)) if f.is_finite() => format!("{f:?}"),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => quote(s),
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b))
        | ScalarValue::FixedSizeBinary(_, Some(b)) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("X'{hex}'")
        }
        ScalarValue::List(_)
        | ScalarValue::LargeList(_)
        | ScalarValue::FixedSizeList(_)
        | ScalarValue::Struct(_)
        | ScalarValue::Map(_)
        | ScalarValue::Union(..)
        | ScalarValue::Dictionary(..) => {
            return Err(unsupported!(
                "parameter {index} is of type {}: parameters are single values (numbers, \
                 strings, booleans, dates, times, decimals, binary)",
                value.data_type()
            ));
        }
        // Dates, times, timestamps, decimals, floats: the value's text, cast
        // to its exact Arrow type.
        other => format!(
            "arrow_cast({}, {})",
            quote(&other.to_string()),
            quote(&other.data_type().to_string())
        ),
    };
    Ok(tokenize(&sql)?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn text(value: ScalarValue) -> String {
        literal_tokens(&value, 1)
            .unwrap()
            .iter()
            .map(|t| t.token.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn literals_keep_their_types_and_quote_strings() {
        assert_eq!(text(ScalarValue::Int64(Some(-3))), "( - 3 )");
        assert_eq!(
            text(ScalarValue::Int32(Some(7))),
            "arrow_cast ( 7 , 'Int32' )"
        );
        let quoted = literal_tokens(&ScalarValue::from("it's"), 1).unwrap();
        assert_eq!(quoted.len(), 1);
        assert_eq!(quoted[0].token, Token::SingleQuotedString("it's".into()));
        assert_eq!(text(ScalarValue::Boolean(Some(true))), "true");
        assert_eq!(text(ScalarValue::Null), "NULL");
        assert_eq!(text(ScalarValue::Binary(Some(vec![0, 255]))), "X'00ff'");
        assert_eq!(text(ScalarValue::Float64(Some(1.5))), "1.5");
        assert_eq!(text(ScalarValue::Int64(Some(4))), "4");
        assert_eq!(
            text(ScalarValue::Date32(Some(0))),
            "arrow_cast ( '1970-01-01' , 'Date32' )"
        );
    }

    #[test]
    fn placeholders_are_numbered_and_kinds_not_mixed() {
        let mut statement = crate::sql::lexer::split("SELECT ? + ?, '?'")
            .unwrap()
            .remove(0);
        assert_eq!(number_placeholders(&mut statement).unwrap(), 2);
        let mut statement = crate::sql::lexer::split("SELECT $2, $1").unwrap().remove(0);
        assert_eq!(number_placeholders(&mut statement).unwrap(), 2);
        let mut statement = crate::sql::lexer::split("SELECT ?, $1").unwrap().remove(0);
        let err = number_placeholders(&mut statement).unwrap_err().to_string();
        assert!(err.contains("mixes ? and $n"), "{err}");
        let mut statement = crate::sql::lexer::split("SELECT $name").unwrap().remove(0);
        let err = number_placeholders(&mut statement).unwrap_err().to_string();
        assert!(err.contains("placeholder $name"), "{err}");
    }
}
