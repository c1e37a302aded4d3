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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelOrder {
    /// Steps in order; other events in between are allowed.
    #[default]
    Ordered,
    /// Steps in order, with no other event in between.
    #[serde(alias = "strict_order")]
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

/// An exclusion: an event of its kind after a path reached step `from` and
/// before it reached step `to` (1-based, within the path's window) drops the
/// person from the funnel, as PostHog's funnel exclusions do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exclusion {
    pub from: usize,
    pub to: usize,
}

/// One of a person's events for [`best_path`]: the steps it matches, and the
/// exclusions (bit j = exclusion j).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathEvent {
    pub ts: i64,
    pub steps: u32,
    pub exclusions: u32,
}

/// The path that reached the furthest step, with the time of each step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path {
    pub level: usize,
    /// An exclusion event fell inside the path: the person is left out.
    pub excluded: bool,
    /// The time of steps 1 to `level` (empty for the unordered mode).
    pub times: Vec<i64>,
}

/// A chain's step times live inline: extending a chain copies them without
/// allocating, which matters with millions of persons.
#[derive(Clone, Copy)]
struct Chain {
    excluded: bool,
    len: usize,
    times: [i64; 32],
}

impl Chain {
    fn times(&self) -> &[i64] {
        &self.times[..self.len]
    }
}

/// The furthest path, as [`max_step`] counts it, with its step times and
/// exclusions. Among paths that reach the same step, one without an
/// exclusion wins; a path that reaches further wins even when excluded.
/// Exclusion events at the same instant as a step come after it.
pub fn best_path(
    events: &[PathEvent],
    n: usize,
    window: i64,
    order: FunnelOrder,
    exclusions: &[Exclusion],
) -> Path {
    let mut scratch = PathScratch::default();
    let (level, excluded, times) = scratch.best_path(events, n, window, order, exclusions);
    Path {
        level,
        excluded,
        times: times.to_vec(),
    }
}

/// Buffers that [`best_path`] reuses from one person to the next: a funnel
/// over a million persons allocated its sorted events, chains and path
/// anew for each.
#[derive(Default)]
pub struct PathScratch {
    entries: Vec<(i64, u16, u16)>,
    chain: Vec<Option<Chain>>,
    best: Option<Chain>,
}

impl PathScratch {
    /// As [`best_path`]: the level, whether excluded, and the step times
    /// (borrowed until the next call).
    pub fn best_path(
        &mut self,
        events: &[PathEvent],
        n: usize,
        window: i64,
        order: FunnelOrder,
        exclusions: &[Exclusion],
    ) -> (usize, bool, &[i64]) {
        assert!((1..=32).contains(&n), "a funnel has 1 to 32 steps");
        if order == FunnelOrder::Unordered {
            return (max_step(&step_events(events), n, window, order), false, &[]);
        }
        self.match_path(events, n, window, order, exclusions);
        match &self.best {
            Some(b) => (b.len, b.excluded, b.times()),
            None => (0, false, &[]),
        }
    }

    /// Leaves the best path in `self.best` (its chain's length is its
    /// level).
    fn match_path(
        &mut self,
        events: &[PathEvent],
        n: usize,
        window: i64,
        order: FunnelOrder,
        exclusions: &[Exclusion],
    ) {
        let strict = order == FunnelOrder::Strict;
        // (ts, key, what): steps sort by step; exclusions after every step at
        // the same instant; other events (strict only) first.
        let entries = &mut self.entries;
        entries.clear();
        for e in events {
            if e.steps == 0 && e.exclusions == 0 {
                if strict {
                    entries.push((e.ts, 0, 0));
                }
                continue;
            }
            for k in 0..n {
                if e.steps & (1 << k) != 0 {
                    entries.push((e.ts, k as u16 + 1, k as u16 + 1));
                }
            }
            for (j, _) in exclusions.iter().enumerate() {
                if e.exclusions & (1 << j) != 0 {
                    entries.push((e.ts, 100 + j as u16, 100 + j as u16));
                }
            }
        }
        entries.sort_unstable();
        let chain = &mut self.chain;
        chain.clear();
        chain.resize(n, None);
        // The best path so far: its chain (len is its level).
        let best = &mut self.best;
        *best = None;
        let mut seen_first = false;
        let better = |best: &Option<Chain>, level: usize, excluded: bool| {
            let (bl, bx) = best.as_ref().map_or((0, false), |c| (c.len, c.excluded));
            level > bl || (level == bl && bx && !excluded)
        };
        for &(ts, _, what) in entries.iter() {
            if what == 0 {
                if seen_first {
                    break;
                }
                continue;
            }
            if what >= 100 {
                let x = exclusions[(what - 100) as usize];
                for level in x.from.max(1)..x.to.min(n + 1) {
                    if let Some(c) = chain[level - 1].as_mut()
                        && ts <= c.times[0].saturating_add(window)
                        && !c.excluded
                    {
                        c.excluded = true;
                        if let Some(b) = best.as_mut()
                            && b.len == level
                            && b.times() == c.times()
                        {
                            b.excluded = true;
                        }
                    }
                }
                continue;
            }
            let k = what as usize - 1;
            if k == 0 {
                let mut times = [0; 32];
                times[0] = ts;
                let start = Chain {
                    excluded: false,
                    len: 1,
                    times,
                };
                chain[0] = Some(start);
                seen_first = true;
                if better(best, 1, false) {
                    *best = Some(start);
                }
                if n == 1 && !strict {
                    return;
                }
                continue;
            }
            if strict && seen_first && chain[k - 1].is_none() {
                break;
            }
            let Some(prev) = chain[k - 1].as_ref() else {
                continue;
            };
            if ts > prev.times[0].saturating_add(window) {
                continue;
            }
            let mut next = *prev;
            next.times[next.len] = ts;
            next.len += 1;
            if chain[k]
                .as_ref()
                .is_none_or(|c| c.excluded || !next.excluded)
            {
                chain[k] = Some(next);
            }
            if better(best, k + 1, next.excluded) {
                *best = Some(next);
                if k + 1 == n && !next.excluded {
                    return;
                }
            }
        }
    }
}

