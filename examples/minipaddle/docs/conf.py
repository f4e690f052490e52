# Sphinx configuration for the minipaddle documentation.
# Needs only python3-sphinx (5.3, Debian bookworm): no extensions, no network,
# and it does not import the compiled module.
import os
import re

_here = os.path.dirname(os.path.abspath(__file__))


def _project_version():
    """Version from the environment or the top-level CMakeLists.txt (`sphinx-build -D release=...` overrides)."""
    if os.environ.get("MINIPADDLE_VERSION"):
        return os.environ["MINIPADDLE_VERSION"]
    try:
        with open(os.path.join(_here, "..", "CMakeLists.txt"), encoding="utf-8") as f:
            match = re.search(r"set\(MINIPADDLE_DEFAULT_VERSION\s+([^\s)]+)\)", f.read())
    except OSError:  # the docs built on their own, without the source tree
        return "unknown"
    return match.group(1) if match else "unknown"


project = "minipaddle"
author = "minipaddle developers"
copyright = "minipaddle developers"
version = release = _project_version()

extensions = []
templates_path = []
exclude_patterns = ["_build"]
source_suffix = ".rst"
master_doc = "index"
language = "en"
highlight_language = "none"
pygments_style = "sphinx"

html_theme = "alabaster"
html_static_path = []
html_title = f"minipaddle {release}"
