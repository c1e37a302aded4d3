//! Plain edge lists: one `source target [probability]` per line.
//!
//! Fields are separated by blanks, tabs or commas; `#` starts a comment; blank
//! lines are skipped. Many published graphs (NetHEPT among them) open with a
//! `nodes edges` line: a first line of two integers is read as that header
//! when the number of edge lines that follow is exactly its second number.

use memchr::memchr;

use crate::{GraphBuilder, WomError};

/// What reading an edge list found, besides the edges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeListInfo {
    /// Edge lines read (the header excluded).
    pub edges: usize,
    /// Lines whose source and target are the same node (dropped when built).
    pub self_loops: usize,
    /// Whether every edge line carried a probability.
    pub all_probabilities: bool,
    /// The `nodes edges` header, when the first line was one.
    pub header: Option<(u64, u64)>,
}

fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
}

/// Reads an edge list into a builder. Errors name the 1-based line.
pub fn read_edge_list(text: &[u8], builder: &mut GraphBuilder) -> Result<EdgeListInfo, WomError> {
    let mut info = EdgeListInfo {
        all_probabilities: true,
        ..Default::default()
    };
    // The first data line, held back until we know whether it is a header.
    let mut first: Option<(usize, String, String, Option<f64>)> = None;
    let mut pos = 0;
    let mut line_no = 0;
    while pos < text.len() {
        line_no += 1;
        let end = memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i);
        let raw = &text[pos..end];
        pos = end + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = match memchr(b'#', raw) {
            Some(i) => &raw[..i],
            None => raw,
        };
        let line = std::str::from_utf8(raw).map_err(|_| WomError::EdgeList {
            line: line_no,
            reason: "not valid UTF-8".into(),
        })?;
        let mut it = fields(line);
        let Some(source) = it.next() else { continue };
        let Some(target) = it.next() else {
            return Err(WomError::EdgeList {
                line: line_no,
                reason: format!("expected `source target [probability]`, found only \"{source}\""),
            });
        };
        let probability = match it.next() {
            None => None,
            Some(p) => {
                let value: f64 = p.parse().map_err(|_| WomError::EdgeList {
                    line: line_no,
                    reason: format!("the probability \"{p}\" is not a number"),
                })?;
                if !(0.0..=1.0).contains(&value) {
                    return Err(WomError::Probability {
                        line: line_no,
                        value: p.to_string(),
                    });
                }
                Some(value)
            }
        };
        if let Some(extra) = it.next() {
            return Err(WomError::EdgeList {
                line: line_no,
                reason: format!(
                    "expected `source target [probability]`, found a fourth field \"{extra}\""
                ),
            });
        }
        if first.is_none() && info.edges == 0 && info.header.is_none() {
            first = Some((line_no, source.into(), target.into(), probability));
            info.edges = 1;
            continue;
        }
        add(builder, &mut info, source, target, probability, line_no);
    }
    if let Some((line, source, target, probability)) = first {
        let header = match (source.parse::<u64>(), target.parse::<u64>(), probability) {
            (Ok(n), Ok(m), None) if m == (info.edges - 1) as u64 => Some((n, m)),
            _ => None,
        };
        if header.is_some() {
            info.header = header;
            info.edges -= 1;
        } else {
            info.edges -= 1;
            add(builder, &mut info, &source, &target, probability, line);
        }
    }
    if info.edges == 0 {
        info.all_probabilities = false;
    }
    Ok(info)
}

fn add(
    builder: &mut GraphBuilder,
    info: &mut EdgeListInfo,
    source: &str,
    target: &str,
    probability: Option<f64>,
    line: usize,
) {
    let u = builder.node(source);
    let v = builder.node(target);
    if u == v {
        info.self_loops += 1;
    }
    info.all_probabilities &= probability.is_some();
    info.edges += 1;
    builder.edge(u, v, probability, line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EdgeModel;

    fn read(text: &str) -> Result<(GraphBuilder, EdgeListInfo), WomError> {
        let mut b = GraphBuilder::new();
        let info = read_edge_list(text.as_bytes(), &mut b)?;
        Ok((b, info))
    }

    #[test]
    fn reads_edges_comments_and_probabilities() {
        let (b, info) = read("# a comment\na b 0.5\n\nb,c,0.25 # trailing\r\nc\ta 1\n").unwrap();
        assert_eq!(info.edges, 3);
        assert!(info.all_probabilities);
        assert_eq!(info.header, None);
        let g = b.build(EdgeModel::Given, false).unwrap();
        assert_eq!(g.node_count(), 3);
        let b_ = g.find("b").unwrap();
        let c = g.find("c").unwrap();
        assert_eq!(g.in_arcs(c).collect::<Vec<_>>(), vec![(b_, 0.25)]);
    }

    #[test]
    fn a_counts_header_is_recognised_only_when_it_matches() {
        let (b, info) = read("3 2\n0 1\n1 2\n").unwrap();
        assert_eq!(info.header, Some((3, 2)));
        assert_eq!(info.edges, 2);
        assert_eq!(b.node_count(), 3);
        // Three edge lines follow, not two: the first line is an edge.
        let (b, info) = read("3 2\n0 1\n1 2\n2 0\n").unwrap();
        assert_eq!(info.header, None);
        assert_eq!(info.edges, 4);
        assert_eq!(b.node_count(), 4);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let e = read("a b\nc\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: expected `source target [probability]`, found only \"c\""
        );
        let e = read("a b\n# x\nc d 1.5\n").unwrap_err();
        assert_eq!(
            e,
            WomError::Probability {
                line: 3,
                value: "1.5".into()
            }
        );
        let e = read("a b x\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 1: the probability \"x\" is not a number"),
            "{e}"
        );
        let e = read("a b 0.1 7\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1: expected"), "{e}");
    }

    #[test]
    fn self_loops_are_counted_and_dropped() {
        let (b, info) = read("a a\na b\n").unwrap();
        assert_eq!(info.self_loops, 1);
        let g = b.build(EdgeModel::WeightedCascade, true).unwrap();
        assert_eq!(g.arc_count(), 2);
    }
}
