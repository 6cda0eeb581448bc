//! Raw source objects: finding them by glob in any store the engine
//! reads, parsing them row by row, and typing the rows for their table.
//! A row that cannot be parsed or typed is set aside with its raw text,
//! line and reason, never dropped.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, StringBuilder};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use floe_engine::Engine;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::error::{PipelineError, Result};
use crate::spec::{Format, SourceOptions};

/// One object a source's glob matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its location: an absolute path for a local file, else a URI.
    pub location: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, where the store has one.
    pub etag: Option<String>,
    /// When it was last modified.
    pub modified: DateTime<Utc>,
}

/// Characters that make a path segment a pattern.
const WILDCARDS: &[char] = &['*', '?', '[', '{'];

/// The objects matching `glob` (`/data/in/*.csv`, `s3://bucket/raw/**/*.json`),
/// sorted by location. Names starting with `.` or `_` (`_SUCCESS`,
/// temporary files) are skipped, as Spark does.
pub async fn list_objects(engine: &Engine, glob: &str) -> Result<Vec<ObjectInfo>> {
    let (root, pattern) = match glob.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            (format!("{scheme}://{authority}/"), path.to_string())
        }
        None => ("/".to_string(), glob.trim_start_matches('/').to_string()),
    };
    let wildcard = pattern.find(WILDCARDS).unwrap_or(pattern.len());
    let prefix = match pattern[..wildcard].rfind('/') {
        Some(slash) => &pattern[..slash],
        None => "",
    };
    let matcher = glob::Pattern::new(&pattern)
        .map_err(|e| PipelineError::source(glob, format!("not a valid glob: {e}")))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let (store, base) = engine.object_store(&format!("{root}{prefix}"))?;
    let mut objects = Vec::new();
    let mut listing = store.list(Some(&base));
    while let Some(meta) = listing
        .try_next()
        .await
        .map_err(|e| PipelineError::source(glob, format!("cannot list: {e}")))?
    {
        let path = meta.location.as_ref();
        let name = meta.location.filename().unwrap_or_default();
        if name.starts_with('.') || name.starts_with('_') || !matcher.matches_with(path, options) {
            continue;
        }
        objects.push(ObjectInfo {
            location: format!("{root}{path}"),
            size: meta.size,
            etag: meta.e_tag,
            modified: meta.last_modified,
        });
    }
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(objects)
}

/// The bytes of an object; an error names it.
pub async fn read_object(engine: &Engine, location: &str) -> Result<Bytes> {
    let (store, path) = engine.object_store(location)?;
    let object = store
        .get(&path)
        .await
        .map_err(|e| PipelineError::source(location, format!("cannot read: {e}")))?;
    object
        .bytes()
        .await
        .map_err(|e| PipelineError::source(location, format!("cannot read: {e}")))
}

/// A row set aside: its raw text, where it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The row's line (text formats) or row number (Parquet), from 1.
    pub line: u64,
    /// The row as it was in the object: its text, or for Parquet a JSON
    /// object of its values.
    pub raw: String,
    /// Why it was set aside.
    pub reason: String,
}

/// Where a row's raw text is.
enum RawText {
    /// Byte ranges of each row in the object.
    Ranges(Bytes, Vec<(usize, usize)>),
    /// Rendered from the values on demand (Parquet).
    Values,
}

/// An object's rows parsed into text columns, before typing.
pub struct RawRows {
    columns: Vec<(String, StringBuilder)>,
    lines: Vec<u64>,
    text: RawText,
    /// Rows that could not be parsed at all.
    pub rejected: Vec<Rejected>,
}

impl RawRows {
    fn new(text: RawText) -> Self {
        Self {
            columns: Vec::new(),
            lines: Vec::new(),
            text,
            rejected: Vec::new(),
        }
    }

    fn column(&mut self, name: &str) -> &mut StringBuilder {
        let rows = self.lines.len();
        let index = match self.columns.iter().position(|(n, _)| n == name) {
            Some(index) => index,
            None => {
                let mut builder = StringBuilder::new();
                // The rows before this one lacked the column.
                for _ in 0..rows.saturating_sub(1) {
                    builder.append_null();
                }
                self.columns.push((name.to_string(), builder));
                self.columns.len() - 1
            }
        };
        &mut self.columns[index].1
    }

