"""`observatory push`: the dashboards, their folder and the datasources, sent to an existing Grafana.

For a Grafana the stack does not run (a managed one, say). Every object is read first and written only
when it differs, so pushing twice changes nothing and the report says added/updated/unchanged. The URL
and credentials come from flags or the environment and are never written anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from observatory import names
from observatory.render import dashboards, grafana
from observatory.spec.types import Spec

ENV_URL = "GRAFANA_URL"
ENV_TOKEN = "GRAFANA_TOKEN"  # a service-account token: the way to authenticate to a managed Grafana
ENV_USER = "GRAFANA_USER"
ENV_PASSWORD = "GRAFANA_PASSWORD"
TIMEOUT_SECONDS = 10.0
# Fields Grafana adds to a stored dashboard; they say nothing about its content.
DASHBOARD_BOOKKEEPING = ("id", "version")
# Grafana expands `${NAME}` in provisioning files and reads `$$` as a literal `$`; the API does
# neither, so push does both: `$$`, or `${NAME}` with NAME a variable name.
_PROVISIONING_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PushError(Exception):
    """Something the user must fix: the message says what and how."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    token: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class Report:
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (status, kind, name)

    def add(self, status: str, kind: str, name: str) -> None:
        self.lines.append((status, kind, name))

    def summary(self) -> str:
        counts = {s: sum(1 for line in self.lines if line[0] == s) for s in ("added", "updated", "unchanged")}
        return ", ".join(f"{n} {s}" for s, n in counts.items())


def target_from(url: str | None, token: str | None, user: str | None, password: str | None) -> Target:
    """The Grafana to push to, checked before any request is made."""
    if not url:
        raise PushError(f"no Grafana URL: pass --url or set {ENV_URL}")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise PushError(f"invalid Grafana URL {url!r}: expected http(s)://host[:port][/path]")
    if parsed.username or parsed.password:
        raise PushError(
            "put credentials in --token or --user/--password (or the environment), not in the URL"
        )
    if not token and not (user and password):
        raise PushError(
            f"no credentials: set {ENV_TOKEN} (a service-account token) or {ENV_USER} and {ENV_PASSWORD}"
        )
    return Target(url.rstrip("/"), token or None, user, password)


def connect(target: Target) -> Any:
    """The client. Typed Any: most of grafana-client's element methods carry no annotations."""
    credential: str | tuple[str, str] = target.token or (target.user or "", target.password or "")
    return GrafanaApi.from_url(target.url, credential=credential, timeout=TIMEOUT_SECONDS)


@contextmanager
def _calling(target: Target, action: str) -> Iterator[None]:
    """Turns client errors into messages that say what to do."""
    try:
        yield
    except GrafanaUnauthorizedError as error:
        raise PushError(
            f"{target.url} refused the credentials while {action} (401): check the token or password"
        ) from error
    except GrafanaClientError as error:
        if error.status_code == 403:
            raise PushError(
                f"{target.url} denied {action} (403): the token needs the Editor role for folders and "
                "dashboards and Admin for datasources"
            ) from error
        if error.status_code == 412:
            raise PushError(
                f"{target.url} refused {action} (412 version conflict): it changed in Grafana since it was "
                "read, or another dashboard in the folder has the same title; push again, or with --overwrite"
            ) from error
        raise PushError(f"{target.url} rejected {action}: {error}") from error
    except GrafanaException as error:
        raise PushError(f"cannot reach Grafana at {target.url} while {action}: {error}") from error
    except OSError as error:  # connection refused, name not resolved, TLS: niquests' errors are OSErrors
        raise PushError(f"cannot reach Grafana at {target.url} while {action}: {error}") from error


def _get(target: Target, action: str, call: Any, *args: Any) -> Any:
    """`call(*args)`, or None when Grafana answers 404."""
    try:
        with _calling(target, action):
            return call(*args)
    except PushError as error:
        cause = error.__cause__
        if isinstance(cause, GrafanaClientError) and cause.status_code == 404:
            return None
        raise


