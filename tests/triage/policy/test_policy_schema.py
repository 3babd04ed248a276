"""The policy file: the bundled default loads and `triage policy check` accepts it; broken files are
refused with a non-zero exit and a message that names the key at fault.

Each broken policy is the bundled default, read with tomllib, edited as a dict and written back with the
small TOML writer below (or edited as text, for syntax errors), so every case breaks exactly one thing.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from datetime import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage.cli import app
from triage.policy import Policy, PolicyError, load_policy
from triage.policy.schema import DEFAULT_POLICY, SIGNAL_KINDS, TIER_ORDER

DEFAULT_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")
DEFAULT_DATA = tomllib.loads(DEFAULT_TEXT)


# --- a tiny TOML writer (enough for the policy: scalars, times, lists, tables, arrays of tables) --------


def _key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)  # a JSON string is a TOML basic string


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(data: dict) -> str:
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items()
             if not isinstance(v, dict) and not _is_table_array(v)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{_key(key)}]"] + [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{_key(key)}]]"] + [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def write_policy(directory: Path, data: dict, name: str = "policy.toml") -> Path:
    path = directory / name
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def squash(text: str) -> str:
    """The CLI's rich console wraps long messages at the terminal width: compare without whitespace."""
    return re.sub(r"\s+", "", text)


def check(path: Path | str):
    return CliRunner().invoke(app, ["policy", "check", str(path)])


