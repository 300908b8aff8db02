//! The engine's errors. Each names what was wrong and where; none carries a share or a value.

use crate::net::NetError;
use crate::party::PartyId;

/// An encoding of a plain value into the field failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The value lies outside the declared range.
    #[error("value outside the declared range [-2^{bits}, 2^{bits})")]
    OutOfRange {
        /// The declared bound in bits.
        bits: u32,
    },
    /// A floating-point input was NaN or infinite.
    #[error("value is not a finite number")]
    NotFinite,
    /// A field element does not decode to a 128-bit signed integer.
    #[error("field element is not a 128-bit signed integer")]
    NotAnInteger,
}

/// A name that is none of a setting's choices (`--protocol dn08`, `security = "evil"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{got}' (expected {expected})")]
pub struct UnknownChoice {
    /// The setting (`multiplication protocol`).
    pub what: &'static str,
    /// The name given.
    pub got: String,
    /// The choices, in words (`grr or dn07`).
    pub expected: &'static str,
}

impl UnknownChoice {
    /// The choice `got` names, looked up case-insensitively among `choices` (each a name and
    /// its value), or the error naming `what` and the `expected` choices.
    pub fn pick<T: Copy>(
        what: &'static str,
        expected: &'static str,
        choices: &[(&str, T)],
        got: &str,
    ) -> Result<T, UnknownChoice> {
        let wanted = got.to_ascii_lowercase();
        choices
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|&(_, value)| value)
            .ok_or_else(|| UnknownChoice {
                what,
                got: wanted,
                expected,
            })
    }
}

/// Anything the engine can refuse or fail at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpcError {
    /// `n` and `t` do not describe an honest-majority Shamir setting.
    #[error("invalid parameters n={n}, t={t}: {reason}")]
    InvalidParams {
        /// Number of parties.
        n: usize,
        /// Threshold.
        t: usize,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// A party id is not one of `0..n`.
    #[error("party {party} out of range (n={n})")]
    PartyOutOfRange {
        /// The offending id.
        party: usize,
        /// Number of parties.
        n: usize,
    },
    /// Too few shares to reconstruct.
    #[error("{got} shares cannot reconstruct a degree-{degree} sharing (need {})", degree + 1)]
    TooFewShares {
        /// Shares given.
        got: usize,
        /// Degree of the sharing.
        degree: usize,
    },
    /// Redundant shares do not lie on one polynomial of the expected degree.
    #[error(
        "shares are inconsistent: party {party}'s share is off the degree-{degree} polynomial (element {index})"
    )]
    InconsistentShares {
        /// The first party whose share disagrees with the others.
        party: PartyId,
        /// Degree of the sharing.
        degree: usize,
        /// Index in the batch.
        index: usize,
    },
    /// The same share index appears twice in a reconstruction.
    #[error("party {0} appears twice in a reconstruction")]
    DuplicateParty(PartyId),
    /// Two batches that must be of one length are not.
    #[error("{op}: batch lengths differ ({left} vs {right})")]
    LengthMismatch {
        /// The operation.
        op: &'static str,
        /// First length.
        left: usize,
        /// Second length.
        right: usize,
    },
    /// Two operands have different fixed-point scales.
    #[error("{op}: fixed-point scales differ (2^-{left} vs 2^-{right})")]
    ScaleMismatch {
        /// The operation.
        op: &'static str,
        /// Fractional bits of the first operand.
        left: u32,
        /// Fractional bits of the second operand.
        right: u32,
    },
    /// The result's magnitude bound would leave the range where comparison and truncation are
    /// sound. Refused before anything is sent.
    #[error("{op}: result needs {bits} bits, over the limit of {limit} (k + 40 < 252)")]
    BoundExceeded {
        /// The operation.
        op: &'static str,
        /// Bits the result would need.
        bits: u32,
        /// The engine's limit.
        limit: u32,
    },
    /// An argument is outside what the operation accepts.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A plain value could not be encoded.
    #[error("encoding input element {index}: {source}")]
    Encode {
        /// Index of the value in its batch.
        index: usize,
        /// Why.
        source: EncodeError,
    },
    /// A peer sent something that does not parse or has the wrong size.
    #[error("malformed message from party {from}: {reason}")]
    Malformed {
        /// The sender.
        from: PartyId,
        /// What was wrong.
        reason: String,
    },
    /// Under [`SecurityLevel::Malicious`](crate::engine::SecurityLevel), a check that honest
    /// parties always pass failed: some party deviated from the protocol. The session stops
    /// before anything else is opened.
    #[error("integrity check failed: {check}{}", culprits(.parties))]
    IntegrityCheckFailed {
        /// Which check: "multiplication" (a product or random bit was wrong), "opening
        /// consistency" (a share off the polynomial), "random bits".
        check: &'static str,
        /// The parties whose shares were off the polynomial, when the check can tell (an
        /// opening with `n >= 3t + 1`: `engine/decode.rs`); empty otherwise.
        parties: Vec<PartyId>,
    },
    /// Under [`SecurityLevel::Malicious`](crate::engine::SecurityLevel), an owner's input
    /// failed one of the workers' checks ([`Engine::check_inputs`](crate::Engine::check_inputs)
    /// or a job's input rule): names the input (a dataset, `owner/name`) and the rule, never a
    /// value. The session stops before anything depending on the input is opened.
    #[error("integrity check failed: input {input}: {rule}")]
    InputCheckFailed {
        /// The offending input, as the caller named it (a dataset, `owner/name`).
        input: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The network failed.
    #[error(transparent)]
    Net(#[from] NetError),
}

fn culprits(parties: &[PartyId]) -> String {
    match parties {
        [] => String::new(),
        [p] => format!(" (party {p} sent a share off the polynomial)"),
        many => {
            let list: Vec<String> = many.iter().map(PartyId::to_string).collect();
            format!(
                " (parties {} sent shares off the polynomial)",
                list.join(", ")
            )
        }
    }
}

/// The engine's result type.
pub type Result<T, E = MpcError> = std::result::Result<T, E>;
