//! Per-person funnel matching: how far along the steps a person got.
//!
//! The ordered and strict modes follow ClickHouse's `windowFunnel`
//! (`AggregateFunctionWindowFunnel.cpp`), so that step counts are equal to
//! ClickHouse's, not close:
//!
//! - A person's events are taken in time order. Events at the same instant
//!   are ordered by step, step 1 first; an event that matches several steps
//!   counts once for each.
//! - Each step-1 event starts a chain (the latest one replaces earlier ones
//!   at level 1, which never loses a completion: a later start leaves more of
//!   the window).
//! - An event of step k extends a chain that has reached step k - 1 if it
//!   happens no later than the chain's step-1 time plus the window
//!   (inclusive: exactly at the window counts, one microsecond over does not).
//! - The result is the highest step any chain reached.
//! - **Strict order** (`strict_order`): once a step-1 event has been seen, an
//!   event that matches no step ends the search, and so does an event of a
//!   step whose previous step no chain has reached.
//!
//! The unordered mode counts, for the best start, how many distinct steps
//! were done within the window from the first of them, in any order.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelOrder {
    /// Steps in order; other events in between are allowed.
    Ordered,
    /// Steps in order, with no other event in between.
    Strict,
    /// Steps in any order.
    Unordered,
}

impl FromStr for FunnelOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ordered" => Ok(FunnelOrder::Ordered),
            "strict" | "strict_order" => Ok(FunnelOrder::Strict),
            "unordered" => Ok(FunnelOrder::Unordered),
            _ => Err(format!(
                "unknown funnel order \"{s}\": expected ordered, strict or unordered"
            )),
        }
    }
}

impl fmt::Display for FunnelOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FunnelOrder::Ordered => "ordered",
            FunnelOrder::Strict => "strict",
            FunnelOrder::Unordered => "unordered",
        })
    }
}

/// One of a person's events: when, and which steps it matches (bit k = step k + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepEvent {
    pub ts: i64,
    pub steps: u32,
}

/// The furthest step (0 to `n`) reached. `events` need not be sorted.
pub fn max_step(events: &[StepEvent], n: usize, window: i64, order: FunnelOrder) -> usize {
    assert!((1..=32).contains(&n), "a funnel has 1 to 32 steps");
    // One entry per (event, matched step); 0 marks an event matching no step.
    let mut entries: Vec<(i64, u8)> = Vec::with_capacity(events.len());
    for e in events {
        if e.steps == 0 {
            if order == FunnelOrder::Strict {
                entries.push((e.ts, 0));
            }
            continue;
        }
        for k in 0..n {
            if e.steps & (1 << k) != 0 {
                entries.push((e.ts, k as u8 + 1));
            }
        }
    }
    if entries.is_empty() {
        return 0;
    }
    entries.sort_unstable();
    match order {
        FunnelOrder::Unordered => unordered(&entries, n, window),
        _ => ordered(&entries, n, window, order == FunnelOrder::Strict),
    }
}

fn ordered(entries: &[(i64, u8)], n: usize, window: i64, strict: bool) -> usize {
    if !strict && n == 1 {
        return 1;
    }
    // Step-1 time of the chain at each level reached so far.
    let mut start: Vec<Option<i64>> = vec![None; n];
    let mut seen_first = false;
    let reached =
        |start: &[Option<i64>]| start.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    for &(ts, step) in entries {
        if step == 0 {
            if seen_first {
                break;
            }
            continue;
        }
        let k = step as usize - 1;
        if k == 0 {
            start[0] = Some(ts);
            seen_first = true;
        } else if strict && seen_first && start[k - 1].is_none() {
            return start.iter().position(Option::is_none).unwrap_or(n);
        } else if let Some(s) = start[k - 1]
            && ts <= s.saturating_add(window)
        {
            start[k] = Some(s);
            if k + 1 == n {
                return n;
            }
        }
    }
    reached(&start)
}

