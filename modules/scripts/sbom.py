"""pipeline: the SBOM of a production image, as CycloneDX 1.5 JSON (run by modules/sbom.ts imageSbom).

Usage: sbom.py ROOT OUT NAME VERSION VARIANT PROJECT_PACKAGE IMAGE_REF REVISION EPOCH
ROOT is the image's root filesystem (read only); OUT the JSON file written. Every Debian package installed in
the image (its dpkg database), and the project's own package with a SHA-256 for each file it installed.
"""
import hashlib, json, os, re, sys, uuid

root, out = sys.argv[1], sys.argv[2]
name, version, variant, project_pkg, image_ref, revision, epoch = sys.argv[3:10]

def stanzas(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        block, key = {}, None
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if block:
                    yield block
                block, key = {}, None
            elif line[0] in " \t" and key:
                block[key] += "\n" + line
            else:
                key, _, value = line.partition(":")
                block[key] = value.strip()
        if block:
            yield block

os_release = {}
with open(os.path.join(root, "etc/os-release")) as f:
    for line in f:
        k, _, v = line.strip().partition("=")
        os_release[k] = v.strip('"')
distro = "%s-%s" % (os_release.get("ID", "debian"), os_release.get("VERSION_ID", ""))

installed = [s for s in stanzas(os.path.join(root, "var/lib/dpkg/status")) if s.get("Status", "").endswith(" installed")]
by_name = {}
for s in installed:
    by_name.setdefault(s["Package"], s)
    for p in s.get("Provides", "").split(","):
        p = p.strip().split(" ")[0]
        if p:
            by_name.setdefault(p, s)

def quote(v):
    return re.sub(r"[^A-Za-z0-9.\-_~]", lambda m: "%%%02X" % ord(m.group()), v)

def purl(s):
    ns = "debian" if s["Package"] != project_pkg else name
    return "pkg:deb/%s/%s@%s?arch=%s&distro=%s" % (ns, s["Package"], quote(s["Version"]), s["Architecture"], distro)

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

components, dependencies = [], []
for s in sorted(installed, key=lambda s: s["Package"]):
    ref = purl(s)
    c = {"type": "library", "bom-ref": ref, "name": s["Package"], "version": s["Version"], "purl": ref}
    if s.get("Maintainer"):
        c["supplier"] = {"name": s["Maintainer"]}
    if s.get("Description"):
        c["description"] = s["Description"].split("\n")[0]
    props = [{"name": "debian:architecture", "value": s["Architecture"]}]
    if s.get("Source"):
        props.append({"name": "debian:source", "value": s["Source"].split(" ")[0]})
    c["properties"] = props
    if s["Package"] == project_pkg:
        c["type"] = "application"
        files = []
        lst = os.path.join(root, "var/lib/dpkg/info", "%s.list" % project_pkg)
        if not os.path.exists(lst):
            lst = os.path.join(root, "var/lib/dpkg/info", "%s:%s.list" % (project_pkg, s["Architecture"]))
        with open(lst) as f:
            for p in sorted(l.strip() for l in f):
                full = os.path.join(root, p.lstrip("/"))
                if os.path.isfile(full) and not os.path.islink(full):
                    files.append({"type": "file", "bom-ref": "file:" + p, "name": p,
                                  "hashes": [{"alg": "SHA-256", "content": sha256(full)}]})
        c["components"] = files
    components.append(c)
    deps = set()
    for field in ("Pre-Depends", "Depends"):
        for alt in s.get(field, "").split(","):
            for choice in alt.split("|"):
                dep = choice.strip().split(" ")[0].split(":")[0]
                if dep in by_name:
                    deps.add(purl(by_name[dep]))
                    break
    dependencies.append({"ref": ref, "dependsOn": sorted(deps)})

body = {"components": components, "dependencies": dependencies}
serial = uuid.uuid5(uuid.NAMESPACE_URL, image_ref + json.dumps(body, sort_keys=True))
doc = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "serialNumber": "urn:uuid:%s" % serial,
    "version": 1,
    "metadata": {
        "timestamp": __import__("datetime").datetime.fromtimestamp(int(epoch), __import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tools": {"components": [{"type": "application", "name": "pipeline"}]},
        "component": {"type": "container", "bom-ref": image_ref, "name": image_ref.rsplit(":", 1)[0], "version": image_ref.rsplit(":", 1)[-1],
                      "properties": [{"name": "variant", "value": variant}, {"name": "revision", "value": revision},
                                     {"name": "os", "value": os_release.get("PRETTY_NAME", distro)}]},
    },
    **body,
}
with open(out, "w") as f:
    json.dump(doc, f, indent=1, sort_keys=False)
    f.write("\n")
print("sbom: %d packages, %d files of %s" % (len(components), sum(len(c.get("components", [])) for c in components), project_pkg))
