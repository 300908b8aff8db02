//! The comparison `[a < 0]` with edaBits and daBits from PRSS keys, its bit-level work in the
//! binary domain (GF(2^8), one byte a share): [`Randomness::Prss`](super::Randomness).
//!
//! Escudero, Ghosh, Keller, Rachuri, Scholl, CRYPTO 2020, "Improved primitives for MPC over
//! mixed arithmetic-binary circuits": an *edaBit* is a random value shared in the arithmetic
//! field together with its bits shared in the binary domain, and a comparison masks its operand
//! with an edaBit, opens it, and runs the bit circuit on binary shares (the masked opening of
//! Catrina, de Hoogh 2010); a *daBit* (Rotaru, Wood, INDOCRYPT 2019, "MArBled circuits") is one
//! random bit shared in both domains.
//! Their edaBits come from parties' inputs summed by a binary adder; here the summands are
//! CDI's replicated PRSS terms (`super::prss`), which need no input round at all: for every
//! key set `A`, `v_A < 2^(m + 41)` is known to the members of `A`, its arithmetic sharing and
//! the sharings of its bits are local, and the edaBit is `r = Σ_A v_A`.
//!
//! For `a` in `[-2^m, 2^m)`: open `c = a + 2^m + Σ_A v_A` (one field element a party; a
//! coalition of `t` misses one `v_A`, uniform below `2^(m+41)`, which hides `a + 2^m < 2^(m+1)`
//! up to `2^-40`). As integers, `a + 2^m = c - Σ_A v_A`, so modulo `2^(m+1)`:
//! `a + 2^m ≡ c + C + Σ_A ~y_A`, with `y_A = v_A mod 2^(m+1)`, `~` the complement on `m + 1`
//! bits and `C = C(n, t)` the number of terms; and `[a >= 0]` is bit `m` of that sum. The
//! binary circuit adds the `C + 1` operands (`c + C` public) with carry-save layers (a full
//! adder's carry `maj(x, y, z) = ((x ⊕ z)(y ⊕ z)) ⊕ z` is one AND), then the carry into bit `m`
//! of the last two by a generate/propagate reduction tree. The result bit `u` leaves the binary
//! domain through a daBit `b` (`b = XOR_A b_A`: binary shares local, arithmetic shares by a
//! tree of field multiplications): open `u ⊕ b` in binary, and `[a < 0] = 1 - (u ⊕ b ⊕ b)`,
//! linear in `[b]`.
//!
//! **Under the malicious level** ([`super::SecurityLevel::Malicious`]) the same path runs, with
//! every AND checked. Why that suffices:
//! - *The edaBit and daBit are consistent across domains.* Once the keys are confirmed
//!   (`Engine::confirm_prss_keys`), every honest member of key set `A` computes the same
//!   `v_A` (and daBit term `b_A`) from `k_A` and holds `v_A f_A(i)` in the field and
//!   `bit_j(v_A) f_A(i)` in GF(2^8) (`prss.rs`, `edabits`/`dabits`): the honest shares of the
//!   mask and of every term's bits lie on polynomials of degree `t` whose secrets are `Σ_A v_A`
//!   and the bits of the same `v_A` — for every `n`, since at least `n − t ≥ t + 1` parties are
//!   honest and each computes its own shares. A corrupted party knows the `v_A` of its key sets
//!   (it must, to compute) but never sends a PRSS share as such: its shares enter the protocol
//!   only through the messages built from them, resharings of products and openings, so using
//!   other values there is exactly a deviation in those messages (CDI 2005, §3, for the one
//!   key no coalition of `t` knows, which keeps the mask's secrecy).
//! - *Openings cannot be shifted.* Every opening under this level (the field's `c`, and
//!   `open_bytes`'s `u ⊕ b`) sends all `n` shares and each receiver checks them to lie on one
//!   polynomial of degree `t`; the `t + 1` honest shares fix it, so a receiver either gets the
//!   correct value or aborts ("opening consistency").
//! - *Products are secure up to additive attacks* (Genkin, Ishai, Prabhakaran, Sahai, Tromer,
//!   STOC 2014, §4; Chida et al., CRYPTO 2018, §2.3): a deviating resharing (GRR, DN07) yields
//!   `x·y + δ` with `δ` independent of the secrets. The daBit's arithmetic side is a tree of
//!   field products, recorded and checked by `verify.rs` like every other (so its two halves
//!   agree once the check passes); the binary circuit's ANDs (GRR over GF(2^8)) are recorded
//!   by `and_bytes` and checked in GF(2^64) (`verify/binary_check.rs`).
//! - *When the checks run.* An additive error `d ∉ {0, 1}` in an AND, carried by later ANDs,
//!   can make `u = u_true + d·y` for a secret bit `y`, and `u ⊕ b` would then show `y` in a
//!   high bit (the daBit masks only the low one); likewise a field error multiplied by a
//!   secret can push `a` far out of the mask's range. So [`Engine::verify`] runs twice a
//!   batch: after the daBit's tree, before `c` is opened (the products behind `a` and the
//!   daBit), and after the circuit, before `u ⊕ b` is opened (its ANDs). What is then opened
//!   is the honest `c` and a uniform bit; the result `[a < 0]` is linear in the checked `[b]`.
//!
//!   Cost over the semi-honest path: two checks a batch (`2L + 5` rounds each under GRR for
//!   the ANDs, see `binary_check.rs`) and about six GF(2^64) products an AND.
//!   Tests: `mpc/tests/malicious.rs` (`edabits_comparisons_under_malicious_equal_clear`,
//!   `cheating_on_edabits_comparisons_aborts`, `cheating_under_prss_aborts`).
//!
//! Cost at `n = 3, t = 1`, `m = 32`: one field opening, three field products (the daBit's XOR
//! tree, 2 levels), `(C - 1) m + m + 2m` binary ANDs (two carry-save layers, the generates and
//! the tree) and one binary opening. Rounds: the daBit tree, the opening, the carry-save layers,
//! one for the generates, `ceil(log2 m)` for the tree, and the binary opening.

