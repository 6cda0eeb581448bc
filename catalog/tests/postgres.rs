//! The PostgreSQL catalog against a real server: `scripts/test.sh` starts
//! one and sets `FLOE_TEST_POSTGRES` (and `FLOE_REQUIRE_POSTGRES`, so that
//! there a missing server fails instead of skipping).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use floe_catalog::{
    Catalog, CatalogChange, CatalogError, NamespaceIdent, PointerSwap, PostgresCatalog, TableIdent,
};

/// A catalog of its own (a catalog name no other test uses) in the test
/// database, or `None` when no server is configured.
async fn catalog(name: &str) -> Option<PostgresCatalog> {
    let Ok(uri) = std::env::var("FLOE_TEST_POSTGRES") else {
        assert!(
            std::env::var("FLOE_REQUIRE_POSTGRES").is_err(),
            "FLOE_TEST_POSTGRES is not set: run the tests through scripts/test.sh"
        );
        eprintln!("skipped: FLOE_TEST_POSTGRES is not set (scripts/test.sh sets it)");
        return None;
    };
    let unique = format!("{name}_{}", std::process::id());
    Some(PostgresCatalog::connect(&uri, &unique).await.unwrap())
}

fn ns(name: &str) -> NamespaceIdent {
    NamespaceIdent::new(name.to_string())
}

fn table(ns_name: &str, name: &str) -> TableIdent {
    TableIdent::new(ns(ns_name), name.to_string())
}

#[tokio::test]
async fn namespaces_tables_and_pointers() {
    let Some(catalog) = catalog("basics").await else {
        return;
    };
    catalog
        .create_namespace(&ns("db"), HashMap::from([("owner".into(), "ana".into())]))
        .await
        .unwrap();
    assert!(matches!(
        catalog.create_namespace(&ns("db"), HashMap::new()).await,
        Err(CatalogError::NamespaceAlreadyExists(_))
    ));
    assert_eq!(catalog.list_namespaces().await.unwrap(), vec![ns("db")]);
    assert_eq!(
        catalog.namespace_properties(&ns("db")).await.unwrap()["owner"],
        "ana"
    );
    let missing = catalog
        .update_namespace_properties(
            &ns("db"),
            vec!["owner".into(), "nope".into()],
            HashMap::from([("k".into(), "v".into())]),
        )
        .await
        .unwrap();
    assert_eq!(missing, vec!["nope".to_string()]);
    assert_eq!(
        catalog.namespace_properties(&ns("db")).await.unwrap(),
        HashMap::from([("k".to_string(), "v".to_string())])
    );

    let t = table("db", "t");
    catalog
        .create_table(&t, "file:///wh/db/t/metadata/00000-a.metadata.json")
        .await
        .unwrap();
    assert!(matches!(
        catalog.create_table(&t, "file:///x").await,
        Err(CatalogError::TableAlreadyExists(_))
    ));
    assert!(matches!(
        catalog.create_table(&table("nope", "t"), "file:///x").await,
        Err(CatalogError::NamespaceNotFound(_))
    ));
    let swap = |expected: &str, new: &str| PointerSwap {
        table: t.clone(),
        expected: expected.into(),
        new: new.into(),
    };
    catalog
        .swap(vec![swap(
            "file:///wh/db/t/metadata/00000-a.metadata.json",
            "file:///b",
        )])
        .await
        .unwrap();
    let stale = catalog
        .swap(vec![swap(
            "file:///wh/db/t/metadata/00000-a.metadata.json",
            "file:///c",
        )])
        .await;
    match stale {
        Err(CatalogError::CommitConflict { actual, .. }) => assert_eq!(actual, "file:///b"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let pointer = catalog.load_table(&t).await.unwrap();
    assert_eq!(pointer.metadata_location, "file:///b");
    assert_eq!(
        pointer.previous_metadata_location.as_deref(),
        Some("file:///wh/db/t/metadata/00000-a.metadata.json")
    );

    // All or nothing: a create and a stale swap together change nothing.
    let failed = catalog
        .commit(vec![
            CatalogChange::Create {
                table: table("db", "u"),
                metadata_location: "file:///u".into(),
            },
            CatalogChange::Swap(swap("file:///stale", "file:///d")),
        ])
        .await;
    assert!(
        matches!(failed, Err(CatalogError::CommitConflict { .. })),
        "{failed:?}"
    );
    assert_eq!(
        catalog.list_tables(&ns("db")).await.unwrap(),
        vec![t.clone()]
    );

    catalog
        .create_namespace(&ns("other"), HashMap::new())
        .await
        .unwrap();
    catalog
        .rename_table(&t, &table("other", "t2"))
        .await
        .unwrap();
    assert_eq!(
        catalog.list_all_tables().await.unwrap(),
        vec![(ns("db"), vec![]), (ns("other"), vec!["t2".to_string()])]
    );
    assert!(matches!(
        catalog.drop_namespace(&ns("other")).await,
        Err(CatalogError::NamespaceNotEmpty { tables: 1, .. })
    ));
    let dropped = catalog.drop_table(&table("other", "t2")).await.unwrap();
    assert_eq!(dropped.metadata_location, "file:///b");
    catalog.drop_namespace(&ns("other")).await.unwrap();
    catalog.drop_namespace(&ns("db")).await.unwrap();
    assert!(catalog.list_namespaces().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_racing_for_one_pointer_never_both_win() {
    let Some(first) = catalog("race").await else {
        return;
    };
    let uri = std::env::var("FLOE_TEST_POSTGRES").unwrap();
    // A second connection under the same catalog name: another machine.
    let second = PostgresCatalog::connect(&uri, first.name()).await.unwrap();
    first
        .create_namespace(&ns("db"), HashMap::new())
        .await
        .unwrap();
    let t = table("db", "t");
    first.create_table(&t, "v0").await.unwrap();
    for round in 0..20 {
        let expected = format!("v{round}");
        let next = format!("v{}", round + 1);
        let swap = |new: String| {
            vec![PointerSwap {
                table: t.clone(),
                expected: expected.clone(),
                new,
            }]
        };
        let (a, b) = tokio::join!(
            first.swap(swap(next.clone())),
            second.swap(swap(format!("{next}-other")))
        );
        let winners = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {a:?} {b:?}");
        let now = first.load_table(&t).await.unwrap().metadata_location;
        if a.is_ok() {
            assert_eq!(now, next);
        } else {
            // Put the chain back on its track for the next round.
            first
                .swap(vec![PointerSwap {
                    table: t.clone(),
                    expected: now,
                    new: next,
                }])
                .await
                .unwrap();
        }
    }
    first.drop_table(&t).await.unwrap();
    first.drop_namespace(&ns("db")).await.unwrap();
}
