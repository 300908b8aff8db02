//! What the worker tests share: stores in temporary folders, and a table dealt into them as
//! the two-phase upload would leave it.

#![allow(dead_code, missing_docs, unreachable_pub)]

use mpc::{Fr, Params};
use protocols::dataset::Table;
use worker::store::{CHUNK_ROWS, DatasetRecord, ShareStore};

/// `n` empty stores, each in its own temporary folder (keep the folders alive).
pub fn stores(n: usize) -> (Vec<tempfile::TempDir>, Vec<ShareStore>) {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
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
    for (c, (values, spec)) in table.columns.iter().zip(&table.schema.columns).enumerate() {
        let shares = mpc::engine::share_ints::<Fr, _>(values, spec.ty.bits(), params, rng).unwrap();
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
