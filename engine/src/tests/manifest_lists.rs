//! A commit caches the manifest list it writes, so that the next commit
//! on that snapshot does not read it back: the cached list must be the
//! list a reader parses from the file, sequence numbers included.

use iceberg::spec::{FormatVersion, ManifestFile, ManifestList};

use crate::Lakehouse;

#[tokio::test]
async fn the_cached_manifest_list_is_the_one_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let lh = Lakehouse::open(&dir.path().display().to_string())
        .await
        .unwrap();
    for sql in [
        "CREATE TABLE t (id BIGINT, p INT) PARTITIONED BY (p) TBLPROPERTIES \
         ('write.delete.mode' = 'merge-on-read', 'commit.manifest.min-count-to-merge' = '3')",
        "INSERT INTO t VALUES (1, 1), (2, 2)",
        "INSERT INTO t VALUES (3, 1)",
        "DELETE FROM t WHERE id = 2",
        "INSERT INTO t VALUES (4, 2)",
        "INSERT INTO t VALUES (5, 3)",
    ] {
        lh.sql(sql).await.unwrap().collect().await.unwrap();
    }
    let ident = floe_catalog::TableIdent::from_strs(["default", "t"]).unwrap();
    let table = lh.scope().load_table(&ident).await.unwrap();
    let engine = lh.scope().engine();
    for snapshot in table.metadata().snapshots() {
        let path = snapshot.manifest_list();
        let cached = engine.cache().manifest_list(path).unwrap();
        let bytes = engine
            .file_io()
            .new_input(path)
            .unwrap()
            .read()
            .await
            .unwrap();
        let parsed: Vec<ManifestFile> = ManifestList::parse_with_version(&bytes, FormatVersion::V2)
            .unwrap()
            .consume_entries()
            .into_iter()
            .collect();
        assert_eq!(*cached, parsed, "snapshot {}", snapshot.snapshot_id());
        assert!(
            parsed
                .iter()
                .all(|m| m.sequence_number >= 1 && m.min_sequence_number >= 1)
        );
    }
    assert_eq!(table.metadata().snapshots().count(), 5);
}
