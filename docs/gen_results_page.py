"""Show `benchmarks/RESULTS.md` on the docs site as `results.md`, at build time.

Run by the mkdocs-gen-files plugin (`mkdocs.yml`): the measured figures stay in one file beside
the scripts and commands that produce them, and the site shows that file as it is.
"""

from pathlib import Path

import mkdocs_gen_files

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "RESULTS.md"

with mkdocs_gen_files.open("results.md", "w") as out:
    out.write(RESULTS.read_text())
mkdocs_gen_files.set_edit_path("results.md", "benchmarks/RESULTS.md")
