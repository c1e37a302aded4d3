//! Review texts made of clauses about what shops are rated on (the goods as
//! described, service, logistics, price), each praising or complaining with
//! a chance that follows the rating: a 4★ review may still say the parcel
//! was late (质量很好，但是物流太慢). The aspects and their polarity are
//! recorded, so that a model's reading can be checked against them.

use rand::Rng;

/// Clauses by aspect (description, service, logistics, price, the order
/// of [`crate::ReviewTruth`]'s fields), then [complaint, praise].
const ZH: [[&[&str]; 2]; 4] = [
    [
        &[
            "质量很差",
            "做工粗糙",
            "和描述不符",
            "尺码偏小",
            "色差很大",
            "疑似假货",
            "味道很差",
            "质量一般",
        ],
        &[
            "质量很好",
            "做工精细",
            "和描述一致",
            "尺码标准",
            "味道很好",
            "颜色很正",
            "质量不错",
            "手感不错",
        ],
    ],
    [
        &[
            "客服态度恶劣",
            "客服不理人",
            "售后推来推去",
            "退款拖了很久",
            "商家回复太慢",
        ],
        &[
            "客服很耐心",
            "客服态度很好",
            "售后处理很及时",
            "商家回复很快",
            "退换货很方便",
        ],
    ],
    [
        &[
            "物流太慢",
            "包装破损",
            "快递太慢了",
            "发货拖了一周",
            "快递送错了地址",
        ],
        &[
            "物流很快",
            "发货及时",
            "包装精美",
            "快递小哥很热情",
            "物流也快",
        ],
    ],
    [
        &["价格偏贵", "性价比太低", "这个价格不值", "价格太贵了"],
        &["性价比高", "价格实惠", "很划算", "价格便宜"],
    ],
];

const EN: [[&[&str]; 2]; 4] = [
    [
        &[
            "poor quality",
            "not as described",
            "the size runs small",
            "looks fake",
            "the product stopped working after two days",
        ],
        &[
            "great quality",
            "exactly as described",
            "the size fits perfectly",
            "the material feels nice",
            "nice quality",
        ],
    ],
    [
        &[
            "support was rude",
            "the seller never replied",
            "the refund took weeks",
        ],
        &[
            "support was very helpful",
            "the seller replied quickly",
            "the return was easy",
        ],
    ],
    [
        &[
            "slow delivery",
            "the box arrived damaged",
            "the parcel was late",
        ],
        &[
            "fast shipping",
            "the package arrived early",
            "the box was well packed",
        ],
    ],
    [
        &["overpriced", "too expensive for what it is", "poor value"],
        &["great value", "good price", "worth the price"],
    ],
];

/// Clauses about the purchase as a whole: [complaint, neutral, praise].
const ZH_OVERALL: [&[&str]; 3] = [
    &["非常失望", "再也不买了", "差评", "后悔购买"],
    &["还行吧", "一般般", "中规中矩"],
    &["非常满意", "好评", "还会回购", "推荐购买"],
];

const EN_OVERALL: [&[&str]; 3] = [
    &[
        "Very disappointed",
        "Never buying again",
        "Would not recommend",
    ],
    &["It's okay", "Nothing special", "Average overall"],
    &["Love it", "Highly recommend", "Will buy again"],
];

/// The chance that a clause praises, by rating (1 to 5 stars).
const PRAISE: [f64; 5] = [0.05, 0.15, 0.5, 0.85, 0.97];

/// How often each aspect is spoken of: unhappy customers speak of the
/// service more.
fn aspect_weights(rating: i64) -> [f64; 4] {
    let service = if rating <= 2 { 1.5 } else { 0.4 };
    [4.0, service, 3.0, 1.5]
}

/// A written review and what it says.
pub(crate) struct Written {
    pub text: String,
    /// Each aspect spoken of and whether it was praised.
    pub aspects: Vec<(usize, bool)>,
}

fn pick<'a>(rng: &mut impl Rng, pool: &[&'a str]) -> &'a str {
    pool[rng.random_range(0..pool.len())]
}

