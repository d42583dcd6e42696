#!/usr/bin/env python3
"""Pack a root filesystem directory into an OCI image archive, offline and
reproducibly: the same directory and Dockerfile give the same bytes.

The image's configuration (user, entrypoint, command, exposed ports, labels,
environment, working directory) is read from the last stage of a
Dockerfile, which must be `FROM scratch` with one `COPY ... /` of the
root filesystem: that stage is then the one recipe for both ways of
building the image (`docker build` with a registry, this script without).

Reproducible: one layer; entries sorted by path; every timestamp is
SOURCE_DATE_EPOCH (default 0); owner 0:0 with no names; gzip without a
name or time; JSON with sorted keys.

The archive is an OCI image layout (oci-layout, index.json, blobs/) with a
Docker-style manifest.json beside it, so `ctr images import`, `kind load
image-archive`, `k3d image import`, `docker load` and `podman load` all find
the image under its name.

Usage:
  oci-image.py --dockerfile Dockerfile --rootfs DIR --name REPO:TAG \\
      --out FILE [--build-arg K=V ...] [--arch amd64]
Prints the manifest digest (what `image.digest` in the chart takes).
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shlex
import stat
import sys
import tarfile
import time

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"


class Refused(Exception):
    """Input this script will not turn into an image, with the reason."""


def dockerfile_lines(text):
    """Instructions of a Dockerfile: comments dropped, continuations joined."""
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    if cur.strip():
        lines.append(cur.strip())
    return lines


def substitute(value, args):
    """${NAME} and $NAME from ARGs, as Docker does in LABEL and ENV."""

    def one(m):
        name = m.group(1) or m.group(2)
        if name not in args:
            raise Refused(f"${name} is not an ARG of the last stage")
        return args[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, value)


def key_values(rest, args):
    """`k=v k2="v 2"` (LABEL, ENV) as pairs, with ARGs substituted."""
    pairs = []
    for word in shlex.split(rest):
        if "=" not in word:
            raise Refused(f"expected key=value, got {word!r}")
        k, v = word.split("=", 1)
        pairs.append((k, substitute(v, args)))
    return pairs


def exec_form(rest, what):
    try:
        v = json.loads(rest)
    except json.JSONDecodeError:
        v = None
    if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        raise Refused(f"{what} must be in exec form, a JSON list of strings: {rest}")
    return v


def image_config(dockerfile_text, build_args):
    """The OCI `config` object of the Dockerfile's last stage."""
    lines = dockerfile_lines(dockerfile_text)
    starts = [i for i, l in enumerate(lines) if l.split()[0].upper() == "FROM"]
    if not starts:
        raise Refused("no FROM in the Dockerfile")
    stage = lines[starts[-1]:]
    if stage[0].split()[1:2] != ["scratch"]:
        raise Refused(f"the last stage must be FROM scratch, not: {stage[0]}")
    args, config, copies = {}, {}, 0
    for line in stage[1:]:
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = build_args.get(name, default)
        elif word == "LABEL":
            config.setdefault("Labels", {}).update(key_values(rest, args))
        elif word == "ENV":
            env = dict(e.split("=", 1) for e in config.get("Env", []))
            env.update(key_values(rest, args))
            config["Env"] = [f"{k}={v}" for k, v in env.items()]
        elif word == "USER":
            config["User"] = substitute(rest, args)
        elif word == "WORKDIR":
            config["WorkingDir"] = substitute(rest, args)
        elif word == "EXPOSE":
            for port in rest.split():
                p = port if "/" in port else port + "/tcp"
                config.setdefault("ExposedPorts", {})[p] = {}
        elif word == "ENTRYPOINT":
            config["Entrypoint"] = exec_form(rest, "ENTRYPOINT")
        elif word == "CMD":
            config["Cmd"] = exec_form(rest, "CMD")
        elif word == "COPY":
            parts = rest.split()
            if len(parts) < 2 or parts[-1] != "/" or not any(p.startswith("--from=") for p in parts):
                raise Refused(f"the last stage may only COPY --from=<stage> <rootfs> /: {line}")
            copies += 1
        else:
            raise Refused(f"{word} in the last stage: only ARG, LABEL, ENV, USER, WORKDIR, EXPOSE, ENTRYPOINT, CMD and one COPY of the root filesystem are understood")
    if copies != 1:
        raise Refused(f"the last stage must COPY the root filesystem exactly once (found {copies})")
    return config


def layer_tar(rootfs, epoch):
    """The root filesystem as an uncompressed tar: sorted, owner 0:0, one time."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(rootfs):
        dirnames.sort()
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            entries.append(os.path.relpath(full, rootfs))
    entries.sort()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in entries:
            full = os.path.join(rootfs, rel)
            st = os.lstat(full)
            info = tarfile.TarInfo(rel)
            info.mtime = epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(full)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                raise Refused(f"{full}: only directories, files and symlinks go into an image")
    return buf.getvalue()


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as g:
        g.write(data)
    return out.getvalue()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def build(dockerfile_text, rootfs, name, build_args, arch, epoch):
    """The archive's files as {path: bytes}, and the manifest digest."""
    if ":" not in name.rsplit("/", 1)[-1]:
        raise Refused(f"--name must be REPOSITORY:TAG, got {name!r}")
    tag = name.rsplit(":", 1)[1]
    config = image_config(dockerfile_text, build_args)
    tar = layer_tar(rootfs, epoch)
    layer = gz(tar)
    created = rfc3339(epoch)
    cfg = canonical({
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [sha(tar)]},
        "history": [{"created": created, "created_by": "hack/oci-image.py"}],
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": sha(layer), "size": len(layer)}],
    })
    index = canonical({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [{
            "mediaType": MEDIA_MANIFEST,
            "digest": sha(manifest),
            "size": len(manifest),
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    })
    blob = lambda d: "blobs/sha256/" + sha(d).split(":", 1)[1]
    files = {
        "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
        blob(cfg): cfg,
        blob(layer): layer,
        blob(manifest): manifest,
        "manifest.json": canonical([{
            "Config": blob(cfg), "RepoTags": [name], "Layers": [blob(layer)],
        }]),
    }
    return files, sha(manifest)


def write_archive(files, out, epoch):
    dirs = sorted({os.path.dirname(p) for p in files if "/" in p} | {"blobs"})
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(files[path]), 0o644, epoch
            tar.addfile(info, io.BytesIO(files[path]))
    os.replace(tmp, out)


def default_arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dockerfile", required=True)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--name", required=True, help="REPOSITORY:TAG")
    p.add_argument("--out", required=True)
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V")
    p.add_argument("--arch", default=default_arch())
    a = p.parse_args(argv)
    try:
        build_args = dict(kv.split("=", 1) for kv in a.build_arg)
    except ValueError:
        p.error("--build-arg takes K=V")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    try:
        with open(a.dockerfile) as f:
            text = f.read()
        if not os.path.isdir(a.rootfs):
            raise Refused(f"{a.rootfs} is not a directory")
        files, digest = build(text, a.rootfs, a.name, build_args, a.arch, epoch)
    except Refused as e:
        sys.exit(f"oci-image.py: {a.dockerfile}: {e}")
    write_archive(files, a.out, epoch)
    print(digest)


if __name__ == "__main__":
    main(sys.argv[1:])
