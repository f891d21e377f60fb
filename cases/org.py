"""The organisation tree (county -> city -> province -> national) and pure lookups over it.

A case holds the slice of the directory it needs (`OrgDirectory`), loaded once by an activity at start;
every lookup here is a pure function of that data, so workflow validators stay deterministic. The canonical
Shanxi data is `cases/data/org_units.json` (`load_bundled_directory()` reads it; never call that from a
workflow).
"""

from __future__ import annotations

import json
import threading
import weakref
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cases.errors import UnknownUnit

OrgLevel = Literal["county", "city", "province", "national"]
LEVEL_RANK: dict[str, int] = {"county": 0, "city": 1, "province": 2, "national": 3}
DATA_FILE = Path(__file__).with_name("data") / "org_units.json"


class OrgUnit(BaseModel):
    """One bureau."""

    model_config = ConfigDict(frozen=True)

    unit_id: str
    name: str
    level: OrgLevel
    parent_id: str | None = None
    jurisdiction: str
    supervisor_id: str


class DispatchRule(BaseModel):
    """Category x area (the unit where the matter happened; None = anywhere) -> default handling unit."""

    model_config = ConfigDict(frozen=True)

    category: str
    area_unit_id: str | None = None
    unit_id: str


class OrgDirectory(BaseModel):
    """A slice of the organisation directory: units by id plus the dispatch catalogue. Immutable: a copy of a
    case state shares it (`__deepcopy__`), and cases of one jurisdiction share one (`shared_directory`)."""

    model_config = ConfigDict(frozen=True)

    jurisdiction: str
    provincial_centre: str = Field(description="unit id of the provincial dispatch centre, e.g. SX")
    version: str = ""
    units: list[OrgUnit]
    dispatch: list[DispatchRule] = Field(default_factory=list)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> OrgDirectory:
        return self

    def unit(self, unit_id: str) -> OrgUnit:
        """The unit with this id; `UnknownUnit` if it is not in the slice."""
        for u in self.units:
            if u.unit_id == unit_id:
                return u
        raise UnknownUnit(unit_id)

    def has(self, unit_id: str) -> bool:
        """True if the unit is in the slice."""
        return any(u.unit_id == unit_id for u in self.units)


# One directory slice per distinct content in this process, held only while some case uses it: every open case
# of a jurisdiction loads the same slice, and each would otherwise keep its own decoded copy for its whole life.
_SHARED_DIRECTORIES: weakref.WeakValueDictionary[str, OrgDirectory] = weakref.WeakValueDictionary()
_SHARED_DIRECTORIES_LOCK = threading.Lock()  # workflow tasks of different cases run on different threads


def shared_directory(directory: OrgDirectory) -> OrgDirectory:
    """`directory`, or an equal directory slice already in use in this process (no I/O)."""
    key = directory.model_dump_json()
    with _SHARED_DIRECTORIES_LOCK:
        shared = _SHARED_DIRECTORIES.get(key)
        if shared is None:
            shared = _SHARED_DIRECTORIES[key] = directory
        return shared


def chain(directory: OrgDirectory, unit_id: str) -> list[OrgUnit]:
    """The unit and its ancestors, nearest first (county, city, province, national)."""
    out: list[OrgUnit] = []
    seen: set[str] = set()
    current: str | None = unit_id
    while current is not None and current not in seen:
        seen.add(current)
        u = directory.unit(current)
        out.append(u)
        current = u.parent_id
    return out


def higher_bureau(directory: OrgDirectory, unit_id: str) -> OrgUnit | None:
    """The next-higher bureau (county -> city -> province -> national), None above the national bureau."""
    u = directory.unit(unit_id)
    return directory.unit(u.parent_id) if u.parent_id else None


def supervisor_chain(directory: OrgDirectory, unit_id: str) -> list[str]:
    """Unit ids whose supervisors may decide on this unit's cases: the unit and its ancestors."""
    return [u.unit_id for u in chain(directory, unit_id)]


def default_unit(directory: OrgDirectory, category: str, area_unit_id: str | None) -> str | None:
    """The dispatch catalogue's unit for a category in an area: exact area, then its ancestors, then
    the catch-all row (area None); None if the catalogue has nothing."""
    rules = [r for r in directory.dispatch if r.category == category]
    areas: list[str | None] = []
    if area_unit_id and directory.has(area_unit_id):
        areas.extend(u.unit_id for u in chain(directory, area_unit_id))
    areas.append(None)
    for area in areas:
        for r in rules:
            if r.area_unit_id == area:
                return r.unit_id
    return None


def may_dispatch(directory: OrgDirectory, unit_id: str, case_jurisdiction: str) -> bool:
    """Dispatchers and intake agents act for the provincial centre or a bureau of the case's jurisdiction."""
    if unit_id == directory.provincial_centre:
        return True
    return directory.has(unit_id) and directory.unit(unit_id).jurisdiction == case_jurisdiction


def load_bundled_directory(jurisdiction: str = "CN-SX") -> OrgDirectory:
    """Read the bundled JSON directory (tests, seeding). Does file I/O: never call it in a workflow."""
    doc = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    units = [OrgUnit.model_validate(u) for u in doc["units"]]
    return OrgDirectory(
        jurisdiction=jurisdiction,
        provincial_centre=doc["provincial_centre"],
        version=doc.get("version", ""),
        units=units,
        dispatch=[DispatchRule.model_validate(r) for r in doc.get("dispatch", [])],
    )


def subtree(directory: OrgDirectory, unit_id: str) -> list[str]:
    """The unit and every unit below it (a person sees and acts on their unit's subtree)."""
    return [u.unit_id for u in directory.units if unit_id in supervisor_chain(directory, u.unit_id)]
