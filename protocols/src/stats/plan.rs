//! From a [`Query`] to batched work: which masked sums, order statistics and moments a query
//! needs ([`Plan`]), and the scan over the rows that computes the masked sums ([`scan`]).
//!
//! The scan is the only part whose work grows with the rows, and its rounds do not (per chunk
//! of rows: [`super::stream`] runs it chunk by chunk within a memory budget):
//! 1. one `lt` call for every order comparison of the `WHERE` clause (each `x op k` becomes
//!    `x < k'` or its negation on integers) and every histogram bound, and one `eq` call for
//!    every equality and the one-hot encoding of the `GROUP BY` column (`[g = j]` for each value
//!    `j` of its domain);
//! 2. the predicate tree, one `mul` call per level of `AND`/`OR` (`a ∧ b = ab`,
//!    `a ∨ b = a + b - ab`, `¬a = 1 - a`);
//! 3. one `mul` call for the row weights `w · [g = j]` and the row products (`x²`, `xy`);
//! 4. one `mul` call for every (group, term) pair `Σ_i r_gi v_i`, summed locally.
//!
//! The predicate and the group of each row stay secret; every row takes part in every group's
//! sums with weight 0 or 1. What is deliberately not here: opening anything (see
//! [`super::privacy`]) and the arithmetic on the sums ([`super::aggregate`]).

use super::sql::{Aggregate, CmpOp, Predicate, Query};
use super::{Inputs, StatsError, at, cat};
use crate::backend::{Backend, Secret};
use crate::dataset::ColumnType;

/// A masked per-group sum `Σ_i r_gi v_i` the query needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Term {
    /// `v = x`.
    Col(usize),
    /// `v = x²`.
    Square(usize),
    /// `v = x y` (columns in increasing order).
    Cross(usize, usize),
    /// `v = [x < bound]`.
    Below(usize, i128),
}

/// The public shape of a query's computation.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Groups: the domain of the `GROUP BY` column, or 1.
    pub groups: usize,
    /// Group labels, in domain order.
    pub labels: Vec<String>,
    /// Masked sums, each a batch over the groups.
    pub terms: Vec<Term>,
    /// Columns whose minimum or maximum is asked: `(column, is_max)`.
    pub extremes: Vec<(usize, bool)>,
    /// Columns with a percentile (each bit-decomposed once).
    pub ranked: Vec<usize>,
    /// Total rows.
    pub rows: usize,
    /// `L`: every count lies in `[0, 2^L)`. Derived from the rows the bounds are planned for
    /// (at least [`Plan::rows`]: [`super::fit`] plans for more rows than it runs on).
    pub count_bits: u32,
}

fn push<T: PartialEq>(v: &mut Vec<T>, t: T) {
    if !v.contains(&t) {
        v.push(t);
    }
}

impl Plan {
    /// The plan of `query` over `rows` rows in all, its bounds those of `bound_rows >= rows`.
    pub(crate) fn new(query: &Query, rows: usize, bound_rows: usize) -> Plan {
        let schema = &query.schema;
        let labels = match query.group_by.map(|c| &schema.columns[c].ty) {
            Some(ColumnType::Categorical { domain }) => domain.clone(),
            _ => vec![String::new()],
        };
        let (mut terms, mut extremes, mut ranked) = (Vec::new(), Vec::new(), Vec::new());
        let count_bits = usize::BITS - rows.max(bound_rows).leading_zeros();
        for item in &query.select {
            match item.aggregate {
                Aggregate::GroupKey | Aggregate::Count => {}
                Aggregate::Sum(c) | Aggregate::Avg(c) => push(&mut terms, Term::Col(c)),
                Aggregate::Min(c) => push(&mut extremes, (c, false)),
                Aggregate::Max(c) => push(&mut extremes, (c, true)),
                Aggregate::Percentile { col, .. } => push(&mut ranked, col),
                Aggregate::Var { col, .. } | Aggregate::Stddev { col, .. } => {
                    push(&mut terms, Term::Col(col));
                    push(&mut terms, Term::Square(col));
                }
                Aggregate::Covar { cols: (y, x), .. }
                | Aggregate::Corr(y, x)
                | Aggregate::RegrSlope(y, x)
                | Aggregate::RegrIntercept(y, x) => {
                    push(&mut terms, Term::Col(y));
                    push(&mut terms, Term::Col(x));
                    push(&mut terms, Term::Cross(y.min(x), y.max(x)));
                    push(&mut terms, Term::Square(x));
                    if matches!(item.aggregate, Aggregate::Corr(..)) {
                        push(&mut terms, Term::Square(y));
                    }
                }
                Aggregate::Histogram { col, ref bounds } => {
                    for &b in bounds {
                        push(&mut terms, Term::Below(col, b));
                    }
                }
            }
        }
        Plan {
            groups: labels.len(),
            labels,
            terms,
            extremes,
            ranked,
            rows,
            count_bits,
        }
    }

