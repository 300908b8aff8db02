//! What the ledger and the listings show of a dataset's schema, so that a guess of its
//! contents cannot be confirmed (issue 19, "schemas that do not leak").
//!
//! A schema is public to the workers, but an inferred categorical domain is exactly the
//! distinct values of the owner's CSV (for a settlement's payee column: the firms it pays). The
//! ledger's `DatasetCommitted` entry used to carry the plain SHA-256 of the schema, so anyone
//! could hash a guessed schema and compare. Here the owner's client puts a 32-byte salt at the
//! top of the schema text it uploads (`salt = "<hex>"`, drawn from its own secret key, see
//! `quorate::jobs::schema_salt`); the ledger records
//! `SHA-256("quorate/schema-commitment/v1" || salt || SHA-256(canonical schema))`, which the
//! workers recompute from the text they store (and refuse a mismatch). Without the salt the
//! commitment is hiding: a client holding the right guess gets another value. A schema text
//! without a salt (an upload by an older client) keeps the old, unsalted digest.
//!
//! The listing (`quorate datasets`, `ListDatasets`) shows another owner's schema with every
//! categorical domain withheld and without the salt ([`withheld`]); the owner sees its own in
//! full. What this does not hide: column names, types and widths, the row count.

use sha2::{Digest, Sha256};

use crate::dataset::{ColumnType, DatasetError, Schema};

/// Domain separation of the salted commitment.
const COMMITMENT_DOMAIN: &[u8] = b"quorate/schema-commitment/v1\0";

/// What a listing shows in place of a categorical domain withheld from a non-owner.
pub const WITHHELD: &str = "(withheld)";

/// What an owner signs to derive its schema salts: Ed25519 signatures are deterministic, so
/// one identity derives the same salt for a dataset name on every run (the upload and the
/// ledger record agree) and nobody without its secret key can.
pub const SALT_MESSAGE: &[u8] = b"quorate/schema-salt/v1";

/// The salt of dataset `dataset`, from the owner's signature over [`SALT_MESSAGE`].
pub fn salt(signature: &[u8], dataset: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"quorate/schema-salt/v1\0");
    h.update((signature.len() as u64).to_le_bytes());
    h.update(signature);
    h.update(dataset.as_bytes());
    h.finalize().into()
}

/// The schema text an owner uploads: `salt = "<hex>"`, then the schema's TOML.
pub fn salted_text(schema: &Schema, salt: &[u8; 32]) -> String {
    let columns = toml::to_string(schema).expect("a schema serializes");
    format!("salt = \"{}\"\n{columns}", hex(salt))
}

/// The ledger's commitment to the schema text `text` (as stored by the workers): salted when
/// the text carries a salt, else the plain digest of older uploads.
pub fn commitment(text: &str, file: &str) -> Result<[u8; 32], DatasetError> {
    let schema = Schema::from_toml(text, file)?;
    Ok(match salt_of(text, file)? {
        Some(salt) => {
            let mut h = Sha256::new();
            h.update(COMMITMENT_DOMAIN);
            h.update(salt);
            h.update(schema.digest());
            h.finalize().into()
        }
        None => schema.digest(),
    })
}

/// The schema text `text` as a listing shows it to someone other than its owner: no salt,
/// and every categorical domain replaced by [`WITHHELD`]. A text that does not parse is
/// withheld entirely (an empty string).
pub fn withheld(text: &str) -> String {
    let Ok(mut schema) = Schema::from_toml(text, "stored schema") else {
        return String::new();
    };
    for c in &mut schema.columns {
        if let ColumnType::Categorical { domain } = &mut c.ty {
            *domain = vec![WITHHELD.to_string()];
        }
    }
    toml::to_string(&schema).expect("a schema serializes")
}

/// Whether a listed schema text had its domains withheld.
pub fn is_withheld(schema: &Schema) -> bool {
    schema.columns.iter().any(|c| {
        matches!(&c.ty, ColumnType::Categorical { domain } if domain.len() == 1 && domain[0] == WITHHELD)
    })
}

/// The salt of a schema text, if it has one (64 hex digits).
fn salt_of(text: &str, file: &str) -> Result<Option<[u8; 32]>, DatasetError> {
    let bad = |message: &str| DatasetError::Schema {
        file: file.to_string(),
        message: message.to_string(),
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let Some(value) = table.get("salt") else {
        return Ok(None);
    };
    let digits = value
        .as_str()
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("the salt must be 64 hexadecimal digits"))?;
    let mut salt = [0u8; 32];
    for (i, byte) in salt.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(Some(salt))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::read_csv;

    const FIRM: &str = "payer,payee,amount\nacme,initech,100\nacme,globex,50\n";

    fn inferred(csv: &str) -> Schema {
        read_csv(csv.as_bytes(), "obligations.csv", None)
            .expect("the CSV reads")
            .schema
    }

    #[test]
    fn a_guessed_schema_no_longer_confirms_a_domain() {
        // The firm uploads its obligations under its own salt; a client guesses the same CSV
        // (so the same inferred schema, domain included) and uploads it under its salt.
        let firm = salted_text(&inferred(FIRM), &[7; 32]);
        let guess = salted_text(&inferred(FIRM), &[9; 32]);
        let on_ledger = commitment(&firm, "firm").unwrap();
        assert_ne!(commitment(&guess, "guess").unwrap(), on_ledger);
        // Nor does the plain digest of the guess (what the ledger held before) match.
        assert_ne!(inferred(FIRM).digest(), on_ledger);
        // The commitment binds the schema: the firm's salt with another domain differs.
        let other = inferred("payer,payee,amount\nacme,initech,100\nacme,hooli,50\n");
        assert_ne!(
            commitment(&salted_text(&other, &[7; 32]), "x").unwrap(),
            on_ledger
        );
        // The workers recompute it from the text they store.
        assert_eq!(commitment(&firm, "firm").unwrap(), on_ledger);
    }

    #[test]
    fn an_unsalted_text_keeps_the_plain_digest_and_parses_as_before() {
        let schema = inferred(FIRM);
        let plain = toml::to_string(&schema).unwrap();
        assert_eq!(commitment(&plain, "old").unwrap(), schema.digest());
        let salted = salted_text(&schema, &[1; 32]);
        assert_eq!(Schema::from_toml(&salted, "salted").unwrap(), schema);
    }

    #[test]
    fn a_bad_salt_is_refused_naming_it() {
        let text = format!(
            "salt = \"abc\"\n{}",
            toml::to_string(&inferred(FIRM)).unwrap()
        );
        let err = commitment(&text, "upload schema").unwrap_err().to_string();
        assert!(
            err.contains("salt") && err.contains("upload schema"),
            "{err}"
        );
        assert!(
            Schema::from_toml(
                "salt = 3\n[[columns]]\nname = \"x\"\ntype = \"integer\"\n",
                "f"
            )
            .is_err()
        );
    }

    #[test]
    fn the_listing_withholds_domains_and_salt_from_others() {
        let text = salted_text(&inferred(FIRM), &[7; 32]);
        let shown = withheld(&text);
        assert!(
            !shown.contains("initech") && !shown.contains("globex"),
            "{shown}"
        );
        assert!(
            !shown.contains("salt") && !shown.contains("0707"),
            "{shown}"
        );
        let schema = Schema::from_toml(&shown, "listed").unwrap();
        assert!(is_withheld(&schema));
        assert_eq!(schema.columns.len(), 3);
        assert!(!is_withheld(&inferred(FIRM)));
    }
}
