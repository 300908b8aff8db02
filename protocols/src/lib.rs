//! What Quorate users compute: statistics, matching and settlement, written against
//! [`backend::Backend`] so that one protocol function runs on the MPC engine, in the clear (the
//! reference for tests) and under a counter.
//!
//! Protocol code never opens a socket, a file or a clock; it sees the other parties only through
//! the backend. Datasets and policies ([`dataset`], [`policy`]) are plain data: parsing a CSV
//! and checking a policy are pure functions. [`stats`] answers SQL questions over the union of
//! every owner's rows (`quorate query`); [`matching`] runs sealed-bid auctions, limit-order
//! books and record matching; [`settlement`] nets firms' secret obligations against their
//! secret balances and writes the new balances back (`quorate run JOB.toml`).

#![forbid(unsafe_code)]

pub mod backend;
pub mod catalog;
pub mod dataset;
pub mod matching;
pub mod outcome;
pub mod policy;
pub mod schema_commitment;
pub mod settlement;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backend::{Backend, Clear, Counting, Secret};

#[cfg(test)]
mod layering {
    //! ARCHITECTURE.md, "Invariants": protocol code (this crate and the engine, `mpc/src/engine`)
    //! never names tokio, so that it runs unchanged in memory, in virtual time and over QUIC.
    //! Checked on the sources, outside their test modules and comments.

    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The lines of `text` before its test module (`#[cfg(test)]` then `mod NAME {`).
    fn non_test_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
        let lines: Vec<&str> = text.lines().collect();
        let end = (0..lines.len())
            .find(|&i| {
                lines[i].trim() == "#[cfg(test)]"
                    && lines.get(i + 1).is_some_and(|next| {
                        next.trim_start().starts_with("mod ") && next.trim_end().ends_with('{')
                    })
            })
            .unwrap_or(lines.len());
        lines.into_iter().take(end).enumerate()
    }

    #[test]
    fn protocol_code_never_names_tokio() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("../mpc/src/engine"), &mut files);
        assert!(files.len() > 20, "the sources were not found: {files:?}");
        for file in files {
            if file.ends_with("src/lib.rs") {
                continue; // this module names what it looks for
            }
            let text = std::fs::read_to_string(&file).expect("a readable source");
            for (i, line) in non_test_lines(&text) {
                let code = line.trim_start();
                assert!(
                    code.starts_with("//") || !code.contains("tokio"),
                    "{}:{}: protocol code names tokio: {code}",
                    file.display(),
                    i + 1
                );
            }
        }
    }

    #[test]
    fn the_scan_sees_code_and_skips_tests() {
        let text = "use tokio::spawn;\n#[cfg(test)]\nmod tests {\n    use tokio;\n}\n";
        let seen: Vec<&str> = non_test_lines(text).map(|(_, l)| l).collect();
        assert_eq!(seen, ["use tokio::spawn;"]);
    }
}