def assert_clean_failure(result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error:"), result.stderr
    for fragment in fragments:
        assert squash(fragment) in squash(result.stderr), (fragment, result.stderr)


# --- the default ----------------------------------------------------------------------------------------


def test_bundled_default_loads():
    policy = load_policy()
    assert isinstance(policy, Policy)
    assert policy.version == DEFAULT_DATA["version"]
    assert set(policy.tiers) == set(TIER_ORDER)
    assert len(policy.categories) == 9
    assert policy.fallback_department == "客服中心"
    assert policy.timezone == "Asia/Shanghai"
    assert policy.working_hours.start == time(9) and policy.working_hours.end == time(17)
    rule_ids = [r.id for r in policy.rules]
    assert rule_ids == ["R-DISTRESS", "R-VIOLENCE", "R-ESSENTIAL-FUNDS", "R-FUND-LOSS-LARGE", "R-ADVANCE-FEE-SCAM",
                        "R-FUND-LOSS", "R-UNKNOWN-CREDIT-LARGE", "R-UNKNOWN-CREDIT", "R-LEAK-WIDE", "R-LEAK", "R-GROUP",
                        "R-REPEAT", "R-COLLECTION", "R-EXTERNAL", "R-MANY-AFFECTED", "R-LARGE-AMOUNT"]
    for rule in policy.rules:
        assert set(rule.when.signals_any) | set(rule.when.signals_all) <= set(SIGNAL_KINDS)


def test_loading_by_path_equals_the_bundled_default(tmp_path):
    path = tmp_path / "default.toml"
    path.write_text(DEFAULT_TEXT, encoding="utf-8")
    assert load_policy(path) == load_policy()


def test_toml_writer_round_trips_the_default(tmp_path):
    path = write_policy(tmp_path, DEFAULT_DATA)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == DEFAULT_DATA
    assert load_policy(path) == load_policy()


def test_policy_is_frozen():
    policy = load_policy()
    with pytest.raises(ValueError):
        policy.version = "edited"  # type: ignore[misc]


def test_check_accepts_the_default():
    result = check(DEFAULT_POLICY)
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert DEFAULT_DATA["version"] in result.stdout
    assert "16 rules" in result.stdout and "9 categories" in result.stdout


def test_check_accepts_a_rewritten_copy(tmp_path):
    result = check(write_policy(tmp_path, DEFAULT_DATA))
    assert result.exit_code == 0, result.output


# --- broken policies: each breaks one thing -------------------------------------------------------------


def _missing_tier(d):
    del d["tiers"]["green"]


def _negative_respond(d):
    d["tiers"]["yellow"]["respond_working_days"] = -1


def _negative_investigate(d):
    d["tiers"]["red"]["investigate_working_days"] = -3


def _unknown_tier_key(d):
    d["tiers"]["red"]["respond_hours"] = 4


def _unknown_signal(d):
    d["rules"][0]["when"]["signals_any"] = ["telepathy"]


def _unknown_signal_all(d):
    d["rules"][3]["when"]["signals_all"] = ["data_leak", "rumour"]


def _unknown_category_in_rule(d):
    d["rules"][0]["when"]["categories"] = ["投诉其他"]


def _duplicate_rule_id(d):
    d["rules"][2]["id"] = "R-FUND-LOSS-LARGE"


def _empty_condition(d):
    d["rules"][0]["when"] = {}


def _unknown_floor(d):
    d["rules"][0]["floor"] = "purple"


def _approval_out_of_order(d):
    d["approval"][0], d["approval"][1] = d["approval"][1], d["approval"][0]


def _last_approval_bounded(d):
    d["approval"][-1]["up_to"] = 1_000_000


def _approval_both_bounds(d):
    d["approval"][0]["up_to"] = 2000


def _no_approval(d):
    d["approval"] = []


def _bad_timezone(d):
    d["timezone"] = "Mars/Olympus"


def _end_before_start(d):
    d["working_hours"]["end"] = time(8, 0)


def _end_equals_start(d):
    d["working_hours"]["end"] = time(9, 0)


def _unknown_top_level_key(d):
    d["colour"] = "blue"


def _missing_fallback_department(d):
    del d["fallback_department"]


def _unknown_signal_in_review(d):
    d["review"]["signal_categories"]["rumour"] = ["其他"]


def _unknown_category_in_review(d):
    d["review"]["signal_categories"]["fund_loss"].append("投诉其他")


def _register_longer_than_a_day(d):
    d["clocks"]["register_working_hours"] = 9


def _zero_decide_days(d):
    d["clocks"]["decide_days"] = 0


def _review_threshold_above_one(d):
    d["review"]["red_min_tier_confidence"] = 1.5


def _category_without_cause(d):
    del d["categories"]["其他"]["cause"]


def _repeat_at_one(d):
    d["escalation"]["repeat_supervisor_at"] = 1


def _major_below_emerging(d):
    d["similarity"]["groups"]["major_customers"] = 3


def _spike_longer_than_window(d):
    d["similarity"]["groups"]["spike_hours"] = 14 * 24


def _repeat_window_zero(d):
    d["similarity"]["repeat"]["window_days"] = 0


def _unknown_similarity_key(d):
    d["similarity"]["groups"]["windw_days"] = 7


BROKEN = [
    pytest.param(_missing_tier, ["tiers", "missing tier", "green"], id="missing_tier_green"),
    pytest.param(_negative_respond, ["tiers.yellow.respond_working_days", "greater than or equal to 0"],
                 id="negative_respond_working_days"),
    pytest.param(_negative_investigate, ["tiers.red.investigate_working_days"], id="negative_investigate_days"),
    pytest.param(_unknown_tier_key, ["tiers.red.respond_hours", "Extra inputs are not permitted"],
                 id="unknown_key_in_tier"),
    pytest.param(_unknown_signal, ["rules.0.when.signals_any", "unknown signal", "telepathy"],
                 id="unknown_signal_in_rule"),
    pytest.param(_unknown_signal_all, ["rules.3.when.signals_all", "rumour"], id="unknown_signal_in_signals_all"),
    pytest.param(_unknown_category_in_rule, ["rules.R-DISTRESS.when.categories", "unknown category", "投诉其他"],
                 id="unknown_category_in_rule"),
    pytest.param(_duplicate_rule_id, ["rules", "duplicate id", "R-FUND-LOSS-LARGE"], id="duplicate_rule_id"),
    pytest.param(_empty_condition, ["rules.0.when", "at least one condition"], id="rule_without_condition"),
    pytest.param(_unknown_floor, ["rules.0.floor", "'red', 'yellow' or 'green'"], id="unknown_floor"),
    pytest.param(_approval_out_of_order, ["approval", "ascending order"], id="approval_out_of_order"),
    pytest.param(_last_approval_bounded, ["approval", "last approval level must have no bound"],
                 id="last_approval_level_bounded"),
    pytest.param(_approval_both_bounds, ["approval.0", "not both"], id="approval_below_and_up_to"),
    pytest.param(_no_approval, ["approval", "last approval level"], id="no_approval_levels"),
    pytest.param(_bad_timezone, ["timezone", "unknown time zone", "Mars/Olympus"], id="invalid_timezone"),
    pytest.param(_end_before_start, ["working_hours", "end 08:00:00 must be after start 09:00:00"],
                 id="working_hours_end_before_start"),
    pytest.param(_end_equals_start, ["working_hours", "must be after start"], id="working_hours_empty"),
    pytest.param(_unknown_top_level_key, ["colour", "Extra inputs are not permitted"], id="unknown_top_level_key"),
    pytest.param(_missing_fallback_department, ["fallback_department", "Field required"],
                 id="missing_fallback_department"),
    pytest.param(_unknown_signal_in_review, ["review.signal_categories", "rumour"], id="unknown_signal_in_review"),
    pytest.param(_unknown_category_in_review, ["review.signal_categories.fund_loss", "投诉其他"],
                 id="unknown_category_in_review"),
    pytest.param(_register_longer_than_a_day, ["clocks.register_working_hours", "longer than a working day"],
                 id="register_longer_than_working_day"),
    pytest.param(_zero_decide_days, ["clocks.decide_days", "greater than 0"], id="zero_decide_days"),
    pytest.param(_review_threshold_above_one, ["review.red_min_tier_confidence", "less than or equal to 1"],
                 id="review_threshold_above_one"),
    pytest.param(_category_without_cause, ["categories.其他.cause", "Field required"], id="category_without_cause"),
    pytest.param(_repeat_at_one, ["escalation.repeat_supervisor_at"], id="repeat_supervisor_at_one"),
    pytest.param(_major_below_emerging, ["similarity.groups", "major_customers (3) is below emerging_customers (4)"],
                 id="major_below_emerging"),
    pytest.param(_spike_longer_than_window, ["similarity.groups", "spike_hours (336.0) must be shorter"],
                 id="spike_longer_than_window"),
    pytest.param(_repeat_window_zero, ["similarity.repeat.window_days", "greater than or equal to 1"],
                 id="repeat_window_zero"),
    pytest.param(_unknown_similarity_key, ["similarity.groups.windw_days", "Extra inputs are not permitted"],
                 id="unknown_similarity_key"),
]


@pytest.mark.parametrize(("edit", "fragments"), BROKEN)
def test_check_refuses_a_broken_policy_and_names_the_key(tmp_path, edit, fragments):
    data = copy.deepcopy(DEFAULT_DATA)
    edit(data)
    path = write_policy(tmp_path, data, "broken.toml")
    result = check(path)
    assert_clean_failure(result, str(path), *fragments)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("edit", "fragments"), BROKEN)
