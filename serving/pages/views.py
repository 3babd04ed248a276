"""The pages themselves: sign-in, the queue, one complaint (confirm or correct), the clusters.

    GET  /login, POST /login, POST /logout
    GET  /review                   the queue, red first (filters and pages as query parameters)
    GET  /review/{complaint_id}    one complaint: masked text, decision, history; POST: confirm or correct
    GET  /clusters                 active and alerted clusters, the alerts raised; GET /clusters/{cluster_id}: one,
                                   with members and its alerts; POST /clusters/{id}/alerts/{alert_id}: confirm, dismiss
    GET  /static/review.css, /static/review.js
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError

from serving.deps import PageIntake, PagesNotReady, RuntimeDep, SignInRequired, StoreDep, Viewer, page_intake, signed_in
from serving.intake import Intake
from serving.pages.filters import ALERT_STATUS, STATIC, Chart, growth_chart, segment, templates
from serving.pages.session import csrf_ok, flash, local_path, sign_in, sign_out, to_login
from serving.pages.session import csrf_token as session_csrf_token
from serving.params import MAX_AGE_HOURS, MAX_OFFSET
from serving.roles import LEAD
from serving.schemas import AlertReviewIn, ReviewIn
from serving.store import ComplaintRecord, ComplaintSummary, NothingToCorrect, QueueFilter, Store
from serving.store.alerts import AlertAlreadyReviewed
from triage.schemas import ClusterSummary, validation_problems
from triage.similarity.corrections import MatterCorrection, MattersUnchanged, UnknownComplaints
from triage.vocabulary import TIERS

router = APIRouter(include_in_schema=False)

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
CSRF_FAILED = "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。"


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    viewer = getattr(request.state, "principal", None)
    base = {"viewer": viewer, "csrf_token": session_csrf_token(request), "flash": request.session.pop("flash", None)}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code,
                                      headers=SECURITY_HEADERS)


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status_code)


def sign_in_first(request: Request, _exc: Exception) -> Response:
    """The answer to SignInRequired: the sign-in page, coming back here afterwards."""
    return to_login(request)


def not_ready(request: Request, exc: Exception) -> Response:
    """The answer to PagesNotReady: a page that says the model is loading, or why it could not be loaded."""
    error = exc.error if isinstance(exc, PagesNotReady) else None
    return error_page(request, 503, "服务尚未就绪",
                      "模型正在加载，请稍后刷新页面。" if error is None else f"模型未能加载：{error}")


EXCEPTION_HANDLERS = {SignInRequired: sign_in_first, PagesNotReady: not_ready}


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/review", status_code=303)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise HTTPException(404, "not found")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"})


# ---- sign-in -----------------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next_page: Annotated[str | None, Query(alias="next")] = None) -> Response:
    if signed_in(request) is not None:
        return RedirectResponse(local_path(next_page) or "/review", status_code=303)
    return render(request, "login.html", {"error": None, "next": local_path(next_page) or ""})


@router.post("/login")
def login(request: Request, store: StoreDep, runtime: RuntimeDep, key: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "", next_page: Annotated[str, Form(alias="next")] = "") -> Response:
    target = local_path(next_page) or ""
    if not csrf_ok(request, csrf_token):
        request.session.pop("csrf", None)  # the form shown again carries a fresh one
        return render(request, "login.html", {"error": "表单已过期或来源不明，请重新提交。", "next": target}, 403)
    principal = store.authenticate(key.strip()) if key.strip() else None
    if principal is None:
        return render(request, "login.html", {"error": "密钥无效或已被吊销。", "next": target}, 401)
    if principal.role not in LEAD:
        return render(request, "login.html", {
            "error": f"该密钥的角色是「{principal.role}」：只有组长（lead）或管理员（admin）可以登录审核页面。",
            "next": target}, 403)
    sign_in(request, store, principal.key_id, runtime.settings)
    request.state.principal = principal
    return RedirectResponse(target or "/review", status_code=303)


@router.post("/logout")
def logout(request: Request, store: StoreDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not csrf_ok(request, csrf_token):
        return error_page(request, 403, "请求被拒绝", CSRF_FAILED)
    sign_out(request, store)
    return RedirectResponse("/login", status_code=303)


# ---- the queue ---------------------------------------------------------------------------------------
def _hours(raw: str | None, name: str, problems: list[str]) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_AGE_HOURS:  # NaN fails too; past the bound the clock arithmetic overflows
        problems.append(f"{name}必须是 0 到 {MAX_AGE_HOURS:,.0f} 之间的小时数（已忽略「{raw}」）")
        return None
    return value


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(raw or default), low), high)
    except ValueError:
        return default


@router.get("/review")
def queue_page(request: Request, intake: PageIntake, store: StoreDep, tier: str | None = None,
               category: str | None = None, department: str | None = None, min_age_hours: str | None = None,
               max_age_hours: str | None = None, limit: str | None = None, offset: str | None = None) -> Response:
    categories, departments = intake.service.categories(), intake.service.departments()
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
    start = _int(offset, 0, 0, MAX_OFFSET)
    filters = QueueFilter(chosen["tier"] or None, chosen["category"] or None, chosen["department"] or None,
                          low, high)
    total, items = store.queue(filters, page_size, start)
    kept = {k: v for k, v in chosen.items() if v}

    def page(at: int) -> str:
        return "/review?" + urlencode({**kept, "limit": page_size, "offset": at})

    return render(request, "queue.html", {
        "items": items, "total": total, "offset": start, "limit": page_size,
        "zone": intake.service.policy.zone, "now": datetime.now(UTC),
        "tier_names": _tier_names(intake), "categories": categories, "departments": departments,
        "chosen": chosen, "filtered": bool(kept), "problems": problems,
        "previous_page": page(max(start - page_size, 0)) if start > 0 else None,
        "next_page": page(start + page_size) if start + page_size < total else None,
    })


def _tier_names(intake: Intake) -> dict[str, str]:
    return {label: tier.name for label, tier in intake.service.policy.tiers.items()}


# ---- one complaint -----------------------------------------------------------------------------------
def _next_in_queue(store: Store, after: str | None = None) -> str | None:
    """The complaint a lead reviews next: the head of the queue (other than `after`)."""
    _, items = store.queue(QueueFilter(), 2, 0)
    return next((item.complaint_id for item in items if item.complaint_id != after), None)


def _cluster(intake: Intake, store: Store, cluster_id: str) -> tuple[ClusterSummary | None, bool]:
    """A cluster from the window, or else the last summary the store kept of it; and whether it is in the window."""
    cluster = intake.cluster(cluster_id)
    if cluster is not None:
        return cluster, True
    return store.alerted_cluster(cluster_id), False


def _complaint_context(intake: Intake, store: Store, record: ComplaintRecord) -> dict[str, Any]:
    decision = record.decision
    others: list[ComplaintSummary] = []
    others_total = 0
    if record.customer_id:
        others_total, others = store.customer_complaints(record.customer_id, 21, 0)
        others = [c for c in others if c.complaint_id != record.complaint_id][:20]
        others_total -= 1
    cluster_id = decision.group.cluster_id
    cluster = _cluster(intake, store, cluster_id)[0] if cluster_id else None
    matters = store.customer_matters(record.customer_id) if record.customer_id else []
    matter = next((m for m in matters if record.complaint_id in m.complaint_ids), None)
    return {
        "record": record, "decision": decision, "zone": intake.service.policy.zone, "now": datetime.now(UTC),
        "tier_names": _tier_names(intake), "categories": intake.service.categories(),
        "departments": intake.service.departments(), "tiers": TIERS,
        "clocks": [(label, getattr(decision.clocks, key)) for key, label in CLOCKS],
        "others": others, "others_total": max(others_total, 0), "cluster": cluster,
        "next_id": _next_in_queue(store, record.complaint_id), "error": None,
        "matter": matter, "other_matters": [m for m in matters if m is not matter], "matter_error": None,
        "matter_corrections": store.matter_corrections(record.customer_id)[-5:] if record.customer_id else [],
        "form": {"category": "", "tier": "", "department": "", "comment": ""},
    }


def _no_complaint(request: Request, complaint_id: str) -> Response:
    return error_page(request, 404, "未找到投诉", f"没有编号为「{complaint_id}」的投诉。")


@router.get("/review/{complaint_id}")
def complaint_page(request: Request, complaint_id: str, intake: PageIntake, store: StoreDep) -> Response:
    complaint_id = store.complaint_key(complaint_id)  # an id that is personal data: its reference
    record = store.complaint(complaint_id)
    if record is None:
        return _no_complaint(request, complaint_id)
    return render(request, "complaint.html", _complaint_context(intake, store, record))


@router.post("/review/{complaint_id}")
def review_complaint(request: Request, complaint_id: str, viewer: Viewer, runtime: RuntimeDep,
                     action: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "",
                     tier: Annotated[str, Form()] = "", department: Annotated[str, Form()] = "",
                     comment: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    if not csrf_ok(request, csrf_token):
        return error_page(request, 403, "请求被拒绝", CSRF_FAILED)
    intake = page_intake(runtime)
    store = runtime.store
    complaint_id = store.complaint_key(complaint_id)  # an id that is personal data: its reference
    record = store.complaint(complaint_id)
    if record is None:
        return _no_complaint(request, complaint_id)
    # The correction form shows the current routing; what the lead changed is the correction.
    current = {"category": record.category, "tier": record.tier, "department": record.department}
    changed = {name: value.strip() or None for name, value in
               (("category", category), ("tier", tier), ("department", department))}
    changed = {name: value if value != current[name] else None for name, value in changed.items()}
    problem = None
    body = None
    if action == "correct" and not any(changed.values()):
        problem = "更正需要改变类别、等级或部门中的至少一项；若路由无误，请点「确认」。"
    else:
        try:
            body = ReviewIn.model_validate({"action": action, "comment": comment,
                                            **(changed if action == "correct" else {})})
        except ValidationError as exc:
            problem = validation_problems(exc, separator="；", locations=False)
        else:
            problems = intake.service.correction_problems(body.category, body.department)
            if problems:
                problem = "；".join(p.message for p in problems)
    if problem is not None or body is None:
        context = _complaint_context(intake, store, record)
        context.update(error=problem or "无效的请求。",
                       form={"category": category, "tier": tier, "department": department,
                             "comment": store.protector.mask_text(comment)})  # shown again: masked like any comment
        return render(request, "complaint.html", context, 422)
    try:
        store.review(complaint_id, viewer, body.action, body.category, body.tier, body.department, body.comment)
    except NothingToCorrect:  # another lead made the same change meanwhile
        context = _complaint_context(intake, store, store.complaint(complaint_id) or record)
        context.update(error="该投诉已是所选的类别、等级和部门，无需更正；若路由无误，请点「确认」。")
        return render(request, "complaint.html", context, 422)
    if body.action == "confirm":
        flash(request, f"已确认 {complaint_id}。")
    else:
        what = "，".join(f"{label} {current[name]} → {changed[name]}" for name, label in
                        (("category", "类别"), ("tier", "等级"), ("department", "部门")) if changed[name])
        flash(request, f"已更正 {complaint_id}：{what}。")
    following = _next_in_queue(store, complaint_id)
    return RedirectResponse(f"/review/{segment(following)}" if following else "/review", status_code=303)


@router.post("/review/{complaint_id}/matter")
def correct_matter(request: Request, complaint_id: str, viewer: Viewer, runtime: RuntimeDep,
                   action: Annotated[str, Form()] = "", other: Annotated[str, Form()] = "",
                   comment: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    """A lead splits this complaint off its matter, or joins its matter with another of the customer's."""
    if not csrf_ok(request, csrf_token):
        return error_page(request, 403, "请求被拒绝", CSRF_FAILED)
    intake = page_intake(runtime)
    store = runtime.store
    complaint_id = store.complaint_key(complaint_id)  # an id that is personal data: its reference
    record = store.complaint(complaint_id)
    if record is None:
        return _no_complaint(request, complaint_id)
    other = store.complaint_key(other.strip())  # the same for the matter named
    problem, status_code = None, 422
    if not record.customer_id:
        problem = "匿名投诉不属于任何事项。"
    elif action not in ("split", "join"):
        problem = "请选择「拆出」或「合并」。"
    elif action == "join" and not other.strip():
        problem = "请选择要合并的事项。"
    elif len(comment) > 2000:
        problem = "意见最多 2000 字。"
    else:
        correction = (MatterCorrection("split", (complaint_id,)) if action == "split"
                      else MatterCorrection("join", (complaint_id, other.strip())))
        try:
            intake.correct_matters(record.customer_id, correction, viewer, comment.strip())
        except UnknownComplaints:
            problem, status_code = f"该客户没有事项「{other}」。", 404
        except MattersUnchanged:
            problem, status_code = ("该投诉已是单独的事项，无需拆出。" if action == "split"
                                    else "这两件投诉已属于同一事项。"), 409
    if problem is not None:
        context = _complaint_context(intake, store, record)
        context.update(matter_error=problem)
        return render(request, "complaint.html", context, status_code)
    flash(request, f"已将 {complaint_id} 拆出为单独的事项。" if action == "split"
          else f"已将 {complaint_id} 所属事项与 {other.strip()} 所属事项合并。")
    return RedirectResponse(f"/review/{segment(complaint_id)}", status_code=303)


