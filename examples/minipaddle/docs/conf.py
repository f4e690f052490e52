# Sphinx configuration for the minipaddle documentation.
#
# The pipeline's docs stage (`npx pipeline docs`) reads this file and then adds what every site it builds has
# (modules/scripts/sphinx_conf.py): the furo theme, breathe over the Doxygen XML of include/ (the C++ API
# comes from the headers' /// comments), autodoc and viewcode over the Python module of the cpu build,
# MyST for Markdown pages, nbsphinx for notebooks (shown with their stored outputs, never executed), links
# from the C++ API to the code browser, and the version (`-D release=...`). So this file keeps only what is
# minipaddle's own.
project = "minipaddle"
author = "minipaddle developers"
copyright = "minipaddle developers"

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
language = "en"
highlight_language = "none"
pygments_style = "sphinx"
pygments_dark_style = "monokai"

# The C++ entries read as C++ (breathe renders the headers' declarations).
primary_domain = "cpp"
