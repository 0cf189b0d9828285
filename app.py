"""Entry point: `python app.py` is `onemap serve` (gunicorn; see onemap/server.py)."""

from onemap.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve"]))