    /// End a row: columns it did not set are NULL.
    fn finish_row(&mut self) {
        let rows = self.lines.len();
        for (_, builder) in &mut self.columns {
            if arrow::array::ArrayBuilder::len(builder) < rows {
                builder.append_null();
            }
        }
    }

    /// Parse an object of `format`.
    pub fn parse(
        location: &str,
        bytes: Bytes,
        format: Format,
        options: &SourceOptions,
        declared: &[String],
    ) -> Result<Self> {
        match format {
            Format::Csv => Ok(parse_csv(bytes, options, declared)),
            Format::Json => Ok(parse_json(bytes, options)),
            Format::Parquet => parse_parquet(location, bytes),
        }
    }

    /// The column names, in the object's order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Finish the text columns.
    fn finish(mut self) -> Parsed {
        let columns = self
            .columns
            .iter_mut()
            .map(|(name, builder)| (name.clone(), builder.finish()))
            .collect();
        Parsed {
            columns,
            lines: self.lines,
            text: self.text,
            rejected: self.rejected,
        }
    }
}

/// Text columns, finished.
struct Parsed {
    columns: Vec<(String, StringArray)>,
    lines: Vec<u64>,
    text: RawText,
    rejected: Vec<Rejected>,
}

impl Parsed {
    fn raw(&self, row: usize) -> String {
        match &self.text {
            RawText::Ranges(bytes, ranges) => {
                let (start, end) = ranges[row];
                String::from_utf8_lossy(&bytes[start..end])
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            }
            RawText::Values => {
                // A JSON object in the object's column order.
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .map(|(name, values)| {
                        let value = if values.is_valid(row) {
                            serde_json::Value::String(values.value(row).to_string())
                        } else {
                            serde_json::Value::Null
                        };
                        format!("{}:{value}", serde_json::Value::String(name.clone()))
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
        }
    }

    fn column(&self, name: &str) -> Option<&StringArray> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| {
                self.columns
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, a)| a)
    }
}

fn parse_csv(bytes: Bytes, options: &SourceOptions, declared: &[String]) -> RawRows {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .quote(options.quote)
        .from_reader(bytes.as_ref());
    let mut rows = RawRows::new(RawText::Ranges(bytes.clone(), Vec::new()));
    let mut names: Vec<String> = if options.header {
        Vec::new()
    } else {
        declared.to_vec()
    };
    let mut record = csv::ByteRecord::new();
    let mut ranges = Vec::new();
    let mut header_pending = options.header;
    let mut starts: Vec<(u64, usize)> = Vec::new();
    let mut records: Vec<Option<csv::ByteRecord>> = Vec::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let (line, byte) = record
                    .position()
                    .map(|p| (p.line(), p.byte() as usize))
                    .unwrap_or_default();
                if header_pending {
                    names = record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).trim().to_string())
                        .collect();
                    header_pending = false;
                    continue;
                }
                starts.push((line, byte));
                records.push(Some(record.clone()));
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or_default();
                let byte = e
                    .position()
                    .map(|p| p.byte() as usize)
                    .unwrap_or(bytes.len());
                starts.push((line, byte));
                records.push(None);
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
    }
    let end_of = |i: usize| starts.get(i + 1).map(|s| s.1).unwrap_or(bytes.len());
    for (i, record) in records.into_iter().enumerate() {
        let (line, start) = starts[i];
        let range = (start, end_of(i));
        let raw = || {
            String::from_utf8_lossy(&bytes[range.0..range.1])
                .trim_end_matches(['\r', '\n'])
                .to_string()
        };
        let Some(record) = record else {
            rows.rejected.push(Rejected {
                line,
                raw: raw(),
                reason: "the line cannot be parsed as CSV".into(),
            });
            continue;
        };
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue; // a blank line
        }
        if record.len() != names.len() {
            rows.rejected.push(Rejected {
                line,
                raw: raw(),
                reason: format!(
                    "expected {} fields ({}), found {}",
                    names.len(),
                    names.join(", "),
                    record.len()
                ),
            });
            continue;
        }
        let mut fields = Vec::with_capacity(record.len());
        let mut bad_utf8 = None;
        for (field, name) in record.iter().zip(&names) {
            match std::str::from_utf8(field) {
                Ok(text) => fields.push(text),
                Err(_) => {
                    bad_utf8 = Some(name.clone());
                    break;
                }
            }
        }
        if let Some(name) = bad_utf8 {
            rows.rejected.push(Rejected {
                line,
                raw: raw(),
                reason: format!("column '{name}' is not valid UTF-8"),
            });
            continue;
        }
        rows.lines.push(line);
        ranges.push(range);
        for (text, name) in fields.into_iter().zip(&names) {
            let builder = rows.column(name);
            if text == options.null_value {
                builder.append_null();
            } else {
                builder.append_value(text);
            }
        }
        rows.finish_row();
    }
    // Columns of a header with no rows still exist.
    for name in &names {
        rows.column(name);
    }
    rows.text = RawText::Ranges(bytes, ranges);
    rows
}

