//! What GetSqlInfo says about the server, and GetXdbcTypeInfo about its
//! types. Only the standard ids are given (the JDBC driver fails on ids it
//! does not know), and all of them, since clients read them unfiltered.

use std::collections::BTreeMap;

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity,
    SqlSupportedTransaction, SqlTransactionIsolationLevel, XdbcDataType,
};
use datafusion::prelude::SessionContext;

use crate::error::{FlightError, Result};

/// The SqlInfo of a server whose sessions are like `ctx` (its functions).
pub(crate) fn sql_info(ctx: &SessionContext) -> Result<SqlInfoData> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "Floe");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::Transaction as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, true);
    b.append(SqlInfo::SqlDdlCatalog, true);
    b.append(SqlInfo::SqlDdlSchema, true);
    b.append(SqlInfo::SqlDdlTable, true);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    // Quoted names keep their case; the enum has no "sensitive": unknown.
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlKeywords, keywords());
    let functions = functions(ctx);
    for (info, section) in [
        (SqlInfo::SqlNumericFunctions, "Math Functions"),
        (SqlInfo::SqlStringFunctions, "String Functions"),
        (SqlInfo::SqlDatetimeFunctions, "Time and Date Functions"),
    ] {
        b.append(info, functions.get(section).cloned().unwrap_or_default());
    }
    let system: Vec<String> = functions
        .iter()
        .filter(|(section, _)| {
            !matches!(
                section.as_str(),
                "Math Functions" | "String Functions" | "Time and Date Functions"
            )
        })
        .flat_map(|(_, names)| names.iter().cloned())
        .collect();
    b.append(SqlInfo::SqlSystemFunctions, system);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(
        SqlInfo::SqlSupportsConvert,
        BTreeMap::<i32, Vec<i32>>::new(),
    );
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    // Bitmasks: bit n set = the enum's value n supported.
    b.append(SqlInfo::SqlSupportedGroupBy, 0b11);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSupportedGrammar, 0b11);
    b.append(SqlInfo::SqlAnsi92SupportedLevel, 0b11);
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(SqlInfo::SqlOuterJoinsSupportLevel, 2);
    b.append(SqlInfo::SqlSchemaTerm, "namespace");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "branch");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSchemasSupportedActions, 0);
    b.append(SqlInfo::SqlCatalogsSupportedActions, 0);
    b.append(SqlInfo::SqlSupportedPositionedCommands, 0);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, true);
    b.append(SqlInfo::SqlSupportedSubqueries, 0b1111);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlSupportedUnions, 0b11);
    // 0: no limit.
    for info in [
        SqlInfo::SqlMaxBinaryLiteralLength,
        SqlInfo::SqlMaxCharLiteralLength,
        SqlInfo::SqlMaxColumnNameLength,
        SqlInfo::SqlMaxColumnsInGroupBy,
        SqlInfo::SqlMaxColumnsInIndex,
        SqlInfo::SqlMaxColumnsInOrderBy,
        SqlInfo::SqlMaxColumnsInSelect,
        SqlInfo::SqlMaxColumnsInTable,
        SqlInfo::SqlMaxConnections,
        SqlInfo::SqlMaxCursorNameLength,
        SqlInfo::SqlMaxIndexLength,
        SqlInfo::SqlDbSchemaNameLength,
        SqlInfo::SqlMaxProcedureNameLength,
        SqlInfo::SqlMaxCatalogNameLength,
        SqlInfo::SqlMaxRowSize,
        SqlInfo::SqlMaxStatementLength,
        SqlInfo::SqlMaxStatements,
        SqlInfo::SqlMaxTableNameLength,
        SqlInfo::SqlMaxTablesInSelect,
        SqlInfo::SqlMaxUsernameLength,
    ] {
        b.append(info, 0i64);
    }
    b.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, false);
    // The JDBC driver reads this one as a 64-bit value.
    b.append(
        SqlInfo::SqlDefaultTransactionIsolation,
        SqlTransactionIsolationLevel::SqlTransactionSerializable as i64,
    );
    b.append(SqlInfo::SqlTransactionsSupported, true);
    b.append(
        SqlInfo::SqlSupportedTransactionsIsolationLevels,
        1 << SqlTransactionIsolationLevel::SqlTransactionSerializable as i32,
    );
    b.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, true);
    b.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, false);
    // Forward-only result sets, read-only.
    b.append(SqlInfo::SqlSupportedResultSetTypes, 1 << 1);
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        1 << 1,
    );
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        1 << 1,
    );
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        0,
    );
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
        0,
    );
    b.append(SqlInfo::SqlBatchUpdatesSupported, true);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    b.build()
        .map_err(|e| FlightError::Config(format!("cannot build SqlInfo: {e}")))
}

