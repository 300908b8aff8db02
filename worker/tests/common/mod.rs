//! What the worker tests share: stores in temporary folders, and a table dealt into them as
//! the two-phase upload would leave it.

#![allow(dead_code, missing_docs, unreachable_pub)]

use mpc::{Fr, Params};
use protocols::dataset::Table;
use worker::store::{CHUNK_ROWS, DatasetRecord, ShareStore};

/// `n` empty stores, each in its own temporary folder (keep the folders alive).
pub fn stores(n: usize) -> (Vec<tempfile::TempDir>, Vec<ShareStore>) {
    stores_in(n, &std::env::temp_dir())
}

/// [`stores`] in memory (`/dev/shm`, where there is one): for tests that deal and run many
/// jobs, whose time would otherwise go to the disk's flushes.
pub fn stores_in_memory(n: usize) -> (Vec<tempfile::TempDir>, Vec<ShareStore>) {
    let shm = std::path::Path::new("/dev/shm");
    match shm.is_dir() {
        true => stores_in(n, shm),
        false => stores(n),
    }
}

fn stores_in(n: usize, parent: &std::path::Path) -> (Vec<tempfile::TempDir>, Vec<ShareStore>) {
    let dirs: Vec<_> = (0..n)
        .map(|_| tempfile::tempdir_in(parent).unwrap())
        .collect();
    let stores = dirs
        .iter()
        .map(|d| ShareStore::open(d.path()).unwrap())
        .collect();
    (dirs, stores)
}

/// A dataset's description as its owner uploads it.
pub struct Dataset<'a> {
    pub owner: &'a str,
    pub name: &'a str,
    /// The schema, as TOML.
    pub schema: &'a str,
    /// The policy, as TOML (empty: the default).
    pub policy: &'a str,
}

/// Shares `table` and commits it as `d.owner/d.name` on every store.
pub fn deal(
    stores: &[ShareStore],
    d: &Dataset<'_>,
    table: &Table,
    params: Params,
    rng: &mut impl rand::RngCore,
) {
    deal_version(stores, d, table, params, rng, "");
}

/// [`deal`] as a new version (`upload` suffix `version`; a non-empty one replaces the current).
pub fn deal_version(
    stores: &[ShareStore],
    d: &Dataset<'_>,
    table: &Table,
    params: Params,
    rng: &mut impl rand::RngCore,
    version: &str,
) {
    deal_altered(stores, d, table, params, rng, version, |_, _| {});
}

/// [`deal_version`] as an owner that skips the client's checks would deal: every value is
/// shared whatever its column's declared bits (an out-of-range value included), and
/// `alter(column, shares)` may change the workers' shares (`shares[worker][row]`) before they
/// are stored (shares off every degree-t polynomial, say).
pub fn deal_altered(
    stores: &[ShareStore],
    d: &Dataset<'_>,
    table: &Table,
    params: Params,
    rng: &mut impl rand::RngCore,
    version: &str,
    alter: impl Fn(usize, &mut [Vec<Fr>]),
) {
    let Dataset {
        owner,
        name,
        schema,
        policy,
    } = *d;
    let record = DatasetRecord {
        owner: owner.into(),
        name: name.into(),
        schema: schema.into(),
        policy: policy.into(),
        rows: table.rows() as u64,
        columns: table.schema.columns.len() as u32,
        upload: format!("u-{owner}-{name}{version}"),
        replace: !version.is_empty(),
        prepared: false,
    };
    assert!(
        table.rows() <= CHUNK_ROWS as usize,
        "one chunk per column here"
    );
    for s in stores {
        s.begin(&record).unwrap();
    }
    let bits = mpc::share::MAX_BITS;
    for (c, values) in table.columns.iter().enumerate() {
        let mut shares = mpc::engine::share_ints::<Fr, _>(values, bits, params, rng).unwrap();
        alter(c, &mut shares);
        for (s, mine) in stores.iter().zip(&shares) {
            s.put_chunk(&record.upload, c as u32, 0, &mpc::net::codec::encode(mine))
                .unwrap();
        }
    }
    for s in stores {
        s.prepare(&record.upload).unwrap();
        s.commit(&record.upload).unwrap();
    }
}
