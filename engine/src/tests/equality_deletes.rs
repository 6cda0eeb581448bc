//! Equality delete files, as Flink or Java Iceberg write them, are applied
//! by every read.

use std::sync::Arc;

use crate::Lakehouse;
use crate::commit::SnapshotUpdate;
use arrow::array::{Int64Array, RecordBatch, StringArray};
use iceberg::arrow::{arrow_schema_to_schema, schema_to_arrow_schema};
use iceberg::spec::DataFileFormat;
use iceberg::writer::base_writer::equality_delete_writer::{
    EqualityDeleteFileWriterBuilder, EqualityDeleteWriterConfig,
};
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equality_deletes_from_another_writer_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    lh.sql("CREATE TABLE t (id BIGINT, name STRING)")
        .await
        .unwrap();
    lh.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (2, 'b2')")
        .await
        .unwrap();

    let ident = floe_catalog::TableIdent::from_strs(["default", "t"]).unwrap();
    let table = lh.scope().load_table(&ident).await.unwrap();
    let metadata = table.metadata();
    let schema = metadata.current_schema().clone();
    let id_field = schema.field_by_name("id").unwrap().id;

    // An equality delete file on `id`: every row with id = 2 goes.
    let config = EqualityDeleteWriterConfig::new(vec![id_field], schema.clone()).unwrap();
    let delete_schema = arrow_schema_to_schema(config.projected_arrow_schema_ref()).unwrap();
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        ParquetWriterBuilder::new(Default::default(), Arc::new(delete_schema)),
        lh.engine().file_io().clone(),
        DefaultLocationGenerator::new(metadata).unwrap(),
        DefaultFileNameGenerator::new("eq-delete".into(), None, DataFileFormat::Parquet),
    );
    let mut writer = EqualityDeleteFileWriterBuilder::new(rolling, config)
        .build(None)
        .await
        .unwrap();
    let arrow_schema = Arc::new(schema_to_arrow_schema(&schema).unwrap());
    let batch = RecordBatch::try_new(
        arrow_schema,
        vec![
            Arc::new(Int64Array::from(vec![2])),
            Arc::new(StringArray::from(vec!["anything"])),
        ],
    )
    .unwrap();
    writer.write(batch).await.unwrap();
    let deletes = writer.close().await.unwrap();
    assert_eq!(deletes.len(), 1);

    SnapshotUpdate::overwrite(Vec::new(), Vec::new())
        .with_delete_files(deletes.into_iter().map(|f| (0, f)).collect())
        .commit(&lh.scope().target().unwrap(), table)
        .await
        .unwrap();

    let batches = lh
        .sql("SELECT id, name FROM t ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "+----+------+\n| id | name |\n+----+------+\n| 1  | a    |\n| 3  | c    |\n+----+------+"
    );
    let batches = lh
        .sql("SELECT operation, summary['added-equality-deletes'] FROM \"t$snapshots\" ORDER BY committed_at DESC LIMIT 1")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("| delete "), "{text}");
    assert!(text.contains("| 1 "), "{text}");
}
