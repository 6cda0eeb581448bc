//! Floe's branch and tag statements, which no SQL parser knows: Spark's
//! `ALTER TABLE t CREATE|REPLACE|DROP BRANCH|TAG ...` and `SHOW BRANCHES|TAGS
//! IN t`. Read straight from the tokens.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::command::refs::{RefAction, RefChange, RefKind, Retention};
use crate::command::{Command, MergeBranch};
use crate::error::{Result, invalid};
use crate::names::{Names, table_ident};
use crate::table::VersionSpec;

/// A cursor over a statement's tokens (whitespace and comments dropped).
pub(super) struct Tokens {
    tokens: Vec<Token>,
    pos: usize,
}

impl Tokens {
    /// A cursor over a statement's tokens (already read by the lexer).
    pub(super) fn new(tokens: &[TokenWithSpan]) -> Self {
        let tokens = tokens
            .iter()
            .map(|t| t.token.clone())
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        Self { tokens, pos: 0 }
    }

    /// The token `n` places ahead.
    fn nth(&self, n: usize) -> Option<&Token> {
        self.tokens.get(self.pos + n)
    }

    pub(super) fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    pub(super) fn advance(&mut self) {
        self.pos += 1;
    }

    /// `item (, item)*`.
    pub(super) fn comma_separated<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = vec![item(self)?];
        while self.peek() == Some(&Token::Comma) {
            self.advance();
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// `( item (, item)* )`.
    pub(super) fn parenthesized<T>(
        &mut self,
        item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        if self.peek() != Some(&Token::LParen) {
            return Err(invalid!("expected '(', found {}", self.found()));
        }
        self.advance();
        let out = self.comma_separated(item)?;
        if self.peek() != Some(&Token::RParen) {
            return Err(invalid!("expected ')', found {}", self.found()));
        }
        self.advance();
        Ok(out)
    }

    /// A quoted string or a number, as text.
    pub(super) fn literal(&mut self, what: &str) -> Result<String> {
        let value = match self.peek() {
            Some(Token::SingleQuotedString(s)) => s.clone(),
            Some(Token::Number(n, _)) => n.clone(),
            Some(Token::Word(w)) if w.quote_style.is_none() => w.value.clone(),
            _ => return Err(invalid!("expected {what}, found {}", self.found())),
        };
        self.advance();
        Ok(value)
    }

    /// Run one of sqlparser's parsing functions on the tokens from here.
    fn sub_parse<T>(
        &mut self,
        parse: impl FnOnce(
            &mut datafusion::sql::sqlparser::parser::Parser<'_>,
        )
            -> std::result::Result<T, datafusion::sql::sqlparser::parser::ParserError>,
    ) -> Result<T> {
        let dialect = GenericDialect {};
        let mut parser = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
            .with_tokens(self.tokens[self.pos..].to_vec());
        let value = parse(&mut parser)
            .map_err(|e| invalid!("{}", e.to_string().trim_start_matches("sql parser error: ")))?;
        self.pos += parser.index();
        Ok(value)
    }

    /// A SQL data type.
    pub(super) fn data_type(&mut self) -> Result<datafusion::sql::sqlparser::ast::DataType> {
        self.sub_parse(|p| p.parse_data_type())
    }

    /// A SQL expression.
    pub(super) fn expr(&mut self) -> Result<datafusion::sql::sqlparser::ast::Expr> {
        self.sub_parse(|p| p.parse_expr())
    }

    /// Whether the next tokens are these keywords; consumes them if so.
    pub(super) fn keywords(&mut self, keywords: &[&str]) -> bool {
        let matches = keywords.iter().enumerate().all(|(k, kw)| {
            matches!(self.tokens.get(self.pos + k),
                Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
        });
        if matches {
            self.pos += keywords.len();
        }
        matches
    }

    pub(super) fn keyword(&mut self, keyword: &str) -> bool {
        self.keywords(&[keyword])
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(token) => format!("'{token}'"),
            None => "the end of the statement".into(),
        }
    }

    /// A name: an identifier (lower-cased unless quoted) or a quoted string.
    pub(super) fn name(&mut self, what: &str) -> Result<String> {
        let name = match self.peek() {
            Some(Token::Word(w)) if w.quote_style.is_some() => w.value.clone(),
            Some(Token::Word(w)) => w.value.to_lowercase(),
            Some(Token::SingleQuotedString(s)) => s.clone(),
            _ => return Err(invalid!("expected {what}, found {}", self.found())),
        };
        self.pos += 1;
        Ok(name)
    }

    /// A dotted name (`ns.t`), kept as the parser would give it.
    pub(super) fn object_name(&mut self, what: &str) -> Result<ObjectName> {
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Word(w)) => parts.push(match w.quote_style {
                    Some(quote) => Ident::with_quote(quote, w.value.clone()),
                    None => Ident::new(w.value.clone()),
                }),
                _ => return Err(invalid!("expected {what}, found {}", self.found())),
            }
            self.pos += 1;
            if self.peek() != Some(&Token::Period) {
                return Ok(ObjectName::from(parts));
            }
            self.pos += 1;
        }
    }

    /// A whole number.
    pub(super) fn number(&mut self, what: &str) -> Result<i64> {
        match self.peek() {
            Some(Token::Number(n, _)) => {
                let n = n
                    .parse()
                    .map_err(|_| invalid!("{what}: '{n}' is not a whole number"))?;
                self.pos += 1;
                Ok(n)
            }
            _ => Err(invalid!("expected {what}, found {}", self.found())),
        }
    }

    /// Fail unless every token was read.
    pub(super) fn end(&self, statement: &str) -> Result<()> {
        match self.peek() {
            None | Some(Token::SemiColon) => Ok(()),
            Some(token) => Err(invalid!("{statement}: unexpected '{token}'")),
        }
    }
}

