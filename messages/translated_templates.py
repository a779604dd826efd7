"""Templates compiled for one language, with every fixed sentence already translated.

Jinja2's i18n extension looks each `{{ _("...") }}` up in the catalogue while rendering: two calls
through the template context, a catalogue lookup, a Markup and a `%` per sentence. A /stats answer
says about two hundred of them, and that was a third of its rendering time (profiled with
`benchmarks/stats_lookup.py`). The catalogue cannot change while the bot runs, so each language
gets its own Environment whose templates are compiled with the translation in place: `_("Referrals")`
becomes the constant "রেফারেল" in the Bengali templates. What the i18n extension does at render
time is kept exactly: the translation is Markup in an autoescaped template (its own HTML stands, the
values put into it are escaped) and is always a `%` format, so `%%` is a per cent sign and
`_("... %(n)s", n=x)` fills `n`. Only a call with one literal string and keywords is compiled this
way; anything else (`ngettext`, a computed message) is left to the extension's callables, which
this Environment binds to its own language.
"""

from __future__ import annotations

from typing import Any

from babel.support import NullTranslations
from jinja2 import Environment, nodes
from jinja2.visitor import NodeTransformer

GETTEXT_NAMES = frozenset({"_", "gettext"})


class TranslatedEnvironment(Environment):
    """An Environment for one language's catalogue (see the module's docstring)."""

    def __init__(self, translations: NullTranslations, **options: Any) -> None:
        super().__init__(**options)
        self.translations = translations
        self.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=translations.gettext, ngettext=translations.ngettext, newstyle=True)

    # Environment.compile parses through this method; overriding it is the one place where a
    # template's syntax tree can be changed before it is compiled (jinja2 3.x).
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return _ConstantSentences(self.translations).visit(tree)


class _ConstantSentences(NodeTransformer):
    def __init__(self, translations: NullTranslations) -> None:
        self.translations = translations

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        node = self.generic_visit(node)  # keyword values may hold calls of their own
        if not (isinstance(node.node, nodes.Name) and node.node.name in GETTEXT_NAMES
                and len(node.args) == 1 and isinstance(node.args[0], nodes.Const)
                and isinstance(node.args[0].value, str) and node.dyn_args is None and node.dyn_kwargs is None):
            return node
        text = self.translations.gettext(node.args[0].value)
        if not node.kwargs:
            try:
                text = text % {}
            except (KeyError, ValueError, TypeError):
                return node  # a malformed format: let rendering raise as it always did
            return nodes.MarkSafeIfAutoescape(nodes.Const(text, lineno=node.lineno), lineno=node.lineno)
        values = nodes.Dict([nodes.Pair(nodes.Const(k.key), k.value, lineno=node.lineno) for k in node.kwargs],
                            lineno=node.lineno)
        return nodes.Mod(nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno), values,
                         lineno=node.lineno)
