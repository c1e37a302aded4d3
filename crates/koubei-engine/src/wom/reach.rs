//! `koubei wom reach`: how far word of mouth travels, counted over the
//! customers that cascades reached (everyone with a referrer): distinct
//! cities, regions and countries, the share of the home country's
//! subdivisions, the countries and continents overseas, and the share of all
//! ISO 3166-1 countries.

use std::collections::{BTreeMap, BTreeSet};

use koubei_geo::{self as geo, Subdivisions};
use serde::{Deserialize, Serialize};

use super::{People, Period, forest};
use crate::{Engine, Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ReachRequest {
    /// The home country, as a code or a name.
    pub home: String,
    pub by: Period,
    /// How many cascades to list, widest reach first.
    pub top: usize,
}

impl Default for ReachRequest {
    fn default() -> Self {
        ReachRequest {
            home: "CN".into(),
            by: Period::Month,
            top: 10,
        }
    }
}

/// Distinct places reached by a set of people.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Places {
    pub cities: usize,
    pub regions: usize,
    pub countries: usize,
    /// Subdivisions of the home country reached.
    pub home_regions: usize,
    /// home_regions over all the home country's subdivisions.
    pub home_coverage: f64,
    pub overseas_countries: usize,
    pub continents: usize,
    /// countries over all ISO 3166-1 countries.
    pub global_coverage: f64,
}

/// Referred customers in one place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlaceCount {
    /// ISO 3166-2 (a subdivision) or ISO 3166-1 alpha-2 (a country).
    pub code: String,
    pub name: String,
    /// ISO 3166-1 numeric, for a country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<String>,
    pub customers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReachPoint {
    pub period: String,
    /// Referred customers up to the period's end.
    pub reached: usize,
    #[serde(flatten)]
    pub places: Places,
}

#[derive(Debug, Clone, Serialize)]
pub struct CascadeReach {
    pub root: String,
    pub size: usize,
    #[serde(flatten)]
    pub places: Places,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReachReport {
    pub home: String,
    pub home_regions_total: usize,
    pub countries_total: usize,
    /// Referred customers.
    pub reached: usize,
    #[serde(flatten)]
    pub places: Places,
    pub home_regions_reached: Vec<String>,
    pub home_regions_missing: Vec<String>,
    /// Referred customers in each home subdivision they reached, most first.
    pub home_region_customers: Vec<PlaceCount>,
    /// Referred customers in each country they reached, most first.
    pub country_customers: Vec<PlaceCount>,
    pub overseas: Vec<String>,
    pub continent_list: Vec<String>,
    /// Region names in the home country that match no ISO 3166-2 subdivision,
    /// and country values that match no ISO 3166-1 country.
    pub unresolved: Vec<String>,
    pub over_time: Vec<ReachPoint>,
    pub cascades: Vec<CascadeReach>,
}

/// One person's place, resolved.
#[derive(Clone, Default)]
struct Place {
    country: Option<String>,
    continent: Option<String>,
    region: Option<String>,
    /// Index of the home subdivision.
    home_region: Option<usize>,
    city: Option<String>,
}

#[derive(Default)]
struct Tally {
    cities: BTreeSet<String>,
    regions: BTreeSet<String>,
    countries: BTreeSet<String>,
    home_regions: BTreeSet<usize>,
    continents: BTreeSet<String>,
}

impl Tally {
    fn add(&mut self, p: &Place) {
        if let Some(c) = &p.country {
            self.countries.insert(c.clone());
            if let Some(r) = &p.region {
                let region = format!("{c}/{r}");
                if let Some(city) = &p.city {
                    self.cities.insert(format!("{region}/{city}"));
                }
                self.regions.insert(region);
            }
        }
        if let Some(c) = &p.continent {
            self.continents.insert(c.clone());
        }
        if let Some(h) = p.home_region {
            self.home_regions.insert(h);
        }
    }

