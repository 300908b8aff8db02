//! The scan over the rows that computes a [`Plan`]'s masked sums ([`scan`]).
//!
//! The scan is the only part whose work grows with the rows, and its rounds do not (per chunk
//! of rows: [`super::stream`] runs it chunk by chunk within a memory budget):
//! 1. one `lt` call for every order comparison of the `WHERE` clause (each `x op k` becomes
//!    `x < k'` or its negation on integers) and every histogram bound, one `eq` call for every
//!    equality, and the one-hot encoding of the `GROUP BY` column (`[g = j]` for each value `j`
//!    of its domain): one [`Backend::one_hot`] call in the binary domain by default
//!    ([`Grouping`]), or `[g = j]` as equalities in the `eq` call;
//! 2. the predicate tree, one `mul` call per level of `AND`/`OR` (`a ∧ b = ab`,
//!    `a ∨ b = a + b - ab`, `¬a = 1 - a`);
//! 3. one `mul` call for the row weights `w · [g = j]` and the row products (`x²`, `xy`);
//! 4. one `mul` call for every (group, term) pair `Σ_i r_gi v_i`, summed locally.
//!
//! The predicate and the group of each row stay secret; every row takes part in every group's
//! sums with weight 0 or 1. What is deliberately not here: which sums a query needs
//! ([`super::plan`]), opening anything (see [`super::privacy`]) and the arithmetic on the sums
//! ([`super::aggregate`]).

use super::plan::{Plan, Term, boolean};
use super::sql::{CmpOp, Predicate, Query};
use super::{Inputs, StatsError, concat, in_step};
use crate::backend::{Backend, Secret};

/// How the scan computes the `GROUP BY` one-hot `[g = j]` (researchers compare them in
/// `stats_bench`; both exact and tested against the clear computation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Grouping {
    /// In the binary domain ([`Backend::one_hot`]): per row one decomposition by an edaBit, a
    /// demultiplexer of about `groups` GF(2^8) ANDs and one daBit per group. The default;
    /// where the backend cannot run it (no PRSS randomness: [`Backend::binary_selection`])
    /// [`Grouping::Equality`] runs.
    #[default]
    Binary,
    /// One field equality test per row and group ([`Backend::eq`]), in the `WHERE` clause's
    /// `eq` call.
    Equality,
}

/// What the scan leaves: per-group weights and sums.
pub(crate) struct Scan {
    /// Per group, the row weights `r_g = w · [group = g]` (boolean, one per row).
    pub weights: Vec<Secret>,
    /// Rows per group `n_g`.
    pub counts: Secret,
    /// Rows per group and owner, group-major (`counts_by_owner[g · owners + o]`).
    pub counts_by_owner: Secret,
    /// Per term, a batch of the groups' sums.
    pub sums: Vec<Secret>,
}

/// Runs the scan (see the module doc) over `inputs`: every row of the plan, or one chunk of
/// them ([`super::stream`]), its sums bounded as the whole scan's.
pub(crate) async fn scan<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    inputs: &Inputs,
    grouping: Grouping,
) -> Result<Scan, StatsError> {
    let rows = Rows {
        inputs,
        len: inputs.owner_rows.iter().sum(),
    };
    let mut tree = Tree {
        nodes: Vec::new(),
        leaves: Vec::new(),
    };
    let root = query.filter.as_ref().map(|p| tree.add(p));
    let comparisons = Comparisons::run(b, &rows, plan, query, &tree, grouping).await?;
    let mask = tree.evaluate(b, &rows, &comparisons, root).await?;
    let (weights, products) =
        weights_and_products(b, &rows, plan, query, &comparisons, mask).await?;
    let sums = masked_sums(b, &rows, plan, query, &comparisons, &weights, products).await?;
    let (counts, counts_by_owner) = group_counts(plan, inputs, &weights)?;
    Ok(Scan {
        weights,
        counts,
        counts_by_owner,
        sums,
    })
}

/// The rows the scan runs over: the input columns, and batches of one value per row.
struct Rows<'a> {
    inputs: &'a Inputs,
    /// The number of rows (every owner's).
    len: usize,
}

impl Rows<'_> {
    fn column(&self, c: usize) -> &Secret {
        &self.inputs.columns[c]
    }

    /// The public `v` on every row.
    fn constant<B: Backend>(&self, b: &B, v: i128) -> Result<Secret, StatsError> {
        b.constant(&vec![v; self.len]).map_err(in_step("constants"))
    }

    /// The `i`-th of the per-row batches concatenated in `v`.
    fn batch(&self, v: &Secret, i: usize) -> Secret {
        v.slice(i * self.len..(i + 1) * self.len)
    }
}

