"""The sandbox's API answers, apart from HTTP plumbing and faults.

``SandboxApp`` routes a request, checks credentials and site, validates the
body with ``rules`` and applies it to the ``LeadStore``. It returns a
``Reply``; the HTTP handler in ``server`` adds faults, latency and the wire.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from importer.api_contract import LEAD_TEXT_FIELDS
from importer.sandbox import rules
from importer.sandbox.config import SandboxConfig
from importer.sandbox.operation import Recorder
from importer.sandbox.store import LeadStore
from importer.sandbox.users import UserDirectory

_SITE = r"(?P<site>[^/]+)"
_LEAD = r"(?P<lead>[^/]+)"
# (pattern, method, route name). Both printings of the v2 path are served.
_API_ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), method, name)
    for pattern, method, name in (
        (rf"/rest/sites/{_SITE}/leads", "POST", "create_lead"),
        (rf"/rest/sites/{_SITE}/leads/{_LEAD}", "PATCH", "update_lead"),
        (rf"/rest/sites/{_SITE}/leads/{_LEAD}/activities", "POST", "add_activities"),
        (rf"/rest/sites/{_SITE}/potential-seller-leads", "POST", "create_potential_seller_lead"),
        (rf"/rest/sites/{_SITE}/users", "GET", "list_users"),
        (rf"/rest/sites/{_SITE}/v2/leads/{_LEAD}", "PATCH", "update_lead_v2"),
        (rf"/v2/rest/sites/{_SITE}/leads/{_LEAD}", "PATCH", "update_lead_v2"),
    )
)
_INSPECT_LEADS = re.compile(rf"/_sandbox/sites/{_SITE}/leads")
INSPECTION_PREFIX = "/_sandbox"
JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A JSON answer; non-ASCII text is sent as UTF-8."""
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), JSON, headers)


