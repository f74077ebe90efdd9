"""Access control in the core: who a caller is (``Principal``), what each role may do (the permission
matrix, written once: code and docs come from the same table), passwords and tokens. The stores of
users, keys, refresh tokens and the audit log are in ``gridtwin.store.accounts``; every service and
store filters by the principal's sites, not only the gateway."""

from gridtwin.access.principal import ALL_SITES, Principal, SitesDenied, system_principal
from gridtwin.access.roles import MATRIX, PERMISSIONS, ROLES, Role, allows

__all__ = [
    "ALL_SITES",
    "MATRIX",
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "Role",
    "SitesDenied",
    "allows",
    "system_principal",
]
