use thiserror::Error;

/// Why a summary cannot be fitted or a fit failed.
#[derive(Debug, Error)]
pub enum ClvError {
    #[error("there are no customers to fit")]
    Empty,
    #[error("{model} needs at least {needed} customers; the summary has {got}")]
    TooFew {
        model: &'static str,
        needed: usize,
        got: usize,
    },
    #[error(
        "no customer bought more than once, so {model} cannot tell how often customers buy or when they leave"
    )]
    NoRepeatBuyers { model: &'static str },
    #[error(
        "every repeat buyer's mean spend is {spend:.4}: {model} has no spread between customers to fit (each one's expected spend is that amount)"
    )]
    NoSpread { model: &'static str, spend: f64 },
    #[error("customer row {index}: {reason}")]
    InvalidRow { index: usize, reason: String },
    #[error("{model} did not converge: {reason}")]
    NotConverged { model: &'static str, reason: String },
    #[error("optimizer: {0}")]
    Optimizer(String),
}