def error_reply(status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """The API's error shape: ``{"error": "<readable reason>"}``."""
    return json_reply(status, {"error": reason}, headers)


_EMPTY_201 = Reply(201, b"{}")
_EMPTY_200 = Reply(200, b"{}")
_UNAUTHORIZED = error_reply(
    401,
    "unauthorized: wrong or missing credentials (HTTP Basic user and password)",
    (("WWW-Authenticate", 'Basic realm="rg-import sandbox"'),),
)


@dataclass(frozen=True)
class Match:
    """Where a request path led: a route name ("unknown" if none) and its parameters."""

    route: str
    params: dict[str, str] = field(default_factory=dict)
    known_path: bool = False  # the path exists, perhaps for another method
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Body:
    """A request body parsed as JSON, or the reason it could not be."""

    value: Any = None
    error: str | None = None


def parse_body(raw: bytes) -> Body:
    """Parse a request body as strict JSON in UTF-8 (NaN and Infinity are refused)."""
    if not raw.strip():
        return Body(error="The request body is empty; send a JSON document.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Body(error="The request body is not UTF-8 text.")
    try:
        return Body(json.loads(text, parse_constant=_refuse_constant))
    except ValueError as exc:
        return Body(error=f"The request body is not valid JSON: {exc}.")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def match_api(method: str, path: str) -> Match:
    """The API route of ``method path``; route "unknown" when none fits."""
    allowed: list[str] = []
    for pattern, route_method, name in _API_ROUTES:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        if route_method == method:
            return Match(name, found.groupdict(), True, (route_method,))
        allowed.append(route_method)
    return Match("unknown", {}, bool(allowed), tuple(allowed))


class SandboxApp:
    """The API and inspection answers of one sandbox."""

    def __init__(self, config: SandboxConfig, store: LeadStore, recorder: Recorder) -> None:
        self.config = config
        self.store = store
        self.recorder = recorder
        self._user = config.username.encode("utf-8")
        self._password = config.password.encode("utf-8")
        self._sites = frozenset(_site_key(s) for s in config.sites)
        self._ignore_unknown = config.unknown_fields == "ignore"
        self.users = UserDirectory(config.users)  # type: ignore[arg-type]  # checked by the config

    # --- shared -------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        """True when an Authorization header carries the sandbox's Basic credentials."""
        if not header:
            return False
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both comparisons always run, so timing does not reveal which part was wrong.
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return bool(sep) and user_ok and password_ok

    # --- API ------------------------------------------------------------------

    def handle(self, method: str, match: Match, authorization: str | None, body: Body) -> Reply:
        """Answer an API request (after faults and rate limits were considered)."""
        if not self.authorized(authorization):
            return _UNAUTHORIZED
        if match.route == "unknown":
            if match.known_path:
                allow = ", ".join(match.allowed)
                return error_reply(
                    405, f"Method {method} is not allowed here; use {allow}.", (("Allow", allow),)
                )
            return error_reply(404, "Not found: no such API path.")
        site = match.params["site"]
        if not rules.is_uuid(site):
            return error_reply(404, "Site not found: the site id in the path is not a UUID.")
        site = _site_key(site)
        if match.route == "list_users":
            return self._list_users(site)
        if self._sites and site not in self._sites:
            return error_reply(
                401, f"unauthorized: these credentials may not write to site {site}."
            )
        lead_id = match.params.get("lead")
        if lead_id is not None and not rules.is_uuid(lead_id):
            return error_reply(404, "Lead not found: the lead id in the path is not a UUID.")
        if body.error is not None:
            return error_reply(400, body.error)
        if match.route == "create_lead":
            return self._create_lead(site, body.value)
        if match.route == "create_potential_seller_lead":
            return self._create_potential_seller(site, body.value)
        assert lead_id is not None  # every other route has a lead in its path
        if match.route == "add_activities":
            return self._add_activities(site, lead_id, body.value)
        return self._update_lead(site, lead_id, body.value, v2=match.route == "update_lead_v2")

    def _list_users(self, site: str) -> Reply:
        """The site's users; a site outside ``--site`` is unknown (404), unless
        users were given for it by name: then it exists but is not these credentials' (403)."""
        if self._sites and site not in self._sites:
            if self.users.has_own(site):
                return error_reply(
                    403, f"forbidden: these credentials may not read the users of site {site}."
                )
            return error_reply(404, f"Site {site} not found.")
        return json_reply(200, self.users.for_site(site))

    def _create_lead(self, site: str, lead: Any) -> Reply:
        if not isinstance(lead, dict):
            return error_reply(400, "The request body must be a JSON object (one lead).")
        if self._ignore_unknown:
            lead = rules.drop_unknown_lead_fields(lead)
        problem = rules.first(rules.lead_problems(lead))
        if problem:
            return error_reply(422, problem)
        self.store.create(
            site,
            lead_id=None if rules.is_blank(lead.get("id")) else lead["id"],
            fields=rules.text_fields(lead),
            activities=lead.get("activities") or (),
        )
        return _EMPTY_201

    def _create_potential_seller(self, site: str, lead: Any) -> Reply:
        if not isinstance(lead, dict):
            return error_reply(
                400, "The request body must be a JSON object (one potential seller lead)."
            )
        if self._ignore_unknown:
            lead = rules.drop_unknown_lead_fields(lead)
        problem = rules.first(rules.potential_seller_problems(lead))
        if problem:
            return error_reply(422, problem)
        self.store.create(
            site,
            lead_id=None if rules.is_blank(lead.get("id")) else lead["id"],
            fields=rules.text_fields(lead),
            activities=lead["activities"],
            new_lead_fields={"role": "Potential Seller"},
        )
        return _EMPTY_201

    def _update_lead(self, site: str, lead_id: str, patch: Any, *, v2: bool) -> Reply:
        if not isinstance(patch, dict):
            return error_reply(
                400, "The request body must be a JSON object (the fields to change)."
            )
        if self._ignore_unknown:
            patch = rules.drop_unknown_lead_fields(patch)
        own_id = self.store.resolve(site, lead_id)
        if own_id is None:
            return _lead_not_found(site, lead_id)
        problem = rules.first(rules.patch_problems(patch, v2=v2))
        if problem:
            return error_reply(422, problem)
        body_id = patch.get("id")
        if not rules.is_blank(body_id) and self.store.resolve(site, body_id) != own_id:
            return error_reply(
                422,
                "Field 'id' does not name the lead in the path; leave it out or send the same id.",
            )
        unset = [k for k, v in patch.items() if v2 and k in LEAD_TEXT_FIELDS and rules.is_blank(v)]
        activities = patch.get("activities")
        if not self.store.update(
            site,
            lead_id,
            fields=rules.text_fields(patch),
            unset=unset,
            activities=activities if isinstance(activities, list) else (),
        ):
            return _lead_not_found(site, lead_id)
        return _EMPTY_200

    def _add_activities(self, site: str, lead_id: str, activities: Any) -> Reply:
        if not isinstance(activities, list):
            return error_reply(
                400,
                "The request body must be a JSON list of activity objects, even for one activity.",
            )
        if self._ignore_unknown:
            activities = rules.drop_unknown_activity_fields(activities)
        if self.store.resolve(site, lead_id) is None:
            return _lead_not_found(site, lead_id)
        problem = rules.first(rules.activity_list_problems(activities))
        if problem:
            return error_reply(422, problem)
        if not self.store.add_activities(site, lead_id, activities):
            return _lead_not_found(site, lead_id)
        return _EMPTY_200

    # --- inspection -------------------------------------------------------------

    def inspect(self, method: str, path: str, authorization: str | None) -> Reply:
        """Answer a ``/_sandbox/...`` request: leads, stats, request log or reset."""
        if not self.authorized(authorization):
            return _UNAUTHORIZED
        leads = _INSPECT_LEADS.fullmatch(path)
        wanted = "GET"
        if leads is not None:
            if method == "GET":
                site = leads["site"]
                if not rules.is_uuid(site):
                    return error_reply(
                        404, "Site not found: the site id in the path is not a UUID."
                    )
                return json_reply(200, self.store.leads(_site_key(site)))
        elif path == "/_sandbox/stats":
            if method == "GET":
                return json_reply(200, self.recorder.stats())
        elif path == "/_sandbox/requests":
            if method == "GET":
                return json_reply(200, self.recorder.requests())
        elif path == "/_sandbox/reset":
            wanted = "POST"
            if method == "POST":
                self.reset()
                return _EMPTY_200
        else:
            return error_reply(404, "Not found: no such inspection path.")
        return error_reply(
            405, f"Method {method} is not allowed here; use {wanted}.", (("Allow", wanted),)
        )

    def reset(self) -> None:
        """Forget leads, stats and the request log."""
        self.store.reset()
        self.recorder.reset()


def _site_key(site: str) -> str:
    """Sites are kept in dashed lowercase form, whichever form the path used."""
    return str(uuid.UUID(site))


def _lead_not_found(site: str, lead_id: str) -> Reply:
    return error_reply(
        404,
        f"Lead {lead_id} not found on site {site}; create it with POST /sites/{site}/leads first.",
    )