/// Whether a statement's first words make it one of those read here.
fn is_floe_statement(t: &Tokens) -> bool {
    let word = |n: usize| match t.nth(n) {
        Some(Token::Word(w)) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        _ => String::new(),
    };
    matches!(
        (word(0).as_str(), word(1).as_str()),
        ("ALTER", "TABLE")
            | ("SHOW", "BRANCHES" | "TAGS")
            | ("REFRESH", "TABLE")
            | ("CREATE" | "DROP" | "USE" | "MERGE", "BRANCH")
    )
}

/// Parse a branch, tag or `ALTER TABLE` statement from its tokens; `None`
/// if it is not one.
pub(crate) fn parse(tokens: &[TokenWithSpan], names: &Names<'_>) -> Result<Option<Command>> {
    let mut t = Tokens::new(tokens);
    if !is_floe_statement(&t) {
        return Ok(None);
    }
    let table_ident = |name: &ObjectName| table_ident(name, names.catalog, names.default_namespace);
    if t.keywords(&["SHOW", "BRANCHES", "IN"]) || t.keywords(&["SHOW", "BRANCHES", "FROM"]) {
        let table = t.object_name("a table name")?;
        t.end("SHOW BRANCHES")?;
        return Ok(Some(Command::ShowRefs {
            table: table_ident(&table)?,
            kind: RefKind::Branch,
        }));
    }
    if t.keywords(&["SHOW", "TAGS", "IN"]) || t.keywords(&["SHOW", "TAGS", "FROM"]) {
        let table = t.object_name("a table name")?;
        t.end("SHOW TAGS")?;
        return Ok(Some(Command::ShowRefs {
            table: table_ident(&table)?,
            kind: RefKind::Tag,
        }));
    }
    if t.keywords(&["REFRESH", "TABLE"]) {
        let table = t.object_name("a table name")?;
        t.end("REFRESH TABLE")?;
        return Ok(Some(Command::RefreshTable {
            table: table_ident(&table)?,
        }));
    }
    if let Some(command) = warehouse_branch(&mut t)? {
        return Ok(Some(command));
    }
    if !t.keywords(&["ALTER", "TABLE"]) {
        return Ok(None);
    }
    let table = table_ident(&t.object_name("a table name")?)?;
    if t.keywords(&["MERGE", "BRANCH"]) {
        let merge = merge_branch(&mut t)?;
        t.end("ALTER TABLE ... MERGE BRANCH")?;
        return Ok(Some(Command::MergeBranch {
            table: Some(table),
            merge,
        }));
    }
    let start = t.pos;
    let verb = if t.keyword("CREATE") {
        let or_replace = t.keywords(&["OR", "REPLACE"]);
        Verb::Create { or_replace }
    } else if t.keyword("REPLACE") {
        Verb::Replace
    } else if t.keyword("DROP") {
        Verb::Drop
    } else {
        let action = super::alter::parse_action(&mut t, names)?;
        return Ok(Some(Command::AlterTable {
            table,
            action: Box::new(action),
        }));
    };
    let kind = if t.keyword("BRANCH") {
        RefKind::Branch
    } else if t.keyword("TAG") {
        RefKind::Tag
    } else {
        // Another ALTER TABLE ... (columns, partition fields, properties).
        t.pos = start;
        let action = super::alter::parse_action(&mut t, names)?;
        return Ok(Some(Command::AlterTable {
            table,
            action: Box::new(action),
        }));
    };
    let statement = format!(
        "ALTER TABLE ... {} {}",
        match verb {
            Verb::Create { or_replace: false } => "CREATE",
            Verb::Create { or_replace: true } => "CREATE OR REPLACE",
            Verb::Replace => "REPLACE",
            Verb::Drop => "DROP",
        },
        match kind {
            RefKind::Branch => "BRANCH",
            RefKind::Tag => "TAG",
        }
    );
    let action = match verb {
        Verb::Drop => {
            let if_exists = t.keywords(&["IF", "EXISTS"]);
            let name = t.name("a branch or tag name")?;
            t.end(&statement)?;
            return Ok(Some(Command::AlterRef {
                table,
                change: RefChange {
                    kind,
                    name,
                    action: RefAction::Drop { if_exists },
                },
            }));
        }
        verb => verb,
    };
    let if_not_exists = t.keywords(&["IF", "NOT", "EXISTS"]);
    let name = t.name("a branch or tag name")?;
    let as_of = if t.keywords(&["AS", "OF", "VERSION"]) {
        Some(match t.peek() {
            Some(Token::Number(..)) => VersionSpec::Snapshot(t.number("a snapshot id")?),
            _ => VersionSpec::Ref(t.name("a snapshot id or a branch or tag name")?),
        })
    } else {
        None
    };
    let mut retention = Retention::default();
    if t.keyword("RETAIN") {
        retention.max_ref_age_ms = Some(duration_ms(&mut t, "RETAIN")?);
    }
    if t.keywords(&["WITH", "SNAPSHOT", "RETENTION"]) {
        let mut any = false;
        if matches!(t.peek(), Some(Token::Number(..))) {
            let n = t.number("a number")?;
            if t.keyword("SNAPSHOTS") {
                retention.min_snapshots_to_keep =
                    Some(i32::try_from(n).map_err(|_| invalid!("{n} SNAPSHOTS is too many"))?);
                any = true;
            } else {
                t.pos -= 1;
            }
        }
        if matches!(t.peek(), Some(Token::Number(..))) {
            retention.max_snapshot_age_ms = Some(duration_ms(&mut t, "WITH SNAPSHOT RETENTION")?);
            any = true;
        }
        if !any {
            return Err(invalid!(
                "WITH SNAPSHOT RETENTION: expected n SNAPSHOTS and/or n DAYS, found {}",
                t.found()
            ));
        }
    }
    t.end(&statement)?;
    let action = match action {
        Verb::Create { or_replace } => {
            if or_replace && if_not_exists {
                return Err(invalid!(
                    "{statement}: OR REPLACE and IF NOT EXISTS cannot be used together"
                ));
            }
            RefAction::Create {
                or_replace,
                if_not_exists,
                as_of,
                retention,
            }
        }
        Verb::Replace if if_not_exists => {
            return Err(invalid!("{statement}: IF NOT EXISTS is for CREATE"));
        }
        Verb::Replace | Verb::Drop => RefAction::Replace { as_of, retention },
    };
    Ok(Some(Command::AlterRef {
        table,
        change: RefChange { kind, name, action },
    }))
}

