#!/usr/bin/env python3
"""The code's shape, for before/after figures of a refactor: lines per
crate (src and tests), the longest functions, and integration-test binaries.

    scripts/shape.py [--top N]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"^(\s*)(pub(\([a-z]+\))? )?(const )?(async )?(unsafe )?fn (\w+)")


def crates():
    return sorted(p.parent for p in ROOT.glob("*/Cargo.toml") if p.parent.name != "vendor")


def lines(paths):
    return sum(len(p.read_text().splitlines()) for p in paths)


def functions(path):
    text = path.read_text().splitlines()
    for i, line in enumerate(text):
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        indent = m.group(1)
        for j in range(i + 1, len(text)):
            if text[j] == indent + "}":
                yield j - i + 1, f"{path.relative_to(ROOT)}:{i + 1} {m.group(7)}"
                break


def main():
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 20
    print("| crate | src lines | test lines | test binaries |")
    print("|---|---|---|---|")
    all_fns = []
    for crate in crates():
        src = list((crate / "src").rglob("*.rs"))
        tests = list((crate / "tests").rglob("*.rs")) if (crate / "tests").exists() else []
        binaries = [t for t in (crate / "tests").glob("*.rs")] if tests else []
        binaries += list((crate / "tests").glob("*/main.rs")) if tests else []
        print(f"| {crate.name} | {lines(src)} | {lines(tests)} | {len(binaries)} |")
        for f in src:
            all_fns.extend(functions(f))
    print(f"\nLongest {top} functions (lines, src only):\n")
    for n, where in sorted(all_fns, reverse=True)[:top]:
        print(f"- {n} {where}")


main()
