"""Several payivr instances on one database: who each is (README "Running several PBXs")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """A running payivr: its instance name and the entity id of the Asterisk it serves."""

    instance: str
    asterisk_id: str

    @property
    def session_settings(self) -> dict[str, str]:
        """Set on each database session: the rows it inserts record them (migration 0010)."""
        return {"payivr.instance": self.instance, "payivr.asterisk_id": self.asterisk_id}

