//! Parquet sources, and objects that cannot be read at all.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow::array::{Float32Array, Int32Array, RecordBatch, StringArray};
use arrow::util::pretty::pretty_format_batches;
use floe_engine::{Engine, Session};
use floe_pipeline::{Pipeline, Quiet, RunOptions, RunStatus};

use common::block_on;

async fn query(session: &Session, sql: &str) -> String {
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

fn write_parquet(path: &std::path::Path) {
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int32Array::from(vec![Some(1), Some(2), None])) as _,
        ),
        (
            "value",
            Arc::new(Float32Array::from(vec![1.5, 2.5, 3.5])) as _,
        ),
        (
            "at",
            Arc::new(StringArray::from(vec![
                "2026-11-01 10:00:00",
                "noon",
                "2026-11-01 11:00:00",
            ])) as _,
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_rows_are_typed_and_an_unreadable_object_fails_the_run() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sensors");
        std::fs::create_dir_all(folder.join("bronze")).unwrap();
        std::fs::create_dir_all(folder.join("in")).unwrap();
        std::fs::write(folder.join("pipeline.toml"), "name = \"sensors\"\n").unwrap();
        std::fs::write(
            folder.join("bronze/readings.toml"),
            "source = \"in/*.parquet\"\nformat = \"parquet\"\ntable = \"raw.readings\"\n\
             [columns]\nid = \"BIGINT NOT NULL\"\nvalue = \"DOUBLE\"\nat = \"TIMESTAMP\"\n",
        )
        .unwrap();
        write_parquet(&folder.join("in/a.parquet"));
        std::fs::write(folder.join("in/b.parquet"), b"this is not parquet").unwrap();

        let engine = Engine::open(dir.path().join("wh").to_str().unwrap())
            .await
            .unwrap();
        let pipeline = Pipeline::load(&folder).unwrap();
        let failed = floe_pipeline::run(&engine, &pipeline, RunOptions::default(), &Quiet)
            .await
            .unwrap();
        assert_eq!(failed.status, RunStatus::Failed);
        let error = failed.error.unwrap();
        let bad = folder.join("in/b.parquet");
        assert!(
            error.starts_with(&format!(
                "bronze/readings.toml: source object {}: not a readable Parquet file: ",
                bad.display()
            )),
            "{error}"
        );
        let main = engine.session();
        let err = main.sql("SELECT * FROM raw.readings").await.unwrap_err();
        assert_eq!(
            err.kind(),
            floe_engine::ErrorKind::NotFound,
            "main has no table yet: {err}"
        );

        std::fs::remove_file(&bad).unwrap();
        let ok = floe_pipeline::run(&engine, &pipeline, RunOptions::default(), &Quiet)
            .await
            .unwrap();
        assert_eq!(ok.status, RunStatus::Success, "{:?}", ok.error);
        assert_eq!(
            query(&main, "SELECT * FROM raw.readings").await,
            "+----+-------+---------------------+\n\
             | id | value | at                  |\n\
             +----+-------+---------------------+\n\
             | 1  | 1.5   | 2026-11-01T10:00:00 |\n\
             +----+-------+---------------------+"
        );
        assert_eq!(
            query(
                &main,
                "SELECT line, reason, raw FROM raw.readings__quarantine ORDER BY line"
            )
            .await,
            "+------+----------------------------------------------+------------------------------------------------------+\n\
             | line | reason                                       | raw                                                  |\n\
             +------+----------------------------------------------+------------------------------------------------------+\n\
             | 2    | column 'at': 'noon' is not a valid TIMESTAMP | {\"id\":\"2\",\"value\":\"2.5\",\"at\":\"noon\"}                 |\n\
             | 3    | column 'id' is NULL, but it is NOT NULL      | {\"id\":null,\"value\":\"3.5\",\"at\":\"2026-11-01 11:00:00\"} |\n\
             +------+----------------------------------------------+------------------------------------------------------+"
        );
    });
}
