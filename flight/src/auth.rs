//! Who may call, in gRPC terms: [`floe_auth`]'s credentials checked on
//! every RPC, and the basic-auth handshake that hands out tokens.

use floe_auth::{AuthError, Authenticator as Inner, decode_basic, strip_scheme};
use tonic::Status;

pub(crate) use floe_auth::{Caller, Credentials};

/// The credentials, and the tokens handed out so far.
#[derive(Debug)]
pub(crate) struct Authenticator(Inner);

fn unauthenticated(e: AuthError) -> Status {
    Status::unauthenticated(e.to_string())
}

impl Authenticator {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self(Inner::new(credentials))
    }

    /// Check the `authorization` header of a request other than the
    /// handshake.
    pub(crate) fn check(&self, header: Option<&str>) -> Result<Caller, Status> {
        match header {
            None if self.0.required() => Err(Status::unauthenticated(
                "authentication required: do a basic-auth handshake, or send \
                 'authorization: Bearer <token>'",
            )),
            Some(h) if self.0.required() && strip_scheme(h, "Bearer").is_none() => {
                Err(Status::unauthenticated(
                    "unsupported authorization: send 'Bearer <token>' (a basic-auth \
                     handshake gives one)",
                ))
            }
            header => self.0.check_header(header).map_err(unauthenticated),
        }
    }

    /// The handshake: basic credentials (or a valid bearer token) get a
    /// new token.
    pub(crate) fn handshake(&self, header: Option<&str>) -> Result<String, Status> {
        match header {
            Some(h) if strip_scheme(h, "Basic").is_some() => {
                let encoded = strip_scheme(h, "Basic").unwrap_or_default();
                let (user, password) = decode_basic(encoded).map_err(unauthenticated)?;
                self.0.issue(&user, &password).map_err(unauthenticated)
            }
            Some(h) if strip_scheme(h, "Bearer").is_some() => {
                self.check(Some(h))?;
                Ok(self.0.issue_unchecked())
            }
            _ if self.0.required() => Err(Status::unauthenticated(
                "the handshake needs 'authorization: Basic <base64 user:password>'",
            )),
            _ => Ok(self.0.issue_unchecked()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let raw =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{user}:{password}"));
        format!("Basic {raw}")
    }

    #[test]
    fn users_get_tokens_and_tokens_let_them_in() {
        let hash = floe_auth::hash_password("pw").unwrap();
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
}
