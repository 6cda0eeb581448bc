//! A script is tokenized once: it is cut into statements at top-level
//! `;`, and the clauses DataFusion's parser does not know are rewritten
//! in each statement's tokens, not in its text, before the parser reads
//! them (`PARTITIONED BY (...)` lifted out, Spark's nested type spellings,
//! time travel clauses).

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{
    Location, Token, TokenWithSpan, Tokenizer, Whitespace, Word,
};

use crate::error::{Result, invalid};
use crate::names::VERSION_MARK;
use crate::table::{VersionSpec, parse_timestamp};

/// One statement of a script: its tokens, its text and where it starts.
#[derive(Debug, Clone)]
pub struct StatementTokens {
    /// The statement's tokens, without the terminating `;`.
    pub tokens: Vec<TokenWithSpan>,
    /// The statement's text.
    pub sql: String,
    /// Line of the script the statement starts on (1-based).
    pub line: usize,
    /// The comment lines just before the statement, without `--`.
    pub comments: Vec<String>,
}

/// Tokenize a script once.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| invalid!("cannot read the SQL: {e}"))
}

/// Byte offsets of each line start, to turn token locations into offsets.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// Byte offset of a (1-based line, 1-based char column) location.
    fn offset(&self, loc: Location) -> usize {
        let line = (loc.line.max(1) as usize - 1).min(self.starts.len() - 1);
        let start = self.starts[line];
        let column = loc.column.max(1) as usize - 1;
        self.text[start..]
            .char_indices()
            .nth(column)
            .map(|(i, _)| start + i)
            .unwrap_or(self.text.len())
    }
}

