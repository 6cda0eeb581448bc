//! Query results as Flight data: the schema a FlightInfo announces (and
//! the stream then has, exactly), and the stream itself, batch by batch.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, ByteView, RecordBatch, RecordBatchOptions, StringArray,
    StringViewArray,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError as ArrowFlightError;
use datafusion::common::runtime::SpawnedTask;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlanProperties;
use floe_engine::TableRead;
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::Status;

use crate::sessions::{ClientSession, PlannedQuery, Sessions};

/// Schema metadata key: the snapshot each table was read at, as JSON
/// (`{"default.t": 123}`); a client pins a result with `VERSION AS OF`.
pub const SNAPSHOTS_KEY: &str = "floe.snapshots";
/// Schema metadata key: the warehouse branch the query ran on.
pub const BRANCH_KEY: &str = "floe.branch";

/// The largest Flight data message the server sends: batches are split
/// to fit, and small ones gathered up to it (each message costs a client
/// a round of decoding; ADBC's Go client most). ADBC and the JDBC driver
/// accept 16 MiB.
const MAX_FLIGHT_DATA: usize = 8 * 1024 * 1024;

/// A type every client reads: string and binary views become plain
/// strings and binaries (the JDBC driver reads no views), at any depth.
pub(crate) fn plain_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(plain_field(f)),
        DataType::LargeList(f) => DataType::LargeList(plain_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(plain_field(f), *n),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(plain_field).collect::<Fields>())
        }
        DataType::Map(f, sorted) => DataType::Map(plain_field(f), *sorted),
        other => other.clone(),
    }
}

fn plain_field(field: &FieldRef) -> FieldRef {
    Arc::new(
        Field::new(
            field.name(),
            plain_type(field.data_type()),
            field.is_nullable(),
        )
        .with_metadata(field.metadata().clone()),
    )
}

/// The schema of a result as clients get it: plain types, no field
/// metadata of the engine's (field ids), and the snapshots read.
pub(crate) fn result_schema(schema: &Schema, reads: &[TableRead], branch: &str) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), plain_type(f.data_type()), f.is_nullable()))
        .collect();
    let mut metadata = HashMap::new();
    if !reads.is_empty() {
        let snapshots: serde_json::Map<String, serde_json::Value> = reads
            .iter()
            .map(|r| (r.table.to_string(), r.snapshot_id.into()))
            .collect();
        metadata.insert(
            SNAPSHOTS_KEY.to_string(),
            serde_json::Value::Object(snapshots).to_string(),
        );
        metadata.insert(BRANCH_KEY.to_string(), branch.to_string());
    }
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// `batch` with the columns cast to `schema`'s types and `schema` as its
/// schema.
pub(crate) fn conform(
    batch: RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowFlightError> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match (column.data_type(), field.data_type()) {
                (from, to) if from == to => Ok(Arc::clone(column)),
                (DataType::Utf8View, DataType::Utf8) => plain_strings(column.as_string_view()),
                (_, to) => arrow::compute::cast(column, to),
            },
        )
        .collect::<Result<_, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

/// String views as plain strings: each value copied once into one buffer.
/// Arrow's cast does the same value by value through a builder, which
/// took a tenth of the server's time streaming a table of strings.
fn plain_strings(views: &StringViewArray) -> Result<ArrayRef, ArrowError> {
    let total: usize = views.views().iter().map(|view| *view as u32 as usize).sum();
    if i32::try_from(total).is_err() {
        // Too many bytes for one plain string array: let the cast say so.
        return arrow::compute::cast(views, &DataType::Utf8);
    }
    let mut values = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(views.len() + 1);
    offsets.push(0i32);
    let buffers = views.data_buffers();
    for (i, view) in views.views().iter().enumerate() {
        if !views.is_null(i) {
            let length = *view as u32 as usize;
            if length <= 12 {
                values.extend_from_slice(&view.to_le_bytes()[4..4 + length]);
            } else {
                let view = ByteView::from(*view);
                let start = view.offset as usize;
                values
                    .extend_from_slice(&buffers[view.buffer_index as usize][start..start + length]);
            }
        }
        // Fits: the lengths sum to at most `total`.
        offsets.push(values.len() as i32);
    }
    Ok(Arc::new(StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(values),
        views.nulls().cloned(),
    )?))
}

/// Encode batches as Flight data with `schema`, in messages that stay
/// under [`MAX_FLIGHT_DATA`].
pub(crate) fn encode(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<RecordBatch, ArrowFlightError>> + Send + 'static,
) -> impl Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static {
    FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_max_flight_data_size(MAX_FLIGHT_DATA)
        .build(batches)
        .map_err(Status::from)
}

/// Keeps a query counted as running, and cancellable, while its stream lives.
struct Running {
    sessions: Arc<Sessions>,
    client: Arc<ClientSession>,
    handle: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.client.finished(&self.handle);
        self.sessions.query_ended();
    }
}