def test_load_policy_raises_policy_error_naming_the_key(tmp_path, edit, fragments):
    data = copy.deepcopy(DEFAULT_DATA)
    edit(data)
    path = write_policy(tmp_path, data, "broken.toml")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_every_problem_is_listed(tmp_path):
    data = copy.deepcopy(DEFAULT_DATA)
    _negative_respond(data)
    _bad_timezone(data)
    _unknown_top_level_key(data)
    result = check(write_policy(tmp_path, data))
    assert_clean_failure(result, "tiers.yellow.respond_working_days", "timezone", "colour")
    assert len(result.stderr.strip().splitlines()) >= 3


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text(DEFAULT_TEXT.replace('version = "2026.11.30-default"', 'version = "2026.11.30-default'),
                    encoding="utf-8")
    result = check(path)
    assert_clean_failure(result, str(path), "not valid TOML")
    assert "Traceback" not in result.output


def test_an_unclosed_table_header_is_refused(tmp_path):
    path = tmp_path / "header.toml"
    path.write_text(DEFAULT_TEXT.replace("[working_hours]", "[working_hours"), encoding="utf-8")
    assert_clean_failure(check(path), "not valid TOML")


def test_a_missing_file_is_refused(tmp_path):
    path = tmp_path / "nowhere.toml"
    result = check(path)
    assert_clean_failure(result, str(path), "no such file")
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(path)


def test_an_empty_file_names_the_required_keys(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    result = check(path)
    assert_clean_failure(result, "version", "fallback_department", "tiers", "categories", "approval")


def test_a_text_edit_of_a_number_is_checked(tmp_path):
    """The way compliance would edit it: in the file, by hand."""
    path = tmp_path / "edited.toml"
    edited = DEFAULT_TEXT.replace("respond_working_days = 4", "respond_working_days = -4")
    assert edited != DEFAULT_TEXT
    path.write_text(edited, encoding="utf-8")
    assert_clean_failure(check(path), "tiers.green.respond_working_days")


def test_a_valid_edit_is_accepted_and_takes_effect(tmp_path):
    data = copy.deepcopy(DEFAULT_DATA)
    data["version"] = "2026.01-test"
    data["categories"]["营销宣传"]["department"] = "零售银行部"
    path = write_policy(tmp_path, data)
    result = check(path)
    assert result.exit_code == 0, result.output
    assert "2026.01-test" in result.stdout
    assert load_policy(path).categories["营销宣传"].department == "零售银行部"


# --- regressions: defects found and fixed ---------------------------------------------------------------


def test_a_value_that_looks_like_rich_markup_is_reported_cleanly(tmp_path):
    data = copy.deepcopy(DEFAULT_DATA)
    data["timezone"] = "[/]"
    result = check(write_policy(tmp_path, data))
    assert_clean_failure(result, "timezone", "[/]")
