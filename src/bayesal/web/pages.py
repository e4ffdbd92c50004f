"""The labelling UI's pages: server-rendered HTML, one stylesheet, a few lines of script.

Everything is built from Python strings with :func:`html.escape` (no template engine,
no build step). Every value that comes from the data or a person (label names, file
names, table cells, annotator names, messages) goes through :func:`_e`. The pages work
as plain HTML forms; :data:`SCRIPT` only adds the keyboard (press the key shown on a
button to press it) and ignores keys while a form is on its way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from bayesal.web.script import SCRIPT

__all__ = [
    "SCRIPT",
    "STYLE",
    "ItemPage",
    "class_keys",
    "empty_page",
    "item_page",
    "message_page",
    "start_page",
]

#: Keys of the first ten classes; after them letters, except the two the page uses.
_DIGIT_KEYS = "1234567890"
_LETTER_KEYS = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in "su"]


def class_keys(num_classes: int) -> list[str | None]:
    """The keyboard key of each class: ``1``..``9``, ``0`` for the first ten, then the
    letters ``a``..``z`` without ``s`` (skip) and ``u`` (undo); None past those (34)."""
    keys: list[str | None] = list(_DIGIT_KEYS[:num_classes])
    for i in range(len(keys), num_classes):
        j = i - len(_DIGIT_KEYS)
        keys.append(_LETTER_KEYS[j] if j < len(_LETTER_KEYS) else None)
    return keys


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt_pct(value: float | None) -> str:
    return "&ndash;" if value is None or not math.isfinite(value) else f"{100 * value:.0f}%"


def _fmt_num(value: float | None, digits: int = 3) -> str:
    return "&ndash;" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _page(title: str, body: str, *, header_right: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        '<script src="/static/keys.js" defer></script></head><body>'
        '<header class="top"><div class="brand">bayesal <span>labelling</span></div>'
        f'<div class="who">{header_right}</div></header>{body}</body></html>\n'
    )


def message_page(title: str, message: str, *, token_form: bool = False) -> str:
    """A page that says one thing (errors, refusals); with a token box if asked."""
    form = ""
    if token_form:
        form = (
            '<form method="get" class="stack"><label for="token">Token</label>'
            '<input id="token" name="token" type="password" autocomplete="off" '
            'required><button type="submit" class="primary">Continue</button></form>'
        )
    return _page(
        title,
        f'<main class="narrow"><section class="card"><h1>{_e(title)}</h1>'
        f'<p>{_e(message)}</p>{form}<p><a href="/">Back to the start</a></p>'
        "</section></main>",
    )


def start_page(session_name: str, num_items: int, num_labelled: int, error: str = "") -> str:
    """Ask the annotator's name (kept in a cookie)."""
    problem = f'<p class="flash bad">{_e(error)}</p>' if error else ""
    return _page(
        f"{session_name}: start",
        '<main class="narrow"><section class="card">'
        f"<h1>Label <em>{_e(session_name)}</em></h1>"
        f'<p class="muted">{num_labelled} of {num_items} items labelled so far.</p>'
        f'{problem}<form method="post" action="/start" class="stack">'
        '<label for="annotator">Your name</label>'
        '<input id="annotator" name="annotator" maxlength="100" required autofocus '
        'autocomplete="username" placeholder="e.g. alice">'
        '<button type="submit" class="primary">Start labelling</button></form>'
        '<p class="muted small">Every label is saved the moment you give it. Several '
        "people can label at once: each is shown different items.</p>"
        "</section></main>",
    )


