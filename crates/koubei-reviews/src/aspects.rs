//! What a review speaks of: the three service dimensions Chinese shops are
//! rated on (描述相符, 服务态度, 物流服务) and price, each with the polarity
//! of the clause that mentions it.
//!
//! A curated list (`lexicon/aspects.txt`, koubei's own) maps terms in
//! both languages to an aspect. Each clause that names an aspect passes
//! its own polarity to it: in 好吃但是送得太慢，包装也破了 the logistics clauses
//! are negative whatever the whole review says. The tag is the clause's
//! words from the aspect term to the nearest sentiment word (物流很快,
//! 质量很差, nice quality), as Taobao's 大家印象 shows them.

use std::collections::HashMap;

use crate::english::Vader;
use crate::lexicon::Lexicon;
use crate::text::{Language, clauses, language};
use crate::{DefaultModel, Scored, sigmoid};

const ASPECTS: &str = include_str!("../lexicon/aspects.txt");

/// Words of English shop reviews that VADER leaves neutral, on VADER's
/// scale (nice is 1.8): used for a clause VADER finds neutral.
const ENGLISH_SHOP_WORDS: [(&str, f64); 10] = [
    ("early", 1.0),
    ("fast", 1.5),
    ("quick", 1.5),
    ("quickly", 1.5),
    ("promptly", 1.5),
    ("slow", -1.5),
    ("late", -1.5),
    ("delayed", -1.5),
    ("overpriced", -1.5),
    ("expensive", -1.0),
];

/// The longest tag, in words: beyond it the tag is the aspect term and the
/// sentiment word alone.
const TAG_WORDS: usize = 4;

/// A dimension a review can speak of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aspect {
    /// 描述相符: the goods are as described (quality, size, taste).
    Description,
    /// 服务态度: the seller's service (support, returns, refunds).
    Service,
    /// 物流服务: delivery and packaging.
    Logistics,
    Price,
}

impl Aspect {
    pub const ALL: [Aspect; 4] = [
        Aspect::Description,
        Aspect::Service,
        Aspect::Logistics,
        Aspect::Price,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Aspect::Description => "description",
            Aspect::Service => "service",
            Aspect::Logistics => "logistics",
            Aspect::Price => "price",
        }
    }

    fn parse(s: &str) -> Option<Aspect> {
        Aspect::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One clause's mention of an aspect.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub aspect: Aspect,
    /// The words from the aspect term to the clause's nearest sentiment
    /// word, or the aspect term alone when the clause has none.
    pub tag: String,
    /// The clause's own P(positive): 0.5 when it carries no sentiment.
    pub p_positive: f64,
}

/// A review's score and what it speaks of, from one reading of its words.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub language: Language,
    pub scored: Scored,
    /// At most one mention per aspect and clause, in clause order.
    pub mentions: Vec<Mention>,
}

/// The aspect term list, read once.
pub struct Aspects {
    terms: HashMap<String, Aspect>,
    english_shop_words: HashMap<&'static str, f64>,
}

impl Default for Aspects {
    fn default() -> Self {
        Self::standard()
    }
}

