//! The ledger on disk: one append-only file, `<data dir>/ledger/entries.qlg`.
//!
//! Format: the 8-byte magic `QLEDGER1`, then one frame per entry in height order: a 4-byte
//! little-endian length `L` (at most [`MAX_ENTRY_BYTES`]) and `L` bytes of the entry's
//! postcard encoding (signatures included). Nothing else: the chain itself (hash links and
//! quorum signatures) is the integrity check, so there is no per-frame checksum.
//!
//! Reading is strict: a frame must decode to exactly one entry with no byte left over, and
//! re-encode to the same bytes (postcard's encoding of a value is unique, so every stored
//! byte is covered by a hash, a signature or this check). A short length prefix or frame is
//! reported as truncated, with the height of the entry it would hold; any other fault names
//! the entry's height and the reason. [`Ledger::open`] then verifies the whole chain against
//! the trusted roster.
//!
//! The folder is created mode 0700 and the file 0600 ([`crate::files`]).
//!
//! [`Ledger::append`] accepts only a fully signed entry that extends the head, writes its frame
//! and `fsync`s before returning; if the write fails, the file is cut back to its previous
//! length. A crash mid-append leaves a truncated last frame, which [`Ledger::open`] reports
//! rather than repairs.
//!
//! What this module does not do: lock the file against a second writer (one coordinator owns
//! it), or detect a cut that falls exactly between two frames — that is a shorter valid
//! chain, told apart only by comparing heads with the workers.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::entry::{Entry, EntryBody, Hash256, Head, Roster};
use super::verify::{Reason, VerifyError, check_genesis, check_next, verify};

/// The ledger's folder inside a node's data directory.
pub const LEDGER_DIR: &str = "ledger";
/// The entries file inside [`LEDGER_DIR`].
pub const ENTRIES_FILE: &str = "entries.qlg";
/// The first bytes of an entries file (the last one is the format version).
pub const MAGIC: &[u8; 8] = b"QLEDGER1";
/// The largest encoded entry accepted, read or written (16 MiB).
pub const MAX_ENTRY_BYTES: usize = 16 << 20;

/// What went wrong with a ledger file. Each variant names the file or the entry's height.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading or writing failed.
    #[error("ledger file {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `create` found a ledger already there.
    #[error("ledger file {} already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file does not start with [`MAGIC`].
    #[error("{} is not a ledger file (version 1): it does not start with {:?}", path.display(), std::str::from_utf8(MAGIC).unwrap_or_default())]
    NotALedger {
        /// The file.
        path: PathBuf,
    },
    /// The file ends inside the frame of the entry at `height`.
    #[error("ledger entry at height {height} (byte {offset}) is truncated: {reason}")]
    Truncated {
        /// Height of the entry whose frame is cut short.
        height: u64,
        /// Where its frame starts in the file.
        offset: u64,
        /// What is missing.
        reason: String,
    },
    /// The frame of the entry at `height` does not hold a canonical entry.
    #[error("ledger entry at height {height} (byte {offset}) is corrupt: {reason}")]
    Corrupt {
        /// Height of the entry.
        height: u64,
        /// Where its frame starts in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An entry to append encodes to more than [`MAX_ENTRY_BYTES`].
    #[error(
        "ledger entry at height {height} encodes to {bytes} bytes, over the limit of {MAX_ENTRY_BYTES}"
    )]
    TooLarge {
        /// Its height.
        height: u64,
        /// Its encoded size.
        bytes: usize,
    },
    /// The entries decode but the chain does not verify.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
}

impl LedgerError {
    /// The height of the entry at fault, when one is.
    pub fn height(&self) -> Option<u64> {
        match self {
            LedgerError::Truncated { height, .. }
            | LedgerError::Corrupt { height, .. }
            | LedgerError::TooLarge { height, .. } => Some(*height),
            LedgerError::Invalid(e) => Some(e.height),
            _ => None,
        }
    }
}

/// An open, verified ledger file and its entries.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    file: File,
    len: u64,
    roster: Roster,
    entries: Vec<Entry>,
    head: Head,
}

