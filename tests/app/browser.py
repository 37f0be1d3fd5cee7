"""Render an HTML page in headless Chromium and read back what the browser itself saw.

One launch per page: `--dump-dom` (the DOM after load, carrying a JSON summary that an injected
script wrote into it) and `--screenshot` together. The page is copied next to itself with the script
added, so relative paths (e.g. `figures/x.png`) resolve exactly as in the original.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Without the background-networking flags Chromium hangs or fails on a closed network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--allow-file-access-from-files",  # figures/x.png from a file:// page may be drawn onto a canvas
)
WINDOW = (1400, 3000)
SUMMARY_ID = "mesaprobe-browser-check"

# At `load`, synchronously (`--dump-dom` does not wait for promises): each <img>'s state, and its
# pixels drawn onto a canvas (which forces a full decode) to tell a real picture from an empty one.
# The result (with any script error, caught from the top of <head>) goes into a hidden <pre> as JSON, which `--dump-dom` hands back.
ERRORS_SCRIPT = """<script>
window.__browserCheckErrors = [];
window.addEventListener("error", function (e) {
  window.__browserCheckErrors.push(
    e.message ? String(e.message) : "failed to load " + ((e.target && e.target.src) || "").slice(0, 80));
}, true);
</script>"""
PROBE_SCRIPT = f"""
<pre id="{SUMMARY_ID}" style="display:none"></pre>
<script>
(function () {{
  var errors = window.__browserCheckErrors || ["the error listener was not installed"];
  function pixels(img) {{
    if (!img.complete || !img.naturalWidth) return null;
    try {{
      var canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      var data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      var distinct = {{}}, n = 0, inked = 0, total = data.length / 4;
      for (var i = 0; i < data.length; i += 4) {{
        var key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200)) inked++;
        if (n < 1000 && !(key in distinct)) {{ distinct[key] = 1; n++; }}
      }}
      return {{colours: n, inked: inked / total}};
    }} catch (err) {{
      return {{error: String(err)}};
    }}
  }}
  window.addEventListener("load", function () {{
    var out = Array.prototype.map.call(document.images, function (img) {{
      var box = img.getBoundingClientRect();
      return {{alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
              naturalHeight: img.naturalHeight, shownWidth: box.width, shownHeight: box.height,
              pixels: pixels(img)}};
    }});
    document.getElementById("{SUMMARY_ID}").textContent = JSON.stringify({{
      images: out, errors: errors, title: document.title,
      pageWidth: document.documentElement.scrollWidth, viewWidth: window.innerWidth}});
  }});
}})();
</script>
"""


def find_chromium() -> str | None:
    """The Chromium binary on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class Rendered:
    """What Chromium made of one page: the JSON summary of its images, and a screenshot."""

    summary: dict
    screenshot: Path
    log: str


def _instrumented_copy(page: Path) -> Path:
    text = page.read_text(encoding="utf-8")
    head = re.search(r"<head[^>]*>", text, re.I)
    text = ERRORS_SCRIPT + text if head is None else text[: head.end()] + ERRORS_SCRIPT + text[head.end() :]
    at = text.lower().rfind("</body>")
    text = text + PROBE_SCRIPT if at < 0 else text[:at] + PROBE_SCRIPT + text[at:]
    copy = page.with_name(f"{page.stem}.browser-check{page.suffix}")
    copy.write_text(text, encoding="utf-8")
    return copy


def render(page: Path, screenshot: Path, *, chromium: str, timeout: float = 60.0) -> Rendered:
    """Load `page` in headless Chromium; return the image summary and write a screenshot to `screenshot`.

    Raises `RuntimeError` when Chromium fails, hangs past `timeout` (its whole process group is
    killed), or leaves no summary (the load event never came).
    """
    copy = _instrumented_copy(Path(page).resolve())
    screenshot = Path(screenshot).resolve()
    work = Path(tempfile.mkdtemp(prefix="chromium-", dir=screenshot.parent))
    dom_file, log_file = work / "dom.html", work / "chromium.log"
    cmd = [
        chromium,
        *FLAGS,
        f"--user-data-dir={work / 'profile'}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000",
        f"--screenshot={screenshot}",
        "--dump-dom",
        copy.as_uri(),
    ]
    # Output to files, not pipes (a lingering child holding a pipe would block), and a session of its
    # own, so that a timeout can kill Chromium with every helper process it started.
    with open(dom_file, "wb") as out, open(log_file, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RuntimeError(f"chromium hung: no result after {timeout:g} s on {page}") from None
        finally:
            shutil.rmtree(work / "profile", ignore_errors=True)  # thousands of small files; not needed
    log = log_file.read_text(errors="replace")
    if rc != 0:
        raise RuntimeError(f"chromium exited with {rc} on {page}:\n{log[-3000:]}")
    dom = dom_file.read_text(encoding="utf-8", errors="replace")
    found = re.search(rf'<pre id="{SUMMARY_ID}"[^>]*>(.*?)</pre>', dom, re.S)
    if found is None or not found.group(1).strip():
        raise RuntimeError(f"no image summary in the DOM of {page} (did the load event fire?):\n{log[-3000:]}")
    return Rendered(json.loads(html.unescape(found.group(1))), screenshot, log)
