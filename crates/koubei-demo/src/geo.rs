//! Where the demo's customers live. This is sample data for the generator,
//! not reference data: metrics take country and region lists from ISO data.

/// China's provincial-level divisions, with a rough weight (population in
/// millions) and a few cities each.
pub(crate) const CN_REGIONS: &[(&str, f64, &[&str])] = &[
    (
        "Guangdong",
        126.0,
        &["Guangzhou", "Shenzhen", "Dongguan", "Foshan"],
    ),
    ("Shandong", 101.0, &["Jinan", "Qingdao", "Yantai"]),
    ("Henan", 99.0, &["Zhengzhou", "Luoyang"]),
    ("Jiangsu", 85.0, &["Nanjing", "Suzhou", "Wuxi"]),
    ("Sichuan", 84.0, &["Chengdu", "Mianyang"]),
    ("Hebei", 75.0, &["Shijiazhuang", "Tangshan"]),
    ("Hunan", 66.0, &["Changsha", "Zhuzhou"]),
    ("Zhejiang", 65.0, &["Hangzhou", "Ningbo", "Wenzhou"]),
    ("Anhui", 61.0, &["Hefei", "Wuhu"]),
    ("Hubei", 58.0, &["Wuhan", "Yichang"]),
    ("Guangxi", 50.0, &["Nanning", "Guilin"]),
    ("Yunnan", 47.0, &["Kunming", "Dali"]),
    ("Jiangxi", 45.0, &["Nanchang", "Ganzhou"]),
    ("Liaoning", 42.0, &["Shenyang", "Dalian"]),
    ("Fujian", 42.0, &["Fuzhou", "Xiamen", "Quanzhou"]),
    ("Shaanxi", 40.0, &["Xi'an", "Baoji"]),
    ("Guizhou", 39.0, &["Guiyang", "Zunyi"]),
    ("Shanxi", 35.0, &["Taiyuan", "Datong"]),
    ("Chongqing", 32.0, &["Chongqing"]),
    ("Heilongjiang", 31.0, &["Harbin", "Daqing"]),
    ("Xinjiang", 26.0, &["Urumqi", "Kashgar"]),
    ("Shanghai", 25.0, &["Shanghai"]),
    ("Gansu", 25.0, &["Lanzhou", "Tianshui"]),
    ("Inner Mongolia", 24.0, &["Hohhot", "Baotou"]),
    ("Jilin", 24.0, &["Changchun", "Jilin"]),
    ("Taiwan", 23.0, &["Taipei", "Kaohsiung"]),
    ("Beijing", 22.0, &["Beijing"]),
    ("Tianjin", 14.0, &["Tianjin"]),
    ("Hainan", 10.0, &["Haikou", "Sanya"]),
    ("Hong Kong", 7.5, &["Hong Kong"]),
    ("Ningxia", 7.2, &["Yinchuan"]),
    ("Qinghai", 5.9, &["Xining"]),
    ("Tibet", 3.6, &["Lhasa"]),
    ("Macao", 0.7, &["Macao"]),
];

/// Overseas countries (ISO 3166-1 alpha-2) on several continents, with a
/// weight and (region, city) pairs.
/// (country, weight, [(region, city)]).
pub(crate) type Country = (&'static str, f64, &'static [(&'static str, &'static str)]);

pub(crate) const OVERSEAS: &[Country] = &[
    (
        "US",
        30.0,
        &[
            ("California", "Los Angeles"),
            ("New York", "New York"),
            ("Washington", "Seattle"),
        ],
    ),
    (
        "CA",
        8.0,
        &[("Ontario", "Toronto"), ("British Columbia", "Vancouver")],
    ),
    (
        "GB",
        7.0,
        &[("England", "London"), ("England", "Manchester")],
    ),
    ("DE", 5.0, &[("Berlin", "Berlin"), ("Bavaria", "Munich")]),
    ("FR", 4.0, &[("Ile-de-France", "Paris")]),
    (
        "AU",
        8.0,
        &[("New South Wales", "Sydney"), ("Victoria", "Melbourne")],
    ),
    ("NZ", 2.0, &[("Auckland", "Auckland")]),
    ("JP", 7.0, &[("Tokyo", "Tokyo"), ("Osaka", "Osaka")]),
    ("KR", 4.0, &[("Seoul", "Seoul")]),
    ("SG", 6.0, &[("Singapore", "Singapore")]),
    ("MY", 5.0, &[("Kuala Lumpur", "Kuala Lumpur")]),
    ("TH", 3.0, &[("Bangkok", "Bangkok")]),
    ("AE", 2.0, &[("Dubai", "Dubai")]),
    ("BR", 2.0, &[("Sao Paulo", "Sao Paulo")]),
    ("ZA", 1.0, &[("Gauteng", "Johannesburg")]),
    ("NG", 1.0, &[("Lagos", "Lagos")]),
];
