//! A pipeline folder, read: `pipeline.toml`, `bronze/*.toml` (raw
//! sources) and `silver/*.sql`, `gold/*.sql` (models with a header).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use floe_engine::TableIdent;
use serde::Deserialize;

use crate::error::{PipelineError, Result};
use crate::sql::{self, split_top_level};

/// A pipeline, as its folder declares it.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The folder.
    pub dir: PathBuf,
    /// `name` of `pipeline.toml`.
    pub name: String,
    /// `[defaults]` of `pipeline.toml`.
    pub defaults: Defaults,
    /// The raw sources, by file name.
    pub sources: Vec<Source>,
    /// The silver and gold models, by layer and file name.
    pub models: Vec<Model>,
}

/// `[defaults]` of `pipeline.toml`.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// The namespace of unqualified table names (default `default`).
    pub namespace: String,
    /// Properties of every table the pipeline creates.
    pub properties: BTreeMap<String, String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            namespace: floe_engine::DEFAULT_NAMESPACE.to_string(),
            properties: BTreeMap::new(),
        }
    }
}

/// The format of a raw source's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text with a header line (by default).
    Csv,
    /// Newline-delimited JSON objects.
    Json,
    /// Parquet files.
    Parquet,
}

/// What a source does with a column its objects have and its table lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNewColumns {
    /// Add it to the table (`ALTER TABLE … ADD COLUMN`), typed from the
    /// object that brought it.
    #[default]
    Add,
    /// Fail the run, naming the object and the column.
    Fail,
}

/// A declared column of a source: `name = "TYPE [NOT NULL]"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its SQL type, as written (`DECIMAL(10,2)`).
    pub sql_type: String,
    /// Whether it is declared `NOT NULL`.
    pub not_null: bool,
}

/// Format options of a source (`[options]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOptions {
    /// CSV: the first line names the columns (default true).
    pub header: bool,
    /// CSV: the field delimiter (default `,`).
    pub delimiter: u8,
    /// CSV: the quote character (default `"`).
    pub quote: u8,
    /// Text that means NULL (default: the empty field).
    pub null_value: String,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            header: true,
            delimiter: b',',
            quote: b'"',
            null_value: String::new(),
        }
    }
}

/// A raw source: `bronze/<name>.toml`.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file's stem.
    pub name: String,
    /// The file, relative to the pipeline folder (`bronze/orders.toml`).
    pub file: String,
    /// The glob of objects, resolved: an absolute path or a URI.
    pub glob: String,
    /// Their format.
    pub format: Format,
    /// The table they land in.
    pub table: TableIdent,
    /// The declared columns, in order; empty: inferred from the objects.
    pub columns: Vec<Column>,
    /// `partitioned_by` transforms (`day(ts)`).
    pub partitioned_by: Vec<String>,
    /// `[options]`.
    pub options: SourceOptions,
    /// `on_new_columns`.
    pub on_new_columns: OnNewColumns,
}

impl Source {
    /// The table that gets the rows this source cannot take:
    /// `<table>__quarantine`, in the same namespace.
    pub fn quarantine_table(&self) -> TableIdent {
        TableIdent::new(
            self.table.namespace().clone(),
            format!("{}__quarantine", self.table.name()),
        )
    }
}

/// The layer of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Cleaned, conformed tables.
    Silver,
    /// Aggregates for consumers.
    Gold,
}

impl Layer {
    /// `silver` or `gold`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silver => "silver",
            Self::Gold => "gold",
        }
    }
}

/// How a model's rows reach its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// New upstream rows give new target rows.
    Append,
    /// The target is the SELECT's result, recomputed when an upstream
    /// changed.
    Overwrite,
    /// The target holds one result per key: the keys an upstream change
    /// touched are recomputed and replaced.
    Merge(Vec<String>),
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Append => f.write_str("append"),
            Self::Overwrite => f.write_str("overwrite"),
            Self::Merge(keys) => write!(f, "merge ({})", keys.join(", ")),
        }
    }
}