/// `CREATE BRANCH`, `DROP BRANCH`, `USE BRANCH`, `SHOW BRANCHES` (of the
/// whole warehouse).
fn warehouse_branch(t: &mut Tokens) -> Result<Option<Command>> {
    let statement = if t.keywords(&["CREATE", "BRANCH"]) {
        let if_not_exists = t.keywords(&["IF", "NOT", "EXISTS"]);
        let name = t.name("a branch name")?;
        let from = if t.keyword("FROM") {
            Some(t.name("a branch name")?)
        } else {
            None
        };
        t.end("CREATE BRANCH")?;
        Command::CreateBranch {
            name,
            from,
            if_not_exists,
        }
    } else if t.keywords(&["DROP", "BRANCH"]) {
        let if_exists = t.keywords(&["IF", "EXISTS"]);
        let name = t.name("a branch name")?;
        t.end("DROP BRANCH")?;
        Command::DropBranch { name, if_exists }
    } else if t.keywords(&["USE", "BRANCH"]) {
        let name = t.name("a branch name")?;
        t.end("USE BRANCH")?;
        Command::UseBranch { name }
    } else if t.keywords(&["MERGE", "BRANCH"]) {
        let merge = merge_branch(t)?;
        t.end("MERGE BRANCH")?;
        Command::MergeBranch { table: None, merge }
    } else if t.keywords(&["SHOW", "BRANCHES"]) {
        t.end("SHOW BRANCHES")?;
        Command::ShowBranches
    } else {
        return Ok(None);
    };
    Ok(Some(statement))
}