/// A node of the flattened predicate tree.
enum Node {
    Leaf(usize),
    Const(bool),
    And(usize, usize),
    Or(usize, usize),
    Not(usize),
}

/// The `WHERE` predicate flattened: nodes with their heights, children before parents.
struct Tree {
    nodes: Vec<(Node, u32)>,
    /// Leaves: (column, op, constant).
    leaves: Vec<(usize, CmpOp, i128)>,
}

impl Tree {
    fn add(&mut self, p: &Predicate) -> usize {
        let (node, height) = match p {
            Predicate::Compare { column, op, value } => {
                self.leaves.push((*column, *op, *value));
                (Node::Leaf(self.leaves.len() - 1), 0)
            }
            Predicate::Const(b) => (Node::Const(*b), 0),
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                let (a, b) = (self.add(a), self.add(b));
                let h = self.nodes[a].1.max(self.nodes[b].1) + 1;
                match p {
                    Predicate::And(..) => (Node::And(a, b), h),
                    _ => (Node::Or(a, b), h),
                }
            }
            Predicate::Not(a) => {
                let a = self.add(a);
                (Node::Not(a), self.nodes[a].1 + 1)
            }
        };
        self.nodes.push((node, height));
        self.nodes.len() - 1
    }

    /// Step 2: every row's value of the predicate rooted at `root` (none without a `WHERE`),
    /// level by level, one `mul` call per level with an `AND` or `OR`.
    async fn evaluate<B: Backend>(
        &self,
        b: &mut B,
        rows: &Rows<'_>,
        comparisons: &Comparisons,
        root: Option<usize>,
    ) -> Result<Option<Secret>, StatsError> {
        let mut value: Vec<Option<Secret>> = vec![None; self.nodes.len()];
        let top = self.nodes.iter().map(|x| x.1).max().unwrap_or(0);
        for h in 0..=top {
            let mut pending = Vec::new();
            for (i, (node, height)) in self.nodes.iter().enumerate() {
                if *height != h {
                    continue;
                }
                let v = |j: usize| value[j].clone().expect("children come first");
                value[i] = Some(match node {
                    Node::Leaf(l) => comparisons.leaf(rows, *l)?,
                    Node::Const(c) => rows.constant(b, *c as i128)?,
                    Node::Not(a) => v(*a).not().map_err(in_step("WHERE"))?,
                    Node::And(x, y) | Node::Or(x, y) => {
                        pending.push((i, v(*x), v(*y)));
                        continue;
                    }
                });
            }
            self.connectives(b, rows, pending, &mut value).await?;
        }
        Ok(root.map(|r| value[r].take().expect("the root is evaluated")))
    }

    /// One level's `AND`s and `OR`s `(node, left, right)` in one `mul` call (none for none),
    /// their values stored in `value`.
    async fn connectives<B: Backend>(
        &self,
        b: &mut B,
        rows: &Rows<'_>,
        pending: Vec<(usize, Secret, Secret)>,
        value: &mut [Option<Secret>],
    ) -> Result<(), StatsError> {
        if pending.is_empty() {
            return Ok(());
        }
        let xs: Vec<&Secret> = pending.iter().map(|p| &p.1).collect();
        let ys: Vec<&Secret> = pending.iter().map(|p| &p.2).collect();
        let prod = b
            .mul(&concat(&xs, "WHERE")?, &concat(&ys, "WHERE")?)
            .await
            .map_err(in_step("WHERE"))?;
        for (k, (i, x, y)) in pending.into_iter().enumerate() {
            let p = rows.batch(&prod, k);
            value[i] = Some(match self.nodes[i].0 {
                Node::And(..) => boolean(p),
                _ => boolean(
                    x.add(&y)
                        .and_then(|s| s.sub(&p))
                        .map_err(in_step("WHERE"))?,
                ),
            });
        }
        Ok(())
    }
}

/// Step 1's results: every row's comparisons, in one `lt` and one `eq` batch.
struct Comparisons {
    /// The `WHERE` clause's order comparisons, then the histogram bounds.
    lt: Secret,
    /// The `WHERE` clause's equalities, then the `GROUP BY` one-hot on the equality path.
    eq: Secret,
    /// The `GROUP BY` one-hot from [`Backend::one_hot`], group-major (else in `eq`).
    one_hot: Option<Secret>,
    /// Per leaf of the predicate tree: (in `eq`, index in its batch, negated).
    leaves: Vec<(bool, usize, bool)>,
    /// Per `Below` term: (its index among the plan's terms, its index in `lt`).
    below: Vec<(usize, usize)>,
    /// The index in `eq` of `[g = 0]`.
    group_at: usize,
}