/// For each event taken as the start, the distinct steps done within the window.
fn unordered(entries: &[(i64, u8)], n: usize, window: i64) -> usize {
    let mut best = 0;
    let mut counts = vec![0u32; n];
    let mut distinct = 0;
    let mut hi = 0;
    for lo in 0..entries.len() {
        let limit = entries[lo].0.saturating_add(window);
        while hi < entries.len() && entries[hi].0 <= limit {
            let k = entries[hi].1 as usize - 1;
            if counts[k] == 0 {
                distinct += 1;
            }
            counts[k] += 1;
            hi += 1;
        }
        best = best.max(distinct);
        if best == n {
            return n;
        }
        let k = entries[lo].1 as usize - 1;
        counts[k] -= 1;
        if counts[k] == 0 {
            distinct -= 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u32 = 1;
    const B: u32 = 2;
    const C: u32 = 4;
    const X: u32 = 0;

    fn ev(list: &[(i64, u32)]) -> Vec<StepEvent> {
        list.iter()
            .map(|&(ts, steps)| StepEvent { ts, steps })
            .collect()
    }

    fn level(list: &[(i64, u32)], window: i64, order: FunnelOrder) -> usize {
        max_step(&ev(list), 3, window, order)
    }

    use FunnelOrder::*;

    #[test]
    fn window_edge_is_inclusive() {
        assert_eq!(level(&[(0, A), (5, B), (10, C)], 10, Ordered), 3);
        assert_eq!(level(&[(0, A), (5, B), (11, C)], 10, Ordered), 2);
        assert_eq!(level(&[(0, A), (11, B)], 10, Ordered), 1);
        assert_eq!(level(&[(5, B), (6, C)], 10, Ordered), 0);
    }

    #[test]
    fn later_step_one_restarts_the_window() {
        assert_eq!(level(&[(0, A), (20, A), (25, B), (29, C)], 10, Ordered), 3);
        // The first chain keeps its progress when a new one starts.
        assert_eq!(level(&[(0, A), (1, B), (2, A), (5, C)], 10, Ordered), 3);
        // Order matters: C before B does not count.
        assert_eq!(level(&[(0, A), (1, C), (2, B)], 10, Ordered), 2);
    }

    #[test]
    fn ties_are_ordered_by_step() {
        // Shuffled input at one instant still completes, as in ClickHouse.
        assert_eq!(level(&[(5, C), (5, B), (5, A)], 0, Ordered), 3);
        // One event matching two steps counts for both.
        assert_eq!(level(&[(0, A), (1, B | C)], 10, Ordered), 3);
    }

    #[test]
    fn strict_order_stops_at_other_events() {
        // ClickHouse's own example: A->B->D->C stops at D.
        assert_eq!(level(&[(0, A), (1, B), (2, X), (3, C)], 10, Strict), 2);
        assert_eq!(level(&[(0, A), (1, B), (2, X), (3, C)], 10, Ordered), 3);
        // Other events before the first step do not matter.
        assert_eq!(level(&[(0, X), (1, A), (2, B), (3, C)], 10, Strict), 3);
        // A later step out of turn ends the search.
        assert_eq!(level(&[(0, A), (1, C), (2, B), (3, C)], 10, Strict), 1);
        assert_eq!(level(&[(0, A), (1, C), (2, B), (3, C)], 10, Ordered), 3);
    }

    #[test]
    fn unordered_counts_distinct_steps_in_a_window() {
        assert_eq!(level(&[(0, C), (1, A), (2, B)], 10, Unordered), 3);
        assert_eq!(level(&[(0, C), (11, A), (12, B)], 10, Unordered), 2);
        assert_eq!(level(&[(0, B), (1, B)], 10, Unordered), 1);
        assert_eq!(level(&[], 10, Unordered), 0);
    }

    /// The window-funnel level against a brute force over every start.
    #[test]
    fn ordered_equals_brute_force_over_starts() {
        let mut seed = 12345u64;
        let mut rnd = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..2000 {
            let len = rnd(8) as usize;
            let list: Vec<(i64, u32)> = (0..len).map(|_| (rnd(30) as i64, 1 << rnd(3))).collect();
            let window = rnd(15) as i64;
            let mut sorted = ev(&list);
            sorted.sort_by_key(|e| (e.ts, e.steps.trailing_zeros()));
            // Brute force: from each step-1 event, greedily take the next
            // step's first event at or after the previous one, within the window.
            let mut best = 0;
            for (i, s) in sorted.iter().enumerate() {
                if s.steps != A {
                    continue;
                }
                let mut lvl = 1;
                for e in &sorted[i + 1..] {
                    if lvl < 3 && e.steps == 1 << lvl && e.ts <= s.ts + window {
                        lvl += 1;
                    }
                }
                best = best.max(lvl);
            }
            assert_eq!(
                level(&list, window, Ordered),
                best,
                "{list:?} window {window}"
            );
        }
    }
}
