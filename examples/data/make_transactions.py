"""Writes examples/data/transactions.csv: the bundled input of the fraud detection example.

Run `python3 examples/data/make_transactions.py` to re-create it byte for byte. Each line is
`account_id,amount,timestamp` (timestamp in ms since the epoch, growing by 1-15 s per line),
after one header line.

Ordinary traffic never has a small amount (below 1.00), so every small transaction in the
file belongs to one of the planted scenarios below, and the alerts are exactly the large
transactions (above 500.00) that come right after a small one *of the same account*. Each
scenario's transactions are consecutive for its account (other accounts' lines sit between
them) and lie within one minute of each other. The script checks the rule over the file
and prints the alerts it expects.
"""
import random

SMALL, LARGE = 1.00, 500.00
START = 1704067200000  # 2024-01-01T00:00:00Z
LINES = 320
ACCOUNTS = list(range(1, 21))

# (account, amounts, what it shows). Amounts of a scenario are consecutive for its account.
SCENARIOS = [
    (3, [0.42, 725.10], "alert: small then large"),
    (5, [0.68, 120.00, 880.00], "no alert: small then medium clears the flag"),
    (7, [0.05, 999.99], "alert: small then large"),
    (9, [910.00, 0.24], "no alert: large then small"),
    (11, [0.99, 500.01], "alert: just below 1.00, just above 500.00"),
    (12, [0.50], "no alert: small on account 12 ..."),
    (13, [750.00], "... then large on account 13"),
    (17, [1.00, 800.00], "no alert: 1.00 is not small"),
    (18, [0.80, 500.00], "no alert: 500.00 is not large"),
    (15, [0.31, 0.77, 640.00], "alert: a second small resets the flag, then large"),
    (2, [0.15, 2500.00], "alert: small then large"),
    (2, [0.60, 612.34], "alert: the same account again"),
    (20, [0.09], "no alert: small, and nothing after it on account 20"),
]
EXPECTED_ALERTS = [(3, 725.10), (7, 999.99), (11, 500.01), (15, 640.00), (2, 2500.00), (2, 612.34)]


def main():
    rng = random.Random(20240101)
    planted = {}  # line index -> (account, amount)
    reserved = {}  # line index -> accounts ordinary traffic must not use there
    first = 12
    for i, (account, amounts, _) in enumerate(SCENARIOS):
        start = first + 23 * i
        if account == 20:
            start = LINES - 4  # the last transaction of account 20
        if account == 13:
            start = planted_end + 1  # right after account 12's small one
        slot = start
        slots = []
        for amount in amounts:
            planted[slot] = (account, amount)
            slots.append(slot)
            slot += rng.randint(1, 3)
        end = LINES if account == 20 else slots[-1]
        for s in range(start, end + 1):
            reserved.setdefault(s, set()).add(account)
        if account == 12:
            # Account 12 sits out until account 13's large transaction has passed.
            for s in range(slots[-1], slots[-1] + 6):
                reserved.setdefault(s, set()).add(12)
        planted_end = slots[-1]

    last_amount = {}
    rows = []
    ts = START
    for line in range(LINES):
        ts += rng.randint(1000, 15000)
        if line in planted:
            account, amount = planted[line]
        else:
            allowed = [a for a in ACCOUNTS if a not in reserved.get(line, set())]
            account = rng.choice(allowed)
            if rng.random() < 0.04 and last_amount.get(account, 100.0) >= SMALL:
                amount = rng.randint(50100, 300000) / 100  # an ordinary large purchase
            else:
                amount = rng.randint(100, 50000) / 100
        last_amount[account] = amount
        rows.append((account, amount, ts))

    alerts = []
    flag = {}
    for account, amount, _ in rows:
        if flag.pop(account, False) and amount > LARGE:
            alerts.append((account, amount))
        if amount < SMALL:
            flag[account] = True
    assert alerts == EXPECTED_ALERTS, alerts

    with open("examples/data/transactions.csv", "w") as f:
        f.write("account_id,amount,timestamp\n")
        for account, amount, ts in rows:
            f.write(f"{account},{amount:.2f},{ts}\n")
    for account, amount in alerts:
        print(f"expected alert: account {account}, amount {amount:.2f}")


if __name__ == "__main__":
    main()