# ---- clusters ----------------------------------------------------------------------------------------
def _charts(store: Store, clusters: list[ClusterSummary], **size: int) -> list[Chart | None]:
    """Each cluster's size-over-time chart, from its members' received times."""
    members = sorted({m for c in clusters for m in c.members})
    times = {row.complaint_id: row.received_at for row in store.member_times(members)} if members else {}
    return [growth_chart([times[m] for m in c.members if m in times], **size) for c in clusters]


@router.get("/clusters")
def clusters_page(request: Request, intake: PageIntake, store: StoreDep) -> Response:
    active = intake.clusters()
    alerted = store.alerted_clusters()
    shown_active, shown_alerted = active[:MAX_CLUSTERS], alerted[:MAX_CLUSTERS]
    charts = _charts(store, shown_active + shown_alerted)
    return render(request, "clusters.html", {
        "active": list(zip(shown_active, charts[:len(shown_active)], strict=True)),
        "alerted": list(zip(shown_alerted, charts[len(shown_active):], strict=True)),
        "active_total": len(active), "alerted_total": len(alerted), "zone": intake.service.policy.zone,
        "raised": store.alerts(limit=MAX_CLUSTERS)})


@router.get("/clusters/{cluster_id}")
def cluster_page(request: Request, cluster_id: str, intake: PageIntake, store: StoreDep) -> Response:
    cluster, in_window = _cluster(intake, store, cluster_id)
    if cluster is None:
        return error_page(request, 404, "未找到聚类", f"聚类「{cluster_id}」不在当前窗口中，也没有预警记录。")
    [chart] = _charts(store, [cluster], width=640, height=160, pad=8)
    return render(request, "cluster.html", {
        "cluster": cluster, "growth": chart, "in_window": in_window, "members": store.summaries(cluster.members),
        "zone": intake.service.policy.zone, "now": datetime.now(UTC), "tier_names": _tier_names(intake),
        "raised": store.alerts(cluster.cluster_id)})


