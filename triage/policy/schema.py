"""The policy file (TOML) as pydantic models. Errors name the key and the problem.

Everything the rules decide — departments, tiers and their clocks, escalations, approval levels,
review thresholds, JR/T 0169 codes — lives in the file, so compliance can change it without a
release, validate it (`triage policy check`) and see its effect (`triage policy diff`).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from triage.policy.signals import LEXICONS
from triage.vocabulary import BANK_TIMEZONE, TIER_ORDER, Tier

SIGNAL_KINDS = ("amount", *LEXICONS)  # one definition: the lexicons in signals.py
DEFAULT_POLICY = resources.files("triage.policy") / "default.toml"


class PolicyError(ValueError):
    """The policy file is not valid; the message lists every problem with its key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Strict):
    code: str
    name: str


class CategoryPolicy(_Strict):
    department: str
    co_departments: list[str] = []
    cause: Code  # JR/T 0169 axis C
    complex: bool = False  # decide within `clocks.decide_days_complex` instead of `decide_days`
    contract_dispute: bool = False  # a 3rd complaint also brings in the legal adviser


class TierPolicy(_Strict):
    name: str
    respond_working_days: int = Field(ge=0, description="0: by the end of the working day the clock starts")
    investigate_working_days: int = Field(ge=0)
    investigate_extension_working_days: int = Field(ge=0, default=0)


class WorkingHours(_Strict):
    start: time = time(9, 0)
    end: time = time(17, 0)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class Clocks(_Strict):
    register_working_hours: float = Field(gt=0, default=1)
    acknowledge_hours: float = Field(gt=0, default=24)
    decide_days: int = Field(gt=0, default=15)
    decide_days_complex: int = Field(gt=0, default=30)


class ApprovalLevel(_Strict):
    """Applies to amounts `< below` or `<= up_to`; with neither, to every larger amount."""

    below: float | None = Field(default=None, gt=0)
    up_to: float | None = Field(default=None, gt=0)
    level: str

    @model_validator(mode="after")
    def _one_bound(self) -> ApprovalLevel:
        if self.below is not None and self.up_to is not None:
            raise ValueError("give `below` or `up_to`, not both")
        return self

    @property
    def bound(self) -> float | None:
        return self.below if self.below is not None else self.up_to

    def covers(self, amount: float) -> bool:
        if self.below is not None:
            return amount < self.below
        return self.up_to is None or amount <= self.up_to


class Escalation(_Strict):
    repeat_supervisor_at: int = Field(ge=2, default=3)
    supervisor: str = "投诉处理主管"
    named_follow_up: str = "专人跟进至办结"
    legal_adviser: str = "法律顾问"
    group_task_force: list[str] = ["运营管理部", "客服中心", "业务条线"]
    group_spokesperson: str = "统一对外发言人"
    emergency_team: str = "应急处置小组"
    major_group_customers: int = Field(ge=2, default=20)
    major_group_target: str = "总行消费者权益保护部"


class RepeatDetection(_Strict):
    """Same customer, same matter. Score = weights · (idf-weighted cosine of the sets of words and names —
    rare ones say "this thing", common ones "this topic" —, rapidfuzz token-set similarity of the texts,
    cosine of topic vectors, category agreement), less `names_apart_penalty` when both name specific
    things and none is shared (two estates, two branches); the best earlier complaint scoring
    at least `threshold` puts the complaint on its matter. An explicit follow-up (上周反映过, 第三次 …) of the
    same category joins the best earlier complaint whose topic-vector cosine is at least
    `follow_up_cosine`, unless it names specific things that one does not. A word or name used by more
    than `common_share` of the window's customers is a topic, not a thing (西地省, 物业公司). A repeat
    using `new_facts_words` or more specific words the matter's complaints did not brings new facts."""

    window_days: int = Field(ge=1, default=180)
    rare_words_weight: float = Field(ge=0, default=1.0)
    text_weight: float = Field(ge=0, default=0.5)
    cosine_weight: float = Field(ge=0, default=0.0)
    category_weight: float = Field(ge=0, default=0.0)
    names_apart_penalty: float = Field(ge=0, default=0.1)
    common_share: float = Field(gt=0, le=1, default=0.01)
    threshold: float = Field(gt=0, default=0.375)
    follow_up_cosine: float = Field(ge=-1, le=1, default=0.1)
    new_facts_words: int = Field(ge=1, default=14)


