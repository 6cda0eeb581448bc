//! Who may call: static bearer tokens (`--auth-token`), users with hashed
//! passwords (a users file of `name:argon2-hash` lines), and the bearer
//! tokens a basic-auth handshake hands out.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use tonic::Status;

use crate::error::{FlightError, Result};

/// How long a token from a handshake stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Hash a password for a users file line (`name:<hash>`): Argon2id in the
/// PHC string format.
///
/// ```
/// let hash = floe_flight::hash_password("s3cret").unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// ```
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FlightError::Config(format!("cannot hash the password: {e}")))
}

/// The credentials a server accepts. With none configured, every caller
/// is let in (the server binds to 127.0.0.1 unless told otherwise).
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

    /// Accept a basic-auth handshake of `name` with the password `hash`
    /// (from [`hash_password`]) was made from.
    pub fn with_user(mut self, name: impl Into<String>, hash: impl Into<String>) -> Result<Self> {
        let (name, hash) = (name.into(), hash.into());
        PasswordHash::new(&hash).map_err(|e| {
            FlightError::Config(format!(
                "the password hash of user '{name}' is not valid: {e}"
            ))
        })?;
        self.users.insert(name, hash);
        Ok(self)
    }

    /// Read a users file: one `name:hash` per line; blank lines and `#`
    /// comments are skipped.
    pub fn with_users_file(mut self, path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| FlightError::ReadFile {
            path: path.to_string(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| FlightError::UsersFile {
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
pub(crate) struct Authenticator {
    credentials: Credentials,
    issued: Mutex<HashMap<String, Instant>>,
}

/// Who a request comes from, as its `authorization` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No credentials needed, none given.
    Anonymous,
    /// A static token.
    StaticToken,
    /// A token a handshake issued (it keys the caller's session).
    IssuedToken(String),
}

impl Authenticator {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Check the `authorization` header of a request other than the
    /// handshake.
    pub(crate) fn check(&self, header: Option<&str>) -> Result<Caller, Status> {
        let token = header.and_then(|h| strip_scheme(h, "Bearer"));
        if let Some(token) = token {
            if self.is_issued(token)? {
                return Ok(Caller::IssuedToken(token.to_string()));
            }
            if self.credentials.tokens.contains(token) {
                return Ok(Caller::StaticToken);
            }
            if self.credentials.required() {
                return Err(Status::unauthenticated(
                    "the bearer token is not valid (or has expired): authenticate again",
                ));
            }
        }
        if self.credentials.required() {
            return Err(Status::unauthenticated(match header {
                Some(_) => {
                    "unsupported authorization: send 'Bearer <token>' (a basic-auth \
                            handshake gives one)"
                }
                None => {
                    "authentication required: do a basic-auth handshake, or send \
                         'authorization: Bearer <token>'"
                }
            }));
        }
        Ok(Caller::Anonymous)
    }

    /// The handshake: basic credentials (or a valid bearer token) get a
    /// new token.
    pub(crate) fn handshake(&self, header: Option<&str>) -> Result<String, Status> {
        match header {
            Some(h) if strip_scheme(h, "Basic").is_some() => {
                let encoded = strip_scheme(h, "Basic").unwrap_or_default();
                let (user, password) = decode_basic(encoded)?;
                self.verify(&user, &password)?;
            }
            Some(h) if strip_scheme(h, "Bearer").is_some() => {
                self.check(Some(h))?;
            }
            _ if self.credentials.required() => {
                return Err(Status::unauthenticated(
                    "the handshake needs 'authorization: Basic <base64 user:password>'",
                ));
            }
            _ => {}
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.issued
            .lock()
            .map_err(|_| Status::internal("token table lock poisoned"))?
            .insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
        Ok(token)
    }

    fn verify(&self, user: &str, password: &str) -> Result<(), Status> {
        let denied =
            || Status::unauthenticated(format!("wrong user name or password for '{user}'"));
        if !self.credentials.required() {
            return Ok(());
        }
        let hash = self.credentials.users.get(user).ok_or_else(denied)?;
        let parsed = PasswordHash::new(hash).map_err(|_| denied())?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| denied())
    }

    fn is_issued(&self, token: &str) -> Result<bool, Status> {
        let mut issued = self
            .issued
            .lock()
            .map_err(|_| Status::internal("token table lock poisoned"))?;
        let now = Instant::now();
        issued.retain(|_, expires| *expires > now);
        Ok(issued.contains_key(token))
    }
}

/// `value` without its `scheme ` prefix (case-insensitive), if it has it.
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = value.split_once(' ')?;
    head.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `user:password` from base64, with or without `=` padding (Go's clients
/// send it without).
fn decode_basic(encoded: &str) -> Result<(String, String), Status> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(encoded)
        .map_err(|_| Status::unauthenticated("the basic credentials are not valid base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Status::unauthenticated("the basic credentials are not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| Status::unauthenticated("the basic credentials are not user:password"))?;
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let raw =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{user}:{password}"));
        format!("Basic {raw}")
    }

    #[test]
    fn users_get_tokens_and_tokens_let_them_in() {
        let hash = hash_password("pw").unwrap();
        let auth = Authenticator::new(Credentials::default().with_user("ana", hash).unwrap());
        let token = auth.handshake(Some(&basic("ana", "pw"))).unwrap();
        let caller = auth.check(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(caller, Caller::IssuedToken(token));

        let wrong = auth.handshake(Some(&basic("ana", "nope"))).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert_eq!(wrong.message(), "wrong user name or password for 'ana'");
        let missing = auth.check(None).unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        let forged = auth.check(Some("Bearer forged")).unwrap_err();
        assert_eq!(forged.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn static_tokens_and_open_servers() {
        let auth = Authenticator::new(Credentials::default().with_token("t0k"));
        assert_eq!(auth.check(Some("Bearer t0k")).unwrap(), Caller::StaticToken);
        assert_eq!(auth.check(Some("bearer t0k")).unwrap(), Caller::StaticToken);
        assert!(auth.check(Some("Bearer other")).is_err());
        assert!(auth.handshake(Some("Bearer t0k")).is_ok());
        assert!(auth.handshake(None).is_err());

        let open = Authenticator::new(Credentials::default());
        assert_eq!(open.check(None).unwrap(), Caller::Anonymous);
        assert_eq!(
            open.check(Some("Bearer anything")).unwrap(),
            Caller::Anonymous
        );
        assert!(open.handshake(None).is_ok());
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
