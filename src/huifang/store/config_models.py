"""Configuration versions: follow-up policy, contact policy and scripts edited in the web app.

The packaged YAML files (`huifang/policies/*.yaml`, `huifang/scripts/*.yaml`) are the
defaults. A manager can save a new version of one of them (the whole YAML text, validated by
the same domain validators as the files) and activate it; the services then load the active
stored version instead of the file (`services/configs.py`).

- `config_versions`: every saved version, never updated or deleted — kind (`script`,
  `followup_policy`, `contact_policy`), name (the script id; `followup` / `contact` for the
  policies), the document's own `version` number (unique per kind and name, so a visit that
  names script ``routine`` v3 always means the same text), the YAML text, its SHA-256, who
  saved it, when and why.
- `config_active`: which stored version is in force for a kind and name; no row, or a row
  whose `version_id` is NULL, means the packaged file. Who activated it and when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)


class ConfigVersion(Base):
    """One saved version of a policy or script document (策略/话术版本)."""

    __tablename__ = "config_versions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(TZ)
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("config_versions.id"))

    __table_args__ = (
        UniqueConstraint("kind", "name", "version", name="uq_config_versions_kind_name_version"),
    )


class ConfigActive(Base):
    """The version in force for one document; NULL `version_id` = the packaged file."""

    __tablename__ = "config_active"
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("config_versions.id"))
    activated_by: Mapped[str] = mapped_column(String(60))
    activated_at: Mapped[datetime] = mapped_column(TZ)
