"""The team leads' review pages: server-rendered HTML (Jinja2, autoescaped), a session cookie, CSRF tokens.

A lead signs in by pasting an API key once: the key is checked, and the session (a signed cookie) keeps its id
and a CSRF token, never the secret. Every request checks the key again, so a revoked key is signed out at
once. Every POST form carries the session's CSRF token; a POST without it is refused (403).

    GET  /login, POST /login, POST /logout
    GET  /review                   the queue, red first (filters and pages as query parameters)
    GET  /review/{complaint_id}    one complaint: masked text, decision, history; POST: confirm or correct
    GET  /clusters                 active and alerted clusters; GET /clusters/{cluster_id}: one, with members
    GET  /static/review.css, /static/review.js
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from serving.auth import LEAD
from serving.intake import Intake
from serving.logs import scrub
from serving.routes import check_review, known_departments
from serving.schemas import ReviewIn
from serving.store import Principal, QueueFilter

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True))

TIERS = ("red", "yellow", "green")
TIER_COLOURS = {"red": "红", "yellow": "黄", "green": "绿"}
ALERTS = {"emerging": "初现", "major": "重大"}
ACTIONS = {"confirm": "确认", "correct": "更正"}
CLOCKS = (("register_by", "登记时限"), ("acknowledge_by", "告知受理"), ("respond_by", "答复时限"),
          ("investigate_by", "调查时限"), ("investigate_extended_by", "调查延长时限"), ("decide_by", "办结时限"))
STATIC_FILES = {"review.css": "text/css; charset=utf-8", "review.js": "text/javascript; charset=utf-8"}
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
MAX_CLUSTERS = 200  # on the clusters page; alerts first
# Pages show personal data: no caching, no framing, nothing but this site's own CSS and JS.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


# ---- formatting (template filters) -------------------------------------------------------------------
def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_time(value: datetime | str | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = _as_datetime(value)
    return moment.astimezone(zone).strftime(fmt) if moment else "—"


def age(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long since, in words: 不到 1 分钟, 25 分钟, 3 小时, 2 天 5 小时."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    minutes = int(((now or datetime.now(UTC)) - moment).total_seconds() // 60)
    if minutes < 1:
        return "不到 1 分钟"
    if minutes < 60:
        return f"{minutes} 分钟"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} 小时"
    days, hours = divmod(hours, 24)
    return f"{days} 天 {hours} 小时" if hours else f"{days} 天"


def percent(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def is_past(value: datetime | str | None) -> bool:
    moment = _as_datetime(value)
    return moment is not None and moment < datetime.now(UTC)


def masked_id(value: str | None) -> str:
    """A customer id as shown: through the log scrubber (a customer id can be a phone or ID-card number)."""
    return "—" if not value else scrub(value)


def segment(value: str) -> str:
    """An id as one URL path segment (ids are the submitter's strings: "/", "?", "#" or ".." stay inside)."""
    return quote(str(value), safe="")


templates.env.filters.update(local=local_time, age=age, percent=percent, past=is_past, customer=masked_id,
                             seg=segment)
templates.env.globals.update(tier_colours=TIER_COLOURS, alerts=ALERTS, actions=ACTIONS)


def growth_chart(times: list[datetime], width: int = 160, height: int = 36, pad: int = 3) -> dict | None:
    """A cluster's size over time as an SVG step line: the cumulative count of members by received time.
    Only numbers reach the template (the points attribute), never text."""
    if not times:
        return None
    times = sorted(times)
    start, end = times[0], times[-1]
    span = (end - start).total_seconds() or 1.0
    count = len(times)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad

    def x(moment: datetime) -> float:
        return pad + inner_w * (moment - start).total_seconds() / span

    def y(n: int) -> float:
        return pad + inner_h * (1 - n / count)

    points = [(x(start), y(0))]
    for n, moment in enumerate(times, start=1):
        points += [(x(moment), y(n - 1)), (x(moment), y(n))]
    points.append((pad + inner_w, y(count)))
    return {"width": width, "height": height, "count": count, "start": start, "end": end,
            "points": " ".join(f"{px:.1f},{py:.1f}" for px, py in points)}


# ---- session, sign-in, CSRF --------------------------------------------------------------------------
def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def _csrf_ok(request: Request, token: str) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and bool(token) and secrets.compare_digest(str(expected), token)


def _viewer(request: Request) -> Principal | None:
    """The signed-in lead or admin, re-checked against the store on every request (a revoked key or a role
    that may no longer review ends the session)."""
    key_id = request.session.get("key_id")
    if not isinstance(key_id, int):
        return None
    principal = request.app.state.runtime.store.principal(key_id)
    if principal is None or principal.role not in LEAD:
        request.session.clear()
        return None
    request.state.principal = principal  # the request log names the key
    return principal


def _local_path(target: str | None) -> str | None:
    """`target` when it is a path of these pages (no open redirect), else None."""
    if not target or not target.startswith(("/review", "/clusters")) or "//" in target or "\\" in target:
        return None
    return target


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = f"?{urlencode({'next': target})}" if _local_path(target) else ""
    return RedirectResponse(f"/login{query}", status_code=303, headers={"Cache-Control": "no-store"})


def _flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    viewer = getattr(request.state, "principal", None)
    base = {"viewer": viewer, "csrf_token": _csrf(request), "flash": request.session.pop("flash", None)}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code,
                                      headers=SECURITY_HEADERS)


