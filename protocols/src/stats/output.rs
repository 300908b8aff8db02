//! What the aggregates hand to the opening: per output column, the batches over the reported
//! groups, the `NULL` flags, and how to read the opened integers ([`Decode`]). Also the last
//! secret step: every value that can be `NULL` multiplied by its flag, so that an undefined
//! value opens as 0 and reveals nothing beside the flag.

use serde::{Deserialize, Serialize};

use super::{StatsError, concat, in_step};
use crate::backend::{Backend, Secret};

/// How an opened batch becomes values (also how the recipient of a private result reads the
/// values it reconstructs: [`super::PrivateResult`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Decode {
    /// An integer count.
    Count,
    /// A sum, minimum or maximum of a column with `frac` fractional bits (an integer when 0).
    Scaled(u32),
    /// A fixed-point number: divide by `2^shift` (a negative shift multiplies).
    Float(i32),
    /// A percentile numerator: divide by `den · 2^frac`.
    Percentile(i128, u32),
    /// Histogram buckets, one part each.
    Buckets,
    /// The group's label.
    Key,
}

/// One output column over the reported groups.
pub(crate) struct Output {
    /// Batches over the reported groups (a histogram has one per bucket).
    pub parts: Vec<Secret>,
    /// Whether each group's value is defined (`NULL` otherwise), when it can be undefined.
    pub defined: Option<Secret>,
    /// How to read the parts.
    pub decode: Decode,
}

/// The reported groups' statistics, each a batch over those groups.
pub(crate) struct Stats {
    /// Rows per group.
    pub counts: Secret,
    /// Per plan term.
    pub sums: Vec<Secret>,
    /// Noise was added (bounds from the data's range no longer hold).
    pub noisy: bool,
}

/// Multiplies every value that can be `NULL` by its flag (one `mul` call), so that an undefined
/// value opens as 0 and nothing else about it.
pub(crate) async fn mask_undefined<B: Backend>(
    b: &mut B,
    outputs: &mut [Output],
) -> Result<(), StatsError> {
    let (mut xs, mut fs) = (Vec::new(), Vec::new());
    for o in outputs.iter() {
        if let Some(d) = &o.defined {
            xs.push(o.parts[0].clone().with_frac(0));
            fs.push(d.clone());
        }
    }
    if xs.is_empty() {
        return Ok(());
    }
    let len = xs[0].len();
    let xr: Vec<&Secret> = xs.iter().collect();
    let fr: Vec<&Secret> = fs.iter().collect();
    let p = b
        .mul(&concat(&fr, "NULL flags")?, &concat(&xr, "NULL flags")?)
        .await
        .map_err(in_step("NULL flags"))?;
    let mut i = 0;
    for o in outputs.iter_mut() {
        if o.defined.is_some() {
            let frac = o.parts[0].frac();
            o.parts[0] = p.slice(i * len..(i + 1) * len).with_frac(frac);
            i += 1;
        }
    }
    Ok(())
}
