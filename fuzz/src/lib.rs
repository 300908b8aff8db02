//! What the fuzz targets share: a control-plane frame around fuzzed bytes, and the payroll
//! schema the CSV and SQL targets read against.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use coordinator::api::API_VERSION;
use protocols::dataset::Schema;

/// `body` behind a valid control-plane frame prefix (length, version), so that the fuzzer
/// reaches the postcard decoder without having to guess the length.
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 6);
    frame.extend_from_slice(&((body.len() + 2) as u32).to_le_bytes());
    frame.extend_from_slice(&API_VERSION.to_le_bytes());
    frame.extend_from_slice(body);
    frame
}

/// A payroll table's schema with columns of every type, named as in the SQL parser's tests.
pub const PAYROLL: &str = include_str!("../payroll.toml");

/// [`PAYROLL`], parsed once.
pub fn payroll() -> &'static Schema {
    static PARSED: OnceLock<Schema> = OnceLock::new();
    PARSED.get_or_init(|| Schema::from_toml(PAYROLL, "payroll.toml").expect("the schema parses"))
}
