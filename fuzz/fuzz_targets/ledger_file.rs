//! A ledger entries file as `ledger verify`, `ledger show` and a node's start read it: the
//! bytes after the magic decoded entry by entry (`parse_entries`), then the chain verified
//! against the roster of its genesis entry.
#![no_main]

use std::path::Path;

use coordinator::ledger::file::MAGIC;
use coordinator::ledger::{EntryBody, parse_entries, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.ledger");
    let _ = parse_entries(data, path);
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(data);
    if let Ok(entries) = parse_entries(&file, path) {
        if let Some(EntryBody::Genesis(roster)) = entries.first().map(|e| &e.body) {
            let _ = roster.validate();
            let _ = verify(&entries, roster);
        }
    }
});
