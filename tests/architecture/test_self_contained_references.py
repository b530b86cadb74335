"""References in code are self-contained: they cite a paper or a page of ``docs/``.

Two checks over every ``.py`` file under ``latentgraph/``, ``tests/``, ``benchmarks/`` and
``examples/`` (this file excepted, since it spells the patterns out):

1. no citation of documents outside the repository: ``spec Sec``, ``spec P<n>``, ``(spec``,
   ``specs/``, ``quirk <n>`` or ``pitfall P<n>``;
2. every ``docs/<page>.md#<anchor>`` cited in those files, in the notebooks under
   ``examples/`` and in ``README.md`` / ``BENCHMARKS.md`` names an existing page and one of its
   heading anchors (GitHub's rule: lower case, punctuation dropped, spaces to hyphens; a repeated
   heading gets ``-1``, ``-2``...).

The detectors are checked on hand-written positive and negative lines first, so a pattern that
matched nothing would fail here rather than pass silently.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("latentgraph", "tests", "benchmarks", "examples")
THIS_FILE = Path(__file__).resolve()

OUTSIDE_REFERENCE = re.compile(
    r"spec\s+Sec\b"  # "spec Sec. 2.4"
    r"|\bspec\s+P\d"  # "spec P4"
    r"|(?<![\w.])\(spec(?=[\s)§])"  # "(spec 4.1)", "(spec)"; not a call "len(spec)"
    r"|\bspecs/"  # "specs/mechanism_sparsity.md"
    r"|\bquirks?\s+#?\d"  # "quirk 7", "quirks 1, 7"
    r"|\bpitfalls?\s+P\d",  # "pitfall P8c"
    re.IGNORECASE,
)
DOCS_ANCHOR = re.compile(r"docs/([A-Za-z0-9_\-]+\.md)#([A-Za-z0-9_\-]+)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def code_files() -> list[Path]:
    files = [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in files if p.resolve() != THIS_FILE and ".venv" not in p.parts]


def citing_files() -> list[Path]:
    notebooks = sorted((ROOT / "examples").rglob("*.ipynb"))
    markdown = [ROOT / name for name in ("README.md", "BENCHMARKS.md") if (ROOT / name).exists()]
    return code_files() + notebooks + markdown


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, drop punctuation, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """All heading anchors of a markdown page, fenced code blocks skipped."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            base = slug(match.group(1))
            found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


@pytest.mark.parametrize(
    "line",
    [
        "Lagrangian (Lachapelle et al. 2024; spec Sec. 2.4): the primal",
        "the reference code ignored it, pitfall P4).",
        "per image, no affine (quirk 6)",
        "hard-codes (quirks 1, 7, 8, 18)",
        "the edge weights of (spec 5.1)",
        "Brady et al. (`specs/interaction_asymmetry.md`)",
        "alone (spec P4).",
        "the numbers (spec) of the reference",
    ],
)
def test_detector_flags_outside_references(line):
    assert OUTSIDE_REFERENCE.search(line)


@pytest.mark.parametrize(
    "line",
    [
        "Lachapelle et al. (2024, arXiv 2401.04890), Sec. 8.2",
        "``docs/context_module.md#batch-statistics-leak``",
        "from jax.scipy.special import logsumexp",
        "for key, spec in arrays.items():",
        "a spectral radius below 1",
        '"kernelspec": {',
        "if not isinstance(spec, (tuple, list)) or len(spec) != 2:",
        'expected = (tuple(spec["shape"]), np.dtype(spec["dtype"]))',
    ],
)
def test_detector_leaves_paper_and_docs_citations_alone(line):
    assert not OUTSIDE_REFERENCE.search(line)


def test_slug_follows_the_github_rule():
    assert slug("Where we differ from the original code and why") == (
        "where-we-differ-from-the-original-code-and-why"
    )
    assert slug("Slot R2") == "slot-r2"
    assert slug("J-ARI") == "j-ari"
    assert slug("Pyro and NumPyro formulation") == "pyro-and-numpyro-formulation"
    assert slug("What `quad_causal` is") == "what-quad_causal-is"


def test_no_code_file_cites_documents_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in code_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE_REFERENCE.search(line)
    ]
    assert not offenders, "cite the paper or docs/<page>.md#<anchor>:\n" + "\n".join(offenders)


def test_every_cited_docs_anchor_exists():
    known = {page.name: anchors(page) for page in sorted((ROOT / "docs").glob("*.md"))}
    assert known, "docs/ has no pages"
    missing = []
    n_cited = 0
    for path in citing_files():
        # notebooks store JSON: a backslash-escaped newline may sit right after a citation
        text = path.read_text(encoding="utf-8")
        for page, anchor in DOCS_ANCHOR.findall(text):
            n_cited += 1
            if page not in known:
                missing.append(f"{path.relative_to(ROOT)}: docs/{page} does not exist")
            elif anchor not in known[page]:
                missing.append(f"{path.relative_to(ROOT)}: docs/{page}#{anchor} is no heading")
    assert n_cited > 0, "no docs/ anchors cited at all: the pattern is broken"
    assert not missing, "\n".join(sorted(set(missing)))
