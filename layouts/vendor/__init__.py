"""Third-party browser bundles the pages serve through Dash's component-suite route.

``plotly-basic.min.js``: npm ``plotly.js-basic-dist-min`` 4.1.1 (MIT, ``LICENSE.plotly``), the
same plotly.js version the ``plotly`` package bundles, with the scatter, bar and pie traces
only: 1.2 MB instead of 4.8 MB. ``layouts/wall.py`` serves it in place of the full bundle.
"""

__version__ = "4.1.1"  # Dash fingerprints component-suite URLs with the package's version
PLOTLY_BASIC = "plotly-basic.min.js"
