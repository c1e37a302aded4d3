//! Countries, continents and first-level subdivisions, from ISO 3166 data in
//! the `keshvar` crate. Shops write places in many ways ("CN", "China",
//! "Guangdong", "GD", "广东省", "广东"); this resolves them to ISO codes.

use std::collections::HashMap;
use std::sync::OnceLock;

use keshvar::{Country, CountryIterator};

/// A country as ISO 3166-1 knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryInfo {
    pub alpha2: String,
    /// ISO 3166-1 numeric, as world maps (Natural Earth) key countries.
    pub numeric: String,
    pub name: String,
    pub continent: String,
}

/// Lower case, letters and digits only, parenthetical notes dropped:
/// "Xianggang (zh) **" and "xianggang" meet.
fn normal(s: &str) -> String {
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

/// "north-america" → "North America".
fn title(slug: &str) -> String {
    slug.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Chinese names carry a level suffix (省, 市, 自治区, 特别行政区) that users
/// often leave out; so do their ethnic qualifiers (壮族 in 广西壮族自治区).
fn cjk_stem(s: &str) -> String {
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

struct Index {
    countries: Vec<CountryInfo>,
    by_name: HashMap<String, usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut countries = Vec::new();
        let mut by_name = HashMap::new();
        for c in CountryIterator::new() {
            let i = countries.len();
            let alpha2 = c.alpha2().to_string();
            let names = [
                alpha2.clone(),
                c.alpha3().to_string(),
                c.iso_short_name().into(),
            ]
            .into_iter()
            .chain(std::iter::once(c.iso_long_name().to_string()))
            .chain(c.unofficial_name_list().iter().map(|s| s.to_string()))
            .chain(c.translations().values().map(|s| s.to_string()));
            for n in names {
                by_name.entry(normal(&n)).or_insert(i);
            }
            countries.push(CountryInfo {
                alpha2,
                numeric: c.number().to_string(),
                name: c.iso_short_name().to_string(),
                continent: title(&c.continent().to_string()),
            });
        }
        Index { countries, by_name }
    })
}

/// All countries of ISO 3166-1 (249).
pub fn country_count() -> usize {
    index().countries.len()
}

/// The country a code or name stands for.
pub fn country(s: &str) -> Option<&'static CountryInfo> {
    let ix = index();
    ix.by_name.get(&normal(s)).map(|&i| &ix.countries[i])
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
    exact: HashMap<String, usize>,
    cjk: Vec<(String, usize)>,
}

impl Subdivisions {
    /// The subdivisions of a country, by its code or name.
    pub fn of(country_name: &str) -> Option<Subdivisions> {
        let info = country(country_name)?;
        let c = Country::try_from(info.alpha2.as_str()).ok()?;
        let mut list: Vec<_> = c.subdivisions().iter().collect();
        list.sort_by_key(|(code, _)| **code);
        let mut exact = HashMap::new();
        let mut cjk = Vec::new();
        let mut out = Vec::with_capacity(list.len());
        for (i, (code, s)) in list.iter().enumerate() {
            let full = format!("{}-{code}", info.alpha2);
            let names = [full.clone(), code.to_string(), s.name().to_string()]
                .into_iter()
                .chain(s.unofficial_name_list().iter().map(|x| x.to_string()))
                .chain(s.translations().values().map(|x| x.to_string()));
            for n in names {
                if is_cjk(&n) {
                    cjk.push((cjk_stem(&normal(&n)), i));
                }
                exact.entry(normal(&n)).or_insert(i);
            }
            let english = s
                .translations()
                .get("en")
                .map_or(s.name(), |v| v)
                .to_string();
            out.push((full, english));
        }
        Some(Subdivisions {
            country: info.alpha2.clone(),
            list: out,
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
        if let Some(&i) = self.exact.get(&n) {
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
}
