"""Each setting is declared once (otpq_core/settings.py) and everything else follows
from it: every `OTPQ_*` variable the code names is declared, docs/settings.md is the
table the declarations generate, the docs name no undeclared variable, and every
parser's refusal names its variable."""

from __future__ import annotations

import re

import pytest

from otpq_core import settings as config
from otpq_core.settings import ConfigError, Settings
from tests.helpers import ROOT

CODE = ("otpq_core", "producer", "worker", "otpq_local", "sandbox")
QUOTED = re.compile(r"""["'](OTPQ_[A-Z0-9_]+)["']""")
NAMED = re.compile(r"\bOTPQ_[A-Z0-9_]*[A-Z0-9]\b")
#: Named in the docs but read by no otpq code: docker compose's own interpolation
#: (docs/deploy.md, compose.yaml) and the crash tests' knob (tests/system/).
NOT_SETTINGS = {
    "OTPQ_BASE_IMAGE",
    "OTPQ_FLOWER_PORT",
    "OTPQ_IMAGE_TAG",
    "OTPQ_REDIS_PORT",
    "OTPQ_SANDBOX_PORT",
    "OTPQ_TEST_BASE_CACHE",
    "OTPQ_CRASH_VISIBILITY_TIMEOUT",
}


def test_every_otpq_variable_the_code_reads_is_declared() -> None:
    read = {
        (path.relative_to(ROOT).as_posix(), name)
        for package in CODE
        for path in (ROOT / package).rglob("*.py")
        for name in QUOTED.findall(path.read_text())
    }
    assert len(read) > 30  # the scan sees the code
    assert sorted((p, n) for p, n in read if n not in config.variables()) == []


def test_docs_settings_page_is_the_generated_table() -> None:
    page = (ROOT / "docs" / "settings.md").read_text()
    assert config.table() in page, "regenerate: python -m otpq_core.settings"
    for name in config.variables():
        assert f"`{name}`" in page


def test_the_docs_name_no_undeclared_otpq_variable() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    stale = {
        (page.name, name)
        for page in pages
        for name in NAMED.findall(page.read_text())
        if name not in config.variables() | NOT_SETTINGS
    }
    assert sorted(stale) == []


def test_each_attribute_is_declared_once_with_its_default() -> None:
    declared = config.declared()
    names = [n for s in declared.values() for n in s.env]
    assert len(names) == len(set(names))  # no variable feeds two settings
    defaults = Settings.from_env({})
    for attr, setting in declared.items():
        assert getattr(defaults, attr) == setting.default, attr
        assert setting.doc and setting.group


@pytest.mark.parametrize(
    "attr", [a for a, s in config.declared().items() if s.parse is not config._text]
)
def test_a_bad_value_is_refused_naming_its_variable(attr: str) -> None:
    setting = config.declared()[attr]
    with pytest.raises(ConfigError) as info:
        Settings.from_env({setting.env[-1]: "bad"})
    assert setting.env[-1] in str(info.value)
