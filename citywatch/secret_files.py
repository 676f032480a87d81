"""``CITYWATCH_<SECRET>_FILE``: a secret setting read from a file (docker compose secrets, Kubernetes).

Every secret setting (a ``SecretStr`` field: passwords, tokens, signing secrets) can be given as the
path of a file that holds it, so the value never sits in the environment, a URL or a compose file.
The variable itself wins when both are set. One trailing newline is dropped (``echo`` writes one).
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource


class SecretFileError(ValueError):
    """A ``*_FILE`` variable names a file that cannot be read."""


def is_secret(field: FieldInfo) -> bool:
    """Tell whether a settings field holds a secret (SecretStr, optional or not)."""
    annotation = field.annotation
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return SecretStr in typing.get_args(annotation)
    return False


def read_secret(variable: str, path: str) -> str:
    """Return the secret a file holds, without its trailing newline; raise SecretFileError naming the variable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"{variable}={path}: cannot read the secret ({type(exc).__name__}: {exc})") from exc
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        raise SecretFileError(f"{variable}={path}: the file is empty")
    return value


class SecretFiles(PydanticBaseSettingsSource):
    """A settings source: each secret field from the file its ``<PREFIX><NAME>_FILE`` variable names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Return the secret read from its file, if the field is a secret and the variable is set."""
        variable = f"{self.config.get('env_prefix', '')}{field_name}_FILE".upper()
        path = os.environ.get(variable)
        if not is_secret(field) or not path:
            return None, field_name, False
        return read_secret(variable, path), field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return every secret given by file."""
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values
