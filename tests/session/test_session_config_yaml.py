"""The session config file is read strictly: a key given twice is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bayesal.errors import ConfigError
from bayesal.session.config import load_session_config


def test_a_key_given_twice_in_a_session_config_is_refused_naming_both_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.yaml"
    config = {"data": {"kind": "image_folder", "path": "digits"}, "queue_size": 50}
    path.write_text(yaml.safe_dump(config, sort_keys=False) + "queue_size: 5\n")
    with pytest.raises(ConfigError, match="duplicate key 'queue_size': line 4 and line 5"):
        load_session_config(path)


def test_a_session_config_that_is_not_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    path.write_bytes(b"data: [\x00\x01")
    with pytest.raises(ConfigError, match="binary content"):
        load_session_config(path)
