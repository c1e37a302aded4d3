//! Integration tests that drive the real `koubei` binary.

mod capture;
#[cfg(feature = "cluster")]
mod cluster;
mod clv;
mod demo;
mod golden;
mod hostile;
mod import;
mod kill;
mod malformed;
mod recommend;
mod reproducible;
mod reviews;
mod serve;
mod snapshots;
mod util;
mod wom;
mod writers;
