"""PII found by its value: e-mail, phone, payment card, US SSN, IBAN, IP, JWT, secrets.

Each detector is a candidate regular expression plus, where one exists, a
checksum or a well-kept validator, the way Presidio's recognizers work:
payment cards pass Luhn (``stdnum.luhn``) and carry a card network's prefix;
IBANs pass ``stdnum.iban`` (country format and mod 97); phone numbers pass
``phonenumbers.is_valid_number`` (international ``+…`` form, NANP with
separators, or a national form starting with the trunk ``0``); IPv6 addresses
pass :mod:`ipaddress`. Secrets are recognised by provider prefix (AWS, GitHub,
Slack, Stripe, OpenAI, Google, PEM private keys) or as long tokens mixing
upper case, lower case and digits with high entropy; hexadecimal strings and
UUIDs (digests, ids) are not secrets.

Bare digit runs are not phone numbers (order ids, timestamps), a 9-digit run
without separators is not an SSN: both would flag too much. The labelled set in
``bench/pii_recall.py`` measures what this costs.

:func:`find` returns non-overlapping spans, earlier detectors first.
:class:`Redactor` applies an action per type: ``mask`` replaces the match by
``[TYPE]``, ``hash`` by ``<type:HMAC>`` (keyed, so equal values stay
joinable), ``drop`` asks the caller to drop the whole field, ``keep`` leaves it.
Neither replacement is detected again, so redacting is idempotent.

>>> r = Redactor({}, hmac_key=None)
>>> r.redact("mail bob@example.com or +44 20 7946 0958")
'mail [EMAIL] or [PHONE]'
>>> r.redact("card 4111 1111 1111 1111, order 4111111111111112")
'card [CARD], order 4111111111111112'
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn

__all__ = [
    "DROP",
    "PII_TYPES",
    "Redactor",
    "ValueAction",
    "find",
    "is_placeholder",
    "surely_clean",
]

ValueAction = Literal["drop", "mask", "hash", "keep"]
PII_TYPES = ("jwt", "secret", "email", "iban", "card", "ssn", "ipv6", "ipv4", "phone")
DROP = object()
"""Returned by :meth:`Redactor.redact` when a ``drop`` type was found."""

_CACHE_LIMIT = 65_536
_PHONE_REGIONS = ("GB", "DE", "FR", "NL", "IT", "ES", "AU", "IN", "US")


def _is_card(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits):
        return False
    return _luhn.is_valid(digits)


_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|2)|35")


def _is_iban(text: str) -> bool:
    return bool(_iban.is_valid(text))


def _is_ssn(text: str) -> bool:
    area, group, serial = text[:3], text[4:6], text[7:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15:
        return False
    regions: tuple[str | None, ...] = (
        (None,) if text.startswith("+") else ("US",) if text[0] != "0" else _PHONE_REGIONS
    )
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _is_provider_secret(text: str) -> bool:
    return _PROVIDER.match(text) is not None


def _is_secret(text: str) -> bool:
    if _PROVIDER.match(text):
        return True
    if not (_UPPER.search(text) and _LOWER.search(text) and _DIGIT.search(text)):
        return False
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    n = len(text)
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
    return entropy >= 4.0


_UPPER, _LOWER, _DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")
_PROVIDER = re.compile(
    r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,}|xox[abposr]-[\w-]{10,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|sk-[\w-]{20,}|AIza[\w-]{35}"
)

#: (type, candidate pattern, validator or None), in order of precedence.
_DETECTORS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    ("jwt", re.compile(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*"), None),
    (
        "secret",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
        ),
        None,
    ),
    ("secret", re.compile(r"(?<![\w+/=-])[A-Za-z0-9][\w+/=-]{19,}(?![\w+/=-])"), _is_secret),
    (
        "email",
        re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        None,
    ),
    (
        "iban",
        re.compile(r"(?<![\w:])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?"),
        _is_iban,
    ),
    ("card", re.compile(r"(?<![\w:.+-])\d(?:[ -]?\d){12,}(?!\w|\.\d)"), _is_card),
    ("ssn", re.compile(r"(?<![\w:.-])\d{3}([- ])\d{2}\1\d{4}(?![\w-]|\.\d)"), _is_ssn),
    (
        "ipv6",
        re.compile(
            r"(?<![\w:.])(?:(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|[\d.]{7,15})"
            r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:)(?!\w|:[\w:])"
        ),
        _is_ipv6,
    ),
    (
        "ipv4",
        re.compile(
            r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"
        ),
        None,
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w+:.\-/])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{4,16}\d"
            r"|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[ .-]\d{3}[ .-]\d{4}"
            r"|0\d{1,4}(?:[ /-]\d{2,8}){1,4}|0\d(?:\.\d\d){4}|\(0\d{1,4}\) ?\d[\d -]{4,10}\d)"
            r"(?![\w\-/]|[.:]\d)"
        ),
        _is_phone,
    ),
)
_DIGIT = re.compile(r"\d")
_LONG_TOKEN = re.compile(r"[\w+/=-]{20}")
_IBAN_START = re.compile(r"[A-Z]{2}\d\d")
#: Cheap necessary conditions, one per detector: most text skips most regexes.
_GUARDS: tuple[Callable[[str, bool], bool], ...] = (
    lambda t, d: "eyJ" in t,
    lambda t, d: "-----BEGIN" in t,
    lambda t, d: _LONG_TOKEN.search(t) is not None,
    lambda t, d: "@" in t,
    lambda t, d: d and _IBAN_START.search(t) is not None,
    lambda t, d: d,  # card
    lambda t, d: d,  # ssn
    lambda t, d: t.count(":") >= 2,
    lambda t, d: t.count(".") >= 3,
    lambda t, d: d,  # phone
)
# A string that holds none of these characters cannot hold PII: it skips the detectors.
_MAYBE = re.compile(r"[0-9@:]|-----BEGIN|[A-Za-z0-9_+/=-]{20}")


# An RFC 3339 timestamp in the form events carry it (ASCII digits, ``T``, optional
# fraction, ``Z`` or a numeric offset). No detector finds anything in one, whatever its
# digits: no ``@``, no two adjacent capitals, no run of 20 token characters, at most 8
# digits joined by ``-`` and one ``.``; the card, SSN and phone patterns cannot start
# after a digit, ``T``, ``:``, ``.`` or ``-``, the one place left (the start) is followed
# by ``T``; and ``:``-groups of hex are at most 2 long (the offset) or start after a
# word character. tests/collector/test_pii.py holds it to :func:`find`.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)

_PLACEHOLDER = re.compile(r"\[[A-Z0-9]+\]|<[a-z0-9]+:[0-9a-f]{20}>")


def is_placeholder(text: str) -> bool:
    """True for what :class:`Redactor` writes in place of PII (``[SECRET]``, ``<email:…>``).

    >>> is_placeholder("[SECRET]"), is_placeholder("secret")
    (True, False)
    """
    return _PLACEHOLDER.fullmatch(text) is not None


_TRIMMABLE = frozenset({"phone", "card", "iban"})
_SEPARATORS = re.compile(r"[ .\-/]+")


def _trimmed(candidate: str, valid: Callable[[str], bool]) -> tuple[int, int] | None:
    """The first valid run of whole groups in ``candidate``, as ``(start, end)``.

    A number beside another (``+44 20 7946 0958 1``, ``0 4111 1111 1111 1111``)
    is one greedy candidate; dropping leading and trailing groups finds it.
    """
    cuts = [m.span() for m in _SEPARATORS.finditer(candidate)]
    starts = [0, *(e for _, e in cuts)]
    ends = [*(s for s, _ in cuts), len(candidate)]
    for start in starts:
        for end in reversed(ends):
            if end - start < 7 or (start, end) == (0, len(candidate)):
                continue
            if valid(candidate[start:end]):
                return start, end
    return None


def find(text: str, *, ids: bool = False) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, type)`` spans of PII in ``text``, by position.

    ``ids`` marks an identifier (``event_id``, ``request_id``): random tokens are
    what ids look like, so the entropy test for secrets is skipped there.

    >>> find("ip 10.0.0.1")
    [(3, 11, 'ipv4')]
    >>> find("V1StGXR8Z5jdHi6BmyTaQ3"), find("V1StGXR8Z5jdHi6BmyTaQ3", ids=True)
    ([(0, 22, 'secret')], [])
    """
    if len(text) < 6 or not _MAYBE.search(text):
        return []
    seven_digits = len(_DIGIT.findall(text)) >= 7
    spans: list[tuple[int, int, str]] = []
    for (kind, pattern, check), guard in zip(_DETECTORS, _GUARDS, strict=True):
        if not guard(text, seven_digits):
            continue
        valid = _is_provider_secret if ids and check is _is_secret else check
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(s < end and start < e for s, e, _ in spans):
                continue
            if valid is not None and not valid(match.group()):
                if kind not in _TRIMMABLE:
                    continue
                inner = _trimmed(match.group(), valid)
                if inner is None or any(
                    s < start + inner[1] and start + inner[0] < e for s, e, _ in spans
                ):
                    continue
                start, end = start + inner[0], start + inner[1]
            spans.append((start, end, kind))
    spans.sort()
    return spans


