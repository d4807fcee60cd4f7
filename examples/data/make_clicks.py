"""Writes examples/data/clicks.csv: the bundled input of the session timeout example.

Run `python3 examples/data/make_clicks.py` to re-create it byte for byte. Each line is
`user,timestamp_ms,action`, after one header line, in *arrival* order: every event arrives
up to BOUND - 1 ms after its timestamp, so the file is out of order, but never by more than
the example's out-of-orderness bound (the script checks this: each timestamp is at least
the highest timestamp before it minus BOUND).

Sessions: events of a user closer than GAP belong to one session. Ordinary users have
sessions of 2-12 events with 1-25 s between events and 40 s - 10 min between sessions.
User `grace` has planted cases: an event that arrives late (within the bound) and falls
between two sessions near enough to both, merging them into one; `heidi` has a late event
between two sessions but too far from both, making a session of its own; `ivan` has two
events exactly GAP apart (two sessions) and two GAP - 1 apart (one session). The script
prints the expected sessions of these three as the example writes them.
"""
import random

START = 1704067200000  # 2024-01-01T00:00:00Z
GAP = 30_000  # the example's default session gap, ms
BOUND = 10_000  # the example's out-of-orderness bound, ms
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "judy", "mallory", "oscar", "peggy"]
ACTIONS = ["view", "view", "view", "click", "click", "search", "add_to_cart", "checkout"]


def main():
    rng = random.Random(42)
    events = []  # (timestamp, user, action, delay)
    for user in USERS:
        ts = START + rng.randint(0, 60_000)
        for _ in range(rng.randint(3, 6)):
            for _ in range(rng.randint(2, 12)):
                events.append((ts, user, rng.choice(ACTIONS), None))
                ts += rng.randint(1_000, 25_000)
            ts += rng.randint(40_000, 600_000)
    # Planted cases: (user, offset from START, action, delay or None for a random one).
    t0 = START + 120_000
    planted = [
        # grace: a session ending at t0 + 10 s, the next one starting at t0 + 45 s (35 s of
        # silence: two sessions), and an event at t0 + 37 s that arrives 9 s late, right after
        # t0 + 45 s: 27 s after the first session, 8 s before the second: they merge.
        ("grace", 0, "view", 0),
        ("grace", 10_000, "click", 0),
        ("grace", 45_000, "view", 0),
        ("grace", 52_000, "checkout", 0),
        ("grace", 37_000, "add_to_cart", 9_000),
        # heidi: sessions ending at t0 + 200 s and starting at t0 + 300 s; an event at
        # t0 + 250 s arrives late (after walter's event at t0 + 255 s) but is 50 s from
        # both: a session of its own.
        ("heidi", 190_000, "view", 0),
        ("heidi", 200_000, "click", 0),
        ("heidi", 250_000, "search", 9_999),
        ("walter", 255_000, "view", 0),
        ("heidi", 300_000, "view", 0),
        ("heidi", 310_000, "checkout", 0),
        # ivan: GAP apart is two sessions, GAP - 1 apart is one.
        ("ivan", 400_000, "view", 0),
        ("ivan", 400_000 + GAP, "view", 0),
        ("ivan", 600_000, "view", 0),
        ("ivan", 600_000 + GAP - 1, "view", 0),
    ]
    for user, offset, action, delay in planted:
        events.append((t0 + offset, user, action, delay))

    arrivals = []
    for i, (ts, user, action, delay) in enumerate(events):
        if delay is None:
            delay = rng.randint(1, BOUND - 1) if rng.random() < 0.3 else 0
        arrivals.append((ts + delay, i, user, ts, action))
    arrivals.sort()

    highest = None
    for _, _, _, ts, _ in arrivals:
        assert highest is None or ts >= highest - BOUND
        highest = ts if highest is None else max(highest, ts)
    late = sum(1 for a, b in zip(arrivals, arrivals[1:]) if b[3] < a[3])
    assert late > 0

    with open("examples/data/clicks.csv", "w") as f:
        f.write("user,timestamp_ms,action\n")
        for _, _, user, ts, action in arrivals:
            f.write(f"{user},{ts},{action}\n")

    sessions = []
    by_user = {}
    for _, _, user, ts, _ in arrivals:
        by_user.setdefault(user, []).append(ts)
    for user, stamps in by_user.items():
        stamps.sort()
        start = last = stamps[0]
        count = 1
        for ts in stamps[1:]:
            if ts - last < GAP:
                last, count = ts, count + 1
            else:
                sessions.append((user, start, last, count))
                start = last = ts
                count = 1
        sessions.append((user, start, last, count))
    print(f"{len(arrivals)} events, {late} out of order, {len(sessions)} sessions")
    for user in ("grace", "heidi", "ivan"):
        for s in sorted(s for s in sessions if s[0] == user):
            print("{},{},{},{}".format(*s))


if __name__ == "__main__":
    main()