def _error(request: Request, status_code: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status_code)


def _intake(request: Request) -> Intake | None:
    return request.app.state.runtime.intake


def _signed_in_service(request: Request) -> Intake | Response:
    """The intake a signed-in lead's page reads, or the page to show instead (sign in; not ready yet)."""
    if _viewer(request) is None:
        return _to_login(request)
    service = _intake(request)
    return _not_ready(request) if service is None else service


def _not_ready(request: Request) -> Response:
    error = request.app.state.runtime.error
    return _error(request, 503, "服务尚未就绪",
                  "模型正在加载，请稍后刷新页面。" if error is None else f"模型未能加载：{error}")


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/review", status_code=303)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise HTTPException(404, "not found")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"})


@router.get("/login")
def login_form(request: Request, next_page: Annotated[str | None, Query(alias="next")] = None) -> Response:
    if _viewer(request) is not None:
        return RedirectResponse(_local_path(next_page) or "/review", status_code=303)
    return render(request, "login.html", {"error": None, "next": _local_path(next_page) or ""})


@router.post("/login")
def login(request: Request, key: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "",
          next_page: Annotated[str, Form(alias="next")] = "") -> Response:
    target = _local_path(next_page) or ""
    if not _csrf_ok(request, csrf_token):
        request.session.pop("csrf", None)  # the form shown again carries a fresh one
        return render(request, "login.html", {"error": "表单已过期或来源不明，请重新提交。", "next": target}, 403)
    principal = request.app.state.runtime.store.authenticate(key.strip()) if key.strip() else None
    if principal is None:
        return render(request, "login.html", {"error": "密钥无效或已被吊销。", "next": target}, 401)
    if principal.role not in LEAD:
        return render(request, "login.html", {
            "error": f"该密钥的角色是「{principal.role}」：只有组长（lead）或管理员（admin）可以登录审核页面。",
            "next": target}, 403)
    request.session.clear()
    request.session.update({"key_id": principal.key_id, "csrf": secrets.token_urlsafe(32)})
    request.state.principal = principal
    return RedirectResponse(target or "/review", status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not _csrf_ok(request, csrf_token):
        return _error(request, 403, "请求被拒绝", "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# ---- the queue ---------------------------------------------------------------------------------------
def _hours(raw: str | None, name: str, problems: list[str]) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        problems.append(f"{name}必须是不小于 0 的小时数（已忽略「{raw}」）")
        return None
    return value


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(raw or default), low), high)
    except ValueError:
        return default


