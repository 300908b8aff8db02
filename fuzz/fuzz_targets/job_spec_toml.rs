//! A job's specification TOML as `quorate run` reads it and a worker receives it in
//! `RunJob` (`JobSpec::from_toml`), with its kind and its datasets read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocols::catalog::JobSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = JobSpec::from_toml(text) {
        let _ = spec.kind();
    }
});