impl Comparisons {
    /// Step 1: the order comparisons and histogram bounds in one `lt` call, the equalities in
    /// one `eq` call, the group one-hot in one `one_hot` call (or in the `eq` call).
    async fn run<B: Backend>(
        b: &mut B,
        rows: &Rows<'_>,
        plan: &Plan,
        query: &Query,
        tree: &Tree,
        grouping: Grouping,
    ) -> Result<Comparisons, StatsError> {
        let (mut lt_l, mut lt_r, mut eq_l, mut eq_r) = (vec![], vec![], vec![], vec![]);
        let mut leaves = Vec::new();
        for &(c, op, k) in &tree.leaves {
            let x = rows.column(c).clone();
            let (left, right, eq, negate) = match op {
                CmpOp::Eq => (x, rows.constant(b, k)?, true, false),
                CmpOp::Ne => (x, rows.constant(b, k)?, true, true),
                CmpOp::Lt => (x, rows.constant(b, k)?, false, false),
                CmpOp::Ge => (x, rows.constant(b, k)?, false, true),
                CmpOp::Le => (rows.constant(b, k)?, x, false, true),
                CmpOp::Gt => (rows.constant(b, k)?, x, false, false),
            };
            let (l, r) = if eq {
                (&mut eq_l, &mut eq_r)
            } else {
                (&mut lt_l, &mut lt_r)
            };
            leaves.push((eq, l.len(), negate));
            l.push(left);
            r.push(right);
        }
        let mut below = Vec::new();
        for (t, term) in plan.terms.iter().enumerate() {
            if let Term::Below(c, bound) = term {
                lt_l.push(rows.column(*c).clone());
                lt_r.push(rows.constant(b, *bound)?);
                below.push((t, lt_l.len() - 1));
            }
        }
        let group_at = eq_l.len();
        let binary = grouping == Grouping::Binary && b.binary_selection();
        let mut one_hot = None;
        match query.group_by {
            Some(g) if binary => {
                let hot = b.one_hot(rows.column(g), plan.groups).await;
                one_hot = Some(hot.map_err(in_step("GROUP BY one-hot"))?);
            }
            Some(g) => {
                for j in 0..plan.groups {
                    eq_l.push(rows.column(g).clone());
                    eq_r.push(rows.constant(b, j as i128)?);
                }
            }
            None => {}
        }
        Ok(Comparisons {
            lt: batch_compare(b, &lt_l, &lt_r, false).await?,
            eq: batch_compare(b, &eq_l, &eq_r, true).await?,
            one_hot,
            leaves,
            below,
            group_at,
        })
    }

    /// Every row's value of a leaf of the predicate tree.
    fn leaf(&self, rows: &Rows, leaf: usize) -> Result<Secret, StatsError> {
        let (is_eq, i, negate) = self.leaves[leaf];
        let r = rows.batch(if is_eq { &self.eq } else { &self.lt }, i);
        if negate {
            r.not().map_err(in_step("WHERE"))
        } else {
            Ok(r)
        }
    }

    /// `[x < bound]` of the plan's `term`-th term, a `Below`.
    fn below(&self, rows: &Rows, term: usize) -> Secret {
        let i = self.below.iter().find(|x| x.0 == term).expect("listed").1;
        rows.batch(&self.lt, i)
    }

    /// `[g = j]` per group `j`.
    fn one_hot(&self, rows: &Rows, groups: usize) -> Vec<Secret> {
        (0..groups)
            .map(|j| match &self.one_hot {
                Some(hot) => rows.batch(hot, j),
                None => rows.batch(&self.eq, self.group_at + j),
            })
            .collect()
    }
}

/// Step 3, one `mul` call: the row weights `r_g = w · [g = j]` per group (`[g = j]` alone
/// without a `WHERE`, `w` alone without a `GROUP BY`, 1 without either), and the row products
/// `x²`, `xy` of the plan's `Square` and `Cross` terms, in term order.
async fn weights_and_products<B: Backend>(
    b: &mut B,
    rows: &Rows<'_>,
    plan: &Plan,
    query: &Query,
    comparisons: &Comparisons,
    mask: Option<Secret>,
) -> Result<(Vec<Secret>, Vec<Secret>), StatsError> {
    let one_hot: Vec<Secret> = match query.group_by {
        Some(_) => comparisons.one_hot(rows, plan.groups),
        None => vec![mask.clone().unwrap_or(rows.constant(b, 1)?)],
    };
    let (mut xs, mut ys, mut bits) = (Vec::new(), Vec::new(), Vec::new());
    if let (Some(w), Some(_)) = (&mask, query.group_by) {
        for o in &one_hot {
            xs.push(w.clone());
            ys.push(o.clone());
            bits.push(1);
        }
    }
    let weights_from_mul = xs.len();
    let row_bits = |c: usize| query.schema.columns[c].ty.bits();
    for term in &plan.terms {
        let (c, d) = match *term {
            Term::Square(c) => (c, c),
            Term::Cross(c, d) => (c, d),
            _ => continue,
        };
        xs.push(rows.column(c).clone());
        ys.push(rows.column(d).clone());
        bits.push(row_bits(c) + row_bits(d) + 1);
    }
    let mut products = if xs.is_empty() {
        Vec::new()
    } else {
        let xr: Vec<&Secret> = xs.iter().collect();
        let yr: Vec<&Secret> = ys.iter().collect();
        let p = b
            .mul(&concat(&xr, "row products")?, &concat(&yr, "row products")?)
            .await
            .map_err(in_step("row products"))?;
        (0..xs.len())
            .map(|i| rows.batch(&p, i).assume_bits(bits[i]))
            .collect::<Vec<_>>()
    };
    let row_products = products.split_off(weights_from_mul);
    let weights = if weights_from_mul > 0 {
        products.into_iter().map(boolean).collect()
    } else {
        one_hot
    };
    Ok((weights, row_products))
}

