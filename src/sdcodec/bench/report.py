"""Benchmark outputs: CSV, JSON, rate–quality plots, a Markdown summary and report.html."""

from __future__ import annotations

import base64
import csv
import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import HIGHER_IS_BETTER, LABELS

AVERAGING = (
    "Each point is the mean over images of bpp and of the metric, for one codec at one target "
    "rate, using only the images where that codec landed within ±10% of the target "
    "(flag 'ok'; fixed settings use all images). Hollow markers: fewer images than the run had. "
    "'codec÷2' / '÷4': the codec on the image downscaled 2×/4× (Lanczos) and upscaled back, run "
    "only where the codec could not reach the target at full size."
)
COLUMNS = ["image", "codec", "protocol", "scale", "target_bpp", "flag", "matched_to", "knob", "bytes",
           "bpp", *HIGHER_IS_BETTER, "encode_s", "decode_s", "crop"]  # fmt: skip


def write_tables(rows: list[dict[str, Any]], outdir: Path, meta: dict[str, Any]) -> None:
    with open(outdir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r["image"], r["codec"], r["target_bpp"])):
            w.writerow(r)
    (outdir / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


def aggregate(rows: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        if r["protocol"] == "matched" and r["flag"] in ("ok", "fixed"):
            groups[(r["codec"], r["target_bpp"] if r["flag"] == "ok" else None)].append(r)
    out = []
    for (codec, target), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        agg = {
            "codec": codec,
            "target_bpp": target,
            "images": len(rs),
            "complete": len(rs) == n_images,
        }
        for key in ("bpp", *HIGHER_IS_BETTER, "encode_s", "decode_s"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            agg[key] = float(np.mean(vals)) if vals else None
        out.append(agg)
    return out


def _fmt(v: Any, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def summary_markdown(
    agg: list[dict[str, Any]], rows: list[dict[str, Any]], rates: list[float]
) -> str:
    lines = []
    for rate in rates:
        lines.append(f"\n### Target {rate:g} bpp\n")
        lines.append(
            "| codec | images | bpp | PSNR | MS-SSIM | SSIMULACRA2 | JOD | enc s | dec s |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for a in agg:
            if a["target_bpp"] == rate:
                lines.append(
                    f"| {a['codec']} | {a['images']} | {_fmt(a['bpp'], 3)} | {_fmt(a['psnr'])} | {_fmt(a['ms_ssim'], 3)} "
                    f"| {_fmt(a['ssimulacra2'], 1)} | {_fmt(a['jod'])} | {_fmt(a['encode_s'])} | {_fmt(a['decode_s'], 3)} |"
                )
        floors = sorted(
            {r["codec"] for r in rows if r["target_bpp"] == rate and r["flag"] == "floor"}
        )
        if floors:
            lines.append(
                f"\nCannot reach {rate:g} bpp at full size on some images: {', '.join(floors)}."
            )
        pairs = paired(rows, rate)
        if pairs:
            lines.append(
                "\nPaired: each sdc row against each other codec on only the images both "
                "landed within ±10% of the target (PSNR / SSIMULACRA2 / JOD; bold: the better)."
                "\n\n| sdc | vs | images | sdc | other |\n|---|---|---:|---|---|"
            )
            for p in pairs:
                ours, theirs = _bolder(p["ours"], p["theirs"])
                lines.append(f"| {p['codec']} | {p['other']} | {p['images']} | {ours} | {theirs} |")
    fixed = [a for a in agg if a["target_bpp"] is None]
    if fixed:
        lines.append("\n### Fixed settings (no rate search)\n")
        lines.append(
            "| codec | images | bpp | PSNR | MS-SSIM | SSIMULACRA2 | JOD | enc s | dec s |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for a in fixed:
            lines.append(
                f"| {a['codec']} | {a['images']} | {_fmt(a['bpp'], 3)} | {_fmt(a['psnr'])} | {_fmt(a['ms_ssim'], 3)} "
                f"| {_fmt(a['ssimulacra2'], 1)} | {_fmt(a['jod'])} | {_fmt(a['encode_s'])} | {_fmt(a['decode_s'], 3)} |"
            )
    article = [r for r in rows if r["protocol"] == "article"]
    if article:
        lines.append(
            "\n### The article's protocol (smallest quality at least as large as each sdc file)\n"
        )
        lines.append("| sdc cell | codec | bpp | PSNR | SSIMULACRA2 | JOD |")
        lines.append("|---|---|---:|---:|---:|---:|")
        by: dict[tuple, list] = defaultdict(list)
        for r in article:
            by[
                (r["matched_to"].split("@")[0] + "@" + r["matched_to"].split("@")[-1], r["codec"])
            ].append(r)
        for (cell, codec), rs in sorted(by.items()):
            lines.append(f"| {cell} | {codec} | {np.mean([r['bpp'] for r in rs]):.3f} | "
                         f"{np.mean([r['psnr'] for r in rs]):.2f} | {_fmt(_mean(rs, 'ssimulacra2'), 1)} | {_fmt(_mean(rs, 'jod'))} |")  # fmt: skip
    return "\n".join(lines) + "\n"


PAIRED_METRICS = ("psnr", "ssimulacra2", "jod")


def paired(rows: list[dict[str, Any]], rate: float) -> list[dict[str, Any]]:
    """Means over the images two codecs share at one target: an unpaired mean flatters
    whichever codec reaches the target only on easy images."""
    hits: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["protocol"] == "matched" and r["target_bpp"] == rate and r["flag"] == "ok":
            hits[r["codec"]][r["image"]] = r
    ours = sorted(c for c in hits if c.startswith("sdc") and "÷" not in c)
    out = []
    for codec in ours:
        for other in sorted(c for c in hits if not c.startswith("sdc")):
            shared = sorted(hits[codec].keys() & hits[other].keys())
            if not shared:
                continue
            out.append({
                "codec": codec, "other": other, "images": len(shared),
                "ours": {k: _mean([hits[codec][i] for i in shared], k) for k in PAIRED_METRICS},
                "theirs": {k: _mean([hits[other][i] for i in shared], k) for k in PAIRED_METRICS},
            })  # fmt: skip
    return out


def _bolder(a: dict[str, float | None], b: dict[str, float | None]) -> tuple[str, str]:
    cells: tuple[list[str], list[str]] = ([], [])
    for key, digits in zip(PAIRED_METRICS, (2, 1, 2), strict=True):
        x, y = a[key], b[key]
        for side, v, w in ((cells[0], x, y), (cells[1], y, x)):
            text = _fmt(v, digits)
            better = v is not None and w is not None and round(v, digits) > round(w, digits)
            side.append(f"**{text}**" if better else text)
    return " / ".join(cells[0]), " / ".join(cells[1])


def _mean(rs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rs if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def plots(agg: list[dict[str, Any]], outdir: Path, available: dict[str, str | None]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    codecs = sorted({a["codec"] for a in agg})
    bases = sorted({c.split("÷")[0] for c in codecs})
    styles = {"2": "--", "4": ":"}
    for metric in HIGHER_IS_BETTER:
        if available.get(metric) is not None:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        for codec in codecs:
            pts = sorted(
                (a for a in agg if a["codec"] == codec and a[metric] is not None),
                key=lambda a: a["bpp"],
            )
            if not pts:
                continue
            base, _, scale = codec.partition("÷")
            color = f"C{bases.index(base) % 10}"
            style = styles.get(scale, "-")
            ax.plot(
                [p["bpp"] for p in pts],
                [p[metric] for p in pts],
                style,
                color=color,
                label=codec,
                alpha=0.8,
            )
            for p in pts:
                ax.plot(
                    p["bpp"], p[metric], "o", color=color, mfc=color if p["complete"] else "white"
                )
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel(LABELS[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        ax.set_title(f"{LABELS[metric]} vs rate")
        fig.tight_layout()
        path = outdir / f"plot_{metric}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:6px}.cell{font-size:11px;text-align:center}
.cell img{display:block;cursor:pointer;border:2px solid transparent;image-rendering:pixelated}
.cell img.sel{border-color:#d33}.viewer{position:sticky;top:0;background:#fff;padding:4px;border-bottom:1px solid #ddd;z-index:2}
.viewer img{image-rendering:pixelated}.note{color:#555;font-size:13px}
"""

_JS = """
let zoom=1;
function setZoom(z){zoom=z;document.querySelectorAll('.cell img').forEach(i=>{i.style.width=(i.naturalWidth*z)+'px'});}
function pick(img){const box=img.closest('section');box.querySelectorAll('img.sel').forEach(i=>i.classList.remove('sel'));
 img.classList.add('sel');const v=box.querySelector('.viewer img');v.src=img.src;v.dataset.b=img.src;v.dataset.a=box.dataset.ref;
 box.querySelector('.viewer span').textContent=img.alt;}
function flip(btn){const box=btn.closest('section');const v=box.querySelector('.viewer img');
 if(!v.dataset.a)return;const showRef=v.src!==v.dataset.a;v.src=showRef?v.dataset.a:v.dataset.b;
 box.querySelector('.viewer span').textContent=showRef?'original':box.querySelector('img.sel').alt;}
window.addEventListener('load',()=>{const imgs=[...document.images];
 document.body.dataset.loaded=imgs.filter(i=>i.complete&&i.naturalWidth>0).length+'/'+imgs.length;});
"""


def write_html(outdir: Path, rows: list[dict[str, Any]], agg_md: str, plot_paths: list[Path],
               meta: dict[str, Any], images: list[str], crop_refs: dict[str, Path]) -> Path:  # fmt: skip
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>sdcodec bench</title><style>{_CSS}</style>"
             f"<script>{_JS}</script></head><body>",
             "<h1>sdcodec benchmark</h1>",
             f"<p class='note'>{html.escape(AVERAGING)}</p>"]  # fmt: skip
    parts.append("<h2>Versions and metrics</h2><table><tr><th>what</th><th>value</th></tr>")
    for k, v in meta["versions"].items():
        parts.append(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>")
    for k, v in meta["metrics"].items():
        parts.append(
            f"<tr><td>metric {html.escape(k)}</td><td>{'available' if v is None else 'unavailable: ' + html.escape(v)}</td></tr>"
        )
    parts.append("</table><h2>Rate–quality</h2>")
    for p in plot_paths:
        parts.append(
            f"<img alt='{p.stem}' src='{_data_uri(p, 'image/png')}' style='max-width:48%'>"
        )
    parts.append("<h2>Tables</h2>")
    parts.append(_markdown_tables_to_html(agg_md))
    parts.append("<h2>Pictures</h2><p class='note'>Crops of the most detailed region. Click a crop to put it in "
                 "the viewer; <b>flip</b> toggles it with the original; zoom enlarges every crop.</p>"
                 "<p>Zoom: <button onclick='setZoom(1)'>1×</button><button onclick='setZoom(2)'>2×</button>"
                 "<button onclick='setZoom(3)'>3×</button></p>")  # fmt: skip
    for image in images:
        stem = Path(image).stem
        ref_uri = _data_uri(crop_refs[stem], "image/webp")
        parts.append(f"<section data-ref='{ref_uri}'><h3>{html.escape(Path(image).name)}</h3>")
        parts.append("<div class='viewer'><button onclick='flip(this)'>flip</button> <span>original</span><br>"
                     f"<img alt='viewer' src='{ref_uri}'></div>")  # fmt: skip
        mine = sorted(
            (r for r in rows if r["image"] == Path(image).name),
            key=lambda r: (r["target_bpp"], r["codec"]),
        )
        for target in sorted({r["target_bpp"] for r in mine if r["protocol"] == "matched"}):
            parts.append(f"<h4>≈{target:g} bpp</h4><div class='grid'>")
            parts.append(
                f"<div class='cell'><img alt='original' src='{ref_uri}' onclick='pick(this)'>original</div>"
            )
            for r in mine:
                if r["protocol"] != "matched" or r["target_bpp"] != target:
                    continue
                label = f"{r['codec']} {r['bpp']:.3f} bpp, {r['psnr']:.1f} dB ({r['flag']})"
                uri = _data_uri(outdir / r["crop"], "image/webp")
                parts.append(f"<div class='cell'><img alt='{html.escape(label)}' src='{uri}' onclick='pick(this)'>"
                             f"{html.escape(label)}</div>")  # fmt: skip
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = outdir / "report.html"
    path.write_text("\n".join(parts))
    return path


def _markdown_tables_to_html(md: str) -> str:
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append(
                "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"
            )
        else:
            if in_table:
                out.append("</table>")
                in_table = False
            if line.startswith("### "):
                out.append(f"<h3>{html.escape(line[4:])}</h3>")
            elif line.strip():
                out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)
