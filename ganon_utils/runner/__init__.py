"""Running the notebooks and presenting what they made: HTML reports, per-stage summaries, the results index.

``report_html`` renders an executed notebook as an offline HTML report; ``stage_summary`` is what each notebook
leaves for the index (its headline result, thumbnails, backends); ``index_page`` builds ``results/index.html``.
``ganon_utils.notebooks`` executes the notebooks with papermill and calls these.
"""

from __future__ import annotations

from ganon_utils.runner.stage_summary import write_stage_summary

__all__ = ["write_stage_summary"]
