//! Datasets: a schema of typed columns and rows of values encoded as integers, read from CSV
//! with errors that name the file, line and column.
//!
//! Column types and their encodings (every value becomes a signed integer, which the data
//! owner's client then secret-shares):
//! - `integer { bits }`: the value itself, in `[-2^bits, 2^bits)` (default 63: any `i64`);
//! - `fixed { frac, bits }`: `round(x · 2^frac)` (default 16 fractional bits), in
//!   `[-2^bits, 2^bits)` (default 63);
//! - `categorical { domain }`: the index of the value in the schema's domain (firms pooling one
//!   dataset name must share the domain, so it belongs in the schema);
//! - `identifier`: a 60-bit hash (SHA-256, truncated) of the text, computed on the owner's
//!   machine, for record matching by equality without revealing identifiers.
//!
//! A schema is given as TOML (`[[columns]] name = "salary" type = "integer"`) or inferred from
//! the CSV: integers, then decimals (fixed point), then text columns named like `id`/`*_id`
//! (identifiers) or with at most 64 distinct values (categorical, domain sorted).
//!
//! **Inferred widths.** A column's bound is public: it sets what every statistic over it costs
//! and whether it fits the engine's range ([`crate::stats`] documents the table). An inferred
//! integer or fixed column gets the narrowest rung of the public ladder [`WIDTH_LADDER`]
//! (8, 16, 32, 48, 63 bits) that holds every one of the owner's encoded values — so the width
//! reveals only which rung the largest magnitude falls under, never the value itself. The
//! owner sees the inferred schema before anything is uploaded ([`Schema::describe`]) and can pin
//! a width in a schema file. Several owners' datasets of one name may land on different rungs:
//! a query reads them with the widest ([`Schema::widest`]), so a job never fails for that.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bits of an identifier hash: collisions among 10^6 identifiers have probability ~2^-21.
pub const ID_BITS: u32 = 60;
/// The most distinct text values an inferred categorical column may have.
pub const MAX_INFERRED_CATEGORIES: usize = 64;
/// The public widths (bits of the encoded integers) an inferred integer or fixed column may
/// get: the narrowest that holds the owner's values (see the module doc).
pub const WIDTH_LADDER: [u32; 5] = [8, 16, 32, 48, 63];

/// The narrowest rung of [`WIDTH_LADDER`] that holds every value (the top rung otherwise).
pub fn ladder_width(values: impl IntoIterator<Item = i128>) -> u32 {
    let need = values
        .into_iter()
        .map(mpc::field::encode::bits_for)
        .max()
        .unwrap_or(0);
    WIDTH_LADDER
        .into_iter()
        .find(|&w| w >= need)
        .unwrap_or(WIDTH_LADDER[WIDTH_LADDER.len() - 1])
}

fn default_bits() -> u32 {
    63
}
fn default_frac() -> u32 {
    16
}

/// A column's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Signed integers in `[-2^bits, 2^bits)`.
    Integer {
        /// Magnitude bound in bits (default 63).
        bits: u32,
    },
    /// Fixed-point numbers with `frac` fractional bits.
    Fixed {
        /// Fractional bits (default 16).
        frac: u32,
        /// Bound of the scaled integer in bits (default 63).
        bits: u32,
    },
    /// One of a public list of values, encoded as its index.
    Categorical {
        /// The values, in order.
        domain: Vec<String>,
    },
    /// Text identifiers, hashed to [`ID_BITS`] bits.
    Identifier,
}

impl ColumnType {
    /// The bound, in bits, of the encoded integers.
    pub fn bits(&self) -> u32 {
        match self {
            ColumnType::Integer { bits } | ColumnType::Fixed { bits, .. } => *bits,
            ColumnType::Categorical { domain } => usize::BITS - domain.len().leading_zeros(),
            ColumnType::Identifier => ID_BITS,
        }
    }
    /// Fractional bits of the encoding (0 but for fixed point).
    pub fn frac(&self) -> u32 {
        match self {
            ColumnType::Fixed { frac, .. } => *frac,
            _ => 0,
        }
    }
}

