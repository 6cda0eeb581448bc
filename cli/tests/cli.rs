//! The `floe` binary end to end: arguments, scripts, stdin, formats, errors.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn floe(warehouse: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_floe"))
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .env_remove("FLOE_WAREHOUSE")
        .env_remove("FLOE_CATALOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn commands_run_in_order_in_one_session_and_print_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = floe(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "CREATE TABLE t (id INT, note STRING)",
            "-c",
            "INSERT INTO t VALUES (1, 'plain'), (2, 'has, comma'), (3, 'say \"hi\"'), (4, NULL)",
            "-c",
            "SELECT id, note FROM t ORDER BY id",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "count\n4\nid,note\n1,plain\n2,\"has, comma\"\n3,\"say \"\"hi\"\"\"\n4,\n"
    );
}

#[test]
fn file_errors_name_the_line_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("load.sql");
    std::fs::write(
        &script,
        "CREATE TABLE t (id INT NOT NULL);\n\nINSERT INTO t VALUES (1);\n-- next one fails\nINSERT INTO t\n  VALUES (NULL);\nINSERT INTO t VALUES (3);\n",
    )
    .unwrap();
    let out = floe(dir.path(), &["sql", "-f", script.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("at line 5"), "{err}");
    assert!(
        err.contains("NULL value in column 'id' of table 'default.t', which is declared NOT NULL"),
        "{err}"
    );
    // The failed statement committed nothing and the script stopped there.
    let out = floe(
        dir.path(),
        &["sql", "--format", "ndjson", "-c", "SELECT id FROM t"],
        None,
    );
    assert_eq!(stdout(&out), "{\"id\":1}\n");
}

