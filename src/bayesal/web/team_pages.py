"""The team pages: the browse grid (filters, select many, label at once) and the yes/no
mode. Built like :mod:`bayesal.web.pages`: escaped Python strings, plain forms, the
shared script for keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bayesal.web.pages import _e, _fmt_num, _fmt_pct, _page, text_block

if TYPE_CHECKING:
    from starlette.requests import Request

    from bayesal.web.app import WebState
    from bayesal.web.browse import Filters

__all__ = ["browse_page", "nav", "yesno_page"]


def nav(annotator: str, fixed: bool, here: str = "") -> str:
    """The header's links and who is labelling."""
    links = [
        ("/label", "Label"),
        ("/yesno", "Yes / no"),
        ("/browse", "Browse"),
        ("/history", "History"),
        ("/review", "Review"),
    ]
    here_cls = ' class="here"'
    shown = " ".join(
        f'<a href="{href}"{here_cls if href == here else ""}>{text}</a>' for href, text in links
    )
    switch = "" if fixed else ' <a href="/start">switch</a>'
    return f'<nav class="links">{shown}</nav> &middot; <strong>{_e(annotator)}</strong>{switch}'


def _fixed(request: Request) -> bool:
    from bayesal.web.security import auth_of

    return auth_of(request.state).annotator is not None


def _flash(text: str, kind: str) -> str:
    if not text:
        return ""
    return f'<p class="flash {_e(kind)}" id="flash">{_e(text)}</p>'


def _select(name: str, options: Sequence[tuple[str, str]], chosen: str) -> str:
    opts = "".join(
        f'<option value="{_e(v)}"{" selected" if v == chosen else ""}>{_e(t)}</option>'
        for v, t in options
    )
    return f'<select name="{name}" id="f-{name}">{opts}</select>'


def _field(name: str, label: str, value: object, kind: str = "text", step: str = "") -> str:
    shown = "" if value is None else str(value)
    extra = f' step="{step}"' if step else ""
    return (
        f'<label class="f">{_e(label)}<input name="{name}" id="f-{name}" type="{kind}"'
        f'{extra} value="{_e(shown)}"></label>'
    )


#: Characters of a text item shown on its browse tile (the whole text: its tooltip, and
#: the item's page).
SNIPPET = 200


def _snippet(text: str) -> str:
    short = text if len(text) <= SNIPPET else text[:SNIPPET].rstrip() + "\u2026"
    return f'<span class="snippet" title="{_e(text)}">{_e(short)}</span>'


