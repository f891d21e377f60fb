"""Dashboard labels: Chinese with English beside them ("中文 / English"), or one language (sidebar switch)."""

from __future__ import annotations

LANGS: dict[str, str] = {"both": "中文 / English", "zh": "中文", "en": "English"}

_T: dict[str, tuple[str, str]] = {
    "title": ("医保投诉督办看板", "Complaint SLA dashboard"),
    "page": ("页面", "Page"),
    "overview": ("总览", "Overview"),
    "board": ("时限督办", "SLA board"),
    "units": ("承办单位", "Units"),
    "case": ("工单详情", "Case detail"),
    "calendar": ("工作日历", "Calendar"),
    "cases": ("工单列表", "Case list"),
    "scope": ("辖区 / 单位", "Jurisdiction / unit"),
    "period": ("统计期间", "Period"),
    "this_month": ("本月", "This month"),
    "last_7": ("近7天", "Last 7 days"),
    "last_30": ("近30天", "Last 30 days"),
    "last_month": ("上月", "Last month"),
    "this_quarter": ("本季度", "This quarter"),
    "custom": ("自定义", "Custom"),
    "dates": ("起止日期", "Dates"),
    "previous": ("上期", "Previous period"),
    "language": ("语言", "Language"),
    "unavailable": ("数据源不可用，请稍后重试", "Data source unavailable, please retry later"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "login_needed": ("请先登录", "Please log in"),
    "no_unit": ("您的账号未配置所属单位，无权查看", "No unit is mapped to your account: access denied"),
    "open_cases": ("在办工单", "Open cases"),
    "due_today": ("今日到期", "Due today"),
    "due_tomorrow": ("明日到期", "Due tomorrow"),
    "on_time_acceptance": ("按时受理率", "On-time acceptance"),
    "on_time_completion": ("限时办结率", "On-time completion"),
    "return_visit_coverage": ("回访落实率", "Return-visit coverage"),
    "satisfaction": ("满意率", "Satisfaction"),
    "review_rate": ("复核率", "Review rate"),
    "overturn_rate": ("复核纠错率", "Overturn rate"),
    "registered": ("登记量", "Registered"),
    "metric": ("指标", "Metric"),
    "current": ("本期", "Current"),
    "delta": ("变化", "Change"),
    "basis": ("分子/分母", "Numerator/denominator"),
    "filters": ("筛选", "Filters"),
    "unit": ("承办单位", "Handling unit"),
    "stage": ("环节", "Stage"),
    "kind": ("类型", "Kind"),
    "channel": ("渠道", "Channel"),
    "level": ("预警等级", "SLA level"),
    "any": ("全部", "Any"),
    "unassigned": ("待分派（省级中心）", "Unassigned (provincial centre)"),
    "wd_left": ("剩余工作日", "WD to breach"),
    "days_overdue": ("超期工作日", "WD overdue"),
    "due_at": ("办理时限", "Due"),
    "extension": ("延期", "Extension"),
    "temporal": ("流程", "Workflow"),
    "open_link": ("打开", "open"),
    "no_cases": ("没有需要关注的工单", "No case needs attention"),
    "league": ("单位排名", "Unit league table"),
    "durations": ("各环节用时（工作日）", "Working days per stage"),
    "trend": ("每周超期数", "Breaches per week"),
    "overdue": ("超期", "Overdue"),
    "on_time_pct": ("按时办结率%", "On-time %"),
    "returns": ("退单", "Returns"),
    "extensions": ("批准延期", "Extensions granted"),
    "extensions_pending": ("待批延期", "Extensions pending"),
    "case_no": ("工单号", "Case no."),
    "not_found": ("未找到该工单（或不在您的辖区）", "Case not found (or outside your jurisdiction)"),
    "timeline": ("办理过程", "Timeline"),
    "deadlines": ("时限", "Deadlines"),
    "complainant": ("投诉人（已脱敏）", "Complainant (masked)"),
    "confidential": ("保密举报人：身份不显示", "Confidential reporter: identity not shown"),
    "pending_ext": ("待审批的延期申请", "Extension requests awaiting a decision"),
    "undelivered": ("未能送达的通知", "Notifications not delivered"),
    "undelivered_help": (
        "发送已用尽重试次数、被网关拒绝或缺少联系方式，需人工处理",
        "attempts exhausted, refused by the gateway or no contact: a person has to act",
    ),
    "undelivered_none": ("没有未能送达的通知", "No undelivered notifications"),
    "approve": ("批准延期", "Approve extension"),
    "refuse": ("不予延期", "Refuse extension"),
    "note": ("审批意见", "Note"),
    "supervisor_id": ("审批人", "Supervisor id"),
    "supervisor_unit": ("审批单位", "Supervisor unit"),
    "decided": ("已提交：延期状态", "Submitted: extension status"),
    "decision_failed": ("审批未通过校验", "Decision refused"),
    "jurisdiction": ("辖区", "Jurisdiction"),
    "year": ("年", "Year"),
    "month": ("月", "Month"),
    "provisional": ("该年度放假安排尚未公布，日期为暂定", "This year's holiday notice is not published: provisional"),
    "special_days": ("节假日与调休", "Holidays and makeup days"),
    "service_close": ("服务截止时间", "Service day ends"),
    "bureau_days_unavailable": ("数据源不可用：仅显示国家/地区公布的日历，未含本局闭馆与开放日",
                                "Data source unavailable: the published calendar only, without the bureau's own days"),
    "refresh": ("自动刷新", "Auto-refresh"),
    "as_of": ("数据时间", "As of"),
    "rows_shown": ("显示 {shown} 条，共 {total} 条", "showing {shown} of {total} rows"),
    "rows_cut": ("页面只显示前 {shown} 条；下载文件包含全部 {total} 条",
                 "The page shows the first {shown} rows; the downloads hold all {total}"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "unit_id": ("单位代码", "Unit code"),
    "unit_code": ("承办单位代码", "Handling unit code"),
    "completed": ("办结数", "Completed"),
    "completed_on_time": ("按时办结数", "Completed on time"),
    "clock_count": ("件数", "Count"),
    "median_wd": ("中位用时（工作日）", "Median (working days)"),
    "p90_wd": ("90%用时（工作日）", "90th percentile (working days)"),
    "category": ("问题类别", "Category"),
    "status": ("状态", "Status"),
    "status_all": ("全部", "All"),
    "status_open": ("在办", "Open"),
    "status_closed": ("已办结", "Closed"),
    "provisional_due": ("暂定时限", "Provisional deadline"),
    "return_visit_outcome": ("回访结果", "Return visit"),
    "close_reason": ("办结方式", "Closed as"),
    "registered_at": ("登记时间", "Registered"),
    "accepted_at": ("受理时间", "Accepted"),
    "closed_at": ("办结时间", "Closed"),
    "registered_in_period": ("仅统计期间内登记", "Registered in the period only"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # the caseworkers' workbench (dashboard/workbench.py)
    "workbench": ("待办工作台", "Caseworker workbench"),
    "my_work": ("待办", "My work"),
    "signed_in_as": ("当前身份", "Signed in as"),
    "local_identity": ("本地演示身份（仅限本机，未经统一认证）", "Local demo identity (this machine only, no single sign-on)"),
    "nothing_to_do": ("暂无待办", "Nothing waiting for you"),
    "open_case": ("办理", "Open"),
    "allowed_decisions": ("您现在可以办理的事项", "What you may decide now"),
    "no_decision": ("当前环节您无可办理事项", "Nothing for you to decide at this stage"),
    "submit": ("提交", "Submit"),
    "submitted": ("已办理，当前环节", "Done; the case is now at"),
    "refused": ("未通过校验", "Refused"),
    "invalid_field": ("填写有误", "Please correct"),
    "api_unavailable": ("接口不可用，请稍后重试", "The API cannot be reached, please retry later"),
    "to_accept": ("待受理", "To accept or reject"),
    "to_assign": ("待分派", "To assign"),
    "to_investigate": ("调查核实中", "To investigate"),
    "feedback_due": ("待反馈", "Feedback due"),
    "return_visit": ("待回访", "Return visits"),
    "review_decision": ("待复核决定", "Review decisions"),
    "extension_approval": ("待批延期", "Extensions awaiting approval"),
    "back_to_list": ("返回待办", "Back to my work"),
}

DECISION_LABELS: dict[str, tuple[str, str]] = {
    "accept": ("受理", "Accept"),
    "reject": ("不予受理", "Reject"),
    "assign": ("分派", "Assign"),
    "return_case": ("退单", "Return the case"),
    "request_extension": ("申请延期", "Request an extension"),
    "decide_extension": ("审批延期", "Decide the extension"),
    "complete_investigation": ("办结调查", "Complete the investigation"),
    "send_feedback": ("答复投诉人", "Send feedback"),
    "record_return_visit": ("登记回访", "Record the return visit"),
    "request_review": ("申请复核", "Request a review"),
    "decide_review": ("复核决定", "Decide the review"),
    "withdraw": ("撤回", "Withdraw"),
    "merge_into": ("并单", "Merge into another case"),
    "record_receipt": ("登记回执", "Record the letter's receipt"),
}

LEVEL_LABELS: dict[str, tuple[str, str]] = {
    "on_track": ("正常", "On track"),
    "blue": ("临期", "Due soon"),
    "yellow": ("预警", "Warning"),
    "red": ("超期", "Overdue"),
}
LEVEL_COLOURS: dict[str, str] = {"on_track": "#d9f2d9", "blue": "#cfe2ff", "yellow": "#fff3bf", "red": "#ffc9c9"}
LEVEL_ICONS: dict[str, str] = {"on_track": "🟢", "blue": "🔵", "yellow": "🟡", "red": "🔴"}

STAGE_LABELS: dict[str, tuple[str, str]] = {
    "acceptance": ("受理", "Acceptance"),
    "dispatch": ("转办", "Dispatch"),
    "investigation": ("调查核实", "Investigation"),
    "feedback": ("处理反馈", "Feedback"),
    "return_visit": ("回访", "Return visit"),
    "review_window": ("复核期", "Review window"),
    "under_review": ("复核中", "Under review"),
    "archived": ("归档", "Archived"),
    "review": ("复核", "Review"),
    "reporter_notice": ("告知举报人", "Reporter notice"),
}
KIND_LABELS: dict[str, tuple[str, str]] = {
    "complaint": ("投诉", "Complaint"),
    "consultation": ("咨询", "Consultation"),
    "fraud_report": ("欺诈骗保举报", "Fraud report"),
    "misconduct": ("作风问题", "Staff misconduct"),
}
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "hotline_12393": ("12393热线", "12393 hotline"),
    "national_app": ("国家医保APP", "National app"),
    "national_web": ("国家医保网站", "National web"),
    "provincial_web": ("省局网站", "Provincial web"),
    "wechat": ("微信", "WeChat"),
    "service_hall": ("服务大厅", "Service hall"),
    "mail": ("信件", "Mail"),
}
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "reimbursement": ("医保报销", "Reimbursement"),
    "designated_institution": ("定点医疗机构", "Designated institution"),
    "pharmacy": ("定点药店", "Pharmacy"),
    "fund_fraud": ("欺诈骗保", "Fund fraud"),
    "staff_conduct": ("工作人员作风", "Staff conduct"),
    "enrolment": ("参保登记", "Enrolment"),
    "other": ("其他", "Other"),
}
EXTENSION_LABELS: dict[str, tuple[str, str]] = {
    "requested": ("待审批", "Requested"),
    "approved": ("已批准", "Approved"),
    "refused": ("不予延期", "Refused"),
}
SATISFACTION_LABELS: dict[str, tuple[str, str]] = {
    "satisfied": ("满意", "Satisfied"),
    "basically_satisfied": ("基本满意", "Basically satisfied"),
    "unsatisfied": ("不满意", "Unsatisfied"),
    "unreachable": ("未联系上", "Unreachable"),
}
CLOSE_REASON_LABELS: dict[str, tuple[str, str]] = {
    "rejected": ("不予受理", "Rejected"),
    "answered_on_spot": ("当场答复", "Answered on the spot"),
    "transferred_12388": ("转纪检监察（12388）", "Transferred to 12388"),
    "withdrawn": ("撤回", "Withdrawn"),
    "merged": ("合并办理", "Merged"),
    "review_window_lapsed": ("复核期满办结", "Review window lapsed"),
    "review_upheld": ("复核维持", "Review upheld"),
    "investigation_declined": ("不予调查", "Investigation declined"),
}
DAY_KIND_LABELS: dict[str, tuple[str, str]] = {
    "workday": ("工作日", "Working day"),
    "weekend": ("周末", "Weekend"),
    "holiday": ("节假日", "Holiday"),
    "makeup": ("调休上班", "Makeup working day"),
    "closure": ("闭馆", "Closure"),
    "opening": ("开放日", "Bureau opening day"),
}


def pair(zh: str, en: str, lang: str = "both") -> str:
    """One label in the chosen language ('both' = "中文 / English")."""
    if lang == "zh":
        return zh
    if lang == "en":
        return en
    return f"{zh} / {en}"


def t(key: str, lang: str = "both") -> str:
    """The label for `key` (the key itself if unknown, so a missing label never breaks a page)."""
    zh, en = _T.get(key, (key, key))
    return pair(zh, en, lang)


def vocab(table: dict[str, tuple[str, str]], value: str | None, lang: str = "both") -> str:
    """The label of a code (stage, kind, channel, level); unknown codes are shown as they are."""
    if value is None:
        return ""
    zh, en = table.get(value, (value, value))
    return pair(zh, en, lang)


def level_label(level: str, lang: str = "both") -> str:
    """SLA level with its colour dot, e.g. "🔴 超期 / Overdue"."""
    return f"{LEVEL_ICONS.get(level, '')} {vocab(LEVEL_LABELS, level, lang)}".strip()

FIELD_LABELS: dict[str, tuple[str, str]] = {
    "unit_id": ("承办单位", "Handling unit"),
    "use_catalogue": ("按派单目录分派", "Assign from the dispatch catalogue"),
    "note": ("备注", "Note"),
    "reason": ("理由", "Reason"),
    "redirect_to": ("告知正确渠道", "The right channel"),
    "overrule": ("驳回退单并强制分派", "Overrule the return"),
    "approve": ("同意", "Approve"),
    "findings": ("调查结论", "Findings"),
    "legal_basis": ("政策依据", "Legal basis"),
    "institution_at_fault": ("机构有责", "Institution at fault"),
    "rectification_required": ("需整改", "Rectification required"),
    "message": ("答复内容", "Message"),
    "outcome": ("结果", "Outcome"),
    "request_rehandling": ("申请重办", "Request re-handling"),
    "reasons": ("理由", "Reasons"),
    "target_case_no": ("并入工单号", "Target case no."),
}
