"""The marketer's HTML report: one self-contained page built from scores, list and campaigns.

``tables``: the measures the page shows, as plain DataFrames (status by ladder, ABC-XYZ,
lost revenue, CRR, LTV, the list's totals); ``charts``: their matplotlib figures as inline
PNG; ``html``: CSS, escaping, tables and cards; ``page``: :func:`page.render_report`, one
section function per question, assembled into the page; ``build``: the ``winback report``
stage that reads the inputs and writes ``report.html``.
"""
