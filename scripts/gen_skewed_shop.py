#!/usr/bin/env python3
"""A shop of another shape than the demo's, for checking speed claims.

    python3 scripts/gen_skewed_shop.py OUT_DIR [--customers 300000] [--events 2000000] [--seed 5]

Writes OUT_DIR/orders.csv and OUT_DIR/events.csv: integer customer ids,
orders per customer drawn from a Pareto distribution (a few customers with
thousands of orders), 1 to 3 lines per order over 2024 and 2025, 3% of
orders refunded; events skewed towards the same customers, 30% of them
anonymous. Import both with `koubei import orders|events FILE`.
"""

import argparse
import datetime
import os
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--customers", type=int, default=300_000)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    start = datetime.datetime(2024, 1, 1)
    stamp = lambda days: (start + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    countries = ["CN", "US", "JP", "DE", "FR"]
    orders = lines = 0
    with open(os.path.join(a.out, "orders.csv"), "w") as f:
        f.write("order_id,customer_id,ts,amount,quantity,country,status\n")
        for c in range(a.customers):
            first = rng.random() * 700
            for _ in range(min(int(rng.paretovariate(1.1)), 5000)):
                ts = stamp(first + rng.random() * (730 - first))
                orders += 1
                status = "paid" if rng.random() < 0.97 else "refunded"
                for _ in range(rng.choice((1, 1, 2, 3))):
                    f.write(f"{orders},{c},{ts},{rng.randint(100, 99999) / 100},{rng.randint(1, 4)},"
                            f"{rng.choice(countries)},{status}\n")
                    lines += 1
    with open(os.path.join(a.out, "events.csv"), "w") as f:
        f.write("ts,customer_id,anonymous_id,event\n")
        for _ in range(a.events):
            c = int(rng.paretovariate(1.2)) % a.customers
            ts = stamp(rng.random() * 730)
            if rng.random() < 0.3:
                f.write(f"{ts},,a{rng.randint(0, 500_000)},view\n")
            else:
                f.write(f"{ts},{c},,view\n")
    print(f"{orders} orders, {lines} order lines, {a.events} events in {a.out}")


if __name__ == "__main__":
    main()