/// A named, typed column. In TOML: `name`, `type` (`integer`, `fixed`, `categorical`,
/// `identifier`) and the type's options: `bits` (integer, fixed; default 63), `frac` (fixed;
/// default 16), `domain` (categorical; required). Unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawColumn", into = "RawColumn")]
pub struct ColumnSpec {
    /// The column's name (the CSV header).
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    bits: Option<u32>,
    #[serde(default)]
    frac: Option<u32>,
    #[serde(default)]
    domain: Option<Vec<String>>,
}

/// Why a schema's column description is refused (a `[[columns]]` table of a schema file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnSpecError {
    /// An option given for a type it does not apply to.
    #[error("column '{column}': '{option}' does not apply to type '{ty}'")]
    Inapplicable {
        /// The column.
        column: String,
        /// The option (`bits`, `frac`, `domain`).
        option: &'static str,
        /// The column's type.
        ty: String,
    },
    /// A categorical column without its domain.
    #[error("column '{0}': a categorical column needs a 'domain'")]
    NoDomain(String),
    /// A type that does not exist.
    #[error(
        "column '{column}': unknown type '{ty}' (expected integer, fixed, categorical or identifier)"
    )]
    UnknownType {
        /// The column.
        column: String,
        /// The type given.
        ty: String,
    },
}

impl TryFrom<RawColumn> for ColumnSpec {
    type Error = ColumnSpecError;
    fn try_from(r: RawColumn) -> Result<Self, ColumnSpecError> {
        let unused = |option: &'static str, present: bool| {
            if present {
                Err(ColumnSpecError::Inapplicable {
                    column: r.name.clone(),
                    option,
                    ty: r.ty.clone(),
                })
            } else {
                Ok(())
            }
        };
        let ty = match r.ty.as_str() {
            "integer" => {
                unused("frac", r.frac.is_some())?;
                unused("domain", r.domain.is_some())?;
                ColumnType::Integer {
                    bits: r.bits.unwrap_or(default_bits()),
                }
            }
            "fixed" => {
                unused("domain", r.domain.is_some())?;
                ColumnType::Fixed {
                    frac: r.frac.unwrap_or(default_frac()),
                    bits: r.bits.unwrap_or(default_bits()),
                }
            }
            "categorical" => {
                unused("bits", r.bits.is_some())?;
                unused("frac", r.frac.is_some())?;
                let domain = r
                    .domain
                    .clone()
                    .ok_or_else(|| ColumnSpecError::NoDomain(r.name.clone()))?;
                ColumnType::Categorical { domain }
            }
            "identifier" => {
                unused("bits", r.bits.is_some())?;
                unused("frac", r.frac.is_some())?;
                unused("domain", r.domain.is_some())?;
                ColumnType::Identifier
            }
            other => {
                return Err(ColumnSpecError::UnknownType {
                    column: r.name.clone(),
                    ty: other.into(),
                });
            }
        };
        Ok(ColumnSpec { name: r.name, ty })
    }
}

impl From<ColumnSpec> for RawColumn {
    fn from(c: ColumnSpec) -> Self {
        let (ty, bits, frac, domain) = match c.ty {
            ColumnType::Integer { bits } => ("integer", Some(bits), None, None),
            ColumnType::Fixed { frac, bits } => ("fixed", Some(bits), Some(frac), None),
            ColumnType::Categorical { domain } => ("categorical", None, None, Some(domain)),
            ColumnType::Identifier => ("identifier", None, None, None),
        };
        RawColumn {
            name: c.name,
            ty: ty.to_string(),
            bits,
            frac,
            domain,
        }
    }
}

/// The columns of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Columns in order.
    pub columns: Vec<ColumnSpec>,
}

/// A schema's text: the columns, and the owner's salt when uploaded by a current client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaText {
    /// Read by [`crate::schema_commitment`]; here only allowed.
    #[serde(default, rename = "salt")]
    _salt: Option<String>,
    columns: Vec<ColumnSpec>,
}

