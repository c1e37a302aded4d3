//! Countries, continents and first-level subdivisions, from ISO 3166 data in
//! the `keshvar` crate. Shops write places in many ways ("CN", "China",
//! "Guangdong", "GD", "广东省", "广东"); this resolves them to ISO codes.
//!
//! The build script reads keshvar once and leaves a table of each place's
//! normalised names; the library looks places up in that table.

#[cfg(test)]
mod keshvar_names;
mod names;

use std::collections::HashMap;
use std::sync::OnceLock;

use names::{cjk_stem, is_cjk, normal};

/// The table the build script wrote (see `build.rs` for its format).
const TABLE: &str = include_str!(concat!(env!("OUT_DIR"), "/iso3166.txt"));

/// A country as ISO 3166-1 knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryInfo {
    pub alpha2: String,
    /// ISO 3166-1 numeric, as world maps (Natural Earth) key countries.
    pub numeric: String,
    pub name: String,
    pub continent: String,
}

struct Index {
    countries: Vec<CountryInfo>,
    by_name: HashMap<&'static str, usize>,
    /// Each country's subdivision records, by alpha-2 code.
    subdivisions: HashMap<&'static str, Vec<&'static str>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut countries = Vec::new();
        let mut by_name = HashMap::new();
        let mut subdivisions: HashMap<&str, Vec<&str>> = HashMap::new();
        for line in TABLE.lines() {
            let mut f = line.split('\t');
            match f.next() {
                Some("C") => {
                    let mut next = || f.next().unwrap_or_default();
                    let (alpha2, numeric, name, continent) = (next(), next(), next(), next());
                    let i = countries.len();
                    for key in next().split(' ').filter(|k| !k.is_empty()) {
                        by_name.entry(key).or_insert(i);
                    }
                    countries.push(CountryInfo {
                        alpha2: alpha2.to_string(),
                        numeric: numeric.to_string(),
                        name: name.to_string(),
                        continent: continent.to_string(),
                    });
                }
                Some("S") => {
                    let alpha2 = f.next().unwrap_or_default();
                    subdivisions.entry(alpha2).or_default().push(line);
                }
                _ => {}
            }
        }
        Index {
            countries,
            by_name,
            subdivisions,
        }
    })
}

/// All countries of ISO 3166-1 (249), in a fixed order.
pub fn countries() -> &'static [CountryInfo] {
    &index().countries
}

/// All countries of ISO 3166-1 (249).
pub fn country_count() -> usize {
    index().countries.len()
}

/// The country a code or name stands for.
pub fn country(s: &str) -> Option<&'static CountryInfo> {
    let ix = index();
    ix.by_name
        .get(normal(s).as_str())
        .map(|&i| &ix.countries[i])
}

/// The distinct continents of the world as ISO's data assigns countries.
pub fn continent_count() -> usize {
    let mut c: Vec<&str> = index()
        .countries
        .iter()
        .map(|c| c.continent.as_str())
        .collect();
    c.sort_unstable();
    c.dedup();
    c.len()
}

