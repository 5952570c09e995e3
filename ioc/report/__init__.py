"""The monthly report (``ioc report``, ``GET /api/v1/reports/monthly``): what goes into it
(:mod:`~ioc.report.model`, :mod:`~ioc.report.build`), what it reads from storage
(:mod:`~ioc.report.reads`), and its PDF (:mod:`~ioc.report.render`)."""
