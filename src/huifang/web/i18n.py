"""Page labels in Simplified Chinese (default) and English.

The language comes from `?lang=en|zh` (remembered in the `huifang_lang` cookie), else the
cookie, else the server default (HUIFANG_LANG, zh)."""

from __future__ import annotations

LANGS = ("zh", "en")
COOKIE = "huifang_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("回访 · 贷后管理平台", "Huifang · post-loan platform"),
    "nav.home": ("首页", "Home"),
    "nav.loans": ("贷款查询", "Loans"),
    "nav.queue": ("回访队列", "Follow-up queue"),
    "nav.alerts": ("风险预警", "Risk alerts"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.users": ("用户管理", "Users"),
    "nav.logout": ("退出", "Sign out"),
    "lang.switch": ("English", "中文"),
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "login.locked": ("账户已临时锁定, 请稍后再试", "Account temporarily locked, try later"),
    "login.csrf": ("页面已过期, 请重新登录", "The page expired, please sign in again"),
    "home.welcome": ("欢迎", "Welcome"),
    "home.scope": ("可见机构", "Branches in scope"),
    "home.all_branches": ("全部机构", "All branches"),
    "home.loans_by_status": ("贷款状态", "Loans by status"),
    "home.active_principal": ("在贷放款本金", "Principal of active loans"),
    "home.by_branch": ("各机构贷款笔数", "Loans per branch"),
    "home.tasks": ("常用功能", "Shortcuts"),
    "loans.search": ("搜索", "Search"),
    "loans.query": (
        "合同号 / 姓名 / 证件号 / 手机号 / 车牌",
        "Contract / name / ID / mobile / plate",
    ),
    "loans.branch": ("机构", "Branch"),
    "loans.status": ("状态", "Status"),
    "loans.any": ("全部", "Any"),
    "loans.found": ("共 {n} 笔", "{n} loans"),
    "loans.none": ("没有符合条件的贷款", "No loans match"),
    "col.contract": ("合同编号", "Contract"),
    "col.borrower": ("借款人", "Borrower"),
    "col.product": ("产品", "Product"),
    "col.principal": ("贷款金额", "Principal"),
    "col.disbursed": ("放款日", "Disbursed"),
    "col.mobile": ("手机号", "Mobile"),
    "col.id_number": ("证件号码", "ID number"),
    "col.address": ("地址", "Address"),
    "col.status": ("状态", "Status"),
    "col.period": ("期数", "Period"),
    "col.due": ("还款日", "Due date"),
    "col.payment": ("月供", "Payment"),
    "col.interest": ("利息", "Interest"),
    "col.balance": ("剩余本金", "Balance"),
    "col.amount": ("金额", "Amount"),
    "col.type": ("类型", "Type"),
    "col.channel": ("渠道", "Channel"),
    "col.date": ("日期", "Date"),
    "col.relation": ("关系", "Relation"),
    "col.name": ("姓名", "Name"),
    "col.phone": ("电话", "Phone"),
    "b360.title": ("客户360视图", "Borrower 360°"),
    "b360.profile": ("基本信息", "Profile"),
    "b360.contacts": ("联系人", "Contacts"),
    "b360.loans": ("贷款", "Loans"),
    "b360.schedule": ("还款计划", "Schedule"),
    "b360.payments": ("还款流水", "Payments"),
    "b360.vehicle": ("抵押车辆", "Vehicle"),
    "b360.position": ("当前状况", "Position"),
    "b360.outstanding": ("剩余本金", "Outstanding principal"),
    "b360.overdue": ("逾期金额", "Overdue amount"),
    "b360.dpd": ("逾期天数", "Days past due"),
    "b360.bucket": ("逾期阶段", "Bucket"),
    "b360.ltv": ("放款时贷款价值比", "LTV at origination"),
    "b360.reveal": ("显示", "Show"),
    "b360.dial": ("拨打", "Call"),
    "b360.quote": ("提前结清报价", "Payoff quote"),
    "b360.rate": ("年利率", "Annual rate"),
    "b360.term": ("期限(月)", "Term (months)"),
    "b360.method": ("还款方式", "Repayment method"),
    "b360.income": ("月收入", "Monthly income"),
    "b360.employer": ("单位", "Employer"),
    "b360.guarantors": ("担保人", "Guarantors"),
    "quote.title": ("提前结清报价", "Payoff quote"),
    "quote.as_of": ("结清日期", "Payoff date"),
    "quote.compute": ("计算", "Compute"),
    "quote.valid_until": ("有效至", "Valid until"),
    "quote.total": ("应付合计", "Total to pay"),
    "quote.saved": ("节省利息", "Interest saved"),
    "quote.refused": ("不可提前还款", "Prepayment not allowed"),
    "quote.allowed_from": ("可提前还款日期", "Allowed from"),
    "audit.title": ("审计日志", "Audit log"),
    "audit.verify_ok": ("哈希链完整: {n} 条记录未被篡改", "Hash chain intact: {n} entries"),
    "audit.verify_bad": (
        "哈希链断裂于第 {id} 条: {problem}",
        "Chain broken at entry {id}: {problem}",
    ),
    "audit.at": ("时间", "When"),
    "audit.actor": ("操作人", "Who"),
    "audit.action": ("操作", "Action"),
    "audit.target": ("对象", "Object"),
    "audit.ip": ("来源地址", "From"),
    "users.title": ("用户管理", "Users"),
    "users.create": ("新建用户", "Create user"),
    "users.role": ("角色", "Role"),
    "users.branches": ("机构 (逗号分隔)", "Branches (comma separated)"),
    "users.display_name": ("姓名", "Display name"),
    "users.created": ("已创建用户 {name}", "Created user {name}"),
    "error.forbidden": ("无权访问", "Forbidden"),
    "error.not_found": ("未找到", "Not found"),
    "error.bad_request": ("请求有误", "Bad request"),
    "status.active": ("正常", "Active"),
    "status.closed": ("结清", "Closed"),
    "status.written-off": ("核销", "Written off"),
}


def translate(key: str, lang: str, **values: object) -> str:
    zh, en = MESSAGES.get(key, (key, key))
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def pick_lang(query: str | None, cookie: str | None, default: str) -> str:
    for candidate in (query, cookie, default):
        if candidate in LANGS:
            return str(candidate)
    return "zh"
