"""Group complaints: online clustering of the recent complaints of all customers, and the alert.

Why a spike and not a cluster's size: in a fortnight a bank receives many complaints on every common
theme, so "five customers in one cluster" fires all the time. A group complaint is a *burst*: more
customers than usual, in a short time, about one thing. The alert therefore compares how many distinct
customers complained about something similar in the last `spike_hours` with how often that happened
earlier in the window (the neighbourhood's own baseline). Measured on the corpus with pairwise
thresholds and cluster sizes alone: 4–22 false alerts, or bursts missed; with the spike test: see
`triage replay` and BENCHMARKS.md.

Clusters give the alert an identity that grows: a complaint joins the cluster with the highest average
similarity to its members (average linkage: one odd member can't chain two topics together), clusters
that converge merge under the older id, and members leave when they fall out of the window.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import numpy as np
from rapidfuzz import fuzz

from triage.policy.schema import CoordinatedDetection, GroupDetection
from triage.schemas import CoordinatedInfo, GroupAlert, GroupInfo
from triage.similarity.index import AutoIndex

_LEVEL = {None: 0, "emerging": 1, "major": 2}
REMOVAL_BATCH = 256  # usearch removals cost a pass each: expire in batches (search skips stale entries)


def cluster_name(number: int) -> str:
    return f"G{number:06d}"


def cluster_number(name: str) -> int | None:
    """The inverse of cluster_name; None for a string that is not a cluster id."""
    return int(name[1:]) if len(name) > 1 and name[0] == "G" and name[1:].isdigit() else None


def _discount(counter: Counter, items) -> None:
    """Take items out of a counter, dropping what reaches zero (so len() counts what is present)."""
    for item in items:
        left = counter[item] - 1
        if left > 0:
            counter[item] = left
        else:
            del counter[item]


def _iso(at: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat(timespec="seconds")


@dataclass(slots=True)
class Member:
    key: int
    complaint_id: str
    customer: str
    at: float  # epoch seconds
    channel: str | None
    product: str | None
    vector: np.ndarray  # float16: what is added to and later subtracted from the cluster's sum
    words: str  # jieba words of the masked text, space-joined: labels and the copy-paste comparison
    cluster: int = -1
    campaign: int | None = None  # key of the first complaint of a copy-paste campaign it belongs to


@dataclass(slots=True)
class Cluster:
    number: int
    first_seen: float
    last_seen: float
    members: set[int] = field(default_factory=set)
    total: np.ndarray | None = None  # float32 sum of member vectors: average linkage in one dot product
    customers: Counter[str] = field(default_factory=Counter)
    ever: list[str] = field(default_factory=list)  # complaint ids of every member, expired ones too
    alert: GroupAlert | None = None
    first_alert_at: float | None = None
    merged_from: list[int] = field(default_factory=list)
    representative: str | None = None  # the member that was most similar to the cluster when it joined
    representative_score: float = -math.inf
    peak_customers: int = 0
    label: list[str] = field(default_factory=list)  # cached c-TF-IDF keywords (see GroupDetector.refresh_label)
    labelled_size: int = 0

    @property
    def id(self) -> str:
        return cluster_name(self.number)

    def similarity(self, vector: np.ndarray) -> float:
        """Average similarity of `vector` to the members."""
        assert self.total is not None
        return float(np.dot(self.total, vector)) / len(self.members)

    def linkage(self, other: Cluster) -> float:
        """Average similarity between the members of two clusters."""
        assert other.total is not None
        return self.similarity(other.total) / len(other.members)


class GroupDetector:
    def __init__(self, config: GroupDetection, dim: int, index_threshold: int = 20_000, zone: tzinfo = UTC):
        self.config = config
        self.zone = zone  # for the times in summaries
        self.index = AutoIndex(dim, threshold=index_threshold)
        self.members: dict[int, Member] = {}
        self.clusters: dict[int, Cluster] = {}
        # Clusters that ever alerted: None while alive (summarised on demand), the last summary once expired.
        self.alerted: dict[int, dict | None] = {}
        self.window_terms: Counter[str] = Counter()
        self.campaigns: dict[int, set[int]] = {}  # campaign → keys of its members in the window
        self._expiry: deque[tuple[float, int]] = deque()
        self._pending_removal: list[int] = []
        self._next_cluster = 1
        self.now = -math.inf

    @property
    def window_seconds(self) -> float:
        return self.config.window_days * 86400.0

    # ---- the window ------------------------------------------------------------------------------
    def neighbours(self, vector: np.ndarray, at: float) -> list[tuple[Member, float]]:
        """The most similar complaints still in the window, most similar first."""
        if not len(self.index):
            return []
        # Expired entries wait in the index for a batched removal: ask for that many more, so they can't
        # crowd live neighbours out of the top k.
        k = min(self.config.neighbours + len(self._pending_removal), len(self.index))
        scores, keys = self.index.search(vector[None, :], k)
        horizon = at - self.window_seconds
        found = []
        for score, key in zip(scores[0], keys[0], strict=True):
            member = self.members.get(int(key))
            if member is not None and horizon <= member.at <= at:
                found.append((member, float(score)))
        return found

    def expire(self, now: float) -> None:
        self.now = max(self.now, now)
        horizon = self.now - self.window_seconds
        while self._expiry and self._expiry[0][0] < horizon:
            _, key = self._expiry.popleft()
            member = self.members.pop(key, None)
            if member is None:
                continue
            self._leave(member)
            self._pending_removal.append(key)
            if member.campaign is not None:
                self._campaign_leave(member)
        if len(self._pending_removal) >= REMOVAL_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending_removal:
            self.index.remove(self._pending_removal)
            self._pending_removal = []

    def _leave(self, member: Member) -> None:
        cluster = self.clusters[member.cluster]
        cluster.members.discard(member.key)
        assert cluster.total is not None
        cluster.total -= member.vector
        _discount(cluster.customers, [member.customer])
        _discount(self.window_terms, set(member.words.split()))
        if not cluster.members:
            if cluster.number in self.alerted:
                self.alerted[cluster.number] = self.summary(cluster)
            del self.clusters[cluster.number]

    # ---- copy-paste campaigns ---------------------------------------------------------------------
    def coordinated(self, member: Member, neighbours: list[tuple[Member, float]],
                    config: CoordinatedDetection) -> CoordinatedInfo:
        """Link near-identical texts from other customers; call before `add`."""
        linked = [n for n, score in neighbours
                  if score >= config.min_cosine and n.customer != member.customer
                  and fuzz.ratio(member.words, n.words) >= config.min_text_similarity]
        if not linked:
            return CoordinatedInfo()
        # One campaign: the oldest one linked; campaigns this complaint bridges join it.
        existing = sorted({n.campaign for n in linked if n.campaign is not None})
        campaign = existing[0] if existing else min(n.key for n in linked)
        keys = self.campaigns.setdefault(campaign, set())
        for other in existing[1:]:
            for key in self.campaigns.pop(other):
                self.members[key].campaign = campaign
                keys.add(key)
        for n in [*linked, member]:
            n.campaign = campaign
            keys.add(n.key)
        return CoordinatedInfo(linked=[n.complaint_id for n in linked], count=len(keys))

    def _campaign_leave(self, member: Member) -> None:
        assert member.campaign is not None
        keys = self.campaigns.get(member.campaign)
        if keys is not None:
            keys.discard(member.key)
            if not keys:
                del self.campaigns[member.campaign]

    # ---- adding a complaint ------------------------------------------------------------------------
    def add(self, member: Member, neighbours: list[tuple[Member, float]]) -> GroupInfo:
        config = self.config
        vector = member.vector.astype(np.float32)
        # Candidate clusters: those of the neighbours. Average linkage decides which one, if any.
        candidates = {n.cluster for n, _ in neighbours}
        best, best_score = None, -math.inf
        for number in candidates:
            cluster = self.clusters[number]
            score = cluster.similarity(vector)
            needed = config.pair_similarity if len(cluster.members) == 1 else config.join_similarity
            if score >= needed and score > best_score:
                best, best_score = cluster, score
        if best is None:
            best = self._open(member.at)
        self._join(best, member, best_score)

        # Converging clusters merge under the older id.
        for number in candidates - {best.number}:
            other = self.clusters.get(number)
            if other is None or len(best.members) + len(other.members) < 3:
                continue
            if best.linkage(other) >= config.merge_similarity:
                best = self._merge(best, other)

        best = self._spike(member, neighbours, best)
        self._update_alert(best)
        return GroupInfo(cluster_id=best.id, cluster_size=len(best.members),
                         distinct_customers=len(best.customers), alert=best.alert)

    def _open(self, at: float) -> Cluster:
        cluster = Cluster(number=self._next_cluster, first_seen=at, last_seen=at)
        self._next_cluster += 1
        self.clusters[cluster.number] = cluster
        return cluster

    def _join(self, cluster: Cluster, member: Member, score: float) -> None:
        vector = member.vector.astype(np.float32)
        member.cluster = cluster.number
        self.members[member.key] = member
        self.index.add([member.key], vector[None, :])
        self._expiry.append((member.at, member.key))
        cluster.members.add(member.key)
        cluster.total = vector.copy() if cluster.total is None else cluster.total + vector
        cluster.customers[member.customer] += 1
        cluster.peak_customers = max(cluster.peak_customers, len(cluster.customers))
        cluster.ever.append(member.complaint_id)
        cluster.first_seen = min(cluster.first_seen, member.at)
        cluster.last_seen = max(cluster.last_seen, member.at)
        if cluster.representative is None or score > cluster.representative_score:
            cluster.representative, cluster.representative_score = member.complaint_id, score
        self.window_terms.update(set(member.words.split()))

    def _merge(self, a: Cluster, b: Cluster) -> Cluster:
        keep, gone = (a, b) if a.number < b.number else (b, a)
        for key in gone.members:
            self.members[key].cluster = keep.number
        keep.members |= gone.members
        assert keep.total is not None and gone.total is not None
        keep.total = keep.total + gone.total
        keep.customers += gone.customers
        keep.peak_customers = max(keep.peak_customers, gone.peak_customers, len(keep.customers))
        keep.ever += gone.ever
        keep.first_seen = min(keep.first_seen, gone.first_seen)
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        if _LEVEL[gone.alert] > _LEVEL[keep.alert]:
            keep.alert = gone.alert
        alerts = [t for t in (keep.first_alert_at, gone.first_alert_at) if t is not None]
        keep.first_alert_at = min(alerts) if alerts else None
        keep.merged_from += [gone.number, *gone.merged_from]
        if gone.representative_score > keep.representative_score:
            keep.representative, keep.representative_score = gone.representative, gone.representative_score
        del self.clusters[gone.number]
        if gone.number in self.alerted:
            del self.alerted[gone.number]
            self.alerted[keep.number] = None
        return keep

    def _spike(self, member: Member, neighbours: list[tuple[Member, float]], cluster: Cluster) -> Cluster:
        """Alert on a burst: many distinct customers, recently, about something similar to this."""
        config = self.config
        spike_seconds = config.spike_hours * 3600
        similar = [n for n, score in neighbours if score >= config.spike_similarity and n.key != member.key]
        recent = [n for n in similar if member.at - n.at <= spike_seconds and n.customer != member.customer]
        customers = {n.customer for n in recent} | {member.customer}
        if len(customers) < config.emerging_customers:
            return cluster
        earlier = sum(1 for n in similar if member.at - n.at > spike_seconds)
        if len(customers) / config.spike_hours < config.growth_ratio * self._baseline_rate(earlier):
            return cluster
        for number in {n.cluster for n in recent}:  # the burst is one event: one cluster
            other = self.clusters.get(number)
            if other is not None and other is not cluster:
                cluster = self._merge(cluster, other)
        if cluster.alert is None:
            cluster.alert = "emerging"
            cluster.first_alert_at = member.at
        return cluster

    def _baseline_rate(self, earlier: int) -> float:
        """Complaints per hour before the spike window, counting at least one (a quiet topic is not silent)."""
        return max(earlier, 1) / (self.config.window_days * 24 - self.config.spike_hours)

    def _update_alert(self, cluster: Cluster) -> None:
        if cluster.alert is None:
            return
        if len(cluster.customers) >= self.config.major_customers:
            cluster.alert = "major"
        self.alerted[cluster.number] = None
        self.refresh_label(cluster)  # so the alert keeps its words after its members expire

    # ---- reading ---------------------------------------------------------------------------------
    def refresh_label(self, cluster: Cluster) -> list[str]:
        """The cluster's keywords, recomputed when it has grown by 10 % (or 10 members) since the last time:
        c-TF-IDF reads every member's words, too much to redo for each complaint joining a large cluster."""
        size = len(cluster.members)
        if size and (not cluster.label or size - cluster.labelled_size >= max(10, cluster.labelled_size // 10)
                     or size < cluster.labelled_size):
            cluster.label, cluster.labelled_size = self.label(cluster), size
        return cluster.label

    def label(self, cluster: Cluster, top: int = 5) -> list[str]:
        """Top words by class-based TF-IDF (BERTopic's c-TF-IDF): frequent in this cluster, rare elsewhere."""
        terms = Counter(word for key in cluster.members for word in self.members[key].words.split())
        total = sum(terms.values())
        if not total:
            return []
        # Document frequencies over the window stand in for BERTopic's term frequency across classes.
        average = sum(self.window_terms.values()) / max(len(self.clusters), 1)
        weights = {term: (count / total) * math.log(1 + average / max(self.window_terms[term], 1))
                   for term, count in terms.items()}
        return [term for term, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]

    def summary(self, cluster: Cluster) -> dict:
        spike_seconds = self.config.spike_hours * 3600
        now = max(self.now, cluster.last_seen)
        recent = sum(1 for key in cluster.members if now - self.members[key].at <= spike_seconds)
        baseline = self._baseline_rate(len(cluster.members) - recent)
        members = [self.members[key] for key in cluster.members]
        channels = Counter(m.channel for m in members if m.channel)
        products = Counter(m.product for m in members if m.product)
        return {
            "cluster_id": cluster.id,
            "label": self.refresh_label(cluster),
            "size": len(cluster.members),  # in the window now
            "distinct_customers": len(cluster.customers),
            "peak_distinct_customers": cluster.peak_customers,
            "total_members": len(cluster.ever),  # expired members included
            "channels": dict(channels.most_common()),
            "products": dict(products.most_common()),
            "first_seen": _iso(cluster.first_seen, self.zone),
            "last_seen": _iso(cluster.last_seen, self.zone),
            "growth": round((recent / self.config.spike_hours) / baseline, 2),
            "alert": cluster.alert,
            "first_alert_at": None if cluster.first_alert_at is None else _iso(cluster.first_alert_at, self.zone),
            "representative": cluster.representative,
            "merged_from": [cluster_name(n) for n in cluster.merged_from],
            "members": list(cluster.ever),
        }

    def active(self, min_size: int = 2) -> list[dict]:
        """Summaries of the clusters in the window with at least `min_size` members, alerts first."""
        chosen = [c for c in self.clusters.values() if len(c.members) >= min_size]
        chosen.sort(key=lambda c: (-_LEVEL[c.alert], -len(c.customers), c.number))
        return [self.summary(c) for c in chosen]

    def alert_history(self) -> list[dict]:
        """Every cluster that ever alerted (its latest summary), in order of first alert."""
        summaries = [kept if kept is not None else self.summary(self.clusters[number])
                     for number, kept in self.alerted.items()]
        return sorted(summaries, key=lambda s: (s["first_alert_at"] or "", s["cluster_id"]))