use super::Engine;
use super::compare::{carry_combine, carry_products};
use crate::error::{MpcError, Result};
use crate::field::Field;
use crate::net::Network;
use crate::share::{STAT_SECURITY, Shared, check_bits};

use super::prss::{self, Prss};

impl<N: Network, F: Field> Engine<N, F> {
    /// Whether this session makes its randomness with PRSS (asked for, and `C(n, t)` small
    /// enough).
    pub(crate) fn prss_on(&self) -> bool {
        self.config.randomness == super::Randomness::Prss && prss::supported(self.params)
    }

    /// The PRSS keys, set up by one round on first use: the first member of every key set draws
    /// its key and sends it to the other members (see [`super::prss`]).
    pub(crate) async fn prss(&mut self) -> Result<&mut Prss<F>> {
        if self.prss.is_none() {
            let (n, t) = (self.params.n(), self.params.t());
            let me = self.me.index();
            let sets = prss::unqualified_sets(n, t);
            let round = self.next_round();
            let mut keys: Vec<Option<[u8; 32]>> = vec![None; sets.len()];
            let mut outgoing: Vec<Vec<u8>> = vec![Vec::new(); n];
            for (s, set) in sets.iter().enumerate() {
                if prss::leader(set, n) == me {
                    let mut key = [0u8; 32];
                    rand::RngCore::fill_bytes(&mut self.rng, &mut key);
                    for p in (0..n).filter(|&p| p != me && !set.contains(&p)) {
                        outgoing[p].extend_from_slice(&key);
                    }
                    keys[s] = Some(key);
                }
            }
            for p in self.others() {
                let bytes = bytes::Bytes::from(std::mem::take(&mut outgoing[p.index()]));
                self.net.send(p, round, bytes)?;
            }
            for p in self.others() {
                let from_p: Vec<usize> = (0..sets.len())
                    .filter(|&s| prss::leader(&sets[s], n) == p.index() && !sets[s].contains(&me))
                    .collect();
                let bytes = self.net.recv(p, round).await?;
                if bytes.len() != 32 * from_p.len() {
                    return Err(MpcError::Malformed {
                        from: p,
                        reason: format!(
                            "expected {} PRSS keys ({} bytes), got {} bytes",
                            from_p.len(),
                            32 * from_p.len(),
                            bytes.len()
                        ),
                    });
                }
                for (s, key) in from_p.into_iter().zip(bytes.chunks_exact(32)) {
                    keys[s] = Some(key.try_into().expect("32-byte chunks"));
                }
            }
            if self.malicious() {
                self.confirm_prss_keys(&sets, &keys).await?;
            }
            self.prss = Some(Prss::new(self.params, self.me, keys));
        }
        Ok(self.prss.as_mut().expect("set up above"))
    }

    /// Under the malicious level, every two members of a key set confirm that they hold the
    /// same key: one round, once per session, in which each party sends every other party a
    /// SHA-256 digest of the keys the two share. A leader that sent different keys to
    /// different members is caught here (see [`super::prss`]'s module doc); a member that
    /// lies about its digest can only make the session abort.
    async fn confirm_prss_keys(
        &mut self,
        sets: &[Vec<usize>],
        keys: &[Option<[u8; 32]>],
    ) -> Result<()> {
        use sha2::{Digest, Sha256};
        let round = self.next_round();
        let shared_with = |p: usize| -> [u8; 32] {
            let mut hash = Sha256::new();
            hash.update(b"quorate prss key confirmation v1");
            for (set, key) in sets.iter().zip(keys) {
                if let (false, Some(key)) = (set.contains(&p), key) {
                    hash.update(key);
                }
            }
            hash.finalize().into()
        };
        for p in self.others() {
            let digest = shared_with(p.index());
            self.net
                .send(p, round, bytes::Bytes::copy_from_slice(&digest))?;
        }
        let mut mismatch = false;
        for p in self.others() {
            let bytes = self.net.recv(p, round).await?;
            mismatch |= bytes[..] != shared_with(p.index())[..];
        }
        match mismatch {
            false => Ok(()),
            true => Err(MpcError::IntegrityCheckFailed {
                check: "PRSS keys (two members of a key set hold different keys)",
                parties: Vec::new(),
            }),
        }
    }

