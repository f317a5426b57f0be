"""The committed recordings match the prompt table: one file per prompt id and language."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from payivr.core.prompts import LANGUAGES, PROMPT_IDS, PROMPT_TEXTS

SOUNDS = Path(__file__).resolve().parents[2] / "sounds"


def shipped_languages() -> list[str]:
    return sorted(p.name for p in SOUNDS.iterdir() if (p / "manifest.json").is_file())


def test_every_language_of_the_prompt_table_is_shipped() -> None:
    assert shipped_languages() == sorted(LANGUAGES)
    assert len(LANGUAGES) >= 2


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_prompt_has_a_file_and_every_file_is_a_prompt(language: str) -> None:
    files = {p.stem for p in (SOUNDS / language).iterdir() if p.suffix == ".wav"}
    assert files == set(PROMPT_IDS)
    others = {p.name for p in (SOUNDS / language).iterdir() if p.suffix != ".wav"}
    assert others == {"manifest.json"}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_files_are_8khz_16bit_mono_wav(language: str) -> None:
    for path in sorted((SOUNDS / language).glob("*.wav")):
        with wave.open(str(path), "rb") as wav:
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1), path
            assert wav.getcomptype() == "NONE"
            assert wav.getnframes() > 0, path


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_manifest_matches_texts_and_files(language: str) -> None:
    manifest = json.loads((SOUNDS / language / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["language"] == language
    prompts = manifest["prompts"]
    assert set(prompts) == set(PROMPT_IDS)
    for prompt_id, entry in prompts.items():
        assert entry["text"] == PROMPT_TEXTS[language][prompt_id]
        assert entry["file"] == f"{prompt_id}.wav"
        with wave.open(str(SOUNDS / language / entry["file"]), "rb") as wav:
            expected = round(wav.getnframes() * 1000 / wav.getframerate())
        assert entry["duration_ms"] == expected


def test_recordings_stay_small() -> None:
    total = sum(p.stat().st_size for p in SOUNDS.rglob("*.wav"))
    assert total < 8 * 1024 * 1024
