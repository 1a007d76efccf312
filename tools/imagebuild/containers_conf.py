"""containers.conf files as podman before 4.5 layers them, merged into one, and written back.

Podman 4.5 (containers/common 0.52) added CONTAINERS_CONF_OVERRIDE, a file loaded after all the
others. Before it (Debian 12 ships podman 4.3), the only way to add settings is CONTAINERS_CONF,
which replaces every other containers.conf; so the file it names must hold what those files say
first, merged in podman's own order (containers/common 0.51's ``systemConfigs``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

SYSTEM_FILES = (Path("/usr/share/containers/containers.conf"), Path("/etc/containers/containers.conf"))
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def layered_files(rootless: bool | None = None) -> list[Path]:
    """The files podman 4.3 reads without CONTAINERS_CONF, first to last (missing ones too):
    the system's, /etc's drop-ins, and for a rootless user their own file and drop-ins."""
    files = [*SYSTEM_FILES, *_drop_ins(SYSTEM_FILES[-1])]
    rootless = os.geteuid() != 0 if rootless is None else rootless
    if rootless:
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        user = config_home / "containers" / "containers.conf"
        files += [user, *_drop_ins(user)]
    return files


def _drop_ins(file: Path) -> list[Path]:
    directory = file.with_name(file.name + ".d")
    return sorted(path for path in directory.glob("*.conf") if not path.is_dir())


def merged(files: list[Path], last: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``files`` (those that exist) and then ``last``, each overriding the
    earlier ones key by key within a table, as podman reads them."""
    import tomllib  # Python 3.11+: here, not at the top, so that 3.10 can still import imagebuild

    result: dict[str, Any] = {}
    for table in [tomllib.loads(file.read_text(encoding="utf-8")) for file in files if file.is_file()] + [last]:
        _merge(result, table)
    return result


def _merge(into: dict[str, Any], table: dict[str, Any]) -> None:
    for key, value in table.items():
        if isinstance(value, dict):
            if not isinstance(into.get(key), dict):
                into[key] = {}  # a fresh table: the result shares none with its inputs
            _merge(into[key], value)
        else:
            into[key] = value


def dumps(table: dict[str, Any], path: tuple[str, ...] = ()) -> str:
    """TOML for ``table`` (what tomllib reads back as the same dict)."""
    lines = [f"{_key(key)} = {_value(value)}" for key, value in table.items() if not isinstance(value, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            header = ".".join(_key(part) for part in (*path, key))
            lines += ["", f"[{header}]", dumps(value, (*path, key)).strip("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def _key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # A JSON string is a TOML basic string: same quotes, same escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):  # an inline table, such as an array's {append = true}
        return "{" + ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"containers.conf value {value!r} has no TOML form here")
