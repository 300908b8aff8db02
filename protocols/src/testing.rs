//! Synthetic inputs for benchmarks, the simulator and tests (behind the `testing` feature):
//! one generator for each kind of data, so that a benchmark, a simulated job and a test of
//! the same protocol draw the same shape of data. Randomness is the caller's.

use rand::Rng;

use crate::dataset::{ColumnSpec, Schema, Table};

/// The schema of a firm's limit orders: `side` (buy or sell), `price` (`price_bits` bits, one
/// of the grid's ticks) and `quantity` (24 bits).
pub fn order_schema(price_bits: u32) -> Schema {
    Schema {
        columns: vec![
            ColumnSpec::categorical("side", vec!["buy".into(), "sell".into()]),
            ColumnSpec::integer("price", price_bits),
            ColumnSpec::integer("quantity", 24),
        ],
    }
}

/// `orders` limit orders spread over `firms` books (one table each, the first `orders % firms`
/// one order longer), on the price `grid` (at least one tick): half buy, half sell, buyers'
/// limits skewed high and sellers' low so that the book crosses mid-grid; quantities 1 to 1000.
pub fn order_books(
    rng: &mut impl Rng,
    grid: &[i128],
    orders: usize,
    firms: usize,
    price_bits: u32,
) -> Vec<Table> {
    let ticks = grid.len();
    let schema = order_schema(price_bits);
    (0..firms)
        .map(|f| {
            let rows = orders / firms + usize::from(f < orders % firms);
            let mut cols: Vec<Vec<i128>> = (0..3).map(|_| Vec::with_capacity(rows)).collect();
            for _ in 0..rows {
                let sells = rng.random_bool(0.5);
                let centre = if sells { ticks / 3 } else { 2 * ticks / 3 };
                let spread = ticks / 2;
                let idx = (centre + rng.random_range(0..=spread)).saturating_sub(spread / 2);
                cols[0].push(i128::from(sells));
                cols[1].push(grid[idx.min(ticks - 1)]);
                cols[2].push(rng.random_range(1..=1000));
            }
            Table {
                schema: schema.clone(),
                columns: cols,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn books_hold_every_order_on_the_grid_and_check_against_their_schema() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let grid: Vec<i128> = (0..10).map(|i| 100 + 5 * i).collect();
        for (orders, firms) in [(0, 1), (1, 3), (101, 7)] {
            let books = order_books(&mut rng, &grid, orders, firms, 20);
            assert_eq!(books.len(), firms);
            assert_eq!(books.iter().map(Table::rows).sum::<usize>(), orders);
            for t in &books {
                assert!(t.columns[0].iter().all(|&s| s == 0 || s == 1));
                assert!(t.columns[1].iter().all(|p| grid.contains(p)));
                assert!(t.columns[2].iter().all(|&q| (1..=1000).contains(&q)));
            }
        }
        let one_tick = order_books(&mut rng, &[42], 5, 1, 8);
        assert!(one_tick[0].columns[1].iter().all(|&p| p == 42));
    }
}