# Two shapes of short identifier that no detector can match, whatever ``ids`` is (so
# :func:`surely_clean` can vouch for a whole column with two regex scans). Both are at
# most 19 characters of lower case, digits, ``_`` (and ``-``), one per line:
#
# * no ``-``: no separator any SSN, phone or split card pattern needs, and every
#   character is a word character, so a card candidate can only be a whole line of
#   13+ digits: such lines starting with a card network's first digit (2-6) are
#   excluded (hex ids, counters, zero-padded numbers pass);
# * with ``-``: at most 6 digits, below the 7 every card/SSN/IBAN/phone guard asks for
#   (``r-123``, ``user_42``).
#
# Neither shape holds ``@``, ``:``, ``.``, upper case (``eyJ``, ``BEGIN``, IBAN country
# codes) or 20 token characters (secrets): every other guard in :func:`find` is false.
# A change to the detectors must keep this true (tests/collector/test_pii.py checks it).
_PLAIN_LINES = re.compile(r"(?:[a-z0-9_]{0,19}\n)*[a-z0-9_]{0,19}")
_DASHED_LINES = re.compile(r"(?:[a-z0-9_-]{0,19}\n)*[a-z0-9_-]{0,19}")
_CARD_LIKE_LINE = re.compile(r"^[2-6]\d{12,}$", re.MULTILINE)
# A line with seven digits: searched for as seven consecutive digits once everything but
# digits and newlines is deleted (bytes.translate; ~6x faster than a regex over the text).
_SEVEN_DIGITS = re.compile(rb"\d{7}")
_NOT_DIGIT_OR_NEWLINE = bytes(b for b in range(256) if not (48 <= b <= 57 or b == 10))


