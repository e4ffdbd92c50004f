"""A labelling session over a text table (``data: {kind: text}``): the label page, the
item API, browse and the yes/no page show each item's text, HTML-escaped; the session
retrains on the texts' TF-IDF features."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from bayesal.session import LabellingSession

SCRIPT = "<script>alert('x')</script> & more"
LONG = "word " * 400


def _make_text_session(folder: Path) -> tuple[Path, dict[int, str]]:
    sport = [
        "the team won the match",
        "a late goal for the league leaders",
        "coach praises players",
    ]
    food = ["bake the bread in a hot oven", "a recipe with butter and sugar", "taste the soup"]
    texts = [SCRIPT, LONG] + [(sport if i % 2 else food)[i % 3] + f" {i}" for i in range(28)]
    labels = ["", ""] + ["" if i >= 6 else ("sport" if i % 2 else "food") for i in range(28)]
    ids = [500 + 3 * i for i in range(30)]
    folder.mkdir(parents=True)
    pd.DataFrame({"doc": ids, "body": texts, "topic": labels}).to_csv(
        folder / "texts.csv", index=False
    )
    config = {
        "data": {
            "kind": "text",
            "path": "texts.csv",
            "params": {
                "text_column": "body",
                "label_column": "topic",
                "id_column": "doc",
                "feature_params": {"svd_components": 8},
            },
        },
        "labels": ["food", "sport"],
        "model": {"name": "mlp", "params": {"hidden": 16}},
        "posterior": {"name": "mc_dropout", "num_samples": 4},
        "training": {"epochs": 5, "min_steps": 10, "batch_size": 16},
        "queue_size": 10,
        "retrain_every": 5,
        "stop_set_size": 10,
    }
    (folder / "label_texts.yaml").write_text(yaml.safe_dump(config))
    LabellingSession.init(folder / "S", folder / "label_texts.yaml").close()
    return folder / "S", dict(zip(ids, texts, strict=True))


def test_text_session_uses_the_id_column_and_the_item_view_holds_the_text(tmp_path: Path) -> None:
    session_dir, texts = _make_text_session(tmp_path / "t")
    session = LabellingSession.open(session_dir)
    try:
        assert sorted(item for item, _, _ in session.store.items()) == sorted(texts)
        view = session.item_view(500)
        assert view.kind == "text" and view.text == SCRIPT and view.fields == {}
        assert session.item_view(503).text == LONG
    finally:
        session.close()


def test_item_api_gives_the_text_and_the_label_page_shows_a_text_box(
    tmp_path: Path, client_for
) -> None:
    session_dir, _ = _make_text_session(tmp_path / "t")
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "ann"})
    item = client.get("/api/items/500").json()
    assert item["kind"] == "text" and item["text"] == SCRIPT
    page = client.get("/label").text
    assert '<div class="item-text" id="item-text">' in page and "<script>alert" not in page


def test_the_text_block_escapes_markup_and_scrolls_long_texts() -> None:
    from bayesal.web.pages import STYLE, text_block

    html = text_block(SCRIPT)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "<script>" not in html
    assert text_block(LONG).count("word") == 400  # the whole text, in a box that scrolls
    assert "max-height: 45vh; overflow-y: auto" in STYLE


def test_a_script_text_is_shown_escaped_on_the_label_page(tmp_path: Path, client_for) -> None:
    session_dir, _ = _make_text_session(tmp_path / "t")
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "ann"})
    for _ in range(30):  # skip until the page serves item 500 (the order is the session's)
        page = client.get("/label").text
        item = int(page.split('name="item_id" value="')[1].split('"')[0])
        box = page.split('id="item-text">')[1].split("</div>")[0]
        assert "<" not in box  # every text is escaped
        if item == 500:
            assert box == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more"
            break
        client.post("/skip", data={"item_id": item})
    else:
        raise AssertionError("item 500 was never served")


def test_browse_shows_text_snippets_escaped_with_the_full_text_in_the_tooltip(
    tmp_path: Path, client_for
) -> None:
    session_dir, _ = _make_text_session(tmp_path / "t")
    client = client_for(session_dir)
    client.post("/start", data={"annotator": "ann"})
    page = client.get("/browse", params={"sort": "id", "order": "asc", "limit": 5}).text
    assert '<span class="snippet" title="&lt;script&gt;' in page
    assert "<script>alert" not in page
    long_tile = page.split('data-item="503"')[1].split("</label>")[0]
    tooltip, shown = long_tile.split('title="')[1].split('">', 1)
    assert tooltip.count("word") == 400  # the whole text
    shown = shown.split("</span>")[0]
    assert shown.endswith("\u2026") and len(shown) <= 201  # a snippet, marked as cut


def test_a_text_session_retrains_on_its_text_features(tmp_path: Path) -> None:
    session_dir, _ = _make_text_session(tmp_path / "t")
    session = LabellingSession.open(session_dir)
    try:
        assert len(session.labels()) == 6  # the file's labelled rows
        round_ = session.retrain()
        assert round_.n_labels == 6
        assert session.item_view(500).predicted in ("food", "sport")
    finally:
        session.close()


def test_a_text_sessions_items_export_their_text_not_features(tmp_path: Path) -> None:
    session_dir, _ = _make_text_session(tmp_path / "t")
    session = LabellingSession.open(session_dir)
    try:
        assert session.item_fields(500) == {"text": SCRIPT}
        assert session.item_fields(503) == {"text": LONG}
    finally:
        session.close()


def test_a_text_session_config_refuses_unknown_data_params() -> None:
    import pytest

    from bayesal.errors import ConfigError
    from bayesal.session.config import parse_session_config

    config = {
        "data": {"kind": "text", "path": "t.csv", "params": {"text_col": "body"}},
        "labels": ["a", "b"],
        "model": {"name": "mlp"},
    }
    with pytest.raises(ConfigError, match=r"unknown data params \['text_col'\]"):
        parse_session_config(config)
    config["data"]["params"] = {"text_column": "body", "features": "hashing"}
    assert parse_session_config(config).data.kind == "text"
