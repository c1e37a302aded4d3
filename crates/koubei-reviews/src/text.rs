//! Language, clauses and words of a review.

use jieba_rs::Jieba;

/// A review's language, from its letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Chinese,
    English,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Chinese => "zh",
            Language::English => "en",
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

/// Chinese when at least one letter in five is a Han character (reviews
/// mix in brand names and "OK"), else English.
pub fn language(text: &str) -> Language {
    let (mut han, mut letters) = (0usize, 0usize);
    for c in text.chars() {
        if is_han(c) {
            han += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if han > 0 && han * 5 >= letters {
        Language::Chinese
    } else {
        Language::English
    }
}

/// Where a clause ends: Chinese and Latin punctuation, and line breaks.
fn ends_clause(c: char) -> bool {
    matches!(
        c,
        '，' | ','
            | '。'
            | '.'
            | '！'
            | '!'
            | '？'
            | '?'
            | '；'
            | ';'
            | '～'
            | '~'
            | '、'
            | '\n'
            | '\r'
            | '…'
    )
}

/// The clauses of a text, without their punctuation and never empty.
pub(crate) fn clauses(text: &str) -> impl Iterator<Item = &str> {
    text.split(ends_clause)
        .map(str::trim)
        .filter(|c| !c.is_empty())
}

/// Splits text into words: jieba for Chinese (with koubei's shop words
/// added, so that 性价比高 stays one word), lower-cased runs of letters and
/// digits otherwise.
pub struct Tokenizer {
    jieba: Jieba,
}

impl Tokenizer {
    /// jieba's own dictionary, with `extra` words added.
    pub fn new<'a>(extra: impl IntoIterator<Item = &'a str>) -> Tokenizer {
        let mut jieba = Jieba::new();
        for w in extra {
            jieba.add_word(w, None, None);
        }
        Tokenizer { jieba }
    }

    /// The words of one clause, without spaces and punctuation.
    pub fn words(&self, clause: &str) -> Vec<String> {
        self.jieba
            .cut(clause, true)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .map(|t| t.word.to_lowercase())
            .collect()
    }

    /// Every word of a text, clause by clause.
    pub fn all_words(&self, text: &str) -> Vec<String> {
        clauses(text).flat_map(|c| self.words(c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_the_letters() {
        assert_eq!(language("物流很快，质量不错"), Language::Chinese);
        assert_eq!(language("iPhone 手机壳很好看"), Language::Chinese);
        assert_eq!(language("Great value, fast delivery!"), Language::English);
        assert_eq!(language("12345 !!"), Language::English);
    }

    #[test]
    fn clauses_split_on_either_punctuation() {
        let c: Vec<_> = clauses("东西不错，就是物流太慢了!!下次还买。 ok").collect();
        assert_eq!(c, ["东西不错", "就是物流太慢了", "下次还买", "ok"]);
    }

    #[test]
    fn words_keep_added_words_whole() {
        let t = Tokenizer::new(["性价比高"]);
        let w = t.words("这款性价比高，Very GOOD");
        assert!(w.contains(&"性价比高".to_string()), "{w:?}");
        assert!(
            w.contains(&"very".to_string()) && w.contains(&"good".to_string()),
            "{w:?}"
        );
        assert!(w.iter().all(|x| !x.trim().is_empty()), "{w:?}");
    }
}