def surely_clean(values: Sequence[str]) -> bool:
    """True only if :func:`find` finds nothing in any of ``values`` (with or without ``ids``).

    A conservative test for a whole column at once: False means "look at each". True
    also means every value is ASCII.

    >>> surely_clean(["0000000000002710", "1f2e3d4c", "web"]), surely_clean(["r-17", "user_42"])
    (True, True)
    >>> surely_clean(["4111111111111111"]), surely_clean(["415-555-2671"]), surely_clean(["a@b.co"])
    (False, False, False)
    """
    text = "\n".join(values)
    if text.count("\n") != len(values) - 1:  # a value holds a newline itself
        return False
    if _PLAIN_LINES.fullmatch(text) is not None:
        return _CARD_LIKE_LINE.search(text) is None
    if _DASHED_LINES.fullmatch(text) is None:
        return False
    digits = text.encode("ascii").translate(None, _NOT_DIGIT_OR_NEWLINE)  # ASCII: just matched
    return _SEVEN_DIGITS.search(digits) is None


class Redactor:
    """Applies an action per PII type to strings; clean strings are remembered."""

    def __init__(
        self, actions: Mapping[str, ValueAction], *, hmac_key: bytes | None = None
    ) -> None:
        for kind, action in actions.items():
            if kind not in PII_TYPES:
                raise ValueError(f"values[{kind!r}]: unknown type; use one of {PII_TYPES}")
            if action not in ("drop", "mask", "hash", "keep"):
                raise ValueError(f"values[{kind!r}] must be drop, mask, hash or keep")
        self.actions: dict[str, str] = {kind: actions.get(kind, "mask") for kind in PII_TYPES}
        if "hash" in self.actions.values() and not hmac_key:
            raise ValueError("hmac_key is required when a PII type is hashed")
        self.hmac_key = hmac_key
        self.enabled = any(a != "keep" for a in self.actions.values())
        self._clean: set[str] = set()

    def remembers(self, text: str) -> bool:
        """Whether ``text`` was redacted before and found clean (no new look)."""
        return text in self._clean

    def redact(self, text: str, *, ids: bool = False) -> str | object:
        """``text`` with its PII replaced, the same object when clean, or :data:`DROP`."""
        if text in self._clean or not self.enabled:
            return text
        if _TIMESTAMP.fullmatch(text) is not None:  # clean; not remembered (each one is new)
            return text
        # surely_clean: a regex or two where find runs every guard (ids, never remembered,
        # are mostly plain tokens it vouches for)
        spans = (
            []
            if surely_clean((text,))
            else [s for s in find(text, ids=ids) if self.actions[s[2]] != "keep"]
        )
        if not spans:
            if len(self._clean) >= _CACHE_LIMIT:
                self._clean.clear()
            if not ids:
                self._clean.add(text)  # only clean strings are remembered, never PII
            return text
        parts: list[str] = []
        last = 0
        for start, end, kind in spans:
            action = self.actions[kind]
            if action == "drop":
                return DROP
            parts.append(text[last:start])
            parts.append(self._replacement(kind, text[start:end], action))
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def _replacement(self, kind: str, value: str, action: str) -> str:
        if action == "mask":
            return f"[{kind.upper()}]"
        assert self.hmac_key is not None  # checked in __init__
        digest = hmac.new(self.hmac_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"<{kind}:{digest[:20]}>"