    fn places(&self, home: &str, home_total: usize) -> Places {
        let overseas = self.countries.iter().filter(|c| *c != home).count();
        Places {
            cities: self.cities.len(),
            regions: self.regions.len(),
            countries: self.countries.len(),
            home_regions: self.home_regions.len(),
            home_coverage: if home_total > 0 {
                self.home_regions.len() as f64 / home_total as f64
            } else {
                f64::NAN
            },
            overseas_countries: overseas,
            continents: self.continents.len(),
            global_coverage: self.countries.len() as f64 / geo::country_count() as f64,
        }
    }
}

fn resolve(p: &People, home: &str, subs: Option<&Subdivisions>) -> (Vec<Place>, BTreeSet<String>) {
    let mut unresolved = BTreeSet::new();
    let places = (0..p.ids.len())
        .map(|i| {
            let raw = p.country[i]
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            let info = raw.and_then(geo::country);
            if let (Some(r), None) = (raw, info) {
                unresolved.insert(format!("country {r}"));
            }
            let country = info.map(|c| c.alpha2.clone()).or(raw.map(str::to_string));
            let region = p.region[i]
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            let home_region = match (country.as_deref(), region, subs) {
                (Some(c), Some(r), Some(s)) if c == home => {
                    let h = s.resolve(r);
                    if h.is_none() {
                        unresolved.insert(format!("region {r}"));
                    }
                    h
                }
                _ => None,
            };
            Place {
                continent: info.map(|c| c.continent.clone()),
                region: home_region
                    .map(|h| subs.map(|s| s.list[h].0.clone()).unwrap_or_default())
                    .or(region.map(str::to_string)),
                home_region,
                city: p.city[i].clone().filter(|c| !c.trim().is_empty()),
                country,
            }
        })
        .collect();
    (places, unresolved)
}

impl Engine {
    pub async fn reach(&self, req: &ReachRequest) -> Result<ReachReport> {
        let home = geo::country(&req.home).ok_or_else(|| {
            Error::invalid(
                "home",
                format!("{}: not an ISO 3166-1 country code or name", req.home),
            )
        })?;
        let subs = Subdivisions::of(&home.alpha2);
        let home_total = subs.as_ref().map_or(0, Subdivisions::len);
        let people = self.people().await?;
        let f = forest(&people)?;
        let (places, unresolved) = resolve(&people, &home.alpha2, subs.as_ref());

        let mut all = Tally::default();
        let mut by_period: BTreeMap<chrono::NaiveDate, Vec<usize>> = BTreeMap::new();
        let mut cascades = Vec::new();
        let mut reached = 0;
        let mut region_counts: BTreeMap<usize, usize> = BTreeMap::new();
        let mut country_counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in 0..f.tree_count() {
            let nodes = f.tree(t);
            if nodes.len() < 2 {
                continue;
            }
            let mut mine = Tally::default();
            for &v in &nodes[1..] {
                let v = v as usize;
                reached += 1;
                all.add(&places[v]);
                if let Some(r) = places[v].home_region {
                    *region_counts.entry(r).or_default() += 1;
                }
                if let Some(c) = &places[v].country {
                    *country_counts.entry(c.clone()).or_default() += 1;
                }
                mine.add(&places[v]);
                if let Some(j) = people.joined[v] {
                    by_period.entry(req.by.of_micros(j)).or_default().push(v);
                }
            }
            cascades.push(CascadeReach {
                root: people.ids[nodes[0] as usize].clone(),
                size: nodes.len(),
                places: mine.places(&home.alpha2, home_total),
            });
        }
        cascades.sort_by(|a, b| {
            (b.places.countries, b.places.regions, b.size, &a.root).cmp(&(
                a.places.countries,
                a.places.regions,
                a.size,
                &b.root,
            ))
        });
        cascades.truncate(req.top);

        let mut over_time = Vec::new();
        if let (Some(&first), Some(&last)) = (by_period.keys().next(), by_period.keys().next_back())
        {
            let mut so_far = Tally::default();
            let mut count = 0;
            for d in req.by.range(first, last) {
                for &v in by_period.get(&d).map(Vec::as_slice).unwrap_or(&[]) {
                    so_far.add(&places[v]);
                    count += 1;
                }
                over_time.push(ReachPoint {
                    period: d.to_string(),
                    reached: count,
                    places: so_far.places(&home.alpha2, home_total),
                });
            }
        }
        let names = |want: bool| -> Vec<String> {
            subs.as_ref()
                .map(|s| {
                    s.list
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| all.home_regions.contains(i) == want)
                        .map(|(_, (code, name))| format!("{code} {name}"))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Most customers first; ties by code, so the order is the data's.
        let by_count = |mut v: Vec<PlaceCount>| {
            v.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.code.cmp(&b.code)));
            v
        };
        let home_region_customers = by_count(
            region_counts
                .iter()
                .filter_map(|(&i, &n)| {
                    let (code, name) = subs.as_ref()?.list.get(i)?;
                    Some(PlaceCount {
                        code: code.to_string(),
                        name: name.to_string(),
                        numeric: None,
                        customers: n,
                    })
                })
                .collect(),
        );
        let country_customers = by_count(
            country_counts
                .iter()
                .map(|(c, &n)| {
                    let info = geo::country(c);
                    PlaceCount {
                        code: c.clone(),
                        name: info.map_or_else(|| c.clone(), |i| i.name.clone()),
                        numeric: info.map(|i| i.numeric.clone()),
                        customers: n,
                    }
                })
                .collect(),
        );
        Ok(ReachReport {
            home: home.alpha2.clone(),
            home_regions_total: home_total,
            countries_total: geo::country_count(),
            reached,
            places: all.places(&home.alpha2, home_total),
            home_regions_reached: names(true),
            home_regions_missing: names(false),
            home_region_customers,
            country_customers,
            overseas: all
                .countries
                .iter()
                .filter(|c| **c != home.alpha2)
                .cloned()
                .collect(),
            continent_list: all.continents.iter().cloned().collect(),
            unresolved: unresolved.into_iter().collect(),
            over_time,
            cascades,
        })
    }
}
