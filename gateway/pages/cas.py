"""The staff console's sign-in through the campus identity provider (统一身份认证) over CAS 3.0.

    browser  -> {cas}/login?service=SERVICE
    CAS      -> 302 SERVICE?ticket=ST-...
    gateway  -> GET {cas}/p3/serviceValidate?service=SERVICE&ticket=ST-...
             <- <cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
                  <cas:authenticationSuccess>
                    <cas:user>u-hqc-1</cas:user>
                    <cas:attributes><cas:name>冯涛</cas:name><cas:roles>handler</cas:roles>
                      <cas:unit>logistics</cas:unit></cas:attributes>
                  </cas:authenticationSuccess></cas:serviceResponse>
             or <cas:authenticationFailure code="INVALID_TICKET">...</cas:authenticationFailure>

The ticket arrives in a URL anyone can type, so it is checked for shape before it is sent
anywhere, and the answer is read with a size cap and parsed by defusedxml (no DTD, no
entities). Neither the ticket nor the CAS server's own failure text appears in an error: the
text may echo the ticket, and the error is shown to the person signing in.

Who the person is in jiesu (roles, unit) comes from the CAS attributes when the identity
provider releases them, else from the organisation directory (config/org.yaml) by user id.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode
from xml.etree.ElementTree import ParseError

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from services.common.access import STAFF_ROLES
from services.common.config_files import read_yaml

CAS_NS = "http://www.yale.edu/tp/cas"
MAX_RESPONSE_BYTES = 64 * 1024
MAX_TICKET_LENGTH = 256           # CAS 3.0 §3.7: services must accept tickets up to 256
MAX_ID_LENGTH = 128               # as gateway/auth.py's claims: longer is no user id
# Printable ASCII without space: what CAS tickets are made of (§3.7).
_TICKET = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_TICKET_LENGTH)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Roles needing a unit to mean anything: a handler or head without one would see nothing.
UNIT_ROLES = ("handler", "head")


class CasError(Exception):
    """The sign-in did not succeed. `code` is CAS's failure code (INVALID_TICKET,
    INVALID_SERVICE, ...) or one of ours (BAD_TICKET, UNREACHABLE, BAD_RESPONSE)."""

    def __init__(self, message: str, code: str = "CAS_ERROR"):
        super().__init__(message)
        self.code = code


class DirectoryError(ValueError):
    """config/org.yaml cannot be read."""


@dataclass(frozen=True)
class CasUser:
    id: str
    attributes: dict[str, list[str]]


def _base(cas_server_url: str) -> str:
    return cas_server_url.rstrip("/")


def _query(params: dict) -> str:
    # quote, not quote_plus: a service URL's own "?", "&", "=" and "/" are all escaped.
    return urlencode(params, quote_via=quote)


def login_url(cas_server_url: str, service: str) -> str:
    return f"{_base(cas_server_url)}/login?{_query({'service': service})}"


def logout_url(cas_server_url: str, service: str | None = None) -> str:
    url = f"{_base(cas_server_url)}/logout"
    return f"{url}?{_query({'service': service})}" if service else url


def validate(cas_server_url: str, service: str, ticket: str, timeout: float = 5.0,
             session=None) -> CasUser:
    """The user a service ticket stands for, by asking the CAS server (one use per ticket:
    the server forgets it after this)."""
    if not isinstance(ticket, str) or not _TICKET.fullmatch(ticket):
        raise CasError("登录票据无效 (malformed CAS ticket)", "BAD_TICKET")
    http = session or requests
    url = f"{_base(cas_server_url)}/p3/serviceValidate"
    try:
        with http.get(url, params={"service": service, "ticket": ticket}, timeout=timeout,
                      stream=True, allow_redirects=False) as answer:
            status = answer.status_code
            body = _read_capped(answer)
    except requests.RequestException as exc:
        # The exception's text names the URL, ticket included: its type says enough.
        raise CasError(f"统一身份认证服务暂不可用 (CAS server unreachable: "
                       f"{type(exc).__name__})", "UNREACHABLE") from None
    if status != 200:
        raise CasError(f"统一身份认证服务应答异常 (CAS answered HTTP {status})", "BAD_RESPONSE")
    if body is None:
        raise CasError("统一身份认证服务应答过大 (CAS response too large)", "BAD_RESPONSE")
    return _parse(body)


def _read_capped(answer) -> bytes | None:
    """The body, or None when it is above MAX_RESPONSE_BYTES (read no further than that)."""
    chunks, size = [], 0
    for chunk in answer.iter_content(8192):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _tag(name: str) -> str:
    return f"{{{CAS_NS}}}{name}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse(body: bytes) -> CasUser:
    bad = CasError("统一身份认证服务应答无法识别 (CAS response is not a CAS 3.0 document)",
                   "BAD_RESPONSE")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise bad from None
    if root.tag != _tag("serviceResponse"):
        raise bad
    failure = root.find(_tag("authenticationFailure"))
    if failure is not None:
        code = (failure.get("code") or "UNKNOWN").strip()[:64]
        code = code if re.fullmatch(r"[A-Z_]{1,64}", code) else "UNKNOWN"
        raise CasError(f"统一身份认证未通过 (CAS authentication failure: {code})", code)
    success = root.find(_tag("authenticationSuccess"))
    user = success.find(_tag("user")) if success is not None else None
    user_id = (user.text or "").strip() if user is not None else ""
    if not user_id or len(user_id) > MAX_ID_LENGTH or _CONTROL.search(user_id):
        raise bad
    attributes: dict[str, list[str]] = {}
    block = success.find(_tag("attributes"))
    for element in (block if block is not None else ()):
        if len(element):   # a nested structure is no attribute value we know
            continue
        attributes.setdefault(_local(element.tag), []).append((element.text or "").strip())
    return CasUser(user_id, attributes)


# ============================================================== who the person is in jiesu
_cache: dict[str, tuple[int, dict]] = {}
_cache_lock = threading.Lock()


def load_directory(path: str | os.PathLike) -> dict:
    """config/org.yaml as a mapping, read again only when the file changes."""
    path = str(Path(path).resolve())
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise DirectoryError(f"cannot read the organisation directory {path}: {exc}") from exc
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
    raw = read_yaml(path, "the organisation directory", DirectoryError)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("units"), list):
        raise DirectoryError(f"the organisation directory {path} has no list of units")
    with _cache_lock:
        _cache[path] = (stamp, raw)
    return raw


def _raw(directory) -> Mapping:
    """The directory as given: the parsed org.yaml, or its path."""
    if isinstance(directory, Mapping):
        return directory
    return load_directory(directory)


def _person(entry, roles: list[str], unit: str | None) -> dict | None:
    if not isinstance(entry, Mapping) or not entry.get("id"):
        return None
    return {"id": str(entry["id"]), "name": str(entry.get("name") or entry["id"]),
            "roles": roles, "unit": unit}


def people(directory) -> list[dict]:
    """Everyone of org.yaml as {id, name, roles, unit}: the office's people, the leaders, then
    each unit's head and handlers in the file's order. A person listed twice keeps the first
    place (the office, the most powerful role, wins)."""
    raw = _raw(directory)
    office_id = str(raw.get("office") or "office")
    units = [u for u in raw.get("units") or () if isinstance(u, Mapping) and u.get("id")]
    office = [u for u in units if str(u["id"]) == office_id]
    found: list[dict | None] = []
    for unit in office:
        found.append(_person(unit.get("head"), ["office", "head"], office_id))
        found.extend(_person(h, ["office"], office_id) for h in unit.get("handlers") or ())
    found.extend(_person(leader, ["leader"], None) for leader in raw.get("leaders") or ())
    for unit in units:
        if str(unit["id"]) == office_id:
            continue
        found.append(_person(unit.get("head"), ["head"], str(unit["id"])))
        found.extend(_person(h, ["handler"], str(unit["id"]))
                     for h in unit.get("handlers") or ())
    listed: dict[str, dict] = {}
    for person in found:
        if person is not None:
            listed.setdefault(person["id"], person)
    return list(listed.values())


def unit_names(directory) -> dict[str, str]:
    """Unit id → name, for showing whom a person works for."""
    return {str(u["id"]): str(u.get("name") or u["id"])
            for u in _raw(directory).get("units") or () if isinstance(u, Mapping) and u.get("id")}


def _first(attributes: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        for value in attributes.get(name) or ():
            if value:
                return value
    return None


def principal_fields(user: CasUser, directory) -> dict | None:
    """{id, name, roles, unit} of a person signed in through CAS: roles (among handler, head,
    office, leader) and unit from the CAS attributes `roles` and `unit` when the identity
    provider releases roles, else from org.yaml by user id; the name from `name` or
    `displayName`, else org.yaml. None when jiesu does not know them as staff: no role, a
    handler's or head's role without a unit, or a unit that is not in org.yaml."""
    known = {person["id"]: person for person in people(directory)}
    units = set(unit_names(directory))
    listed = known.get(user.id)
    attributes = user.attributes or {}
    roles = []
    for value in attributes.get("roles") or ():
        # Some providers send one comma-separated value instead of a multi-valued attribute.
        for role in value.split(","):
            role = role.strip()
            if role in STAFF_ROLES and role not in roles:
                roles.append(role)
    if roles:
        unit = _first(attributes, "unit") or (listed["unit"] if listed else None)
    elif listed:
        roles, unit = list(listed["roles"]), listed["unit"]
    else:
        return None
    if unit is not None and unit not in units:
        return None
    if unit is None and any(role in UNIT_ROLES for role in roles):
        return None
    name = _first(attributes, "name", "displayName") or (listed["name"] if listed else user.id)
    if len(name) > MAX_ID_LENGTH or _CONTROL.search(name):
        name = listed["name"] if listed else user.id
    return {"id": user.id, "name": name, "roles": roles, "unit": unit}
