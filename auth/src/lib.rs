//! Who may call Floe's servers (Flight SQL and the Iceberg REST catalog):
//! static bearer tokens (`--auth-token`), users with hashed passwords (a
//! users file of `name:argon2-hash` lines), and the bearer tokens handed
//! out to users who proved their password (a Flight basic-auth handshake,
//! the REST catalog's OAuth2 client-credentials endpoint).
//!
//! ```
//! use floe_auth::{Authenticator, Caller, Credentials, hash_password};
//!
//! let hash = hash_password("s3cret").unwrap();
//! let auth = Authenticator::new(Credentials::default().with_user("ana", hash).unwrap());
//! let token = auth.issue("ana", "s3cret").unwrap();
//! assert_eq!(auth.check_bearer(Some(&token)).unwrap(), Caller::IssuedToken(token));
//! assert!(auth.issue("ana", "wrong").is_err());
//! assert!(auth.check_bearer(None).is_err());
//! ```
#![warn(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;

/// How long an issued token stays valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Why credentials were refused or could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The caller gave no valid credentials; the message says what to send.
    #[error("{0}")]
    Denied(String),
    /// A users file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the users file is not `name:hash`.
    #[error("users file {path}, line {line}: {message}")]
    UsersFile {
        /// The file.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A setting is not valid (a password hash, a password to hash).
    #[error("{0}")]
    Config(String),
}

/// The crate's result type.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// Hash a password for a users file line (`name:<hash>`): Argon2id in the
/// PHC string format.
///
/// ```
/// let hash = floe_auth::hash_password("s3cret").unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// ```
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Config(format!("cannot hash the password: {e}")))
}

/// The credentials a server accepts. With none configured, every caller
/// is let in (the servers bind to 127.0.0.1 unless told otherwise).
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    tokens: HashSet<String>,
    users: HashMap<String, String>,
}

impl Credentials {
    /// Accept `Authorization: Bearer <token>`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.tokens.insert(token.into());
        self
    }

    /// Accept user `name` with the password `hash` (from
    /// [`hash_password`]) was made from.
    pub fn with_user(mut self, name: impl Into<String>, hash: impl Into<String>) -> Result<Self> {
        let (name, hash) = (name.into(), hash.into());
        PasswordHash::new(&hash).map_err(|e| {
            AuthError::Config(format!(
                "the password hash of user '{name}' is not valid: {e}"
            ))
        })?;
        self.users.insert(name, hash);
        Ok(self)
    }

    /// Read a users file: one `name:hash` per line; blank lines and `#`
    /// comments are skipped.
    pub fn with_users_file(mut self, path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::ReadFile {
            path: path.to_string(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| AuthError::UsersFile {
                path: path.to_string(),
                line: i + 1,
                message,
            };
            let (name, hash) = line.split_once(':').ok_or_else(|| {
                bad("expected name:hash (make the hash with `floe hash-password`)".into())
            })?;
            PasswordHash::new(hash)
                .map_err(|e| bad(format!("the hash of user '{name}' is not valid: {e}")))?;
            self.users.insert(name.to_string(), hash.to_string());
        }
        Ok(self)
    }

    /// Whether any credential is configured.
    pub fn required(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }
}

/// The credentials, and the tokens handed out so far.
#[derive(Debug)]
pub struct Authenticator {
    credentials: Credentials,
    issued: Mutex<HashMap<String, Instant>>,
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials needed, none given.
    Anonymous,
    /// A static token.
    StaticToken,
    /// A token this authenticator issued.
    IssuedToken(String),
}

impl Authenticator {
    /// An authenticator of `credentials`, with no token issued yet.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Whether callers must give credentials.
    pub fn required(&self) -> bool {
        self.credentials.required()
    }

    /// Check a request's bearer token (`None`: it sent none).
    pub fn check_bearer(&self, token: Option<&str>) -> Result<Caller> {
        if let Some(token) = token {
            if self.is_issued(token) {
                return Ok(Caller::IssuedToken(token.to_string()));
            }
            if self.credentials.tokens.contains(token) {
                return Ok(Caller::StaticToken);
            }
            if self.required() {
                return Err(AuthError::Denied(
                    "the bearer token is not valid (or has expired): authenticate again".into(),
                ));
            }
        } else if self.required() {
            return Err(AuthError::Denied("authentication required".into()));
        }
        Ok(Caller::Anonymous)
    }

