"""A lead's corrections of a customer's matters: split a complaint off its matter, or join matters into one.

The repeat detector decides which matter each complaint belongs to; a lead who reads them may disagree.
A correction is expressed as what the lead meant — "this complaint is a matter of its own", "these
complaints' matters are one matter" — not as the ids it moved, so the same correction can be applied to
the store's record of the matters (what the API lists) and to the similarity window (what decides the
customer's next complaints), also when the window is rebuilt after a restart and re-detects its matters.

An assignment is `{complaint id: matter id}` in arrival order; a matter's id is its first complaint's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MatterAction = Literal["split", "join"]


class CorrectionError(ValueError):
    """A correction that can't be applied; the message says why."""


class UnknownComplaints(CorrectionError):
    """The correction names complaints the customer does not have."""

    def __init__(self, missing: list[str]):
        super().__init__(f"no complaint {', '.join(repr(m) for m in missing)} of this customer")
        self.missing = missing


class MattersUnchanged(CorrectionError):
    """The matters already are what the correction asks for."""


@dataclass(frozen=True)
class MatterCorrection:
    """`split`: the one complaint named starts a matter of its own (the rest of its matter stays one);
    `join`: the matters of the complaints named (two or more; a matter's id is a complaint id) become one."""

    action: MatterAction
    complaint_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.action == "split" and len(self.complaint_ids) != 1:
            raise CorrectionError(f"a split names one complaint, not {len(self.complaint_ids)}")
        if self.action == "join":
            if len(self.complaint_ids) < 2:
                raise CorrectionError("a join names at least two matters")
            if len(set(self.complaint_ids)) != len(self.complaint_ids):
                raise CorrectionError("a join names each matter once")


def correct(assignment: dict[str, str], correction: MatterCorrection, strict: bool = True) -> dict[str, str]:
    """The assignment after the correction (a new dict, the same order).

    strict (a lead's request): complaints the assignment does not hold raise UnknownComplaints, a correction
    that changes nothing raises MattersUnchanged. Not strict (replaying stored corrections on a window that may
    have expired some of the complaints): unknown complaints are left out and a no-op is quietly one."""
    named = [c for c in correction.complaint_ids if c in assignment]
    missing = [c for c in correction.complaint_ids if c not in assignment]
    if missing and strict:
        raise UnknownComplaints(missing)
    result = dict(assignment)
    if correction.action == "split":
        if not named:
            return result
        complaint = named[0]
        matter = assignment[complaint]
        rest = [c for c, m in assignment.items() if m == matter and c != complaint]
        if not rest:
            if strict:
                raise MattersUnchanged(f"complaint {complaint!r} is the only complaint on its matter: "
                                       "nothing to split off")
            return result
        result[complaint] = complaint
        if matter == complaint:  # the matter's first complaint left: the next one names what remains
            for other in rest:
                result[other] = rest[0]
        return result
    matters = {assignment[c] for c in named}
    if len(matters) < 2:
        if strict:
            raise MattersUnchanged("these complaints are on one matter already: nothing to join")
        return result
    members = [c for c, m in assignment.items() if m in matters]  # arrival order: the first names the matter
    for complaint in members:
        result[complaint] = assignment[members[0]]
    return result


def moved(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """The complaints whose matter a correction changed, with their new matter (what is recorded)."""
    return {c: m for c, m in after.items() if before.get(c) != m}
