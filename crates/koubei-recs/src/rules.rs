//! Bought together: association rules between two items over baskets.

use std::collections::HashMap;

/// "Who buys `antecedent` also buys `consequent`".
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub antecedent: u32,
    pub consequent: u32,
    /// Baskets with both.
    pub baskets: u64,
    /// Baskets with both over all baskets.
    pub support: f64,
    /// Baskets with both over baskets with the antecedent.
    pub confidence: f64,
    /// Confidence over the consequent's share of baskets: above 1 when the
    /// two go together more than chance.
    pub lift: f64,
}

/// Every rule between two items of the same basket with at least
/// `min_baskets` baskets and `min_confidence`, strongest lift first (ties
/// by more baskets, then by item). A basket's repeated items count once.
pub fn together(baskets: &[Vec<u32>], min_baskets: u64, min_confidence: f64) -> Vec<Rule> {
    // Products are numbered from 0: a vector counts them. Pairs are one
    // u64 each, hashed with foldhash (the rules are sorted after).
    let mut single: Vec<u64> = Vec::new();
    let mut pairs: HashMap<u64, u64, foldhash::fast::RandomState> = HashMap::default();
    let mut items = Vec::new();
    for b in baskets {
        items.clear();
        items.extend_from_slice(b);
        items.sort_unstable();
        items.dedup();
        for (k, &a) in items.iter().enumerate() {
            if single.len() <= a as usize {
                single.resize(a as usize + 1, 0);
            }
            single[a as usize] += 1;
            for &c in &items[k + 1..] {
                *pairs.entry(u64::from(a) << 32 | u64::from(c)).or_default() += 1;
            }
        }
    }
    let n = baskets.len() as f64;
    let mut rules = Vec::new();
    for (&key, &both) in &pairs {
        let (a, c) = ((key >> 32) as u32, key as u32);
        if both < min_baskets.max(1) {
            continue;
        }
        for (x, y) in [(a, c), (c, a)] {
            let confidence = both as f64 / single[x as usize] as f64;
            if confidence >= min_confidence {
                rules.push(Rule {
                    antecedent: x,
                    consequent: y,
                    baskets: both,
                    support: both as f64 / n,
                    confidence,
                    lift: confidence / (single[y as usize] as f64 / n),
                });
            }
        }
    }
    rules.sort_by(|p, q| {
        q.lift
            .total_cmp(&p.lift)
            .then(q.baskets.cmp(&p.baskets))
            .then((p.antecedent, p.consequent).cmp(&(q.antecedent, q.consequent)))
    });
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four baskets: {0, 1}, {0, 1}, {0, 2}, {3}. Rule 1 → 0: 2 baskets,
    /// support 2/4, confidence 2/2, lift 1 / (3/4).
    #[test]
    fn rules_by_hand() {
        let baskets = vec![vec![0, 1], vec![1, 0, 0], vec![0, 2], vec![3]];
        let rules = together(&baskets, 2, 0.5);
        assert_eq!(rules.len(), 2);
        let r = rules.iter().find(|r| r.antecedent == 1).unwrap();
        assert_eq!((r.consequent, r.baskets), (0, 2));
        assert!((r.support - 0.5).abs() < 1e-12 && (r.confidence - 1.0).abs() < 1e-12);
        assert!((r.lift - 4.0 / 3.0).abs() < 1e-12);
        // 0 → 1: confidence 2/3, lift (2/3) / (2/4).
        let r = rules.iter().find(|r| r.antecedent == 0).unwrap();
        assert!((r.confidence - 2.0 / 3.0).abs() < 1e-12 && (r.lift - 4.0 / 3.0).abs() < 1e-12);
        // Both have lift 4/3 and 2 baskets: by item.
        assert_eq!(rules[0].antecedent, 0);
        assert!(together(&baskets, 3, 0.0).is_empty());
        // Confidence 1: 1 → 0 and 2 → 0.
        assert_eq!(together(&baskets, 1, 0.9).len(), 2);
    }
}
