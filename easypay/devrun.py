"""``make run``: every process of the Procfile under honcho, the emulator only without credentials."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from honcho.manager import Manager

from engine.settings_from_env import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() and command.strip():
            processes[name.strip()] = command.strip()
    if not settings.processor.emulated:
        processes.pop("sandbox", None)
    manager = Manager()
    for name, command in processes.items():
        manager.add_process(name, command, env=env, cwd=str(ROOT))
    print(
        f"EasyPay: API on http://127.0.0.1:{settings.port} (docs at /schema), processes: {', '.join(processes)}",
        file=sys.stderr,
    )
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