    /// `[a < 0]` element-wise, for `a` with bound `m = a.bits() >= 1` (see the module doc). A
    /// batch longer than [`ltz_chunk`] runs in chunks of that size, one after the other (each
    /// with the rounds of a whole batch), so that the working memory stays within the engine's
    /// budget ([`COMPARISON_MEMORY`] unless a test sets another) whatever the batch's length.
    pub(crate) async fn ltz_edabits(&mut self, a: &Shared<F>) -> Result<Shared<F>> {
        let m = a.bits;
        check_bits("ltz", m + 1)?;
        let terms = prss::subsets(self.params.n(), self.params.t());
        let chunk = ltz_chunk(terms, m, self.comparison_memory, self.malicious());
        if a.len() <= chunk {
            return self.ltz_edabits_batch(a).await;
        }
        let mut shares = Vec::with_capacity(a.len());
        for lo in (0..a.len()).step_by(chunk) {
            let part = a.slice(lo..(lo + chunk).min(a.len()));
            shares.extend(self.ltz_edabits_batch(&part).await?.shares);
        }
        Ok(Shared::from_bit_shares(shares))
    }

    async fn ltz_edabits_batch(&mut self, a: &Shared<F>) -> Result<Shared<F>> {
        let m = a.bits;
        let len = a.len();
        let w = m as usize + 1;
        let prss = self.prss().await?;
        let terms = prss.terms();
        let (mask, operands) = prss.edabits(len, m + 1, STAT_SECURITY);
        let (dabit_binary, dabit_terms) = prss.dabits(len);
        let dabit = self.xor_tree(dabit_terms).await?;
        // Under the malicious level, `a`'s products and the daBit's are checked before `c`
        // is opened (`open_masked`), the ANDs before `u ⊕ b` is (`open_bytes`; see the module
        // doc); no-ops otherwise.
        let offset = F::pow2(m);
        let masked: Vec<F> = (0..len).map(|e| a.shares[e] + offset + mask[e]).collect();
        let c = self.open_masked(&masked).await?;

        // The public operand c + C mod 2^(m+1), as constant binary shares, and the complements.
        let mut ops: Vec<Vec<u8>> = Vec::with_capacity(terms + 1);
        let mut public = vec![0u8; len * w];
        for e in 0..len {
            let limbs = c[e].to_canonical_limbs();
            let (sum, _) = add_small(limbs, terms as u64);
            for i in 0..w {
                public[e * w + i] = ((sum[i / 64] >> (i % 64)) & 1) as u8;
            }
        }
        ops.push(public);
        for mut y in operands {
            y.iter_mut().for_each(|b| *b ^= 1);
            ops.push(y);
        }
        let u = self.top_bit_of_sum(ops, w).await?;
        let masked_u: Vec<u8> = u.iter().zip(&dabit_binary).map(|(&x, &y)| x ^ y).collect();
        let opened = self.open_bytes(&masked_u).await?; // after the check (`open_bytes`)
        // u = e xor b; [a < 0] = 1 - u = e ? b : 1 - b.
        let shares = opened
            .iter()
            .zip(&dabit)
            .map(|(&e, &b)| if e { b } else { F::one() - b })
            .collect();
        Ok(Shared::from_bit_shares(shares))
    }

