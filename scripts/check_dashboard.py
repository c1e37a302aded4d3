#!/usr/bin/env python3
"""The dashboard in a real headless browser: every page loads with no
console error, shows the API's numbers, and is saved as a screenshot.

    python3 scripts/check_dashboard.py [--koubei PATH] [--out DIR]

Needs Debian's chromium and chromium-driver (and fonts-wqy-microhei for
Chinese text); installs selenium from PyPI when it is missing. Starts
`koubei serve` on a demo shop, opens each page with Selenium through
/usr/bin/chromedriver, and compares what the page shows with the JSON the
API answers for the same request. Screenshots go to DIR (default
target/screenshots). Prints "N passed, N failed" and exits 1 on a failure.
"""

import argparse
import json
from decimal import ROUND_HALF_UP, Decimal
import os
import urllib.parse
import subprocess
import sys
import tempfile
import time
import urllib.request

import peers

CHROMEDRIVER = "/usr/bin/chromedriver"


def api(addr, path):
    with urllib.request.urlopen(f"http://{addr}{path}") as r:
        return json.load(r)


def fixed(x, places):
    """x to `places` decimals as the page's JavaScript rounds it (toFixed,
    Intl.NumberFormat): from the double's exact value, ties away from zero,
    where Python's own formatting takes ties to even (6.25 -> 6.2)."""
    return Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def money(v):
    return f"{fixed(v, 2):,}"


def count(v):
    return f"{fixed(v, 0):,}"


def share(v):
    return f"{fixed(v * 100, 1)}%"


FORMAT = {"money": money, "count": count, "number": money, "share": share}


class Check:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def equal(self, what, got, want):
        if got == want:
            self.passed += 1
        else:
            self.failed.append(f"{what}: shows {got!r}, the API says {want!r}")

    def true(self, what, ok):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)


