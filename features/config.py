"""Feature rules loaded from ``configs/features.yaml`` (thresholds for status, ABC-XYZ, ladder)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from features.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "configs" / "features.yaml"


@dataclass(frozen=True)
class CadenceRules:
    min_typical_gap_days: float = 7.0
    default_typical_gap_days: float = 30.0


@dataclass(frozen=True)
class StatusRules:
    at_risk_cycles: float = 1.0
    sleeping_cycles: float = 2.0
    lost_cycles: float = 6.0
    lost_days: float = 365.0


@dataclass(frozen=True)
class AbcRules:
    a_share: float = 0.80
    b_share: float = 0.95


@dataclass(frozen=True)
class XyzRules:
    x_max_cv: float = 0.5
    y_max_cv: float = 1.0
    min_months: int = 3


@dataclass(frozen=True)
class LadderRules:
    client_min_purchase_days: int = 2
    regular_min_purchase_days: int = 4
    loyal_min_purchase_days: int = 6
    loyal_min_tenure_days: int = 180
    advocate_abc: str = "A"


@dataclass(frozen=True)
class FeatureConfig:
    """All thresholds the feature SQL uses. Defaults equal ``configs/features.yaml``."""

    cadence: CadenceRules = field(default_factory=CadenceRules)
    status: StatusRules = field(default_factory=StatusRules)
    abc: AbcRules = field(default_factory=AbcRules)
    xyz: XyzRules = field(default_factory=XyzRules)
    ladder: LadderRules = field(default_factory=LadderRules)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FeatureConfig:
        data = data or {}
        sections = {}
        for section in fields(cls):
            section_cls = section.default_factory  # type: ignore[misc]
            values = data.get(section.name) or {}
            known = {f.name for f in fields(section_cls)}
            unknown = set(values) - known
            if unknown:
                raise ConfigError(
                    f"unknown feature setting(s) {sorted(unknown)} in section {section.name!r}; "
                    f"known: {sorted(known)}"
                )
            sections[section.name] = section_cls(**values)
        return cls(**sections)

    def validate(self) -> FeatureConfig:
        s = self.status
        if not 0 < s.at_risk_cycles <= s.sleeping_cycles <= s.lost_cycles:
            raise ConfigError("status thresholds must satisfy 0 < at_risk <= sleeping <= lost")
        if not 0 < self.abc.a_share <= self.abc.b_share <= 1:
            raise ConfigError("abc shares must satisfy 0 < a_share <= b_share <= 1")
        if not 0 <= self.xyz.x_max_cv <= self.xyz.y_max_cv:
            raise ConfigError("xyz thresholds must satisfy 0 <= x_max_cv <= y_max_cv")
        return self


def load_feature_config(path: str | Path | None = None) -> FeatureConfig:
    """Read the YAML rules; a missing default file means built-in defaults."""
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    if not path.exists():
        if path == DEFAULT_CONFIG_PATH:
            return FeatureConfig()
        raise ConfigError(f"{path}: feature config not found")
    try:
        with path.open() as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    try:
        return FeatureConfig.from_dict(data).validate()
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"{path}: {error}") from None
