"""Paired comparison of two codecs' bench results: the means of bpp / PSNR / SSIMULACRA2 /
JOD over the images both coded within the bench's tolerance of a rate (as the bench's own
paired table, sdcodec.bench.report.paired, but across runs), on how many images
the first is ahead, and the images where it loses most.

    python benchmarks/paired.py bench-out/kodak-s15-r24/results.csv:sdc-r24s15 \\
        bench-out/kodak-s13-r24/results.csv:sdc-refine24 --rate 0.25

A side is ``results.csv:codec`` (the bench's results.csv and a codec or --sdc-config name);
more than one second side compares the first against each. ``codec*`` takes, for each
image, the codec or its downscaled runs (``codec÷2``, ``codec÷4``: the bench runs those
only where the codec itself cannot go as low), whichever reached the rate.
"""

from __future__ import annotations

import argparse
import csv
import sys

METRICS = ("bpp", "psnr", "ssimulacra2", "jod")
FORMATS = (".3f", ".2f", ".1f", ".2f")


def rows(side: str, rate: float) -> dict[str, dict[str, float]]:
    path, sep, codec = side.rpartition(":")
    if not sep or not path:
        raise SystemExit(f"paired.py: {side!r}: expected results.csv:codec")
    try:
        with open(path, newline="") as f:
            found = [r for r in csv.DictReader(f) if _named(r["codec"], codec)]
    except (OSError, KeyError) as exc:
        raise SystemExit(f"paired.py: {path}: {exc}") from None
    return {
        r["image"]: {m: float(r[m]) for m in METRICS}
        for r in found
        if r["protocol"] == "matched" and r["flag"] == "ok" and abs(float(r["target_bpp"]) - rate) < 1e-9
    }


def _named(name: str, wanted: str) -> bool:
    if wanted.endswith("*"):
        return name.partition("÷")[0] == wanted[:-1]
    return name == wanted


def compare(a: dict, b: dict, worst: int) -> list[str]:
    common = sorted(set(a) & set(b))
    if not common:
        return ["no image in common"]

    def means(d):
        return " / ".join(f"{sum(d[k][m] for k in common) / len(common):{f}}" for m, f in zip(METRICS, FORMATS, strict=True))

    ahead = {m: sum(a[k][m] > b[k][m] for k in common) for m in METRICS[1:]}
    out = [f"({len(common)} images) {means(a)} vs {means(b)}",
           "  ahead on " + ", ".join(f"{m} {n}" for m, n in ahead.items())]  # fmt: skip
    losers = sorted(common, key=lambda k: a[k]["jod"] - b[k]["jod"])[:worst]
    out += [f"  {k}: JOD {a[k]['jod']:.2f} vs {b[k]['jod']:.2f}, bpp {a[k]['bpp']:.3f} vs {b[k]['bpp']:.3f}"
            for k in losers]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first")
    p.add_argument("others", nargs="+")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--worst", type=int, default=3, help="images to list where the first loses most JOD")
    a = p.parse_args(argv)
    first = rows(a.first, a.rate)
    print(f"{a.first} at {a.rate} bpp ({len(first)} images); bpp / PSNR / SSIMULACRA2 / JOD")
    for side in a.others:
        print(f"vs {side}: " + "\n".join(compare(first, rows(side, a.rate), a.worst)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
