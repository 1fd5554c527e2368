#!/usr/bin/env python3
"""Folded stacks ("a;b;c 12" a line, as `perf script report stackcollapse` prints them) to a
self-contained SVG flame graph: the root at the bottom, each frame as wide as its share of the
samples, its name, samples and percentage in a tooltip; click a frame to zoom into it, click the
root to zoom out. Debian 12 packages neither Brendan Gregg's FlameGraph scripts nor the d3
template of `perf script report flamegraph`, hence this small stand-in (standard library only).

    perf script -i perf.data report stackcollapse > folded.txt
    python3 bench/flamegraph.py folded.txt > flame.svg      # or: ... < folded.txt
    python3 bench/flamegraph.py --title "recordInfo" --min-width 0.1 folded.txt > flame.svg
"""
import argparse
import html
import sys
import zlib

WIDTH, ROW, FONT = 1600, 17, 11


class Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name):
        self.name, self.count, self.children = name, 0, {}


def parse(lines):
    root = Node("all")
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        root.count += n
        node = root
        for frame in stack.split(";"):
            node = node.children.setdefault(frame, Node(frame))
            node.count += n
    return root


def colour(name):
    if name.endswith("_[k]") or name.startswith(("__x64_sys", "entry_SYSCALL", "do_syscall")):
        return "rgb(220,140,90)"  # kernel-ish frames in orange
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{80 + (h >> 8) % 120},{40 + (h >> 16) % 50})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folded", nargs="?", help="folded stacks (default: standard input)")
    ap.add_argument("--title", default="Flame graph")
    ap.add_argument("--min-width", type=float, default=0.05,
                    help="leave out frames narrower than this many percent (default 0.05)")
    args = ap.parse_args()
    root = parse(open(args.folded) if args.folded else sys.stdin)
    if root.count == 0:
        sys.exit("flamegraph.py: no samples")

    rects = []  # (depth, x, width, name, count)

    def walk(node, depth, x):
        rects.append((depth, x, node.count, node.name))
        for child in sorted(node.children.values(), key=lambda c: c.name):
            if child.count * 100.0 / root.count >= args.min_width:
                walk(child, depth + 1, x)
            x += child.count

    walk(root, 0, 0)
    depth = max(r[0] for r in rects) + 1
    height = (depth + 3) * ROW
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="{FONT}">',
           f'<rect width="100%" height="100%" fill="#f8f8f0"/>',
           f'<text x="{WIDTH / 2}" y="{ROW}" text-anchor="middle" font-size="{FONT + 4}">'
           f'{html.escape(args.title)} ({root.count} samples)</text>']
    for d, x, n, name in rects:
        y = height - (d + 1) * ROW
        label = html.escape(name)
        pct = 100.0 * n / root.count
        px, pw = x * WIDTH / root.count, n * WIDTH / root.count
        fit = int((pw - 6) / (FONT * 0.6))
        shown = name if fit >= len(name) else name[:fit - 2] + ".." if fit > 2 else ""
        out.append(f'<g class="f" data-x="{x}" data-w="{n}" data-d="{d}">'
                   f'<title>{label} ({n} samples, {pct:.2f}%)</title>'
                   f'<rect x="{px:.1f}" y="{y}" width="{max(0.0, pw - 0.5):.1f}" height="{ROW - 1}" '
                   f'fill="{colour(name)}" rx="2"/>'
                   f'<text x="{px + 3:.1f}" y="{y + ROW - 5}">{html.escape(shown)}</text></g>')
    # Lays the frames out for a zoom window [x0, x0 + w) of the samples; text is cut to fit.
    out.append(f"""<script><![CDATA[
const W = {WIDTH}, total = {root.count}, cw = {FONT * 0.6};
const frames = Array.from(document.querySelectorAll("g.f"));
function layout(x0, w, d0) {{
  for (const g of frames) {{
    const x = +g.dataset.x, n = +g.dataset.w, d = +g.dataset.d;
    const r = g.querySelector("rect"), t = g.querySelector("text");
    const inside = x + n > x0 && x < x0 + w && (d >= d0 || (x <= x0 && x + n >= x0 + w));
    g.style.display = inside ? "" : "none";
    if (!inside) continue;
    const px = Math.max(0, (x - x0) / w * W), pw = Math.min(W, (x + n - x0) / w * W) - px;
    r.setAttribute("x", px); r.setAttribute("width", Math.max(0, pw - 0.5));
    t.setAttribute("x", px + 3);
    const name = g.querySelector("title").textContent.replace(/ \\([^)]*\\)$/, "");
    const fit = Math.floor((pw - 6) / cw);
    t.textContent = fit >= name.length ? name : fit > 2 ? name.slice(0, fit - 2) + ".." : "";
  }}
}}
for (const g of frames) g.addEventListener("click", () => layout(+g.dataset.x, +g.dataset.w, +g.dataset.d));
layout(0, total, 0);
]]></script>""")
    out.append("</svg>")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