    /// Check the `authorization` header of a request: `Bearer <token>`.
    pub fn check_header(&self, header: Option<&str>) -> Result<Caller> {
        match header {
            Some(h) => match strip_scheme(h, "Bearer") {
                Some(token) => self.check_bearer(Some(token)),
                None if self.required() => Err(AuthError::Denied(
                    "unsupported authorization: send 'Bearer <token>'".into(),
                )),
                None => Ok(Caller::Anonymous),
            },
            None => self.check_bearer(None),
        }
    }

    /// A new token for `user`, if `password` is theirs (with no
    /// credentials configured, for anyone).
    pub fn issue(&self, user: &str, password: &str) -> Result<String> {
        self.verify(user, password)?;
        Ok(self.issue_unchecked())
    }

    /// A new token, for a caller already let in.
    pub fn issue_unchecked(&self) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut issued) = self.issued.lock() {
            issued.insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
        }
        token
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> Result<()> {
        let denied = || AuthError::Denied(format!("wrong user name or password for '{user}'"));
        if !self.required() {
            return Ok(());
        }
        let hash = self.credentials.users.get(user).ok_or_else(denied)?;
        let parsed = PasswordHash::new(hash).map_err(|_| denied())?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| denied())
    }

    fn is_issued(&self, token: &str) -> bool {
        let Ok(mut issued) = self.issued.lock() else {
            return false;
        };
        let now = Instant::now();
        issued.retain(|_, expires| *expires > now);
        issued.contains_key(token)
    }
}

/// `value` without its `scheme ` prefix (case-insensitive), if it has it.
pub fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = value.split_once(' ')?;
    head.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `user:password` from base64 basic credentials, with or without `=`
/// padding (Go's clients send it without).
pub fn decode_basic(encoded: &str) -> Result<(String, String)> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let denied = |m: &str| AuthError::Denied(m.to_string());
    let bytes = engine
        .decode(encoded)
        .map_err(|_| denied("the basic credentials are not valid base64"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| denied("the basic credentials are not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| denied("the basic credentials are not user:password"))?;
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn users_get_tokens_and_tokens_let_them_in() {
        let hash = hash_password("pw").unwrap();
        let auth = Authenticator::new(Credentials::default().with_user("ana", hash).unwrap());
        let token = auth.issue("ana", "pw").unwrap();
        let caller = auth.check_header(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(caller, Caller::IssuedToken(token));

        let wrong = auth.issue("ana", "nope").unwrap_err();
        assert_eq!(wrong.to_string(), "wrong user name or password for 'ana'");
        assert!(auth.check_header(None).is_err());
        assert!(auth.check_header(Some("Bearer forged")).is_err());
    }

    #[test]
    fn static_tokens_and_open_servers() {
        let auth = Authenticator::new(Credentials::default().with_token("t0k"));
        assert_eq!(
            auth.check_header(Some("Bearer t0k")).unwrap(),
            Caller::StaticToken
        );
        assert_eq!(
            auth.check_header(Some("bearer t0k")).unwrap(),
            Caller::StaticToken
        );
        assert!(auth.check_header(Some("Bearer other")).is_err());
        assert!(auth.check_header(Some("Basic eA==")).is_err());

        let open = Authenticator::new(Credentials::default());
        assert_eq!(open.check_header(None).unwrap(), Caller::Anonymous);
        assert_eq!(
            open.check_header(Some("Bearer anything")).unwrap(),
            Caller::Anonymous
        );
        assert!(open.issue("anyone", "anything").is_ok());
    }

    #[test]
    fn basic_credentials_decode_with_or_without_padding() {
        assert_eq!(decode_basic("YTpi").unwrap(), ("a".into(), "b".into()));
        assert_eq!(
            decode_basic("YW5hOnB3").unwrap(),
            ("ana".into(), "pw".into())
        );
        assert!(decode_basic("!!").is_err());
    }

    #[test]
    fn users_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "# users\nana:not-a-hash\n").unwrap();
        let err = Credentials::default()
            .with_users_file(path.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("user 'ana'"),
            "{err}"
        );
    }
}
