"""Who may see and do what with a case (roles from the JWT claims), as pure rules.

- complainant: their own cases; rates them.
- handler / head (承办人 / 单位负责人): the cases of their own unit (the lead unit and, for a
  disputed case, the assisting units may read); they sign for, handle, reply, return.
- office (接诉即办工作办公室): every case; screens, dispatches, links and merges.
- leader (分管校领导): the supervised cases (督办件) they were given; writes the 批示.

Anything else is "no such case" (404), so nobody learns which cases exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STAFF_ROLES = ("handler", "head", "office", "leader")
ROLES = ("complainant", *STAFF_ROLES)

# Complainants who come through a channel rather than the campus login are known by an id
# with the channel's prefix: wechat:<openid>, open311:<app>:<person>, hotline:<pseudonym>.
WECHAT_PREFIX, OPEN311_PREFIX, HOTLINE_PREFIX = "wechat:", "open311:", "hotline:"
# The channel whose own identities may list what they filed (Open311's GET requests, a
# WeChat user's 我的诉求).
LISTING_PREFIXES = (OPEN311_PREFIX, WECHAT_PREFIX)


def wechat_identity(openid: str) -> str:
    return f"{WECHAT_PREFIX}{openid}"


def open311_app_identity(app: str) -> str:
    """The prefix of every identity filed through one Open311 app."""
    return f"{OPEN311_PREFIX}{app}:"


def hotline_identity(pseudonym: str) -> str:
    return f"{HOTLINE_PREFIX}{pseudonym}"

# Who did it, shown instead of an anonymous complainant's name or id (X5).
ANONYMOUS_LABEL = "匿名诉求人"
UNIT_ROLES = ("handler", "head")

# action -> the roles that may take it (besides the case-specific checks below)
ACTION_ROLES = {
    "sign_for": UNIT_ROLES,
    "start": UNIT_ROLES,
    "communicate": UNIT_ROLES,
    "reply": UNIT_ROLES,
    "return_case": UNIT_ROLES,
    "screen_out": ("office",),
    "dispatch": ("office",),
    "classify": ("office",),
    "link": ("office",),
    "merge": ("office",),
    "instruct": ("leader",),
}


@dataclass(frozen=True)
class Viewer:
    id: str
    name: str | None = None
    roles: tuple[str, ...] = ()
    unit: str | None = None

    @classmethod
    def from_dict(cls, raw: dict) -> "Viewer":
        return cls(str(raw["id"]), raw.get("name"), tuple(raw.get("roles") or ()),
                   raw.get("unit"))

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_staff(self) -> bool:
        return self.has(*STAFF_ROLES)

    def main_role(self) -> str:
        for role in ("office", "leader", "head", "handler"):  # the most powerful first
            if role in self.roles:
                return role
        return "complainant"


@dataclass(frozen=True)
class Actor:
    """Who did something to a case, as the timeline, the audit log and the bus record it: a
    person (with the role they acted in) or a service acting on its own (routing's
    assignment, sla's clock)."""
    id: str
    name: str | None
    role: str

    @classmethod
    def of(cls, viewer: Viewer, name: str | None = None) -> "Actor":
        return cls(viewer.id, name or viewer.name, viewer.main_role())

    @classmethod
    def system(cls, service: str) -> "Actor":
        return cls(service, service, "system")

    @property
    def label(self) -> str:
        """The name shown for them (their id when they have none)."""
        return self.name or self.id


@dataclass(frozen=True)
class CaseFacts:
    """What access depends on, read off a case."""
    complainant_id: str
    unit_id: str | None
    assisting_unit_ids: tuple[str, ...] = field(default_factory=tuple)
    supervisor_id: str | None = None
    proactive_unit_id: str | None = None


@dataclass(frozen=True)
class ReadScope:
    """Which cases a viewer may read, as data: `may_read` asks it about one case, and a list
    of cases is filtered by the same fields (services/intake/views.py), so a list never shows
    a case its reader may not open, nor hides one they may."""
    everything: bool = False
    complainant_id: str | None = None    # their own cases
    unit: str | None = None              # as handling, assisting or reporting unit
    supervisor_id: str | None = None     # the 督办件 they were given

    def covers(self, case: CaseFacts) -> bool:
        return (self.everything or case.complainant_id == self.complainant_id
                or (self.unit is not None and self.unit in (
                    case.unit_id, case.proactive_unit_id, *case.assisting_unit_ids))
                or (self.supervisor_id is not None and case.supervisor_id == self.supervisor_id))


def read_scope(viewer: Viewer) -> ReadScope:
    if viewer.has("office"):
        return ReadScope(everything=True)
    return ReadScope(complainant_id=viewer.id,
                     unit=viewer.unit if viewer.has(*UNIT_ROLES) and viewer.unit else None,
                     supervisor_id=viewer.id if viewer.has("leader") else None)


def may_read(viewer: Viewer, case: CaseFacts) -> bool:
    return read_scope(viewer).covers(case)


def may_act(viewer: Viewer, action: str, case: CaseFacts) -> bool:
    roles = ACTION_ROLES.get(action, ())
    if action in ("sign_for", "start", "communicate", "reply", "return_case"):
        # Only the unit that holds the case handles it; assisting units read along.
        return viewer.has(*roles) and viewer.unit is not None and viewer.unit == case.unit_id
    if action == "instruct":
        return viewer.has("leader") and case.supervisor_id == viewer.id
    return viewer.has(*roles)


def sees_identity(viewer: Viewer, anonymous: bool, complainant_id: str) -> bool:
    """X5: the anonymous-to-handler option hides the complainant from the unit, never from
    the office (or from the complainant)."""
    return not anonymous or viewer.has("office") or viewer.id == complainant_id


def masks_phones(viewer: Viewer) -> bool:
    """X5: staff read every phone number typed into a case masked (the office reads the
    contact phone whole in one place only: `reveals_contact_phone`); the complainant reads
    their own case as they and the unit wrote it."""
    return viewer.is_staff


def reveals_contact_phone(viewer: Viewer, asked: bool) -> bool:
    """The office, when it asks for it to call the complainant back (an audited read)."""
    return asked and viewer.has("office")


def redact_identity(text: str, name: str | None, complainant_id: str | None) -> str:
    """`text` with an anonymous complainant's name and id (typed into their complaint, or
    by staff who learnt it) replaced by ANONYMOUS_LABEL. A one-letter name would hit
    ordinary words, so names are redacted from two characters on."""
    for identity in (complainant_id, name):
        if identity and len(identity) >= 2 and identity in text:
            text = text.replace(identity, ANONYMOUS_LABEL)
    return text
