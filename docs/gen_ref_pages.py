"""Generate the API reference at build time: one page per module of `src/predrnn`.

Run by the mkdocs-gen-files plugin (`mkdocs.yml`). It walks the package as it is on disk, so a
module that is added, moved or removed appears in (or leaves) the reference without any list
to edit; mkdocs-literate-nav builds the reference's navigation from the `SUMMARY.md` written
here, and mkdocstrings renders each page from the module's docstrings.
"""

from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "predrnn"

nav = mkdocs_gen_files.Nav()
for path in sorted(PACKAGE.rglob("*.py")):
    parts = ("predrnn", *path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__main__":
        continue
    if parts[-1] == "__init__":
        parts = parts[:-1]
        page = Path("reference", *parts, "index.md")
    else:
        page = Path("reference", *parts).with_suffix(".md")
    nav[parts] = page.relative_to("reference").as_posix()
    with mkdocs_gen_files.open(page, "w") as out:
        out.write(f"# `{'.'.join(parts)}`\n\n::: {'.'.join(parts)}\n")
    mkdocs_gen_files.set_edit_path(page, path.relative_to(ROOT))

with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as out:
    out.writelines(nav.build_literate_nav())
