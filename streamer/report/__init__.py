"""`streamer report`: the periodic portfolio report, built from what the service publishes.

period.py   the months of a report period (month ends, in UTC event time)
book.py     one streaming pass over the events: the book's state at each month end
published.py  the alerts and scores files, read into compact arrays
figures.py  the report's numbers (JSON-ready), from the book, alerts and scores
charts.py   the figures as inline SVG (matplotlib)
html.py     one self-contained HTML page
command.py  the CLI shell
"""

from .figures import build_report

__all__ = ["build_report"]
