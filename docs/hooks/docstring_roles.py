"""MkDocs hook: the docstrings' reStructuredText markup, rendered for the site.

The docstrings are written for ``help()`` and IDEs as well as for the site, in Google
style with two pieces of reST: cross-reference roles (``:class:`~bayesal.x.Name```,
``:func:``, ``:meth:``, ``:mod:``, ``:attr:``, ``:data:``, ``:exc:``, ``:obj:``) and the
literal-block marker (a paragraph ending in ``::`` before an indented example).
mkdocstrings renders docstrings as Markdown, where both would show as they are
(``:class:<code>~bayesal.x.Name</code>``, "stop::"). This hook rewrites the API pages'
HTML after mkdocstrings has rendered them and before autorefs resolves references:

- a role becomes an optional cross-reference: ``<code>Name</code>`` linked to the
  object's entry on the site when it has one (tried as written, then inside the page's
  module), plain code otherwise; ``~`` keeps the last component as the title, as in
  Sphinx, and a leading ``.`` is dropped;
- a paragraph ending in ``::`` ends in ``:`` (`` ::`` and a lone ``::`` disappear), as
  reST prints it.

``tests/test_docs_site.py`` builds the site and fails if a role or a ``::`` is left.
"""

from __future__ import annotations

import html
import re

ROLE = re.compile(
    r":(?:py:)?(?:mod|meth|class|func|attr|data|exc|obj|const|type):"
    r"<code>(?P<target>[^<]*)</code>"
)
PAGE_MODULE = re.compile(r"^:::\s+(?P<module>[\w.]+)", re.M)
LITERAL_MARKER = re.compile(r"(?P<before>[^\s>])?(?P<space>\s*)::</p>")


def _role(match: re.Match[str], module: str | None) -> str:
    target = html.unescape(match["target"]).strip()
    short = target.startswith("~")
    target = target.lstrip("~").lstrip(".")
    if target.endswith("()"):
        target = target[:-2]
    title = target.rsplit(".", 1)[-1] if short else target
    if match["target"].endswith("()"):
        title += "()"
    slug = f' slug="{html.escape(f"{module}.{target}")}"' if module else ""
    return (
        f'<autoref identifier="{html.escape(target)}"{slug} optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def _literal_marker(match: re.Match[str]) -> str:
    if match["before"] is None:  # a paragraph that is only "::"
        return "</p>"
    return match["before"] + ("</p>" if match["space"] else ":</p>")


def rewrite(page_html: str, module: str | None = None) -> str:
    """``page_html`` with reST roles as optional cross-references and ``::`` markers
    printed as reST prints them."""
    page_html = ROLE.sub(lambda m: _role(m, module), page_html)
    page_html = LITERAL_MARKER.sub(_literal_marker, page_html)
    return page_html.replace("<p></p>", "")


def on_page_content(html_text: str, page, config, files) -> str:  # noqa: ANN001, ARG001
    if not page.file.src_uri.startswith("api/"):
        return html_text
    found = PAGE_MODULE.search(page.markdown or "")
    return rewrite(html_text, found["module"] if found else None)
