"""configs/channels.yaml: documented defaults, validated edits, one-line errors."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from features.errors import ConfigError
from pipelines.cli import app
from pipelines.economics.channels import DEFAULT_CHANNELS_PATH, ChannelConfig, load_channel_config

runner = CliRunner()


def test_shipped_yaml_equals_the_built_in_defaults() -> None:
    assert load_channel_config(DEFAULT_CHANNELS_PATH) == ChannelConfig().validate()


def test_channels_are_ordered_by_cost_as_the_field_describes() -> None:
    channels = ChannelConfig().channels
    costs = {name: channel.cost for name, channel in channels.items()}
    assert min(costs, key=costs.get) in ("email", "special_offer")
    assert max(costs, key=costs.get) == "call_centre"
    assert costs["sms"] > costs["email"]
    assert channels["special_offer"].offer == "time_limited_offer"
    assert ChannelConfig().offers["time_limited_offer"].discount > 0


def test_prior_total_return_of_a_sleeper_is_in_the_fields_band() -> None:
    """For a sleeper who would come back on their own with probability 0.10, contacts by the
    shipped channels bring back 25-30% on average (the field's figure)."""
    config = ChannelConfig()
    totals = [0.10 + 0.90 * config.response_rate(name, "sleeping") for name in config.channels]
    assert 0.25 <= sum(totals) / len(totals) <= 0.30


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"margins": 0.3}, "unknown setting(s) ['margins']"),
        ({"margin": 1.5}, "margin must be in (0, 1]"),
        ({"channels": {"email": {"cost": -1, "response_rate": 0.1}}}, "email.cost must be"),
        ({"channels": {"email": {"cost": 1, "response_rate": 2}}}, "response_rate must be"),
        (
            {"channels": {"email": {"cost": 1, "response_rate": 0.1, "colour": "red"}}},
            "channels.email",
        ),
        (
            {"channels": {"email": {"cost": 1, "response_rate": 0.1, "offer": "nope"}}},
            "offer 'nope' is not an offer",
        ),
        (
            {"offer_rules": [{"offer": "gift", "when": {"ladder_stage": ["loyal"]}}]},
            "must end with a rule without conditions",
        ),
        (
            {"offer_rules": [{"offer": "gift", "when": {"weather": "rain"}}, {"offer": "default"}]},
            "unknown condition(s) ['weather']",
        ),
        ({"offers": {"default": {"text": "hello {name}"}}}, "offers.default.text"),
        ({"response_factor_by_status": {"lost": 3}}, "response_factor_by_status.lost"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path, edit, message) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(edit))
    with pytest.raises(ConfigError) as error:
        load_channel_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_cost_overrides_for_the_service() -> None:
    config = ChannelConfig().with_costs({"phone": 1.0})
    assert config.channels["phone"].cost == 1.0
    with pytest.raises(ConfigError, match="unknown channel 'fax'"):
        ChannelConfig().with_costs({"fax": 1.0})
    with pytest.raises(ConfigError, match="phone.cost must be positive"):
        ChannelConfig().with_costs({"phone": 0.0})


def test_rank_with_a_broken_channels_file_is_one_line(tmp_path, cdnow_scores_path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text("margin: [oops\n")
    result = runner.invoke(
        app,
        [
            "rank",
            "--scores",
            str(cdnow_scores_path),
            "--budget",
            "10",
            "--channels",
            str(path),
            "--out",
            str(tmp_path / "l.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "not valid YAML" in result.output
    assert len(result.output.strip().splitlines()) == 1