def browse_page(
    state: WebState,
    annotator: str,
    request: Request,
    filters: Filters | None,
    items: Sequence[Mapping[str, Any]],
    total: int,
    flash: str,
    kind: str,
) -> str:
    """The grid of items that pass ``filters``, a form of filters, and a form to label the
    selected items at once."""
    f = filters
    names = state.label_names
    tri = [("", "any"), ("true", "yes"), ("false", "no")]

    def b(value: bool | None) -> str:
        return "" if value is None else str(value).lower()

    form = (
        '<form method="get" action="/browse" class="filters card" id="filters">'
        '<label class="f">Predicted'
        + _select("predicted", [("", "any"), *[(n, n) for n in names]], (f and f.predicted) or "")
        + "</label>"
        + _field("min_prob", "Probability from", f and f.min_prob, "number", "any")
        + _field("max_prob", "to", f and f.max_prob, "number", "any")
        + _field("min_uncertainty", "Uncertainty from", f and f.min_uncertainty, "number", "any")
        + _field("max_uncertainty", "to", f and f.max_uncertainty, "number", "any")
        + '<label class="f">Labelled'
        + _select("labelled", tri, b(f.labelled) if f else "")
        + "</label>"
        + _field("annotator", "Annotator", f and f.annotator)
        + _field("q", "Text in name", f and f.q)
        + '<label class="f">Unsure'
        + _select("unsure", tri, b(f.unsure) if f else "")
        + "</label>"
        + '<label class="f">Sort'
        + _select(
            "sort",
            [("uncertainty", "uncertainty"), ("probability", "probability"), ("id", "item id")],
            f.sort if f else "uncertainty",
        )
        + "</label>"
        + '<label class="f">Order'
        + _select("order", [("desc", "high first"), ("asc", "low first")], f.order if f else "desc")
        + "</label>"
        + _field("limit", "Per page", f.limit if f else 48, "number")
        + '<button type="submit" class="primary" id="apply">Apply</button>'
        '<a class="button ghost" href="/browse">Clear</a></form>'
    )
    cards = []
    for item in items:
        pred = item.get("prediction")
        guess = (
            f'<span class="g">{_e(pred["label"])} {_fmt_pct(pred.get("probability"))}'
            f" &middot; {_fmt_num(pred.get('uncertainty'), 2)}</span>"
            if pred
            else '<span class="g muted">no prediction</span>'
        )
        label = item.get("label")
        labelled = (
            f'<span class="lab">{_e(", ".join(label) if isinstance(label, list) else label)}</span>'
            if label is not None and label != []
            else ""
        )
        flags = ""
        if item.get("conflict"):
            flags += '<span class="pill stop">conflict</span>'
        if item.get("unsure"):
            flags += '<span class="pill busy">unsure</span>'
        media = (
            f'<img src="{_e(item["image_url"])}" alt="item {int(item["item_id"])}" loading="lazy">'
            if item.get("image_url")
            else _snippet(str(item["text"]))
            if item.get("text") is not None
            else f'<span class="ref">{_e(item["ref"])}</span>'
        )
        cards.append(
            f'<label class="tile" data-item="{int(item["item_id"])}">'
            f'<input type="checkbox" name="item_ids" value="{int(item["item_id"])}" form="bulk">'
            f'{media}<span class="meta">#{int(item["item_id"])} {guess}{labelled}{flags}</span>'
            "</label>"
        )
    shown_from = (f.offset if f else 0) + 1 if items else 0
    shown_to = (f.offset if f else 0) + len(items)
    paging = ""
    if f is not None:
        parts = []
        if f.offset > 0:
            prev = {**f.query(), "offset": str(max(0, f.offset - f.limit))}
            parts.append(f'<a href="/browse?{_e(urlencode(prev))}">&larr; previous</a>')
        if shown_to < total:
            nxt = {**f.query(), "offset": str(f.offset + f.limit)}
            parts.append(f'<a href="/browse?{_e(urlencode(nxt))}" id="next-page">next &rarr;</a>')
        paging = " ".join(parts)
    back = urlencode(f.query()) if f else ""
    bulk = (
        '<form method="post" action="/browse/label" id="bulk" class="bulk card">'
        f'<input type="hidden" name="back" value="{_e(back)}">'
        "<span>Label the selected items as</span>"
        + _select("label", [(n, n) for n in names], names[0] if names else "")
        + '<button type="submit" class="primary" id="bulk-label">Label selected</button>'
        '<span class="muted small">one event per item, each on disk when this returns</span>'
        "</form>"
    )
    body = (
        '<main class="wide">'
        f"{_flash(flash, kind)}{form}"
        f'<p class="muted" id="count">{shown_from}&ndash;{shown_to} of {total} items {paging}</p>'
        f"{bulk}"
        f'<div class="tiles" id="grid">{"".join(cards)}</div></main>'
    )
    return _page(
        f"{state.name}: browse", body, header_right=nav(annotator, _fixed(request), "/browse")
    )


