//! Why a market job's public facts are refused before anything is shared: a job's price grid
//! ([`GridError`], from [`Grid::prices`](super::Grid::prices)) and an owner's plain table
//! ([`TableError`], from [`check_bids`](super::auction::check_bids),
//! [`check_orders`](super::orders::check_orders) and
//! [`check_records`](super::records::check_records)). Each variant names the column or the
//! row; rows are numbered as the CSV's data rows ([`Row`]). The checks themselves stay beside
//! their protocols; only their refusals live here.

use super::{MAX_GRID, MAX_QUANTITY_BITS, Row};

/// What is wrong with a job's price grid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    /// A range's tick below 1.
    #[error("grid: step {0} must be at least 1")]
    Step(i64),
    /// A range whose lowest price is above its highest.
    #[error("grid: min {min} is above max {max}")]
    Inverted {
        /// The lowest price.
        min: i64,
        /// The highest price.
        max: i64,
    },
    /// More prices than a job may have.
    #[error("grid: {0} prices, more than the {MAX_GRID} allowed")]
    TooMany(usize),
    /// A list of no prices.
    #[error("grid: the list of prices is empty")]
    Empty,
    /// A list whose prices do not increase strictly.
    #[error("grid: prices must increase strictly ({0} then {1})")]
    NotIncreasing(i64, i64),
}

/// A bidder's curve: demand (`buy`) must not rise with the price, supply (`sell`) must not
/// fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// The `buy` column.
    Demand,
    /// The `sell` column.
    Supply,
}

impl Curve {
    /// Whether going from `before` to `after` as the price rises breaks the curve's direction.
    pub fn breaks(self, before: i128, after: i128) -> bool {
        match self {
            Curve::Demand => after > before,
            Curve::Supply => after < before,
        }
    }

    fn moved(self) -> &'static str {
        match self {
            Curve::Demand => "demand rises",
            Curve::Supply => "supply falls",
        }
    }

    fn forbidden(self) -> &'static str {
        match self {
            Curve::Demand => "increase",
            Curve::Supply => "decrease",
        }
    }
}

/// Why an owner's table does not fit the market job it is uploaded for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A bid table without one of `price`, `buy`, `sell`.
    #[error("the bids need a column '{0}' (price, buy, sell)")]
    BidColumn(String),
    /// An order table without one of `price`, `quantity`.
    #[error("the orders need a column '{0}' (side, price, quantity)")]
    OrderColumn(String),
    /// An order table without `side`.
    #[error("the orders need a column 'side' (buy or sell)")]
    NoSide,
    /// A `side` column that is not categorical over exactly `buy` and `sell`.
    #[error("column 'side' must be categorical with the domain [\"buy\", \"sell\"]")]
    SideDomain,
    /// A column the job reads as integers that is not an integer column.
    #[error("column '{0}' must be an integer column")]
    NotInteger(String),
    /// A quantity column declared wider than the matching protocols allow.
    #[error(
        "column '{column}' is declared with {bits} bits; quantities need a schema with at most \
         {MAX_QUANTITY_BITS} (`bits = {MAX_QUANTITY_BITS}`)"
    )]
    QuantityWidth {
        /// The column.
        column: String,
        /// Its declared width.
        bits: u32,
    },
    /// A bid row whose price is not the grid's price at that row.
    #[error(
        "{row}: price {price} is not the grid's price {grid} (one row per grid price, in order)"
    )]
    NotGridPrice {
        /// The row.
        row: Row,
        /// Its price.
        price: i128,
        /// The grid's price at that row.
        grid: i128,
    },
    /// A bid row past the grid's last price.
    #[error("{row}: price {price} is past the grid's last price {last}")]
    PastGrid {
        /// The row.
        row: Row,
        /// Its price.
        price: i128,
        /// The grid's last price.
        last: i128,
    },
    /// A bid table with fewer rows than the grid has prices.
    #[error("{rows} rows, the grid has {prices} prices: the row for price {missing} is missing")]
    MissingPrice {
        /// Rows in the table.
        rows: usize,
        /// Prices on the grid.
        prices: usize,
        /// The first price without a row.
        missing: i128,
    },
    /// A negative bid quantity.
    #[error("{row}: negative {side} quantity {quantity}")]
    NegativeQuantity {
        /// The row.
        row: Row,
        /// `buy` or `sell`.
        side: &'static str,
        /// The quantity.
        quantity: i128,
    },
    /// Demand that rises, or supply that falls, as the price rises.
    #[error(
        "{row}: {} from {from} at price {from_price} to {to} at price {to_price} (it must not \
         {} with the price)",
        .curve.moved(),
        .curve.forbidden()
    )]
    NotMonotone {
        /// The row.
        row: Row,
        /// The curve.
        curve: Curve,
        /// The previous row's quantity.
        from: i128,
        /// The previous row's price.
        from_price: i128,
        /// This row's quantity.
        to: i128,
        /// This row's price.
        to_price: i128,
    },
    /// An order's price off the grid.
    #[error("{row}: price {price} is not on the grid ({prices} prices from {first} to {last})")]
    OffGrid {
        /// The row.
        row: Row,
        /// Its price.
        price: i128,
        /// Prices on the grid.
        prices: usize,
        /// The grid's first price.
        first: i128,
        /// The grid's last price.
        last: i128,
    },
    /// An order for less than one unit.
    #[error("{row}: quantity {quantity} must be at least 1")]
    QuantityBelowOne {
        /// The row.
        row: Row,
        /// The quantity.
        quantity: i128,
    },
    /// A record table without the job's identifier column.
    #[error("the dataset needs the identifier column '{0}'")]
    NoIdColumn(String),
    /// An identifier column of another type.
    #[error("column '{0}' must have type identifier (hashed on this machine before sharing)")]
    IdType(String),
    /// An identifier twice in one table.
    #[error("{row}: identifier repeats {first} (each identifier once per dataset)")]
    IdRepeats {
        /// The row of the repeat.
        row: Row,
        /// The row it first appears in.
        first: Row,
    },
    /// A record table without a column the job sums.
    #[error("the dataset needs the value column '{0}' to sum")]
    NoSumColumn(String),
    /// A summed column that is not a number.
    #[error("column '{0}' must be integer or fixed point to be summed")]
    SumType(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_row_as_the_csv_numbers_it() {
        let e = TableError::QuantityBelowOne {
            row: Row(0),
            quantity: 0,
        };
        assert_eq!(
            e.to_string(),
            "row 1 (CSV line 2): quantity 0 must be at least 1"
        );
        let supply = TableError::NotMonotone {
            row: Row(1),
            curve: Curve::Supply,
            from: 4,
            from_price: 10,
            to: 1,
            to_price: 11,
        };
        assert_eq!(
            supply.to_string(),
            "row 2 (CSV line 3): supply falls from 4 at price 10 to 1 at price 11 (it must not \
             decrease with the price)"
        );
        assert_eq!(
            GridError::NotIncreasing(3, 3).to_string(),
            "grid: prices must increase strictly (3 then 3)"
        );
    }
}
