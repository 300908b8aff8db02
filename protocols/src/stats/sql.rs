//! The statistics query language: a subset of SQL, parsed with `sqlparser` (PostgreSQL
//! dialect) and checked against the dataset's [`Schema`] into a small [`Query`].
//!
//! Supported: `SELECT` a list of aggregates (each with an optional `AS alias`; the `GROUP BY`
//! column may also be selected) `FROM` one table, an optional `WHERE` made of comparisons
//! (`=`, `<>`, `<`, `<=`, `>`, `>=`) between a column and a constant, combined with `AND`, `OR`,
//! `NOT` and parentheses, and an optional `GROUP BY` one categorical column. The aggregates are
//! listed in [`Aggregate`]. `FROM payroll` names every owner's dataset `payroll`; `FROM
//! acme.payroll` names acme's alone (the table is then `acme/payroll`).
//!
//! Everything else is refused before anything runs, by an [`SqlError`] that names the construct
//! and where it starts (`line:column`, from sqlparser's spans): joins, subqueries, `HAVING`,
//! `ORDER BY`, `LIMIT`, `DISTINCT`, window functions, unknown functions, tables and columns, and
//! type mismatches (a sum of a categorical, a categorical compared with `<` or with a value
//! outside its domain, an identifier aggregated).
//!
//! Constants are encoded as the column's values are ([`crate::dataset`]): fixed point scaled by
//! `2^frac` (a bound that falls between two representable values is rounded so that the
//! comparison keeps its meaning), categoricals as their index in the domain, identifiers hashed.

use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, SelectItem as SqlItem, SetExpr, Spanned, Statement,
    TableFactor, UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::chain;
use crate::dataset::{ColumnType, Schema, hash_identifier};

pub use super::ast::{Aggregate, CmpOp, Position, Predicate, Query, SelectItem, SqlError};

fn pos_of(span: sqlparser::tokenizer::Span) -> Option<Position> {
    (span.start.line > 0).then_some(Position {
        line: span.start.line,
        column: span.start.column,
    })
}

pub(super) fn err(
    construct: impl Into<String>,
    at: &impl Spanned,
    message: impl Into<String>,
) -> SqlError {
    SqlError {
        construct: construct.into(),
        position: pos_of(at.span()),
        message: message.into(),
    }
}

