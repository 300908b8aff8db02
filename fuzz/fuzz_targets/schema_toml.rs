//! A dataset's schema TOML as `quorate upload --schema` and a worker's `UploadBegin` read it
//! (`Schema::from_toml`, with its validation). A schema that parses round-trips through
//! its own TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocols::dataset::Schema;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(schema) = Schema::from_toml(text, "fuzz.toml") {
        let again = toml::to_string(&schema).expect("a schema serializes");
        assert_eq!(
            Schema::from_toml(&again, "again.toml").expect("and parses"),
            schema
        );
    }
});