/// The words Floe's own statements add to the parser's.
const FLOE_KEYWORDS: &[&str] = &[
    "BRANCH",
    "BRANCHES",
    "DRY",
    "FIELDS",
    "IDENTIFIER",
    "LOCALLY",
    "PARTITIONED",
    "PURGE",
    "RETAIN",
    "RUN",
    "SNAPSHOTS",
    "TAG",
    "TAGS",
    "TBLPROPERTIES",
    "UNORDERED",
];

/// The SQL keywords: the parser's and Floe's.
fn keywords() -> Vec<String> {
    let mut words: Vec<String> = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
        .iter()
        .chain(FLOE_KEYWORDS)
        .map(|k| k.to_string())
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The session's scalar functions by their documentation section.
fn functions(ctx: &SessionContext) -> BTreeMap<String, Vec<String>> {
    let state = ctx.state();
    let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, udf) in state.scalar_functions() {
        let section = udf
            .documentation()
            .map(|d| d.doc_section.label.to_string())
            .unwrap_or_else(|| "Other Functions".to_string());
        sections.entry(section).or_default().push(name.clone());
    }
    for names in sections.values_mut() {
        names.sort();
    }
    sections
}

/// The column types Floe's tables have.
pub(crate) fn xdbc_type_info() -> Result<XdbcTypeInfoData> {
    let mut b = XdbcTypeInfoDataBuilder::new();
    // (name, type, column size, literal prefix, literal suffix, case sensitive)
    type Row = (
        &'static str,
        XdbcDataType,
        Option<i32>,
        Option<&'static str>,
        Option<&'static str>,
        bool,
    );
    let types: [Row; 12] = [
        ("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None, None, false),
        (
            "INT",
            XdbcDataType::XdbcInteger,
            Some(10),
            None,
            None,
            false,
        ),
        (
            "BIGINT",
            XdbcDataType::XdbcBigint,
            Some(19),
            None,
            None,
            false,
        ),
        ("FLOAT", XdbcDataType::XdbcFloat, Some(7), None, None, false),
        (
            "DOUBLE",
            XdbcDataType::XdbcDouble,
            Some(15),
            None,
            None,
            false,
        ),
        (
            "DECIMAL",
            XdbcDataType::XdbcDecimal,
            Some(38),
            None,
            None,
            false,
        ),
        (
            "DATE",
            XdbcDataType::XdbcDate,
            Some(10),
            Some("DATE '"),
            Some("'"),
            false,
        ),
        (
            "TIME",
            XdbcDataType::XdbcTime,
            Some(15),
            Some("TIME '"),
            Some("'"),
            false,
        ),
        (
            "TIMESTAMP",
            XdbcDataType::XdbcTimestamp,
            Some(26),
            Some("TIMESTAMP '"),
            Some("'"),
            false,
        ),
        (
            "TIMESTAMPTZ",
            XdbcDataType::XdbcTimestamp,
            Some(32),
            Some("TIMESTAMP '"),
            Some("'"),
            false,
        ),
        (
            "STRING",
            XdbcDataType::XdbcVarchar,
            Some(i32::MAX),
            Some("'"),
            Some("'"),
            true,
        ),
        (
            "BINARY",
            XdbcDataType::XdbcVarbinary,
            Some(i32::MAX),
            Some("X'"),
            Some("'"),
            false,
        ),
    ];
    for (name, data_type, column_size, prefix, suffix, case_sensitive) in types {
        let numeric = matches!(
            data_type,
            XdbcDataType::XdbcInteger
                | XdbcDataType::XdbcBigint
                | XdbcDataType::XdbcFloat
                | XdbcDataType::XdbcDouble
                | XdbcDataType::XdbcDecimal
        );
        b.append(XdbcTypeInfo {
            type_name: name.into(),
            data_type,
            column_size,
            literal_prefix: prefix.map(Into::into),
            literal_suffix: suffix.map(Into::into),
            create_params: (name == "DECIMAL").then(|| vec!["precision".into(), "scale".into()]),
            nullable: Nullable::NullabilityNullable,
            case_sensitive,
            searchable: Searchable::Full,
            unsigned_attribute: numeric.then_some(false),
            fixed_prec_scale: name == "DECIMAL",
            auto_increment: numeric.then_some(false),
            local_type_name: Some(name.into()),
            minimum_scale: (name == "DECIMAL").then_some(0),
            maximum_scale: (name == "DECIMAL").then_some(38),
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: numeric.then_some(10),
            interval_precision: None,
        });
    }
    b.build()
        .map_err(|e| FlightError::Config(format!("cannot build the type info: {e}")))
}
