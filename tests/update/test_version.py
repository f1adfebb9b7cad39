"""Versions order as systemd-boot orders entries."""

from __future__ import annotations

import itertools

import pytest

from llmos.update import version

# The ladder from the comment on systemd's strverscmp_improved, oldest first.
LADDER = ["122.1", "123~rc1-1", "123", "123-a", "123-a.1", "123-1", "123-1.1", "123^post1", "123.a-1",
          "123.1-1", "123a-1", "124-1"]


@pytest.mark.parametrize("older,newer", list(itertools.pairwise(LADDER)))
def test_systemd_ladder(older: str, newer: str) -> None:
    assert version.compare(older, newer) == -1
    assert version.compare(newer, older) == 1


@pytest.mark.parametrize("older,newer", [("2", "10"), ("1.9", "1.10"), ("1", "1.0"),
                                         ("2026.1.9", "2026.01.10"), ("1.0~rc1", "1.0"), ("007", "8")])
def test_numbers_compare_as_numbers(older: str, newer: str) -> None:
    assert version.newer(newer, older)
    assert not version.newer(older, newer)


def test_equal() -> None:
    assert version.compare("1.2", "1.2") == 0
    assert version.compare("01.2", "1.2") == 0
    assert not version.newer("2", "2")


@pytest.mark.parametrize("text,ok", [("2", True), ("1.4.0-rc1", True), ("2+3", False), ("a b", False),
                                     ("", False), ("-1", False), ("x" * 65, False), ("../etc", False)])
def test_valid(text: str, ok: bool) -> None:
    assert version.valid(text) is ok
