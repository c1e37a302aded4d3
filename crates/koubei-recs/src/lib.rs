//! Recommendation models: which products to show to whom, to raise
//! purchase frequency and basket size.
//!
//! - [`Interactions`]: the customer × product matrix (CSR), each cell a
//!   confidence (orders, or views and carts with weights the user sets).
//! - [`Popularity`]: the baseline every model is measured against.
//! - [`ItemKnn`]: item-to-item cosine similarity from co-purchase, shrunk
//!   for items with few buyers.
//! - [`Als`]: implicit-feedback matrix factorisation (Hu, Koren and
//!   Volinsky 2008) solved by conjugate-gradient steps (Takács et al.
//!   2011), as the `implicit` library does.
//! - [`together`]: bought-together rules with support, confidence and lift.
//! - [`evaluate`]: precision, recall, NDCG, MAP and coverage at k, one
//!   function for every model and for a peer's recommendations.
//!
//! The crate knows nothing of tables or requests: the engine builds the
//! matrix from `orders` and `events` and stores what it returns.

mod als;
mod knn;
mod matrix;
mod metrics;
mod popularity;
mod rules;
mod split;
mod topn;

pub use als::{Als, AlsModel};
pub use knn::{ItemKnn, ItemKnnModel, Similarity};
pub use matrix::Interactions;
pub use metrics::{Metrics, evaluate};
pub use popularity::Popularity;
pub use rules::{Rule, together};
pub use split::{Event, temporal_split};
pub use topn::{top_n, top_n_of};

/// A model that scores every item for a user from the user's row.
pub trait Recommender: Sync {
    /// The `n` best items for `user` that are not in `exclude` (sorted), best
    /// first, with their scores.
    fn recommend(&self, user: usize, exclude: &[u32], n: usize) -> Vec<(u32, f32)>;
}

/// Errors of fitting or of bad input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("{0}")]
    Input(String),
}