def yesno_page(
    state: WebState,
    annotator: str,
    request: Request,
    label: str | None,
    item: Mapping[str, Any] | None,
    flash: str,
    kind: str,
) -> str:
    """One class at a time: "is this a *label*?" with yes (``y``), no (``n``), skip
    (``s``); without a class, the classes to choose from."""
    header = nav(annotator, _fixed(request), "/yesno")
    choose = " ".join(
        f'<a class="button{" primary" if name == label else ""}" '
        f'href="/yesno?{_e(urlencode({"label": name}))}">{_e(name)}</a>'
        for name in state.label_names
    )
    picker = f'<section class="card"><h2>Class</h2><div class="choose">{choose}</div></section>'
    if label is None:
        main = (
            '<section class="card item"><h1>Yes or no, one class at a time</h1>'
            "<p>Pick a class: you are shown the items the model thinks most probably are "
            "that class, and answer yes (<kbd>Y</kbd>), no (<kbd>N</kbd>) or skip "
            "(<kbd>S</kbd>). A yes is a label; a no is recorded as a negative observation "
            "(the item is not that class), not as a label.</p></section>"
        )
    elif item is None:
        main = (
            f'<section class="card item empty"><h1>No candidates for {_e(label)}</h1>'
            "<p>No unlabelled item is predicted to be this class right now, or there is no "
            "trained model yet (the candidates come from the latest retrain).</p>"
            '<p><a class="button primary" href="/label">Back to labelling</a></p></section>'
        )
    else:
        item_id = int(item["item_id"])
        pred = item.get("prediction") or {}
        media = (
            f'<figure class="media small"><img id="item-image" src="{_e(item["image_url"])}" '
            f'alt="item {item_id}"></figure>'
            if item.get("image_url")
            else text_block(item["text"])
            if item.get("text") is not None
            else '<table class="fields"><tbody>'
            + "".join(
                f'<tr><th scope="row">{_e(k)}</th><td>{_e("" if v is None else v)}</td></tr>'
                for k, v in (item.get("fields") or {}).items()
            )
            + "</tbody></table>"
        )
        hidden = (
            f'<input type="hidden" name="item_id" value="{item_id}">'
            f'<input type="hidden" name="label" value="{_e(label)}">'
        )
        main = (
            '<section class="card item">'
            f'<div class="item-head"><h1 id="question">Is this {_e(label)}?</h1>'
            f'<span class="muted" id="item-meta">item {item_id}</span></div>'
            f'<div class="item-ref muted small" id="item-ref">{_e(item.get("ref", ""))}</div>'
            f"{media}"
            f'<p class="muted small">The model says {_e(pred.get("label", "?"))} '
            f"({_fmt_pct(pred.get('probability'))}).</p>"
            f'<form method="post" action="/yesno" class="yesno" id="yesno-form">{hidden}'
            '<button type="submit" name="answer" value="yes" class="primary" data-keys="y" '
            'id="yes"><kbd>Y</kbd>Yes</button>'
            '<button type="submit" name="answer" value="no" class="cls" data-keys="n" '
            'id="no"><kbd>N</kbd>No</button>'
            '<button type="submit" name="answer" value="skip" class="ghost" data-keys="s" '
            'id="skip"><kbd>S</kbd>Skip</button></form></section>'
        )
    body = (
        f'<main class="grid"><div class="col">{_flash(flash, kind)}{main}</div>'
        f'<aside class="side">{picker}</aside></main>'
    )
    title = f"{state.name}: yes/no" + (f" {label}" if label else "")
    return _page(title, body, header_right=header)


