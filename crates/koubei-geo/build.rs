//! Writes `iso3166.txt` into `OUT_DIR`: every country and first-level
//! subdivision with the keys its names normalise to. The library embeds the
//! table; keshvar itself stays out of the binary.
//!
//! One record per line, fields split by tabs, keys by spaces (a key is
//! letters and digits only):
//!
//! - `C alpha2 numeric name continent keys`, in keshvar's country order;
//! - `S alpha2 code english keys cjk-stems`, each country's subdivisions
//!   sorted by code, after all the countries.
//!
//! Order matters: where two places share a key, the first one keeps it.

#[path = "src/keshvar_names.rs"]
mod keshvar_names;
#[path = "src/names.rs"]
mod names;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use keshvar::{Country, CountryIterator};
use keshvar_names::{country_names, english, subdivision_names};
use names::{cjk_stem, is_cjk, normal};

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

/// The keys of a place's names, each once; a name with no letters or digits
/// gives no key.
fn keys(names: &[String]) -> String {
    let set: BTreeSet<String> = names
        .iter()
        .map(|n| normal(n))
        .filter(|k| !k.is_empty())
        .collect();
    set.into_iter().collect::<Vec<_>>().join(" ")
}

/// A name as a field: the table's separators cannot occur in it.
fn field(s: &str) -> &str {
    assert!(
        !s.contains(['\t', '\n']),
        "{s:?} holds a tab or a line break"
    );
    s
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/names.rs");
    println!("cargo::rerun-if-changed=src/keshvar_names.rs");
    let countries: Vec<Country> = CountryIterator::new().collect();
    let mut out = String::new();
    for c in &countries {
        writeln!(
            out,
            "C\t{}\t{}\t{}\t{}\t{}",
            c.alpha2(),
            c.number(),
            field(c.iso_short_name()),
            title(&c.continent().to_string()),
            keys(&country_names(c))
        )
        .unwrap();
    }
    for c in &countries {
        let alpha2 = c.alpha2().to_string();
        let mut list: Vec<_> = c.subdivisions().iter().collect();
        list.sort_by_key(|(code, _)| **code);
        for (code, s) in list {
            let full = format!("{alpha2}-{code}");
            let all = subdivision_names(&full, code, s);
            let stems: BTreeSet<String> = all
                .iter()
                .filter(|n| is_cjk(n))
                .map(|n| cjk_stem(&normal(n)))
                .filter(|k| !k.is_empty())
                .collect();
            writeln!(
                out,
                "S\t{alpha2}\t{full}\t{}\t{}\t{}",
                field(english(s)),
                keys(&all),
                stems.into_iter().collect::<Vec<_>>().join(" ")
            )
            .unwrap();
        }
    }
    let path = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("iso3166.txt");
    std::fs::write(path, out).unwrap();
}
