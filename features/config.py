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
class LineRules:
    """Which order lines are returns, which are not products, which amounts are absurd.

    Real order-line exports mix purchases with cancellations, postage, fees and manual
    adjustments; counted as purchases they invent purchase days and revenue. The data
    contract applies these rules while loading, so every engine sees the same lines.
    """

    #: An ``order_id`` starting with this text is a cancellation (e.g. ``C``); null: off.
    cancellation_order_prefix: str | None = None
    #: ``product`` codes that are not goods (postage, fees, adjustments): quarantined as
    #: ``non_product_line``, compared case-insensitively.
    non_product_codes: tuple[str, ...] = (
        "POST",
        "DOT",
        "M",
        "BANK CHARGES",
        "AMAZONFEE",
        "CRUK",
        "C2",
        "D",
        "S",
        "B",
    )
    #: A line worth more than this (absolute value) is quarantined as ``absurd_amount``.
    max_abs_amount: float = 1e9

    def __post_init__(self) -> None:
        # YAML gives a list (or one code as text); a tuple keeps the rules hashable.
        codes = self.non_product_codes
        codes = (codes,) if isinstance(codes, str) else tuple(codes or ())
        object.__setattr__(self, "non_product_codes", tuple(str(code) for code in codes))


@dataclass(frozen=True)
class ReadingRules:
    """How much of a file may be quarantined before a command that learns from it refuses.

    A training run on a file whose dates or amounts were mostly unreadable learns from the
    few rows left and can still become champion; past this share ``winback train`` stops
    (``--allow-quarantine-share`` overrides for one run).
    """

    max_quarantine_share: float = 0.05
    #: Reasons that do not count toward the share: rows a shop's export holds by design
    #: (guest orders without a customer id, postage and fee lines), not signs of a misread
    #: file. They are still quarantined, counted and printed.
    expected_reasons: tuple[str, ...] = ("missing_customer_id", "non_product_line")

    def __post_init__(self) -> None:
        reasons = self.expected_reasons
        reasons = (reasons,) if isinstance(reasons, str) else tuple(reasons or ())
        object.__setattr__(self, "expected_reasons", tuple(str(r) for r in reasons))


@dataclass(frozen=True)
class FeatureConfig:
    """All thresholds the feature SQL uses. Defaults equal ``configs/features.yaml``."""

    cadence: CadenceRules = field(default_factory=CadenceRules)
    status: StatusRules = field(default_factory=StatusRules)
    abc: AbcRules = field(default_factory=AbcRules)
    xyz: XyzRules = field(default_factory=XyzRules)
    ladder: LadderRules = field(default_factory=LadderRules)
    lines: LineRules = field(default_factory=LineRules)
    reading: ReadingRules = field(default_factory=ReadingRules)

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
        if not 0 <= self.reading.max_quarantine_share <= 1:
            raise ConfigError("reading.max_quarantine_share must be between 0 and 1")
        if not self.lines.max_abs_amount > 0:
            raise ConfigError("lines.max_abs_amount must be positive")
        if self.lines.cancellation_order_prefix == "":
            raise ConfigError("lines.cancellation_order_prefix must be text or null, not empty")
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
