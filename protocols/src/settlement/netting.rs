//! Gross bilateral obligations, secretly: for every payer firm `p` and payee firm `j`, the total
//! `C[p][j]` that `p` owes `j`, and every firm's total debit `D[p]`, from rows whose payee is a
//! secret categorical index. Everything after this step is linear in `C` and `D`.
//!
//! The payee's one-hot vector comes from a random one-hot and one opening, not from equality
//! tests (which would cost one comparison per row and firm: 10^6 for 10^4 rows and 100 firms):
//! 1. `d` random bits per row give `r_low`, uniform in `[0, 2^d)` (`2^d` at least the payee
//!    domain), and a masking integer `r_high` of 41 bits ([`Backend::random_masks`]) gives
//!    `r = r_low + 2^d r_high`;
//! 2. open `c = payee + r`; its residue `s = c mod 2^d = (payee + r_low) mod 2^d` is uniform
//!    whatever the payee, and the rest of `c` is masked by `r_high` (statistical distance
//!    `2^-40`: the same masking as the engine's comparisons);
//! 3. then `[payee = t] = [r_low = (s - t) mod 2^d]`: a public rotation of the one-hot vector of
//!    `r_low`'s bits. That vector is the outer product of a low half `L` and a high half `H`
//!    ([`super::onehot`]), and the amount is multiplied into the smaller half (`aH = a · H`), so
//!    `a · [payee = t] = L[k_low] · aH[k_high]` with `k = (s - t) mod 2^d`;
//! 4. `C[p][j] = sum over p's rows of L[..] · aH[..]`: one [`Backend::dot`] per (payer, payee,
//!    chunk of rows), so the whole matrix costs one multiplication round and one degree
//!    reduction per (payer, payee, chunk), however many rows.
//!
//! The same opening checks that every row's payer column holds the uploading owner: it opens
//! `payer - position of the owner`, all zeros for honest input.
//!
//! Rounds: random bits, masks, one opening, `ceil(log2(d/2))` levels of products, `a · H`, the dot
//! products: constant in the number of rows.

use mpc::share::STAT_SECURITY;
use mpc::{Field, Fr};

use super::{SettlementError, in_step};
use crate::backend::{Backend, Secret};

/// One firm's obligations, as the netting needs them (at most one book per payer).
#[derive(Clone)]
pub(crate) struct Book<'a> {
    /// The payer's index among the round's firms.
    pub payer: usize,
    /// The payer's name.
    pub name: &'a str,
    /// The payer's position in the `payer` column's domain.
    pub payer_position: usize,
    /// Firms that appear in the `payee` domain: (firm index, domain position).
    pub targets: Vec<(usize, usize)>,
    /// The size of the `payee` domain.
    pub domain: usize,
    /// The `payer` column.
    pub payer_column: &'a Secret,
    /// The `payee` column (domain positions).
    pub payee: &'a Secret,
    /// The `amount` column.
    pub amount: &'a Secret,
}

/// The gross obligations of a round.
pub(crate) struct Gross {
    /// `owed[p * firms + j]`: what firm `p` owes firm `j` in total.
    pub owed: Vec<Fr>,
    /// The bound of every `owed` entry, in bits.
    pub owed_bits: u32,
    /// Every firm's total debit (its rows' amounts summed), one per firm.
    pub debits: Secret,
    /// Values that must not be negative, books in order: per book, its rows' amounts, or,
    /// when its payee domain is smaller than its rows, what it owes each other firm in total
    /// (whichever is fewer; see [`super::resolve`]).
    pub signs: Secret,
    /// Per book: how many of `signs` are its own, and whether they are rows (`true`) or totals
    /// per payee (`false`).
    pub sign_counts: Vec<(usize, bool)>,
}

/// Rows summed by one degree reduction (rows of a payer are padded to a multiple).
const CHUNK: usize = 64;