/// Run a planned query: its batches stream as they come (nothing is
/// collected), cast to the announced schema. Dropping the stream (the
/// client cancelled) stops the query; so does CancelFlightInfo.
///
/// Each partition of the plan is cast, gathered and IPC-encoded on a task
/// of its own, so that work runs on every core, beside the scan; the
/// response stream only passes the messages on. A plan whose output has
/// one partition (an ORDER BY, a LIMIT) keeps its order. Every partition
/// holds at most two encoded messages waiting to be sent, so a large
/// result never gathers in the server.
pub(crate) fn stream_query(
    sessions: Arc<Sessions>,
    client: Arc<ClientSession>,
    handle: String,
    query: PlannedQuery,
) -> Result<impl Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static, Status> {
    let (abort, registration) = futures::stream::AbortHandle::new_pair();
    client.started(&handle, abort)?;
    sessions.query_started();
    let running = Running {
        sessions,
        client,
        handle,
    };
    let schema = Arc::clone(&query.schema);
    let partitions = query.plan.output_partitioning().partition_count();
    let (sender, receiver) = tokio::sync::mpsc::channel(2 * partitions.max(1));
    let tasks: Vec<SpawnedTask<()>> = (0..partitions)
        .map(|partition| {
            let sender = sender.clone();
            let (plan, task) = (Arc::clone(&query.plan), Arc::clone(&query.task));
            let schema = Arc::clone(&schema);
            SpawnedTask::spawn(async move {
                let batches = match plan.execute(partition, task) {
                    Ok(batches) => batches,
                    Err(e) => {
                        let _ = sender.send(Err(Status::from(datafusion_error(e)))).await;
                        return;
                    }
                };
                let conformed = {
                    let schema = Arc::clone(&schema);
                    batches.map(move |batch| conform(batch.map_err(datafusion_error)?, &schema))
                };
                let gathered = gather(conformed.boxed(), Arc::clone(&schema));
                // The schema message goes first, once, below.
                let mut messages = encode(schema, gathered).skip(1);
                while let Some(message) = messages.next().await {
                    let failed = message.is_err();
                    if sender.send(message).await.is_err() || failed {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(sender);
    // Dropping the stream drops the tasks, which stops them.
    let body = futures::stream::unfold(
        (receiver, tasks, running),
        |(mut receiver, tasks, running)| async move {
            let message = receiver.recv().await?;
            Some((message, (receiver, tasks, running)))
        },
    );
    let header = encode(
        schema,
        futures::stream::empty::<Result<RecordBatch, ArrowFlightError>>(),
    );
    Ok(futures::stream::Abortable::new(
        header.chain(body),
        registration,
    ))
}

type BatchStream = futures::stream::BoxStream<'static, Result<RecordBatch, ArrowFlightError>>;

/// Gather small batches into ones of about [`MAX_FLIGHT_DATA`] bytes
/// (the row count is set by the first batch's width).
fn gather(
    input: BatchStream,
    schema: SchemaRef,
) -> impl Stream<Item = Result<RecordBatch, ArrowFlightError>> + Send {
    use arrow::compute::BatchCoalescer;
    struct State {
        input: BatchStream,
        schema: SchemaRef,
        coalescer: Option<BatchCoalescer>,
        done: bool,
    }
    let state = State {
        input,
        schema,
        coalescer: None,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(batch) = state
                .coalescer
                .as_mut()
                .and_then(|c| c.next_completed_batch())
            {
                return Some((Ok(batch), state));
            }
            if state.done {
                return None;
            }
            match state.input.next().await {
                Some(Ok(batch)) => {
                    let coalescer = state.coalescer.get_or_insert_with(|| {
                        let per_row = batch.get_array_memory_size() / batch.num_rows().max(1);
                        let rows = (MAX_FLIGHT_DATA * 3 / 4 / per_row.max(1)).clamp(8192, 1 << 20);
                        BatchCoalescer::new(Arc::clone(&state.schema), rows)
                    });
                    if let Err(e) = coalescer.push_batch(batch) {
                        return Some((Err(e.into()), state));
                    }
                }
                Some(Err(e)) => return Some((Err(e), state)),
                None => {
                    state.done = true;
                    if let Some(coalescer) = state.coalescer.as_mut()
                        && let Err(e) = coalescer.finish_buffered_batch()
                    {
                        return Some((Err(e.into()), state));
                    }
                }
            }
        }
    })
}

/// A query's error as the client sees it.
fn datafusion_error(error: DataFusionError) -> ArrowFlightError {
    let error = floe_engine::FloeError::from(error);
    ArrowFlightError::Tonic(Box::new(crate::error::status(error)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_what_the_cast_gives() {
        let long = "a string longer than twelve bytes, kept in a data buffer";
        let views = StringViewArray::from(vec![
            Some("short"),
            None,
            Some(long),
            Some(""),
            Some("exactly12byt"),
            Some("thirteen byte"),
            None,
        ]);
        // A slice, so views point into the buffers at an offset.
        let views = views.slice(1, 6);
        let plain = plain_strings(&views).unwrap();
        let cast = arrow::compute::cast(&views, &DataType::Utf8).unwrap();
        assert_eq!(plain.as_string::<i32>(), cast.as_string::<i32>());
        assert_eq!(
            plain.as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![
                None,
                Some(long),
                Some(""),
                Some("exactly12byt"),
                Some("thirteen byte"),
                None
            ]
        );
    }
}
