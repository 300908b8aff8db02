//! The select list's aggregate functions: arity, argument types and the constants of
//! `PERCENTILE_CONT` and `HISTOGRAM`, checked against the schema (part of [`super::sql`]).

use sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::ast::{Aggregate, SqlError};
use super::sql::{Checker, Constant, err, scaled_ceil};
use crate::dataset::ColumnType;

impl Checker<'_> {
    /// The arguments of a call (`None` for `*`).
    fn args<'e>(&self, f: &'e ast::Function, at: &Expr) -> Result<Vec<Option<&'e Expr>>, SqlError> {
        let name = f.name.to_string().to_uppercase();
        if f.over.is_some() {
            return Err(err(
                format!("window function {name}"),
                at,
                "OVER is not supported",
            ));
        }
        if let Some(filter) = &f.filter {
            return Err(err("FILTER", filter.as_ref(), "not supported; use WHERE"));
        }
        let list = match &f.args {
            FunctionArguments::List(l) => l,
            FunctionArguments::Subquery(q) => {
                return Err(err("subquery", q.as_ref(), "not supported"));
            }
            FunctionArguments::None => return Ok(Vec::new()),
        };
        if list.duplicate_treatment.is_some() {
            return Err(err(
                format!("{name}(DISTINCT ...)"),
                at,
                "DISTINCT aggregates are not supported",
            ));
        }
        list.args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(Some(e)),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(None),
                _ => Err(err(format!("argument {a}"), at, "not supported")),
            })
            .collect()
    }

    /// One select item: the `GROUP BY` column itself, or a call of an aggregate function.
    pub(super) fn aggregate(
        &self,
        e: &Expr,
        group_by: Option<usize>,
    ) -> Result<Aggregate, SqlError> {
        match e {
            Expr::Function(f) => self.call(f, e),
            Expr::Nested(inner) => self.aggregate(inner, group_by),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                let (c, _) = self.column(e)?;
                if Some(c) == group_by {
                    return Ok(Aggregate::GroupKey);
                }
                Err(err(
                    format!("column {e}"),
                    e,
                    "only aggregates and the GROUP BY column can be selected",
                ))
            }
            Expr::Subquery(_) => Err(err("subquery", e, "subqueries are not supported")),
            other => Err(err(
                format!("expression {other}"),
                e,
                "expected an aggregate",
            )),
        }
    }

    /// A call `f` (the expression `e`) of an aggregate function, by its name and arity.
    fn call(&self, f: &ast::Function, e: &Expr) -> Result<Aggregate, SqlError> {
        let name = f.name.to_string().to_uppercase();
        let raw = self.args(f, e)?;
        if raw.len() == 1 && raw[0].is_none() && name == "COUNT" {
            return Ok(Aggregate::Count);
        }
        let args: Vec<&Expr> = raw
            .iter()
            .map(|a| a.ok_or_else(|| err("*", e, format!("{name}(*) is not supported"))))
            .collect::<Result<_, _>>()?;
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(err(
                    format!("function {name}"),
                    e,
                    format!("takes {n} argument(s), got {}", args.len()),
                ))
            }
        };
        if !f.within_group.is_empty() && name != "PERCENTILE_CONT" {
            return Err(err("WITHIN GROUP", e, format!("not supported for {name}")));
        }
        match name.as_str() {
            "COUNT" => {
                arity(1)?;
                self.column(args[0])?;
                Ok(Aggregate::Count)
            }
            "SUM" | "AVG" | "MIN" | "MAX" | "VAR_SAMP" | "VARIANCE" | "VAR_POP" | "STDDEV"
            | "STDDEV_SAMP" | "STDDEV_POP" | "MEDIAN" => {
                arity(1)?;
                Ok(of_one_column(&name, self.numeric(&name, args[0])?))
            }
            "CORR" | "COVAR_SAMP" | "COVAR_POP" | "REGR_SLOPE" | "REGR_INTERCEPT" => {
                arity(2)?;
                let (y, x) = (self.numeric(&name, args[0])?, self.numeric(&name, args[1])?);
                Ok(of_two_columns(&name, y, x))
            }
            "PERCENTILE_CONT" => {
                arity(1)?;
                self.percentile(f, &name, args[0], e)
            }
            "HISTOGRAM" => self.histogram(&name, &args, e),
            _ => Err(err(format!("function {name}"), e, "unknown function")),
        }
    }

    /// A numeric column argument `a` of `name`: integer or fixed point.
    fn numeric(&self, name: &str, a: &Expr) -> Result<usize, SqlError> {
        let (c, ty) = self.column(a)?;
        match ty {
            ColumnType::Integer { .. } | ColumnType::Fixed { .. } => Ok(c),
            _ => Err(err(
                format!("{name}({a})"),
                a,
                format!(
                    "type mismatch: {name} needs a numeric column, '{}' is not",
                    self.schema.columns[c].name
                ),
            )),
        }
    }

    /// `PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY column [DESC])`: the fraction a
    /// constant in `[0, 1]`, read from the top for `DESC`.
    fn percentile(
        &self,
        f: &ast::Function,
        name: &str,
        fraction: &Expr,
        e: &Expr,
    ) -> Result<Aggregate, SqlError> {
        let (num, den) = match self.constant(fraction) {
            Some(Constant::Number(m, s)) if m >= 0 && m <= 10i128.pow(s) => (m, 10i128.pow(s)),
            _ => {
                return Err(err(
                    format!("{fraction}"),
                    fraction,
                    "the percentile must be a constant between 0 and 1",
                ));
            }
        };
        let [order] = &f.within_group[..] else {
            return Err(err(
                format!("function {name}"),
                e,
                "needs WITHIN GROUP (ORDER BY column)",
            ));
        };
        let col = self.numeric(name, &order.expr)?;
        let (num, den) = match order.options.asc {
            Some(false) => (den - num, den),
            _ => (num, den),
        };
        Ok(Aggregate::Percentile { col, num, den })
    }

    /// `HISTOGRAM(column, b1, ..., bk)`: the bounds numbers, increasing strictly, as the
    /// column's scaled integers.
    fn histogram(&self, name: &str, args: &[&Expr], e: &Expr) -> Result<Aggregate, SqlError> {
        if args.len() < 2 {
            return Err(err(
                format!("function {name}"),
                e,
                "takes a column and at least one bucket bound",
            ));
        }
        let col = self.numeric(name, args[0])?;
        let ty = &self.schema.columns[col].ty;
        let mut bounds = Vec::new();
        for a in &args[1..] {
            let Some(Constant::Number(m, s)) = self.constant(a) else {
                return Err(err(format!("{a}"), *a, "a bucket bound must be a number"));
            };
            // Bucket x >= b on scaled integers: x >= ceil(b 2^frac).
            let b = scaled_ceil(m, s, ty.frac()).clamp(-(1 << ty.bits()) - 1, 1 << ty.bits());
            if bounds.last().is_some_and(|&last| b <= last) {
                return Err(err(
                    format!("{a}"),
                    *a,
                    "bucket bounds must increase strictly",
                ));
            }
            bounds.push(b);
        }
        Ok(Aggregate::Histogram { col, bounds })
    }
}

