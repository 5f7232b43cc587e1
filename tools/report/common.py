"""What both reports share: the error type, progress lines, fixed-size figures,
digit tiles, and the document that renders as report.md and report.html.
No numerics here beyond what drawing needs.
"""
import base64
import html
import re
import struct
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ReportError(Exception):
    """A problem with an input or output file; the message names the file."""


def progress(message):
    print(f"[report] {message}", flush=True)


def new_figure(size_px):
    """A figure that saves to exactly size_px = (width, height) pixels."""
    width, height = size_px
    return plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def png_size(path):
    """(width, height) from the IHDR chunk; raises ReportError if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ReportError(f"{path}: not a PNG file")
    return struct.unpack(">II", head[16:24])


def save_figure(fig, out_dir, name, size_px):
    """Writes out_dir/name and checks the rendered size (no tight bbox: sizes are fixed)."""
    path = Path(out_dir) / name
    fig.savefig(path, dpi=DPI, facecolor="white")
    plt.close(fig)
    seen = png_size(path)
    if tuple(seen) != tuple(size_px):
        raise ReportError(f"{path}: rendered {seen[0]}x{seen[1]} pixels, expected "
                          f"{size_px[0]}x{size_px[1]}")
    progress(f"wrote {path} ({seen[0]}x{seen[1]})")
    return path


def show_digit(ax, image, title=None, fontsize=8, cmap="gray_r", title_color="black"):
    """One 28x28 uint8 digit, ink dark on white, no ticks."""
    ax.imshow(image, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=fontsize, color=title_color, pad=2)


def blank_axes(axes):
    for ax in axes:
        ax.axis("off")


def format_count(n):
    return f"{int(n):,}"


def format_seconds(seconds):
    """Four significant digits, so that tiny runs keep their information."""
    return f"{seconds:.4g}"


def _inline_html(text):
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _md_cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


class Document:
    """A list of blocks rendered twice: Markdown beside the PNGs, and one HTML
    file with the PNGs inlined as base64 so it reads offline on its own."""

    def __init__(self, title):
        self.title = title
        self.blocks = []

    def heading(self, text, level=2):
        self.blocks.append(("heading", level, text))

    def paragraph(self, text):
        self.blocks.append(("paragraph", text))

    def bullets(self, items):
        self.blocks.append(("bullets", list(items)))

    def table(self, header, rows, align=None):
        """align: one of 'l' or 'r' per column (default: first left, the rest right)."""
        align = align or "l" + "r" * (len(header) - 1)
        self.blocks.append(("table", list(header), [list(r) for r in rows], align))

    def figure(self, path, caption):
        """A PNG in the output directory; its caption is printed under it."""
        self.blocks.append(("figure", Path(path), caption))

    def code(self, text):
        self.blocks.append(("code", text))

    def markdown(self):
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out += ["#" * block[1] + " " + block[2], ""]
            elif kind == "paragraph":
                out += [block[1], ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                _, header, rows, align = block
                out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                out.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "figure":
                out += [f"![{block[1].stem}]({block[1].name})", "", f"*{block[2]}*", ""]
            elif kind == "code":
                out += ["```", block[1].rstrip("\n"), "```", ""]
        return "\n".join(out)

    def html(self):
        css = ("body{font-family:sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;"
               "color:#222}table{border-collapse:collapse;margin:0.5em 0 1.2em}"
               "td,th{border:1px solid #ccc;padding:3px 8px}th{background:#f0f0f0}"
               "td.r{text-align:right}img{max-width:100%;border:1px solid #ddd}"
               "figcaption{font-style:italic;margin:0.3em 0 1.5em}"
               "pre{background:#f6f6f6;padding:0.7em;overflow-x:auto}")
        out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
               f"<title>{html.escape(self.title)}</title><style>{css}</style></head><body>",
               f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out.append(f"<h{block[1]}>{_inline_html(block[2])}</h{block[1]}>")
            elif kind == "paragraph":
                out.append(f"<p>{_inline_html(block[1])}</p>")
            elif kind == "bullets":
                out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1])
                           + "</ul>")
            elif kind == "table":
                _, header, rows, align = block
                out.append("<table><tr>" + "".join(f"<th>{_inline_html(str(h))}</th>"
                                                   for h in header) + "</tr>")
                for row in rows:
                    cells = "".join(f"<td class=\"{a}\">{_inline_html(str(c))}</td>"
                                    for a, c in zip(align, row))
                    out.append(f"<tr>{cells}</tr>")
                out.append("</table>")
            elif kind == "figure":
                data = base64.b64encode(block[1].read_bytes()).decode("ascii")
                alt = html.escape(block[1].stem)
                out.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{alt}\">"
                           f"<figcaption>{_inline_html(block[2])}</figcaption></figure>")
            elif kind == "code":
                out.append(f"<pre>{html.escape(block[1])}</pre>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"

    def write(self, out_dir):
        """Writes report.md and report.html into out_dir; returns both paths."""
        md_path = Path(out_dir) / "report.md"
        html_path = Path(out_dir) / "report.html"
        md_path.write_text(self.markdown(), encoding="utf-8")
        html_path.write_text(self.html(), encoding="utf-8")
        progress(f"wrote {md_path} and {html_path.name} (figures inline)")
        return md_path, html_path


def make_out_dir(path):
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"{path}: cannot create the output directory ({e.strerror})") from e
    return path
