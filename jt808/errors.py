"""The one error the codec raises on bad input from the wire, with a short machine reason."""

from __future__ import annotations

REASONS: tuple[str, ...] = (
    "bad_escape",  # 0x7D followed by anything but 0x01 / 0x02, or a raw 0x7E inside a frame
    "bad_checksum",  # the XOR check byte does not match
    "too_short",  # fewer bytes than the header (or a frame) needs
    "too_long",  # a frame grew past the reader's limit without its closing 0x7E
    "length_mismatch",  # the body-length field differs from the actual body length
    "bad_bcd",  # a BCD field with a non-decimal nibble, or a BCD time that is not a date
    "bad_body",  # a message body of the wrong size or shape
    "bad_subpackage",  # a sub-package total / index out of range
)


class FrameError(ValueError):
    """Input from the wire that does not follow JT/T 808; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        """Render as ``reason: message``."""
        return f"{self.reason}: {self.message}"
