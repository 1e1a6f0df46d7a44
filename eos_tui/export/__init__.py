"""Taking results out of a run directory: a tidy table (export.py, table.py), a paper figure
(plot.py), run management (manage.py) and the app in a browser (serve.py).

Nothing here imports torch or textual at the top; matplotlib, pyarrow and textual-serve only inside
the command that needs them (optional extras `plot`, `parquet`, `serve`)."""