class CoordinatedDetection(_Strict):
    """Near-identical texts from different customers (copy-paste campaigns)."""

    min_cosine: float = Field(ge=0, le=1, default=0.85)  # candidate pairs: topic vectors this close
    min_text_similarity: float = Field(ge=0, le=100, default=90)  # rapidfuzz ratio of their jieba words


class GroupDetection(_Strict):
    """Online clustering of recent complaints of all customers, and the group-complaint alert.

    A complaint joins the cluster with the highest average similarity to its members (at least
    `join_similarity`; `pair_similarity` to join a cluster of one), or opens one. Clusters whose
    average similarity reaches `merge_similarity` merge, keeping the older id. These topic clusters
    never alert: a topic is not a group complaint.

    The alert is a matter (triage/similarity/groups.py): terms of the new complaint that at least
    `emerging_customers` distinct customers used within `spike_hours` or `term_days` (complaints received up
    to it), at least `growth_ratio` times as often as their own earlier share of the stream predicts, with a
    Poisson tail of at most `term_p_value`, each in at most `max_term_share` of the earlier complaints (a term
    nobody used for `term_memory_days` is forgotten: back, it is new); at least `min_shared_terms` such terms
    shared by half of the matter's customers, and `emerging_complaints` complaints carrying them, whose words
    (weighted by their rarity in the stream) have a mean pairwise cosine of at least `matter_text_similarity`.
    Or a spike: such customers within `spike_hours` with topic-vector similarity ≥ `spike_similarity` to it,
    at `growth_ratio` times the earlier rate, half of them sharing `min_shared_terms` bursting terms each in
    at most `spike_term_share` of earlier complaints (one term, if its tail is at most `single_term_p_value`).
    The matter's complaints move into one cluster, which carries the alert; `major` at `major_customers`
    distinct customers.

    A lead may dismiss an alert as not one incident: the cluster then does not alert again unless it grows —
    until the distinct customers that were not in it when it was dismissed number at least
    `regrow_share` of those that were, and at least `regrow_customers` (defaults: half as many again, at
    least 3 new customers).
    """

    window_days: int = Field(ge=1, default=14)
    neighbours: int = Field(ge=4, le=1024, default=64)
    pair_similarity: float = Field(ge=0, le=1, default=0.55)
    join_similarity: float = Field(ge=0, le=1, default=0.35)
    merge_similarity: float = Field(ge=0, le=1, default=0.4)
    spike_similarity: float = Field(ge=0, le=1, default=0.35)
    spike_hours: float = Field(gt=0, default=48)
    term_days: int = Field(ge=1, default=30)
    term_memory_days: int = Field(ge=1, default=365)
    growth_ratio: float = Field(ge=1, default=3)
    term_p_value: float = Field(gt=0, le=1, default=1e-3)
    max_term_share: float = Field(gt=0, le=1, default=0.005)
    spike_term_share: float = Field(gt=0, le=1, default=0.03)
    min_shared_terms: int = Field(ge=1, default=2)
    single_term_p_value: float = Field(gt=0, le=1, default=1e-5)
    matter_text_similarity: float = Field(ge=0, le=1, default=0.1)
    emerging_customers: int = Field(ge=2, default=4)
    emerging_complaints: int = Field(ge=2, default=5)
    major_customers: int = Field(ge=2, default=20)
    regrow_share: float = Field(gt=0, default=0.5)
    regrow_customers: int = Field(ge=1, default=3)

    @model_validator(mode="after")
    def _consistent(self) -> GroupDetection:
        if self.major_customers < self.emerging_customers:
            raise ValueError(f"major_customers ({self.major_customers}) is below emerging_customers "
                             f"({self.emerging_customers})")
        if self.spike_hours >= self.window_days * 24:
            raise ValueError(f"spike_hours ({self.spike_hours}) must be shorter than the window "
                             f"({self.window_days} days)")
        if self.spike_hours >= self.term_days * 24:
            raise ValueError(f"spike_hours ({self.spike_hours}) must be shorter than term_days "
                             f"({self.term_days} days)")
        if self.term_memory_days < self.term_days:
            raise ValueError(f"term_memory_days ({self.term_memory_days}) must be at least term_days "
                             f"({self.term_days})")
        return self


class Similarity(_Strict):
    repeat: RepeatDetection = RepeatDetection()
    coordinated: CoordinatedDetection = CoordinatedDetection()
    groups: GroupDetection = GroupDetection()


