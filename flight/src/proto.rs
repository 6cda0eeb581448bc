//! The Flight session messages (`SetSessionOptions`, `GetSessionOptions`,
//! `CloseSession`) of `Flight.proto`, which `arrow-flight` 58 does not
//! generate. Field numbers and types are the proto's; clients send and
//! expect them raw (not wrapped in `Any`).

use std::collections::HashMap;

/// `SessionOptionValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionOptionValue {
    /// The value.
    #[prost(oneof = "OptionValue", tags = "1, 2, 3, 4, 5")]
    pub option_value: Option<OptionValue>,
}

/// `SessionOptionValue.StringListValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringListValue {
    /// The strings.
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

/// The `option_value` oneof of [`SessionOptionValue`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum OptionValue {
    /// `string string_value = 1`.
    #[prost(string, tag = "1")]
    StringValue(String),
    /// `bool bool_value = 2`.
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    /// `sfixed64 int64_value = 3`.
    #[prost(sfixed64, tag = "3")]
    Int64Value(i64),
    /// `double double_value = 4`.
    #[prost(double, tag = "4")]
    DoubleValue(f64),
    /// `StringListValue string_list_value = 5`.
    #[prost(message, tag = "5")]
    StringListValue(StringListValue),
}

/// `SetSessionOptionsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetSessionOptionsRequest {
    /// The options to set.
    #[prost(map = "string, message", tag = "1")]
    pub session_options: HashMap<String, SessionOptionValue>,
}

/// `SetSessionOptionsResult.ErrorValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SetSessionOptionErrorValue {
    /// Protobuf's default.
    Unspecified = 0,
    /// The option name is not one the server knows.
    InvalidName = 1,
    /// The value is not valid for the option.
    InvalidValue = 2,
    /// Setting the option failed.
    Error = 3,
}

/// `SetSessionOptionsResult.Error`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetSessionOptionError {
    /// What went wrong.
    #[prost(enumeration = "SetSessionOptionErrorValue", tag = "1")]
    pub value: i32,
}

/// `SetSessionOptionsResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetSessionOptionsResult {
    /// The options that were not set, and why.
    #[prost(map = "string, message", tag = "1")]
    pub errors: HashMap<String, SetSessionOptionError>,
}

/// `GetSessionOptionsResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSessionOptionsResult {
    /// The session's options.
    #[prost(map = "string, message", tag = "1")]
    pub session_options: HashMap<String, SessionOptionValue>,
}

/// `CloseSessionResult.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum CloseSessionStatus {
    /// Protobuf's default.
    Unspecified = 0,
    /// The session is closed.
    Closed = 1,
    /// The session is being closed.
    Closing = 2,
    /// The session cannot be closed.
    NotClosable = 3,
}

/// `CloseSessionResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CloseSessionResult {
    /// The outcome.
    #[prost(enumeration = "CloseSessionStatus", tag = "1")]
    pub status: i32,
}

impl SessionOptionValue {
    /// A string value.
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            option_value: Some(OptionValue::StringValue(value.into())),
        }
    }
}