/// A country's first-level subdivisions (China's 34 provincial-level
/// divisions, the 50 states and DC of the US, ...), resolvable by name.
#[derive(Debug, Clone)]
pub struct Subdivisions {
    pub country: String,
    /// (ISO 3166-2 code such as "CN-GD", English name), sorted by code.
    pub list: Vec<(String, String)>,
    exact: HashMap<&'static str, usize>,
    cjk: Vec<(&'static str, usize)>,
}

impl Subdivisions {
    /// The subdivisions of a country, by its code or name.
    pub fn of(country_name: &str) -> Option<Subdivisions> {
        let info = country(country_name)?;
        let records = index()
            .subdivisions
            .get(info.alpha2.as_str())
            .map_or(&[][..], Vec::as_slice);
        let mut exact = HashMap::new();
        let mut cjk = Vec::new();
        let mut list = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let mut f = record.split('\t').skip(2);
            let mut next = || f.next().unwrap_or_default();
            let (code, english, keys, stems) = (next(), next(), next(), next());
            for key in keys.split(' ').filter(|k| !k.is_empty()) {
                exact.entry(key).or_insert(i);
            }
            cjk.extend(stems.split(' ').filter(|k| !k.is_empty()).map(|s| (s, i)));
            list.push((code.to_string(), english.to_string()));
        }
        Some(Subdivisions {
            country: info.alpha2.clone(),
            list,
            exact,
            cjk,
        })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The index in `list` of the subdivision a region name stands for.
    pub fn resolve(&self, region: &str) -> Option<usize> {
        let n = normal(region);
        if let Some(&i) = self.exact.get(n.as_str()) {
            return Some(i);
        }
        if is_cjk(&n) {
            let stem = cjk_stem(&n);
            return self.cjk.iter().find(|(s, _)| *s == stem).map(|&(_, i)| i);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keshvar_names::{country_names, english, subdivision_names};

    #[test]
    fn countries_resolve_by_code_and_name() {
        assert_eq!(country_count(), 249);
        assert_eq!(country("CN").unwrap().alpha2, "CN");
        assert_eq!(country("chn").unwrap().alpha2, "CN");
        assert_eq!(country("China").unwrap().alpha2, "CN");
        assert_eq!(country("中国").unwrap().alpha2, "CN");
        assert_eq!(country("US").unwrap().continent, "North America");
        assert_eq!(country("DE").unwrap().continent, "Europe");
        assert!(country("Atlantis").is_none());
        assert_eq!(continent_count(), 7);
    }

    #[test]
    fn china_has_34_provincial_level_divisions_under_many_names() {
        let cn = Subdivisions::of("CN").unwrap();
        assert_eq!(cn.len(), 34);
        let gd = cn.resolve("Guangdong").unwrap();
        assert_eq!(cn.list[gd].0, "CN-GD");
        for name in ["GD", "CN-GD", "guangdong", "广东省", "广东"] {
            assert_eq!(cn.resolve(name), Some(gd), "{name}");
        }
        let code = |s: &str| cn.resolve(s).map(|i| cn.list[i].0.as_str());
        assert_eq!(code("Hong Kong"), Some("CN-HK"));
        assert_eq!(code("Inner Mongolia"), Some("CN-NM"));
        assert_eq!(code("内蒙古"), Some("CN-NM"));
        assert_eq!(code("广西"), Some("CN-GX"));
        assert_eq!(code("Taiwan"), Some("CN-TW"));
        assert_eq!(code("Tibet"), Some("CN-XZ"));
        assert_eq!(code("Shaanxi"), Some("CN-SN"));
        assert_eq!(code("Shanxi"), Some("CN-SX"));
        assert_eq!(code("Narnia"), None);
    }

    /// The table holds what keshvar says: each country's codes, name and
    /// continent, each country's subdivisions with their English names, and
    /// every name keshvar gives a country or subdivision resolves to it,
    /// unless a place before it claimed the same name.
    #[test]
    fn every_name_keshvar_gives_resolves_from_the_table() {
        let mut claims: HashMap<String, String> = HashMap::new();
        let mut checked = 0;
        for (c, info) in keshvar::CountryIterator::new().zip(countries()) {
            let alpha2 = c.alpha2().to_string();
            assert_eq!(info.alpha2, alpha2);
            assert_eq!(info.numeric, c.number());
            assert_eq!(info.name, c.iso_short_name());
            for n in country_names(&c).iter().filter(|n| !normal(n).is_empty()) {
                let owner = claims.entry(normal(n)).or_insert_with(|| alpha2.clone());
                assert_eq!(&country(n).unwrap().alpha2, owner, "{n}");
                checked += 1;
            }
        }
        assert_eq!(countries().len(), 249);
        assert!(checked > 20_000, "{checked} country names");

        checked = 0;
        for c in keshvar::CountryIterator::new() {
            let alpha2 = c.alpha2().to_string();
            let subs = Subdivisions::of(&alpha2).unwrap();
            assert_eq!(subs.country, alpha2);
            let mut list: Vec<_> = c.subdivisions().iter().collect();
            list.sort_by_key(|(code, _)| **code);
            assert_eq!(subs.len(), list.len(), "{alpha2}");
            let mut exact: HashMap<String, usize> = HashMap::new();
            let mut stems: HashMap<String, usize> = HashMap::new();
            for (i, (code, s)) in list.iter().enumerate() {
                let full = format!("{alpha2}-{code}");
                assert_eq!(subs.list[i], (full.clone(), english(s).to_string()));
                let all = subdivision_names(&full, code, s);
                for n in all.iter().filter(|n| !normal(n).is_empty()) {
                    let owner = *exact.entry(normal(n)).or_insert(i);
                    assert_eq!(subs.resolve(n), Some(owner), "{alpha2} {n}");
                    checked += 1;
                    if is_cjk(n) {
                        stems.entry(cjk_stem(&normal(n))).or_insert(i);
                    }
                }
            }
            // A stem is looked up only when it is Chinese itself (not
            // "チベット" from "チベット自治区").
            for (stem, first) in stems.into_iter().filter(|(s, _)| is_cjk(s)) {
                let owner = exact.get(&stem).copied().unwrap_or(first);
                assert_eq!(subs.resolve(&stem), Some(owner), "{alpha2} {stem}");
            }
        }
        assert!(checked > 100_000, "{checked} subdivision names");
    }
}
