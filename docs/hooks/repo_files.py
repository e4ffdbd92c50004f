"""MkDocs hook: links from the docs to files elsewhere in the repository.

The guides under ``docs/`` link to committed results and configs with paths relative to
the file (``../benchmarks/results/mnist_gal2017/README.md``), so that they read well on
their own. MkDocs publishes ``docs/`` only, and ``--strict`` fails on such links. This
hook follows them (and the links of the markdown files they reach, transitively), adds
the files they reach to the site under ``repo/`` (markdown as pages outside the nav,
anything else copied as it is) and points the links there. A link whose target does not
exist is left alone, so ``--strict`` still fails on it; a link to a folder becomes its
text followed by the folder's path in code.
"""

from __future__ import annotations

import os
import re
from collections import deque
from pathlib import Path
from urllib.parse import unquote

from mkdocs.structure.files import File, Files, InclusionLevel

PREFIX = "repo"
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)

_published: dict[Path, str] = {}  # repository file -> its src_uri in the site


def _roots(config) -> tuple[Path, Path]:
    docs = Path(config["docs_dir"]).resolve()
    return docs, Path(config.config_file_path).resolve().parent


def _prose(markdown: str) -> list[tuple[bool, str]]:
    """The markdown cut into (is_prose, text) pieces; fenced code is not prose."""
    pieces, start = [], 0
    for fence in FENCE.finditer(markdown):
        pieces += [(True, markdown[start : fence.start()]), (False, fence.group(0))]
        start = fence.end()
    return [*pieces, (True, markdown[start:])]


def _resolve(source: Path, target: str) -> tuple[Path, str] | None:
    """The file a relative link points to, and its ``#fragment``; None for URLs."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return None
    path, _, fragment = target.partition("#")
    if not path:
        return None
    return (source.parent / unquote(path)).resolve(), fragment


def _outside(path: Path, docs: Path, repo: Path) -> bool:
    return path.is_relative_to(repo) and not path.is_relative_to(docs) and path.exists()


def on_files(files: Files, config) -> Files:
    """Add every repository file the docs reach through links, transitively."""
    docs, repo = _roots(config)
    _published.clear()
    queue = deque(Path(f.abs_src_path) for f in files.documentation_pages())
    seen = set(queue)
    while queue:
        source = queue.popleft()
        for is_prose, text in _prose(source.read_text(encoding="utf-8")):
            for link in LINK.finditer(text) if is_prose else ():
                resolved = _resolve(source, link["target"])
                if resolved is None or not _outside(resolved[0], docs, repo):
                    continue
                path = resolved[0]
                if path.is_file() and path not in _published:
                    src_uri = f"{PREFIX}/{path.relative_to(repo).as_posix()}"
                    _published[path] = src_uri
                    file = File.generated(config, src_uri, abs_src_path=str(path))
                    if file.is_documentation_page():
                        file.inclusion = InclusionLevel.NOT_IN_NAV
                    files.append(file)
                if path.suffix == ".md" and path not in seen:
                    seen.add(path)
                    queue.append(path)
    return files


def _rewrite(link: re.Match[str], source: Path, src_uri: str, docs: Path, repo: Path) -> str:
    resolved = _resolve(source, link["target"])
    if resolved is None:
        return link.group(0)
    path, fragment = resolved
    if path in _published:
        uri = _published[path]
    elif path.is_relative_to(docs) and not source.is_relative_to(docs) and path.exists():
        uri = path.relative_to(docs).as_posix()  # a published file back into docs/
    elif path.is_dir() and _outside(path, docs, repo):
        return f"{link['text']} (`{path.relative_to(repo).as_posix()}/`)"
    else:
        return link.group(0)  # inside docs/ already, or broken: MkDocs checks it
    target = os.path.relpath(uri, os.path.dirname(src_uri) or ".").replace(os.sep, "/")
    return f"{link['bang']}[{link['text']}]({target}{'#' + fragment if fragment else ''})"


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    """Point the page's links to repository files at their copies in the site."""
    docs, repo = _roots(config)
    source, src_uri = Path(page.file.abs_src_path).resolve(), page.file.src_uri
    return "".join(
        LINK.sub(lambda link: _rewrite(link, source, src_uri, docs, repo), text)
        if is_prose
        else text
        for is_prose, text in _prose(markdown)
    )
