//! SQL scripts: a script is tokenized once and cut into statements, which
//! a [`Session`](crate::Session) runs one by one
//! ([`Session::run`](crate::Session::run)); each statement is parsed from
//! its tokens when it runs, so it sees what the statements before it did
//! (`USE`, a new table).
//!
//! ```
//! use floe_engine::script::{Script, is_incomplete};
//!
//! let script = Script::parse("-- load\nINSERT INTO t VALUES (1);\n\nSELECT ';' FROM t").unwrap();
//! let lines: Vec<(usize, &str)> = script.statements().iter().map(|s| (s.line(), s.sql())).collect();
//! assert_eq!(lines, [(2, "INSERT INTO t VALUES (1)"), (4, "SELECT ';' FROM t")]);
//! assert_eq!(script.statements()[0].comments(), ["load"]);
//! assert!(is_incomplete("SELECT 'unterminated"));
//! ```

use crate::error::Result;
use crate::sql::lexer::{StatementTokens, split};

pub use crate::sql::lexer::is_incomplete;

/// A script cut into statements.
#[derive(Debug, Clone)]
pub struct Script {
    statements: Vec<ScriptStatement>,
}

impl Script {
    /// Tokenize `text` and cut it at top-level `;` (empty and comment-only
    /// statements are skipped). A script that cannot be tokenized (an
    /// unterminated string) is an error.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self {
            statements: split(text)?
                .into_iter()
                .map(|inner| ScriptStatement { inner })
                .collect(),
        })
    }

    /// The statements, in order.
    pub fn statements(&self) -> &[ScriptStatement] {
        &self.statements
    }

    /// The statements, to run.
    pub fn into_statements(self) -> Vec<ScriptStatement> {
        self.statements
    }
}

/// One statement of a [`Script`], tokenized, not parsed yet.
#[derive(Debug, Clone)]
pub struct ScriptStatement {
    inner: StatementTokens,
}

impl ScriptStatement {
    /// The statement's text, without its `;`.
    pub fn sql(&self) -> &str {
        &self.inner.sql
    }

    /// The line of the script it starts on (1-based).
    pub fn line(&self) -> usize {
        self.inner.line
    }

    /// The comment lines just before it (without `--`): its caption.
    pub fn comments(&self) -> &[String] {
        &self.inner.comments
    }

    pub(crate) fn from_tokens(inner: StatementTokens) -> Self {
        Self { inner }
    }

    pub(crate) fn into_tokens(self) -> StatementTokens {
        self.inner
    }
}