/// The aggregate of a one-column function (its name checked by the caller).
fn of_one_column(name: &str, col: usize) -> Aggregate {
    match name {
        "SUM" => Aggregate::Sum(col),
        "AVG" => Aggregate::Avg(col),
        "MIN" => Aggregate::Min(col),
        "MAX" => Aggregate::Max(col),
        "VAR_POP" => Aggregate::Var { col, sample: false },
        "VAR_SAMP" | "VARIANCE" => Aggregate::Var { col, sample: true },
        "STDDEV_POP" => Aggregate::Stddev { col, sample: false },
        "MEDIAN" => Aggregate::Percentile {
            col,
            num: 1,
            den: 2,
        },
        _ => Aggregate::Stddev { col, sample: true },
    }
}

/// The aggregate of a two-column function `(y, x)` (its name checked by the caller).
fn of_two_columns(name: &str, y: usize, x: usize) -> Aggregate {
    match name {
        "CORR" => Aggregate::Corr(y, x),
        "COVAR_SAMP" => Aggregate::Covar {
            cols: (y, x),
            sample: true,
        },
        "COVAR_POP" => Aggregate::Covar {
            cols: (y, x),
            sample: false,
        },
        "REGR_SLOPE" => Aggregate::RegrSlope(y, x),
        _ => Aggregate::RegrIntercept(y, x),
    }
}
