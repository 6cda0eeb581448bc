//! How names travel in URLs: a warehouse branch as the REST prefix, a
//! namespace as one path segment (levels joined by `0x1F`, as the spec
//! says), and page tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use floe_catalog::NamespaceIdent;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::ApiError;

/// The characters a prefix keeps as they are: unreserved ones, and `@` and
/// `:` of a pinned branch (`dev@2026-11-20T10:00:00Z`).
const PREFIX_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b':');

/// The REST prefix that serves warehouse branch (or pinned branch)
/// `name`: clients put it in their URLs as it is, so it is
/// percent-encoded here.
pub(crate) fn prefix_of(name: &str) -> String {
    utf8_percent_encode(name, PREFIX_KEEP).to_string()
}

/// The namespace of a path segment (already percent-decoded).
pub(crate) fn namespace(segment: &str) -> Result<NamespaceIdent, ApiError> {
    NamespaceIdent::from_vec(segment.split('\u{1f}').map(str::to_string).collect())
        .map_err(|_| ApiError::bad_request(format!("'{segment}' is not a namespace name")))
}

/// A request's query parameters, read leniently (`true`/`True`, numbers
/// as text), with a 400 naming a parameter that does not parse.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Params(std::collections::HashMap<String, String>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "query parameter {name}='{other}': expected true or false"
            ))),
        }
    }

    pub(crate) fn size(&self, name: &str) -> Result<Option<usize>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter {name}='{v}': expected a positive number"
                    ))
                })
            })
            .transpose()
    }
}

/// A page of `items` after `token` (the last item of the page before), at
/// most `size` long, with the token of the next page if there is one.
/// One page of a namespace's tables or views, as the spec's
/// `ListTablesResponse` (which views share).
pub(crate) fn list_page(
    entries: Vec<floe_catalog::TableIdent>,
    query: &Params,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (identifiers, next_page_token) = page(
        entries,
        |t| t.name().to_string(),
        query.get("pageToken"),
        query.size("pageSize")?,
    )?;
    Ok(axum::Json(iceberg_catalog_rest::ListTablesResponse {
        identifiers,
        next_page_token,
    })
    .into_response())
}

pub(crate) fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    token: Option<&str>,
    size: Option<usize>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = match token.filter(|t| !t.is_empty()) {
        Some(token) => Some(
            URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "pageToken '{token}' is not one this server gave"
                    ))
                })?,
        ),
        None => None,
    };
    let mut rest: Vec<T> = match &after {
        Some(after) => items
            .into_iter()
            .filter(|i| key(i).as_str() > after.as_str())
            .collect(),
        None => items,
    };
    let Some(size) = size else {
        return Ok((rest, None));
    };
    if size == 0 {
        return Err(ApiError::bad_request("pageSize must be at least 1"));
    }
    if rest.len() <= size {
        return Ok((rest, None));
    }
    rest.truncate(size);
    let next = rest.last().map(|last| URL_SAFE_NO_PAD.encode(key(last)));
    Ok((rest, next))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_url_safe() {
        assert_eq!(prefix_of("main"), "main");
        assert_eq!(
            prefix_of("dev@2026-11-20T10:00:00Z"),
            "dev@2026-11-20T10:00:00Z"
        );
        assert_eq!(prefix_of("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn pages_follow_their_tokens() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let (first, token) = page(items.clone(), |s| s.clone(), None, Some(2)).unwrap();
        assert_eq!(first, ["a", "b"]);
        let (second, token) =
            page(items.clone(), |s| s.clone(), token.as_deref(), Some(2)).unwrap();
        assert_eq!(second, ["c", "d"]);
        let (third, token) = page(items.clone(), |s| s.clone(), token.as_deref(), Some(2)).unwrap();
        assert_eq!(third, ["e"]);
        assert_eq!(token, None);
        let (all, token) = page(items, |s| s.clone(), None, None).unwrap();
        assert_eq!((all.len(), token), (5, None));
    }

    #[test]
    fn namespaces_split_on_the_unit_separator() {
        assert_eq!(namespace("a\u{1f}b").unwrap().inner(), ["a", "b"]);
        assert_eq!(namespace("db").unwrap().inner(), ["db"]);
    }
}