@router.post("/clusters/{cluster_id}/alerts/{alert_id}")
def review_alert(request: Request, cluster_id: str, alert_id: str, viewer: Viewer, runtime: RuntimeDep,
                 action: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    """A lead confirms a group alert, or dismisses it as not one incident (as POST /v1/alerts/{id})."""
    if not csrf_ok(request, csrf_token):
        return error_page(request, 403, "请求被拒绝", CSRF_FAILED)
    intake = page_intake(runtime)
    alert = runtime.store.alert(alert_id)
    if alert is None or alert.cluster_id != cluster_id:
        return error_page(request, 404, "未找到预警", f"聚类「{cluster_id}」没有编号为「{alert_id}」的预警。")
    try:
        body = AlertReviewIn.model_validate({"action": action, "comment": comment})
    except ValidationError as exc:
        return error_page(request, 422, "无效的请求", validation_problems(exc, separator="；", locations=False))
    try:
        intake.review_alert(alert_id, body.action, viewer, body.comment)
    except AlertAlreadyReviewed:
        flash(request, f"预警 {alert_id} 已被处理过（{ALERT_STATUS.get(alert.status, alert.status)}）。", "error")
    else:
        flash(request, f"已确认预警 {alert_id}：按同一事件处置。" if body.action == "confirm" else
              f"已驳回预警 {alert_id}：不是同一事件，已撤回其升级；聚类新增客户达到原有的一半时才会再次预警。")
    return RedirectResponse(f"/clusters/{segment(cluster_id)}", status_code=303)