#[test]
fn statements_from_piped_stdin_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = floe(
        dir.path(),
        &["sql", "--format", "json"],
        Some("CREATE SCHEMA s;\nCREATE TABLE s.t (a BIGINT);\nSELECT 1 AS one, 'x' AS two;\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "[{\"one\":1,\"two\":\"x\"}]\n");
}

#[test]
fn unknown_table_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = floe(dir.path(), &["sql", "-c", "SELECT * FROM nope.t"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("table 'floe.nope.t' not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn warehouse_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_floe"))
        .args([
            "sql",
            "--format",
            "csv",
            "-c",
            "CREATE TABLE e (x INT)",
            "-c",
            "SHOW TABLES",
        ])
        .env("FLOE_WAREHOUSE", dir.path())
        .env_remove("FLOE_CATALOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "namespace,table_name\ndefault,e\n");
    assert!(dir.path().join("catalog.db").exists());
}

#[test]
fn parquet_output_reads_back() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = tempfile::tempdir().unwrap();
    let out = floe(
        dir.path(),
        &[
            "sql",
            "--format",
            "parquet",
            "-c",
            "SELECT 7 AS n, 'seven' AS word",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out.stdout))
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "+---+-------+\n| n | word  |\n+---+-------+\n| 7 | seven |\n+---+-------+"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_floe"))
        .arg("--warehouse")
        .arg(dir.path())
        .args([
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT value FROM generate_series(1, 2000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then hang up, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, b"value\n");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_unusable_warehouse_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = floe(&file.join("wh"), &["sql", "-c", "SELECT 1"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("invalid warehouse 'file://"), "{err}");
    assert!(err.contains("cannot create directory"), "{err}");
}

#[test]
fn a_session_starts_on_the_branch_given() {
    let dir = tempfile::tempdir().unwrap();
    let setup = floe(
        dir.path(),
        &[
            "sql",
            "-c",
            "CREATE TABLE t (id INT)",
            "-c",
            "INSERT INTO t VALUES (1)",
            "-c",
            "CREATE BRANCH dev",
        ],
        None,
    );
    assert!(setup.status.success(), "{}", stderr(&setup));
    let dev = floe(
        dir.path(),
        &["sql", "--branch", "dev", "--format", "csv"],
        Some("INSERT INTO t VALUES (2); SELECT sum(id) AS s FROM t;"),
    );
    assert!(dev.status.success(), "{}", stderr(&dev));
    assert_eq!(stdout(&dev), "count\n1\ns\n3\n");
    let main = floe(
        dir.path(),
        &["sql", "--format", "csv", "-c", "SELECT sum(id) AS s FROM t"],
        None,
    );
    assert_eq!(stdout(&main), "s\n1\n");
    let missing = floe(
        dir.path(),
        &["sql", "--branch", "nope", "-c", "SELECT 1"],
        None,
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("there is no branch 'nope' in the warehouse"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn csv_writes_maps_and_structs_as_json_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = floe(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "CREATE TABLE t (id INT, s STRUCT<a INT, b STRING>, l ARRAY<INT>)",
            "-c",
            "INSERT INTO t VALUES (1, named_struct('a', 1, 'b', 'x'), [1, 2])",
            "-c",
            "SELECT id, s, l FROM t",
            "-c",
            "SELECT operation, summary['added-records'] AS added, summary FROM \"t$snapshots\"",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("id,s,l\n1,\"{\"\"a\"\":1,\"\"b\"\":\"\"x\"\"}\",\"[1,2]\"\n"),
        "{text}"
    );
    // The summary map, as one JSON object in its field.
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("append,1,\"{"), "{last}");
    assert!(last.contains("\"\"added-records\"\":\"\"1\"\""), "{last}");
}

#[test]
fn echo_prints_each_statement_with_its_caption() {
    let dir = tempfile::tempdir().unwrap();
    let out = floe(
        dir.path(),
        &["sql", "--echo", "--format", "csv"],
        Some(
            "-- Make a table.\nCREATE TABLE t (id INT);\n\n-- Count it.\nSELECT count(*) AS n FROM t;\n",
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "\n-- Make a table.\nCREATE TABLE t (id INT);\n\n-- Count it.\nSELECT count(*) AS n FROM t;\nn\n0\n"
    );
}

#[test]
fn memory_limit_bounds_the_queries_and_is_read_as_a_size() {
    let dir = tempfile::tempdir().unwrap();
    // An aggregate that cannot spill, holding two million values.
    let query = "SELECT cardinality(array_agg(value)) AS n FROM generate_series(1, 2000000)";
    let with_limit = |limit: &str| {
        floe(
            dir.path(),
            &[
                "--memory-limit",
                limit,
                "sql",
                "-c",
                query,
                "--format",
                "csv",
            ],
            None,
        )
    };
    let out = with_limit("256MB");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n2000000\n");
    let out = with_limit("1MB");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error in -c #1 at line 1: Additional allocation failed"),
        "{}",
        stderr(&out)
    );
    let out = floe(
        dir.path(),
        &["--memory-limit", "lots", "sql", "-c", "SELECT 1"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("'lots' is not a memory size: write e.g. 512MB, 2GiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_spill_directory_is_the_one_given() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let out = floe(
        dir.path(),
        &[
            "--spill-dir",
            file.to_str().unwrap(),
            "sql",
            "-c",
            "SELECT 1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: cannot create the spill directory {}: File exists (os error 17)\n",
            file.display()
        )
    );
}

#[test]
fn echo_is_refused_with_json_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["json", "ndjson", "parquet"] {
        let out = floe(
            dir.path(),
            &["sql", "--echo", "--format", format, "-c", "SELECT 1"],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{format}");
        assert!(
            stderr(&out).starts_with(
                "error: --echo prints each statement among the results: use it with --format \
                 table or csv"
            ),
            "{}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn maintain_runs_the_policies_the_table_sets() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let mut setup = vec![
        "sql".to_string(),
        "-c".to_string(),
        "CREATE TABLE t (id BIGINT) TBLPROPERTIES ('history.expire.max-snapshot-age-ms' = '1')"
            .to_string(),
        "-c".to_string(),
        "CREATE TABLE quiet (id BIGINT)".to_string(),
    ];
    for id in 1..=6 {
        setup.push("-c".to_string());
        setup.push(format!("INSERT INTO t VALUES ({id})"));
    }
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    assert!(floe(&wh, &setup, None).status.success());
    let counts = || {
        stdout(&floe(
            &wh,
            &[
                "sql",
                "--format",
                "csv",
                "-c",
                "SELECT (SELECT count(*) FROM \"t$snapshots\") AS s, (SELECT count(*) FROM \
                 \"t$files\") AS f, (SELECT sum(id) FROM t) AS total",
            ],
            None,
        ))
    };
    assert_eq!(counts(), "s,f,total\n6,6,21\n");

    // A dry run says what would be done, and does nothing.
    let out = floe(&wh, &["maintain", "--table", "t", "--dry-run"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "default.t: would expire 5 snapshot(s), compact 6 data file(s)\n"
    );
    assert_eq!(counts(), "s,f,total\n6,6,21\n");

    // A stray file in each table's data folder, older than the minimum
    // age: one orphan pass over the warehouse finds each table's own.
    let stray = |table: &str| {
        let path = wh
            .join("default")
            .join(table)
            .join("data")
            .join("stray.parquet");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        file.set_modified(
            std::time::SystemTime::now() - std::time::Duration::from_secs(4 * 86_400),
        )
        .unwrap();
        path
    };
    let strays = [stray("quiet"), stray("t")];

    // Expiry keeps the newest snapshot; compaction adds a replace on it.
    let out = floe(&wh, &["maintain", "--all", "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["table"], "default.quiet");
    assert_eq!(lines[0]["expired_snapshots"], 0);
    assert_eq!(lines[1]["table"], "default.t");
    assert_eq!(lines[1]["expired_snapshots"], 5);
    assert_eq!(lines[1]["rewritten_data_files"], 6);
    assert_eq!(lines[1]["added_data_files"], 1);
    let orphan = |path: &std::path::Path| serde_json::json!([format!("file://{}", path.display())]);
    assert_eq!(lines[0]["orphan_files"], orphan(&strays[0]));
    assert_eq!(lines[1]["orphan_files"], orphan(&strays[1]));
    assert!(strays.iter().all(|p| !p.exists()));
    assert_eq!(counts(), "s,f,total\n2,1,21\n");

    let out = floe(&wh, &["maintain", "--table", "nope"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("maintaining table 'default.nope'"),
        "{}",
        stderr(&out)
    );
    let out = floe(&wh, &["maintain"], None);
    assert!(!out.status.success());
}
