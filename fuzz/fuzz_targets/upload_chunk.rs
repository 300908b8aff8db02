//! An upload's chunk as a worker receives it: its shares checked against the upload's shape
//! (`worker::store::check_chunk`, the check `ShareStore::put_chunk` makes before it stores
//! anything). The first 16 bytes give the
//! upload's rows, columns, and the chunk's column and index; the rest are the shares.
#![no_main]

use libfuzzer_sys::fuzz_target;
use worker::store::{DatasetRecord, check_chunk};

fuzz_target!(|data: &[u8]| {
    let Some((head, shares)) = data.split_first_chunk::<16>() else {
        return;
    };
    let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let record = DatasetRecord {
        owner: "firm".into(),
        name: "fuzz".into(),
        schema: String::new(),
        policy: String::new(),
        // Up to a few chunks of rows, so that every chunk's size is reachable.
        rows: u64::from(u32_at(0)) % (4 * u64::from(worker::store::CHUNK_ROWS) + 1),
        columns: u32_at(4) % 1025,
        upload: "u1".into(),
        replace: false,
        prepared: false,
    };
    let (column, chunk) = (u32_at(8), u32_at(12) % 8);
    if check_chunk(&record, column, chunk, shares).is_ok() {
        assert!(column < record.columns && chunk < record.chunks());
        assert_eq!(shares.len() % 32, 0);
    }
});