fn parse_json(bytes: Bytes, options: &SourceOptions) -> RawRows {
    let mut rows = RawRows::new(RawText::Ranges(bytes.clone(), Vec::new()));
    let mut ranges = Vec::new();
    let mut start = 0;
    for (index, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let range = (start, start + line.len());
        start += line.len();
        let number = index as u64 + 1;
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            continue;
        }
        let reject = |reason: String| Rejected {
            line: number,
            raw: trimmed.to_string(),
            reason,
        };
        let object = match serde_json::from_str::<JsonLine>(trimmed) {
            Ok(JsonLine::Object(fields)) => fields,
            Ok(JsonLine::Other) => {
                rows.rejected.push(reject("not a JSON object".into()));
                continue;
            }
            Err(e) => {
                rows.rejected.push(reject(format!("not valid JSON: {e}")));
                continue;
            }
        };
        rows.lines.push(number);
        ranges.push(range);
        for (key, value) in object {
            let text = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            let builder = rows.column(&key);
            match text {
                Some(t) if t != options.null_value || options.null_value.is_empty() => {
                    builder.append_value(t)
                }
                _ => builder.append_null(),
            }
        }
        rows.finish_row();
    }
    rows.text = RawText::Ranges(bytes, ranges);
    rows
}

/// A JSON line: an object's fields in the order written, or any other value.
enum JsonLine {
    Object(Vec<(String, serde_json::Value)>),
    Other,
}

