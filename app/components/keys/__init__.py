"""Key rotation for personal identifiers: new keys, re-encryption and blind indexes recomputed in chunks."""

from app.components.keys.rotation import KeyRotationError, rotate_keys

__all__ = ["KeyRotationError", "rotate_keys"]