impl Aspects {
    /// The list koubei ships.
    pub fn standard() -> Aspects {
        let terms = ASPECTS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (term, aspect) = l.split_once('\t')?;
                Some((term.trim().to_string(), Aspect::parse(aspect.trim())?))
            })
            .collect();
        Aspects {
            terms,
            english_shop_words: ENGLISH_SHOP_WORDS.into_iter().collect(),
        }
    }

    /// Mentions in one clause's words, where `sentiment` holds the indexes
    /// of its sentiment words and `p` is the clause's polarity.
    fn in_clause(
        &self,
        words: &[String],
        sentiment: &[usize],
        p: f64,
        sep: &str,
        out: &mut Vec<Mention>,
    ) {
        let first = out.len();
        for (i, w) in words.iter().enumerate() {
            let Some(&aspect) = self.terms.get(w) else {
                continue;
            };
            if out[first..].iter().any(|m| m.aspect == aspect) {
                continue;
            }
            // The nearest sentiment word, after the term on a tie (物流很快).
            let nearest = sentiment
                .iter()
                .copied()
                .filter(|&s| s != i)
                .min_by_key(|&s| (s.abs_diff(i), s < i));
            let tag = match nearest {
                Some(s) if s.abs_diff(i) < TAG_WORDS => words[i.min(s)..=i.max(s)].join(sep),
                Some(s) => {
                    let (a, b) = (i.min(s), i.max(s));
                    format!("{}{sep}{}", words[a], words[b])
                }
                None => w.clone(),
            };
            out.push(Mention {
                aspect,
                tag,
                p_positive: p,
            });
        }
    }

    /// A review's score by the default model and its aspect mentions.
    pub fn analyse(&self, model: &DefaultModel, text: &str) -> Analysis {
        match language(text) {
            Language::Chinese => {
                let (scored, mentions) = self.chinese(&model.chinese, text);
                Analysis {
                    language: Language::Chinese,
                    scored,
                    mentions,
                }
            }
            Language::English => Analysis {
                language: Language::English,
                scored: model.english.score(text),
                mentions: self.english(&model.english, text),
            },
        }
    }

    /// The lexicon's score, and the mentions of each clause with the
    /// clause's own polarity (read in the same pass over its words).
    pub fn chinese(&self, lexicon: &Lexicon, text: &str) -> (Scored, Vec<Mention>) {
        let mut mentions = Vec::new();
        let scored = lexicon.score_with(text, |words, clause| {
            let p = sigmoid(clause.value);
            self.in_clause(words, &clause.sentiment, p, "", &mut mentions);
        });
        (scored, mentions)
    }

    /// Mentions in an English review, each clause scored by VADER (or by
    /// the shop words VADER lacks, when it finds the clause neutral).
    pub fn english(&self, vader: &Vader, text: &str) -> Vec<Mention> {
        let mut mentions = Vec::new();
        for clause in clauses(text) {
            let words: Vec<String> = clause
                .split(|c: char| !(c.is_alphanumeric() || c == '\''))
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            if !words.iter().any(|w| self.terms.contains_key(w)) {
                continue;
            }
            let sentiment: Vec<usize> = (0..words.len())
                .filter(|&i| {
                    vader.word_weight(&words[i]).is_some()
                        || self.english_shop_words.contains_key(words[i].as_str())
                })
                .collect();
            let mut p = vader.score(clause).p_positive;
            if (p - 0.5).abs() < 0.025 {
                let shop: f64 = words
                    .iter()
                    .filter_map(|w| self.english_shop_words.get(w.as_str()))
                    .sum();
                if shop != 0.0 {
                    p = sigmoid(shop);
                }
            }
            self.in_clause(&words, &sentiment, p, " ", &mut mentions);
        }
        mentions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mentions(text: &str) -> Vec<(Aspect, String, bool)> {
        let a = Aspects::standard();
        let m = DefaultModel::default();
        a.analyse(&m, text)
            .mentions
            .into_iter()
            .map(|m| (m.aspect, m.tag, m.p_positive > 0.5))
            .collect()
    }

    #[test]
    fn each_clause_gives_its_own_polarity() {
        assert_eq!(
            mentions("质量很好，但是物流太慢了，包装也破损了"),
            vec![
                (Aspect::Description, "质量很好".into(), true),
                (Aspect::Logistics, "物流太慢".into(), false),
                (Aspect::Logistics, "包装也破损".into(), false),
            ]
        );
        assert_eq!(
            mentions("客服态度恶劣。性价比高"),
            vec![
                (Aspect::Service, "客服态度恶劣".into(), false),
                (Aspect::Price, "性价比高".into(), true),
            ]
        );
    }

    #[test]
    fn a_clause_with_no_sentiment_is_neutral() {
        let a = Aspects::standard();
        let r = a.analyse(&DefaultModel::default(), "快递是昨天到的");
        assert_eq!(r.mentions.len(), 1);
        assert_eq!(r.mentions[0].tag, "快递");
        assert_eq!(r.mentions[0].p_positive, 0.5);
    }

    #[test]
    fn english_clauses() {
        assert_eq!(
            mentions("Nice quality and fast shipping. Support was rude"),
            vec![
                (Aspect::Description, "nice quality".into(), true),
                (Aspect::Logistics, "fast shipping".into(), true),
                (Aspect::Service, "support was rude".into(), false),
            ]
        );
        // VADER finds "slow" neutral; the shop words do not.
        assert_eq!(
            mentions("Slow delivery"),
            vec![(Aspect::Logistics, "slow delivery".into(), false)]
        );
    }

    /// The whole review's score is the lexicon's, whether or not aspects
    /// are read.
    #[test]
    fn the_score_is_the_lexicons() {
        let a = Aspects::standard();
        let m = DefaultModel::default();
        for text in ["东西不错，但是物流太慢了", "非常满意", "收到了"] {
            assert_eq!(a.analyse(&m, text).scored, m.chinese.score(text));
        }
    }
}
