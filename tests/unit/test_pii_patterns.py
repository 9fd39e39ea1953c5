"""The built-in PII patterns: what each must catch, and the look-alikes it must leave alone.

The collector runs them with Go's RE2; these use Python's `re`, which agrees with RE2 on the
constructs the spec allows (lookarounds and back-references are refused at load time).
"""

from __future__ import annotations

import re

import pytest

from observatory.spec import defaults as d
from observatory.spec.model import BuiltinPattern, regex_problem

CASES = {
    "email": (["jane.doe@example.com", "a+tag@mail.co.uk"], ["user@localhost", "gpt-4o@2024"]),
    "iban": (
        [
            "GB82WEST12345698765432",
            "GB82 WEST 1234 5698 7654 32",
            "DE89 3704 0044 0532 0130 00",
            "FR1420041010050500013M02606",
            "NO9386011117947",  # the shortest, 15 characters
            "LC55HEMM000100010012001200023015",  # the longest, 32
        ],
        [
            "gpt-4o-2024-08-06",
            "claude-3-5-haiku-20241022",
            "4bf92f3577b34da6a3ce929d0e0e4736",  # a trace id
            "de12a3f4b5c6d7e8f9a0b1c2d3e4f5a6",  # a trace id that starts like a German IBAN
            "AKIAIOSFODNN7EXAMPLE",
            "AB12CDEFGHIJKLMNOP",  # no country AB
            "ISO8601 timestamps",
            "2026-11-27T04:08:29Z",
            "DE89 3704",  # too short
        ],
    ),
    "ssn": (
        ["123-45-6789", "078-05-1120", "665-12-3456", "899-99-9999"],
        [
            "000-12-3456",  # area 000 is never issued
            "666-12-3456",
            "900-12-3456",  # 900-999: never
            "123-00-4567",  # group 00
            "123-45-0000",  # serial 0000
            "123456789",
            "2024-08-06",
            "415-555-0134",
            "1234-56-7890",
        ],
    ),
    "jwt": (
        ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"],
        ["eyJhbGciOiJIUzI1NiJ9", "eye.eyJ.x", "eyJhbGciOiJIUzI1NiJ9.payload.sig"],
    ),
    "phone": (
        ["+44 20 7946 0958", "+1 (415) 555-0134", "(415) 555-0134", "415-555-0134"],
        ["2024-08-06", "gpt-4o-2024-08-06", "1.2.3", "10.0.0.1", "2026-11-27T04:08:29Z", "12345678"],
    ),
    "card_number": (
        ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117"],
        ["1732680000123456789", "2024-08-06", "0123456789012"],
    ),
    "api_key": (
        [
            "sk-proj-AbCdEfGhIjKlMnOpQrStUv012345",
            "sk-ant-api03-abcdefghijklmnopqrstu",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_" + "a" * 36,
        ],
        ["sk-short", "risk-assessment-report"],
    ),
    "bearer_token": (
        ["Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "authorization: bearer abcdefgh12345"],
        ["bearer of news", "Bearer x"],
    ),
}


@pytest.mark.parametrize("name", sorted(d.PII_BUILTIN_PATTERNS))
def test_a_builtin_pattern_catches_its_kind_and_leaves_look_alikes(name: str) -> None:
    regex, _replacement = d.PII_BUILTIN_PATTERNS[name]
    assert regex_problem(regex) is None
    positives, negatives = CASES[name]
    for text in positives:
        assert re.search(regex, f"see {text} here"), f"{name} misses {text!r}"
    for text in negatives:
        assert not re.search(regex, text), f"{name} wrongly matches {text!r}"


def test_every_builtin_pattern_has_cases() -> None:
    assert set(CASES) == set(d.PII_BUILTIN_PATTERNS)


def test_every_builtin_pattern_can_be_disabled_by_name_in_the_spec() -> None:
    assert set(BuiltinPattern.__args__) == set(d.PII_BUILTIN_PATTERNS)  # type: ignore[attr-defined]