    /// The index of `t` among the terms.
    pub(crate) fn term(&self, t: &Term) -> usize {
        self.terms
            .iter()
            .position(|x| x == t)
            .expect("the plan lists every term its aggregates use")
    }
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

/// Re-marks a batch known to hold 0 or 1 (`a + b - ab` of bits, `c_j - c_{j+1}` of a monotone
/// sequence) as boolean.
pub(crate) fn boolean(x: Secret) -> Secret {
    Secret::from_bit_shares(x.into_shares())
}

/// A node of the flattened predicate tree.
enum Node {
    Leaf(usize),
    Const(bool),
    And(usize, usize),
    Or(usize, usize),
    Not(usize),
}

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
}

/// Runs the scan (see the module doc) over `inputs`: every row of the plan, or one chunk of
/// them ([`super::stream`]), its sums bounded as the whole scan's.
pub(crate) async fn scan<B: Backend>(
    b: &mut B,
    plan: &Plan,
    query: &Query,
    inputs: &Inputs,
) -> Result<Scan, StatsError> {
    let n: usize = inputs.owner_rows.iter().sum();
    let col = |c: usize| &inputs.columns[c];
    let konst = |b: &B, v: i128| b.constant(&vec![v; n]).map_err(at("constants"));
    // 1. Comparisons: order comparisons and histogram bounds in one lt call, equalities and the
    //    group one-hot in one eq call.
    let mut tree = Tree {
        nodes: Vec::new(),
        leaves: Vec::new(),
    };
    let root = query.filter.as_ref().map(|p| tree.add(p));
    let (mut lt_l, mut lt_r, mut eq_l, mut eq_r) = (vec![], vec![], vec![], vec![]);
    // Per leaf: (is eq call, index in its call, negate).
    let mut leaf_at = Vec::new();
    for &(c, op, k) in &tree.leaves {
        let x = col(c).clone();
        let (left, right, eq, negate) = match op {
            CmpOp::Eq => (x, konst(b, k)?, true, false),
            CmpOp::Ne => (x, konst(b, k)?, true, true),
            CmpOp::Lt => (x, konst(b, k)?, false, false),
            CmpOp::Ge => (x, konst(b, k)?, false, true),
            CmpOp::Le => (konst(b, k)?, x, false, true),
            CmpOp::Gt => (konst(b, k)?, x, false, false),
        };
        let (l, r) = if eq {
            (&mut eq_l, &mut eq_r)
        } else {
            (&mut lt_l, &mut lt_r)
        };
        leaf_at.push((eq, l.len(), negate));
        l.push(left);
        r.push(right);
    }
    let below_at: Vec<(usize, usize)> = plan
        .terms
        .iter()
        .enumerate()
        .filter_map(|(t, term)| match term {
            Term::Below(c, bound) => {
                lt_l.push(col(*c).clone());
                lt_r.push(konst(b, *bound).ok()?);
                Some((t, lt_l.len() - 1))
            }
            _ => None,
        })
        .collect();
    let group_at = eq_l.len();
    if let Some(g) = query.group_by {
        for j in 0..plan.groups {
            eq_l.push(col(g).clone());
            eq_r.push(konst(b, j as i128)?);
        }
    }
    let lt = batch_compare(b, &lt_l, &lt_r, false).await?;
    let eq = batch_compare(b, &eq_l, &eq_r, true).await?;
    let slice = |v: &Secret, i: usize| v.slice(i * n..(i + 1) * n);

    // 2. The predicate tree, level by level.
    let mut value: Vec<Option<Secret>> = vec![None; tree.nodes.len()];
    let top = tree.nodes.iter().map(|x| x.1).max().unwrap_or(0);
    for h in 0..=top {
        let mut pending = Vec::new();
        for (i, (node, height)) in tree.nodes.iter().enumerate() {
            if *height != h {
                continue;
            }
            let v = |j: usize| value[j].clone().expect("children come first");
            value[i] = Some(match node {
                Node::Leaf(l) => {
                    let (is_eq, idx, negate) = leaf_at[*l];
                    let r = slice(if is_eq { &eq } else { &lt }, idx);
                    if negate {
                        r.not().map_err(at("WHERE"))?
                    } else {
                        r
                    }
                }
                Node::Const(c) => konst(b, *c as i128)?,
                Node::Not(a) => v(*a).not().map_err(at("WHERE"))?,
                Node::And(x, y) | Node::Or(x, y) => {
                    pending.push((i, v(*x), v(*y)));
                    continue;
                }
            });
        }
        if pending.is_empty() {
            continue;
        }
        let xs: Vec<&Secret> = pending.iter().map(|p| &p.1).collect();
        let ys: Vec<&Secret> = pending.iter().map(|p| &p.2).collect();
        let prod = b
            .mul(&cat(&xs, "WHERE")?, &cat(&ys, "WHERE")?)
            .await
            .map_err(at("WHERE"))?;
        for (k, (i, x, y)) in pending.into_iter().enumerate() {
            let p = slice(&prod, k);
            value[i] = Some(match tree.nodes[i].0 {
                Node::And(..) => boolean(p),
                _ => boolean(x.add(&y).and_then(|s| s.sub(&p)).map_err(at("WHERE"))?),
            });
        }
    }
    let mask = root.map(|r| value[r].take().expect("the root is evaluated"));

    // 3. Row weights and row products in one mul call.
    let one_hot: Vec<Secret> = match query.group_by {
        Some(_) => (0..plan.groups).map(|j| slice(&eq, group_at + j)).collect(),
        None => vec![mask.clone().unwrap_or(konst(b, 1)?)],
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
        match *term {
            Term::Square(c) => {
                xs.push(col(c).clone());
                ys.push(col(c).clone());
                bits.push(2 * row_bits(c) + 1);
            }
            Term::Cross(c, d) => {
                xs.push(col(c).clone());
                ys.push(col(d).clone());
                bits.push(row_bits(c) + row_bits(d) + 1);
            }
            _ => {}
        }
    }
    let products = if xs.is_empty() {
        Vec::new()
    } else {
        let xr: Vec<&Secret> = xs.iter().collect();
        let yr: Vec<&Secret> = ys.iter().collect();
        let p = b
            .mul(&cat(&xr, "row products")?, &cat(&yr, "row products")?)
            .await
            .map_err(at("row products"))?;
        (0..xs.len())
            .map(|i| slice(&p, i).assume_bits(bits[i]))
            .collect::<Vec<_>>()
    };
    let weights: Vec<Secret> = if weights_from_mul > 0 {
        products[..weights_from_mul]
            .iter()
            .cloned()
            .map(boolean)
            .collect()
    } else {
        one_hot
    };
    let mut next_product = weights_from_mul;

    // 4. Masked sums: every (group, term) in one mul call.
    let mut values = Vec::new();
    let mut value_bits = Vec::new();
    for (t, term) in plan.terms.iter().enumerate() {
        let v = match *term {
            Term::Col(c) => col(c).clone(),
            Term::Square(_) | Term::Cross(..) => {
                next_product += 1;
                products[next_product - 1].clone()
            }
            Term::Below(..) => {
                let i = below_at.iter().find(|x| x.0 == t).expect("listed").1;
                slice(&lt, i)
            }
        };
        value_bits.push(v.bits());
        values.push(v);
    }
    // A sum of at most 2^L values grows by L bits (the planned rows', not the batch's).
    let sum_bits = plan.count_bits;
    let sums = if values.is_empty() {
        Vec::new()
    } else if query.filter.is_none() && query.group_by.is_none() {
        values
            .iter()
            .zip(&value_bits)
            .map(|(v, &bits)| {
                Ok::<_, StatsError>(v.sum().map_err(at("sums"))?.assume_bits(bits + sum_bits))
            })
            .collect::<Result<_, _>>()?
    } else {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for v in &values {
            for w in &weights {
                xs.push(w);
                ys.push(v);
            }
        }
        let s = b
            .dot(&cat(&xs, "sums")?, &cat(&ys, "sums")?, n)
            .await
            .map_err(at("sums"))?;
        (0..values.len())
            .map(|t| {
                s.slice(t * plan.groups..(t + 1) * plan.groups)
                    .assume_bits(value_bits[t] + sum_bits)
            })
            .collect()
    };
    let counts: Vec<Secret> = weights
        .iter()
        .map(|w| w.sum().map(|c| c.assume_bits(plan.count_bits)))
        .collect::<Result<_, _>>()
        .map_err(at("counts"))?;
    let refs: Vec<&Secret> = counts.iter().collect();
    let counts = cat(&refs, "counts")?;
    let mut by_owner = Vec::new();
    for w in &weights {
        let mut start = 0;
        for &r in &inputs.owner_rows {
            // Below 2^L, the planned rows' bound (the same in every chunk).
            let c = w.slice(start..start + r).sum().map_err(at("counts"))?;
            by_owner.push(c.assume_bits(plan.count_bits));
            start += r;
        }
    }
    let refs: Vec<&Secret> = by_owner.iter().collect();
    Ok(Scan {
        weights,
        counts,
        counts_by_owner: cat(&refs, "counts")?,
        sums,
    })
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
    let (l, r) = (cat(&l, step)?, cat(&r, step)?);
    let out = if equal {
        b.eq(&l, &r).await
    } else {
        b.lt(&l, &r).await
    };
    out.map_err(at(step))
}
