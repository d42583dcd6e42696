#!/usr/bin/env python3
"""Render deploy/krew/s3c.yaml (a krew-release-bot template) for local archives.

    python3 hack/krew-manifest.py --template deploy/krew/s3c.yaml --tag v0.1.0 \
        --archive linux/amd64=dist/kubectl-s3c_v0.1.0_linux_amd64.tar.gz > s3c.yaml

`{{ .TagName }}` becomes the tag; `{{addURIAndSha "URL" .TagName }}` becomes
`uri: URL` and `sha256: <sha256 of the archive given for that platform>`, as
krew-release-bot renders it. Platforms without an archive are left out (a
local build has one); no archive for any platform is an error.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys

ADD = re.compile(r'^(?P<indent>\s*)\{\{addURIAndSha "(?P<uri>[^"]+)" \.TagName \}\}\s*$')
TAG = re.compile(r"\{\{ \.TagName \}\}")
PLATFORM = re.compile(r"^  - selector:\s*$")
LABEL = re.compile(r"^\s+(os|arch): (\S+)\s*$")


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def render(template: str, tag: str, archives: dict[str, str]) -> str:
    head, blocks, current = [], [], None
    for line in template.splitlines():
        if PLATFORM.match(line):
            current = [line]
            blocks.append(current)
        elif current is not None:
            current.append(line)
        else:
            head.append(line)
    out = [TAG.sub(tag, line) for line in head]
    used = set()
    for block in blocks:
        labels = dict(m.groups() for m in map(LABEL.match, block) if m)
        platform = f"{labels.get('os')}/{labels.get('arch')}"
        if platform not in archives:
            continue
        used.add(platform)
        for line in block:
            m = ADD.match(line)
            if m:
                indent, uri = m.group("indent"), TAG.sub(tag, m.group("uri"))
                out.append(f"{indent}uri: {uri}")
                out.append(f"{indent}sha256: {sha256(archives[platform])}")
            else:
                out.append(TAG.sub(tag, line))
    unknown = set(archives) - used
    if unknown:
        sys.exit(f"krew-manifest: no platform {sorted(unknown)} in the template")
    if not used:
        sys.exit("krew-manifest: no archive given")
    text = "\n".join(out) + "\n"
    if "{{" in text:
        sys.exit("krew-manifest: the template has a placeholder this script does not know")
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--template", required=True)
    p.add_argument("--tag", required=True, help="the release tag, e.g. v0.1.0")
    p.add_argument("--archive", action="append", default=[], metavar="OS/ARCH=PATH")
    a = p.parse_args()
    archives = {}
    for spec in a.archive:
        platform, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"krew-manifest: --archive {spec!r} is not OS/ARCH=PATH")
        archives[platform] = path
    with open(a.template, encoding="utf-8") as f:
        sys.stdout.write(render(f.read(), a.tag, archives))


if __name__ == "__main__":
    main()