def _when(seconds: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _label_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return "" if value is None else str(value)


def history_page(
    state: WebState,
    annotator: str,
    request: Request,
    data: Mapping[str, Any],
    flash: str,
    kind: str,
) -> str:
    """The annotator's labels, newest first, each with a form to change it."""
    names = state.label_names
    rows = []
    for h in data["items"]:
        if h["undone"]:
            status = '<span class="pill go">undone</span>'
        elif h["corrected"]:
            status = f'<span class="pill go">changed by event {_e(h["corrected_by"])}</span>'
        elif h["current"]:
            status = '<span class="pill stop">current</span>'
        else:
            status = '<span class="pill go">not the item\'s label</span>'
        edits = (
            f' <span class="muted small">corrects {_e(h["corrects"])}</span>'
            if h["corrects"]
            else ""
        )
        note = ""
        if h.get("unsure"):
            note += '<span class="pill busy">unsure</span> '
        if h.get("comment"):
            note += f'<span class="muted small">{_e(h["comment"])}</span>'
        can_edit = not h["undone"] and not h["corrected"]
        form = (
            f'<form method="post" action="/history/edit" class="inline" '
            f'id="edit-{int(h["event_id"])}">'
            f'<input type="hidden" name="event_id" value="{int(h["event_id"])}">'
            + _select("label", [(n, n) for n in names], _label_text(h["label"]))
            + '<button type="submit">Change</button></form>'
            if can_edit and state.session.task == "classification"
            else ""
        )
        thumb = (
            f'<img src="/items/{int(h["item_id"])}/image" alt="" class="thumb">'
            if state.session.item_kind == "image"
            else ""
        )
        rows.append(
            f'<tr data-event="{int(h["event_id"])}"><td>{thumb}</td>'
            f'<td>item {int(h["item_id"])}<br><span class="muted small">{_e(h["ref"])}</span></td>'
            f'<td class="lab-cell"><strong>{_e(_label_text(h["label"]))}</strong>{edits}</td>'
            f"<td>{status} {note}</td>"
            f'<td class="muted small">{_e(_when(h["time"]))} &middot; '
            f"event {int(h['event_id'])}</td>"
            f"<td>{form}</td></tr>"
        )
    total = int(data["total"])
    offset = int(data["offset"])
    more = (
        f'<a href="/history?offset={offset + int(data["limit"])}">older &rarr;</a>'
        if offset + len(data["items"]) < total
        else ""
    )
    body = (
        f'<main class="wide">{_flash(flash, kind)}<section class="card">'
        f'<h1>Your labels</h1><p class="muted">{total} label events by '
        f"{_e(annotator)}, newest first. Changing one records a new event that names "
        "the one it corrects; nothing is overwritten.</p>"
        f'<table class="history" id="history"><tbody>{"".join(rows)}</tbody></table>'
        f"<p>{more}</p></section></main>"
    )
    return _page(
        f"{state.name}: history", body, header_right=nav(annotator, _fixed(request), "/history")
    )


def review_page(
    state: WebState,
    annotator: str,
    request: Request,
    items: Sequence[Mapping[str, Any]],
    allowed: bool,
    flash: str,
    kind: str,
) -> str:
    """The conflicts queue: each item, every annotation of it, a button per label."""
    header = nav(annotator, _fixed(request), "/review")
    if not allowed:
        body = (
            '<main class="narrow"><section class="card"><h1>Reviewers only</h1>'
            f"<p>{_e(annotator)} is not a reviewer of this session. Reviewers are named in "
            "the session's <code>reviewers</code>, and sign in with their own token.</p>"
            "</section></main>"
        )
        return _page(f"{state.name}: review", body, header_right=header)
    cards = []
    for c in items:
        item_id = int(c["item_id"])
        said = "".join(
            f"<li><strong>{_e(a['annotator'])}</strong>: {_e(_label_text(a['label']))}</li>"
            for a in c["annotations"]
        ) + "".join(
            f"<li><strong>{_e(g['annotator'])}</strong>: not {_e(g['label'])}</li>"
            for g in c.get("negatives", [])
        )
        media = (
            f'<img src="/items/{item_id}/image" alt="item {item_id}" class="thumb big">'
            if state.session.item_kind == "image"
            else ""
        )
        buttons = "".join(
            f'<button type="submit" name="label" value="{_e(n)}" class="cls">{_e(n)}</button>'
            for n in state.label_names
        )
        cards.append(
            f'<section class="card conflict" data-item="{item_id}">{media}'
            f'<div><h2>item {item_id} <span class="muted small">{_e(c["ref"])}</span></h2>'
            f'<ul class="said">{said}</ul>'
            f'<form method="post" action="/review/resolve" class="classes">'
            f'<input type="hidden" name="item_id" value="{item_id}">{buttons}</form></div>'
            "</section>"
        )
    empty = '<p class="muted" id="no-conflicts">No conflicts to review.</p>' if not items else ""
    body = (
        f'<main class="wide">{_flash(flash, kind)}'
        f'<h1 class="page">Conflicts to review: <span id="conflict-count">{len(items)}</span></h1>'
        f'{empty}<div class="conflicts">{"".join(cards)}</div></main>'
    )
    return _page(f"{state.name}: review", body, header_right=header)