/// The events without their exclusions, as [`max_step`] reads them.
pub fn step_events(events: &[PathEvent]) -> Vec<StepEvent> {
    events
        .iter()
        .map(|e| StepEvent {
            ts: e.ts,
            steps: e.steps,
        })
        .collect()
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
        let mut rnd = crate::test_rng(12345);
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

    fn path(list: &[(i64, u32, u32)], window: i64, order: FunnelOrder, x: &[Exclusion]) -> Path {
        let evs: Vec<PathEvent> = list
            .iter()
            .map(|&(ts, steps, exclusions)| PathEvent {
                ts,
                steps,
                exclusions,
            })
            .collect();
        best_path(&evs, 3, window, order, x)
    }

    #[test]
    fn paths_carry_step_times() {
        let p = path(&[(0, A, 0), (4, B, 0), (9, C, 0)], 10, Ordered, &[]);
        assert_eq!((p.level, p.excluded, p.times), (3, false, vec![0, 4, 9]));
        // A later start that goes as far does not replace the first path.
        let p = path(
            &[(0, A, 0), (1, B, 0), (20, A, 0), (21, B, 0)],
            10,
            Ordered,
            &[],
        );
        assert_eq!(p.times, vec![0, 1]);
    }

    #[test]
    fn exclusions_drop_a_path_between_their_steps() {
        let x = [Exclusion { from: 1, to: 2 }];
        // An exclusion event between step 1 and step 2 drops the person.
        let p = path(
            &[(0, A, 0), (1, 0, 1), (2, B, 0), (3, C, 0)],
            10,
            Ordered,
            &x,
        );
        assert!(p.excluded);
        // After step 2 it no longer matters.
        let p = path(
            &[(0, A, 0), (2, B, 0), (3, 0, 1), (4, C, 0)],
            10,
            Ordered,
            &x,
        );
        assert_eq!((p.level, p.excluded), (3, false));
        // Before step 1 it does not either.
        let p = path(&[(0, 0, 1), (1, A, 0), (2, B, 0)], 10, Ordered, &x);
        assert_eq!((p.level, p.excluded), (2, false));
        // A clean path that goes as far wins over the excluded one.
        let p = path(
            &[(0, A, 0), (1, 0, 1), (2, B, 0), (30, A, 0), (31, B, 0)],
            10,
            Ordered,
            &x,
        );
        assert_eq!((p.level, p.excluded, p.times), (2, false, vec![30, 31]));
        // At the same instant as step 2, the exclusion comes after it.
        let p = path(&[(0, A, 0), (2, B, 1), (3, C, 0)], 10, Ordered, &x);
        assert_eq!((p.level, p.excluded), (3, false));
        // Outside the path's window the exclusion does not count.
        let p = path(
            &[(0, A, 0), (11, 0, 1), (12, A, 0), (13, B, 0)],
            10,
            Ordered,
            &x,
        );
        assert_eq!((p.level, p.excluded), (2, false));
    }

    /// Without exclusions the path reaches what `max_step` counts.
    #[test]
    fn best_path_level_equals_max_step() {
        let mut rnd = crate::test_rng(777);
        for _ in 0..3000 {
            let len = rnd(9) as usize;
            let list: Vec<(i64, u32)> = (0..len)
                .map(|_| (rnd(30) as i64, [0, A, B, C, A | B][rnd(5) as usize]))
                .collect();
            let window = rnd(15) as i64;
            for order in [Ordered, Strict, Unordered] {
                let p = path(
                    &list.iter().map(|&(t, s)| (t, s, 0)).collect::<Vec<_>>(),
                    window,
                    order,
                    &[],
                );
                assert_eq!(
                    p.level,
                    level(&list, window, order),
                    "{order} {list:?} {window}"
                );
                if order != Unordered {
                    assert_eq!(p.times.len(), p.level);
                    assert!(p.times.windows(2).all(|w| w[0] <= w[1]));
                    assert!(p.times.last().is_none_or(|&t| t <= p.times[0] + window));
                }
            }
        }
    }

    /// One scratch reused from person to person (as a funnel evaluates its
    /// groups) gives each the path that a fresh one does, exclusions too.
    #[test]
    fn reused_scratch_gives_fresh_paths() {
        let mut rnd = crate::test_rng(4242);
        let mut scratch = PathScratch::default();
        let x = [Exclusion { from: 1, to: 3 }];
        for _ in 0..3000 {
            let len = rnd(12) as usize;
            let evs: Vec<PathEvent> = (0..len)
                .map(|_| PathEvent {
                    ts: rnd(30) as i64,
                    steps: [0, A, B, C, A | B][rnd(5) as usize],
                    exclusions: u32::from(rnd(6) == 0),
                })
                .collect();
            let window = rnd(15) as i64;
            for order in [Ordered, Strict] {
                for exclusions in [&x[..], &[]] {
                    let fresh = best_path(&evs, 3, window, order, exclusions);
                    let (level, excluded, times) =
                        scratch.best_path(&evs, 3, window, order, exclusions);
                    assert_eq!(
                        (level, excluded, times),
                        (fresh.level, fresh.excluded, fresh.times.as_slice()),
                        "{order} {evs:?} {window}"
                    );
                }
            }
        }
    }
}
