"""Entry point: `server` is the WSGI app; `python app.py` serves the dashboard."""

from dashboard.config import Settings
from onemap.app import create_app

onemap = create_app(Settings.from_env())
server = onemap.server

if __name__ == "__main__":
    onemap.run()
else:  # under a WSGI server the push bridge still has to run
    onemap.hub.start()