/// What a check asserts about a model's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// `not_null(a, b)`: no row has a NULL in these columns.
    NotNull(Vec<String>),
    /// `unique(a, b)`: no two rows share these columns' values.
    Unique(Vec<String>),
    /// `accepted_values(c, 'x', 'y')`: every non-NULL `c` is one of these
    /// SQL literals.
    AcceptedValues {
        /// The column.
        column: String,
        /// The literals, as written.
        values: Vec<String>,
    },
    /// `row_count > 0`: a SQL condition over `row_count`, the number of rows.
    RowCount(String),
    /// Any SQL boolean over the target's rows; a row where it is false
    /// fails (NULL passes, as in a CHECK constraint).
    Condition(String),
}

/// One `-- check:` or `-- warn:` line of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What it asserts.
    pub kind: CheckKind,
    /// `check` (a failure blocks publishing) or `warn` (it is reported).
    pub blocking: bool,
    /// The check as written.
    pub text: String,
    /// Its line in the model's file.
    pub line: usize,
}

/// A silver or gold model: `<layer>/<name>.sql`.
#[derive(Debug, Clone)]
pub struct Model {
    /// The file's stem.
    pub name: String,
    /// The file, relative to the pipeline folder (`silver/orders.sql`).
    pub file: String,
    /// Its layer.
    pub layer: Layer,
    /// `-- target:`.
    pub target: TableIdent,
    /// `-- mode:`.
    pub mode: Mode,
    /// `-- check:` and `-- warn:` lines.
    pub checks: Vec<Check>,
    /// The SELECT.
    pub select: String,
    /// The tables the SELECT reads, resolved (sorted, once each).
    pub reads: Vec<TableIdent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineToml {
    name: String,
    #[serde(default)]
    defaults: DefaultsToml,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DefaultsToml {
    namespace: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceToml {
    source: String,
    format: Format,
    table: String,
    #[serde(default)]
    columns: toml::Table,
    #[serde(default)]
    partitioned_by: Vec<String>,
    #[serde(default)]
    options: toml::Table,
    #[serde(default)]
    on_new_columns: OnNewColumns,
}

impl Pipeline {
    /// Read the pipeline folder `dir`. Every file is checked: a wrong key,
    /// a bad header line or a SELECT that does not parse is an error that
    /// names the file and the line.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let dir = std::path::absolute(dir)
            .map_err(|e| PipelineError::spec(dir.display().to_string(), e.to_string()))?;
        let text = read(&dir, "pipeline.toml")?;
        let toml: PipelineToml = toml::from_str(&text)
            .map_err(|e| PipelineError::spec("pipeline.toml", e.message().to_string()))?;
        if toml.name.trim().is_empty() {
            return Err(PipelineError::spec("pipeline.toml", "`name` is empty"));
        }
        let mut properties = BTreeMap::new();
        for (key, value) in toml.defaults.properties {
            let value = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            properties.insert(key, value);
        }
        let defaults = Defaults {
            namespace: toml
                .defaults
                .namespace
                .unwrap_or_else(|| floe_engine::DEFAULT_NAMESPACE.to_string()),
            properties,
        };

        let mut sources = Vec::new();
        for (file, text) in files(&dir, "bronze", "toml")? {
            sources.push(parse_source(&dir, &file, &text, &defaults)?);
        }
        let mut models = Vec::new();
        for layer in [Layer::Silver, Layer::Gold] {
            for (file, text) in files(&dir, layer.as_str(), "sql")? {
                models.push(parse_model(&file, &text, layer, &defaults)?);
            }
        }
        if sources.is_empty() && models.is_empty() {
            return Err(PipelineError::spec(
                dir.display().to_string(),
                "the pipeline has no bronze/*.toml source and no silver/*.sql or gold/*.sql model",
            ));
        }
        Ok(Self {
            dir,
            name: toml.name,
            defaults,
            sources,
            models,
        })
    }
}

fn read(dir: &Path, file: &str) -> Result<String> {
    std::fs::read_to_string(dir.join(file))
        .map_err(|e| PipelineError::spec(format!("{}/{file}", dir.display()), e.to_string()))
}

/// The files `<dir>/<sub>/*.<ext>`, sorted, as (relative name, text).
fn files(dir: &Path, sub: &str, ext: &str) -> Result<Vec<(String, String)>> {
    let folder = dir.join(sub);
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(&folder)
        .map_err(|e| PipelineError::spec(sub.to_string(), e.to_string()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PipelineError::spec(sub.to_string(), e.to_string()))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some(ext)
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(format!("{sub}/{name}"));
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| Ok((name.clone(), read(dir, &name)?)))
        .collect()
}

fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(file)
        .to_string()
}

/// `ns.t` or `t` (in the default namespace), lowercased as unquoted SQL
/// names are.
pub(crate) fn table_ident(text: &str, defaults: &Defaults) -> Option<TableIdent> {
    let parts: Vec<String> = text
        .trim()
        .split('.')
        .map(|p| p.trim().to_lowercase())
        .collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    match parts.as_slice() {
        [name] => TableIdent::from_strs([defaults.namespace.as_str(), name.as_str()]).ok(),
        [namespace, name] => TableIdent::from_strs([namespace.as_str(), name.as_str()]).ok(),
        _ => None,
    }
}

fn parse_source(dir: &Path, file: &str, text: &str, defaults: &Defaults) -> Result<Source> {
    let toml: SourceToml =
        toml::from_str(text).map_err(|e| PipelineError::spec(file, e.message().to_string()))?;
    let table = table_ident(&toml.table, defaults).ok_or_else(|| {
        PipelineError::spec(
            file,
            format!(
                "`table = \"{}\"` is not `name` or `namespace.name`",
                toml.table
            ),
        )
    })?;
    let mut columns = Vec::new();
    for (name, value) in toml.columns {
        let Some(declared) = value.as_str() else {
            return Err(PipelineError::spec(
                file,
                format!("[columns] {name}: expected a string such as \"BIGINT NOT NULL\""),
            ));
        };
        let trimmed = declared.trim();
        let upper = trimmed.to_uppercase();
        let (sql_type, not_null) = match upper.strip_suffix("NOT NULL") {
            Some(rest) => (trimmed[..rest.len()].trim().to_string(), true),
            None => (trimmed.to_string(), false),
        };
        if sql_type.is_empty() {
            return Err(PipelineError::spec(
                file,
                format!("[columns] {name}: no type in \"{declared}\""),
            ));
        }
        columns.push(Column {
            name,
            sql_type,
            not_null,
        });
    }
    let options = parse_options(file, toml.format, toml.options)?;
    Ok(Source {
        name: stem(file),
        file: file.to_string(),
        glob: resolve_glob(dir, &toml.source),
        format: toml.format,
        table,
        columns,
        partitioned_by: toml.partitioned_by,
        options,
        on_new_columns: toml.on_new_columns,
    })
}

/// A relative glob is relative to the pipeline folder.
fn resolve_glob(dir: &Path, glob: &str) -> String {
    if glob.contains("://") || glob.starts_with('/') {
        glob.to_string()
    } else {
        dir.join(glob).display().to_string()
    }
}

fn parse_options(file: &str, format: Format, table: toml::Table) -> Result<SourceOptions> {
    let mut options = SourceOptions::default();
    let one_byte = |key: &str, value: &toml::Value| -> Result<u8> {
        match value.as_str().map(str::as_bytes) {
            Some([b]) => Ok(*b),
            Some(b"\\t") => Ok(b'\t'),
            _ => Err(PipelineError::spec(
                file,
                format!("[options] {key}: expected one ASCII character, found {value}"),
            )),
        }
    };
    for (key, value) in &table {
        match (format, key.as_str()) {
            (Format::Csv, "header") => {
                options.header = value.as_bool().ok_or_else(|| {
                    PipelineError::spec(file, "[options] header: expected true or false")
                })?;
            }
            (Format::Csv, "delimiter") => options.delimiter = one_byte(key, value)?,
            (Format::Csv, "quote") => options.quote = one_byte(key, value)?,
            (Format::Csv | Format::Json, "null_value") => {
                options.null_value = value
                    .as_str()
                    .ok_or_else(|| {
                        PipelineError::spec(file, "[options] null_value: expected a string")
                    })?
                    .to_string();
            }
            _ => {
                let known = match format {
                    Format::Csv => "header, delimiter, quote, null_value",
                    Format::Json => "null_value",
                    Format::Parquet => "none",
                };
                return Err(PipelineError::spec(
                    file,
                    format!("[options] {key}: not an option of format {format:?} (known: {known})"),
                ));
            }
        }
    }
    Ok(options)
}

/// The header keys a model may use.
const HEADER_KEYS: &str = "target, mode, check, warn";

fn parse_model(file: &str, text: &str, layer: Layer, defaults: &Defaults) -> Result<Model> {
    let at =
        |line: usize, message: String| PipelineError::spec(file, format!("line {line}: {message}"));
    let mut target = None;
    let mut mode = None;
    let mut checks = Vec::new();
    let mut body_start = text.len();
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            offset += line.len();
            continue;
        }
        let Some(comment) = trimmed.strip_prefix("--") else {
            body_start = offset;
            break;
        };
        offset += line.len();
        let comment = comment.trim();
        let Some((key, value)) = comment.split_once(':') else {
            continue; // prose
        };
        let key = key.trim();
        if key.contains(' ') || key.is_empty() {
            continue; // prose with a colon
        }
        let value = strip_trailing_comment(value).trim().to_string();
        match key {
            "target" => {
                let ident = table_ident(&value, defaults).ok_or_else(|| {
                    at(
                        number,
                        format!("target '{value}' is not `name` or `namespace.name`"),
                    )
                })?;
                target = Some(ident);
            }
            "mode" => mode = Some(parse_mode(&value).map_err(|m| at(number, m))?),
            "check" | "warn" => checks.push(Check {
                kind: parse_check(&value).map_err(|m| at(number, m))?,
                blocking: key == "check",
                text: value,
                line: number,
            }),
            other => {
                return Err(at(
                    number,
                    format!("unknown header '{other}:' (the header keys are {HEADER_KEYS})"),
                ));
            }
        }
    }
    let select = text[body_start..]
        .trim()
        .trim_end_matches(';')
        .trim()
        .to_string();
    let target = target.ok_or_else(|| {
        PipelineError::spec(file, "no `-- target: namespace.table` line in the header")
    })?;
    let mode = mode.unwrap_or(Mode::Overwrite);
    if select.is_empty() {
        return Err(PipelineError::spec(file, "no SELECT after the header"));
    }
    let reads = sql::tables_read(&select, defaults)
        .map_err(|m| PipelineError::spec(file, format!("the SELECT does not parse: {m}")))?;
    if reads.contains(&target) {
        return Err(PipelineError::spec(
            file,
            format!("the model reads its own target {target}"),
        ));
    }
    Ok(Model {
        name: stem(file),
        file: file.to_string(),
        layer,
        target,
        mode,
        checks,
        select,
        reads,
    })
}

