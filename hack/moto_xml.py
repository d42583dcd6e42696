"""XML escaping for the error bodies the moto launcher's modules answer with
(STS and S3 errors)."""

from __future__ import annotations


def xml_escape(s: str) -> str:
    return (
        s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
