//! How a written place becomes a key. Shared by the build script, which
//! writes the table's keys, and the library, which looks a place up, so
//! both sides normalise alike.

/// Lower case, letters and digits only, parenthetical notes dropped:
/// "Xianggang (zh) **" and "xianggang" meet.
pub fn normal(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' | '（' => depth += 1,
            ')' | '）' => depth = depth.max(1) - 1,
            _ if depth == 0 && c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => {}
        }
    }
    out
}

pub fn is_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Chinese names carry a level suffix (省, 市, 自治区, 特别行政区) that users
/// often leave out; so do their ethnic qualifiers (壮族 in 广西壮族自治区).
pub fn cjk_stem(s: &str) -> String {
    let mut t = s.to_string();
    for suffix in [
        "特别行政区",
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "自治区",
        "省",
        "市",
    ] {
        if let Some(x) = t.strip_suffix(suffix)
            && x.chars().count() >= 2
        {
            t = x.to_string();
            break;
        }
    }
    t
}
