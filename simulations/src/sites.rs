//! Named sites and the measured round-trip times between them, for worlds where each worker
//! sits in a real region.
//!
//! **Source.** The table is the "Latency Between AWS Global Regions" measurement as tabulated
//! in "AWS Regions" (A Computer Scientist Learns AWS, April 2017,
//! <https://acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html>): average
//! ping times in milliseconds between EC2 instances, one row per region the pings were sent
//! from. The figures are copied as published, row by row, so the two directions of a pair
//! differ slightly (a ping measured from each end); the table's São Paulo row is missing from
//! that page, so São Paulo is not a site here. They are 2017 figures: today's paths may be a
//! little faster. Aarhus, the city of the original sugar-beet auction, is in no such table;
//! Frankfurt and Ireland are the nearest measured regions.
//!
//! **The model.** A message from a worker at site `a` to one at site `b` takes half the
//! round-trip time measured from `a` to `b` (one way); workers at one site talk over the
//! scenario's local link (its preset). Bandwidth is not in the table: a scenario states the
//! bandwidth between sites itself (`site_bandwidth_mbps`), an assumption it should say it
//! makes.
//!
//! What this module does not do: model links (see [`crate::link`]).

/// The sites, in the table's order.
pub const SITES: [&str; 9] = [
    "virginia",
    "n-california",
    "oregon",
    "ireland",
    "frankfurt",
    "tokyo",
    "seoul",
    "singapore",
    "sydney",
];

/// Average round-trip times in milliseconds, `RTT_MS[from][to]`, sites in [`SITES`] order.
const RTT_MS: [[f64; 9]; 9] = [
    [0.0, 72.74, 86.98, 80.55, 88.66, 145.3, 178.4, 216.7, 230.0],
    [71.63, 0.0, 19.46, 153.2, 166.6, 102.5, 131.5, 174.0, 157.5],
    [88.68, 19.2, 0.0, 137.0, 159.5, 89.1, 118.3, 161.4, 162.2],
    [80.52, 153.2, 137.0, 0.0, 19.56, 212.4, 242.4, 239.0, 309.6],
    [88.62, 166.6, 159.5, 19.55, 0.0, 236.5, 266.2, 325.9, 323.5],
    [145.3, 102.5, 89.16, 212.4, 236.6, 0.0, 31.44, 73.79, 103.9],
    [176.6, 132.6, 118.2, 242.4, 265.3, 31.32, 0.0, 71.87, 134.0],
    [216.7, 173.9, 161.4, 238.1, 325.9, 73.81, 71.29, 0.0, 175.3],
    [229.7, 157.8, 161.9, 309.6, 323.2, 103.9, 134.0, 175.4, 0.0],
];

/// The index of a site, or an error listing the known ones.
pub fn site(name: &str) -> Result<usize, UnknownSite> {
    SITES
        .iter()
        .position(|s| *s == name)
        .ok_or_else(|| UnknownSite(name.to_owned()))
}

/// A site name outside [`SITES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown site '{0}' (the measured sites are {known})", known = SITES.join(", "))]
pub struct UnknownSite(pub String);

/// The measured round-trip time from site `from` to site `to`, in milliseconds.
pub fn rtt_ms(from: usize, to: usize) -> f64 {
    RTT_MS[from][to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_square_with_a_zero_diagonal_and_nearly_symmetric() {
        for (a, from) in SITES.iter().enumerate() {
            assert_eq!(rtt_ms(a, a), 0.0);
            for (b, to) in SITES.iter().enumerate() {
                if a != b {
                    let (x, y) = (rtt_ms(a, b), rtt_ms(b, a));
                    assert!(x > 10.0, "{from} -> {to}");
                    // Two measurements of one path: within 5% of each other.
                    assert!((x - y).abs() <= 0.05 * x.max(y), "{from} <-> {to}");
                }
            }
        }
        assert_eq!(site("frankfurt"), Ok(4));
        let err = site("aarhus").unwrap_err();
        assert_eq!(err, UnknownSite("aarhus".into()));
        assert!(err.to_string().contains("virginia"), "{err}");
    }
}