/// A header value without a trailing `-- comment` (outside quotes).
fn strip_trailing_comment(value: &str) -> &str {
    let mut quoted = false;
    let bytes = value.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'-' if !quoted && bytes.get(i + 1) == Some(&b'-') => return &value[..i],
            _ => {}
        }
    }
    value
}

fn parse_mode(value: &str) -> std::result::Result<Mode, String> {
    let lower = value.to_lowercase();
    match lower.as_str() {
        "append" => return Ok(Mode::Append),
        "overwrite" => return Ok(Mode::Overwrite),
        _ => {}
    }
    if let Some(rest) = lower.strip_prefix("merge") {
        let keys = call_args(rest.trim())
            .ok_or_else(|| format!("mode '{value}': write merge (key, ...)"))?;
        let keys: Vec<String> = keys.iter().map(|k| k.trim().to_string()).collect();
        if keys.is_empty() || keys.iter().any(|k| !sql::is_identifier(k)) {
            return Err(format!(
                "mode '{value}': the merge keys must be column names"
            ));
        }
        return Ok(Mode::Merge(keys));
    }
    Err(format!(
        "mode '{value}' is not append, overwrite or merge (key, ...)"
    ))
}

/// The arguments of `(a, b, 'c')`, split at top-level commas.
fn call_args(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    Some(
        split_top_level(inner, ',')
            .into_iter()
            .map(|a| a.trim().to_string())
            .collect(),
    )
}

