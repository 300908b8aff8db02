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

use super::{SettlementError, at};
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
    let amounts = Secret::concat(&amount_parts).map_err(at("amounts"))?;
    let amount_bits = amounts.bits();
    // Debits: each firm's rows summed (linear).
    let mut debit = vec![Fr::zero(); firms];
    for k in books {
        debit[k.payer] += k.amount.shares().iter().copied().sum::<Fr>();
    }
    let max_rows = rows.iter().copied().max().unwrap_or(0);
    let debits = Secret::from_facts(
        debit,
        mpc::share::Meta {
            bits: amount_bits + log2_ceil(max_rows),
            frac: 0,
            boolean: false,
        },
    )
    .map_err(at("debits"))?;
    if total == 0 {
        return Ok(Gross {
            owed: vec![Fr::zero(); firms * firms],
            owed_bits: 0,
            debits,
            signs: amounts,
            sign_counts: rows.iter().map(|&n| (n, true)).collect(),
        });
    }

    // 1. Per row, d random bits for the one-hot and a masking integer for the rest.
    let domain = books.iter().map(|k| k.domain).max().unwrap_or(1);
    let d = log2_ceil(domain).max(2) as usize;
    let (lo, hi) = (d.div_ceil(2), d / 2);
    let random = b
        .random_bits(total * d)
        .await
        .map_err(at("random bits"))?
        .into_shares();
    let bit = |row: usize, k: usize| random[row * d + k];
    let powers: Vec<Fr> = (0..d as u32).map(Fr::pow2).collect();
    let masks = b
        .random_masks(total, STAT_SECURITY + 1)
        .await
        .map_err(at("random masks"))?;
    let mask_bits = masks.bits() + d as u32;
    let masks = masks.into_shares();

    // 2. One opening: the masked payees, and every row's payer minus the owner's position.
    let mut opened = Vec::with_capacity(2 * total);
    let mut row = 0;
    let shift = Fr::pow2(d as u32);
    for k in books {
        for &x in k.payee.shares() {
            let r_low: Fr = (0..d).map(|j| bit(row, j) * powers[j]).sum();
            opened.push(x + r_low + shift * masks[row]);
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
    let payee_bits = books.iter().map(|k| k.payee.bits()).max().unwrap_or(0);
    let payer_bits = books
        .iter()
        .map(|k| k.payer_column.bits())
        .max()
        .unwrap_or(0);
    let masked = Secret::from_facts(
        opened,
        mpc::share::Meta {
            bits: mask_bits.max(payee_bits).max(payer_bits) + 2,
            frac: 0,
            boolean: false,
        },
    )
    .map_err(at("masked payees"))?;
    let opened = b.open(&masked).await.map_err(at("masked payees"))?;
    let (masked, payer_checks) = opened.split_at(total);
    let mut first = 0;
    for (k, &n) in books.iter().zip(&rows) {
        if let Some(r) = payer_checks[first..first + n].iter().position(|&v| v != 0) {
            return Err(SettlementError::PayerNotOwner {
                firm: k.name.to_string(),
                row: r + 1,
            });
        }
        first += n;
    }
    let modulus = 1i128 << d;
    let residues: Vec<usize> = masked
        .iter()
        .map(|&c| c.rem_euclid(modulus) as usize)
        .collect();

    // 3. One-hot vectors of r_low's low and high halves, then a · H.
    let group = |range: std::ops::Range<usize>| -> Vec<Vec<Fr>> {
        range
            .map(|k| (0..total).map(|r| bit(r, k)).collect())
            .collect()
    };
    let halves = super::onehot::unit_vectors(b, &[group(0..lo), group(lo..d)], total)
        .await
        .map_err(at("one-hot vectors"))?;
    let (low, high) = (&halves[0], &halves[1]);
    let (nl, nh) = (1usize << lo, 1usize << hi);
    let repeated: Vec<Fr> = amounts
        .shares()
        .iter()
        .flat_map(|&a| std::iter::repeat_n(a, nh))
        .collect();
    let weighted_high = b
        .mul(
            &Secret::from_facts(repeated, amounts.facts()).map_err(at("a · H"))?,
            &Secret::from_bit_shares(high.clone()),
        )
        .await
        .map_err(at("a · H"))?;
    let ah_facts = weighted_high.facts();
    let ah = weighted_high.into_shares();

    // 4. The dot products, CHUNK rows at a time per (payer, payee).
    let chunk = CHUNK.min(max_rows).max(1);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut first = 0;
    for (k, &n) in books.iter().zip(&rows) {
        for &(_, position) in &k.targets {
            for start in (0..n).step_by(chunk) {
                for slot in 0..chunk {
                    let r = start + slot;
                    if r < n {
                        let i = first + r;
                        let v = (residues[i] as i128 - position as i128).rem_euclid(modulus);
                        let v = v as usize;
                        left.push(low[i * nl + (v & (nl - 1))]);
                        right.push(ah[i * nh + (v >> lo)]);
                    } else {
                        left.push(Fr::zero());
                        right.push(Fr::zero());
                    }
                }
            }
        }
        first += n;
    }
    let sums = b
        .dot(
            &Secret::from_bit_shares(left),
            &Secret::from_facts(right, ah_facts).map_err(at("gross obligations"))?,
            chunk,
        )
        .await
        .map_err(at("gross obligations"))?;
    let chunk_bits = sums.bits();
    let sums = sums.into_shares();
    let mut owed = vec![Fr::zero(); firms * firms];
    let mut at_sum = 0;
    for (k, &n) in books.iter().zip(&rows) {
        let chunks = n.div_ceil(chunk);
        for &(j, _) in &k.targets {
            let total: Fr = sums[at_sum..at_sum + chunks].iter().copied().sum();
            owed[k.payer * firms + j] += total;
            at_sum += chunks;
        }
    }
    let owed_bits = chunk_bits + log2_ceil(max_rows.div_ceil(chunk));
    let (mut signs, mut sign_counts) = (Vec::new(), Vec::new());
    let mut first = 0;
    for (k, &n) in books.iter().zip(&rows) {
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
            bits: owed_bits.max(amount_bits),
            frac: 0,
            boolean: false,
        },
    )
    .map_err(at("gross obligations"))?;
    Ok(Gross {
        owed,
        owed_bits,
        debits,
        signs,
        sign_counts,
    })
}
