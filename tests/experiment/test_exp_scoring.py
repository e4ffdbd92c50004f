"""The config's ``scoring`` section and ``bayesal run --score-executor / --prefilter``:
large-pool scoring settings reach every trial's learner; a config without the section
dumps and runs exactly as before it existed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bayesal.cli import main
from bayesal.errors import ConfigError
from bayesal.experiment import config_from_dict
from bayesal.experiment.trial import compute_trial, config_trial_digest
from bayesal.loop import RoundContext

TINY: dict[str, Any] = {
    "name": "tiny_scoring",
    "dataset": {"name": "two_moons", "params": {"n_train": 80, "n_test": 30, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 16}},
    "posterior": {"name": "mc_dropout", "num_samples": 6},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 32, "min_steps": 10},
    "strategies": ["bald", "power_bald", {"name": "batchbald", "params": {"num_samples": 200}}],
    "seeds": 1,
    "initial_labels": 4,
    "acquisition_size": 3,
    "rounds": 2,
    "chunk_size": 16,
}


def test_a_config_without_scoring_dumps_and_digests_as_before() -> None:
    plain = config_from_dict(TINY)
    assert plain.scoring is None and "scoring" not in plain.model_dump(mode="json")
    with_section = config_from_dict({**TINY, "scoring": {"executor": "local"}})
    assert with_section.model_dump(mode="json")["scoring"]["prefilter"] == "auto"
    # Where the pool is scored does not change what a trial computes.
    assert config_trial_digest(plain, "bald", 0) == config_trial_digest(with_section, "bald", 0)
    # What can change the picks does change the digest: a resume never mixes them.
    for section in ({"prefilter": 50}, {"prefilter": None}, {"max_log_probs_bytes": 10}):
        other = config_from_dict({**TINY, "scoring": section})
        assert config_trial_digest(other, "bald", 0) != config_trial_digest(plain, "bald", 0)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"prefilter": 0}, "scoring.prefilter: prefilter must be 'auto', null (exact)"),
        ({"prefilter": "all"}, "scoring.prefilter: prefilter must be"),
        ({"executor": "dask"}, "scoring.executor: Input should be 'local' or 'ray'"),
        ({"shards": 0}, "scoring.shards"),
        ({"memory": 1}, "scoring.memory: unknown key; the keys here are executor"),
    ],
)
def test_bad_scoring_sections_name_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict({**TINY, "scoring": section})


def _trial(config: dict[str, Any], label: str) -> tuple[list[tuple[int, ...]], list[Any]]:
    reports: list[Any] = []

    def record(ctx: RoundContext) -> None:
        reports.append(ctx.learner.last_scoring)

    result = compute_trial(config_from_dict(config), label, 0, on_round=record)
    return [r.acquired_ids for r in result.records], reports


def test_the_scoring_section_reaches_the_learner() -> None:
    streamed = {**TINY, "scoring": {"max_log_probs_bytes": 1, "prefilter": 20}}
    for label in ("bald", "power_bald"):
        picks, reports = _trial(streamed, label)
        assert {r.path for r in reports if r is not None} == {"stream"}
        assert picks == _trial(TINY, label)[0]  # streamed: the same picks
    _, reports = _trial(streamed, "batchbald")
    assert {(r.mode, r.candidates) for r in reports if r is not None} == {("prefilter", 20)}
    _, reports = _trial(TINY, "batchbald")
    assert {r.path for r in reports if r is not None} == {"in_memory"}


def test_run_options_override_the_section(tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({**TINY, "strategies": ["bald"], "rounds": 1}))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", str(config), "--out", str(out), "--prefilter", "30", "--quiet"]
        + ["--score-executor", "local"],
    )
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["scoring"]["prefilter"] == 30 and resolved["scoring"]["executor"] == "local"
    bad = CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--prefilter", "x"])
    assert bad.exit_code == 2 and "--prefilter" in bad.output + bad.stderr
    lone = CliRunner().invoke(
        main, ["run", str(config), "--out", str(tmp_path / "o2"), "--ray-address", "auto"]
    )
    assert lone.exit_code == 2
    assert "needs --executor ray or --score-executor ray" in lone.output + lone.stderr
