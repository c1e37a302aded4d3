use thiserror::Error;

/// What can go wrong building a graph or choosing seeds.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WomError {
    /// A line of an edge list that cannot be read.
    #[error("line {line}: {reason}")]
    EdgeList { line: usize, reason: String },
    /// An edge probability outside [0, 1].
    #[error("line {line}: probability {value} is outside [0, 1]")]
    Probability { line: usize, value: String },
    /// The graph has no node to choose from.
    #[error("the graph is empty: there is no node to seed")]
    EmptyGraph,
    /// More seeds were asked for than there are nodes.
    #[error("k = {k} is larger than the graph's {nodes} nodes")]
    KTooLarge { k: usize, nodes: usize },
    /// A parameter outside its range.
    #[error("{0}")]
    Invalid(String),
    /// A node id that the graph does not have.
    #[error("node \"{0}\" is not in the graph")]
    UnknownNode(String),
}