fn weighted(rng: &mut impl Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Clauses joined as a review: a contrast word (但是, but) where the tone
/// turns.
fn join(clauses: &[(String, Option<bool>)], english: bool) -> String {
    let mut text = String::new();
    let mut tone: Option<bool> = None;
    for (i, (c, t)) in clauses.iter().enumerate() {
        let turns = matches!((tone, t), (Some(a), Some(b)) if a != *b);
        if i > 0 {
            text.push_str(if english { ", " } else { "，" });
        }
        if turns {
            text.push_str(if english { "but " } else { "但是" });
        }
        if english && i == 0 {
            let mut cs = c.chars();
            if let Some(f) = cs.next() {
                text.extend(f.to_uppercase());
                text.push_str(cs.as_str());
            }
        } else {
            text.push_str(c);
        }
        if t.is_some() {
            tone = *t;
        }
    }
    text.push_str(if english { "." } else { "。" });
    text
}

/// A review of `rating` stars: one to three aspects, each praised with the
/// rating's chance, and at times a word on the whole. Clauses against the
/// rating's tone come first, as reviews tend to end on their verdict.
pub(crate) fn review(rng: &mut impl Rng, rating: i64, english: bool) -> Written {
    let r = rating.clamp(1, 5);
    let n = match rng.random::<f64>() {
        u if u < 0.5 => 1,
        u if u < 0.85 => 2,
        _ => 3,
    };
    let mut weights = aspect_weights(r);
    let mut aspects = Vec::with_capacity(n);
    for _ in 0..n {
        let a = weighted(rng, &weights);
        weights[a] = 0.0;
        aspects.push((a, rng.random_bool(PRAISE[(r - 1) as usize])));
    }
    // The tone of the rating holds in at least one clause.
    let verdict = match r {
        1 | 2 => Some(false),
        4 | 5 => Some(true),
        _ => None,
    };
    if let Some(v) = verdict
        && aspects.iter().all(|a| a.1 != v)
    {
        aspects[0].1 = v;
    }
    if let Some(v) = verdict {
        aspects.sort_by_key(|a| a.1 == v);
    }
    let pools = if english { &EN } else { &ZH };
    let mut clauses: Vec<(String, Option<bool>)> = aspects
        .iter()
        .map(|&(a, praise)| {
            (
                pick(rng, pools[a][usize::from(praise)]).to_string(),
                Some(praise),
            )
        })
        .collect();
    if rng.random_bool(0.4) {
        let overall = if english { &EN_OVERALL } else { &ZH_OVERALL };
        let tier = match verdict {
            Some(false) => 0,
            None => 1,
            Some(true) => 2,
        };
        let c = pick(rng, overall[tier]);
        clauses.push((if english { c.to_lowercase() } else { c.into() }, verdict));
    }
    Written {
        text: join(&clauses, english),
        aspects,
    }
}

/// A follow-up (追评) weeks after a review of `rating` stars: one aspect,
/// mostly in the first review's tone.
pub(crate) fn follow_up(rng: &mut impl Rng, rating: i64, english: bool) -> Written {
    let r = rating.clamp(1, 5);
    let a = weighted(rng, &aspect_weights(r));
    let praise = match r {
        4 | 5 => rng.random_bool(0.75),
        1 | 2 => rng.random_bool(0.1),
        _ => rng.random_bool(0.5),
    };
    let pools = if english { &EN } else { &ZH };
    let clause = pick(rng, pools[a][usize::from(praise)]);
    let text = if english {
        format!("Update after a month: {clause}.")
    } else {
        format!("追评：用了一个月，{clause}。")
    };
    Written {
        text,
        aspects: vec![(a, praise)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_tone_turns_with_a_contrast_word() {
        let c = |s: &str, t| (s.to_string(), Some(t));
        assert_eq!(
            join(&[c("物流太慢", false), c("质量很好", true)], false),
            "物流太慢，但是质量很好。"
        );
        assert_eq!(
            join(&[c("slow delivery", false), c("great quality", true)], true),
            "Slow delivery, but great quality."
        );
    }

    /// Reviews of 5★ praise most aspects, of 1★ hardly any; each keeps the
    /// rating's tone somewhere.
    #[test]
    fn praise_follows_the_rating() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for (rating, lo, hi) in [(1, 0.0, 0.1), (5, 0.9, 1.0), (3, 0.35, 0.65)] {
            let (mut praised, mut said) = (0, 0);
            for _ in 0..2000 {
                let w = review(&mut rng, rating, false);
                assert!(!w.aspects.is_empty() && w.aspects.len() <= 3);
                if rating == 5 {
                    assert!(w.aspects.iter().any(|a| a.1), "{}", w.text);
                }
                praised += w.aspects.iter().filter(|a| a.1).count();
                said += w.aspects.len();
            }
            let share = praised as f64 / said as f64;
            assert!(share >= lo && share <= hi, "{rating}★: {share}");
        }
    }
}
