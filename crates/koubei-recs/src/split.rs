//! The global temporal split: the earliest interactions train, the latest
//! test, as a shop would have trained yesterday and been judged today.

/// One interaction: a user, an item and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub user: u32,
    pub item: u32,
    pub ts: i64,
}

/// Which events train (true) and which test: the first
/// ⌊`train_share` × n⌋ by time train. Events at the same time keep their
/// order in `events`, so the split is the same on every run.
pub fn temporal_split(events: &[Event], train_share: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].ts);
    let cut = ((events.len() as f64) * train_share.clamp(0.0, 1.0)).floor() as usize;
    let mut train = vec![false; events.len()];
    for &i in &order[..cut] {
        train[i] = true;
    }
    train
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_train_ties_in_file_order() {
        let e = |ts| Event {
            user: 0,
            item: 0,
            ts,
        };
        let events = [e(5), e(1), e(3), e(3), e(9)];
        // ⌊0.8 × 5⌋ = 4: all but the latest.
        assert_eq!(
            temporal_split(&events, 0.8),
            [true, true, true, true, false]
        );
        // ⌊0.5 × 5⌋ = 2: ts 1, then the first of the two at 3.
        assert_eq!(
            temporal_split(&events, 0.5),
            [false, true, true, false, false]
        );
    }
}