/// Parses `sql` and checks it against the schema of its table, which `schema_of` gives (or
/// `None` for an unknown table).
///
/// A query over [`super::chain::MAX_QUERY_TOKENS`] tokens is refused before it is parsed, and
/// no step recurses on the length of an `AND`/`OR` chain ([`super::chain`]).
pub fn parse(sql: &str, schema_of: impl Fn(&str) -> Option<Schema>) -> Result<Query, SqlError> {
    let syntax = |message: String| SqlError {
        construct: "syntax".into(),
        position: None,
        message,
    };
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax(e.to_string()))?;
    super::chain::check_size(
        tokens
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .count(),
    )?;
    chain::check_nesting(&tokens)?;
    let statements = Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| syntax(e.to_string()))?;
    let [statement] = &statements[..] else {
        return Err(SqlError {
            construct: "statements".into(),
            position: statements.get(1).and_then(|s| pos_of(s.span())),
            message: format!("expected one SELECT statement, found {}", statements.len()),
        });
    };
    let Statement::Query(q) = statement else {
        return Err(err(
            "statement",
            statement,
            "only SELECT queries are supported",
        ));
    };
    if let Some(with) = &q.with {
        return Err(err(
            "WITH",
            with,
            "common table expressions are not supported",
        ));
    }
    if let Some(o) = &q.order_by {
        return Err(err(
            "ORDER BY",
            o,
            "the result has one row per group; no ordering",
        ));
    }
    if let Some(l) = &q.limit_clause {
        return Err(err("LIMIT", l, "not supported"));
    }
    let select = match q.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::Query(inner) => return Err(err("subquery", inner.as_ref(), "not supported")),
        other => {
            return Err(err(
                "set operation",
                other,
                "only a plain SELECT is supported",
            ));
        }
    };
    if let Some(d) = &select.distinct {
        let at = select
            .projection
            .first()
            .map(|p| p.span())
            .unwrap_or(select.span());
        let _ = d;
        return Err(SqlError {
            construct: "DISTINCT".into(),
            position: pos_of(at),
            message: "not supported".into(),
        });
    }
    if let Some(h) = &select.having {
        return Err(err("HAVING", h, "not supported"));
    }
    let [from] = &select.from[..] else {
        let at = select
            .from
            .get(1)
            .map(|f| f.span())
            .unwrap_or(select.span());
        return Err(SqlError {
            construct: "FROM".into(),
            position: pos_of(at),
            message: format!(
                "expected exactly one table, found {} (joins are not supported)",
                select.from.len()
            ),
        });
    };
    if let Some(j) = from.joins.first() {
        return Err(err("JOIN", j, "joins are not supported"));
    }
    let (table, alias) = match &from.relation {
        // `owner.name` names one owner's dataset: the table is `owner/name`.
        TableFactor::Table { name, alias, .. } => (
            name.0
                .iter()
                .map(|part| match part.as_ident() {
                    Some(ident) => ident.value.clone(),
                    None => part.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/"),
            alias.clone(),
        ),
        TableFactor::Derived { .. } => {
            return Err(err(
                "subquery",
                &from.relation,
                "subqueries are not supported",
            ));
        }
        other => return Err(err("FROM", other, "expected a table name")),
    };
    let schema = schema_of(&table)
        .ok_or_else(|| err(format!("table '{table}'"), &from.relation, "unknown table"))?;
    let cx = Checker {
        schema: &schema,
        table: &table,
        alias: alias.map(|a| a.name.value),
    };
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) if exprs.is_empty() => None,
        GroupByExpr::Expressions(exprs, _) => {
            if let Some(second) = exprs.get(1) {
                return Err(err(
                    "GROUP BY",
                    second,
                    "only one grouping column is supported",
                ));
            }
            let (c, spec) = cx.column(&exprs[0])?;
            if !matches!(spec, ColumnType::Categorical { .. }) {
                return Err(err(
                    format!("GROUP BY {}", exprs[0]),
                    &exprs[0],
                    "type mismatch: the grouping column must be categorical (its domain names the groups)",
                ));
            }
            Some(c)
        }
        GroupByExpr::All(_) => return Err(err("GROUP BY ALL", select.as_ref(), "not supported")),
    };
    let filter = select
        .selection
        .as_ref()
        .map(|e| cx.predicate(e))
        .transpose()?;
    let mut items = Vec::new();
    for item in &select.projection {
        let (expr, alias) = match item {
            SqlItem::UnnamedExpr(e) => (e, None),
            SqlItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => return Err(err("*", other, "select aggregates, not rows")),
        };
        let aggregate = cx.aggregate(expr, group_by)?;
        items.push(SelectItem {
            aggregate,
            label: alias.unwrap_or_else(|| expr.to_string()),
        });
    }
    Ok(Query {
        select: items,
        table,
        schema: schema.clone(),
        filter,
        group_by,
    })
}

pub(super) struct Checker<'a> {
    pub(super) schema: &'a Schema,
    pub(super) table: &'a str,
    pub(super) alias: Option<String>,
}

/// A constant of the query text.
pub(super) enum Constant {
    /// A number, as `mantissa / 10^scale`.
    Number(i128, u32),
    Text(String),
}

