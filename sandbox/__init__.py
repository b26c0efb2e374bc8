"""A local emulator of the Authorize.net XML API (``python -m sandbox``); see sandbox/README.md."""
