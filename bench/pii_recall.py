"""Recall and false positives of driftd's PII detectors on a generated, labelled set.

For each PII type, N values generated in the forms people write them (bare and
inside a sentence); for look-alikes (order ids, timestamps, floats, digests,
UUIDs, identifiers, versions), N values that must not be flagged. Prints a
markdown table: per type, how many were found (recall) and, per look-alike
kind, how many were flagged (false positives), and the cost per string.

    .venv/bin/python bench/pii_recall.py            # 1,000 per type, seed 7
    .venv/bin/python bench/pii_recall.py --n 500 --seed 1
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import string
import time
import uuid
from collections.abc import Callable

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

from driftd.collector.pii import find

Gen = Callable[[random.Random], str]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def email(rng: random.Random) -> str:
    user = "".join(rng.choice(string.ascii_lowercase + "._") for _ in range(rng.randint(3, 12)))
    user = user.strip("._") or "x"
    domain = rng.choice(["example.com", "mail.co.uk", "uni-bonn.de", "corp.example.org"])
    return f"{user}{rng.choice(['', '+tag'])}@{domain}"


def phone(rng: random.Random) -> str:
    while True:
        region = rng.choice(["US", "GB", "DE", "FR", "NL"])
        example = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.MOBILE if rng.random() < 0.5 else None
        )
        if example is None:
            continue
        national = str(example.national_number)
        keep = len(national) - 4
        example.national_number = int(national[:keep] + _digits(rng, 4))
        if not phonenumbers.is_valid_number(example):
            continue
        fmt = rng.choice(
            [
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.NATIONAL,
            ]
        )
        return phonenumbers.format_number(example, fmt)


_CARD_PREFIXES = ["4", "51", "55", "2221", "34", "37", "6011", "65", "35"]


def card(rng: random.Random) -> str:
    prefix = rng.choice(_CARD_PREFIXES)
    length = 15 if prefix in ("34", "37") else 16
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    sep = rng.choice(["", " ", "-"])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    sep = rng.choice(["-", " "])
    return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"


_IBAN_SHAPES = {"DE": 18, "FR": 23, "NL": 14, "ES": 20, "IT": 23, "BE": 12}


def iban(rng: random.Random) -> str:
    while True:
        country = rng.choice(list(_IBAN_SHAPES))
        if country == "NL":
            bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 10)
        elif country == "IT":
            bban = rng.choice(string.ascii_uppercase) + _digits(rng, 22)
        else:
            bban = _digits(rng, _IBAN_SHAPES[country])
        check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00"), 10) % 97
        value = f"{country}{check:02d}{bban}"
        if not stdnum_iban.is_valid(value):
            continue
        if rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(0, 255)) for _ in range(4))


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        i = rng.randint(1, 6)
        return ":".join(groups[:i]) + "::" + ":".join(groups[i + 2 :])
    return ":".join(groups)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64url(f'{{"sub":"{rng.randint(1, 10**9)}","iat":{rng.randint(1, 2**31)}}}'.encode())
    return f"{header}.{body}.{_b64url(rng.randbytes(32))}"


_ALNUM = string.ascii_letters + string.digits


def secret(rng: random.Random) -> str:
    def token(n: int) -> str:
        return "".join(rng.choice(_ALNUM) for _ in range(n))

    return rng.choice(
        [
            lambda: (
                "AKIA"
                + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
            ),
            lambda: "ghp_" + token(36),
            lambda: "xoxb-" + _digits(rng, 12) + "-" + token(24),
            lambda: "sk_live_" + token(24),
            lambda: "sk-proj-" + token(40),
            lambda: "AIza" + token(35),
            lambda: token(rng.randint(32, 48)),
        ]
    )()


PII: dict[str, Gen] = {
    "email": email,
    "phone": phone,
    "card": card,
    "ssn": ssn,
    "iban": iban,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "jwt": jwt,
    "secret": secret,
}


LOOKALIKES: dict[str, Gen] = {
    "order id": lambda r: rng_choice(r, ["ORD-", "A", "", "inv_"]) + _digits(r, r.randint(6, 16)),
    "16-digit id": lambda r: _digits(r, 16),
    "timestamp": lambda r: rng_choice(
        r,
        [
            f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
            f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}Z",
            str(r.randint(1_600_000_000_000, 1_800_000_000_000)),
            f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
        ],
    ),
    "float": lambda r: repr(r.uniform(-1e6, 1e6)) if r.random() < 0.5 else repr(r.random()),
    "hex digest": lambda r: hashlib.new(
        rng_choice(r, ["md5", "sha1", "sha256"]), r.randbytes(8)
    ).hexdigest(),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "identifier": lambda r: "".join(
        rng_choice(r, ["Customer", "Account", "Segment", "Premium", "Region", "Value", "Score"])
        for _ in range(r.randint(3, 6))
    ),
    "version": lambda r: f"{r.randint(0, 30)}.{r.randint(0, 30)}.{r.randint(0, 30)}",
    "amount": lambda r: f"{r.randint(1, 99_999):,}.{r.randint(0, 99):02d} EUR",
}


def rng_choice(rng: random.Random, options: list[str]) -> str:
    return rng.choice(options)


def in_context(rng: random.Random, value: str) -> str:
    """The value bare, or inside a sentence (free text)."""
    return rng.choice(["{}", "contact: {} thanks", "note ({}), see above", "{}."]).format(value)


def measure(
    n: int, seed: int
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]], float]:
    rng = random.Random(seed)
    recall: dict[str, tuple[int, int]] = {}
    strings = 0
    began = time.perf_counter()
    for kind, gen in PII.items():
        found = 0
        for _ in range(n):
            value = gen(rng)
            text = in_context(rng, value)
            start = text.index(value)
            spans = find(text)
            strings += 1
            if any(s <= start and start + len(value) <= e and k == kind for s, e, k in spans):
                found += 1
        recall[kind] = (found, n)
    false_pos: dict[str, tuple[int, int]] = {}
    for kind, gen in LOOKALIKES.items():
        flagged = 0
        for _ in range(n):
            strings += 1
            if find(in_context(rng, gen(rng))):
                flagged += 1
        false_pos[kind] = (flagged, n)
    return recall, false_pos, (time.perf_counter() - began) / strings * 1e6


def event_costs(n: int, seed: int) -> list[tuple[str, float, float]]:
    """µs per event through :class:`Scrubber`, value detection on and off (keys only)."""
    from driftd.collector.scrub import Scrubber

    rng = random.Random(seed)
    numeric = {f"f{i}": rng.random() for i in range(20)}
    shapes = {
        "20 numeric features": lambda i: {**numeric, "f0": float(i)},
        "15 numeric + 5 repeated categories": lambda i: {
            **{f"f{j}": rng.random() for j in range(15)},
            **{f"c{j}": rng.choice(["DE", "FR", "ES", "web", "app"]) for j in range(5)},
        },
        "15 numeric + 5 unique free texts": lambda i: {
            **{f"f{j}": rng.random() for j in range(15)},
            **{f"t{j}": f"order {i}-{j} delivered to warehouse {j}" for j in range(5)},
        },
        "as above, one e-mail among the texts": lambda i: {
            **{f"f{j}": rng.random() for j in range(15)},
            **{f"t{j}": f"order {i}-{j} for user{i}@example.com" for j in range(5)},
        },
    }
    rows = []
    for name, make in shapes.items():
        events = [
            {"model": "m", "event_id": f"e{i}", "features": make(i), "prediction": 0.5}
            for i in range(n)
        ]
        costs = []
        for values in (None, dict.fromkeys(PII, "keep")):
            scrubber = Scrubber(values=values)  # type: ignore[arg-type]
            began = time.perf_counter()
            for event in events:
                scrubber.scrub(event)
            costs.append((time.perf_counter() - began) / n * 1e6)
        rows.append((name, costs[0], costs[1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="values per type (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=20_000, help="events per shape (cost)")
    args = parser.parse_args()
    recall, false_pos, us = measure(args.n, args.seed)
    print("| PII type | found | recall |\n| --- | ---: | ---: |")
    for kind, (found, n) in recall.items():
        print(f"| {kind} | {found}/{n} | {found / n:.2%} |")
    print("\n| look-alike | flagged | false-positive rate |\n| --- | ---: | ---: |")
    for kind, (flagged, n) in false_pos.items():
        print(f"| {kind} | {flagged}/{n} | {flagged / n:.2%} |")
    print(f"\nmean cost per string (detect only, cold): {us:.1f} µs")
    print("\n| event shape | µs/event, values scrubbed | µs/event, keys only |")
    print("| --- | ---: | ---: |")
    for name, on, off in event_costs(args.events, args.seed):
        print(f"| {name} | {on:.1f} | {off:.1f} |")


if __name__ == "__main__":
    main()
