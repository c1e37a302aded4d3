//! Review texts whose tone matches the rating: a sentiment model trained on
//! them should learn that "质量很差" is bad and "excellent" is good.

use rand::Rng;

const ZH: [&[&str]; 5] = [
    &[
        "质量很差，非常失望。",
        "完全不能用，要求退款。",
        "假货，再也不买了。",
        "客服态度恶劣，太差了。",
    ],
    &[
        "不太满意，和描述不符。",
        "质量一般偏差，有点后悔。",
        "物流太慢，包装破损。",
        "用了两天就坏了。",
    ],
    &[
        "还行吧，一般般。",
        "中规中矩，没有惊喜。",
        "价格合适，质量普通。",
        "可以用，但有改进空间。",
    ],
    &[
        "挺好的，推荐购买。",
        "质量不错，物流也快。",
        "性价比高，满意。",
        "和图片一样，挺喜欢。",
    ],
    &[
        "非常满意，质量很好！",
        "物超所值，还会回购。",
        "包装精美，物流很快，好评！",
        "朋友推荐的，果然不错，已经推荐给家人了。",
    ],
];

const EN: [&[&str]; 5] = [
    &[
        "Terrible quality, very disappointed.",
        "Broke on the first day. I want a refund.",
        "Awful. Never buying again.",
        "Rude support and a useless product.",
    ],
    &[
        "Not as described, rather disappointing.",
        "Poor quality for the price.",
        "Slow delivery and the box was damaged.",
        "Stopped working after two days.",
    ],
    &[
        "It's okay, nothing special.",
        "Average quality, fair price.",
        "Does the job, could be better.",
        "Neither good nor bad.",
    ],
    &[
        "Good product, would recommend.",
        "Nice quality and fast shipping.",
        "Good value, happy with it.",
        "Looks just like the photos, I like it.",
    ],
    &[
        "Excellent! Love it.",
        "Great value, will buy again.",
        "Beautifully packed and arrived fast. Highly recommend!",
        "A friend recommended it and it's brilliant; I told my family too.",
    ],
];

/// One or two sentences in the tone of `rating` (1 to 5).
pub(crate) fn review(rng: &mut impl Rng, rating: i64, english: bool) -> String {
    let tier = (rating.clamp(1, 5) - 1) as usize;
    let pool = if english { EN[tier] } else { ZH[tier] };
    let first = rng.random_range(0..pool.len());
    if rng.random_bool(0.4) {
        let second = (first + 1 + rng.random_range(0..pool.len() - 1)) % pool.len();
        let sep = if english { " " } else { "" };
        format!("{}{sep}{}", pool[first], pool[second])
    } else {
        pool[first].to_string()
    }
}