@router.get("/review")
def queue_page(request: Request, tier: str | None = None, category: str | None = None,
               department: str | None = None, min_age_hours: str | None = None, max_age_hours: str | None = None,
               limit: str | None = None, offset: str | None = None) -> Response:
    service = _signed_in_service(request)
    if isinstance(service, Response):
        return service
    state = request.app.state.runtime
    categories = [str(c) for c in service.model.classes_]
    departments = known_departments(state)
    problems: list[str] = []
    chosen = {"tier": tier if tier in TIERS else "", "category": category if category in categories else "",
              "department": department if department in departments else "",
              "min_age_hours": "", "max_age_hours": ""}
    low = _hours(min_age_hours, "最短等待", problems)
    high = _hours(max_age_hours, "最长等待", problems)
    if low is not None:
        chosen["min_age_hours"] = f"{low:g}"
    if high is not None:
        chosen["max_age_hours"] = f"{high:g}"
    page_size = _int(limit, PAGE_SIZE, 1, MAX_PAGE_SIZE)
    start = _int(offset, 0, 0, 10**9)
    filters = QueueFilter(chosen["tier"] or None, chosen["category"] or None, chosen["department"] or None,
                          low, high)
    total, items = state.store.queue(filters, page_size, start)
    kept = {k: v for k, v in chosen.items() if v}

    def page(at: int) -> str:
        return "/review?" + urlencode({**kept, "limit": page_size, "offset": at})

    return render(request, "queue.html", {
        "items": items, "total": total, "offset": start, "limit": page_size,
        "zone": service.service.policy.zone, "now": datetime.now(UTC),
        "tier_names": _tier_names(service), "categories": categories, "departments": departments,
        "chosen": chosen, "filtered": bool(kept), "problems": problems,
        "previous_page": page(max(start - page_size, 0)) if start > 0 else None,
        "next_page": page(start + page_size) if start + page_size < total else None,
    })


def _tier_names(service: Intake) -> dict[str, str]:
    return {label: tier.name for label, tier in service.service.policy.tiers.items()}


# ---- one complaint -----------------------------------------------------------------------------------
def _next_in_queue(request: Request, after: str | None = None) -> str | None:
    """The complaint a lead reviews next: the head of the queue (other than `after`)."""
    _, items = request.app.state.runtime.store.queue(QueueFilter(), 2, 0)
    return next((item["complaint_id"] for item in items if item["complaint_id"] != after), None)


def _complaint_context(request: Request, service: Intake, record: dict) -> dict[str, Any]:
    state = request.app.state.runtime
    decision = record["decision"]
    complaint_id = record["complaint_id"]
    others: list[dict] = []
    others_total = 0
    if record["customer_id"]:
        others_total, others = state.store.customer_complaints(record["customer_id"], 21, 0)
        others = [c for c in others if c["complaint_id"] != complaint_id][:20]
        others_total -= 1
    group = decision["group"]
    cluster = service.cluster(group["cluster_id"]) if group.get("cluster_id") else None
    if cluster is None and group.get("cluster_id"):
        cluster = next((c for c in state.store.alerted_clusters() if c["cluster_id"] == group["cluster_id"]), None)
    return {
        "record": record, "decision": decision, "zone": service.service.policy.zone, "now": datetime.now(UTC),
        "tier_names": _tier_names(service), "categories": [str(c) for c in service.model.classes_],
        "departments": known_departments(state), "tiers": TIERS,
        "clocks": [(label, decision["clocks"].get(key)) for key, label in CLOCKS],
        "others": others, "others_total": max(others_total, 0), "cluster": cluster,
        "next_id": _next_in_queue(request, complaint_id), "error": None,
        "form": {"category": "", "tier": "", "department": "", "comment": ""},
    }


@router.get("/review/{complaint_id}")
def complaint_page(request: Request, complaint_id: str) -> Response:
    service = _signed_in_service(request)
    if isinstance(service, Response):
        return service
    record = request.app.state.runtime.store.complaint(complaint_id)
    if record is None:
        return _error(request, 404, "未找到投诉", f"没有编号为「{complaint_id}」的投诉。")
    return render(request, "complaint.html", _complaint_context(request, service, record))