fn log2_ceil(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// Computes the gross obligations between `firms` firms from their books.
pub(crate) async fn gross<B: Backend>(
    b: &mut B,
    firms: usize,
    books: &[Book<'_>],
) -> Result<Gross, SettlementError> {
    let rows: Vec<usize> = books.iter().map(|k| k.amount.len()).collect();
    let total: usize = rows.iter().sum();
    let amount_parts: Vec<&Secret> = books.iter().map(|k| k.amount).collect();
    let amounts = Secret::concat(&amount_parts).map_err(in_step("amounts"))?;
    let debits = debits(firms, books, &amounts)?;
    if total == 0 {
        return Ok(Gross {
            owed: vec![Fr::zero(); firms * firms],
            owed_bits: 0,
            debits,
            signs: amounts,
            sign_counts: rows.iter().map(|&n| (n, true)).collect(),
        });
    }
    let domain = books.iter().map(|k| k.domain).max().unwrap_or(1);
    let masks = RowMasks::draw(b, domain, total).await?;
    let residues = open_masked_payees(b, books, &masks).await?;
    let payee = PayeeOneHot::compute(b, &masks, &amounts).await?;
    let (owed, owed_bits) = obligations(b, firms, books, &masks, &residues, &payee).await?;
    let (signs, sign_counts) = signs(firms, books, &amounts, &owed, owed_bits)?;
    Ok(Gross {
        owed,
        owed_bits,
        debits,
        signs,
        sign_counts,
    })
}

/// Every firm's total debit: its rows' amounts summed, locally (no round).
fn debits(firms: usize, books: &[Book<'_>], amounts: &Secret) -> Result<Secret, SettlementError> {
    let mut debit = vec![Fr::zero(); firms];
    for k in books {
        debit[k.payer] += k.amount.shares().iter().copied().sum::<Fr>();
    }
    Secret::from_facts(
        debit,
        mpc::share::Meta {
            bits: amounts.bits() + log2_ceil(max_rows(books)),
            frac: 0,
            boolean: false,
        },
    )
    .map_err(in_step("debits"))
}

/// The most rows of one book.
fn max_rows(books: &[Book<'_>]) -> usize {
    books.iter().map(|k| k.amount.len()).max().unwrap_or(0)
}

/// Step 1's randomness: per row, `d` random bits giving `r_low` and a masking integer
/// `r_high`, so that `r = r_low + 2^d r_high` (two calls: random bits, random masks).
struct RowMasks {
    /// `d`, at least 2, with `2^d` at least the payee domain.
    width: usize,
    /// `r_low`'s bits, row-major: bit `k` of row `i` at `i * d + k`.
    bits: Vec<Fr>,
    /// `r_high` per row.
    high: Vec<Fr>,
    /// The bound of `2^d r_high`, in bits.
    high_bits: u32,
    /// The rows of every book.
    rows: usize,
    /// `2^k` for `k < d`.
    powers: Vec<Fr>,
    /// `2^d`.
    shift: Fr,
}

impl RowMasks {
    async fn draw<B: Backend>(
        b: &mut B,
        domain: usize,
        rows: usize,
    ) -> Result<RowMasks, SettlementError> {
        let width = log2_ceil(domain).max(2) as usize;
        let bits = b
            .random_bits(rows * width)
            .await
            .map_err(in_step("random bits"))?
            .into_shares();
        let masks = b
            .random_masks(rows, STAT_SECURITY + 1)
            .await
            .map_err(in_step("random masks"))?;
        Ok(RowMasks {
            width,
            bits,
            high_bits: masks.bits() + width as u32,
            high: masks.into_shares(),
            rows,
            powers: (0..width as u32).map(Fr::pow2).collect(),
            shift: Fr::pow2(width as u32),
        })
    }

    /// Bit `k` of `r_low` on `row`.
    fn bit(&self, row: usize, k: usize) -> Fr {
        self.bits[row * self.width + k]
    }

    /// `r = r_low + 2^d r_high` on `row`.
    fn mask(&self, row: usize) -> Fr {
        let r_low: Fr = (0..self.width)
            .map(|j| self.bit(row, j) * self.powers[j])
            .sum();
        r_low + self.shift * self.high[row]
    }

    /// `2^d`.
    fn modulus(&self) -> i128 {
        1i128 << self.width
    }

    /// The bits `range` of `r_low`, one batch over the rows per bit.
    fn bit_batches(&self, range: std::ops::Range<usize>) -> Vec<Vec<Fr>> {
        range
            .map(|k| (0..self.rows).map(|r| self.bit(r, k)).collect())
            .collect()
    }
}

/// Step 2, one opening: `c = payee + r` per row, books in order, whose residues
/// `s = c mod 2^d` it returns; and every row's payer minus its owner's position, which must
/// be 0 ([`SettlementError::PayerNotOwner`] naming the firm and row otherwise).
async fn open_masked_payees<B: Backend>(
    b: &mut B,
    books: &[Book<'_>],
    masks: &RowMasks,
) -> Result<Vec<usize>, SettlementError> {
    let total = masks.rows;
    let mut opened = Vec::with_capacity(2 * total);
    let mut row = 0;
    for k in books {
        for &x in k.payee.shares() {
            opened.push(x + masks.mask(row));
            row += 1;
        }
    }
    let owner_position = |k: &Book| Fr::from_u128(k.payer_position as u128);
    for k in books {
        opened.extend(
            k.payer_column
                .shares()
                .iter()
                .map(|&p| p - owner_position(k)),
        );
    }
    let widest = |column: fn(&Book<'_>) -> u32| books.iter().map(column).max().unwrap_or(0);
    let payee_bits = widest(|k| k.payee.bits());
    let payer_bits = widest(|k| k.payer_column.bits());
    let masked = Secret::from_facts(
        opened,
        mpc::share::Meta {
            bits: masks.high_bits.max(payee_bits).max(payer_bits) + 2,
            frac: 0,
            boolean: false,
        },
    )
    .map_err(in_step("masked payees"))?;
    let opened = b.open(&masked).await.map_err(in_step("masked payees"))?;
    let (masked, payer_checks) = opened.split_at(total);
    check_payers(books, payer_checks)?;
    let modulus = masks.modulus();
    Ok(masked
        .iter()
        .map(|&c| c.rem_euclid(modulus) as usize)
        .collect())
}

/// Refuses the first book with a row whose opened `payer - owner position` is not 0.
fn check_payers(books: &[Book<'_>], payer_checks: &[i128]) -> Result<(), SettlementError> {
    let mut first = 0;
    for k in books {
        let n = k.amount.len();
        if let Some(r) = payer_checks[first..first + n].iter().position(|&v| v != 0) {
            return Err(SettlementError::PayerNotOwner {
                firm: k.name.to_string(),
                row: r + 1,
            });
        }
        first += n;
    }
    Ok(())
}

/// Step 3's one-hot vectors of `r_low`: its low half `L` ([`super::onehot`]) and its high half
/// `H` multiplied by each row's amount, `aH` (one call per level of the halves, then one
/// `mul`).
struct PayeeOneHot {
    /// `L`, row-major: `2^lo` entries per row.
    low: Vec<Fr>,
    /// `aH`, row-major: `2^hi` entries per row.
    weighted_high: Vec<Fr>,
    /// The bounds of `aH`.
    weighted_facts: mpc::share::Meta,
    /// `lo = ceil(d / 2)`: the bits of the low half.
    low_bits: usize,
    /// `hi = floor(d / 2)`: the bits of the high half.
    high_bits: usize,
}

impl PayeeOneHot {
    async fn compute<B: Backend>(
        b: &mut B,
        masks: &RowMasks,
        amounts: &Secret,
    ) -> Result<PayeeOneHot, SettlementError> {
        let d = masks.width;
        let (low_bits, high_bits) = (d.div_ceil(2), d / 2);
        let halves = super::onehot::unit_vectors(
            b,
            &[
                masks.bit_batches(0..low_bits),
                masks.bit_batches(low_bits..d),
            ],
            masks.rows,
        )
        .await
        .map_err(in_step("one-hot vectors"))?;
        let [low, high]: [Vec<Fr>; 2] = halves.try_into().expect("two halves");
        let repeated: Vec<Fr> = amounts
            .shares()
            .iter()
            .flat_map(|&a| std::iter::repeat_n(a, 1usize << high_bits))
            .collect();
        let weighted_high = b
            .mul(
                &Secret::from_facts(repeated, amounts.facts()).map_err(in_step("a · H"))?,
                &Secret::from_bit_shares(high),
            )
            .await
            .map_err(in_step("a · H"))?;
        Ok(PayeeOneHot {
            low,
            weighted_facts: weighted_high.facts(),
            weighted_high: weighted_high.into_shares(),
            low_bits,
            high_bits,
        })
    }

    /// `L[k_low]` and `aH[k_high]` on `row` for `k = (s - position) mod 2^d`: their product
    /// is `a · [payee = position]`.
    fn factors(&self, row: usize, k: usize) -> (Fr, Fr) {
        let (nl, nh) = (1usize << self.low_bits, 1usize << self.high_bits);
        (
            self.low[row * nl + (k & (nl - 1))],
            self.weighted_high[row * nh + (k >> self.low_bits)],
        )
    }
}

/// Step 4: `C[p][j]` for every book's payer `p` and target `j`, from one `dot` over chunks of
/// `CHUNK` rows per (payer, payee) (one multiplication round and one degree reduction each),
/// the chunks' sums then added locally; and the bound of every entry, in bits.
async fn obligations<B: Backend>(
    b: &mut B,
    firms: usize,
    books: &[Book<'_>],
    masks: &RowMasks,
    residues: &[usize],
    payee: &PayeeOneHot,
) -> Result<(Vec<Fr>, u32), SettlementError> {
    let max_rows = max_rows(books);
    let chunk = CHUNK.min(max_rows).max(1);
    let modulus = masks.modulus();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut first = 0;
    for k in books {
        let n = k.amount.len();
        for &(_, position) in &k.targets {
            for start in (0..n).step_by(chunk) {
                for r in start..start + chunk {
                    let (l, h) = if r < n {
                        let i = first + r;
                        let v = (residues[i] as i128 - position as i128).rem_euclid(modulus);
                        payee.factors(i, v as usize)
                    } else {
                        (Fr::zero(), Fr::zero())
                    };
                    left.push(l);
                    right.push(h);
                }
            }
        }
        first += n;
    }
    let sums = b
        .dot(
            &Secret::from_bit_shares(left),
            &Secret::from_facts(right, payee.weighted_facts)
                .map_err(in_step("gross obligations"))?,
            chunk,
        )
        .await
        .map_err(in_step("gross obligations"))?;
    let chunk_bits = sums.bits();
    let sums = sums.into_shares();
    let mut owed = vec![Fr::zero(); firms * firms];
    let mut at_sum = 0;
    for k in books {
        let chunks = k.amount.len().div_ceil(chunk);
        for &(j, _) in &k.targets {
            let total: Fr = sums[at_sum..at_sum + chunks].iter().copied().sum();
            owed[k.payer * firms + j] += total;
            at_sum += chunks;
        }
    }
    Ok((owed, chunk_bits + log2_ceil(max_rows.div_ceil(chunk))))
}

/// [`Gross::signs`] and [`Gross::sign_counts`]: per book, its rows' amounts or its totals per
/// other payee, whichever are fewer.
fn signs(
    firms: usize,
    books: &[Book<'_>],
    amounts: &Secret,
    owed: &[Fr],
    owed_bits: u32,
) -> Result<(Secret, Vec<(usize, bool)>), SettlementError> {
    let (mut signs, mut sign_counts) = (Vec::new(), Vec::new());
    let mut first = 0;
    for k in books {
        let n = k.amount.len();
        let payees: Vec<usize> = k
            .targets
            .iter()
            .map(|&(j, _)| j)
            .filter(|&j| j != k.payer)
            .collect();
        if n <= payees.len() {
            signs.extend_from_slice(&amounts.shares()[first..first + n]);
            sign_counts.push((n, true));
        } else {
            signs.extend(payees.iter().map(|&j| owed[k.payer * firms + j]));
            sign_counts.push((payees.len(), false));
        }
        first += n;
    }
    let signs = Secret::from_facts(
        signs,
        mpc::share::Meta {
            bits: owed_bits.max(amounts.bits()),
            frac: 0,
            boolean: false,
        },
    )
    .map_err(in_step("gross obligations"))?;
    Ok((signs, sign_counts))
}
