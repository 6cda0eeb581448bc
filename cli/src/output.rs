//! Rendering query results in the chosen format.

use std::io::Write;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::args::Format;

/// Remembers whether the reader hung up: the arrow writers turn the I/O
/// error into text, and a closed pipe must end the program quietly.
struct PipeWatch<'a> {
    inner: &'a mut dyn Write,
    closed: bool,
}

impl Write for PipeWatch<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.closed |= e.kind() == std::io::ErrorKind::BrokenPipe;
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            self.closed |= e.kind() == std::io::ErrorKind::BrokenPipe;
        })
    }
}

/// Write `batches` (of `schema`) to `out` in `format`.
pub fn write(
    out: &mut dyn Write,
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let mut watch = PipeWatch {
        inner: out,
        closed: false,
    };
    let result = write_format(&mut watch, format, schema, batches);
    if watch.closed {
        return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into());
    }
    result
}

fn write_format(
    out: &mut dyn Write,
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let text =
                arrow::util::pretty::pretty_format_batches_with_schema(schema.clone(), batches)?;
            writeln!(out, "{text}")?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                drop(writer);
                writeln!(out, "{}", header.join(","))?;
            } else {
                for batch in batches {
                    writer.write(&nested_as_json(batch)?)?;
                }
            }
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Parquet => {
            let mut buffer = Vec::new();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut buffer, schema.clone(), None)?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.close()?;
            out.write_all(&buffer)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Print a statement about to run, after the comment lines that caption
/// it, as `floe sql --echo` does.
pub fn echo(out: &mut dyn Write, comments: &[String], sql: &str) -> anyhow::Result<()> {
    writeln!(out)?;
    for comment in comments {
        writeln!(out, "-- {comment}")?;
    }
    writeln!(out, "{sql};")?;
    out.flush()?;
    Ok(())
}

/// Whether CSV cannot hold a value of this type as it is.
fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(..)
            | DataType::Map(..)
    )
}

/// `batch` with its struct, list and map columns as JSON text (`{"a":1}`,
/// `[1,2]`), which any reader of the CSV can parse back; NULL stays an
/// empty field.
fn nested_as_json(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| is_nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let options = arrow::json::writer::EncoderOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !is_nested(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            continue;
        }
        let mut encoder = arrow::json::writer::make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        let mut buffer = Vec::new();
        for row in 0..column.len() {
            if encoder.is_null(row) {
                text.append_null();
                continue;
            }
            buffer.clear();
            encoder.encode(row, &mut buffer);
            text.append_value(String::from_utf8_lossy(&buffer));
        }
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int32Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::Int32Type;

    #[test]
    fn csv_writes_nested_values_as_json() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        let inner: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None]));
        let record = StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Utf8, true)),
            inner,
        )]);
        let ids: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("l", list.data_type().clone(), true),
            Field::new("s", record.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![ids, Arc::new(list), Arc::new(record)],
        )
        .unwrap();
        let mut out = Vec::new();
        write(&mut out, Format::Csv, &schema, &[batch]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,l,s\n1,\"[1,2]\",\"{\"\"a\"\":\"\"x\"\"}\"\n2,,{}\n"
        );
    }
}