/// Step 4, the masked sums `Σ_i r_gi v_i` of every (term, group), term-major: one `dot` call,
/// or local sums when every row counts in the one group.
async fn masked_sums<B: Backend>(
    b: &mut B,
    rows: &Rows<'_>,
    plan: &Plan,
    query: &Query,
    comparisons: &Comparisons,
    weights: &[Secret],
    row_products: Vec<Secret>,
) -> Result<Vec<Secret>, StatsError> {
    let mut row_products = row_products.into_iter();
    let mut values = Vec::new();
    for (t, term) in plan.terms.iter().enumerate() {
        values.push(match *term {
            Term::Col(c) => rows.column(c).clone(),
            Term::Square(_) | Term::Cross(..) => row_products.next().expect("one per term"),
            Term::Below(..) => comparisons.below(rows, t),
        });
    }
    // A sum of at most 2^L values grows by L bits (the planned rows', not the batch's).
    let sum_bits = |v: &Secret| v.bits() + plan.count_bits;
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if query.filter.is_none() && query.group_by.is_none() {
        return values
            .iter()
            .map(|v| Ok(v.sum().map_err(in_step("sums"))?.assume_bits(sum_bits(v))))
            .collect();
    }
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for v in &values {
        for w in weights {
            xs.push(w);
            ys.push(v);
        }
    }
    let s = b
        .dot(&concat(&xs, "sums")?, &concat(&ys, "sums")?, rows.len)
        .await
        .map_err(in_step("sums"))?;
    Ok(values
        .iter()
        .enumerate()
        .map(|(t, v)| {
            s.slice(t * plan.groups..(t + 1) * plan.groups)
                .assume_bits(sum_bits(v))
        })
        .collect())
}

/// The rows per group, and per group and owner (group-major), summed locally from the
/// weights: no round.
fn group_counts(
    plan: &Plan,
    inputs: &Inputs,
    weights: &[Secret],
) -> Result<(Secret, Secret), StatsError> {
    let counts: Vec<Secret> = weights
        .iter()
        .map(|w| w.sum().map(|c| c.assume_bits(plan.count_bits)))
        .collect::<Result<_, _>>()
        .map_err(in_step("counts"))?;
    let refs: Vec<&Secret> = counts.iter().collect();
    let counts = concat(&refs, "counts")?;
    let mut by_owner = Vec::new();
    for w in weights {
        let mut start = 0;
        for &r in &inputs.owner_rows {
            // Below 2^L, the planned rows' bound (the same in every chunk).
            let c = w.slice(start..start + r).sum().map_err(in_step("counts"))?;
            by_owner.push(c.assume_bits(plan.count_bits));
            start += r;
        }
    }
    let refs: Vec<&Secret> = by_owner.iter().collect();
    Ok((counts, concat(&refs, "counts")?))
}

/// `lt` or `eq` over the concatenation of pairs (nothing when there are none).
async fn batch_compare<B: Backend>(
    b: &mut B,
    left: &[Secret],
    right: &[Secret],
    equal: bool,
) -> Result<Secret, StatsError> {
    if left.is_empty() {
        return Ok(Secret::from_bit_shares(Vec::new()));
    }
    let step = if equal {
        "WHERE/GROUP BY equality"
    } else {
        "WHERE comparison"
    };
    let l: Vec<&Secret> = left.iter().collect();
    let r: Vec<&Secret> = right.iter().collect();
    let (l, r) = (concat(&l, step)?, concat(&r, step)?);
    let out = if equal {
        b.eq(&l, &r).await
    } else {
        b.lt(&l, &r).await
    };
    out.map_err(in_step(step))
}