impl<'de> serde::Deserialize<'de> for JsonLine {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Line;
        impl<'de> serde::de::Visitor<'de> for Line {
            type Value = JsonLine;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonLine, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    fields.push((key, value));
                }
                Ok(JsonLine::Object(fields))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonLine, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonLine::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonLine, E> {
                Ok(JsonLine::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<JsonLine, E> {
                Ok(JsonLine::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<JsonLine, E> {
                Ok(JsonLine::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonLine, E> {
                Ok(JsonLine::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<JsonLine, E> {
                Ok(JsonLine::Other)
            }
            fn visit_unit<E>(self) -> Result<JsonLine, E> {
                Ok(JsonLine::Other)
            }
        }
        deserializer.deserialize_any(Line)
    }
}

fn parse_parquet(location: &str, bytes: Bytes) -> Result<RawRows> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| {
            PipelineError::source(location, format!("not a readable Parquet file: {e}"))
        })?;
    let mut rows = RawRows::new(RawText::Values);
    for batch in reader {
        let batch = batch.map_err(|e| {
            PipelineError::source(location, format!("not a readable Parquet file: {e}"))
        })?;
        let first = rows.lines.len() as u64;
        let formats = FormatOptions::default();
        let mut texts = Vec::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &formats)?;
            texts.push((field.name().clone(), column.clone(), formatter));
        }
        for row in 0..batch.num_rows() {
            rows.lines.push(first + row as u64 + 1);
            for (name, column, formatter) in &texts {
                let value = column
                    .is_valid(row)
                    .then(|| formatter.value(row).to_string());
                let builder = rows.column(name);
                match value {
                    Some(v) => builder.append_value(v),
                    None => builder.append_null(),
                }
            }
            rows.finish_row();
        }
        if batch.num_rows() == 0 {
            for field in batch.schema().fields() {
                rows.column(field.name());
            }
        }
    }
    Ok(rows)
}

/// What typing an object's rows for its table gave.
pub struct Typed {
    /// The rows that fit, in the table's schema.
    pub batch: RecordBatch,
    /// The rows that did not, with those that could not be parsed.
    pub rejected: Vec<Rejected>,
}

/// A SQL type name for messages.
fn type_name(data_type: &DataType) -> String {
    crate::sql::sql_type(data_type).unwrap_or_else(|| data_type.to_string())
}

/// Type `rows` for a table of `schema`: each column is cast from its text;
/// a row with a value that does not cast, or a NULL in a NOT NULL column,
/// is rejected with the column, the value and the type.
pub fn type_rows(rows: RawRows, schema: &SchemaRef) -> Result<Typed> {
    let parsed = rows.finish();
    let count = parsed.lines.len();
    let mut reasons: Vec<Option<String>> = vec![None; count];
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    for field in schema.fields() {
        let typed = match parsed.column(field.name()) {
            Some(text) => {
                let typed = cast_with_options(text, field.data_type(), &safe)?;
                for (row, reason) in reasons.iter_mut().enumerate() {
                    if reason.is_none() && text.is_valid(row) && !typed.is_valid(row) {
                        *reason = Some(format!(
                            "column '{}': '{}' is not a valid {}",
                            field.name(),
                            text.value(row),
                            type_name(field.data_type())
                        ));
                    }
                }
                typed
            }
            None => arrow::array::new_null_array(field.data_type(), count),
        };
        if !field.is_nullable() {
            for (row, reason) in reasons.iter_mut().enumerate() {
                if reason.is_none() && !typed.is_valid(row) {
                    *reason = Some(format!(
                        "column '{}' is NULL, but it is NOT NULL",
                        field.name()
                    ));
                }
            }
        }
        columns.push(typed);
    }
    let mut rejected = parsed.rejected.clone();
    let keep: BooleanArray = reasons.iter().map(|r| Some(r.is_none())).collect();
    for (row, reason) in reasons.into_iter().enumerate() {
        if let Some(reason) = reason {
            rejected.push(Rejected {
                line: parsed.lines[row],
                raw: parsed.raw(row),
                reason,
            });
        }
    }
    rejected.sort_by_key(|r| r.line);
    // Build with nullable fields first: rejected rows may hold NULLs.
    let loose = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ));
    let all = RecordBatch::try_new(loose, columns)?;
    let kept = filter_record_batch(&all, &keep)?;
    let batch = RecordBatch::try_new(Arc::clone(schema), kept.columns().to_vec())?;
    Ok(Typed { batch, rejected })
}

/// The narrowest type every value of `values` casts to: BIGINT, DOUBLE,
/// BOOLEAN, DATE, TIMESTAMP, else STRING.
fn infer(values: &StringArray) -> DataType {
    let strict = CastOptions {
        safe: true,
        ..Default::default()
    };
    let fits = |data_type: &DataType| -> bool {
        if values.null_count() == values.len() {
            return false;
        }
        match cast_with_options(values, data_type, &strict) {
            Ok(cast) => cast.null_count() == values.null_count(),
            Err(_) => false,
        }
    };
    let date_shaped = values.iter().flatten().all(|v| v.len() == 10);
    let candidates = [
        DataType::Int64,
        DataType::Float64,
        DataType::Boolean,
        DataType::Date32,
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ];
    for candidate in candidates {
        if candidate == DataType::Date32 && !date_shaped {
            continue;
        }
        if fits(&candidate) {
            return candidate;
        }
    }
    DataType::Utf8
}

