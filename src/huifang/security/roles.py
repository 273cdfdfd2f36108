"""Roles, permissions and branch scope: who may do what, where.

A role is a fixed set of permissions; a user has one role and is scoped to a list of
branches (or to all branches). Every web route declares the one permission it needs
(web/deps.py), and every object that belongs to a branch is checked against the scope.
Personal data is masked for everyone by default; revealing it is a separate permission,
and every reveal is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # 系统管理员: users, keys, every branch; sees personal data masked
    MANAGER = "manager"  # 贷后/网点经理: policy, dashboards, queues of own branches
    AGENT = "agent"  # 回访专员: queue, call screen, borrower 360 of own branches
    RISK = "risk"  # 风控专员: alerts, quotes, waivers, restructuring
    AUDITOR = "auditor"  # 合规/审计: audit log, compliance, sampling; data masked

    @property
    def label_zh(self) -> str:
        return _ROLE_ZH[self]

    @property
    def label_en(self) -> str:
        return _ROLE_EN[self]


_ROLE_ZH = {
    Role.ADMIN: "系统管理员",
    Role.MANAGER: "贷后经理",
    Role.AGENT: "回访专员",
    Role.RISK: "风控专员",
    Role.AUDITOR: "合规审计",
}
_ROLE_EN = {
    Role.ADMIN: "Administrator",
    Role.MANAGER: "Manager",
    Role.AGENT: "Follow-up agent",
    Role.RISK: "Risk officer",
    Role.AUDITOR: "Auditor",
}


class Permission(StrEnum):
    AUTHENTICATED = "authenticated"  # any signed-in user (home page, logout, own profile)
    LOANS_READ = "loans.read"  # loan search, borrower 360, schedules
    QUOTES_READ = "quotes.read"  # early-repayment quotes
    PII_REVEAL = "pii.reveal"  # unmask a phone / ID number / address (audited)
    AUDIT_READ = "audit.read"  # search and verify the audit log
    USERS_MANAGE = "users.manage"  # create and list users
    QUEUE_WORK = "queue.work"  # agent queue and call screen
    QUEUE_MANAGE = "queue.manage"  # assignment, policy, scripts, corrections approval
    DASHBOARD_READ = "dashboard.read"  # analytics
    ALERTS_READ = "alerts.read"  # risk alerts inbox
    ALERTS_MANAGE = "alerts.manage"  # acknowledge and resolve alerts
    CONFIG_MANAGE = "config.manage"  # policy and script editor (all-branch principals only)
    QA_REVIEW = "qa.review"  # sample contacts and score them (质检)
    COMPLIANCE_READ = "compliance.read"  # the compliance guard's refusals
    REPORTS_READ = "reports.read"  # the monthly report (PDF) of the manager's branches
    COLLATERAL_MANAGE = "collateral.manage"  # revalue a car, record an inspection (风控)
    RESTRUCTURING_REQUEST = "restructuring.request"  # ask for a restructuring (the maker)
    RESTRUCTURING_APPROVE = "restructuring.approve"  # decide another's request (the checker)


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.AUTHENTICATED,
            Permission.USERS_MANAGE,
            Permission.AUDIT_READ,
            Permission.LOANS_READ,
            Permission.DASHBOARD_READ,
            Permission.CONFIG_MANAGE,
            Permission.REPORTS_READ,
        }
    ),
    Role.MANAGER: frozenset(
        {
            Permission.AUTHENTICATED,
            Permission.LOANS_READ,
            Permission.QUOTES_READ,
            Permission.PII_REVEAL,
            Permission.QUEUE_MANAGE,
            Permission.DASHBOARD_READ,
            Permission.REPORTS_READ,
            Permission.ALERTS_READ,
            Permission.ALERTS_MANAGE,
            Permission.CONFIG_MANAGE,
        }
    ),
    Role.AGENT: frozenset(
        {
            Permission.AUTHENTICATED,
            Permission.LOANS_READ,
            Permission.QUOTES_READ,
            Permission.PII_REVEAL,
            Permission.QUEUE_WORK,
        }
    ),
    Role.RISK: frozenset(
        {
            Permission.AUTHENTICATED,
            Permission.LOANS_READ,
            Permission.QUOTES_READ,
            Permission.PII_REVEAL,
            Permission.ALERTS_READ,
            Permission.ALERTS_MANAGE,
            Permission.DASHBOARD_READ,
            Permission.COLLATERAL_MANAGE,
            # BRIEF: the risk officer approves restructuring; maker-checker means a second
            # risk officer decides, never the one who asked (services/restructuring.py)
            Permission.RESTRUCTURING_REQUEST,
            Permission.RESTRUCTURING_APPROVE,
        }
    ),
    Role.AUDITOR: frozenset(
        {
            Permission.AUTHENTICATED,
            Permission.LOANS_READ,
            Permission.AUDIT_READ,
            Permission.QA_REVIEW,
            Permission.COMPLIANCE_READ,
        }
    ),
}


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(r for r, perms in ROLE_PERMISSIONS.items() if permission in perms)


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the rest of the app sees it: identity, role, branch scope."""

    user_id: int
    username: str
    display_name: str
    role: Role
    all_branches: bool
    branch_codes: frozenset[str]

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def sees_branch(self, code: str | None) -> bool:
        return self.all_branches or (code is not None and code in self.branch_codes)

    def visible(self, codes: Iterable[str]) -> list[str]:
        return [c for c in codes if self.sees_branch(c)]


class AccessDenied(Exception):
    """The principal lacks the permission or the branch (HTTP 403)."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(f"{message_zh} / {message_en}")
        self.message_zh = message_zh
        self.message_en = message_en
