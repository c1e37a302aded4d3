//! The dashboard's files, compiled into the binary so that no page loads
//! anything from the network: the page, its script and style, and the
//! pinned third-party files in `assets/` (see its README for their
//! sources and licences).
//!
//! The same script draws the live dashboard (reading the API) and the
//! report (reading the reports inlined into it), so both show the same
//! numbers in the same charts.

/// A file served under `/assets/`.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// The dashboard's page.
pub const INDEX: &str = include_str!("../web/index.html");

/// Every file the page loads, by name.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/dashboard.js"),
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../web/dashboard.css"),
    },
    Asset {
        name: "echarts.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/echarts.min.js"),
    },
    Asset {
        name: "topojson-client.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/topojson-client.min.js"),
    },
    Asset {
        name: "china.json",
        content_type: "application/json",
        bytes: include_bytes!("../assets/china.json"),
    },
    Asset {
        name: "countries-110m.json",
        content_type: "application/json",
        bytes: include_bytes!("../assets/countries-110m.json"),
    },
];

/// The asset called `name`, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads only files that are compiled in.
    #[test]
    fn the_page_loads_only_embedded_files() {
        for part in INDEX
            .split("src=\"")
            .skip(1)
            .chain(INDEX.split("href=\"").skip(1))
        {
            let target = part.split('"').next().unwrap();
            if target.starts_with('#') || target.starts_with("data:") {
                continue;
            }
            let name = target
                .strip_prefix("/assets/")
                .unwrap_or_else(|| panic!("{target} is not an embedded asset"));
            assert!(asset(name).is_some(), "{name}");
        }
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"));
    }
}