@router.post("/review/{complaint_id}")
def review_complaint(request: Request, complaint_id: str, action: Annotated[str, Form()] = "",
                     category: Annotated[str, Form()] = "", tier: Annotated[str, Form()] = "",
                     department: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
                     csrf_token: Annotated[str, Form()] = "") -> Response:
    viewer = _viewer(request)
    if viewer is None:
        return _to_login(request)
    if not _csrf_ok(request, csrf_token):
        return _error(request, 403, "请求被拒绝", "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
    service = _intake(request)
    if service is None:
        return _not_ready(request)
    store = request.app.state.runtime.store
    record = store.complaint(complaint_id)
    if record is None:
        return _error(request, 404, "未找到投诉", f"没有编号为「{complaint_id}」的投诉。")
    # The correction form shows the current routing; what the lead changed is the correction.
    changed = {name: value.strip() or None for name, value in
               (("category", category), ("tier", tier), ("department", department))}
    changed = {name: value if value != record[name] else None for name, value in changed.items()}
    problem = None
    body = None
    if action == "correct" and not any(changed.values()):
        problem = "更正需要改变类别、等级或部门中的至少一项；若路由无误，请点「确认」。"
    else:
        try:
            body = ReviewIn.model_validate({"action": action, "comment": comment,
                                            **(changed if action == "correct" else {})})
            check_review(request, body)
        except ValidationError as exc:
            problem = "；".join(str(e["msg"]) for e in exc.errors())
        except RequestValidationError as exc:
            problem = "；".join(str(e["msg"]) for e in exc.errors())
        except HTTPException as exc:
            problem = str(exc.detail)
    if problem is not None or body is None:
        context = _complaint_context(request, service, record)
        context.update(error=problem or "无效的请求。",
                       form={"category": category, "tier": tier, "department": department, "comment": comment})
        return render(request, "complaint.html", context, 422)
    store.review(complaint_id, viewer, body.action, body.category, body.tier, body.department, body.comment)
    if body.action == "confirm":
        _flash(request, f"已确认 {complaint_id}。")
    else:
        what = "，".join(f"{label} {record[name]} → {changed[name]}" for name, label in
                        (("category", "类别"), ("tier", "等级"), ("department", "部门")) if changed[name])
        _flash(request, f"已更正 {complaint_id}：{what}。")
    following = _next_in_queue(request, complaint_id)
    return RedirectResponse(f"/review/{segment(following)}" if following else "/review", status_code=303)


# ---- clusters ----------------------------------------------------------------------------------------
def _with_charts(request: Request, clusters: list[dict], **size: int) -> list[dict]:
    members = sorted({m for c in clusters for m in c.get("members", [])})
    times = {cid: at for cid, at, _ in request.app.state.runtime.store.member_times(members)} if members else {}
    return [{**c, "chart": growth_chart([times[m] for m in c.get("members", []) if m in times], **size)}
            for c in clusters]


@router.get("/clusters")
def clusters_page(request: Request) -> Response:
    service = _signed_in_service(request)
    if isinstance(service, Response):
        return service
    active = service.clusters()
    alerted = request.app.state.runtime.store.alerted_clusters()
    shown_active, shown_alerted = active[:MAX_CLUSTERS], alerted[:MAX_CLUSTERS]
    charted = _with_charts(request, shown_active + shown_alerted)
    return render(request, "clusters.html", {
        "active": charted[:len(shown_active)], "alerted": charted[len(shown_active):],
        "active_total": len(active), "alerted_total": len(alerted), "zone": service.service.policy.zone})


@router.get("/clusters/{cluster_id}")
def cluster_page(request: Request, cluster_id: str) -> Response:
    service = _signed_in_service(request)
    if isinstance(service, Response):
        return service
    store = request.app.state.runtime.store
    cluster = service.cluster(cluster_id)
    in_window = cluster is not None
    if cluster is None:
        cluster = next((c for c in store.alerted_clusters() if c["cluster_id"] == cluster_id), None)
    if cluster is None:
        return _error(request, 404, "未找到聚类", f"聚类「{cluster_id}」不在当前窗口中，也没有预警记录。")
    charted = _with_charts(request, [cluster], width=640, height=160, pad=8)[0]
    return render(request, "cluster.html", {
        "cluster": charted, "in_window": in_window, "members": store.summaries(cluster.get("members", [])),
        "zone": service.service.policy.zone, "now": datetime.now(UTC), "tier_names": _tier_names(service)})
