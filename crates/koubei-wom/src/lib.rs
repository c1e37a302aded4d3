//! Word of mouth over plain slices.
//!
//! The engine turns the shop's `referrals`, `orders` and `customers` tables
//! into a graph and a forest of cascades; this crate measures and optimises
//! them. It knows nothing of storage or queries, so it builds and tests in
//! seconds.
//!
//! - [`Graph`] holds arcs with activation probabilities; [`read_edge_list`]
//!   reads one from a plain edge list.
//! - [`select_seeds`] chooses the k seeds that spread furthest under the
//!   independent cascade model, by OPIM-C, and certifies how close to the
//!   optimum they are; [`Targets::Groups`] spreads to groups (regions,
//!   countries) instead of people.
//! - [`simulate`] estimates the spread of any seed set by Monte Carlo.
//! - [`Forest`] gives each cascade's size, depth, breadth and structural
//!   virality.

mod cascade;
mod edgelist;
mod error;
mod graph;
mod maxcover;
mod rr;
mod seeds;
mod simulate;

pub use cascade::{CascadeShape, Forest, break_cycles};
pub use edgelist::{EdgeListInfo, read_edge_list};
pub use error::WomError;
pub use graph::{EdgeModel, Graph, GraphBuilder};
pub use maxcover::{Cover, greedy};
pub use rr::{Groups, RrSets, Targets};
pub use seeds::{Round, SeedRequest, Seeds, StopReason, select_seeds, select_seeds_with};
pub use simulate::{Estimate, Spread, simulate};