impl Schema {
    /// Parses a schema from TOML.
    /// A top-level `salt` (the owner's salt for the ledger commitment,
    /// [`crate::schema_commitment`]) is allowed and not part of the schema.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, DatasetError> {
        let SchemaText { columns, .. } =
            toml::from_str(text).map_err(|e| DatasetError::Schema {
                file: file.to_string(),
                message: e.to_string(),
            })?;
        let schema = Schema { columns };
        schema.validate(file)?;
        Ok(schema)
    }

    fn validate(&self, file: &str) -> Result<(), DatasetError> {
        let bad = |message: String| {
            Err(DatasetError::Schema {
                file: file.to_string(),
                message,
            })
        };
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            if !seen.insert(c.name.as_str()) {
                return bad(format!("column '{}' appears twice", c.name));
            }
            if c.ty.bits() > 120 {
                return bad(format!(
                    "column '{}': bound of {} bits is over 120",
                    c.name,
                    c.ty.bits()
                ));
            }
            if let ColumnType::Categorical { domain } = &c.ty {
                if domain.is_empty() {
                    return bad(format!(
                        "column '{}': a categorical column needs a non-empty domain",
                        c.name
                    ));
                }
                if domain.iter().collect::<BTreeSet<_>>().len() != domain.len() {
                    return bad(format!(
                        "column '{}': the domain lists a value twice",
                        c.name
                    ));
                }
            }
        }
        if self.columns.is_empty() {
            return bad("a schema needs at least one column".into());
        }
        Ok(())
    }

    /// The column called `name`, with its index.
    pub fn column(&self, name: &str) -> Option<(usize, &ColumnSpec)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }

    /// The schema a query reads several owners' datasets of one name with: the same columns
    /// (names, types, fractional bits, domains), each integer or fixed column with the widest
    /// bound among them (owners' inferred widths may sit on different rungs of
    /// [`WIDTH_LADDER`]). Any other difference is an error naming the column.
    pub fn widest<'a>(
        schemas: impl IntoIterator<Item = &'a Schema>,
    ) -> Result<Schema, SchemaMismatch> {
        let mut schemas = schemas.into_iter();
        let Some(first) = schemas.next() else {
            return Err(SchemaMismatch::Empty);
        };
        let mut out = first.clone();
        for s in schemas {
            if s.columns.len() != out.columns.len() {
                return Err(SchemaMismatch::Columns {
                    found: s.columns.len(),
                    expected: out.columns.len(),
                });
            }
            for (mine, theirs) in out.columns.iter_mut().zip(&s.columns) {
                let differs = SchemaMismatch::Type {
                    column: mine.name.clone(),
                    found: theirs.describe_type(),
                    expected: mine.describe_type(),
                };
                if mine.name != theirs.name {
                    return Err(SchemaMismatch::Name {
                        found: theirs.name.clone(),
                        expected: mine.name.clone(),
                    });
                }
                match (&mut mine.ty, &theirs.ty) {
                    (ColumnType::Integer { bits }, ColumnType::Integer { bits: b }) => {
                        *bits = (*bits).max(*b)
                    }
                    (
                        ColumnType::Fixed { frac, bits },
                        ColumnType::Fixed { frac: f2, bits: b2 },
                    ) if frac == f2 => *bits = (*bits).max(*b2),
                    (a, b) if a == b => {}
                    _ => return Err(differs),
                }
            }
        }
        Ok(out)
    }

    /// The schema as the owner reads it before uploading: one line per column with its type
    /// and public width, then how to pin it (see the module doc).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for c in &self.columns {
            out.push_str(&format!("  {:<16} {}\n", c.name, c.describe_type()));
        }
        out
    }

    /// A SHA-256 digest of the schema's canonical form (for the ledger).
    pub fn digest(&self) -> [u8; 32] {
        let canonical = toml::to_string(self).expect("a schema serializes");
        Sha256::digest(canonical.as_bytes()).into()
    }
}

