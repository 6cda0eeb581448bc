//! Table and namespace names as statements write them, resolved as
//! DataFusion resolves them (unquoted parts lower-cased, an unqualified
//! table in the session's namespace, a leading `floe.` dropped), and the
//! versions a name can select.

use datafusion::sql::sqlparser::ast::ObjectName;
use floe_catalog::{NamespaceIdent, TableIdent};

use crate::error::{Result, invalid};
use crate::table::VersionSpec;

/// The first character of a name part that carries a version: the
/// statement's `t VERSION AS OF 'dev'` reaches the parser as `t."@ref_dev"`,
/// and Floe's schema provider as the table name `t@ref_dev`.
pub const VERSION_MARK: char = '@';

/// What resolving a statement's table names needs from the session.
pub(crate) struct Names<'a> {
    /// The catalog name (`floe`), which may lead a name.
    pub catalog: &'a str,
    /// The namespace of unqualified names.
    pub default_namespace: &'a str,
    /// Whether a table (Iceberg or session) of that name exists.
    pub table_exists: &'a dyn Fn(&TableIdent) -> bool,
}

/// An identifier normalised as DataFusion does: lower-cased unless quoted.
pub(crate) fn normalize(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The identifier parts of a name, normalised as DataFusion does: unquoted
/// identifiers are lower-cased.
pub(crate) fn name_parts(name: &ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|part| {
            let ident = part
                .as_ident()
                .ok_or_else(|| invalid!("'{name}' is not a valid name"))?;
            Ok(if ident.quote_style.is_some() {
                ident.value.clone()
            } else {
                ident.value.to_lowercase()
            })
        })
        .collect()
}

/// A namespace name; a leading `floe.` (the catalog) is dropped.
pub(crate) fn namespace_ident(name: &ObjectName, catalog: &str) -> Result<NamespaceIdent> {
    let mut parts = name_parts(name)?;
    if parts.len() > 1 && parts[0] == catalog {
        parts.remove(0);
    }
    NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{name}': {e}"))
}

/// A table name: `t` (in `default_namespace`), `ns.t` or `floe.ns.t`.
/// A name that selects a version of a table is refused: see
/// [`versioned_table_ident`].
pub(crate) fn table_ident(
    name: &ObjectName,
    catalog: &str,
    default_namespace: &str,
) -> Result<TableIdent> {
    let (ident, version) = versioned_table_ident(name, catalog, default_namespace)?;
    match version {
        None => Ok(ident),
        Some(_) => Err(invalid!(
            "'{name}' names a version of table '{ident}', not a table"
        )),
    }
}

/// A table named in a string (a procedure or table function argument):
/// `'t'`, `'ns.t'` or `'floe.ns.t'`, taken as written (no case folding).
pub(crate) fn table_ident_from_text(
    text: &str,
    catalog: &str,
    default_namespace: &str,
) -> Result<TableIdent> {
    let mut parts: Vec<String> = text.split('.').map(str::to_string).collect();
    if parts.len() > 2 && parts[0] == catalog {
        parts.remove(0);
    }
    let name = parts
        .pop()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid!("'{text}' is not a table name"))?;
    if parts.is_empty() {
        parts.push(default_namespace.to_string());
    }
    let namespace = NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{text}': {e}"))?;
    Ok(TableIdent::new(namespace, name))
}

/// A table name and the version it selects, if any (after the parser
/// resolved the versions in its names).
pub(crate) fn versioned_table_ident(
    name: &ObjectName,
    catalog: &str,
    default_namespace: &str,
) -> Result<(TableIdent, Option<VersionSpec>)> {
    let names = Names {
        catalog,
        default_namespace,
        table_exists: &|_| false,
    };
    let ident = ident_from_parts(name_parts(name)?, &names, name)?;
    match split_version(ident.name()) {
        (table, Some(spec)) => Ok((
            TableIdent::new(ident.namespace().clone(), table.to_string()),
            Some(spec),
        )),
        (_, None) => Ok((ident, None)),
    }
}

pub(crate) fn ident_from_parts(
    mut parts: Vec<String>,
    names: &Names<'_>,
    name: &ObjectName,
) -> Result<TableIdent> {
    if parts.len() > 2 && parts[0] == names.catalog {
        parts.remove(0);
    }
    let table = parts
        .pop()
        .ok_or_else(|| invalid!("'{name}' is not a valid table name"))?;
    if parts.is_empty() {
        parts.push(names.default_namespace.to_string());
    }
    let namespace = NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{name}': {e}"))?;
    Ok(TableIdent::new(namespace, table))
}

/// A table name as Floe's schema provider receives it, split into the table
/// and the version it selects (`t@branch_dev`: `t` at branch `dev`).
pub(crate) fn split_version(name: &str) -> (&str, Option<VersionSpec>) {
    if let Some((table, suffix)) = name.rsplit_once(VERSION_MARK)
        && let Some(spec) = VersionSpec::from_suffix(suffix)
        && !table.is_empty()
    {
        return (table, Some(spec));
    }
    (name, None)
}
