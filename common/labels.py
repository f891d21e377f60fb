"""Chinese and English labels of the case vocabularies that both the monitor (`dashboard.i18n`) and the worker's
daily and monthly reports (`activities.report_book`) print: stages and clocks, intake channels, categories."""

from __future__ import annotations

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
    "rectification": ("机构整改", "Rectification"),
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