class Review(_Strict):
    red_min_tier_confidence: float = Field(ge=0, le=1, default=0.5)
    # A category confidence under this goes to a person whatever the model's own class thresholds say: those
    # are fitted on the training corpus, and a corpus is easier than real traffic.
    min_category_confidence: float = Field(ge=0, le=1, default=0.0)
    # A signal firing outside these categories contradicts the model's category: a person looks.
    signal_categories: dict[str, list[str]] = {}


class Condition(_Strict):
    signals_any: list[str] = []
    signals_all: list[str] = []
    categories: list[str] = []
    amount_at_least: float | None = None
    # Count only amounts written within this many characters of the rule's signal evidence ("卡被盗刷
    # 9481元" — not the loan principal three sentences away); unset: the largest amount anywhere.
    amount_within_chars: int | None = Field(default=None, ge=0)
    repeat_count_at_least: int | None = None
    group_alert: bool | None = None

    @field_validator("signals_any", "signals_all")
    @classmethod
    def _known_signals(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SIGNAL_KINDS]
        if unknown:
            raise ValueError(f"unknown signal(s) {unknown}; known: {list(SIGNAL_KINDS)}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if self.amount_within_chars is not None and not (self.amount_at_least is not None
                                                         and (self.signals_any or self.signals_all)):
            raise ValueError("amount_within_chars needs amount_at_least and the signals it is near")
        if not any([self.signals_any, self.signals_all, self.categories, self.amount_at_least is not None,
                    self.repeat_count_at_least is not None, self.group_alert is not None]):
            raise ValueError("a rule needs at least one condition")
        return self


class TierRule(_Strict):
    id: str
    description: str
    when: Condition
    floor: Tier
    review: bool = False
    co_departments: list[str] = []


class Policy(_Strict):
    version: str
    timezone: str = BANK_TIMEZONE
    fallback_department: str
    working_hours: WorkingHours = WorkingHours()
    clocks: Clocks = Clocks()
    tiers: dict[Tier, TierPolicy]
    categories: dict[str, CategoryPolicy]
    channels: dict[str, Code]  # JR/T 0169 axis A
    products: dict[str, Code]  # JR/T 0169 axis B
    fallback_channel: Code
    fallback_product: Code
    fallback_cause: Code
    approval: list[ApprovalLevel]
    escalation: Escalation = Escalation()
    review: Review = Review()
    similarity: Similarity = Similarity()
    rules: list[TierRule] = []

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("tiers")
    @classmethod
    def _all_tiers(cls, value: dict) -> dict:
        missing = set(TIER_ORDER) - set(value)
        if missing:
            raise ValueError(f"missing tier(s) {sorted(missing)}")
        return value

    @field_validator("approval")
    @classmethod
    def _ascending(cls, value: list[ApprovalLevel]) -> list[ApprovalLevel]:
        bounds = [a.bound for a in value]
        if not value or bounds[-1] is not None:
            raise ValueError("the last approval level must have no bound (it takes every larger amount)")
        inner = [b for b in bounds[:-1] if b is not None]
        if len(inner) != len(bounds) - 1 or inner != sorted(inner):
            raise ValueError("approval levels must be in ascending order of their bounds")
        return value

    @model_validator(mode="after")
    def _rules_consistent(self) -> Policy:
        ids = [r.id for r in self.rules]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"rules: duplicate id(s) {duplicated}")
        for rule in self.rules:
            unknown = [c for c in rule.when.categories if c not in self.categories]
            if unknown:
                raise ValueError(f"rules.{rule.id}.when.categories: unknown category {unknown}")
        for signal, categories in self.review.signal_categories.items():
            if signal not in SIGNAL_KINDS:
                raise ValueError(f"review.signal_categories: unknown signal {signal!r}")
            unknown = [c for c in categories if c not in self.categories]
            if unknown:
                raise ValueError(f"review.signal_categories.{signal}: unknown category {unknown}")
        day = datetime.combine(date.min, self.working_hours.end) - datetime.combine(date.min, self.working_hours.start)
        if day < timedelta(hours=self.clocks.register_working_hours):
            raise ValueError("clocks.register_working_hours is longer than a working day")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def localise(self, moment: datetime | None) -> datetime:
        """A naive time is local time at the bank; no time at all is now."""
        if moment is None:
            return datetime.now(self.zone)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self.zone)


def _format(error: ValidationError, source: str) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {problem['msg']}")
    return "\n".join(lines)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (the bundled default when no path is given)."""
    source = str(path) if path else "default.toml"
    try:
        text = Path(path).read_text(encoding="utf-8") if path else DEFAULT_POLICY.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{source}: no such file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_format(exc, source)) from None
