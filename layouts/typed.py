"""Typed doors into Dash for the page modules: wildcard attributes, page registration.

``data(...)``: Dash's generated components take ``data-*`` and ``aria-*`` attributes through an
unannotated ``**kwargs``, but mypy checks a ``**{"data-x": "1"}`` (a ``dict[str, str]``) against
every named parameter too (``hidden: bool``, ``n_clicks: number``...), since it cannot tell from
the type that no key is one of them. What goes into that ``**kwargs`` is untyped on Dash's side
(``Any``), so the mapping is typed as such here, once; its keys are all ``data-`` ones.

``register_page``: ``dash.register_page`` has no annotations; its signature for our pages is
declared here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash.development.base_component import Component

# What a container's ``children`` takes from these modules: a component or a list of them.
Children = Component | str | list[Component | str]

_register_page: Callable[..., None] = dash.register_page  # unannotated in Dash


def data(**values: str) -> dict[str, Any]:
    """``data-*`` attributes to unpack into a component: ``data(stale_after="60")`` gives
    ``{"data-stale-after": "60"}`` (underscores become hyphens, as in the HTML names)."""
    return {"data-" + name.replace("_", "-"): value for name, value in values.items()}


def register_page(
    module: str, *, path: str, title: str, name: str, layout: Callable[..., Component]
) -> None:
    _register_page(module, path=path, title=title, name=name, layout=layout)
