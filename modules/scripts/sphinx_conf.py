"""The Sphinx configuration the docs stage runs with (`sphinx-build -c DIR`), for any project.

The project's own conf.py (when its docs folder has one) is read first; the pipeline's settings
(settings.json beside this file, written by modules/docs.ts) then add what every site gets:
- the C++ API from Doxygen XML (breathe), the Python API from the built module (autodoc, viewcode),
  Markdown pages (MyST) and notebooks rendered with their stored outputs (nbsphinx, never executed);
- one theme (furo) with the version in the title, and the landing page linking the code browser (browse/);
- links from C++ API entries to their line in the code browser (a [source] link, as viewcode's, through
  Doxygen's locations and htags' FILEMAP), and a :source:`path` role linking one file there;
- no build timestamp anywhere (html_last_updated_fmt None; SOURCE_DATE_EPOCH is set by the stage).
"""
import json
import os
import re
import xml.etree.ElementTree as ET

_here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_here, "settings.json"), encoding="utf-8") as _f:
    _settings = json.load(_f)
_docs = _settings["docs"]

project = _settings["project"]
version = release = _settings["version"]
root_doc = master_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
extensions = []

# The project's conf.py, if any, as if Sphinx had read it from its own folder.
_project_conf = os.path.join(_docs, "conf.py")
_project_setup = None
if os.path.isfile(_project_conf):
    _ns = {"__file__": _project_conf, "__name__": "conf"}
    with open(_project_conf, encoding="utf-8") as _f:
        exec(compile(_f.read(), _project_conf, "exec"), _ns)  # noqa: S102 - the project's own configuration
    _project_setup = _ns.pop("setup", None)
    globals().update({k: v for k, v in _ns.items() if not k.startswith("__")})
    for _key in ("templates_path", "html_static_path", "html_extra_path"):
        if _key in _ns:
            globals()[_key] = [p if os.path.isabs(p) else os.path.join(_docs, p) for p in _ns[_key]]
    version = release = _settings["version"]


def _add(*names):
    for name in names:
        if name not in extensions:
            extensions.append(name)


extensions = list(extensions)
_add("myst_parser", "nbsphinx")
if _settings.get("xml"):
    _add("breathe")
    breathe_projects = {project: _settings["xml"]}
    breathe_default_project = project
    breathe_default_members = ("members",)
if _settings.get("python"):
    _add("sphinx.ext.autodoc", "sphinx.ext.viewcode")
    autodoc_default_options = {"members": True, "show-inheritance": True}

# Markdown pages next to reStructuredText ones (nbsphinx adds .ipynb itself).
if isinstance(globals().get("source_suffix"), dict):
    source_suffix = dict(source_suffix)  # noqa: F821 - from the project's conf.py
else:
    _suffixes = globals().get("source_suffix") or [".rst"]
    source_suffix = {s: "restructuredtext" for s in ([_suffixes] if isinstance(_suffixes, str) else _suffixes)}
source_suffix.setdefault(".rst", "restructuredtext")
source_suffix.setdefault(".md", "markdown")

# One theme for the whole site; the title carries the version.
html_theme = "furo"
html_title = f"{project} {release}"
html_last_updated_fmt = None
html_show_sphinx = True
nbsphinx_execute = "never"
nbsphinx_allow_errors = True
myst_heading_anchors = 3

# ---------------------------------------------------------------------------------------------- code browser
_BROWSE = "browse/"


def _browse_map():
    """htags' FILEMAP: source path -> its page under browse/ (empty when there is no code browser)."""
    pages = {}
    path = _settings.get("browseMap")
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2:
                    pages[parts[0].lstrip("./")] = parts[1]
    return pages


def _doxygen_locations():
    """Doxygen XML: qualified C++ name -> (source path, line), for linkcode."""
    where = {}
    xml = _settings.get("xml")
    if not xml or not os.path.isdir(xml):
        return where
    strip = _settings.get("xmlStrip", "")
    for name in sorted(os.listdir(xml)):
        if not name.endswith(".xml") or name == "index.xml":
            continue
        try:
            root = ET.parse(os.path.join(xml, name)).getroot()
        except ET.ParseError:
            continue
        for compound in root.iter("compounddef"):
            cname = compound.findtext("compoundname") or ""
            loc = compound.find("location")
            if loc is not None and compound.get("kind") in ("class", "struct", "union"):
                where.setdefault(cname, (loc.get("file", ""), loc.get("line", "")))
            for member in compound.iter("memberdef"):
                qname = member.findtext("qualifiedname") or (f"{cname}::{member.findtext('name')}" if cname else member.findtext("name"))
                loc = member.find("location")
                if qname and loc is not None:
                    where.setdefault(qname, (loc.get("file", ""), loc.get("line", "")))
    return {k: (f[len(strip):] if strip and f.startswith(strip) else f, line) for k, (f, line) in where.items()}


