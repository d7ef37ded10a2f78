"""Staff sign-in: passwords, sessions, API tokens and approval PINs with their lock-out."""

from app.components.auth.passwords import check_password, hash_api_token, hash_password, new_api_token, verify_password
from app.components.auth.pin_lock import claim, failed, locked_error, refused_while_locked, succeeded, unknown_approver
from app.components.auth.staff import (
    authenticate_token,
    create_session,
    end_all_sessions,
    end_session,
    issue_api_token,
    load_session,
    login,
    purge_stale_sessions,
    set_session_language,
    staff_exists,
)

__all__ = [
    "authenticate_token",
    "check_password",
    "claim",
    "create_session",
    "end_all_sessions",
    "end_session",
    "failed",
    "hash_api_token",
    "hash_password",
    "issue_api_token",
    "load_session",
    "locked_error",
    "login",
    "new_api_token",
    "purge_stale_sessions",
    "refused_while_locked",
    "set_session_language",
    "staff_exists",
    "succeeded",
    "unknown_approver",
    "verify_password",
]