impl Checker<'_> {
    pub(super) fn column<'s>(&'s self, e: &Expr) -> Result<(usize, &'s ColumnType), SqlError> {
        let name = match e {
            Expr::Identifier(id) => &id.value,
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                let q = &ids[0].value;
                if q != self.table && Some(q) != self.alias.as_ref() {
                    return Err(err(format!("'{q}'"), e, "unknown table qualifier"));
                }
                &ids[1].value
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                return Err(err("subquery", e, "subqueries are not supported"));
            }
            other => {
                return Err(err(
                    format!("expression {other}"),
                    e,
                    "expected a column name (expressions are not supported)",
                ));
            }
        };
        match self.schema.column(name) {
            Some((i, spec)) => Ok((i, &spec.ty)),
            None => Err(err(
                format!("column '{name}'"),
                e,
                format!("unknown column of table '{}'", self.table),
            )),
        }
    }

    pub(super) fn constant(&self, e: &Expr) -> Option<Constant> {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(text, _) => parse_decimal(text).map(|(m, s)| Constant::Number(m, s)),
                Value::SingleQuotedString(s) => Some(Constant::Text(s.clone())),
                _ => None,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match self.constant(expr)? {
                Constant::Number(m, s) => Some(Constant::Number(-m, s)),
                Constant::Text(_) => None,
            },
            Expr::Nested(inner) => self.constant(inner),
            _ => None,
        }
    }

    fn predicate(&self, e: &Expr) -> Result<Predicate, SqlError> {
        match e {
            Expr::Nested(inner) => self.predicate(inner),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Ok(Predicate::Not(Box::new(self.predicate(expr)?))),
            // A chain of one operator, flattened without recursion and rebuilt balanced.
            Expr::BinaryOp {
                op: op @ (BinaryOperator::And | BinaryOperator::Or),
                ..
            } => {
                let parts = chain::operands(e, op)
                    .into_iter()
                    .map(|x| self.predicate(x))
                    .collect::<Result<Vec<_>, _>>()?;
                let join = match op {
                    BinaryOperator::And => Predicate::And,
                    _ => Predicate::Or,
                };
                Ok(chain::balanced(parts, join))
            }
            Expr::BinaryOp { left, op, right } => {
                for side in [left.as_ref(), right.as_ref()] {
                    if matches!(
                        side,
                        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
                    ) {
                        return Err(err("subquery", side, "subqueries are not supported"));
                    }
                }
                let op_of = |o: &BinaryOperator| match o {
                    BinaryOperator::Eq => Some(CmpOp::Eq),
                    BinaryOperator::NotEq => Some(CmpOp::Ne),
                    BinaryOperator::Lt => Some(CmpOp::Lt),
                    BinaryOperator::LtEq => Some(CmpOp::Le),
                    BinaryOperator::Gt => Some(CmpOp::Gt),
                    BinaryOperator::GtEq => Some(CmpOp::Ge),
                    _ => None,
                };
                let cmp = op_of(op)
                    .ok_or_else(|| err(format!("operator {op}"), e, "not supported in WHERE"))?;
                // column op constant, or constant op column (flipped).
                let (col_e, k_e, cmp) = match self.constant(left) {
                    Some(_) => (right.as_ref(), left.as_ref(), flip(cmp)),
                    None => (left.as_ref(), right.as_ref(), cmp),
                };
                let (c, ty) = self.column(col_e)?;
                let k = self.constant(k_e).ok_or_else(|| {
                    err(
                        format!("{k_e}"),
                        k_e,
                        "expected a constant (a column compares with constants only)",
                    )
                })?;
                self.comparison(c, ty, cmp, k, e)
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                Err(err("subquery", e, "subqueries are not supported"))
            }
            other => Err(err(
                format!("{other}"),
                e,
                "expected a comparison, AND, OR or NOT",
            )),
        }
    }

    fn comparison(
        &self,
        column: usize,
        ty: &ColumnType,
        op: CmpOp,
        k: Constant,
        at: &Expr,
    ) -> Result<Predicate, SqlError> {
        let name = &self.schema.columns[column].name;
        let mismatch = |m: String| {
            Err(err(
                format!("comparison {at}"),
                at,
                format!("type mismatch: {m}"),
            ))
        };
        let equality = matches!(op, CmpOp::Eq | CmpOp::Ne);
        match (ty, k) {
            (
                ColumnType::Integer { bits } | ColumnType::Fixed { bits, .. },
                Constant::Number(m, s),
            ) => Ok(numeric_bound(column, op, m, s, ty.frac(), *bits)),
            (ColumnType::Integer { .. } | ColumnType::Fixed { .. }, Constant::Text(t)) => {
                mismatch(format!("column '{name}' is numeric, '{t}' is text"))
            }
            (ColumnType::Categorical { domain }, k) => {
                let text = match k {
                    Constant::Text(t) => t,
                    Constant::Number(m, s) => decimal_text(m, s),
                };
                if !equality {
                    return mismatch(format!(
                        "categorical column '{name}' compares with = or <> only"
                    ));
                }
                match domain.iter().position(|d| *d == text) {
                    Some(i) => Ok(Predicate::Compare {
                        column,
                        op,
                        value: i as i128,
                    }),
                    None => mismatch(format!("'{text}' is not in the domain of column '{name}'")),
                }
            }
            (ColumnType::Identifier, Constant::Text(t)) if equality => Ok(Predicate::Compare {
                column,
                op,
                value: hash_identifier(&t),
            }),
            (ColumnType::Identifier, _) => mismatch(format!(
                "identifier column '{name}' compares with = or <> to text only"
            )),
        }
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

/// A decimal literal as `mantissa / 10^scale` (at most 18 decimals; exponents refused).
fn parse_decimal(text: &str) -> Option<(i128, u32)> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 18 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    Some((digits.parse().ok()?, frac.len() as u32))
}

