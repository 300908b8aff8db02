//! A statistics query as `quorate query` and a worker (in a `RunJob` spec) parse it, against
//! a payroll table with columns of every type (`protocols::stats::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use quorate_fuzz::payroll;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let _ = protocols::stats::parse(sql, |table| (table == "payroll").then(|| payroll().clone()));
});
