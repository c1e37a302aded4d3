#!/usr/bin/env python3
"""How fast the dashboard is interactive, and how long `koubei report` takes.

    python3 scripts/bench_dashboard.py [--customers 10000 1000000] [--runs 3] [--koubei PATH]

For each shop size: generates the demo shop, then RUNS times starts a fresh
`koubei serve` (nothing opened, nothing cached) and opens each page in
headless chromium, timing from navigation to the page's data drawn
(`main[data-state=ready]`, by the page's own clock); and times
`koubei report`. Prints medians.
Needs chromium and chromium-driver (see scripts/check_dashboard.py).
There is no peer to run: the targets are absolute (overview at 1M under
2 s cold, any page of the 10k shop under 300 ms, the report at 1M under
10 s).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import peers

PAGES = ["overview", "sales", "funnel", "retention", "customers", "wom", "reviews", "recs"]
# The overview draws its sales cards first, then the growth cards.
COLUMNS = ["overview sales cards"] + PAGES


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--pages", nargs="+", default=PAGES, choices=PAGES, help="only these pages")
    ap.add_argument("--report-runs", type=int, help="runs of koubei report (default: --runs)")
    ap.add_argument("--workspace", help="measure this demo workspace (made with the one --customers given) instead of making one")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--koubei", help="path to a built koubei binary (default: a release build)")
    a = ap.parse_args()
    peers.module("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    koubei = peers.koubei(a.koubei, release=True)
    options = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    rows = []
    try:
        for n in a.customers:
            with tempfile.TemporaryDirectory() as tmp:
                ws = a.workspace or os.path.join(tmp, "ws")
                if not a.workspace:
                    started = time.perf_counter()
                    subprocess.run([koubei, "-w", ws, "demo", "--customers", str(n)], check=True, capture_output=True)
                    print(f"{n} customers: demo made in {time.perf_counter() - started:.1f} s", file=sys.stderr)
                times = {p: [] for p in COLUMNS}
                for run in range(a.runs):
                    server = subprocess.Popen([koubei, "-w", ws, "serve", "--addr", "127.0.0.1:0"],
                                              stderr=subprocess.PIPE, text=True)
                    try:
                        addr = server.stderr.readline().split("http://")[1].split("/")[0]
                        for p in a.pages:
                            driver.get("about:blank")
                            driver.get(f"http://{addr}/#{p}")
                            WebDriverWait(driver, 120, poll_frequency=0.02).until(
                                lambda d: d.find_element(By.ID, "page").get_attribute("data-state") in ("ready", "error"))
                            if driver.find_element(By.ID, "page").get_attribute("data-state") == "error":
                                print(f"  {p}: error: {driver.find_element(By.ID, 'page').text[:300]}", file=sys.stderr)
                            # The page's own clock: navigation start to data drawn.
                            ms = driver.find_element(By.ID, "page").get_attribute("data-ms")
                            times[p].append(float(ms) / 1e3 if ms else float("nan"))
                            if p == "overview":
                                first = driver.find_element(By.ID, "page").get_attribute("data-first-ms")
                                times[COLUMNS[0]].append(float(first) / 1e3 if first else float("nan"))
                    finally:
                        server.terminate()
                        server.wait(timeout=60)
                    print(f"  run {run + 1}: " + ", ".join(f"{p} {times[p][-1] * 1e3:.0f} ms" for p in COLUMNS if times[p]), file=sys.stderr)
                report = []
                for _ in range(a.runs if a.report_runs is None else a.report_runs):
                    t = time.perf_counter()
                    subprocess.run([koubei, "-w", ws, "report", "--out", os.path.join(tmp, "r.html")], check=True, capture_output=True)
                    report.append(time.perf_counter() - t)
                rows.append((n, {p: statistics.median(v) if v else float("nan") for p, v in times.items()},
                             statistics.median(report) if report else float("nan")))
    finally:
        driver.quit()
    print("| customers | " + " | ".join(COLUMNS) + " | `koubei report` |")
    print("|---:|" + "---:|" * (len(COLUMNS) + 1))
    for n, t, r in rows:
        print(f"| {n:,} | " + " | ".join(f"{t[p] * 1e3:,.0f} ms" for p in COLUMNS) + f" | {r:.2f} s |")


if __name__ == "__main__":
    main()