_pages = _browse_map()
_locations = _doxygen_locations()
_current = {"docname": ""}


def _to_browse(path, line=None):
    """The link from the page being written to PATH (optionally at LINE) in the code browser, or None."""
    page = _pages.get(path)
    if not page:
        return None
    up = "../" * _current["docname"].count("/")
    return f"{up}{_BROWSE}{page}" + (f"#L{line}" if line else "")


def _cpp_name(sig):
    """The name a C++ signature declares: the identifier before its parameters, else its last word."""
    from sphinx import addnodes

    # Without the [source] link this adds (an enclosing class's signature has it by the time its members are read).
    text = "".join(c.astext() for c in sig.children if not isinstance(c, addnodes.only))
    text = re.sub(r"<[^<>]*>", "", text)
    m = re.search(r"((?:[A-Za-z_]\w*::)*(?:operator\s*\S+?|~?[A-Za-z_]\w*))\s*\(", text)
    if m:
        return re.sub(r"\s+", "", m.group(1))
    words = re.findall(r"[A-Za-z_][\w:]*", text)
    return words[-1] if words else ""


def _cpp_source_links(app, doctree):
    """A [source] link on each C++ entry, to its declaration's line in the code browser."""
    from docutils import nodes
    from sphinx import addnodes

    _current["docname"] = app.env.docname
    if not _pages or not _locations:
        return
    for desc in doctree.findall(addnodes.desc):
        if desc.get("domain") not in ("cpp", "c"):
            continue
        scope = []
        parent = desc.parent
        while parent is not None:
            if isinstance(parent, addnodes.desc) and parent.get("domain") in ("cpp", "c"):
                for sig in parent.children:
                    if isinstance(sig, addnodes.desc_signature):
                        scope.insert(0, _cpp_name(sig))
                        break
            parent = parent.parent
        for sig in desc.children:
            if not isinstance(sig, addnodes.desc_signature):
                continue
            name = _cpp_name(sig)
            found = None
            for key in ("::".join([*scope[-1:], name]) if scope and "::" not in name else name, name):
                if key in _locations:
                    found = _locations[key]
                    break
            if found is None and scope and "::" not in name:
                # A member of a class in a namespace (ncnn::Net::clear): the class names it where the bare name
                # is shared (Extractor::clear, ParamDict::clear).
                scoped = [k for k in _locations if k.endswith(f"::{scope[-1]}::{name}")]
                found = _locations[scoped[0]] if len(scoped) == 1 else None
            if found is None:
                tails = sorted(k for k in _locations if k.endswith("::" + name))
                # The shortest: a class rather than its constructor.
                tails.sort(key=lambda k: k.count("::"))
                found = _locations[tails[0]] if tails and (len(tails) == 1 or tails[0].count("::") < tails[1].count("::")) else None
            uri = _to_browse(*found) if found else None
            if uri:
                link = nodes.reference("", "", nodes.inline("", "[source]", classes=["viewcode-link"]), internal=False, refuri=uri)
                sig += addnodes.only("", link, expr="html")
            break


def _source_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """:source:`include/x.h` links that file's page in the code browser."""
    from docutils import nodes

    _current["docname"] = inliner.document.settings.env.docname
    uri = _to_browse(text.strip())
    if uri is None:
        msg = inliner.reporter.warning(f"{text}: not in the code browser (docs.browse in the project config)", line=lineno)
        return [nodes.literal(rawtext, text)], [msg]
    return [nodes.reference(rawtext, text, refuri=uri, classes=["source-link"])], []


def _landing_page(app, docname, source):
    """The landing page (the root document) links the code browser unless it already does."""
    if docname != app.config.root_doc or not _pages or "browse/index.html" in source[0]:
        return
    if not app.env.doc2path(docname).endswith(".rst"):
        return
    source[0] += (
        f"\n\nSource code\n-----------\n\n`Browse the source code of {project} {release} <browse/index.html>`_ "
        "(hyperlinked with GNU Global: every name links to its definition and uses).\n"
    )


def setup(app):
    if _project_setup is not None:
        _project_setup(app)
    app.add_role("source", _source_role)
    app.connect("source-read", _landing_page)
    app.connect("doctree-read", _cpp_source_links)
    return {"parallel_read_safe": False}
