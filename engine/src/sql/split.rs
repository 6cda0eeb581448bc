//! Cutting a script into statements, and lifting the clauses DataFusion's
//! parser does not know out of a statement's text.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Result, invalid};
use crate::table::VersionSpec;

/// One statement of a script, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// The statement, without its terminating `;`.
    pub sql: String,
    /// Line of the script the statement starts on.
    pub line: usize,
}

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| invalid!("cannot read the SQL: {e}"))
}

/// Whether `sql` contains `word` (ASCII, any case) anywhere, in a name,
/// a string or a comment too: a cheap test that lets the passes below skip
/// tokenizing statements that cannot hold what they rewrite.
pub fn mentions(sql: &str, word: &str) -> bool {
    !word.is_empty()
        && sql
            .as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
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

/// Split a script into its statements at top-level `;`, skipping empty ones
/// and comment-only ones.
pub fn split_statements(script: &str) -> Result<Vec<StatementText>> {
    let tokens = tokenize(script)?;
    let index = LineIndex::new(script);
    let mut statements = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let push = |from: (usize, usize), to: usize, out: &mut Vec<StatementText>| {
        let sql = script[from.0..to].trim().to_string();
        if !sql.is_empty() {
            out.push(StatementText { sql, line: from.1 });
        }
    };
    for token in &tokens {
        match &token.token {
            Token::SemiColon => {
                if let Some(from) = start.take() {
                    push(from, index.offset(token.span.start), &mut statements);
                }
            }
            Token::Whitespace(_) => {}
            _ => {
                if start.is_none() {
                    start = Some((
                        index.offset(token.span.start),
                        token.span.start.line as usize,
                    ));
                }
            }
        }
    }
    if let Some(from) = start {
        push(from, script.len(), &mut statements);
    }
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
    let last = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)));
    !matches!(last.map(|t| &t.token), None | Some(Token::SemiColon))
}

/// Remove `keywords ( ... )` (e.g. `PARTITIONED BY (...)`) at the top level of
/// a statement and return the text with it cut out plus the text inside the
/// parentheses, if the clause is there.
pub fn take_clause(sql: &str, keywords: &[&str]) -> Result<(String, Option<String>)> {
    if keywords.first().is_some_and(|k| !mentions(sql, k)) {
        return Ok((sql.to_string(), None));
    }
    let tokens: Vec<TokenWithSpan> = tokenize(sql)?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let index = LineIndex::new(sql);
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match &token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(_) if depth == 0 => {
                let matches_keywords = keywords.iter().enumerate().all(|(k, kw)| {
                    matches!(tokens.get(i + k).map(|t| &t.token),
                        Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
                });
                if !matches_keywords {
                    continue;
                }
                let open = i + keywords.len();
                if tokens.get(open).map(|t| &t.token) != Some(&Token::LParen) {
                    return Err(invalid!(
                        "expected '(' after {}",
                        keywords.join(" ")
                    ));
                }
                let mut inner_depth = 0usize;
                for close in open..tokens.len() {
                    match tokens[close].token {
                        Token::LParen => inner_depth += 1,
                        Token::RParen => {
                            inner_depth -= 1;
                            if inner_depth == 0 {
                                let clause_start = index.offset(token.span.start);
                                let inner_start = index.offset(tokens[open].span.end);
                                let inner_end = index.offset(tokens[close].span.start);
                                let clause_end = index.offset(tokens[close].span.end);
                                let inner = sql[inner_start..inner_end].to_string();
                                let rest =
                                    format!("{} {}", &sql[..clause_start], &sql[clause_end..]);
                                return Ok((rest, Some(inner)));
                            }
                        }
                        _ => {}
                    }
                }
                return Err(invalid!(
                    "unbalanced parentheses after {}",
                    keywords.join(" ")
                ));
            }
            _ => {}
        }
    }
    Ok((sql.to_string(), None))
}

