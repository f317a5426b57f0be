#!/usr/bin/env python3
"""Record every prompt in ``payivr.core.prompts.PROMPT_TEXTS`` as an Asterisk-ready WAV.

Writes ``sounds/<lang>/<id>.wav`` (8 kHz, 16-bit, mono) and ``sounds/<lang>/manifest.json``
(ids, texts, durations in ms) with Debian's ``espeak-ng`` and ``sox``. ``sox -R`` turns off
dithering noise, so the same texts give the same bytes and the committed files only change
when a text does. Files of prompts that no longer exist are removed.

    apt-get install -y espeak-ng sox
    python sounds/generate.py            # all languages
    python sounds/generate.py --lang es  # one language
    python sounds/generate.py --check    # exit 1 if the committed files are out of date

Asterisk finds them as ``sound:payivr/<lang>/<id>`` once this directory is mounted or copied
to ``/var/lib/asterisk/sounds/payivr``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

SOUNDS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SOUNDS_DIR.parent))

from payivr.core.prompts import PROMPT_TEXTS  # noqa: E402

VOICES = {"en": "en-us", "es": "es"}
WORDS_PER_MINUTE = "150"
SAMPLE_RATE = 8000
# Trim the silence espeak-ng leaves around speech, keep 100 ms at the end so prompts
# played back to back do not run into each other.
SOX_EFFECTS = ["gain", "-3", "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%",
               "reverse", "pad", "0", "0.1"]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        sys.exit(f"{name} not found: apt-get install -y espeak-ng sox")
    return path


def record(text: str, voice: str, target: Path, workdir: Path) -> None:
    raw = workdir / "raw.wav"
    # The arguments are our own prompt texts and paths, passed without a shell.
    subprocess.run(  # noqa: S603
        [tool("espeak-ng"), "-v", voice, "-s", WORDS_PER_MINUTE, "-w", str(raw), text],
        check=True,
    )
    subprocess.run(  # noqa: S603
        [tool("sox"), "-R", str(raw), "-r", str(SAMPLE_RATE), "-b", "16", "-c", "1",
         "-e", "signed-integer", str(target), *SOX_EFFECTS],
        check=True,
    )


def duration_ms(path: Path) -> int:
    with wave.open(str(path), "rb") as wav:
        return round(wav.getnframes() * 1000 / wav.getframerate())


def generate(language: str, out_dir: Path) -> None:
    texts = PROMPT_TEXTS[language]
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for prompt_id in sorted(texts):
            target = out_dir / f"{prompt_id}.wav"
            record(texts[prompt_id], VOICES[language], target, workdir)
            prompts[prompt_id] = {
                "text": texts[prompt_id],
                "file": target.name,
                "duration_ms": duration_ms(target),
            }
    for stale in out_dir.glob("*.wav"):
        if stale.stem not in texts:
            stale.unlink()
    manifest = {
        "language": language,
        "voice": f"espeak-ng {VOICES[language]}",
        "format": {"sample_rate": SAMPLE_RATE, "sample_width_bits": 16, "channels": 1},
        "prompts": prompts,
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def same_tree(left: Path, right: Path) -> bool:
    names = {p.name for p in left.iterdir()} | {p.name for p in right.iterdir()}
    return all(
        (left / n).is_file() and (right / n).is_file()
        and (left / n).read_bytes() == (right / n).read_bytes()
        for n in names
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", choices=sorted(PROMPT_TEXTS), action="append")
    parser.add_argument("--check", action="store_true",
                        help="generate into a scratch directory and compare with the files here")
    args = parser.parse_args(argv)
    for name in ("espeak-ng", "sox"):
        tool(name)
    outdated = []
    for language in args.lang or sorted(PROMPT_TEXTS):
        if language not in VOICES:
            parser.error(f"no espeak-ng voice configured for {language!r}")
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                generate(language, Path(tmp))
                if not (SOUNDS_DIR / language).is_dir() or not same_tree(
                    Path(tmp), SOUNDS_DIR / language
                ):
                    outdated.append(language)
        else:
            generate(language, SOUNDS_DIR / language)
    if outdated:
        print(f"sounds out of date for: {', '.join(outdated)}; run sounds/generate.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
