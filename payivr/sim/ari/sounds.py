"""Sounds: which exist and how long they play, from Asterisk's sounds directory and mounts."""

from __future__ import annotations

import wave
from pathlib import Path

_SOUND_EXTENSIONS = (".wav", ".WAV", ".wav16", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722")
_BYTES_PER_SECOND = {
    ".gsm": 1650,
    ".ulaw": 8000,
    ".alaw": 8000,
    ".sln": 16000,
    ".sln16": 32000,
    ".g722": 8000,
}


class SoundLibrary:
    """How long media plays, and whether it exists.

    ``durations`` (name -> seconds, or ``None`` for a missing sound) wins; then files under
    ``sounds_dir`` (Asterisk's sounds root: ``<root>/<lang>/<name>.*`` or ``<root>/<name>.*``)
    and under mounted prefixes; a name found nowhere is missing when a directory could have
    held it, else it plays for ``default_duration``.
    """

    def __init__(
        self,
        sounds_dir: Path | None,
        durations: dict[str, float | None] | None = None,
        default_duration: float = 1.0,
    ) -> None:
        self.sounds_dir = sounds_dir
        self.durations: dict[str, float | None] = dict(durations or {})
        self.default_duration = default_duration
        self.mounts: dict[str, Path] = {}
        self._cache: dict[tuple[str, str], float | None] = {}

    def mount(self, prefix: str, directory: Path) -> None:
        """Make ``sound:<prefix>/...`` resolve under ``directory`` (as installing it there)."""
        self.mounts[prefix.strip("/")] = directory
        self._cache.clear()

    def duration(self, name: str, language: str) -> float | None:
        if name in self.durations:
            return self.durations[name]
        key = (name, language)
        if key not in self._cache:
            self._cache[key] = self._lookup(name, language)
        return self._cache[key]

    def _lookup(self, name: str, language: str) -> float | None:
        prefix, _, rest = name.partition("/")
        candidates: list[Path] = []
        if rest and prefix in self.mounts:
            candidates = [self.mounts[prefix] / rest]
        elif self.sounds_dir is not None:
            candidates = [self.sounds_dir / language / name, self.sounds_dir / name]
        else:
            return self.default_duration
        for base in candidates:
            for extension in _SOUND_EXTENSIONS:
                path = base.with_name(base.name + extension)
                if path.is_file():
                    return _file_duration(path)
        return None

    def names(self) -> list[str]:
        found: set[str] = set(n for n, d in self.durations.items() if d is not None)
        roots = [(self.sounds_dir, "")] if self.sounds_dir else []
        roots += [(path, prefix + "/") for prefix, path in self.mounts.items()]
        for root, prefix in roots:
            if root is None or not root.is_dir():
                continue
            for path in root.rglob("*"):
                if path.suffix in _SOUND_EXTENSIONS and path.is_file():
                    found.add(prefix + str(path.relative_to(root).with_suffix("")))
        return sorted(found)


def _file_duration(path: Path) -> float:
    if path.suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as sound:
                return sound.getnframes() / float(sound.getframerate())
        except (wave.Error, EOFError):
            return path.stat().st_size / 16000
    return path.stat().st_size / _BYTES_PER_SECOND.get(path.suffix, 8000)