def expand(value: Any, env: Mapping[str, str], missing: set[str]) -> Any:
    """`value` with provisioning variables replaced, as Grafana would read the file; names not in
    `env` are collected in `missing`."""
    if isinstance(value, dict):
        return {k: expand(v, env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env, missing) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in env:
            missing.add(name)
        return env.get(name, "")

    return _PROVISIONING_VAR.sub(one, value)


def push_folder(api: Any, target: Target, report: Report) -> None:
    uid, title = names.DASHBOARD_FOLDER_UID, names.DASHBOARD_FOLDER_TITLE
    existing = _get(target, f"reading folder {uid}", api.folder.get_folder, uid)
    if existing is None:
        with _calling(target, f"creating folder {uid}"):
            api.folder.create_folder(title, uid=uid)
        report.add("added", "folder", uid)
    elif existing.get("title") != title:
        with _calling(target, f"updating folder {uid}"):
            api.folder.update_folder(uid, title=title, version=existing.get("version"))
        report.add("updated", "folder", uid)
    else:
        report.add("unchanged", "folder", uid)


def _content(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in DASHBOARD_BOOKKEEPING}


def push_dashboard(
    api: Any, target: Target, dashboard: dict[str, Any], overwrite: bool, report: Report
) -> None:
    uid = dashboard["uid"]
    existing = _get(target, f"reading dashboard {uid}", api.dashboard.get_dashboard, uid)
    body: dict[str, Any] = {"dashboard": _content(dashboard), "folderUid": names.DASHBOARD_FOLDER_UID}
    if existing is not None:
        same_folder = existing.get("meta", {}).get("folderUid") == names.DASHBOARD_FOLDER_UID
        if same_folder and _content(existing["dashboard"]) == _content(dashboard):
            report.add("unchanged", "dashboard", uid)
            return
        # The version read: Grafana answers 412 if someone saved the dashboard since.
        body["dashboard"]["version"] = existing["dashboard"].get("version")
    with _calling(target, f"saving dashboard {uid}"):
        api.dashboard.update_dashboard({**body, "overwrite": overwrite, "message": "observatory push"})
    report.add("added" if existing is None else "updated", "dashboard", uid)


# What a provisioning entry and the datasource API both call the same thing; `editable` has no API twin.
DATASOURCE_FIELDS = ("name", "type", "uid", "access", "url", "user", "isDefault", "jsonData")


def push_datasource(api: Any, target: Target, datasource: dict[str, Any], report: Report) -> None:
    uid = datasource["uid"]
    body = {k: datasource[k] for k in DATASOURCE_FIELDS if k in datasource}
    existing = _get(target, f"reading datasource {uid}", api.datasource.get_datasource_by_uid, uid)
    if existing is not None and all(existing.get(k) == v for k, v in body.items()):
        # Secure fields are write-only in Grafana, so an unchanged datasource keeps its stored secret.
        report.add("unchanged", "datasource", uid)
        return
    if "secureJsonData" in datasource:
        body["secureJsonData"] = datasource["secureJsonData"]
    if existing is None:
        with _calling(target, f"creating datasource {uid}"):
            api.datasource.create_datasource(body)
        report.add("added", "datasource", uid)
    else:
        with _calling(target, f"updating datasource {uid}"):
            api.datasource.update_datasource_by_uid(uid, body)
        report.add("updated", "datasource", uid)


def datasources(spec: Spec, env: Mapping[str, str], urls: Mapping[str, str]) -> list[dict[str, Any]]:
    """The provisioned datasources as the API takes them. `urls` (datasource UID to URL) points them at
    backends the target Grafana can reach: the stack's own service names resolve only inside the stack."""
    missing: set[str] = set()
    sources: list[dict[str, Any]] = expand(grafana.datasources(spec).content["datasources"], env, missing)
    if missing:
        raise PushError(f"the datasources need these environment variables: {', '.join(sorted(missing))}")
    empty = sorted(uid for uid, url in urls.items() if not url)
    if empty:
        raise PushError(f"--datasource-url needs UID=URL, got no URL for {empty}")
    unknown = sorted(set(urls) - {ds["uid"] for ds in sources})
    if unknown:
        known = ", ".join(ds["uid"] for ds in sources)
        raise PushError(f"--datasource-url names unknown datasources {unknown}; the datasources are {known}")
    return [{**ds, "url": urls.get(ds["uid"], ds["url"])} for ds in sources]


def push(
    spec: Spec,
    target: Target,
    env: Mapping[str, str],
    overwrite: bool = False,
    urls: Mapping[str, str] | None = None,
) -> Report:
    """Push everything; raises PushError on the first problem, naming what to fix."""
    sources = datasources(spec, env, urls or {})
    boards = [a.content for a in dashboards.render(spec) if a.path.endswith(".json")]
    api, report = connect(target), Report()
    push_folder(api, target, report)
    for datasource in sources:
        push_datasource(api, target, datasource, report)
    for dashboard in boards:
        push_dashboard(api, target, dashboard, overwrite, report)
    return report
