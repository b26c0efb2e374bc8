"""``python -m sandbox [--port 8899] [flags]``: run the Authorize.net emulator (blocking)."""

from sandbox.server import main

if __name__ == "__main__":
    raise SystemExit(main())
