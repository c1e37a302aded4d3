//! The names keshvar gives each place: read by the build script to write
//! the table, and by the tests to check every one of them against it.

use keshvar::{Country, Subdivision};

/// A country's codes, ISO names, unofficial names and translations.
pub fn country_names(c: &Country) -> Vec<String> {
    [c.alpha2().to_string(), c.alpha3().to_string()]
        .into_iter()
        .chain([c.iso_short_name(), c.iso_long_name()].map(String::from))
        .chain(c.unofficial_name_list().iter().map(|n| n.to_string()))
        .chain(c.translations().values().map(|n| n.to_string()))
        .collect()
}

/// A subdivision's codes (`CN-GD` and `GD`), name, unofficial names and
/// translations.
pub fn subdivision_names(full: &str, code: &str, s: &Subdivision) -> Vec<String> {
    [full, code, s.name()]
        .into_iter()
        .chain(s.unofficial_name_list().iter().copied())
        .chain(s.translations().values().copied())
        .map(String::from)
        .collect()
}

/// A subdivision's English name: its translation, or else its name.
pub fn english(s: &Subdivision) -> &'static str {
    s.translations().get("en").copied().unwrap_or(s.name())
}
