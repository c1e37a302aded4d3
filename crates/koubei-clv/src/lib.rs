//! Customer-lifetime-value models over plain slices.
//!
//! The engine turns the `orders` table into one summary row per customer; this
//! crate fits the models to those rows and predicts from them. It knows nothing
//! of storage or queries, so it builds and tests in seconds.
//!
//! - [`BgNbd`], [`MbgNbd`] and [`ParetoNbd`] count repeat purchases in continuous
//!   time; [`BgBb`] counts them over discrete opportunities; [`GammaGamma`]
//!   models spend per purchase.
//! - [`fit()`] maximises the (optionally penalised) likelihood with analytic
//!   gradients and reports standard errors, AIC and BIC.
//! - [`Counting`] gives P(alive), expected purchases and the purchase-count
//!   distribution; [`predict`] turns them into a lifetime value.

// Index loops over parameters read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

mod bgbb;
mod bgnbd;
mod counting;
mod data;
mod error;
mod fit;
mod gamma_gamma;
mod linalg;
mod pareto;
pub mod special;

pub use bgbb::{BgBb, BgBbParams, check as check_discrete};
pub use bgnbd::{BgNbd, BgNbdParams, MbgNbd};
pub use counting::{Counting, predict};
pub use data::{Discrete, Rft, Spend, check_counting, check_rft};
pub use error::ClvError;
pub use fit::{Fit, FitOptions, Model, Weighted, fit};
pub use gamma_gamma::{
    GammaGamma, GammaGammaParams, SpendRow, check as check_spend, usable as usable_spend,
};
pub use pareto::{ParetoNbd, ParetoParams};