/// The inferred SQL type of each column `names` of `rows`, in order.
pub fn infer_columns(rows: &RawRows, names: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in names {
        let Some((_, builder)) = rows.columns.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let values = builder.finish_cloned();
        let data_type = infer(&values);
        out.push((name.clone(), type_name(&data_type)));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::util::pretty::pretty_format_batches;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(10, 2), true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("note", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn csv_rows_are_typed_or_rejected_with_their_line() {
        let text = "id,amount,ts\n1,9.50,2026-11-01 10:00:00\n2,abc,2026-11-01 11:00:00\n\
                    ,1.00,2026-11-02 00:00:00\n4,2.00\n\"5\",\"3.25\",2026-11-03T08:30:00\n";
        let rows = RawRows::parse(
            "x.csv",
            Bytes::from(text),
            Format::Csv,
            &SourceOptions::default(),
            &[],
        )
        .unwrap();
        assert_eq!(rows.column_names(), ["id", "amount", "ts"]);
        let typed = type_rows(rows, &schema()).unwrap();
        assert_eq!(
            pretty_format_batches(&[typed.batch]).unwrap().to_string(),
            "+----+--------+---------------------+------+\n\
             | id | amount | ts                  | note |\n\
             +----+--------+---------------------+------+\n\
             | 1  | 9.50   | 2026-11-01T10:00:00 |      |\n\
             | 5  | 3.25   | 2026-11-03T08:30:00 |      |\n\
             +----+--------+---------------------+------+"
        );
        assert_eq!(
            typed.rejected,
            vec![
                Rejected {
                    line: 3,
                    raw: "2,abc,2026-11-01 11:00:00".into(),
                    reason: "column 'amount': 'abc' is not a valid DECIMAL(10,2)".into()
                },
                Rejected {
                    line: 4,
                    raw: ",1.00,2026-11-02 00:00:00".into(),
                    reason: "column 'id' is NULL, but it is NOT NULL".into()
                },
                Rejected {
                    line: 5,
                    raw: "4,2.00".into(),
                    reason: "expected 3 fields (id, amount, ts), found 2".into()
                },
            ]
        );
    }

    #[test]
    fn json_lines_add_columns_as_they_appear() {
        let text = "{\"id\": 1, \"amount\": 2.5}\n\n{\"id\": 2, \"note\": \"hi\", \"extra\": {\"a\": 1}}\n{oops\n[1]\n";
        let rows = RawRows::parse(
            "x.json",
            Bytes::from(text),
            Format::Json,
            &SourceOptions::default(),
            &[],
        )
        .unwrap();
        assert_eq!(rows.column_names(), ["id", "amount", "note", "extra"]);
        assert_eq!(
            infer_columns(&rows, &["id".into(), "amount".into(), "extra".into()]),
            [
                ("id".to_string(), "BIGINT".to_string()),
                ("amount".into(), "DOUBLE".into()),
                ("extra".into(), "STRING".into())
            ]
        );
        let typed = type_rows(rows, &schema()).unwrap();
        assert_eq!(typed.batch.num_rows(), 2);
        let reasons: Vec<(u64, &str)> = typed
            .rejected
            .iter()
            .map(|r| (r.line, r.raw.as_str()))
            .collect();
        assert_eq!(reasons, [(4, "{oops"), (5, "[1]")]);
        assert!(typed.rejected[0].reason.starts_with("not valid JSON: "));
        assert_eq!(typed.rejected[1].reason, "not a JSON object");
    }

    #[test]
    fn inference() {
        let infer_one = |values: Vec<Option<&str>>| infer(&StringArray::from(values));
        assert_eq!(
            infer_one(vec![Some("1"), None, Some("-3")]),
            DataType::Int64
        );
        assert_eq!(infer_one(vec![Some("1"), Some("2.5")]), DataType::Float64);
        assert_eq!(
            infer_one(vec![Some("true"), Some("false")]),
            DataType::Boolean
        );
        assert_eq!(infer_one(vec![Some("2026-11-01")]), DataType::Date32);
        assert_eq!(
            infer_one(vec![
                Some("2026-11-01 10:00:00"),
                Some("2026-11-01T10:00:01")
            ]),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(infer_one(vec![Some("1"), Some("x")]), DataType::Utf8);
        assert_eq!(infer_one(vec![None]), DataType::Utf8);
    }
}
