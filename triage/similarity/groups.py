"""Group complaints: online clustering of the recent complaints of all customers, and the alert.

What alerts is a root cause, not a topic. Topic vectors put "interest too high" complaints together all
day long, and on a real stream (tipdm's petition board) they gathered 2,672 of 4,306 messages into one
cluster that alerted "major" while the real group complaint alerted late and scattered. A group
complaint names its matter — a project, a platform, a branch, an outage on a date — so the alert is a
*matter*: terms of this complaint that more distinct customers used recently than their own past
explains (`terms.TermStats`, rarity learnt online from the stream), shared by the complaints of at
least `emerging_customers` customers and `emerging_complaints` complaints, at least `min_shared_terms`
of them each rarer than `max_term_share` before. A term burst is tested over two periods, `spike_hours`
(an outage: ten customers in a day) and `term_days` (a project's buyers writing in over weeks).

Clusters give complaints an identity that grows: a complaint joins the cluster with the highest average
similarity to its members (average linkage: one odd member can't chain two topics together), clusters
that converge merge under the older id, and members leave when they fall out of the window. When a
matter alerts, its complaints still in the window move into one cluster that carries the alert and its
shared terms; later complaints that carry those terms join it, whatever their topic vector says (a
vector cluster is a topic and would dilute the matter), and matter clusters never merge with topic
clusters.

An alert is announced once per level (`GroupAlertRaised`, taken by the caller with `take_raised`): `emerging`,
then `major`. A lead may dismiss it as not one incident (`dismiss`): the cluster keeps gathering its matter's
complaints but they carry no alert, until it grows — new distinct customers (not in it when it was dismissed)
at least `regrow_share` of those it had, and at least `regrow_customers` — and it is announced again.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import numpy as np
from rapidfuzz import fuzz

from triage.policy.schema import CoordinatedDetection, GroupDetection
from triage.schemas import CoordinatedInfo, GroupAlert, GroupAlertRaised, GroupInfo
from triage.similarity.index import AutoIndex
from triage.similarity.terms import TermBurst, TermStats, names_one_thing

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
    at: float  # epoch seconds of received_at
    channel: str | None
    product: str | None
    vector: np.ndarray  # float16: what is added to and later subtracted from the cluster's sum
    words: str  # jieba words of the masked text, space-joined: labels and the copy-paste comparison
    terms: frozenset[str] = frozenset()  # candidate terms of the whole text (terms.candidate_terms)
    cluster: int = -1
    campaign: int | None = None  # key of the first complaint of a copy-paste campaign it belongs to


@dataclass(slots=True)
class SharedTerm:
    """A term that makes an alerted cluster one matter, as it stood when the cluster last alerted."""

    term: str
    customers: int  # distinct customers who used it in the burst period
    expected: float  # complaints with it that its own baseline expected in that period
    weight: float  # rarity before the burst (log 1/share)

    def public(self) -> dict:
        growth = None if self.expected <= 0 else round(self.customers / self.expected, 1)
        return {"term": self.term, "customers": self.customers, "expected": round(self.expected, 2),
                "growth": growth}


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
    shared: list[SharedTerm] = field(default_factory=list)  # a matter cluster's terms; empty: a topic cluster

    @property
    def id(self) -> str:
        return cluster_name(self.number)

    @property
    def is_matter(self) -> bool:
        return bool(self.shared)

    def similarity(self, vector: np.ndarray) -> float:
        """Average similarity of `vector` to the members."""
        assert self.total is not None
        return float(np.dot(self.total, vector)) / len(self.members)

    def linkage(self, other: Cluster) -> float:
        """Average similarity between the members of two clusters."""
        assert other.total is not None
        return self.similarity(other.total) / len(other.members)

    def carried(self, terms: frozenset[str]) -> float:
        """Share of the matter's term weight that a complaint with these terms carries."""
        total = sum(s.weight for s in self.shared)
        return sum(s.weight for s in self.shared if s.term in terms) / total if total else 0.0


@dataclass(frozen=True, slots=True)
class Dismissal:
    """A lead said the cluster's alert is not one incident: its customers then, and how many new ones make it
    alert again."""

    customers: frozenset[str]
    regrow_at: int  # new distinct customers needed

    def new_customers(self, cluster: Cluster) -> int:
        return sum(1 for customer in cluster.customers if customer not in self.customers)


