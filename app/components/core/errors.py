"""Domain errors that routes turn into 422 and 404 responses."""

from __future__ import annotations


class ValidationFailed(Exception):
    """Bad input: one message per field, in the current language."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors

    def as_json(self) -> dict:
        """The API's error body."""
        return {"errors": [{"field": k, "message": v} for k, v in self.errors.items()]}


class NotFound(Exception):
    """Something named by the user does not exist; the message says what."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
