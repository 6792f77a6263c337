"""The committed ICO project list."""

from __future__ import annotations

import re

import pytest

from generator.vocab import COUNTRIES
from ico_core.errors import ConfigError
from ico_core.projects import load_projects


def test_twenty_plausible_projects() -> None:
    projects = load_projects()
    assert [p.id for p in projects] == list(range(1, 21))
    assert len({p.name for p in projects}) == 20
    assert len({p.token_symbol for p in projects}) == 20
    assert len({p.domain for p in projects}) == 20
    assert len({p.category for p in projects}) >= 10
    for p in projects:
        assert 15_000_000 <= p.target_raise_usd <= 120_000_000
        assert 0.01 <= p.token_price_usd <= 2.50
        assert re.fullmatch(r"[a-z0-9-]+\.[a-z]+", p.domain)
        assert re.fullmatch(r"[A-Z]{3,5}", p.token_symbol)
        assert re.fullmatch(r"[A-Z]{2}", p.country)
    assert {"DeFi", "Gaming", "AI", "Healthcare", "Real Estate"} <= {p.category for p in projects}
    assert all(re.fullmatch("[A-Z]{2}", c) for c in COUNTRIES)


def test_count_selects_the_first_projects() -> None:
    assert [p.id for p in load_projects(5)] == [1, 2, 3, 4, 5]
    with pytest.raises(ConfigError):
        load_projects(0)
    with pytest.raises(ConfigError):
        load_projects(21)