impl ColumnSpec {
    /// An integer column of `bits` bits.
    pub fn integer(name: &str, bits: u32) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            ty: ColumnType::Integer { bits },
        }
    }

    /// A categorical column over `domain`.
    pub fn categorical(name: &str, domain: Vec<String>) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            ty: ColumnType::Categorical { domain },
        }
    }

    /// The type in words, with its public width (`integer, 32 bits`).
    pub fn describe_type(&self) -> String {
        match &self.ty {
            ColumnType::Integer { bits } => format!("integer, {bits} bits"),
            ColumnType::Fixed { frac, bits } => {
                format!("fixed, {bits} bits with {frac} fractional")
            }
            ColumnType::Categorical { domain } => {
                format!(
                    "categorical, {} values: {}",
                    domain.len(),
                    domain.join(", ")
                )
            }
            ColumnType::Identifier => format!("identifier (hashed to {ID_BITS} bits)"),
        }
    }
}

/// A parsed dataset: a schema and its columns of encoded values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The columns' names and types.
    pub schema: Schema,
    /// `columns[c][r]`: the encoded value of row `r` in column `c`.
    pub columns: Vec<Vec<i128>>,
}

impl Table {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.len())
    }
}

/// Where and why a dataset could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// What failed.
        message: String,
    },
    /// A CSV cell or row is wrong.
    #[error("{}", CsvPlace(self))]
    Csv {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column, when one cell is at fault.
        column: Option<usize>,
        /// The column's name, when known.
        name: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The schema is invalid or does not fit the CSV.
    #[error("{file}: schema: {message}")]
    Schema {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

struct CsvPlace<'a>(&'a DatasetError);

impl fmt::Display for CsvPlace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let DatasetError::Csv {
            file,
            line,
            column,
            name,
            message,
        } = self.0
        {
            write!(f, "{file}:{line}")?;
            if let Some(c) = column {
                write!(f, ":{c}")?;
            }
            if let Some(n) = name {
                write!(f, " ({n})")?;
            }
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// Reads a CSV file (header row first) into a table, with the given schema or an inferred one.
pub fn read_csv_file(path: &Path, schema: Option<&Schema>) -> Result<Table, DatasetError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| DatasetError::Io {
        file: file.clone(),
        message: e.to_string(),
    })?;
    read_csv(f, &file, schema)
}

/// Reads CSV text (header row first) into a table; `file` names the source in errors.
pub fn read_csv<R: Read>(
    input: R,
    file: &str,
    schema: Option<&Schema>,
) -> Result<Table, DatasetError> {
    read_csv_with(&mut csv_reader(input), file, schema)
}

/// The CSV reader [`read_csv`] parses with: flexible rows (a row of the wrong length gets this
/// module's error, naming its line), fields trimmed, and the header row read as the first
/// record, so that a reader rewound to its start (`csv::Reader::seek_raw` to byte 0, as the
/// `csv_table` fuzz target does to avoid rebuilding the parser's tables for every input) reads
/// exactly as a new one.
pub fn csv_reader<R: Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input)
}