class GroupDetector:
    # Alert bookkeeping; class defaults so that a state saved before it existed loads (as "nothing announced
    # yet": `announced` then takes the alerted clusters as announced).
    _announced: dict[int, GroupAlert] | None = None  # cluster number -> level announced
    _dismissed: dict[int, Dismissal] | None = None
    _raised: list[GroupAlertRaised] | None = None  # announced, not yet taken by the caller

    def __init__(self, config: GroupDetection, dim: int, index_threshold: int = 20_000, zone: tzinfo = UTC):
        self.config = config
        self.zone = zone  # for the times in summaries
        self.index = AutoIndex(dim, threshold=index_threshold)
        self.members: dict[int, Member] = {}
        self.clusters: dict[int, Cluster] = {}
        # Clusters that ever alerted: None while alive (summarised on demand), the last summary once expired.
        self.alerted: dict[int, dict | None] = {}
        self.window_terms: Counter[str] = Counter()
        self.terms = TermStats(config.term_days * 86400.0, config.term_memory_days * 86400.0)
        self.campaigns: dict[int, set[int]] = {}  # campaign → keys of its members in the window
        self._expiry: deque[tuple[float, int]] = deque()
        self._pending_removal: list[int] = []
        self._next_cluster = 1
        self.now = -math.inf
        self.first_at = math.inf  # received_at of the earliest complaint seen: how much history there is
        self._announced, self._dismissed, self._raised = {}, {}, []

    @property
    def window_seconds(self) -> float:
        return self.config.window_days * 86400.0

    # ---- the window ------------------------------------------------------------------------------
    def neighbours(self, vector: np.ndarray, at: float) -> list[tuple[Member, float]]:
        """The most similar complaints still in the window and received no later than `at`, most similar
        first."""
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
        self._detach(member)
        _discount(self.window_terms, set(member.words.split()))

    def _detach(self, member: Member) -> None:
        """Take a member out of its cluster (expiry, or a move into a matter); an emptied cluster goes."""
        cluster = self.clusters[member.cluster]
        cluster.members.discard(member.key)
        assert cluster.total is not None
        cluster.total -= member.vector
        _discount(cluster.customers, [member.customer])
        if not cluster.members:
            if cluster.number in self.alerted:
                self.alerted[cluster.number] = self.summary(cluster)
            del self.clusters[cluster.number]
            self.announced.pop(cluster.number, None)
            self.dismissed.pop(cluster.number, None)

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
        self.first_at = min(self.first_at, member.at)
        self.terms.add(member.key, member.customer, member.at, member.terms)
        vector = member.vector.astype(np.float32)
        best, best_score = self._matter_for(member), -math.inf
        if best is None:
            # Candidate clusters: the topic clusters of the neighbours. Average linkage decides which one.
            candidates = {n.cluster for n, _ in neighbours if not self.clusters[n.cluster].is_matter}
            for number in candidates:
                cluster = self.clusters[number]
                score = cluster.similarity(vector)
                needed = config.pair_similarity if len(cluster.members) == 1 else config.join_similarity
                if score >= needed and score > best_score:
                    best, best_score = cluster, score
            if best is None:
                best = self._open(member.at)
            self._join(best, member, best_score)
            # Converging topic clusters merge under the older id.
            for number in candidates - {best.number}:
                other = self.clusters.get(number)
                if other is None or len(best.members) + len(other.members) < 3:
                    continue
                if best.linkage(other) >= config.merge_similarity:
                    best = self._merge(best, other)
        else:
            self._join(best, member, best.carried(member.terms))

        best = self._matter(member, neighbours, best)
        self._update_alert(best, member)
        return GroupInfo(cluster_id=best.id, cluster_size=len(best.members),
                         distinct_customers=len(best.customers), alert=self.effective_alert(best))

    def _open(self, at: float) -> Cluster:
        cluster = Cluster(number=self._next_cluster, first_seen=at, last_seen=at)
        self._next_cluster += 1
        self.clusters[cluster.number] = cluster
        return cluster

    def _join(self, cluster: Cluster, member: Member, score: float) -> None:
        vector = member.vector.astype(np.float32)
        self.members[member.key] = member
        self.index.add([member.key], vector[None, :])
        self._expiry.append((member.at, member.key))
        self.window_terms.update(set(member.words.split()))
        self._attach(cluster, member, score)
        cluster.ever.append(member.complaint_id)

    def _attach(self, cluster: Cluster, member: Member, score: float) -> None:
        vector = member.vector.astype(np.float32)
        member.cluster = cluster.number
        cluster.members.add(member.key)
        cluster.total = vector.copy() if cluster.total is None else cluster.total + vector
        cluster.customers[member.customer] += 1
        cluster.peak_customers = max(cluster.peak_customers, len(cluster.customers))
        cluster.first_seen = min(cluster.first_seen, member.at)
        cluster.last_seen = max(cluster.last_seen, member.at)
        if cluster.representative is None or score > cluster.representative_score:
            cluster.representative, cluster.representative_score = member.complaint_id, score

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
        keep.shared = _union(keep.shared, gone.shared)
        if gone.representative_score > keep.representative_score:
            keep.representative, keep.representative_score = gone.representative, gone.representative_score
        del self.clusters[gone.number]
        if gone.number in self.alerted:
            del self.alerted[gone.number]
            self.alerted[keep.number] = None
        self._merge_alerts(keep, gone)
        return keep

    def _merge_alerts(self, keep: Cluster, gone: Cluster) -> None:
        """The merged cluster has announced what either had; it stays dismissed only if every part that
        alerted was dismissed (a live alert absorbing a dismissed one stays live)."""
        announced, dismissed = self.announced, self.dismissed
        keep_level, gone_level = announced.get(keep.number), announced.pop(gone.number, None)
        if keep_level or gone_level:
            announced[keep.number] = keep_level if _LEVEL[keep_level] >= _LEVEL[gone_level] else gone_level  # type: ignore[assignment]
        kept, went = dismissed.pop(keep.number, None), dismissed.pop(gone.number, None)
        live = (keep_level is not None and kept is None) or (gone_level is not None and went is None)
        if live or (kept is None and went is None):
            return
        customers = (kept.customers if kept else frozenset()) | (went.customers if went else frozenset())
        dismissed[keep.number] = Dismissal(customers, self._regrow_at(len(customers)))

    # ---- matters: the alert ----------------------------------------------------------------------
    def _matter_for(self, member: Member) -> Cluster | None:
        """The live matter cluster whose terms this complaint carries (at least half their weight and
        `min_shared_terms` of them), the one it carries most of."""
        best, best_share = None, 0.0
        for number in list(self.alerted):
            cluster = self.clusters.get(number)
            if cluster is None or not cluster.is_matter:
                continue
            carried = sum(1 for s in cluster.shared if s.term in member.terms)
            share = cluster.carried(member.terms)
            enough = carried >= min(self.config.min_shared_terms, len(cluster.shared))
            if enough and share >= 0.5 and share > best_share:
                best, best_share = cluster, share
        return best

    def _matter(self, member: Member, neighbours: list[tuple[Member, float]], cluster: Cluster) -> Cluster:
        """Alert when this complaint's terms burst across customers (see the module docstring); the
        matter's complaints in the window then move into one cluster, which carries the alert."""
        config = self.config
        bursts = self.terms.bursts(member.at, member.terms, (config.spike_hours * 3600.0, config.term_days * 86400.0),
                                   config.emerging_customers, config.growth_ratio, config.term_p_value,
                                   config.spike_term_share)
        if not bursts:
            return cluster
        distinctive = [b for b in bursts if b.share <= config.max_term_share]
        found = self._by_terms(member, distinctive) or self._by_spike(member, neighbours, bursts)
        if found is None:
            return cluster
        keys, shared, weights = found
        # One matter, one cluster: the matter clusters its complaints are in already merge (the older id
        # stays); the others' complaints move in.
        alive = [self.members[key] for key in sorted(keys) if key in self.members]
        matters = sorted({m.cluster for m in alive if self.clusters[m.cluster].is_matter})
        # A topic cluster that holds nothing but the matter's complaints becomes the matter (its id stays).
        whole = sorted({m.cluster for m in alive if self.clusters[m.cluster].members <= keys})
        if not matters and whole:
            target = self.clusters[whole[0]]
            for number in whole[1:]:
                target = self._merge(target, self.clusters[number])
        elif not matters:
            target = self._open(member.at)
        else:
            target = self.clusters[matters[0]]
            for number in matters[1:]:
                target = self._merge(target, self.clusters[number])
        for other in alive:
            if other.cluster == target.number:
                continue
            source = self.clusters[other.cluster]
            source.ever.remove(other.complaint_id)  # it is the matter's now, not the topic's
            self._detach(other)
            self._attach(target, other, weights[other.key])
            target.ever.append(other.complaint_id)
        target.shared = _union(target.shared, [SharedTerm(b.term, b.customers, b.expected, b.weight)
                                               for b in shared])
        if target.alert is None:
            target.alert = "emerging"
            target.first_alert_at = member.at
        return target

    def _enough(self, keys: set[int]) -> bool:
        customers = {self.terms.customer(key) for key in keys}
        return len(customers) >= self.config.emerging_customers and len(keys) >= self.config.emerging_complaints

    def _latest(self, keys: set[int]) -> list[int]:
        """One complaint per customer, the latest: a poster who pastes the same text twice makes no matter
        alike."""
        return sorted({self.terms.customer(k): k for k in sorted(keys)}.values())

    def _voices(self, keys: list[int]) -> list[int]:
        """One complaint per text: the customers of a copy-paste campaign (`coordinated`) are one voice when
        the question is whether a matter's complaints read alike — copies agree with each other by
        construction. (On tipdm, two accounts posting one text at the same second made unrelated messages
        sharing 门窗 or a slogan look alike.)"""
        campaigns: set[int] = set()
        voices = []
        for key in keys:
            member = self.members.get(key)
            campaign = None if member is None else member.campaign
            if campaign is None or campaign not in campaigns:
                voices.append(key)
            if campaign is not None:
                campaigns.add(campaign)
        return voices

    def _alike_by_topic(self, voices: list[int]) -> bool:
        """The voices' topic vectors agree (`spike_similarity` on average); one voice agrees with itself."""
        vectors = [self.members[k].vector for k in voices if k in self.members]
        return len(vectors) < 2 or _coherence(vectors) >= self.config.spike_similarity

    def _named_by(self, bursts: list[TermBurst], keys: set[int], at: float) -> list[TermBurst]:
        """The terms used by at least half of the customers of `keys`."""
        customers = len({self.terms.customer(key) for key in keys})
        return [b for b in bursts
                if 2 * len({self.terms.customer(k) for k in self.terms.recent_keys(b.term, at, b.seconds)
                            if k in keys}) >= customers]

    def _by_terms(self, member: Member, distinctive: list[TermBurst]
                  ) -> tuple[set[int], list[TermBurst], dict[int, float]] | None:
        """A slow matter (a project's buyers writing in over weeks), found by its distinctive terms alone:
        the complaints carrying `min_shared_terms` of them and half of their weight (or two distinctive
        terms' worth, when many burst). One shared rare word is not enough: it turns up in unrelated
        complaints."""
        config = self.config
        # Two terms, or one name far beyond chance within `spike_hours` (a name nobody used, in five customers'
        # complaints in two days: over a month, single rare words turn up together by chance; an everyday
        # word alone names a kind of thing, not one thing).
        strong = [b for b in distinctive if b.p_value <= config.single_term_p_value
                  and b.seconds <= config.spike_hours * 3600 and names_one_thing(b.term)]
        needed = 1 if strong else config.min_shared_terms
        if not distinctive or len(distinctive) < needed:
            return None
        floor = min(sum(b.weight for b in distinctive) / 2, needed * math.log(1 / config.max_term_share))
        weights: dict[int, float] = defaultdict(float)
        count: Counter[int] = Counter()
        for burst in distinctive:
            for key in self.terms.recent_keys(burst.term, member.at, burst.seconds):
                weights[key] += burst.weight
                count[key] += 1
        keys = {key for key, weight in weights.items() if weight >= floor and count[key] >= needed} | {member.key}
        if not self._enough(keys):
            return None
        shared = self._named_by(distinctive, keys, member.at)
        # What they say must be alike too: unrelated messages quoting one slogan are not a matter. (Words
        # weighted by their rarity in the stream: the model's topic vectors, fitted on another stream, can put
        # all of a city's petitions at one similarity.) Over weeks, what they say *beyond* the shared terms:
        # a slogan of the season (不忘初心、牢记使命) or a place word is quoted by unrelated petitions for weeks,
        # where a matter's complaints also share what happened; within `spike_hours` the burst itself is the
        # evidence, and an outage's short complaints share little but its name and date.
        slow = all(b.seconds > config.spike_hours * 3600 for b in shared)
        voices = self._voices(self._latest(keys))
        if len(shared) < needed or self.terms.text_similarity(
                voices[-config.neighbours:], [b.term for b in shared] if slow else ()) \
                < config.matter_text_similarity:
            return None
        # One term must bring complaints that read alike by topic vector too (`spike_similarity` on average):
        # five complaints naming one bank are five matters.
        if needed == 1 and not self._alike_by_topic(voices):
            return None
        return keys, shared, weights

    def _by_spike(self, member: Member, neighbours: list[tuple[Member, float]], bursts: list[TermBurst]
                  ) -> tuple[set[int], list[TermBurst], dict[int, float]] | None:
        """A fast matter (an outage, a leak): customers within `spike_hours` whose complaints are similar
        to this one (topic vectors, `spike_similarity`), at `growth_ratio` times the rate of such complaints
        before, half of them sharing `min_shared_terms` bursting terms, or one far beyond chance
        (`single_term_p_value`), each in at most `spike_term_share` of earlier complaints — a topic alone,
        however busy, is not one."""
        config = self.config
        spike = config.spike_hours * 3600.0
        similar = [n for n, score in neighbours if score >= config.spike_similarity and n.key != member.key]
        recent = [n for n in similar if 0 <= member.at - n.at <= spike]
        earlier = len(similar) - len(recent)
        # The baseline: such complaints per hour before the spike, over the history this detector has
        # actually seen (an empty window is not a silent one: it is an unknown one), counting one.
        seen_hours = max((member.at - self.first_at) / 3600.0 - config.spike_hours, config.spike_hours)
        seen_hours = min(seen_hours, config.window_days * 24 - config.spike_hours)
        customers = {n.customer for n in recent} | {member.customer}
        if len(customers) / config.spike_hours < config.growth_ratio * (earlier + 1) / seen_hours:
            return None
        keys = {n.key for n in recent} | {member.key}
        if not self._enough(keys):
            return None
        shared = self._named_by(bursts, keys, member.at)
        # One word in common is often a topic (信用卡中心 on a young stream), unless it is a name whose burst is
        # far beyond chance (消费金融, 手机银行 in the corpus's bursts).
        if len(shared) < config.min_shared_terms and not (
                any(b.p_value <= config.single_term_p_value and names_one_thing(b.term) for b in shared)
                and self._alike_by_topic(self._voices(self._latest(keys)))):
            return None
        terms = {b.term: b.weight for b in shared}
        weights = {n.key: sum(terms.get(t, 0.0) for t in n.terms) for n in [*recent, member]}
        return keys, shared, weights

    def _update_alert(self, cluster: Cluster, member: Member) -> None:
        if cluster.alert is None:
            return
        if len(cluster.customers) >= self.config.major_customers:
            cluster.alert = "major"
        self.alerted[cluster.number] = None
        self.refresh_label(cluster)  # so the alert keeps its words after its members expire
        dismissal = self.dismissed.get(cluster.number)
        regrown = dismissal is not None and dismissal.new_customers(cluster) >= dismissal.regrow_at
        if dismissal is not None and not regrown:
            return
        previous = None if regrown else self.announced.get(cluster.number)
        if regrown:
            del self.dismissed[cluster.number]
        elif _LEVEL[cluster.alert] <= _LEVEL[previous]:
            return
        self.announced[cluster.number] = cluster.alert
        self.raised.append(GroupAlertRaised(
            cluster_id=cluster.id, level=cluster.alert, previous_level=previous, regrown=regrown,
            distinct_customers=len(cluster.customers), members=list(cluster.ever),
            terms=[s.term for s in cluster.shared], trigger=member.complaint_id,
            raised_at=datetime.fromtimestamp(member.at, self.zone)))

    # ---- alerts: announced, dismissed ------------------------------------------------------------
    @property
    def announced(self) -> dict[int, GroupAlert]:
        if self._announced is None:
            self._announced = {number: cluster.alert for number in self.alerted
                               if (cluster := self.clusters.get(number)) is not None and cluster.alert}
        return self._announced

    @property
    def dismissed(self) -> dict[int, Dismissal]:
        if self._dismissed is None:
            self._dismissed = {}
        return self._dismissed

    @property
    def raised(self) -> list[GroupAlertRaised]:
        if self._raised is None:
            self._raised = []
        return self._raised

    def take_raised(self) -> list[GroupAlertRaised]:
        """The alerts announced since the last call, oldest first."""
        raised, self._raised = self.raised, []
        return raised

    def effective_alert(self, cluster: Cluster) -> GroupAlert | None:
        """The cluster's alert as its complaints carry it: none while a lead's dismissal holds."""
        return None if cluster.number in self.dismissed else cluster.alert

    def _regrow_at(self, customers: int) -> int:
        return max(self.config.regrow_customers, math.ceil(self.config.regrow_share * customers))

    def dismiss(self, number: int, customers: frozenset[str] | None = None) -> Dismissal | None:
        """A lead's dismissal of a live cluster's alert (None when the cluster is no longer in the window).
        `customers`: those it had when dismissed, when restoring a dismissal after a rebuild (default: now)."""
        cluster = self.clusters.get(number)
        if cluster is None:
            return None
        customers = frozenset(cluster.customers) if customers is None else customers
        dismissal = self.dismissed[number] = Dismissal(customers, self._regrow_at(len(customers)))
        return dismissal

    def cluster_holding(self, complaint_ids: list[str]) -> int | None:
        """The live cluster that holds most of these complaints (a scan of the window: for start-up only)."""
        wanted = set(complaint_ids)
        counts = Counter(m.cluster for m in self.members.values() if m.complaint_id in wanted)
        return counts.most_common(1)[0][0] if counts else None

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

    def _growth(self, cluster: Cluster) -> float:
        """A matter's growth: the least of its terms' (customers now / complaints their baseline expected).
        A topic cluster's: its members in the last `spike_hours` against the hours before, per hour, with
        one complaint assumed before (so a young cluster's growth is finite)."""
        if cluster.shared:
            return round(min(s.customers / max(s.expected, 1e-9) for s in cluster.shared), 1)
        spike = self.config.spike_hours * 3600
        now = max(self.now, cluster.last_seen)
        ages = [now - self.members[key].at for key in cluster.members]
        recent = sum(1 for age in ages if 0 <= age <= spike)
        before_hours = self.config.window_days * 24 - self.config.spike_hours
        return round((recent / self.config.spike_hours) / (max(len(ages) - recent, 1) / before_hours), 2)

    def summary(self, cluster: Cluster) -> dict:
        members = [self.members[key] for key in cluster.members]
        channels = Counter(m.channel for m in members if m.channel)
        products = Counter(m.product for m in members if m.product)
        return {
            "cluster_id": cluster.id,
            "label": self.refresh_label(cluster),
            "terms": [s.public() for s in cluster.shared],
            "size": len(cluster.members),  # in the window now
            "distinct_customers": len(cluster.customers),
            "peak_distinct_customers": cluster.peak_customers,
            "total_members": len(cluster.ever),  # expired members included
            "channels": dict(channels.most_common()),
            "products": dict(products.most_common()),
            "first_seen": _iso(cluster.first_seen, self.zone),
            "last_seen": _iso(cluster.last_seen, self.zone),
            "growth": self._growth(cluster),
            "alert": cluster.alert,
            "dismissed": cluster.number in self.dismissed,
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


def _coherence(vectors: list[np.ndarray]) -> float:
    """Mean topic similarity between distinct complaints (the vectors are unit length)."""
    if len(vectors) < 2:
        return 0.0
    matrix = np.asarray(vectors, dtype=np.float32)
    total = matrix.sum(axis=0)
    return float((total @ total - (matrix * matrix).sum()) / (len(vectors) * (len(vectors) - 1)))


def _union(old: list[SharedTerm], new: list[SharedTerm]) -> list[SharedTerm]:
    """A matter's terms, the latest figures of each, rarest first (at most 8: what names it, not all it says)."""
    merged = {s.term: s for s in old}
    merged.update({s.term: s for s in new})
    return sorted(merged.values(), key=lambda s: (-s.weight, s.term))[:8]
