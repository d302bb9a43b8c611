"""Secrets enter through one reader and leave only as ``***`` (pipeline_steps/secrets.py).

Aspects: a token from an environment variable or a file is stripped of surrounding white space (a
Kubernetes secret mounted as a variable, ``echo token > file``: both end in a line break, which
went into the HTTP header, where requests refused it in an exception quoting the header: the
token landed in evaluation.json, JUnit, the summary and the console); a line break or control
character inside it, or bytes that are not UTF-8, are bad input naming the variable or file and
never the value; a ``Secret`` masks itself in every string form and ``redact_all``/``redact_data``
mask it in text and documents, keys included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.errors import BadInputError
from pipeline_steps.secrets import MASK, Secret, read_secret, redact_all, redact_data


@pytest.mark.parametrize("raw", ["tok-123\n", "tok-123\r\n", "  tok-123  ", "\ttok-123\n\n"])
def test_surrounding_white_space_is_stripped_from_env_and_file(raw: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ENV", raw)
    env_secret = read_secret(env="T_ENV", what="test token")
    assert env_secret is not None and env_secret.reveal() == "tok-123"
    (tmp_path / "t").write_text(raw)
    file_secret = read_secret(file=str(tmp_path / "t"), what="test token")
    assert file_secret is not None and file_secret.reveal() == "tok-123"


@pytest.mark.parametrize("raw", ["sec\n123", "sec\r123", "sec\x00123", "sec\x1b[2J123"])
def test_a_control_character_inside_is_bad_input_never_showing_the_value(raw: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if "\x00" not in raw:  # no environment can hold a NUL
        monkeypatch.setenv("T_ENV", raw)
        with pytest.raises(BadInputError) as err:
            read_secret(env="T_ENV", what="test token")
        assert err.value.source == "T_ENV" and "line break or control character" in str(err.value)
        assert "sec" not in str(err.value) and "123" not in str(err.value)
    (tmp_path / "t").write_text(raw)
    with pytest.raises(BadInputError) as err:
        read_secret(file=str(tmp_path / "t"), what="test token")
    assert err.value.source == str(tmp_path / "t") and "123" not in str(err.value)


def test_bytes_that_are_not_utf8_are_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t").write_bytes(b"tok\xff123\n")
    with pytest.raises(BadInputError, match="not UTF-8") as err:
        read_secret(file=str(tmp_path / "t"), what="test token")
    assert "123" not in str(err.value)
    monkeypatch.setenv("T_ENV", "tok\udcff123")  # how the OS hands over a variable that is not UTF-8
    with pytest.raises(BadInputError, match="not UTF-8") as err:
        read_secret(env="T_ENV", what="test token")
    assert "123" not in str(err.value)


def test_absent_or_empty_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ENV", " \n")
    assert read_secret(env="T_ENV") is None and read_secret(env="T_UNSET_VARIABLE") is None and read_secret() is None


def test_a_secret_masks_itself_and_is_masked_in_text_and_documents() -> None:
    secret = Secret("s3cr3t")
    assert str(secret) == MASK and repr(secret) == f"Secret({MASK})" and f"{secret}" == MASK
    assert redact_all("a s3cr3t b s3cr3t", [None, secret]) == f"a {MASK} b {MASK}"
    assert redact_data({"s3cr3t": ["x s3cr3t", 1]}, [secret]) == {MASK: [f"x {MASK}", 1]}
