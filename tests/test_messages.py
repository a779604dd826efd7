"""Templates: every text the bot sends lives in messages/, and the code and the folder agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from messages import environment, label, render, template_names

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_REFERENCE = re.compile(r"[\"']([a-z0-9_]+\.(?:html|txt))[\"']")


def referenced_templates() -> set[str]:
    names = set()
    for folder in ("bot", "storage", "messages", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            names.update(TEMPLATE_REFERENCE.findall(path.read_text(encoding="utf-8")))
    for path in (ROOT / "messages").glob("*.*"):
        names.update(re.findall(r"(?:include|import|from) \"([a-z0-9_]+\.(?:html|txt))\"", path.read_text()))
    return names


def test_every_template_the_code_names_exists():
    missing = referenced_templates() - set(template_names())
    assert not missing, f"code names templates that do not exist: {sorted(missing)}"


def test_every_template_is_used():
    unused = set(template_names()) - referenced_templates()
    assert not unused, f"templates nothing renders: {sorted(unused)}"


def test_html_templates_escape_what_they_are_given():
    text = render("joined.html", outcome="joined", mailing_list={"title": "<b>Rights</b> & wrongs", "slug": "r"})
    assert "&lt;b&gt;Rights&lt;/b&gt; &amp; wrongs" in text


def test_plain_text_templates_do_not_escape():
    assert label("join", title="Rights & wrongs") == "Join: Rights & wrongs"


def test_missing_values_are_errors_not_blanks():
    with pytest.raises(UndefinedError):
        render("joined.html", outcome="joined")


def test_templates_parse():
    env = environment()
    for name in template_names():
        env.get_template(name)