/// [`read_csv`] over a reader made by [`csv_reader`], positioned at the start of the text.
pub fn read_csv_with<R: Read>(
    reader: &mut csv::Reader<R>,
    file: &str,
    schema: Option<&Schema>,
) -> Result<Table, DatasetError> {
    let csv_err = |line: u64, message: String| DatasetError::Csv {
        file: file.to_string(),
        line,
        column: None,
        name: None,
        message,
    };
    let mut records = reader.records();
    let headers: Vec<String> = match records.next() {
        None => Vec::new(),
        Some(header) => header
            .map_err(|e| csv_err(1, e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect(),
    };
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(csv_err(1, "no header row".into()));
    }
    let mut raw: Vec<(u64, Vec<String>)> = Vec::new();
    for record in records {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            csv_err(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            return Err(csv_err(
                line,
                format!(
                    "row has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            ));
        }
        raw.push((line, record.iter().map(str::to_string).collect()));
    }
    let schema = match schema {
        Some(s) => s.clone(),
        None => infer_schema(&headers, &raw),
    };
    // Map schema columns to CSV columns by name.
    let mut order = Vec::with_capacity(schema.columns.len());
    for c in &schema.columns {
        let idx =
            headers
                .iter()
                .position(|h| h == &c.name)
                .ok_or_else(|| DatasetError::Schema {
                    file: file.to_string(),
                    message: format!("column '{}' of the schema is not in the CSV header", c.name),
                })?;
        order.push(idx);
    }
    if let Some(extra) = headers.iter().find(|h| schema.column(h).is_none()) {
        return Err(DatasetError::Schema {
            file: file.to_string(),
            message: format!("CSV column '{extra}' is not in the schema"),
        });
    }
    let mut columns = vec![Vec::with_capacity(raw.len()); schema.columns.len()];
    for (line, fields) in &raw {
        for (c, spec) in schema.columns.iter().enumerate() {
            let text = &fields[order[c]];
            let value = encode_cell(text, &spec.ty).map_err(|cell| DatasetError::Csv {
                file: file.to_string(),
                line: *line,
                column: Some(order[c] + 1),
                name: Some(spec.name.clone()),
                message: cell.to_string(),
            })?;
            columns[c].push(value);
        }
    }
    Ok(Table { schema, columns })
}

fn show(text: &str) -> String {
    if text.chars().count() > 24 {
        format!("'{}…'", text.chars().take(24).collect::<String>())
    } else {
        format!("'{text}'")
    }
}

/// Encodes one cell; the error says what was expected.
pub fn encode_cell(text: &str, ty: &ColumnType) -> Result<i128, CellError> {
    match ty {
        ColumnType::Integer { bits } => {
            let v: i128 = text
                .parse()
                .map_err(|_| CellError::NotInteger(show(text)))?;
            if !mpc::field::encode::fits(v, *bits) {
                return Err(CellError::IntegerRange {
                    cell: show(text),
                    bits: *bits,
                });
            }
            Ok(v)
        }
        ColumnType::Fixed { frac, bits } => {
            let x: f64 = text.parse().map_err(|_| CellError::NotNumber(show(text)))?;
            mpc::field::encode::fixed_to_int(x, *frac, *bits).map_err(|source| CellError::Fixed {
                cell: show(text),
                frac: *frac,
                source,
            })
        }
        ColumnType::Categorical { domain } => domain
            .iter()
            .position(|d| d == text)
            .map(|i| i as i128)
            .ok_or_else(|| CellError::OutsideDomain {
                cell: show(text),
                values: domain.len(),
            }),
        ColumnType::Identifier => {
            if text.is_empty() {
                return Err(CellError::EmptyIdentifier);
            }
            Ok(hash_identifier(text))
        }
    }
}

/// Why owners' schemas of one dataset name do not meet ([`Schema::widest`]): `found` is the
/// later schema's, `expected` the earlier ones'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    /// No schema at all.
    #[error("no schema")]
    Empty,
    /// Different numbers of columns.
    #[error("{found} columns against {expected}")]
    Columns {
        /// The later schema's count.
        found: usize,
        /// The earlier ones'.
        expected: usize,
    },
    /// Different column names at one position.
    #[error("column '{found}' against column '{expected}'")]
    Name {
        /// The later schema's name.
        found: String,
        /// The earlier ones'.
        expected: String,
    },
    /// A column of another type (or fractional bits, or domain).
    #[error("column '{column}' differs: {found} against {expected}")]
    Type {
        /// The column.
        column: String,
        /// The later schema's type.
        found: String,
        /// The earlier ones'.
        expected: String,
    },
}

/// Why a cell does not encode under its column's type ([`encode_cell`]); the cell is quoted
/// (cut at 24 characters).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CellError {
    /// Not an integer.
    #[error("{0} is not an integer")]
    NotInteger(String),
    /// An integer outside the column's declared width.
    #[error("{cell} is out of range for a {bits}-bit integer column")]
    IntegerRange {
        /// The cell.
        cell: String,
        /// The column's width.
        bits: u32,
    },
    /// Not a number.
    #[error("{0} is not a number")]
    NotNumber(String),
    /// A number the fixed-point encoding refuses.
    #[error("{cell}: {source} (fixed point, {frac} fractional bits)")]
    Fixed {
        /// The cell.
        cell: String,
        /// The column's fractional bits.
        frac: u32,
        /// The encoder's reason.
        source: mpc::EncodeError,
    },
    /// Not a value of the column's domain.
    #[error("{cell} is not in the column's domain ({values} values)")]
    OutsideDomain {
        /// The cell.
        cell: String,
        /// Values in the domain.
        values: usize,
    },
    /// An empty identifier.
    #[error("empty identifier")]
    EmptyIdentifier,
}

/// The identifier's hash: the first [`ID_BITS`] bits of SHA-256, as a non-negative integer.
pub fn hash_identifier(text: &str) -> i128 {
    let digest = Sha256::digest(text.as_bytes());
    let word = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (word >> (64 - ID_BITS)) as i128
}

fn infer_schema(headers: &[String], rows: &[(u64, Vec<String>)]) -> Schema {
    let columns = headers
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let cells = || rows.iter().map(move |(_, r)| r[c].as_str());
            let ty = if cells().all(|v| v.parse::<i64>().is_ok()) {
                let bits = ladder_width(
                    cells()
                        .filter_map(|v| v.parse::<i64>().ok())
                        .map(i128::from),
                );
                ColumnType::Integer { bits }
            } else if cells().all(|v| v.parse::<f64>().is_ok_and(f64::is_finite)) {
                let frac = default_frac();
                // Out-of-range values get the top rung here and a clear error when encoded.
                let bits = ladder_width(cells().map(|v| {
                    mpc::field::encode::fixed_to_int(v.parse().unwrap_or(0.0), frac, 126)
                        .unwrap_or(i128::MAX)
                }));
                ColumnType::Fixed { frac, bits }
            } else {
                let lower = name.to_ascii_lowercase();
                let distinct: BTreeSet<&str> = cells().collect();
                if lower == "id"
                    || lower.ends_with("_id")
                    || distinct.len() > MAX_INFERRED_CATEGORIES
                {
                    ColumnType::Identifier
                } else {
                    ColumnType::Categorical {
                        domain: distinct.into_iter().map(str::to_string).collect(),
                    }
                }
            };
            ColumnSpec {
                name: name.clone(),
                ty,
            }
        })
        .collect();
    Schema { columns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_errors_are_typed() {
        let int = ColumnType::Integer { bits: 16 };
        assert_eq!(
            encode_cell("abc", &int),
            Err(CellError::NotInteger("'abc'".into()))
        );
        assert_eq!(
            encode_cell("99999999", &int),
            Err(CellError::IntegerRange {
                cell: "'99999999'".into(),
                bits: 16
            })
        );
        assert_eq!(
            encode_cell("", &ColumnType::Identifier),
            Err(CellError::EmptyIdentifier)
        );
        let domain = ColumnType::Categorical {
            domain: vec!["a".into()],
        };
        assert!(matches!(
            encode_cell("b", &domain),
            Err(CellError::OutsideDomain { values: 1, .. })
        ));
    }

    fn parse(text: &str, schema: Option<&Schema>) -> Result<Table, DatasetError> {
        read_csv(text.as_bytes(), "payroll.csv", schema)
    }

    /// The `csv_table` fuzz target reuses one reader, rewound for every input: each input must
    /// read exactly as with a new reader, whatever the inputs before it left behind.
    #[test]
    fn a_rewound_reader_reads_as_a_new_one() {
        use std::io::{Cursor, SeekFrom};
        let inputs: [&[u8]; 9] = [
            b"id,salary\na1,5\na2,-3\n",
            b"",
            b"a,b\n1,2,3\n",
            "x\n\u{e9}\n".as_bytes(),
            b"  \n",
            b"salary , id\n 7 ,b\n\n8,\"c,d\"\n",
            b"bad\xff,x\n1,2\n",
            b"id\r\nq\r\n",
            b"q\n\"open,1\n",
        ];
        let mut reused = csv_reader(Cursor::new(Vec::new()));
        for round in 0..2 {
            for text in inputs {
                *reused.get_mut() = Cursor::new(text.to_vec());
                reused
                    .seek_raw(SeekFrom::Start(0), csv::Position::new())
                    .unwrap();
                let again = read_csv_with(&mut reused, "payroll.csv", None);
                let fresh = read_csv(text, "payroll.csv", None);
                assert_eq!(
                    format!("{again:?}"),
                    format!("{fresh:?}"),
                    "round {round}: {text:?}"
                );
            }
        }
    }

    #[test]
    fn infers_types_and_encodes() {
        let t = parse(
            "id,salary,bonus,gender\na1,50000,0.5,f\na2,-3,1.25,m\n",
            None,
        )
        .unwrap();
        assert_eq!(t.rows(), 2);
        assert_eq!(t.schema.columns[0].ty, ColumnType::Identifier);
        // The narrowest rungs of the ladder: 50000 needs 16 bits, 1.25 * 2^16 needs 17.
        assert_eq!(t.schema.columns[1].ty, ColumnType::Integer { bits: 16 });
        assert_eq!(
            t.schema.columns[2].ty,
            ColumnType::Fixed { frac: 16, bits: 32 }
        );
        assert_eq!(t.columns[1], vec![50000, -3]);
        assert_eq!(t.columns[2], vec![32768, 81920]);
        assert_eq!(t.columns[3], vec![0, 1]);
        assert!(t.columns[0][0] >= 0 && t.columns[0][0] < 1 << ID_BITS);
    }

    #[test]
    fn inferred_widths_sit_on_the_ladder() {
        let width = |csv: &str| parse(csv, None).unwrap().schema.columns[0].ty.bits();
        // Each rung's edges: [-2^b, 2^b) holds, one past it takes the next rung.
        for (lo, hi, rung) in [
            (-256i128, 255i128, 8u32),
            (-65536, 65535, 16),
            (-(1 << 32), (1 << 32) - 1, 32),
            (-(1 << 48), (1 << 48) - 1, 48),
        ] {
            assert_eq!(width(&format!("x\n{lo}\n{hi}\n")), rung, "{lo}..{hi}");
            assert!(width(&format!("x\n{}\n", hi + 1)) > rung);
            assert!(width(&format!("x\n{}\n", lo - 1)) > rung);
        }
        assert_eq!(width("x\n0\n"), 8);
        assert_eq!(width(&format!("x\n{}\n{}\n", i64::MIN, i64::MAX)), 63);
        // Fixed point: the scaled integers decide (2^16 fractional bits).
        assert_eq!(width("x\n0.5\n-3.25\n"), 32);
        assert_eq!(width("x\n0.001\n-0.0039\n"), 8);
        assert_eq!(width("x\n70000.5\n"), 48);
        // Beyond the top rung the cell is refused, naming it.
        let err = parse("x\n1e300\n", None).unwrap_err();
        assert!(err.to_string().starts_with("payroll.csv:2:1 (x):"), "{err}");
    }

    #[test]
    fn a_column_description_is_refused_naming_the_column() {
        let raw = |ty: &str, bits: Option<u32>, domain: Option<Vec<String>>| RawColumn {
            name: "x".into(),
            ty: ty.into(),
            bits,
            frac: None,
            domain,
        };
        let err = ColumnSpec::try_from(raw("categorical", Some(8), Some(vec![]))).unwrap_err();
        assert_eq!(
            err,
            ColumnSpecError::Inapplicable {
                column: "x".into(),
                option: "bits",
                ty: "categorical".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "column 'x': 'bits' does not apply to type 'categorical'"
        );
        assert_eq!(
            ColumnSpec::try_from(raw("categorical", None, None)).unwrap_err(),
            ColumnSpecError::NoDomain("x".into())
        );
        assert!(matches!(
            ColumnSpec::try_from(raw("text", None, None)).unwrap_err(),
            ColumnSpecError::UnknownType { ty, .. } if ty == "text"
        ));
        // Through a schema file, the message reaches the reader.
        let toml = "[[columns]]\nname = \"x\"\ntype = \"text\"\n";
        let err = toml::from_str::<Schema>(toml).unwrap_err().to_string();
        assert!(err.contains("column 'x': unknown type 'text'"), "{err}");
    }

    #[test]
    fn owners_schemas_meet_at_the_widest() {
        let a = parse("id,salary,bonus,g\na,100,0.5,f\n", None)
            .unwrap()
            .schema;
        let b = parse("id,salary,bonus,g\nb,100000,1000.5,f\n", None)
            .unwrap()
            .schema;
        let w = Schema::widest([&a, &b]).unwrap();
        assert_eq!(w.columns[1].ty, ColumnType::Integer { bits: 32 });
        assert_eq!(w.columns[2].ty, ColumnType::Fixed { frac: 16, bits: 32 });
        assert_eq!(Schema::widest([&b, &a]).unwrap(), w);
        assert_eq!(Schema::widest([&a]).unwrap(), a);
        // Other differences stay errors, naming the column.
        let c = parse("id,salary,bonus,g\nb,1,x,f\n", None).unwrap().schema;
        let err = Schema::widest([&a, &c]).unwrap_err();
        assert!(
            matches!(&err, SchemaMismatch::Type { column, .. } if column == "bonus"),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("column 'bonus' differs: "),
            "{err}"
        );
        let d = parse("id,salary,bonus,g\nb,1,1.5,m\n", None)
            .unwrap()
            .schema;
        assert!(matches!(
            Schema::widest([&a, &d]).unwrap_err(),
            SchemaMismatch::Type { column, .. } if column == "g"
        ));
        let short = parse("id,salary\nb,1\n", None).unwrap().schema;
        assert_eq!(
            Schema::widest([&a, &short]).unwrap_err(),
            SchemaMismatch::Columns {
                found: 2,
                expected: 4
            }
        );
        assert_eq!(Schema::widest([]).unwrap_err(), SchemaMismatch::Empty);
        let text = w.describe();
        assert!(
            text.contains("salary") && text.contains("integer, 32 bits"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let schema = Schema::from_toml(
            "[[columns]]\nname = \"salary\"\ntype = \"integer\"\nbits = 31\n[[columns]]\nname = \"role\"\ntype = \"categorical\"\ndomain = [\"a\", \"b\"]\n",
            "schema.toml",
        )
        .unwrap();
        let err = parse("salary,role\n10,a\n12\n", Some(&schema)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payroll.csv:3: row has 1 fields, the header has 2"
        );
        let err = parse("salary,role\n10,a\nabc,b\n", Some(&schema)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payroll.csv:3:1 (salary): 'abc' is not an integer"
        );
        let err = parse("salary,role\n99999999999,a\n", Some(&schema)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payroll.csv:2:1 (salary): '99999999999' is out of range for a 31-bit integer column"
        );
        let err = parse("role,salary\nc,1\n", Some(&schema)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payroll.csv:2:1 (role): 'c' is not in the column's domain (2 values)"
        );
        let err = parse("salary\n1\n", Some(&schema)).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 'role' of the schema is not in the CSV header"),
            "{err}"
        );
    }

    #[test]
    fn schemas_refuse_typos_and_duplicates() {
        let err = Schema::from_toml("[[columns]]\nname = \"a\"\ntype = \"integr\"\n", "s.toml")
            .unwrap_err();
        assert!(err.to_string().starts_with("s.toml: schema:"), "{err}");
        let err = Schema::from_toml(
            "[[columns]]\nname = \"a\"\ntype = \"integer\"\nbitz = 3\n",
            "s.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bitz"), "{err}");
        let err = Schema::from_toml("[[columns]]\nname = \"a\"\ntype = \"identifier\"\n[[columns]]\nname = \"a\"\ntype = \"identifier\"\n", "s.toml").unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }
}
