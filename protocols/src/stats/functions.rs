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

    pub(super) fn aggregate(
        &self,
        e: &Expr,
        group_by: Option<usize>,
    ) -> Result<Aggregate, SqlError> {
        let f = match e {
            Expr::Function(f) => f,
            Expr::Nested(inner) => return self.aggregate(inner, group_by),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                let (c, _) = self.column(e)?;
                if Some(c) == group_by {
                    return Ok(Aggregate::GroupKey);
                }
                return Err(err(
                    format!("column {e}"),
                    e,
                    "only aggregates and the GROUP BY column can be selected",
                ));
            }
            Expr::Subquery(_) => return Err(err("subquery", e, "subqueries are not supported")),
            other => {
                return Err(err(
                    format!("expression {other}"),
                    e,
                    "expected an aggregate",
                ));
            }
        };
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
        // A numeric column argument: integer or fixed point.
        let numeric = |a: &Expr| -> Result<usize, SqlError> {
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
        };
        if !f.within_group.is_empty() && name != "PERCENTILE_CONT" {
            return Err(err("WITHIN GROUP", e, format!("not supported for {name}")));
        }
        let agg = match name.as_str() {
            "COUNT" => {
                arity(1)?;
                self.column(args[0])?;
                Aggregate::Count
            }
            "SUM" | "AVG" | "MIN" | "MAX" | "VAR_SAMP" | "VARIANCE" | "VAR_POP" | "STDDEV"
            | "STDDEV_SAMP" | "STDDEV_POP" | "MEDIAN" => {
                arity(1)?;
                let c = numeric(args[0])?;
                match name.as_str() {
                    "SUM" => Aggregate::Sum(c),
                    "AVG" => Aggregate::Avg(c),
                    "MIN" => Aggregate::Min(c),
                    "MAX" => Aggregate::Max(c),
                    "VAR_POP" => Aggregate::Var {
                        col: c,
                        sample: false,
                    },
                    "VAR_SAMP" | "VARIANCE" => Aggregate::Var {
                        col: c,
                        sample: true,
                    },
                    "STDDEV_POP" => Aggregate::Stddev {
                        col: c,
                        sample: false,
                    },
                    "MEDIAN" => Aggregate::Percentile {
                        col: c,
                        num: 1,
                        den: 2,
                    },
                    _ => Aggregate::Stddev {
                        col: c,
                        sample: true,
                    },
                }
            }
            "CORR" | "COVAR_SAMP" | "COVAR_POP" | "REGR_SLOPE" | "REGR_INTERCEPT" => {
                arity(2)?;
                let (y, x) = (numeric(args[0])?, numeric(args[1])?);
                match name.as_str() {
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
            "PERCENTILE_CONT" => {
                arity(1)?;
                let fraction = match self.constant(args[0]) {
                    Some(Constant::Number(m, s)) if m >= 0 && m <= 10i128.pow(s) => {
                        (m, 10i128.pow(s))
                    }
                    _ => {
                        return Err(err(
                            format!("{}", args[0]),
                            args[0],
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
                let c = numeric(&order.expr)?;
                let (num, den) = match order.options.asc {
                    Some(false) => (fraction.1 - fraction.0, fraction.1),
                    _ => fraction,
                };
                Aggregate::Percentile { col: c, num, den }
            }
            "HISTOGRAM" => {
                if args.len() < 2 {
                    return Err(err(
                        format!("function {name}"),
                        e,
                        "takes a column and at least one bucket bound",
                    ));
                }
                let c = numeric(args[0])?;
                let ty = &self.schema.columns[c].ty;
                let mut bounds = Vec::new();
                for a in &args[1..] {
                    let Some(Constant::Number(m, s)) = self.constant(a) else {
                        return Err(err(format!("{a}"), *a, "a bucket bound must be a number"));
                    };
                    // Bucket x >= b on scaled integers: x >= ceil(b 2^frac).
                    let b =
                        scaled_ceil(m, s, ty.frac()).clamp(-(1 << ty.bits()) - 1, 1 << ty.bits());
                    if bounds.last().is_some_and(|&last| b <= last) {
                        return Err(err(
                            format!("{a}"),
                            *a,
                            "bucket bounds must increase strictly",
                        ));
                    }
                    bounds.push(b);
                }
                Aggregate::Histogram { col: c, bounds }
            }
            _ => return Err(err(format!("function {name}"), e, "unknown function")),
        };
        Ok(agg)
    }
}