/// Accept Spark's spellings of nested types in a statement: `MAP<K, V>`
/// becomes `MAP(K, V)` and `STRUCT<a: INT>` becomes `STRUCT<a INT>`, the
/// forms the SQL parser reads.
pub fn spark_types(sql: &str) -> Result<String> {
    if !sql.contains('<') {
        return Ok(sql.to_string());
    }
    let tokens: Vec<TokenWithSpan> = tokenize(sql)?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let index = LineIndex::new(sql);
    // (byte offset, replacement) of single characters to change.
    let mut edits: Vec<(usize, &str)> = Vec::new();
    // For each open `<`: whether it opened a MAP (closes with `)`) and
    // whether it opened a STRUCT (field names may be followed by `:`).
    let mut open: Vec<(bool, bool)> = Vec::new();
    let word = |i: usize, w: &str| {
        i > 0
            && matches!(&tokens[i - 1].token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
    };
    for (i, token) in tokens.iter().enumerate() {
        let at = index.offset(token.span.start);
        match &token.token {
            Token::Lt if word(i, "MAP") || word(i, "STRUCT") || word(i, "ARRAY") => {
                let is_map = word(i, "MAP");
                if is_map {
                    edits.push((at, "("));
                }
                open.push((is_map, word(i, "STRUCT")));
            }
            Token::Gt | Token::ShiftRight if !open.is_empty() => {
                let closes = if token.token == Token::ShiftRight {
                    2
                } else {
                    1
                };
                for k in 0..closes {
                    if let Some((is_map, _)) = open.pop()
                        && is_map
                    {
                        edits.push((at + k, ")"));
                    }
                }
            }
            Token::Colon if open.last().is_some_and(|(_, is_struct)| *is_struct) => {
                edits.push((at, " "));
            }
            _ => {}
        }
    }
    let mut out = sql.to_string();
    for (at, replacement) in edits.into_iter().rev() {
        out.replace_range(at..at + 1, replacement);
    }
    Ok(out)
}

/// The first character of a name part that carries a version: the
/// statement's `t VERSION AS OF 'dev'` reaches the parser as `t."@ref_dev"`.
pub const VERSION_MARK: char = '@';

/// Turn the time-travel clauses after a table name (`VERSION AS OF v`,
/// `TIMESTAMP AS OF ts`, `FOR SYSTEM_VERSION AS OF v`, `FOR SYSTEM_TIME AS
/// OF ts`) into one more part of the name, `"@<suffix>"` (see
/// [`VersionSpec::suffix`]), which the parser reads as an ordinary name.
///
/// A version is a snapshot id or a quoted branch or tag name; a time is a
/// quoted timestamp (UTC unless it names an offset) or a number of seconds
/// since the epoch, as in Spark.
pub fn lift_versions(sql: &str) -> Result<String> {
    if !["VERSION", "TIMESTAMP", "SYSTEM_"]
        .iter()
        .any(|w| mentions(sql, w))
    {
        return Ok(sql.to_string());
    }
    let tokens: Vec<TokenWithSpan> = tokenize(sql)?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let index = LineIndex::new(sql);
    let is_word = |i: usize, w: &str| {
        matches!(tokens.get(i).map(|t| &t.token),
            Some(Token::Word(x)) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
    };
    // (start, end, replacement) byte ranges.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 1;
    while i < tokens.len() {
        let (keywords, by_time) = if is_word(i, "VERSION") {
            (3, false)
        } else if is_word(i, "TIMESTAMP") {
            (3, true)
        } else if is_word(i, "FOR") && is_word(i + 1, "SYSTEM_VERSION") {
            (4, false)
        } else if is_word(i, "FOR") && is_word(i + 1, "SYSTEM_TIME") {
            (4, true)
        } else {
            i += 1;
            continue;
        };
        let clause_matches = is_word(i + keywords - 2, "AS")
            && is_word(i + keywords - 1, "OF")
            && matches!(tokens[i - 1].token, Token::Word(_));
        if !clause_matches {
            i += 1;
            continue;
        }
        let mut value = i + keywords;
        // `TIMESTAMP AS OF TIMESTAMP '...'`.
        if by_time && is_word(value, "TIMESTAMP") {
            value += 1;
        }
        let clause = |t: &TokenWithSpan| {
            let text = &sql[index.offset(tokens[i].span.start)..index.offset(t.span.end)];
            text.to_string()
        };
        let spec = match tokens.get(value).map(|t| &t.token) {
            Some(Token::Number(n, _)) if by_time => {
                let seconds: f64 = n.parse().map_err(|_| {
                    invalid!(
                        "{}: not a number of seconds",
                        clause(&tokens[value])
                    )
                })?;
                VersionSpec::Timestamp((seconds * 1000.0).round() as i64)
            }
            Some(Token::Number(n, _)) => VersionSpec::Snapshot(n.parse().map_err(|_| {
                invalid!("{}: not a snapshot id", clause(&tokens[value]))
            })?),
            Some(Token::SingleQuotedString(text)) if by_time => {
                let text = text.replace("''", "'");
                VersionSpec::Timestamp(parse_timestamp(&text).ok_or_else(|| {
                    invalid!(
                        "{}: '{text}' is not a timestamp (expected e.g. '2026-01-31 \
                         12:00:00', UTC unless an offset is given)",
                        clause(&tokens[value])
                    )
                })?)
            }
            Some(Token::SingleQuotedString(text)) => VersionSpec::Ref(text.replace("''", "'")),
            _ => {
                let what = if by_time {
                    "a quoted timestamp or a number of seconds"
                } else {
                    "a snapshot id or a quoted branch or tag name"
                };
                return Err(invalid!(
                    "{} must be followed by {what}",
                    clause(&tokens[i + keywords - 1])
                ));
            }
        };
        let start = index.offset(tokens[i - 1].span.end);
        let end = index.offset(tokens[value].span.end);
        let part = format!("{VERSION_MARK}{}", spec.suffix()).replace('"', "\"\"");
        edits.push((start, end, format!(".\"{part}\"")));
        i = value + 1;
    }
    let mut out = sql.to_string();
    for (start, end, replacement) in edits.into_iter().rev() {
        out.replace_range(start..end, &replacement);
    }
    Ok(out)
}

/// Milliseconds since the epoch of a timestamp literal: RFC 3339, or
/// `YYYY-MM-DD[ HH:MM[:SS[.f]]]` in UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_with_lines() {
        let script = "-- a comment\nSELECT 1;\n\nSELECT ';'\n  , 2 ;\n  ; -- only a comment\n";
        let statements = split_statements(script).unwrap();
        assert_eq!(
            statements,
            vec![
                StatementText {
                    sql: "SELECT 1".into(),
                    line: 2
                },
                StatementText {
                    sql: "SELECT ';'\n  , 2".into(),
                    line: 4
                },
            ]
        );
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
            spark_types(
                "CREATE TABLE t (m MAP<STRING, ARRAY<INT>>, s STRUCT<a: INT, b: MAP<INT, STRING>>)"
            )
            .unwrap(),
            "CREATE TABLE t (m MAP(STRING, ARRAY<INT>), s STRUCT<a  INT, b  MAP(INT, STRING)>)"
        );
        assert_eq!(
            spark_types("SELECT a < b, 'MAP<x>'").unwrap(),
            "SELECT a < b, 'MAP<x>'"
        );
    }

    #[test]
    fn lifts_version_clauses_into_names() {
        assert_eq!(
            lift_versions("SELECT * FROM db.t VERSION AS OF 42 AS x JOIN u FOR SYSTEM_VERSION AS OF 'dev' ON true").unwrap(),
            "SELECT * FROM db.t.\"@snapshot_id_42\" AS x JOIN u.\"@ref_dev\" ON true"
        );
        assert_eq!(
            lift_versions("SELECT * FROM t TIMESTAMP AS OF '2026-01-02 03:04:05'").unwrap(),
            "SELECT * FROM t.\"@at_timestamp_1767323045000\""
        );
        assert_eq!(
            lift_versions(
                "SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-02T03:04:05+01:00'"
            )
            .unwrap(),
            "SELECT * FROM t.\"@at_timestamp_1767319445000\""
        );
        assert_eq!(
            lift_versions("SELECT * FROM t TIMESTAMP AS OF 1767323045").unwrap(),
            "SELECT * FROM t.\"@at_timestamp_1767323045000\""
        );
        assert_eq!(
            lift_versions("SELECT 'VERSION AS OF 1', version FROM t").unwrap(),
            "SELECT 'VERSION AS OF 1', version FROM t"
        );
        let err = lift_versions("SELECT * FROM t TIMESTAMP AS OF 'yesterday'").unwrap_err();
        assert!(
            err.to_string().contains("'yesterday' is not a timestamp"),
            "{err}"
        );
        let err = lift_versions("SELECT * FROM t VERSION AS OF x").unwrap_err();
        assert!(
            err.to_string()
                .contains("VERSION AS OF must be followed by a snapshot id"),
            "{err}"
        );
    }

    #[test]
    fn takes_partitioned_by_clause() {
        let sql = "CREATE TABLE t (id INT, ts TIMESTAMP)\nPARTITIONED BY (bucket(16, id), days(ts)) TBLPROPERTIES ('a'='b')";
        let (rest, clause) = take_clause(sql, &["PARTITIONED", "BY"]).unwrap();
        assert_eq!(clause.as_deref(), Some("bucket(16, id), days(ts)"));
        assert_eq!(
            rest,
            "CREATE TABLE t (id INT, ts TIMESTAMP)\n  TBLPROPERTIES ('a'='b')"
        );
        let (rest, clause) =
            take_clause("SELECT 'PARTITIONED BY (x)'", &["PARTITIONED", "BY"]).unwrap();
        assert_eq!(clause, None);
        assert_eq!(rest, "SELECT 'PARTITIONED BY (x)'");
    }
}
