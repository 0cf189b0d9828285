"""The conventional alternative, for comparison: a Dash page that polls Redis every second.

Written the way a Dash developer typically writes a "live" list: ``dcc.Interval`` fires a
callback every second, the callback reads the newest steps from the same Redis stream the
dashboard follows (XREVRANGE) and returns an ``html.Ul`` of their titles, and React re-renders
the list. It shows the newest ``--count`` steps (default 250: more than one second's worth at
200 steps/s, so every step is on screen at least once and latencies compare like for like).

    python -m bench.polling_app --redis-url redis://127.0.0.1:6379/0 --prefix onemap --port 8060
"""

from __future__ import annotations

import argparse

import dash
import redis
from dash import Input, Output, dcc, html

from feeds.bus import EVENTS, Bus
from feeds.schema import decode_trusted


def build_app(redis_url: str, prefix: str, count: int) -> dash.Dash:
    bus = Bus(redis.Redis.from_url(redis_url), prefix=prefix)
    app = dash.Dash(__name__, title="polling baseline", update_title=None)
    app.layout = html.Div(
        [
            html.H2("实时事件 (polling)"),
            dcc.Interval(id="tick", interval=1000),
            html.Ul(id="ticker", className="ticker"),
        ]
    )

    @app.callback(Output("ticker", "children"), Input("tick", "n_intervals"))
    def refresh(_n: int | None) -> list[html.Li]:
        rows = bus.client.xrevrange(bus.keys[EVENTS], count=count)
        return [html.Li(decode_trusted(fields[b"m"]).title) for _sid, fields in rows]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", default="onemap")
    parser.add_argument("--port", type=int, default=8060)
    parser.add_argument("--count", type=int, default=250)
    args = parser.parse_args()
    app = build_app(args.redis_url, args.prefix, args.count)
    app.run(host="127.0.0.1", port=args.port, debug=False)


if __name__ == "__main__":
    main()
