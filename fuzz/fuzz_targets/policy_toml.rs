//! A dataset's policy TOML as `quorate upload --policy` and a worker's `UploadBegin` read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocols::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Policy::from_toml(text);
});
