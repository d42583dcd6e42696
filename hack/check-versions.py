#!/usr/bin/env python3
"""One version: Cargo.toml's `[package] version` is the operator's version,
and the chart's `version` and `appVersion` must be the same.

    hack/check-versions.py                         (make lint)
    hack/check-versions.py --tag v1.2.3 [--notes FILE]   (the release workflow)

With --tag, the tag must be `v<version>` and CHANGELOG.md must have a
`## [<version>]` section; --notes writes that section's text to FILE (the
GitHub release's notes). Python 3.11+ standard library only.
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART_YAML = ROOT / "deploy/helm/s3-connection-operator/Chart.yaml"
CHANGELOG = ROOT / "CHANGELOG.md"
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$")


def chart_field(text, key):
    """A top-level scalar of Chart.yaml, quotes removed."""
    m = re.search(rf"^{key}:\s*(.+?)\s*$", text, re.M)
    return m.group(1).strip("\"'") if m else None


def changelog_section(text, version):
    """The text under `## [<version>]` up to the next `## ` heading."""
    m = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1).strip() if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", help="the release tag, v<version>")
    ap.add_argument("--notes", type=Path, help="write the version's CHANGELOG section here")
    args = ap.parse_args()

    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    chart = CHART_YAML.read_text()
    problems = []
    if not SEMVER.match(version):
        problems.append(f"Cargo.toml: version {version!r} is not MAJOR.MINOR.PATCH[-PRERELEASE]")
    for key in ("version", "appVersion"):
        value = chart_field(chart, key)
        if value != version:
            wanted = f'"{version}"' if key == "appVersion" else version
            problems.append(
                f"{CHART_YAML.relative_to(ROOT)}: {key} is {value!r} but Cargo.toml's version is "
                f"{version!r}: set `{key}: {wanted}`"
            )
    changelog = CHANGELOG.read_text() if CHANGELOG.exists() else ""
    if not re.search(r"^## \[Unreleased\]", changelog, re.M):
        problems.append("CHANGELOG.md: no `## [Unreleased]` section")

    if args.tag is not None:
        if args.tag != f"v{version}":
            problems.append(
                f"tag {args.tag!r} does not name Cargo.toml's version {version!r} (expected v{version}): "
                "bump the version (Cargo.toml, Chart.yaml) in a commit and tag that"
            )
        notes = changelog_section(changelog, version)
        if not notes:
            problems.append(f"CHANGELOG.md: no `## [{version}] - YYYY-MM-DD` section (or it is empty)")
        elif args.notes:
            args.notes.write_text(notes + "\n")

    for p in problems:
        print(f"check-versions: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-versions: {version} (Cargo.toml, Chart.yaml version and appVersion)")


if __name__ == "__main__":
    main()