/// `x [INTO y] [DRY RUN]`, after `MERGE BRANCH`.
fn merge_branch(t: &mut Tokens) -> Result<MergeBranch> {
    let source = t.name("a branch name")?;
    let target = if t.keyword("INTO") {
        Some(t.name("a branch name")?)
    } else {
        None
    };
    let dry_run = t.keywords(&["DRY", "RUN"]);
    Ok(MergeBranch {
        source,
        target,
        dry_run,
    })
}

enum Verb {
    Create { or_replace: bool },
    Replace,
    Drop,
}

/// `n DAYS|HOURS|MINUTES`, in ms.
fn duration_ms(t: &mut Tokens, clause: &str) -> Result<i64> {
    let n = t.number(&format!("{clause}: a number"))?;
    let unit_ms: i64 = if t.keyword("DAYS") || t.keyword("DAY") {
        86_400_000
    } else if t.keyword("HOURS") || t.keyword("HOUR") {
        3_600_000
    } else if t.keyword("MINUTES") || t.keyword("MINUTE") {
        60_000
    } else {
        return Err(invalid!(
            "{clause} {n}: expected DAYS, HOURS or MINUTES, found {}",
            t.found()
        ));
    };
    n.checked_mul(unit_ms)
        .filter(|ms| *ms > 0)
        .ok_or_else(|| invalid!("{clause} {n}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            catalog: "floe",
            default_namespace: "default",
            table_exists: &|_| true,
        }
    }

    fn parse(sql: &str) -> Result<Option<Command>> {
        let statement = crate::sql::lexer::split(sql)?.remove(0);
        super::parse(&statement.tokens, &names())
    }

    fn change(sql: &str) -> RefChange {
        match parse(sql).unwrap() {
            Some(Command::AlterRef { change, .. }) => change,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_spark_ref_statements() {
        assert_eq!(
            change(
                "ALTER TABLE db.t CREATE BRANCH IF NOT EXISTS `audit` AS OF VERSION 42 RETAIN 7 \
                 DAYS WITH SNAPSHOT RETENTION 3 SNAPSHOTS 2 DAYS"
            ),
            RefChange {
                kind: RefKind::Branch,
                name: "audit".into(),
                action: RefAction::Create {
                    or_replace: false,
                    if_not_exists: true,
                    as_of: Some(VersionSpec::Snapshot(42)),
                    retention: Retention {
                        max_ref_age_ms: Some(7 * 86_400_000),
                        min_snapshots_to_keep: Some(3),
                        max_snapshot_age_ms: Some(2 * 86_400_000),
                    },
                },
            }
        );
        assert_eq!(
            change("ALTER TABLE t CREATE OR REPLACE TAG V1 AS OF VERSION 'dev'"),
            RefChange {
                kind: RefKind::Tag,
                name: "v1".into(),
                action: RefAction::Create {
                    or_replace: true,
                    if_not_exists: false,
                    as_of: Some(VersionSpec::Ref("dev".into())),
                    retention: Retention::default(),
                },
            }
        );
        assert_eq!(
            change("ALTER TABLE t DROP TAG IF EXISTS \"V1\""),
            RefChange {
                kind: RefKind::Tag,
                name: "V1".into(),
                action: RefAction::Drop { if_exists: true },
            }
        );
        assert!(matches!(
            parse("ALTER TABLE t DROP COLUMN c").unwrap(),
            Some(Command::AlterTable { .. })
        ));
        assert!(parse("SELECT 1").unwrap().is_none());
        let err = parse("ALTER TABLE t CREATE BRANCH b RETAIN 3 WEEKS")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "RETAIN 3: expected DAYS, HOURS or MINUTES, found 'WEEKS'"
        );
    }
}
