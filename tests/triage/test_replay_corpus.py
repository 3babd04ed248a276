"""The similarity layer's targets on the bundled corpus, through the whole replay (model → similarity →
policy), with the session model trained on that corpus — the model `make run` ships. Its categories and
topic vocabulary have seen these texts, so this guards against regressions; BENCHMARKS.md also gives the
numbers of a model that never saw the bursts or the repeat complaints.
"""

from __future__ import annotations

import json

import pytest

from bench.replay_quality import measure
from triage.policy import load_policy
from triage.replay import read_complaints, replay
from triage.service import TriageService

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replayed(trained_model, corpus_path, tmp_path_factory):
    policy = load_policy()
    service = TriageService(trained_model, policy, TriageService.new_similarity(trained_model, policy))
    out = tmp_path_factory.mktemp("replay")
    summary = replay(service, read_complaints(corpus_path, policy), out)
    return summary, measure(out, corpus_path), out


def test_repeat_flags_are_precise_and_complete(replayed):
    repeat = replayed[1]["repeat"]
    assert repeat["precision"] >= 0.9 and repeat["recall"] >= 0.9, repeat
    assert repeat["repeat_count_exact"] >= 0.9, repeat


def test_new_facts_agree_with_the_corpus_labels(replayed):
    assert replayed[1]["repeat"]["new_facts_agreement"] >= 0.9


@pytest.mark.parametrize("burst", ["sys-b1", "cs-b1", "fund-b1", "fee-b1", "info-b1"])
def test_every_burst_of_five_or_more_customers_alerts_before_its_eighth_complaint(replayed, burst):
    row = replayed[1]["groups"]["bursts"][burst]
    assert row["alerted_at_complaint"] is not None and row["alerted_at_complaint"] < 8, row


def test_a_burst_of_four_customers_does_not_alert(replayed):
    assert replayed[1]["groups"]["bursts"]["svc-b1"]["alerted_at_complaint"] is None


def test_at_most_one_false_group_alert_per_thousand_complaints(replayed):
    groups = replayed[1]["groups"]
    assert groups["false_alerts_per_1000"] <= 1.0, groups["false_alerts"]


def test_every_decision_carries_the_similarity_findings_and_the_escalations_follow(replayed):
    summary, _, out = replayed
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").open(encoding="utf-8")]
    assert len(decisions) == summary.complaints == 995
    times = [d["received_at"] for d in decisions]
    assert times == sorted(times)
    third = [d for d in decisions if d["repeat"]["repeat_count"] >= 3]
    assert third and all("投诉处理主管" in [e["target"] for e in d["escalations"]] for d in third)
    alerted = [d for d in decisions if d["group"]["alert"]]
    assert alerted and all(any(r["rule"] == "R-GROUP" for r in d["tier"]["reasons"]) for d in alerted)
    assert all(d["group"]["distinct_customers"] >= 5 for d in alerted)


def test_clusters_json_describes_each_alert(replayed):
    _, _, out = replayed
    clusters = json.loads((out / "clusters.json").read_text(encoding="utf-8"))
    assert len(clusters) == 5
    for cluster in clusters:
        assert cluster["cluster_id"].startswith("G") and cluster["alert"] in {"emerging", "major"}
        assert len(cluster["label"]) == 5 and all(isinstance(w, str) and w for w in cluster["label"])
        assert cluster["peak_distinct_customers"] >= 5
        assert cluster["first_seen"] <= cluster["first_alert_at"] <= cluster["last_seen"]
        assert cluster["representative"] in cluster["members"]
