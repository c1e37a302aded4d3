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

/// The dashboard's page, with the default date range (since, until) that
/// every page starts from when the server knows it.
pub fn index_html(range: Option<(&str, &str)>) -> String {
    match range {
        Some((since, until)) => INDEX.replacen(
            "<main id=\"page\"",
            &format!("<main id=\"page\" data-since=\"{since}\" data-until=\"{until}\""),
            1,
        ),
        None => INDEX.to_string(),
    }
}

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

/// A self-contained page of the report whose JSON is `report` (an object
/// with `range` and `sections`): the style, ECharts and the dashboard's
/// script inlined, so that it opens with no network and no server.
pub fn report_html(title: &str, report: &str) -> String {
    let text = |name: &str| {
        let a = asset(name).expect("an embedded asset");
        std::str::from_utf8(a.bytes).expect("UTF-8")
    };
    // Inside <script>, "</" would end the element; JSON may write it "<\/".
    let data = report.replace("</", "<\\/");
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>\n{css}</style>\n\
         <script>{echarts}</script>\n<script>{topojson}</script>\n\
         <script>window.KOUBEI_MAPS = {{\"china.json\": {china}, \"countries-110m.json\": {world}}};</script>\n\
         <script>window.KOUBEI_DATA = {data};</script>\n</head>\n<body>\n\
         <header><h1>koubei <span lang=\"zh\">口碑</span></h1><nav id=\"pages\"></nav></header>\n\
         <section id=\"controls\" aria-label=\"controls\"></section>\n\
         <main id=\"page\" aria-live=\"polite\"></main>\n\
         <footer>{title}. Made by koubei report; every chart offers its data as CSV.</footer>\n\
         <script>{script}</script>\n</body>\n</html>\n",
        css = text("dashboard.css"),
        echarts = text("echarts.min.js").replace("</script", "<\\/script"),
        script = text("dashboard.js"),
        topojson = text("topojson-client.min.js").replace("</script", "<\\/script"),
        china = text("china.json").replace("</", "<\\/"),
        world = text("countries-110m.json").replace("</", "<\\/"),
    )
}

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

    /// Every province the script names is a name in the China map, and
    /// every one of China's 34 ISO 3166-2 subdivisions has one.
    #[test]
    fn province_names_are_the_maps() {
        let script = std::str::from_utf8(asset("dashboard.js").unwrap().bytes).unwrap();
        let map = std::str::from_utf8(asset("china.json").unwrap().bytes).unwrap();
        let table = script.split("const CN_NAMES = {").nth(1).unwrap();
        let table = table.split("};").next().unwrap();
        let names: Vec<&str> = table
            .split(',')
            .filter_map(|pair| pair.split(':').nth(1))
            .map(|n| n.trim().trim_matches('"'))
            .filter(|n| !n.is_empty())
            .collect();
        assert_eq!(names.len(), 34);
        for n in names {
            assert!(map.contains(&format!("\"name\":\"{n}\"")), "{n}");
        }
    }

    /// A report page loads nothing: every script and style is inline, and
    /// its data cannot end the script element that holds it.
    #[test]
    fn a_report_is_self_contained() {
        let page = report_html(
            "Shop <A>",
            r#"{"range":{},"sections":{"x":"</script><b>"}}"#,
        );
        assert!(!page.contains("<script src") && !page.contains("rel=\"stylesheet\""));
        assert!(page.contains("<title>Shop &lt;A&gt;</title>"));
        assert_eq!(page.matches("</script>").count(), 5);
        assert!(page.contains(r#""x":"<\/script><b>""#));
    }
}
