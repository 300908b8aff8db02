//! Bounds on the size of a query's text and the flattening of `AND`/`OR` chains, so that no
//! code path recurses on a depth a client chooses.
//!
//! sqlparser builds `a AND b AND c ...` as a left-deep tree (a loop, not recursion, builds it),
//! so the depth of its expression tree grows with the number of binary operators in the text,
//! and every recursive walk of it (the checker here, `Display`, spans, even `Drop`) could
//! exhaust a worker's stack: 7,000 terms aborted every worker of a cluster (issue 20).
//! Parentheses and prefix operators are bounded by sqlparser's own recursion limit (50), but
//! its backtracking is not: nested brackets and `NOT` after an operator are refused before
//! parsing ([`MAX_NESTING`], [`check_nesting`]). So:
//! - the query text is refused above [`MAX_QUERY_TOKENS`] tokens, before it is parsed, which
//!   bounds the depth of any expression sqlparser can build (tests walk the deepest one
//!   allowed on a small stack);
//! - a chain of one operator is collected with an explicit stack ([`operands`]) and rebuilt as
//!   a balanced tree ([`balanced`]), so the checked [`Predicate`] is `O(log n)` deep (and its
//!   evaluation, one multiplication round per level, takes `O(log n)` rounds, not `n`).
//!
//! What the query then costs is [`super::cost`]'s business, not this module's.

use sqlparser::ast::{BinaryOperator, Expr};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::ast::{Position, Predicate, SqlError};

/// The most tokens (words, numbers, operators, punctuation; not whitespace) a query may have:
/// a `WHERE` clause of about 500 comparisons fits (an ordinary query has under 100 tokens).
/// It bounds any expression sqlparser builds to about 1,000 levels, which its recursive walks
/// (`Display`, spans, `Drop`: about 700 bytes of stack a level) take within 1 MiB of stack,
/// half of a tokio worker thread's (measured by `the_longest_accepted_text_never_recurses_on_its_length`
/// in `protocols/tests/query_limits.rs`; 1,500 levels overflow 1 MiB).
pub const MAX_QUERY_TOKENS: usize = 2_048;

/// The deepest nesting of brackets (`(`, `[`, `{`) a query may have. sqlparser backtracks
/// over nested function calls in time exponential in their depth (about 4x a level: 1 ms at
/// 8 levels, 0.4 s at 14, 9 s for a 171-byte text of 18 that the fuzzer found, minutes at 20),
/// so a deeper text is refused before it is parsed. An ordinary query nests under 5 levels.
pub const MAX_NESTING: usize = 8;

/// Refuses a `NOT` that follows an operator symbol (`+ NOT x`, `x = NOT y`, `x + NOT y`).
///
/// `NOT` binds looser than arithmetic and comparison, so after an operator its operand swallows
/// the rest of the expression, and a text alternating the two (`+ + NOT + + x + + NOT ...`)
/// nests one `NOT` inside the next. When such a text then fails to parse, sqlparser backtracks
/// over every level in time exponential in their number (about 1.8x a level: 0.76 s at 16
/// levels; 74 s for a 385-byte text the fuzzer found, `fuzz/findings/sql_query-timeout-a4902c88`).
/// No query of the supported subset has `NOT` there (it negates predicates, and predicates are
/// not operands of arithmetic or comparison), so refusing it costs an analyst nothing: `NOT` is
/// accepted at the start, after a word (`WHERE NOT`, `AND NOT`, `x NOT IN`, `IS NOT`), a
/// number or string, a bracket or a comma.
fn check_not_placement(previous: Option<&Token>, t: &TokenWithSpan) -> Result<(), SqlError> {
    let is_not = matches!(&t.token, Token::Word(w) if w.keyword == Keyword::NOT);
    let after_operand_or_word = matches!(
        previous,
        None | Some(
            Token::Word(_)
                | Token::Number(..)
                | Token::SingleQuotedString(_)
                | Token::DoubleQuotedString(_)
                | Token::LParen
                | Token::RParen
                | Token::Comma
        )
    );
    if !is_not || after_operand_or_word {
        return Ok(());
    }
    Err(SqlError {
        construct: "NOT".into(),
        position: position_of(t),
        message: format!(
            "`NOT` after `{}`: NOT negates a condition and cannot be an operand of an operator (write `NOT (...)` as a condition of its own)",
            previous.map(|p| p.to_string()).unwrap_or_default()
        ),
    })
}

fn position_of(t: &TokenWithSpan) -> Option<Position> {
    (t.span.start.line > 0).then_some(Position {
        line: t.span.start.line,
        column: t.span.start.column,
    })
}

/// Refuses a query whose brackets nest deeper than [`MAX_NESTING`], or with a `NOT` after an
/// operator symbol (see [`check_not_placement`]), naming where (the tokens, in order, with
/// their positions). Both shapes make sqlparser backtrack for exponential time.
pub(super) fn check_nesting(tokens: &[TokenWithSpan]) -> Result<(), SqlError> {
    let mut depth = 0usize;
    let mut previous: Option<&Token> = None;
    for t in tokens {
        if matches!(t.token, Token::Whitespace(_)) {
            continue;
        }
        check_not_placement(previous, t)?;
        previous = Some(&t.token);
        match t.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(SqlError {
                        construct: "brackets".into(),
                        position: position_of(t),
                        message: format!(
                            "nested more than {MAX_NESTING} levels deep; at most {MAX_NESTING} are accepted"
                        ),
                    });
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses a query of more than [`MAX_QUERY_TOKENS`] tokens (`tokens` counts them all).
pub(super) fn check_size(tokens: usize) -> Result<(), SqlError> {
    if tokens > MAX_QUERY_TOKENS {
        return Err(SqlError {
            construct: "query".into(),
            position: None,
            message: format!(
                "{tokens} tokens; at most {MAX_QUERY_TOKENS} are accepted (split the question into smaller queries)"
            ),
        });
    }
    Ok(())
}

/// The operands of the chain of `op` rooted at `e`, left to right, without recursion:
/// `a AND (b AND c) AND d` gives `[a, b, c, d]` (parentheses around an operand of the same
/// operator are looked through, as the operator is associative).
pub(super) fn operands<'e>(e: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    let mut out = Vec::new();
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                // Right pushed first: the left operand comes out first.
                todo.push(right);
                todo.push(left);
            }
            Expr::Nested(inner) if is_chain(inner, op) => todo.push(inner),
            other => out.push(other),
        }
    }
    out
}

fn is_chain(e: &Expr, op: &BinaryOperator) -> bool {
    matches!(e, Expr::BinaryOp { op: o, .. } if o == op)
}

/// The operands joined by `join` as a balanced tree (`ceil(log2 n)` deep), in their order.
/// `parts` must not be empty.
pub(super) fn balanced(
    mut parts: Vec<Predicate>,
    join: fn(Box<Predicate>, Box<Predicate>) -> Predicate,
) -> Predicate {
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => join(Box::new(a), Box::new(b)),
                None => a,
            });
        }
        parts = next;
    }
    parts.pop().expect("a chain has at least one operand")
}

/// The depth of a predicate tree, without recursion (a leaf is 1).
pub fn depth(p: &Predicate) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(p, 1)];
    while let Some((p, d)) = todo.pop() {
        deepest = deepest.max(d);
        match p {
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                todo.push((a, d + 1));
                todo.push((b, d + 1));
            }
            Predicate::Not(a) => todo.push((a, d + 1)),
            Predicate::Compare { .. } | Predicate::Const(_) => {}
        }
    }
    deepest
}
