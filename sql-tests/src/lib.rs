//! Floe's SQL behaviour of record: the `*.slt` files beside this crate,
//! run by `tests/sqllogictests.rs`.