fn decimal_text(m: i128, s: u32) -> String {
    if s == 0 {
        return m.to_string();
    }
    let p = 10i128.pow(s);
    format!(
        "{}{}.{:0width$}",
        if m < 0 { "-" } else { "" },
        m.abs() / p,
        m.abs() % p,
        width = s as usize
    )
}

/// `(floor, ceil)` of `m / 10^s * 2^frac`, saturated far outside any column's range.
fn scaled(m: i128, s: u32, frac: u32) -> (i128, i128) {
    let num = m.saturating_mul(1i128 << frac.min(100));
    let den = 10i128.pow(s);
    let floor = num.div_euclid(den);
    (
        floor,
        if num.rem_euclid(den) == 0 {
            floor
        } else {
            floor + 1
        },
    )
}

pub(super) fn scaled_ceil(m: i128, s: u32, frac: u32) -> i128 {
    scaled(m, s, frac).1
}

/// `x op k` on a column of scaled integers in `[-2^bits, 2^bits)`, as an equivalent comparison
/// with an integer constant clamped to `[-2^bits - 1, 2^bits]`.
fn numeric_bound(column: usize, op: CmpOp, m: i128, s: u32, frac: u32, bits: u32) -> Predicate {
    let (lo, hi) = scaled(m, s, frac);
    let clamp = |v: i128| v.clamp(-(1i128 << bits) - 1, 1i128 << bits);
    let value = match op {
        CmpOp::Eq | CmpOp::Ne if lo != hi => return Predicate::Const(op == CmpOp::Ne),
        CmpOp::Lt | CmpOp::Ge => clamp(hi),
        _ => clamp(lo),
    };
    Predicate::Compare { column, op, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_bounds() {
        assert_eq!(parse_decimal("12.50"), Some((1250, 2)));
        assert_eq!(parse_decimal("7"), Some((7, 0)));
        assert_eq!(decimal_text(-1250, 2), "-12.50");
        assert_eq!(scaled(5, 1, 0), (0, 1));
        assert_eq!(scaled(-5, 1, 0), (-1, 0));
        assert_eq!(scaled(15, 1, 1), (3, 3));
        // x < 2.5 on integers is x < 3; x <= 2.5 is x <= 2; x = 2.5 never holds.
        assert_eq!(
            numeric_bound(0, CmpOp::Lt, 25, 1, 0, 8),
            Predicate::Compare {
                column: 0,
                op: CmpOp::Lt,
                value: 3
            }
        );
        assert_eq!(
            numeric_bound(0, CmpOp::Le, 25, 1, 0, 8),
            Predicate::Compare {
                column: 0,
                op: CmpOp::Le,
                value: 2
            }
        );
        assert_eq!(
            numeric_bound(0, CmpOp::Eq, 25, 1, 0, 8),
            Predicate::Const(false)
        );
        assert_eq!(
            numeric_bound(0, CmpOp::Gt, 10_000, 0, 0, 8),
            Predicate::Compare {
                column: 0,
                op: CmpOp::Gt,
                value: 256
            }
        );
    }
}