fn is_space(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// Cut a script into its statements at top-level `;`, skipping empty and
/// comment-only ones. The script is tokenized once; each statement keeps
/// its tokens for the parser.
pub fn split(script: &str) -> Result<Vec<StatementTokens>> {
    let tokens = tokenize(script)?;
    let index = LineIndex::new(script);
    let mut statements = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut finish = |current: &mut Vec<TokenWithSpan>, comments: &mut Vec<String>| {
        let first = current.iter().position(|t| !is_space(&t.token));
        if let Some(first) = first {
            let start = current[first].span.start;
            let end = current
                .iter()
                .rev()
                .find(|t| !is_space(&t.token))
                .map_or(start, |t| t.span.end);
            let sql = script[index.offset(start)..index.offset(end)].to_string();
            statements.push(StatementTokens {
                tokens: current.split_off(first),
                sql,
                line: start.line as usize,
                comments: std::mem::take(comments),
            });
        }
        current.clear();
        comments.clear();
    };
    for token in tokens {
        match &token.token {
            Token::SemiColon => finish(&mut current, &mut comments),
            Token::Whitespace(Whitespace::SingleLineComment { comment, .. })
                if current.iter().all(|t| is_space(&t.token)) =>
            {
                comments.push(comment.trim().to_string());
            }
            Token::Whitespace(Whitespace::Newline)
                if current.iter().all(|t| is_space(&t.token)) => {}
            _ => current.push(token),
        }
    }
    finish(&mut current, &mut comments);
    Ok(statements)
}

/// Whether a script ends in the middle of a statement: text after the last
/// top-level `;`, or an unterminated string or comment. The REPL keeps
/// reading lines while this is true.
pub fn is_incomplete(script: &str) -> bool {
    let Ok(tokens) = tokenize(script) else {
        // An unterminated quote or comment: wait for more input.
        return true;
    };
    let last = tokens.iter().rev().find(|t| !is_space(&t.token));
    !matches!(last.map(|t| &t.token), None | Some(Token::SemiColon))
}

/// The positions of the tokens that are not whitespace or comments.
fn significant(tokens: &[TokenWithSpan]) -> Vec<usize> {
    (0..tokens.len())
        .filter(|&i| !is_space(&tokens[i].token))
        .collect()
}

fn is_word(token: Option<&TokenWithSpan>, word: &str) -> bool {
    matches!(token.map(|t| &t.token),
        Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn plain(token: Token) -> TokenWithSpan {
    TokenWithSpan::wrap(token)
}

/// Remove `PARTITIONED BY ( ... )` at the top level of a statement and
/// return what it lists, parsed as expressions.
pub fn take_partitioned_by(tokens: &mut Vec<TokenWithSpan>) -> Result<Option<Vec<Expr>>> {
    let sig = significant(tokens);
    let mut depth = 0usize;
    for (k, &i) in sig.iter().enumerate() {
        match tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth == 0
                && is_word(Some(&tokens[i]), "PARTITIONED")
                && is_word(sig.get(k + 1).map(|&j| &tokens[j]), "BY") =>
            {
                let Some(&open) = sig
                    .get(k + 2)
                    .filter(|&&j| tokens[j].token == Token::LParen)
                else {
                    return Err(invalid!("expected '(' after PARTITIONED BY"));
                };
                let mut inner_depth = 0usize;
                let mut close = None;
                for &j in &sig[k + 2..] {
                    match tokens[j].token {
                        Token::LParen => inner_depth += 1,
                        Token::RParen => {
                            inner_depth -= 1;
                            if inner_depth == 0 {
                                close = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let close =
                    close.ok_or_else(|| invalid!("unbalanced parentheses after PARTITIONED BY"))?;
                let inner: Vec<TokenWithSpan> = tokens[open + 1..close].to_vec();
                tokens.splice(i..=close, [plain(Token::Whitespace(Whitespace::Space))]);
                return parse_expressions(inner).map(Some);
            }
            _ => {}
        }
    }
    Ok(None)
}

/// A comma-separated list of expressions (a `PARTITIONED BY` body).
fn parse_expressions(tokens: Vec<TokenWithSpan>) -> Result<Vec<Expr>> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let exprs = parser
        .parse_comma_separated(Parser::parse_expr)
        .and_then(|exprs| parser.expect_token(&Token::EOF).map(|_| exprs))
        .map_err(|e| invalid!("cannot read PARTITIONED BY (...): {e}"))?;
    Ok(exprs)
}

/// Accept Spark's spellings of nested types: `MAP<K, V>` becomes
/// `MAP(K, V)` and `STRUCT<a: INT>` becomes `STRUCT<a INT>`, the forms the
/// SQL parser reads.
pub fn spark_types(tokens: &mut Vec<TokenWithSpan>) {
    if !tokens.iter().any(|t| t.token == Token::Lt) {
        return;
    }
    let sig = significant(tokens);
    // For each open `<`: whether it opened a MAP (closes with `)`) and
    // whether it opened a STRUCT (field names may be followed by `:`).
    let mut open: Vec<(bool, bool)> = Vec::new();
    // (position, replacement tokens), applied from the back.
    let mut edits: Vec<(usize, Vec<Token>)> = Vec::new();
    for (k, &i) in sig.iter().enumerate() {
        let after = |word: &str| k > 0 && is_word(Some(&tokens[sig[k - 1]]), word);
        match &tokens[i].token {
            Token::Lt if after("MAP") || after("STRUCT") || after("ARRAY") => {
                let is_map = after("MAP");
                if is_map {
                    edits.push((i, vec![Token::LParen]));
                }
                open.push((is_map, after("STRUCT")));
            }
            Token::Gt | Token::ShiftRight if !open.is_empty() => {
                let closes = if tokens[i].token == Token::ShiftRight {
                    2
                } else {
                    1
                };
                let mut replacement = Vec::new();
                for _ in 0..closes {
                    match open.pop() {
                        Some((true, _)) => replacement.push(Token::RParen),
                        Some((false, _)) | None => replacement.push(Token::Gt),
                    }
                }
                if replacement.contains(&Token::RParen) {
                    edits.push((i, replacement));
                }
            }
            Token::Colon if open.last().is_some_and(|(_, is_struct)| *is_struct) => {
                edits.push((i, vec![Token::Whitespace(Whitespace::Space)]));
            }
            _ => {}
        }
    }
    for (at, replacement) in edits.into_iter().rev() {
        tokens.splice(at..=at, replacement.into_iter().map(plain));
    }
}

/// Turn the time-travel clauses after a table name (`VERSION AS OF v`,
/// `TIMESTAMP AS OF ts`, `FOR SYSTEM_VERSION AS OF v`, `FOR SYSTEM_TIME AS
/// OF ts`) into one more part of the name, `"@<suffix>"` (see
/// [`VersionSpec::suffix`]), which the parser reads as an ordinary name.
///
/// A version is a snapshot id or a quoted branch or tag name; a time is a
/// quoted timestamp (UTC unless it names an offset) or a number of seconds
/// since the epoch, as in Spark.
pub fn lift_versions(tokens: &mut Vec<TokenWithSpan>) -> Result<()> {
    let mentions = tokens.iter().any(|t| {
        matches!(&t.token, Token::Word(w) if w.quote_style.is_none()
            && ["VERSION", "TIMESTAMP", "SYSTEM_TIME", "SYSTEM_VERSION"]
                .iter()
                .any(|k| w.value.eq_ignore_ascii_case(k)))
    });
    if !mentions {
        return Ok(());
    }
    let sig = significant(tokens);
    let at = |k: usize| sig.get(k).map(|&i| &tokens[i]);
    // (first, last, replacement) token positions, applied from the back.
    let mut edits: Vec<(usize, usize, Vec<Token>)> = Vec::new();
    let mut k = 1;
    while k < sig.len() {
        let (keywords, by_time) = if is_word(at(k), "VERSION") {
            (3, false)
        } else if is_word(at(k), "TIMESTAMP") {
            (3, true)
        } else if is_word(at(k), "FOR") && is_word(at(k + 1), "SYSTEM_VERSION") {
            (4, false)
        } else if is_word(at(k), "FOR") && is_word(at(k + 1), "SYSTEM_TIME") {
            (4, true)
        } else {
            k += 1;
            continue;
        };
        let clause_matches = is_word(at(k + keywords - 2), "AS")
            && is_word(at(k + keywords - 1), "OF")
            && matches!(at(k - 1).map(|t| &t.token), Some(Token::Word(_)));
        if !clause_matches {
            k += 1;
            continue;
        }
        let mut value = k + keywords;
        // `TIMESTAMP AS OF TIMESTAMP '...'`.
        if by_time && is_word(at(value), "TIMESTAMP") {
            value += 1;
        }
        let clause = |last: usize| {
            sig[k..=last.min(sig.len() - 1)]
                .iter()
                .map(|&i| tokens[i].token.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let spec = match at(value).map(|t| &t.token) {
            Some(Token::Number(n, _)) if by_time => {
                let seconds: f64 = n
                    .parse()
                    .map_err(|_| invalid!("{}: not a number of seconds", clause(value)))?;
                VersionSpec::Timestamp((seconds * 1000.0).round() as i64)
            }
            Some(Token::Number(n, _)) => VersionSpec::Snapshot(
                n.parse()
                    .map_err(|_| invalid!("{}: not a snapshot id", clause(value)))?,
            ),
            Some(Token::SingleQuotedString(text)) if by_time => {
                VersionSpec::Timestamp(parse_timestamp(text).ok_or_else(|| {
                    invalid!(
                        "{}: '{text}' is not a timestamp (expected e.g. '2026-01-31 \
                         12:00:00', UTC unless an offset is given)",
                        clause(value)
                    )
                })?)
            }
            Some(Token::SingleQuotedString(text)) => VersionSpec::Ref(text.clone()),
            _ => {
                let what = if by_time {
                    "a quoted timestamp or a number of seconds"
                } else {
                    "a snapshot id or a quoted branch or tag name"
                };
                return Err(invalid!(
                    "{} must be followed by {what}",
                    clause(k + keywords - 1)
                ));
            }
        };
        let part = Token::Word(Word {
            value: format!("{VERSION_MARK}{}", spec.suffix()),
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        });
        // From just after the table name to the value, whitespace included.
        edits.push((sig[k - 1] + 1, sig[value], vec![Token::Period, part]));
        k = value + 1;
    }
    for (first, last, replacement) in edits.into_iter().rev() {
        tokens.splice(first..=last, replacement.into_iter().map(plain));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn text(tokens: &[TokenWithSpan]) -> String {
        tokens.iter().map(|t| t.token.to_string()).collect()
    }

    fn rewritten(sql: &str, rewrite: impl Fn(&mut Vec<TokenWithSpan>)) -> String {
        let mut statement = split(sql).unwrap().remove(0);
        rewrite(&mut statement.tokens);
        text(&statement.tokens)
    }

    #[test]
    fn splits_on_top_level_semicolons_with_lines_and_comments() {
        let script = "-- a comment\nSELECT 1;\n\nSELECT ';'\n  , 2 ;\n  ; -- only a comment\n";
        let statements = split(script).unwrap();
        let seen: Vec<(&str, usize, Vec<String>)> = statements
            .iter()
            .map(|s| (s.sql.as_str(), s.line, s.comments.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("SELECT 1", 2, vec!["a comment".to_string()]),
                ("SELECT ';'\n  , 2", 4, vec![]),
            ]
        );
        assert_eq!(text(&statements[1].tokens), "SELECT ';'\n  , 2 ");
    }

    #[test]
    fn incomplete_statements() {
        assert!(is_incomplete("SELECT 1"));
        assert!(is_incomplete("SELECT 'abc"));
        assert!(!is_incomplete("SELECT 1;"));
        assert!(!is_incomplete("SELECT 1; -- done"));
        assert!(!is_incomplete("   "));
    }

    #[test]
    fn spark_nested_types() {
        assert_eq!(
            rewritten(
                "CREATE TABLE t (m MAP<STRING, ARRAY<INT>>, s STRUCT<a: INT, b: MAP<INT, STRING>>)",
                spark_types
            ),
            "CREATE TABLE t (m MAP(STRING, ARRAY<INT>), s STRUCT<a  INT, b  MAP(INT, STRING)>)"
        );
        assert_eq!(
            rewritten("SELECT a < b, 'MAP<x>'", spark_types),
            "SELECT a < b, 'MAP<x>'"
        );
    }

    #[test]
    fn lifts_version_clauses_into_names() {
        let lifted = |sql: &str| rewritten(sql, |t| lift_versions(t).unwrap());
        assert_eq!(
            lifted(
                "SELECT * FROM db.t VERSION AS OF 42 AS x JOIN u FOR SYSTEM_VERSION AS OF 'dev' ON true"
            ),
            "SELECT * FROM db.t.\"@snapshot_id_42\" AS x JOIN u.\"@ref_dev\" ON true"
        );
        assert_eq!(
            lifted("SELECT * FROM t TIMESTAMP AS OF '2026-01-02 03:04:05'"),
            "SELECT * FROM t.\"@at_timestamp_1767323045000\""
        );
        assert_eq!(
            lifted("SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-02T03:04:05+01:00'"),
            "SELECT * FROM t.\"@at_timestamp_1767319445000\""
        );
        assert_eq!(
            lifted("SELECT * FROM t TIMESTAMP AS OF 1767323045"),
            "SELECT * FROM t.\"@at_timestamp_1767323045000\""
        );
        assert_eq!(
            lifted("SELECT 'VERSION AS OF 1', version FROM t"),
            "SELECT 'VERSION AS OF 1', version FROM t"
        );
        let error = |sql: &str| {
            let mut statement = split(sql).unwrap().remove(0);
            lift_versions(&mut statement.tokens)
                .unwrap_err()
                .to_string()
        };
        assert!(
            error("SELECT * FROM t TIMESTAMP AS OF 'yesterday'")
                .contains("'yesterday' is not a timestamp"),
        );
        assert_eq!(
            error("SELECT * FROM t VERSION AS OF x"),
            "VERSION AS OF must be followed by a snapshot id or a quoted branch or tag name"
        );
    }

    #[test]
    fn takes_partitioned_by_clause() {
        let mut statement = split(
            "CREATE TABLE t (id INT, ts TIMESTAMP)\nPARTITIONED BY (bucket(16, id), days(ts)) TBLPROPERTIES ('a'='b')",
        )
        .unwrap()
        .remove(0);
        let exprs = take_partitioned_by(&mut statement.tokens).unwrap().unwrap();
        let exprs: Vec<String> = exprs.iter().map(ToString::to_string).collect();
        assert_eq!(exprs, vec!["bucket(16, id)", "days(ts)"]);
        assert_eq!(
            text(&statement.tokens),
            "CREATE TABLE t (id INT, ts TIMESTAMP)\n  TBLPROPERTIES ('a'='b')"
        );
        let mut statement = split("SELECT 'PARTITIONED BY (x)'").unwrap().remove(0);
        assert!(
            take_partitioned_by(&mut statement.tokens)
                .unwrap()
                .is_none()
        );
    }
}
