"""Shared basics every domain uses: the acting staff member, the store's clock, errors, bounds, crypto and roles.

Unlike a domain package, core's modules are its public interface: import them by name
(`from app.components.core.errors import NotFound`). Core imports no domain and no storage.
"""

from app.components.core import actor, bounds, clock, crypto, errors, roles

__all__ = ["actor", "bounds", "clock", "crypto", "errors", "roles"]
