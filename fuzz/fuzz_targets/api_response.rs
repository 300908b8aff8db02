//! A control-plane response as a client, the coordinator or a worker receives it, through
//! `decode_frame` (as in `api_request`); a replica's page of ledger entries
//! (`Response::Entries`, what the coordinator catches up from) is then verified as a chain
//! against a roster, as the coordinator does before adopting it.
#![no_main]

use coordinator::api::{Response, decode_frame};
use coordinator::ledger::{Roster, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_frame::<Response>(data);
    let framed = quorate_fuzz::framed(data);
    if let Ok(Response::Entries(entries)) = decode_frame::<Response>(&framed) {
        if let Some(genesis) = entries.first() {
            if let coordinator::ledger::EntryBody::Genesis(roster) = &genesis.body {
                let roster: &Roster = roster;
                let _ = verify(&entries, roster);
            }
        }
    }
});
