//! A simulation scenario as `quorate simulate` reads it (`Scenario::from_toml`, with its
//! validation).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use simulations::scenario::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Scenario::from_toml(text, Path::new("fuzz/scenario.toml"));
});