@dataclass
class ItemPage:
    """What :func:`item_page` shows."""

    session_name: str
    annotator: str
    annotator_fixed: bool
    label_names: Sequence[str]
    keys: Sequence[str | None]
    status: Mapping[str, Any]
    retraining: bool
    item: Mapping[str, Any] | None = None
    expect: int = 0
    image_small: bool = False
    flash: str = ""
    flash_kind: str = "info"
    your_labels: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``classification`` (a button per class), ``multilabel`` (a checkbox per class, keys
    #: toggle, Enter saves) or ``regression`` (a number, Enter saves).
    task: str = "classification"


def _who(page: ItemPage) -> str:
    from bayesal.web.team_pages import nav

    return f'<span class="muted">{_e(page.session_name)}</span> &middot; ' + nav(
        page.annotator, page.annotator_fixed, "/label"
    )


def text_block(text: object) -> str:
    """A text item's text, escaped, in a box that scrolls when the text is long (the
    whole text is there)."""
    return f'<div class="item-text" id="item-text">{_e("" if text is None else text)}</div>'


def _item_block(page: ItemPage) -> str:
    item = page.item
    assert item is not None
    item_id = int(item["item_id"])
    meta = [f"item {item_id}"]
    if item.get("rank") is not None and item.get("from_queue"):
        meta.append(f"rank {int(item['rank']) + 1} in the queue")
    elif not item.get("from_queue"):
        meta.append("outside the ranked queue")
    if item.get("label") is not None:
        meta.append(f"labelled now: {_e(item['label'])}")
    if item["kind"] == "image":
        size = " small" if page.image_small else ""
        shown = (
            f'<figure class="media{size}"><img id="item-image" '
            f'src="/items/{item_id}/image" alt="item {item_id}"></figure>'
        )
    elif item["kind"] == "text":
        shown = text_block(item.get("text"))
    else:
        rows = []
        for name, value in item.get("fields", {}).items():
            text = "" if value is None else str(value)
            wide = ' class="long"' if len(text) > 80 else ""
            cell = f"<td{wide}>{_e(text)}</td>"
            rows.append(f'<tr><th scope="row">{_e(name)}</th>{cell}</tr>')
        shown = f'<table class="fields"><tbody id="item-fields">{"".join(rows)}</tbody></table>'

    prediction = item.get("prediction") or {}
    # Both blocks are always there (one hidden), so the script can switch between them.
    guess = (
        f'<div class="guess" id="guess"{"" if prediction else " hidden"}>'
        f'<div><span class="k">Model\'s guess</span><span class="v" id="predicted">'
        f"{_e(prediction.get('label', ''))}</span></div>"
        f'<div><span class="k">Probability</span><span class="v" id="guess-prob">'
        f"{_fmt_pct(prediction.get('probability'))}</span></div>"
        f'<div><span class="k">Uncertainty (BALD)</span><span class="v">'
        f'<span id="guess-unc">{_fmt_num(prediction.get("uncertainty"))}</span> '
        "<small>nats</small></span></div>"
        f'<div><span class="k">Model</span><span class="v" id="guess-round">round '
        f"{_e(prediction.get('round'))}</span></div></div>"
        f'<div class="guess none" id="guess-none"{" hidden" if prediction else ""}>'
        "No model prediction for this item yet "
        "(the first items come in a random order; the model ranks them after the "
        "first retrain).</div>"
    )

    predicted_name = prediction.get("label")
    buttons = []
    accept_value = ""
    for index, (name, key) in enumerate(zip(page.label_names, page.keys, strict=True)):
        cls = "cls guessed" if name == predicted_name else "cls"
        if name == predicted_name:
            accept_value = str(index)
        data_key = f' data-keys="{_e(key)}"' if key else ""
        badge = f"<kbd>{_e(key)}</kbd>" if key else '<kbd class="blank"></kbd>'
        buttons.append(
            f'<button type="submit" name="label" value="{index}" class="{cls}"'
            f'{data_key} title="{_e(name)}">{badge}<span>{_e(name)}</span></button>'
        )
    if page.task == "segmentation":
        return _segmentation_block(page, item_id, meta)
    if page.task != "classification":
        return _task_block(page, item_id, meta, shown, guess)
    hidden = "" if prediction else " hidden disabled"
    accept = (
        f'<button type="submit" name="label" value="{accept_value}" id="accept" '
        f'class="primary accept" data-keys="enter"{hidden}><kbd>Enter</kbd>'
        f'<span>Accept the guess: <strong id="accept-name">{_e(predicted_name or "")}'
        "</strong></span></button>"
    )
    return (
        '<section class="card item">'
        f'<div class="item-head"><h1>Which label?</h1><span class="muted" id="item-meta">'
        f"{' &middot; '.join(meta)}</span></div>"
        f'<div class="item-ref muted small" id="item-ref">{_e(item.get("ref", ""))}</div>'
        f"{shown}{guess}"
        f'<form method="post" action="/label" class="classes" id="label-form" '
        'data-action="label">'
        f'<input type="hidden" name="item_id" value="{item_id}">'
        f'<input type="hidden" name="expect" value="{int(page.expect)}">'
        f"{accept}{''.join(buttons)}"
        '<div class="notes"><label class="unsure"><input type="checkbox" name="unsure" '
        'value="true" id="unsure"> Unsure</label>'
        '<textarea name="comment" id="comment" maxlength="2000" rows="1" '
        'placeholder="Comment (optional, saved with the label)"></textarea></div>'
        "</form>"
        '<div class="actions">'
        '<form method="post" action="/skip" id="skip-form" data-action="skip">'
        f'<input type="hidden" name="item_id" value="{item_id}">'
        '<button type="submit" class="ghost" data-keys="s"><kbd>S</kbd>Skip</button>'
        "</form>"
        '<form method="post" action="/undo" id="undo-form" data-action="undo">'
        '<button type="submit" class="ghost" data-keys="u backspace">'
        "<kbd>U</kbd>Undo last label</button></form>"
        "</div></section>"
    )


def _task_block(page: ItemPage, item_id: int, meta: list[str], shown: str, guess: str) -> str:
    """The item block of a multi-label item (a checkbox per class: its key toggles it,
    Enter saves) or a regression item (a number; Enter saves). Plain forms."""
    ref = page.item.get("ref", "") if page.item else ""
    # The model's guess is filled in (boxes ticked, the number typed), so Enter accepts it.
    prediction = (page.item.get("prediction") if page.item else None) or {}
    guess = _task_guess(page.task, prediction) if prediction else guess
    if page.task == "multilabel":
        ticked = set(prediction.get("labels") or [])
        probs = prediction.get("probs") or {}
        boxes = "".join(
            f'<label class="chk"><input type="checkbox" name="labels" value="{_e(name)}"'
            f"{f' data-keys={chr(34)}{_e(key)}{chr(34)}' if key else ''}"
            f"{' checked' if name in ticked else ''}>"
            f"<kbd>{_e(key or '')}</kbd><span>{_e(name)}</span>"
            + (f' <small class="muted">{_fmt_pct(probs[name])}</small>' if name in probs else "")
            + "</label>"
            for name, key in zip(page.label_names, page.keys, strict=True)
        )
        question = "Which labels apply?"
        entry = f'<div class="checks">{boxes}</div>'
    else:
        question = "What number?"
        mean = prediction.get("mean")
        filled = f' value="{mean:.6g}"' if isinstance(mean, float) and math.isfinite(mean) else ""
        entry = (
            '<input type="number" name="value" id="value" step="any" required autofocus '
            f'inputmode="decimal" placeholder="a number"{filled}>'
        )
    return (
        '<section class="card item">'
        f'<div class="item-head"><h1>{question}</h1><span class="muted" id="item-meta">'
        f"{' &middot; '.join(meta)}</span></div>"
        f'<div class="item-ref muted small" id="item-ref">{_e(ref)}</div>'
        f"{shown}{guess}"
        f'<form method="post" action="/label" class="classes" id="label-form">'
        f'<input type="hidden" name="item_id" value="{item_id}">'
        f'<input type="hidden" name="expect" value="{int(page.expect)}">{entry}'
        '<button type="submit" class="primary accept" id="save" data-keys="enter">'
        "<kbd>Enter</kbd><span>Save</span></button>"
        '<div class="notes"><label class="unsure"><input type="checkbox" name="unsure" '
        'value="true" id="unsure"> Unsure</label>'
        '<textarea name="comment" id="comment" maxlength="2000" rows="1" '
        'placeholder="Comment (optional, saved with the label)"></textarea></div></form>'
        '<div class="actions">'
        '<form method="post" action="/skip" id="skip-form">'
        f'<input type="hidden" name="item_id" value="{item_id}">'
        '<button type="submit" class="ghost" data-keys="s"><kbd>S</kbd>Skip</button>'
        "</form>"
        '<form method="post" action="/undo" id="undo-form">'
        '<button type="submit" class="ghost" data-keys="u backspace">'
        "<kbd>U</kbd>Undo last label</button></form>"
        "</div></section>"
    )


def _segmentation_block(page: ItemPage, item_id: int, meta: list[str]) -> str:
    """A segmentation item: the image with the model's predicted mask over it (colours
    per class, a legend with each class's key), painted with the mouse by
    ``/static/mask.js`` (class by key, brush size ``[`` / ``]``, Enter saves the mask
    shown, which starts as the model's guess). Without JavaScript the page says so and
    points at the import command."""
    item = page.item or {}
    prediction = item.get("prediction") or {}
    mask = prediction.get("mask") or {}
    height, width = page.extra.get("mask_size", (0, 0))
    legend = "".join(
        f'<button type="button" class="cls seg-class" data-class="{c}" '
        f'data-key="{_e(key or "")}" title="{_e(name)}"{" disabled" if not key else ""}>'
        f'<kbd>{_e(key or "")}</kbd><span class="swatch" data-class="{c}"></span>'
        f"<span>{_e(name)}</span></button>"
        for c, (name, key) in enumerate(zip(page.label_names, page.keys, strict=True))
    )
    if prediction:
        guess = (
            '<div class="guess" id="guess" data-task="segmentation">'
            '<div><span class="k">Model\'s guess</span><span class="v" id="predicted">'
            "the coloured mask, filled in below</span></div>"
            '<div><span class="k">Mean confidence</span><span class="v" id="guess-prob">'
            f"{_fmt_pct(prediction.get('confidence'))}</span></div>"
            '<div><span class="k">Uncertainty (BALD, mean per pixel)</span><span class="v">'
            f'<span id="guess-unc">{_fmt_num(prediction.get("uncertainty"), 4)}</span> '
            "<small>nats</small></span></div>"
            '<div><span class="k">Model</span><span class="v" id="guess-round">round '
            f"{_e(prediction.get('round'))}</span></div>"
            '<div class="small muted">Enter saves the mask shown: the guess as it is, '
            "or after your strokes.</div></div>"
        )
    else:
        guess = (
            '<div class="guess none" id="guess-none">No model prediction for this image '
            "yet: the mask starts as the first class everywhere (paint the rest).</div>"
        )
    return (
        '<section class="card item">'
        '<div class="item-head"><h1>Paint the mask</h1><span class="muted" id="item-meta">'
        f"{' &middot; '.join(meta)}</span></div>"
        f'<div class="item-ref muted small" id="item-ref">{_e(item.get("ref", ""))}</div>'
        f'<div id="seg" data-item="{item_id}" data-height="{int(height)}" '
        f'data-width="{int(width)}" data-guess="{_e(mask.get("data", ""))}">'
        f'<figure class="media seg"><img id="item-image" src="/items/{item_id}/image" '
        f'alt="item {item_id}"><canvas id="seg-canvas" hidden></canvas></figure>'
        f'<div class="seg-legend" id="seg-legend">{legend}</div>'
        '<div class="seg-tools small muted" id="seg-tools" hidden>Class: '
        '<strong id="seg-class-name"></strong> &middot; brush <strong id="seg-brush">1'
        "</strong> px (<kbd>[</kbd> <kbd>]</kbd>) &middot; <kbd>Enter</kbd> save "
        '&middot; <kbd>O</kbd> overlay on/off <button type="button" class="primary" '
        'id="seg-save"><kbd>Enter</kbd><span>Save the mask</span></button></div>'
        '<p class="flash bad" id="seg-error" hidden></p>'
        '<noscript><p class="flash bad" id="seg-noscript">Painting a mask needs '
        "JavaScript, which is off in this browser. Turn it on, or import masks from "
        "files: <code>bayesal session import-masks SESSION MASKS --annotator NAME</code> "
        "(a folder of &lt;item_id&gt;.png or an .npz; see docs/labelling.md).</p></noscript>"
        f"{guess}</div>"
        '<div class="actions">'
        '<form method="post" action="/skip" id="skip-form">'
        f'<input type="hidden" name="item_id" value="{item_id}">'
        '<button type="submit" class="ghost" data-keys="s"><kbd>S</kbd>Skip</button>'
        "</form>"
        '<form method="post" action="/undo" id="undo-form">'
        '<button type="submit" class="ghost" data-keys="u backspace">'
        "<kbd>U</kbd>Undo last label</button></form>"
        "</div></section>"
        '<script src="/static/mask.js" defer></script>'
    )


def _task_guess(task: str, prediction: Mapping[str, Any]) -> str:
    """The model's guess for a multi-label item (the classes it predicts present and
    the probability of that set) or a regression item (the predictive mean and its
    central 90% interval), with its uncertainty and round."""
    if task == "multilabel":
        rows = [
            ("Model's guess", f'<span id="predicted">{_e(prediction.get("label", ""))}</span>'),
            (
                "Probability of this set",
                f'<span id="guess-prob">{_fmt_pct(prediction.get("probability"))}</span>',
            ),
        ]
        label = "Uncertainty (BALD, summed over labels)"
    else:
        level = prediction.get("level") or 0.9
        rows = [
            ("Model's guess", f'<span id="predicted">{_e(prediction.get("label", ""))}</span>'),
            (
                f"{100 * level:.0f}% interval",
                f'<span id="guess-interval">{_fmt_sig(prediction.get("low"))} to '
                f"{_fmt_sig(prediction.get('high'))}</span>",
            ),
        ]
        label = "Uncertainty (BALD)"
    rows.append(
        (
            label,
            f'<span id="guess-unc">{_fmt_num(prediction.get("uncertainty"))}</span> '
            "<small>nats</small>",
        )
    )
    rows.append(("Model", f'<span id="guess-round">round {_e(prediction.get("round"))}</span>'))
    cells = "".join(
        f'<div><span class="k">{_e(k)}</span><span class="v">{v}</span></div>' for k, v in rows
    )
    return (
        f'<div class="guess" id="guess" data-task="{_e(task)}">{cells}'
        '<div class="small muted">Filled in below: Enter accepts it; change it first if '
        "it is wrong.</div></div>"
    )


def _fmt_sig(value: object) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return "&ndash;"
    return _e(f"{value:.4g}")


def _progress_block(page: ItemPage) -> str:
    s = page.status
    n_items = int(s["num_items"])
    n_labelled = int(s["num_labelled"])
    per_class = s["per_class"]
    top = max([1, *per_class.values()])
    class_rows = "".join(
        f'<li data-name="{_e(name)}"><span class="name">{_e(name)}</span>'
        f'<progress max="{top}" value="{int(count)}"></progress>'
        f'<span class="count">{int(count)}</span></li>'
        for name, count in per_class.items()
    )
    accuracy = s.get("estimated_accuracy")
    accuracy_n = int(s.get("estimated_accuracy_from") or 0)
    if accuracy is None:
        accuracy_html = (
            '<p class="stat"><span class="big">&ndash;</span></p><p class="note">'
            "Shown once labels come in for items the model had a prediction for.</p>"
        )
    else:
        accuracy_html = (
            f'<p class="stat"><span class="big" id="accuracy">{_fmt_pct(accuracy)}</span>'
            f' <span class="muted">of the last {accuracy_n} labels</span></p>'
            '<p class="note">How often the model\'s guess matched your label. Measured on '
            "the hard items it asked about, so its accuracy on the whole pool is likely "
            "higher.</p>"
        )
    round_ = s.get("round")
    retrain_every = int(s["retrain_every"])
    since = int(s["labels_since_round"])
    busy = '<span class="pill busy">retraining&hellip;</span>' if page.retraining else ""
    if round_ is None:
        model_html = f"<p>No model yet. {busy}</p>"
    else:
        model_html = (
            f'<p><span class="big" id="round">round {int(round_)}</span> {busy}</p>'
            f'<p class="muted small">trained on {int(s.get("round_labels") or 0)} labels; '
            f'<span id="since">{since}</span> new since '
            f"(retrains every {retrain_every})</p>"
        )
    rules = []
    for rule in s.get("stopping", []):
        state = "stop" if rule["stop"] else "go"
        word = "stop" if rule["stop"] else "continue"
        rules.append(
            f'<li class="{state}"><span class="pill {state}">{word}</span> '
            f'<strong>{_e(rule["rule"])}</strong><br><span class="muted small">'
            f"{_e(rule.get('reason', ''))}</span></li>"
        )
    stop_html = (
        f'<ul class="rules">{"".join(rules)}</ul>'
        if rules
        else '<p class="muted small">No stopping rule configured.</p>'
    )
    if s.get("should_stop"):
        stop_html = (
            '<p class="flash good">A stopping rule says the model has enough labels.</p>'
            + stop_html
        )
    return (
        '<aside class="side">'
        '<section class="card"><h2>Progress</h2>'
        f'<p class="stat"><span class="big" id="num-labelled">{n_labelled}</span>'
        f' <span class="muted">of {n_items} labelled &middot; you: <span id="you" '
        f'data-annotator="{_e(page.annotator)}">{page.your_labels}</span></span></p>'
        f'<progress class="wide" id="progress-all" max="{max(n_items, 1)}" '
        f'value="{n_labelled}"></progress>'
        f'<ul class="bars">{class_rows}</ul></section>'
        f'<section class="card"><h2>Estimated accuracy</h2>{accuracy_html}</section>'
        f'<section class="card"><h2>Model</h2>{model_html}</section>'
        f"{_agreement_block(s)}"
        f'<section class="card"><h2>Stopping rules</h2>{stop_html}</section>'
        "</aside>"
    )


def _agreement_block(s: Mapping[str, Any]) -> str:
    """Annotator agreement (over items two or more annotators labelled) and conflicts."""
    agreement = s.get("agreement")
    if not isinstance(agreement, Mapping):
        return ""
    kappa = agreement.get("kappa")
    items = int(agreement.get("items") or 0)
    conflicts = int(s.get("conflicts") or 0)
    review = (
        f'<p class="small"><a href="/review" id="conflicts">{conflicts} '
        f"conflict{'' if conflicts == 1 else 's'}</a> to review</p>"
        if conflicts
        else '<p class="muted small" id="conflicts">no conflicts</p>'
    )
    if kappa is None:
        shown = (
            '<p class="stat"><span class="big" id="agreement">&ndash;</span></p>'
            f'<p class="note">Shown once two annotators have labelled the same items '
            f"({items} so far).</p>"
        )
    else:
        shown = (
            f'<p class="stat"><span class="big" id="agreement">{_fmt_num(kappa, 2)}</span> '
            f'<span class="muted">{_e(agreement.get("method") or "")} over {items} items</span>'
            "</p>"
        )
    return f'<section class="card"><h2>Annotator agreement</h2>{shown}{review}</section>'


def _flash(page: ItemPage) -> str:
    if not page.flash:
        return ""
    return f'<p class="flash {_e(page.flash_kind)}" id="flash">{_e(page.flash)}</p>'


def item_page(page: ItemPage) -> str:
    """The labelling page: the item, the model's guess, a button per class, progress."""
    help_keys = (
        (
            '<footer class="help"><kbd>1</kbd>&ndash;<kbd>9</kbd> <kbd>0</kbd> class to paint'
            " &middot; mouse: paint &middot; <kbd>[</kbd> <kbd>]</kbd> brush size"
            " &middot; <kbd>Enter</kbd> save the mask &middot; <kbd>S</kbd> skip"
            " &middot; <kbd>U</kbd> undo &middot; every mask is saved when given</footer>"
        )
        if page.task == "segmentation"
        else (
            '<footer class="help"><kbd>1</kbd>&ndash;<kbd>9</kbd> <kbd>0</kbd> label'
            " &middot; <kbd>Enter</kbd> accept the guess &middot; <kbd>S</kbd> skip"
            " &middot; <kbd>U</kbd> or <kbd>&#9003;</kbd> undo"
            " &middot; every label is saved when given</footer>"
        )
    )
    item_id = int(page.item["item_id"]) if page.item else ""
    body = (
        f'<main class="grid" id="label-main" data-item="{item_id}" '
        f'data-task="{_e(page.task)}"><div class="col">'
        f"{_flash(page)}{_item_block(page)}"
        f"{help_keys}</div>{_progress_block(page)}</main>"
    )
    return _page(
        f"{page.session_name}: item {page.item['item_id'] if page.item else ''}",
        body,
        header_right=_who(page),
    )


def empty_page(page: ItemPage, reason: str) -> str:
    """Nothing to show the annotator now (all labelled, or the rest leased)."""
    body = (
        f'<main class="grid"><div class="col">{_flash(page)}'
        f'<section class="card item empty"><h1>Nothing to label right now</h1>'
        f'<p>{_e(reason)}</p><p><a class="button primary" href="/label">Check again</a></p>'
        '<form method="post" action="/undo"><button type="submit" class="ghost" '
        'data-keys="u backspace"><kbd>U</kbd>Undo last label</button></form>'
        f"</section></div>{_progress_block(page)}</main>"
    )
    return _page(f"{page.session_name}: done", body, header_right=_who(page))


STYLE = """
:root {
  --bg: #f5f6f8; --card: #ffffff; --ink: #1b2130; --muted: #667085; --line: #e3e6eb;
  --accent: #2f54d8; --accent-ink: #ffffff; --accent-soft: #edf1fe; --good: #137a54;
  --good-soft: #e8f6ef; --bad: #b42318; --bad-soft: #fdeceb; --warn-soft: #fff6e5;
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body {
  background: var(--bg); color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif;
}
a { color: var(--accent); }
header.top {
  display: flex; align-items: center; justify-content: space-between;
  padding: 11px 28px; background: var(--card); border-bottom: 1px solid var(--line);
}
.brand { font-weight: 700; letter-spacing: .2px; }
.brand span { font-weight: 400; color: var(--muted); margin-left: 4px; }
.who a { margin-left: 6px; font-size: 13px; }
main.grid {
  display: grid; grid-template-columns: minmax(0, 1fr) 330px; gap: 20px;
  max-width: 1160px; margin: 22px auto; padding: 0 20px;
}
main.narrow { max-width: 460px; margin: 60px auto; padding: 0 20px; }
@media (max-width: 900px) { main.grid { grid-template-columns: 1fr; } }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  padding: 18px 20px; box-shadow: 0 1px 2px rgba(16, 24, 40, .04);
}
.side { display: flex; flex-direction: column; gap: 14px; }
h1 { font-size: 19px; margin: 0; }
h2 {
  font-size: 12px; text-transform: uppercase; letter-spacing: .08em; color: var(--muted);
  margin: 0 0 10px; font-weight: 600;
}
.muted { color: var(--muted); }
.small { font-size: 13px; }
.item-head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; }
.item-ref { margin: 2px 0 14px; word-break: break-all; }
figure.media {
  margin: 0 0 16px; display: flex; justify-content: center; align-items: center;
  background: #f0f2f5; border: 1px solid var(--line); border-radius: 10px; padding: 18px;
  min-height: 200px;
}
figure.media img { max-width: 100%; max-height: 58vh; border-radius: 4px; }
figure.media.small img { width: 240px; height: auto; image-rendering: pixelated; }
table.fields { width: 100%; border-collapse: collapse; margin: 0 0 16px; font-size: 14px; }
table.fields th, table.fields td {
  text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top;
}
table.fields th { width: 30%; color: var(--muted); font-weight: 500; }
table.fields td.long { white-space: pre-wrap; line-height: 1.5; }
.item-text {
  white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.55; font-size: 16px;
  max-height: 45vh; overflow-y: auto; margin: 0 0 16px; padding: 12px 14px;
  border: 1px solid var(--line); border-radius: 10px; background: #fbfbfc;
}
label.tile .snippet { font-size: 13px; line-height: 1.4; overflow-wrap: anywhere; }
.guess {
  display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px;
  background: var(--accent-soft); border-radius: 10px; padding: 10px 14px; margin-bottom: 16px;
}
.guess.none { display: block; color: var(--muted); background: #f3f4f6; font-size: 14px; }
.guess .k { display: block; font-size: 12px; color: var(--muted); }
.guess .v { font-weight: 600; font-size: 16px; }
.guess small { font-weight: 400; color: var(--muted); }
form.classes {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 8px;
}
button, a.button {
  font: inherit; cursor: pointer; border-radius: 9px; border: 1px solid var(--line);
  background: var(--card); color: var(--ink); padding: 9px 12px; text-decoration: none;
  display: inline-flex; align-items: center; gap: 9px;
}
button:hover { border-color: #c4cad4; background: #fafbfc; }
button:focus-visible { outline: 3px solid rgba(47, 84, 216, .35); outline-offset: 1px; }
button.cls { justify-content: flex-start; min-height: 44px; }
figure.media.seg canvas { max-width: 100%; image-rendering: pixelated; cursor: crosshair;
  touch-action: none; border-radius: 4px; }
.seg-legend { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.seg-legend button.cls { min-height: 36px; }
.seg-legend button.cls.active { border-color: var(--accent);
  box-shadow: inset 0 0 0 2px var(--accent); }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px;
  border: 1px solid rgba(0, 0, 0, .3); }
.seg-tools { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
button.cls span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button.cls.guessed { border-color: var(--accent); box-shadow: inset 0 0 0 1px var(--accent); }
button.pressed { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
button.primary, a.button.primary {
  background: var(--accent); color: var(--accent-ink); border-color: var(--accent);
  justify-content: center;
}
button.ghost { background: transparent; color: var(--muted); }
kbd {
  font: 600 12px/1 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  min-width: 22px; padding: 4px 6px; border-radius: 5px; text-align: center;
  background: #eef0f3; color: #344054; border: 1px solid #d6dae1; border-bottom-width: 2px;
}
button.pressed kbd, button.primary kbd { background: rgba(255,255,255,.2); color: inherit; }
kbd.blank { visibility: hidden; }
[hidden] { display: none !important; }
button.accept { grid-column: 1 / -1; justify-content: flex-start; }
.checks { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 8px; }
label.chk { display: flex; gap: 8px; align-items: center; border: 1px solid var(--line);
  border-radius: 9px; padding: 8px 12px; cursor: pointer; }
label.chk:has(input:checked) { border-color: var(--accent); background: var(--accent-soft); }
input#value { grid-column: 1 / -1; font-size: 20px; }
.notes { grid-column: 1 / -1; display: flex; gap: 10px; align-items: center; }
.notes textarea { flex: 1; font: inherit; padding: 6px 9px; border-radius: 8px;
  border: 1px solid #cfd4dc; resize: vertical; }
.notes label.unsure { display: flex; gap: 5px; align-items: center; font-size: 14px; }
table.history { width: 100%; border-collapse: collapse; font-size: 14px; }
table.history td { padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
img.thumb { width: 40px; height: 40px; image-rendering: pixelated; object-fit: contain;
  background: #f0f2f5; border-radius: 4px; }
img.thumb.big { width: 120px; height: 120px; }
form.inline { display: flex; gap: 6px; margin: 0; }
section.conflict { display: flex; gap: 16px; margin-bottom: 12px; }
section.conflict > div { flex: 1; }
ul.said { margin: 6px 0 10px; padding-left: 18px; }
h1.page { margin: 0 0 12px; }
.actions { display: flex; gap: 8px; margin-top: 14px; justify-content: flex-end; }
.actions form { margin: 0; }
.stat { margin: 0 0 8px; }
.big { font-size: 26px; font-weight: 700; letter-spacing: -.01em; }
.note { margin: 4px 0 0; font-size: 12.5px; color: var(--muted); }
progress { appearance: none; -webkit-appearance: none; height: 8px; border: 0;
  border-radius: 5px; background: #edf0f3; overflow: hidden; }
progress::-webkit-progress-bar { background: #edf0f3; border-radius: 5px; }
progress::-webkit-progress-value { background: var(--accent); border-radius: 5px; }
progress::-moz-progress-bar { background: var(--accent); border-radius: 5px; }
progress.wide { width: 100%; margin-bottom: 12px; }
ul.bars { list-style: none; margin: 0; padding: 0; font-size: 13px; }
ul.bars li { display: grid; grid-template-columns: 76px 1fr 34px; gap: 8px;
  align-items: center; padding: 2px 0; }
ul.bars .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
ul.bars progress { width: 100%; height: 6px; }
ul.bars .count { text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
ul.rules { list-style: none; margin: 0; padding: 0; }
ul.rules li { padding: 6px 0; border-bottom: 1px solid var(--line); }
ul.rules li:last-child { border-bottom: 0; }
.pill {
  display: inline-block; font-size: 11.5px; font-weight: 600; padding: 2px 8px;
  border-radius: 999px; vertical-align: middle;
}
.pill.go { background: #f0f2f5; color: var(--muted); }
.pill.stop { background: var(--good-soft); color: var(--good); }
.pill.busy { background: var(--warn-soft); color: #93370d; }
.flash { padding: 10px 14px; border-radius: 10px; margin: 0 0 14px; font-size: 14px;
  background: var(--accent-soft); }
.flash.bad { background: var(--bad-soft); color: var(--bad); }
.flash.good { background: var(--good-soft); color: var(--good); }
form.stack { display: flex; flex-direction: column; gap: 8px; margin: 16px 0; }
form.stack label { font-weight: 600; font-size: 14px; }
input {
  font: inherit; padding: 9px 11px; border-radius: 8px; border: 1px solid #cfd4dc;
}
input:focus { outline: 3px solid rgba(47, 84, 216, .25); border-color: var(--accent); }
footer.help { margin: 12px 4px; font-size: 12.5px; color: var(--muted); }
footer.help kbd { font-size: 11px; padding: 2px 5px; min-width: 0; }
body.busy .item { opacity: .6; transition: opacity .15s .1s; }
nav.links { display: inline; }
nav.links a { margin: 0 6px; text-decoration: none; }
nav.links a.here { font-weight: 700; text-decoration: underline; }
main.wide { max-width: 1240px; margin: 22px auto; padding: 0 20px; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: flex-end;
  margin-bottom: 14px; }
form.filters label.f { display: flex; flex-direction: column; font-size: 12.5px;
  color: var(--muted); gap: 3px; }
form.filters input { width: 120px; padding: 6px 8px; }
select { font: inherit; padding: 6px 8px; border-radius: 8px; border: 1px solid #cfd4dc; }
form.bulk { display: flex; gap: 12px; align-items: center; margin-bottom: 14px;
  flex-wrap: wrap; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 10px; }
label.tile { display: flex; flex-direction: column; gap: 6px; background: var(--card);
  border: 1px solid var(--line); border-radius: 10px; padding: 8px; cursor: pointer;
  position: relative; font-size: 12.5px; }
label.tile:has(input:checked) { border-color: var(--accent);
  box-shadow: inset 0 0 0 2px var(--accent); }
label.tile input { position: absolute; top: 8px; left: 8px; }
label.tile img { width: 100%; aspect-ratio: 1; object-fit: contain; image-rendering: pixelated;
  background: #f0f2f5; border-radius: 6px; }
label.tile .meta { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
label.tile .lab { background: var(--good-soft); color: var(--good); border-radius: 6px;
  padding: 1px 6px; font-weight: 600; }
.choose { display: flex; flex-wrap: wrap; gap: 6px; }
form.yesno { display: flex; gap: 10px; }
form.yesno button { min-width: 110px; justify-content: center; }
"""