fn columns(name: &str, args: &[String]) -> std::result::Result<Vec<String>, String> {
    if args.is_empty() || args.iter().any(|a| !sql::is_identifier(a)) {
        return Err(format!("{name}(...) takes one or more column names"));
    }
    Ok(args.iter().map(|a| a.to_lowercase()).collect())
}

fn parse_check(value: &str) -> std::result::Result<CheckKind, String> {
    if value.is_empty() {
        return Err("an empty check".to_string());
    }
    if let Some(open) = value.find('(') {
        let name = value[..open].trim().to_lowercase();
        let known = matches!(name.as_str(), "not_null" | "unique" | "accepted_values");
        if known {
            let args = call_args(value[open..].trim())
                .ok_or_else(|| format!("'{value}': expected {name}(...)"))?;
            return match name.as_str() {
                "not_null" => Ok(CheckKind::NotNull(columns(&name, &args)?)),
                "unique" => Ok(CheckKind::Unique(columns(&name, &args)?)),
                _ => {
                    let Some((column, values)) = args.split_first() else {
                        return Err(
                            "accepted_values(column, 'value', ...) takes a column and values"
                                .into(),
                        );
                    };
                    if !sql::is_identifier(column) || values.is_empty() {
                        return Err(
                            "accepted_values(column, 'value', ...) takes a column and values"
                                .into(),
                        );
                    }
                    Ok(CheckKind::AcceptedValues {
                        column: column.to_lowercase(),
                        values: values.to_vec(),
                    })
                }
            };
        }
    }
    let lower = value.to_lowercase();
    if let Some(rest) = lower.strip_prefix("row_count")
        && rest.starts_with(|c: char| !c.is_alphanumeric() && c != '_')
    {
        return Ok(CheckKind::RowCount(
            value["row_count".len()..].trim().to_string(),
        ));
    }
    sql::check_expression(value)?;
    Ok(CheckKind::Condition(value.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults::default()
    }

    #[test]
    fn model_header_and_select() {
        let text = "-- Orders, deduplicated.\n-- target: silver.orders\n\
                    -- mode: merge (order_id)          -- or: append | overwrite\n\
                    -- check: not_null(order_id)\n-- check: unique(order_id, day)\n\
                    -- check: accepted_values(status, 'new', 'paid')\n\
                    -- check: row_count > 0\n-- warn: amount >= 0\n\n\
                    SELECT * FROM bronze.orders_raw o JOIN customers c ON o.c = c.id;\n";
        let model = parse_model("silver/orders.sql", text, Layer::Silver, &defaults()).unwrap();
        assert_eq!(model.target.to_string(), "silver.orders");
        assert_eq!(model.mode, Mode::Merge(vec!["order_id".into()]));
        let kinds: Vec<_> = model
            .checks
            .iter()
            .map(|c| (c.kind.clone(), c.blocking, c.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (CheckKind::NotNull(vec!["order_id".into()]), true, 4),
                (
                    CheckKind::Unique(vec!["order_id".into(), "day".into()]),
                    true,
                    5
                ),
                (
                    CheckKind::AcceptedValues {
                        column: "status".into(),
                        values: vec!["'new'".into(), "'paid'".into()]
                    },
                    true,
                    6
                ),
                (CheckKind::RowCount("> 0".into()), true, 7),
                (CheckKind::Condition("amount >= 0".into()), false, 8),
            ]
        );
        assert_eq!(
            model.select,
            "SELECT * FROM bronze.orders_raw o JOIN customers c ON o.c = c.id"
        );
        let reads: Vec<String> = model.reads.iter().map(|t| t.to_string()).collect();
        assert_eq!(reads, ["bronze.orders_raw", "default.customers"]);
    }

    #[test]
    fn header_errors_name_the_line() {
        let bad = |text: &str| {
            parse_model("gold/x.sql", text, Layer::Gold, &defaults())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("-- target: g.x\n-- chek: a > 0\nSELECT 1"),
            "gold/x.sql: line 2: unknown header 'chek:' (the header keys are target, mode, check, warn)"
        );
        assert_eq!(
            bad("-- target: g.x\n-- mode: upsert\nSELECT 1"),
            "gold/x.sql: line 2: mode 'upsert' is not append, overwrite or merge (key, ...)"
        );
        assert_eq!(
            bad("-- mode: append\nSELECT 1"),
            "gold/x.sql: no `-- target: namespace.table` line in the header"
        );
        assert_eq!(
            bad("-- target: g.x\n-- check: unique()\nSELECT 1"),
            "gold/x.sql: line 2: unique(...) takes one or more column names"
        );
        assert!(
            bad("-- target: g.x\nSELEC 1").starts_with("gold/x.sql: the SELECT does not parse: ")
        );
        assert_eq!(
            bad("-- target: g.x\nSELECT * FROM g.x"),
            "gold/x.sql: the model reads its own target g.x"
        );
    }

    #[test]
    fn source_toml() {
        let dir = Path::new("/p");
        let text = "source = \"data/*.csv\"\nformat = \"csv\"\ntable = \"bronze.raw\"\n\
                    partitioned_by = [\"day(ts)\"]\non_new_columns = \"fail\"\n\
                    [columns]\nid = \"BIGINT NOT NULL\"\namount = \"DECIMAL(10,2)\"\n\
                    [options]\ndelimiter = \";\"\nheader = false\n";
        let source = parse_source(dir, "bronze/raw.toml", text, &defaults()).unwrap();
        assert_eq!(source.glob, "/p/data/*.csv");
        assert_eq!(source.table.to_string(), "bronze.raw");
        assert_eq!(
            source.quarantine_table().to_string(),
            "bronze.raw__quarantine"
        );
        assert_eq!(
            source.columns,
            vec![
                Column {
                    name: "id".into(),
                    sql_type: "BIGINT".into(),
                    not_null: true
                },
                Column {
                    name: "amount".into(),
                    sql_type: "DECIMAL(10,2)".into(),
                    not_null: false
                },
            ]
        );
        assert_eq!(source.options.delimiter, b';');
        assert!(!source.options.header);
        assert_eq!(source.on_new_columns, OnNewColumns::Fail);

        let err = parse_source(
            dir,
            "bronze/raw.toml",
            "source = \"x\"\nformat = \"xml\"\ntable = \"t\"",
            &defaults(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("bronze/raw.toml: unknown variant `xml`"),
            "{err}"
        );
        let err = parse_source(
            dir,
            "bronze/raw.toml",
            "source = \"x\"\nformat = \"json\"\ntable = \"t\"\n[options]\nheader = true",
            &defaults(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "bronze/raw.toml: [options] header: not an option of format Json (known: null_value)"
        );
    }
}