def shot(driver, path):
    """A screenshot of the whole page, not only the window."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(height + 120, 8000))
    time.sleep(0.3)
    driver.save_screenshot(path)
    driver.set_window_size(1400, 1000)


def open_page(driver, addr, hash_, check):
    """Opens a page; once ready, draws the charts that wait out of sight
    (the whole page in the window) and returns whether it is ready. The ids
    of the charts that waited are in `open_page.waited`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"http://{addr}/#{hash_}")
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.ID, "page").get_attribute("data-state") in ("ready", "error"))
    state = driver.find_element(By.ID, "page").get_attribute("data-state")
    if state != "ready":
        check.true(f"{hash_}: the page says {driver.find_element(By.ID, 'page').text!r}", False)
    open_page.waited = [e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, "[data-pending]")]
    if open_page.waited:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(height + 120, 8000))
        WebDriverWait(driver, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-pending]"))
        driver.set_window_size(1400, 1000)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check.true(f"{hash_}: console errors {errors}", not errors)
    return state == "ready"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--koubei", help="path to a built koubei binary (default: a debug build)")
    ap.add_argument("--out", default=os.path.join(peers.ROOT, "target", "screenshots"))
    a = ap.parse_args()
    if not os.path.exists(CHROMEDRIVER):
        print(f"{CHROMEDRIVER} is missing: apt-get install chromium chromium-driver fonts-wqy-microhei", file=sys.stderr)
        sys.exit(2)
    peers.module("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    koubei = peers.koubei(a.koubei)
    os.makedirs(a.out, exist_ok=True)
    check = Check()
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        subprocess.run([koubei, "-w", ws, "demo", "--customers", "2000", "--seed", "11"], check=True, capture_output=True)
        server = subprocess.Popen([koubei, "-w", ws, "serve", "--addr", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
        options = webdriver.ChromeOptions()
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", "--lang=zh-CN"]:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = None
        try:
            addr = server.stderr.readline().split("http://")[1].split("/")[0]
            driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

            # Overview, on the default range: each card's number is the API's.
            if open_page(driver, addr, "overview", check):
                hash_ = driver.execute_script("return location.hash")
                query = hash_.split("?", 1)[1]
                o = api(addr, f"/v1/overview?{query}")
                for k in o["kpis"]:
                    card = driver.find_element(By.CSS_SELECTOR, f'.card[data-kpi="{k["key"]}"]')
                    shown = card.find_element(By.CLASS_NAME, "value").text
                    check.equal(f"overview {k['key']}", shown, FORMAT[k["unit"]](k["value"]) if k["value"] is not None else "–")
                    raw = card.get_attribute("data-value")
                    check.equal(f"overview {k['key']} raw", float(raw) if raw else None, k["value"])
                check.true("overview: a sparkline per card with a series",
                           len(driver.find_elements(By.CSS_SELECTOR, ".card .spark svg")) == sum(1 for k in o["kpis"] if k["series"]))
                # Each sparkline's hover text: every period's value, as the API gives it.
                for k in o["kpis"]:
                    if not k["series"]:
                        continue
                    titles = [t.get_attribute("textContent") for t in driver.find_elements(
                        By.CSS_SELECTOR, f'.card[data-kpi="{k["key"]}"] .spark title')]
                    want = [f'{p["period"]}: {FORMAT[k["unit"]](p["value"]) if p["value"] is not None else "–"}' for p in k["series"]]
                    check.equal(f"overview {k['key']} sparkline values", titles, want)
                shot(driver, os.path.join(a.out, "overview.png"))

            # Comparison off: the cards keep their numbers and lose the change.
            if open_page(driver, addr, "overview?compare=off", check):
                check.equal("compare off", len(driver.find_elements(By.CSS_SELECTOR, ".card .cmp")), 0)
                check.equal("compare off keeps the cards", len(driver.find_elements(By.CSS_SELECTOR, ".card")), len(api(addr, "/v1/overview")["kpis"]))

            # Sales, by month over a year, then by country.
            for name, hash_, breakdown in [
                ("sales", "sales?since=2025-01-01&until=2025-12-31&by=month", None),
                ("sales-country", "sales?since=2025-01-01&until=2025-12-31&by=month&breakdown=country", "country"),
            ]:
                if not open_page(driver, addr, hash_, check):
                    continue
                q = "by=month&since=2025-01-01&until=2025-12-31" + (f"&breakdown={breakdown}&top=8" if breakdown else "")
                s = api(addr, f"/v1/sales?{q}")
                rows = s["groups"] if breakdown else s["total"]
                cells = driver.find_elements(By.CSS_SELECTOR, "#page table tbody tr")
                check.equal(f"{name} rows", len(cells), len(rows))
                col = 2 if breakdown else 1
                for tr, r in zip(cells, rows):
                    tds = tr.find_elements(By.TAG_NAME, "td")
                    check.equal(f"{name} {r['period']} {r.get('group')} revenue", tds[col].text, money(r["revenue"]))
                shot(driver, os.path.join(a.out, f"{name}.png"))

            # The other pages: each table shows the API's numbers.
            r = "since=2025-01-01&until=2025-12-31"
            pages = [
                ("funnel", f"funnel?{r}&by=month",
                 f"/v1/funnel?steps=view,add_to_cart,checkout,purchase&window_seconds=604800&trend=month&{r}",
                 lambda j: [count(st["persons"]) for st in j["steps"]], 1),
                ("retention", f"retention?{r}&by=month",
                 f"/v1/retention?period=month&periods=12&{r}",
                 lambda j: [count(c["size"]) for c in j["cohorts"]], 1),
                ("customers", f"customers?{r}",
                 "/v1/rfm?as_of=2025-12-31",
                 lambda j: [count(g["customers"]) for g in j["segments"]], 1),
                ("wom", f"wom?{r}",
                 "/v1/wom/metrics?by=month",
                 lambda j: [share(p["customer_share_rate"]) for p in j["periods"] if "2025-01-01" <= p["period"] <= "2025-12-31"], 2),
            ]
            for name, hash_, path, want, col in pages:
                if not open_page(driver, addr, hash_, check):
                    continue
                rows = driver.find_elements(By.CSS_SELECTOR, "#page .panel table")[0].find_elements(By.CSS_SELECTOR, "tbody tr")
                shown = [tr.find_elements(By.TAG_NAME, "td")[col].text for tr in rows]
                check.equal(f"{name} table", shown, want(api(addr, path)))
                check.true(f"{name}: its charts are drawn", len(driver.find_elements(By.CSS_SELECTOR, "#page canvas")) >= 1)
                if name == "wom":
                    reach = api(addr, "/v1/wom/reach?home=CN")
                    rows = driver.find_elements(By.CSS_SELECTOR, "#page .panel table")[1].find_elements(By.CSS_SELECTOR, "tbody tr")
                    check.equal("wom reach regions", [tr.find_elements(By.TAG_NAME, "td")[2].text for tr in rows],
                                [count(p["customers"]) for p in reach["home_region_customers"]])
                    check.true("wom: both maps drawn", len(driver.find_elements(By.CSS_SELECTOR, ".chart.map canvas")) == 2)
                    # Out of sight when the page is ready, the world map and the
                    # cascades are drawn once shown.
                    check.true(f"wom: the charts below wait to be seen ({open_page.waited})",
                               {"reach-world", "cascade-0"} <= set(open_page.waited))
                shot(driver, os.path.join(a.out, f"{name}.png"))

            # Reviews: the summary cards, the monthly table, the tags and the
            # products' ranking are the API's.
            if open_page(driver, addr, f"reviews?{r}&by=month", check):
                j = api(addr, f"/v1/reviews?{r}&by=month")
                t = j["total"]
                for key, unit in [("reviews", "count"), ("mean_rating", "number"), ("csat", "share"),
                                  ("review_rate", "share"), ("refund_rate", "share"), ("positive_share", "share")]:
                    card = driver.find_element(By.CSS_SELECTOR, f'#page .card[data-kpi="{key}"]')
                    raw = card.get_attribute("data-value")
                    check.equal(f"reviews {key} raw", float(raw) if raw else None, t[key])
                    check.equal(f"reviews {key}", card.find_element(By.CLASS_NAME, "value").text,
                                FORMAT[unit](t[key]) if t[key] is not None else "–")
                tables = driver.find_elements(By.CSS_SELECTOR, "#page .panel table")
                rows = tables[0].find_elements(By.CSS_SELECTOR, "tbody tr")
                check.equal("reviews by month", [(tr.find_elements(By.TAG_NAME, "td")[0].text, tr.find_elements(By.TAG_NAME, "td")[1].text) for tr in rows],
                            [(x["key"], count(x["reviews"])) for x in j["rows"]])
                for label in ["positive", "negative"]:
                    shown = [li.text for li in driver.find_elements(By.CSS_SELECTOR, f"#page .tags.{label} li")]
                    check.equal(f"reviews {label} tags", shown,
                                [f'{g["tag"]} ({count(g["reviews"])})' for g in j["tags"] if g["label"] == label])
                check.true("reviews: tags of both kinds", all(driver.find_elements(By.CSS_SELECTOR, f"#page .tags.{l} li") for l in ["positive", "negative"]))
                ranked = api(addr, f"/v1/reviews?{r}&by=product&top=10&rank_by_bayesian_mean=true")["rows"]
                shown = [tr.find_elements(By.TAG_NAME, "td")[0].text for tr in tables[-1].find_elements(By.CSS_SELECTOR, "tbody tr")]
                check.equal("reviews products by Bayesian mean", shown, [x["key"] for x in ranked])
                check.true("reviews: its charts are drawn", len(driver.find_elements(By.CSS_SELECTOR, "#page canvas")) >= 4)
                terms = api(addr, f"/v1/reviews/terms?{r}&top=10")
                check.equal("reviews complaint terms", [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#page button[data-term]")],
                            [x["term"] for x in terms["complaints"] + terms["praise"]])
                shot(driver, os.path.join(a.out, "reviews.png"))
                # A complaint tag, then a term, opens the reviews behind it.
                from selenium.common.exceptions import StaleElementReferenceException
                from selenium.webdriver.support.ui import WebDriverWait
                # The list is drawn again when its answer comes: an element
                # read while it is replaced is read again, not a failure.
                def wait(seconds):
                    return WebDriverWait(driver, seconds, ignored_exceptions=[StaleElementReferenceException])
                tag = next(g for g in j["tags"] if g["label"] == "negative")
                driver.find_element(By.CSS_SELECTOR, f'#page .tags.negative li[data-tag="{tag["tag"]}"] button').click()
                wait(20).until(lambda d: d.find_elements(By.ID, "review-list"))
                listed = api(addr, f"/v1/reviews/list?{r}&tag={urllib.parse.quote(tag['tag'])}&aspect={tag['aspect']}&limit=200")
                check.equal("reviews behind a tag: as many as the tag says", listed["matched"], tag["reviews"])
                check.true("reviews behind a tag: the count shown",
                           driver.find_element(By.ID, "review-list").text.startswith(f'{count(listed["matched"])} reviews with the tag {tag["tag"]}'))
                rows = driver.find_element(By.ID, "review-list").find_element(By.XPATH, "..").find_elements(By.CSS_SELECTOR, "tbody tr")
                check.equal("reviews behind a tag: ids", [tr.find_elements(By.TAG_NAME, "td")[0].text for tr in rows],
                            [x["review_id"] for x in listed["rows"]])
                shot(driver, os.path.join(a.out, "reviews-tag.png"))
                term = terms["complaints"][0]["term"]
                driver.find_element(By.CSS_SELECTOR, f'#page button[data-term="{term}"]').click()
                wait(20).until(lambda d: f"term {term}" in d.find_element(By.ID, "review-list").text)
                listed = api(addr, f"/v1/reviews/list?{r}&term={urllib.parse.quote(term)}&limit=200")
                check.true("reviews behind a term: the count shown",
                           driver.find_element(By.ID, "review-list").text.startswith(f'{count(listed["matched"])} reviews with the term {term}'))
                check.true("reviews behind a term: in the URL", "term=" in driver.current_url)

            # Recommendations: the pairs, the At Risk customers' top 3 and
            # one customer's top 10 are the API's; measuring fills the
            # models' table on a click.
            if open_page(driver, addr, f"recs?{r}", check):
                from selenium.webdriver.support.ui import WebDriverWait
                t = api(addr, "/v1/recommend/together?top=15")
                tables = driver.find_elements(By.CSS_SELECTOR, "#page .panel table")
                pairs = [(tr.find_elements(By.TAG_NAME, "td")[0].text, tr.find_elements(By.TAG_NAME, "td")[1].text)
                         for tr in tables[0].find_elements(By.CSS_SELECTOR, "tbody tr")]
                check.equal("recs bought together", pairs, [(x["product"], x["with"]) for x in t["rules"]])
                check.true("recs: some pairs", len(pairs) > 0)
                w = api(addr, "/v1/recommend/export?segments=At%20Risk&n=3&model=itemknn")
                rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in tables[1].find_elements(By.CSS_SELECTOR, "tbody tr")]
                check.equal("recs win back", rows, [[c["customer_id"], *[p["product"] for p in c["products"]]] for c in w["customers"][:20]])
                check.true("recs win back count", driver.find_element(By.ID, "recs-winback").text.startswith(f'At Risk: {count(w["matched"])} customers'))
                first = w["customers"][0]["customer_id"]
                f = api(addr, f"/v1/recommend/for?customer={first}&n=10&model=itemknn")
                shown = [tr.find_elements(By.TAG_NAME, "td")[1].text for tr in tables[2].find_elements(By.CSS_SELECTOR, "tbody tr")]
                check.equal("recs for the first customer", shown, [p["product"] for p in f["products"]])
                check.true("recs: the pairs' chart is drawn", len(driver.find_elements(By.CSS_SELECTOR, "#recs-together canvas")) == 1)
                # A customer of the list opens their own top 10.
                other = w["customers"][1]["customer_id"]
                driver.find_element(By.CSS_SELECTOR, f'button[data-customer="{other}"]').click()
                WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "recs-for") and other in d.find_element(By.ID, "recs-for").text)
                check.true("recs: the customer is in the URL", f"customer={other}" in driver.current_url)
                driver.find_element(By.ID, "recs-measure").click()
                WebDriverWait(driver, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recs-evaluate canvas"))
                e = api(addr, "/v1/recommend/evaluate")
                tables = driver.find_elements(By.CSS_SELECTOR, "#page .panel table")
                shown = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")][:4] for tr in tables[-1].find_elements(By.CSS_SELECTOR, "tbody tr")]
                check.equal("recs evaluate", shown, [[m["model"], f'{m["precision"]:.4f}', f'{m["recall"]:.4f}', f'{m["ndcg"]:.4f}'] for m in e["models"]])
                shot(driver, os.path.join(a.out, "recs.png"))

            # A segment's button opens its customers, as the API lists them.
            if open_page(driver, addr, f"customers?{r}", check):
                driver.find_element(By.CSS_SELECTOR, 'button[data-list="At Risk"]').click()
                from selenium.webdriver.support.ui import WebDriverWait
                WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "customer-list"))
                WebDriverWait(driver, 30).until(
                    lambda d: d.find_element(By.ID, "page").get_attribute("data-state") == "ready")
                listed = api(addr, "/v1/rfm/customers?as_of=2025-12-31&segments=At%20Risk")
                tables = driver.find_elements(By.CSS_SELECTOR, "#page .panel table")
                ids = [tr.find_elements(By.TAG_NAME, "td")[0].text for tr in tables[1].find_elements(By.CSS_SELECTOR, "tbody tr")]
                check.equal("At Risk customers", ids, [c["customer_id"] for c in listed["customers"]][:200])
                check.true("the list is in the URL", "list=At+Risk" in driver.execute_script("return location.hash"))
                shot(driver, os.path.join(a.out, "customers-at-risk.png"))

            # A step's drop-off button lists those persons, as the API does,
            # and as many as the step's drop-off count.
            if open_page(driver, addr, f"funnel?{r}&by=month", check):
                driver.find_element(By.CSS_SELECTOR, 'button[data-list="3"]').click()
                from selenium.webdriver.support.ui import WebDriverWait
                WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "person-list"))
                WebDriverWait(driver, 30).until(
                    lambda d: d.find_element(By.ID, "page").get_attribute("data-state") == "ready")
                q = f"steps=view,add_to_cart,checkout,purchase&window_seconds=604800&{r}"
                listed = api(addr, f"/v1/funnel/persons?{q}&step=3&dropped_off=true")
                funnel = api(addr, f"/v1/funnel?{q}")
                check.equal("funnel drop-off list size", len(listed["persons"]), funnel["steps"][2]["dropoff"])
                check.true("funnel drop-off list is not empty", len(listed["persons"]) > 0)
                ids = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#page .ids span")]
                check.equal("funnel dropped-off persons", ids, listed["persons"][:200])
                check.true("the funnel list is in the URL", "list=3" in driver.execute_script("return location.hash"))
                shot(driver, os.path.join(a.out, "funnel-dropped-off.png"))

            # The report the demo wrote: opened from the file, with no server
            # needed, it shows the API's numbers for its range.
            driver.get(f"file://{ws}/report.html")
            from selenium.webdriver.support.ui import WebDriverWait
            WebDriverWait(driver, 30).until(
                lambda d: d.find_element(By.ID, "page").get_attribute("data-state") in ("ready", "error"))
            check.equal("report state", driver.find_element(By.ID, "page").get_attribute("data-state"), "ready")
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            check.true(f"report: console errors {errors}", not errors)
            data = driver.execute_script("return window.KOUBEI_DATA.range")
            o = api(addr, f"/v1/overview?since={data['since']}&until={data['until']}")
            for k in o["kpis"]:
                card = driver.find_element(By.CSS_SELECTOR, f'.card[data-kpi="{k["key"]}"]')
                raw = card.get_attribute("data-value")
                check.equal(f"report {k['key']}", float(raw) if raw else None, k["value"])
            s = api(addr, f"/v1/sales?by=month&since={data['since']}&until={data['until']}")
            sections = driver.find_elements(By.CSS_SELECTOR, "#page > section")
            check.equal("report sections", len(sections), 9)
            skipped = driver.execute_script("return window.KOUBEI_DATA.sections.skipped")
            check.equal("report sections skipped", skipped, {})
            f = api(addr, f"/v1/funnel?steps=view,add_to_cart,checkout,purchase&window_seconds=604800&trend=week&since={data['since']}&until={data['until']}")
            shown = [tr.find_elements(By.TAG_NAME, "td")[1].text for tr in sections[3].find_elements(By.CSS_SELECTOR, "table")[0].find_elements(By.CSS_SELECTOR, "tbody tr")]
            check.equal("report funnel", shown, [count(st["persons"]) for st in f["steps"]])
            first = sections[1].find_elements(By.CSS_SELECTOR, "tbody tr")
            check.equal("report sales rows", len(first), len(s["total"]))
            rv = api(addr, f"/v1/reviews?by=month&since={data['since']}&until={data['until']}")
            card = sections[7].find_element(By.CSS_SELECTOR, '.card[data-kpi="csat"]')
            check.equal("report reviews csat", float(card.get_attribute("data-value")), rv["total"]["csat"])
            tv = api(addr, f"/v1/reviews/terms?top=10&since={data['since']}&until={data['until']}")
            check.true("report reviews terms", all(x["term"] in sections[7].text for x in tv["complaints"]))
            rt = api(addr, "/v1/recommend/together?top=15")
            check.true("report recs: some pairs", len(rt["rules"]) > 0)
            shown = [tr.find_elements(By.TAG_NAME, "td")[0].text for tr in sections[8].find_elements(By.CSS_SELECTOR, "table")[0].find_elements(By.CSS_SELECTOR, "tbody tr")]
            check.equal("report recs pairs", shown, [x["product"] for x in rt["rules"]])
            rw = api(addr, "/v1/recommend/export?segments=At%20Risk&n=3&model=itemknn&limit=20")
            shown = [tr.find_elements(By.TAG_NAME, "td")[0].text for tr in sections[8].find_elements(By.CSS_SELECTOR, "table")[1].find_elements(By.CSS_SELECTOR, "tbody tr")]
            check.equal("report recs win back", shown, [c["customer_id"] for c in rw["customers"]])
            shot(driver, os.path.join(a.out, "report.png"))

            # A bad range is shown as the API's reason, not a console error.
            open_page(driver, addr, "overview?since=2025-05-01&until=2025-01-01", Check())
            check.true("a bad range names its field",
                       "since" in driver.find_element(By.ID, "page").text)
        finally:
            if driver:
                driver.quit()
            server.terminate()
            server.wait(timeout=60)
    for f in check.failed:
        print(f"FAILED {f}", file=sys.stderr)
    print(f"screenshots in {a.out}", file=sys.stderr)
    print(f"{check.passed} passed, {len(check.failed)} failed")
    sys.exit(1 if check.failed else 0)


if __name__ == "__main__":
    main()