    /// Bit `w - 1` of the sum of the operands (binary shares, `w` bits an element,
    /// element-major), modulo `2^w`: carry-save layers down to two operands, then the carry
    /// into the top bit by a reduction tree.
    async fn top_bit_of_sum(&mut self, mut ops: Vec<Vec<u8>>, w: usize) -> Result<Vec<u8>> {
        let len = ops.first().map_or(0, |o| o.len() / w);
        while ops.len() > 2 {
            let triples = ops.len() / 3;
            let rest = ops.split_off(3 * triples);
            // One AND per bit below the top: maj(x, y, z) = ((x ^ z) & (y ^ z)) ^ z.
            let below = w - 1;
            let mut xs = Vec::with_capacity(triples * len * below);
            let mut ys = Vec::with_capacity(triples * len * below);
            for tr in ops.chunks_exact(3) {
                let (x, y, z) = (&tr[0], &tr[1], &tr[2]);
                for ((xe, ye), ze) in x
                    .chunks_exact(w)
                    .zip(y.chunks_exact(w))
                    .zip(z.chunks_exact(w))
                {
                    xs.extend(xe[..below].iter().zip(&ze[..below]).map(|(a, b)| a ^ b));
                    ys.extend(ye[..below].iter().zip(&ze[..below]).map(|(a, b)| a ^ b));
                }
            }
            let prods = self.and_bytes(&xs, &ys).await?;
            let mut next = Vec::with_capacity(2 * triples + rest.len());
            for (tr, prods) in ops.chunks_exact(3).zip(prods.chunks_exact(len * below)) {
                let (x, y, z) = (&tr[0], &tr[1], &tr[2]);
                let sum: Vec<u8> = x
                    .iter()
                    .zip(y)
                    .zip(z)
                    .map(|((a, b), c)| a ^ b ^ c)
                    .collect();
                // The carry out of bit i lands at bit i + 1; bit 0 gets none.
                let mut carry = vec![0u8; len * w];
                for ((ce, pe), ze) in carry
                    .chunks_exact_mut(w)
                    .zip(prods.chunks_exact(below))
                    .zip(z.chunks_exact(w))
                {
                    for ((c, p), z) in ce[1..].iter_mut().zip(pe).zip(&ze[..below]) {
                        *c = p ^ z;
                    }
                }
                next.push(sum);
                next.push(carry);
            }
            next.extend(rest);
            ops = next;
        }
        let (x, y) = match ops.len() {
            2 => (&ops[0], &ops[1]),
            _ => {
                return Err(MpcError::InvalidArgument {
                    op: "ltz",
                    reason: "fewer than two operands".into(),
                });
            }
        };
        let m = w - 1;
        let mut top: Vec<u8> = (0..len).map(|e| x[e * w + m] ^ y[e * w + m]).collect();
        if m == 0 {
            return Ok(top);
        }
        let (gx, gy): (Vec<u8>, Vec<u8>) = (0..len)
            .flat_map(|e| (0..m).map(move |i| (x[e * w + i], y[e * w + i])))
            .unzip();
        let g = self.and_bytes(&gx, &gy).await?;
        let p: Vec<u8> = gx.iter().zip(&gy).map(|(&a, &b)| a ^ b).collect();
        let carry = self.carry_out_bytes(g, p, m).await?;
        for (t, c) in top.iter_mut().zip(carry) {
            *t ^= c;
        }
        Ok(top)
    }

    /// Carry out of each element's `m` (generate, propagate) pairs in the binary domain
    /// (element-major, least significant first), by a reduction tree: `ceil(log2 m)` rounds.
    async fn carry_out_bytes(
        &mut self,
        mut g: Vec<u8>,
        mut p: Vec<u8>,
        m: usize,
    ) -> Result<Vec<u8>> {
        let len = g.len().checked_div(m).unwrap_or(0);
        let mut segs = m;
        while segs > 1 {
            let (xs, ys) = carry_products(&g, &p, segs, len);
            let prods = self.and_bytes(&xs, &ys).await?;
            (g, p) = carry_combine(&g, &p, prods, segs, len, 0, |a, b| a ^ b);
            segs -= segs / 2;
        }
        Ok(g)
    }
}

/// Working memory a party's edaBits comparison may hold at once, in bytes: 256 MiB.
pub(crate) const COMPARISON_MEMORY: usize = 256 << 20;

/// The longest batch an edaBits comparison of `m`-bit values over `terms` PRSS terms runs at
/// once within `budget` bytes: per element, about four copies of the binary operands
/// (`(terms + 1)(m + 1)` bytes: operands, the carry-save inputs, products and outputs), three of
/// the daBit terms (`32 terms` bytes) and eight field elements; when `checked` (malicious), also
/// the ANDs' record and their check (about `(terms + 2)(m + 1)` ANDs of 19 bytes each).
pub(crate) fn ltz_chunk(terms: usize, m: u32, budget: usize, checked: bool) -> usize {
    let mut per_element = 4 * (terms + 1) * (m as usize + 1) + 3 * 32 * terms + 8 * 32;
    if checked {
        per_element += 19 * (terms + 2) * (m as usize + 1);
    }
    (budget / per_element).max(1)
}

/// `limbs + v` on 256 bits (the caller keeps only low bits).
pub(crate) fn add_small(limbs: [u64; 4], v: u64) -> ([u64; 4], bool) {
    let mut out = limbs;
    let mut carry = v;
    for l in out.iter_mut() {
        let (s, c) = l.overflowing_add(carry);
        *l = s;
        carry = c as u64;
        if carry == 0 {
            break;
        }
    }
    (out, carry != 0)
}
