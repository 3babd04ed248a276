"""What a group alert costs at the moment it is raised, inside the store's global order (the intake waits for it):
the members' latest decisions read, the library's regroup of each (`TriageService.escalate_group`), the new
decisions and routing written with the alert and its outbox row, in one transaction (SQLite, WAL,
synchronous=FULL). No model: decisions of hand-written predictions.

    python -m bench.group_alert_cost [MEMBERS ...]      # default 20 200 2000
"""

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from serving.alerts import alert_body
from serving.config import ServiceSettings
from serving.store import NewComplaint, Store, content_hash
from serving.store.alerts import new_alert_id
from triage.policy import PolicyEngine, load_policy
from triage.schemas import ComplaintIn, GroupAlertRaised, LabelProbability, Prediction
from triage.service import TriageService


def main(sizes: list[int]) -> None:
    policy = load_policy()
    engine = PolicyEngine(policy)
    service = TriageService(None, policy)  # type: ignore[arg-type]  # regrouping reads no model
    settings = ServiceSettings(data_dir=tempfile.mkdtemp(), sqlite_synchronous="FULL")
    store = Store(settings.store_url(), "FULL", settings.data_protector())
    now = datetime.now(UTC)
    for members in sizes:
        rows = []
        for i in range(members):
            text = f"伊景园滨河苑的车位被捆绑销售，开发商不给办理贷款，第{i}位业主"
            complaint = ComplaintIn(text=text, complaint_id=f"M{members}-{i}", customer_id=f"U{members}-{i}",
                                    received_at=now - timedelta(hours=1))
            prediction = Prediction(
                category="营销宣传", confidence=0.9,
                top_categories=[LabelProbability(label="营销宣传", probability=0.9)],
                tier="green", tier_confidence=0.9, tier_probabilities={"red": .05, "yellow": .05, "green": .9},
                needs_review=False, review_reasons=[], language="zh", truncated=False, masked_text=text,
                model_version="bench")
            decision = engine.decide(complaint, prediction)
            rows.append(NewComplaint(complaint, content_hash(complaint), decision, None, None))
        store.add_many(rows)
        alert = GroupAlertRaised(cluster_id=f"G{members:06d}", level="emerging", previous_level=None,
                                 distinct_customers=members, members=[r.decision.complaint_id for r in rows],
                                 trigger=rows[-1].decision.complaint_id, raised_at=now)
        started = time.perf_counter()
        with store.ordered():
            changes = service.escalate_group(alert, store.latest_decisions(alert.members))
            alert_id = new_alert_id(alert)
            store.record_alert(alert_id, alert, changes, alert_body(alert_id, alert, changes))
        seconds = time.perf_counter() - started
        print(f"{members:5d} members: {len(changes)} escalated in {seconds * 1000:.0f} ms "
              f"({seconds / members * 1000:.2f} ms each)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20, 200, 2000])
