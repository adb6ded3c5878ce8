"""The console's files, read as files: no HTML parsing of data, no inline code, the vendored code as pinned."""

from __future__ import annotations

import hashlib
import re

from dolphin.server.console_files import CONTENT_SECURITY_POLICY, console_files

FILES = console_files()
OWN_SCRIPTS = {path: f.body.decode() for path, f in FILES.items()
               if path.endswith(".js") and "/vendor/" not in path}
# Sinks that turn a string into markup or code: none of the console's own code may use them.
SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                   r"setAttribute\(\s*[\"']on|setAttribute\(\s*[\"']style|\.srcdoc")


def test_own_scripts_never_parse_data_as_html() -> None:
    assert set(OWN_SCRIPTS) == {"/console/api.js", "/console/app.js", "/console/charts.js", "/console/dom.js",
                                "/console/editor.js", "/console/i18n.js", "/console/views.js"}
    for path, text in OWN_SCRIPTS.items():
        assert not SINKS.search(text), (path, SINKS.search(text))


def test_index_has_no_inline_code_and_only_local_files() -> None:
    index = FILES["/"].body.decode()
    assert FILES["/"] is FILES["/console/index.html"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", index)  # every script is a file
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=", index)  # no inline style or handler
    for reference in re.findall(r'(?:src|href)="([^"]+)"', index):
        assert reference in FILES, reference  # nothing from another origin


def test_every_imported_module_is_shipped() -> None:
    for path, text in OWN_SCRIPTS.items():
        for module in re.findall(r'from "\./([^"]+)"', text):
            assert f"/console/{module}" in FILES, (path, module)


def test_vendored_echarts_is_the_pinned_release_with_its_license() -> None:
    body = FILES["/console/vendor/echarts.min.js"].body
    assert hashlib.sha256(body).hexdigest() == "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"
    assert "Apache License" in FILES["/console/vendor/LICENSE-echarts.txt"].body.decode()
    assert "Apache ECharts" in FILES["/console/vendor/NOTICE-echarts.txt"].body.decode()


def test_policy_allows_no_inline_code() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