impl Ledger {
    /// The entries file under `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(LEDGER_DIR).join(ENTRIES_FILE)
    }

    /// Creates `<data_dir>/ledger/entries.qlg` holding `genesis`, which must be fully signed
    /// by its own roster. Fails if the file exists.
    pub fn create(data_dir: &Path, genesis: Entry) -> Result<Ledger, LedgerError> {
        let EntryBody::Genesis(roster) = &genesis.body else {
            return Err(LedgerError::Invalid(VerifyError {
                height: 0,
                reason: Reason::Kind("the first entry is not a genesis entry"),
            }));
        };
        let roster = roster.clone();
        let head = check_genesis(&genesis, &roster)?;
        let path = Ledger::path_in(data_dir);
        let dir = path.parent().expect("a file in a folder");
        crate::files::private_dir(dir).map_err(io(dir))?;
        let mut options = OpenOptions::new();
        options.create_new(true).append(true);
        crate::files::private_mode(&mut options);
        let mut file = options.open(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => LedgerError::Exists { path: path.clone() },
            _ => io(&path)(source),
        })?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&frame(&genesis)?);
        let written = file.write_all(&bytes).and_then(|()| file.sync_all());
        if let Err(source) = written {
            // Leave no half-written ledger behind, so that `create` can simply be retried.
            let _ = fs::remove_file(&path);
            return Err(io(&path)(source));
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(Ledger {
            len: bytes.len() as u64,
            path,
            file,
            roster,
            entries: vec![genesis],
            head,
        })
    }

    /// Opens the ledger under `data_dir`, reads every entry and verifies the chain against
    /// the trusted `roster`.
    pub fn open(data_dir: &Path, roster: &Roster) -> Result<Ledger, LedgerError> {
        let path = Ledger::path_in(data_dir);
        let entries = read_entries(&path)?;
        let head = verify(&entries, roster)?.head();
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        Ok(Ledger {
            path,
            file,
            len,
            roster: roster.clone(),
            entries,
            head,
        })
    }

    /// Appends `entry`, which must extend the head and carry `t + 1` valid signatures; returns
    /// its hash once the frame is on disk (`fsync`ed).
    pub fn append(&mut self, entry: Entry) -> Result<Hash256, LedgerError> {
        let head = check_next(&self.head, &entry, &self.roster)?;
        let bytes = frame(&entry)?;
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // Cut a partial frame off so that the file stays a valid chain.
            let _ = self.file.set_len(self.len);
            return Err(io(&self.path)(source));
        }
        self.len += bytes.len() as u64;
        self.entries.push(entry);
        self.head = head;
        Ok(head.hash)
    }

    /// An unsigned entry extending the head, to be sent to the workers for signatures.
    pub fn candidate(&self, time: u64, body: EntryBody) -> Entry {
        Entry::next(&self.head, time, body)
    }

    /// The last entry's height, hash and time.
    pub fn head(&self) -> Head {
        self.head
    }
    /// Every entry, from genesis.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    /// The roster.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }
    /// The entries file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads and decodes every entry of an entries file without verifying the chain (for
/// `ledger show` on a ledger that does not verify, and for [`Ledger::open`]).
pub fn read_entries(path: &Path) -> Result<Vec<Entry>, LedgerError> {
    let bytes = fs::read(path).map_err(io(path))?;
    parse_entries(&bytes, path)
}

/// Decodes every entry of an entries file's bytes (read from `path`, which errors name)
/// without verifying the chain: the pure half of [`read_entries`], and a fuzz target.
pub fn parse_entries(bytes: &[u8], path: &Path) -> Result<Vec<Entry>, LedgerError> {
    decode_entries(bytes).map_err(|e| match e {
        DecodeFault::Magic => LedgerError::NotALedger {
            path: path.to_owned(),
        },
        DecodeFault::Entry(e) => e,
    })
}

/// The frame of one entry: its length (4 bytes, little endian) and its encoding.
pub fn frame(entry: &Entry) -> Result<Vec<u8>, LedgerError> {
    let body = postcard::to_allocvec(entry).expect("entries always encode");
    if body.len() > MAX_ENTRY_BYTES {
        return Err(LedgerError::TooLarge {
            height: entry.height,
            bytes: body.len(),
        });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

enum DecodeFault {
    Magic,
    Entry(LedgerError),
}

/// Decodes a whole entries file held in memory.
fn decode_entries(bytes: &[u8]) -> Result<Vec<Entry>, DecodeFault> {
    let Some(mut rest) = bytes.strip_prefix(&MAGIC[..]) else {
        return Err(DecodeFault::Magic);
    };
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let height = entries.len() as u64;
        let offset = (bytes.len() - rest.len()) as u64;
        let truncated = |reason| {
            DecodeFault::Entry(LedgerError::Truncated {
                height,
                offset,
                reason,
            })
        };
        let corrupt = |reason| {
            DecodeFault::Entry(LedgerError::Corrupt {
                height,
                offset,
                reason,
            })
        };
        let Some((prefix, after)) = rest.split_first_chunk::<4>() else {
            return Err(truncated(format!(
                "{} of the 4 length bytes are present",
                rest.len()
            )));
        };
        let len = u32::from_le_bytes(*prefix) as usize;
        if len > MAX_ENTRY_BYTES {
            return Err(corrupt(format!(
                "length prefix {len} exceeds the limit of {MAX_ENTRY_BYTES} bytes"
            )));
        }
        if after.len() < len {
            return Err(truncated(format!(
                "the length prefix announces {len} bytes but {} remain",
                after.len()
            )));
        }
        let (body, next) = after.split_at(len);
        let (entry, left) = postcard::take_from_bytes::<Entry>(body)
            .map_err(|e| corrupt(format!("does not decode: {e}")))?;
        if !left.is_empty() {
            return Err(corrupt(format!(
                "{} bytes left over after the entry",
                left.len()
            )));
        }
        if postcard::to_allocvec(&entry).ok().as_deref() != Some(body) {
            return Err(corrupt("not in canonical encoding".into()));
        }
        entries.push(entry);
        rest = next;
    }
    Ok(entries)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}
