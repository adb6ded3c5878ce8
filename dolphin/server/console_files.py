"""The web console's static files (dolphin/server/console/, shipped in the package) and the headers they go with.

The console is plain ES modules and a vendored ECharts: no build step, nothing fetched from elsewhere. Its
Content-Security-Policy allows scripts, styles and connections to this origin only, and no inline script or
style, so a tag value holding `<script>` can never run even if a view forgot to treat it as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Files change with the package: revalidate rather than serve a stale console against a newer API.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the console, read once at start."""

    body: bytes
    content_type: str


def console_files() -> dict[str, StaticFile]:
    """Return every console file by its URL path (`/console/app.js`); `/` is index.html."""
    root = resources.files("dolphin.server").joinpath("console")
    files: dict[str, StaticFile] = {}
    pending = [(root, "/console")]
    while pending:
        folder, prefix = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, f"{prefix}/{entry.name}"))
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if suffix in CONTENT_TYPES:
                files[f"{prefix}/{entry.name}"] = StaticFile(entry.read_bytes(), CONTENT_TYPES[suffix])
    files["/"] = files["/console/index.html"]
    return files
