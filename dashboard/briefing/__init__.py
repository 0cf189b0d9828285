"""The daily briefing (日报) of the city and each county: figures, PDF and Excel, kept and served.

One job a module (docs/briefing.md):

gather     the figures of a (day, area), read under the live state's lock from the same
           functions the live views use (KPIs, the wall's same-time-yesterday counters, trends,
           the index), then grouped outside it
text       how a figure reads (the pages' rounding: ``analytics.percent``)
charts     plain inline SVG charts (nothing to run when printed)
page       the briefing as one HTML page, A4 portrait
pdf        that page printed by Debian's chromium, headless
sheet      the same figures as a typed Excel workbook
store      where briefings are kept: ``<data dir>/reports/daily/<day>/<area>.pdf|.xlsx|.json``
make       gather, render and keep, for the CLI and the morning job
web        ``/reports``, ``/api/reports`` and the downloads, inside the asker's jurisdiction
morning    the server's daily run, once per day across replicas
"""
