"""Similarity of the students' code, exercise by exercise (``python -m cmlesson grade ... --similarity FILE``).

For each exercise, each submission's code for it is taken from its notebook: the top-level statements that define
the exercise's names (the last definition of each, the one graded) and the helper functions and classes of the
notebook they use. That code is normalised on its syntax tree (:func:`fingerprints`): comments, docstrings and
formatting are gone, every name the code binds itself (arguments, variables, its own functions) becomes one
placeholder, string literals another; the names it takes from elsewhere (``torch``, ``ot``, ``samplers``), attributes
and keywords stay, as do numbers. Every statement and expression of at least :data:`MIN_NODES` nodes is then one
fingerprint, a hash of its normalised subtree: so the set of fingerprints does not change when independent lines
are reordered, variables renamed or comments added, and a copy keeps most of the fingerprints of its original.

Two submissions (or a submission and a reference: the package's own answer to the exercise, and the course's
solution notebook where there is one) are compared by the multisets of their fingerprints, after the ones that say
nothing about copying are set aside: those of the student notebook's stub, and, between students, those of the
reference answers (writing the right answer is not evidence of copying it from a classmate) and those that more
than half of a class of at least :data:`MIN_CLASS` submissions share (lines the exercise dictates, such as the draws
in the order its docstring asks for). Between students the share is the Dice coefficient ``2 m / (|A| + |B|)`` of
the ``m`` fingerprints both hold; against a reference it is the share of the student's fingerprints found there
(the package's answer may hold several functions, of which a student copies one). A pair is listed when its share
is at least the threshold and ``m`` at least :data:`MIN_MATCHED` (:data:`MIN_MATCHED_REFERENCE` against a
reference): code too short to tell a copy from the same formula is never listed, so a copy of an answer of a few
lines (the coefficients, the curriculum) cannot be told from the right answer.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import inspect
import io
import json
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import exercises

MIN_NODES = 4  # smallest subtree that is a fingerprint (a bare name or a constant says nothing)
MIN_MATCHED = 12  # fewer shared fingerprints than this is too little code to call a copy
MIN_MATCHED_REFERENCE = 20  # against a reference: its answers of a few lines (the curriculum's formula, the MeanFlow
#                             target's JVP, the training step's six calls) are what every right answer writes
MIN_CLASS = 4  # below this many submissions of an exercise, no fingerprint is set aside as common
COMMON_SHARE = 0.5  # a fingerprint in more than this share of a class's submissions is set aside
THRESHOLD = 0.7  # the default share from which a pair is listed
HELPER_DEPTH = 3  # helpers of helpers of helpers: included; deeper: not
VAR, FUNC, TEXT = "_v", "_f", "_s"  # the placeholders

PACKAGE_REFERENCE = "(package)"  # the reference names in the pairs: cmlesson's own answer
SOLUTION_REFERENCE = "(solution notebook)"  # the course's solution notebook


@dataclass(frozen=True)
class Pair:
    """Two codes of one exercise whose fingerprints match: ``share`` (Dice), each side's share, the matches."""

    exercise: str
    a: str
    b: str
    share: float
    share_a: float
    share_b: float
    matched: int

    @property
    def reference(self) -> bool:
        return self.b in (PACKAGE_REFERENCE, SOLUTION_REFERENCE)


# --- the code of an exercise in a notebook ----------------------------------------------------------------------

MAGIC = re.compile(r"^\s*[%!?]")


def _statements(nb) -> list[ast.stmt]:
    """Every top-level statement of the notebook's code cells that parse (IPython magics and shell lines dropped)."""
    found = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        source = "\n".join("" if MAGIC.match(line) else line for line in source.splitlines())
        try:
            found += ast.parse(source).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return found


def _defines(stmt: ast.stmt) -> set[str]:
    """The top-level names a statement binds (def, class, assignment, import)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def exercise_code(nb, ex_id: str) -> list[ast.stmt]:
    """The statements of ``nb`` that define ``ex_id``'s names (the last of each), then the notebook's functions and
    classes they use (not another exercise's names), to :data:`HELPER_DEPTH` levels."""
    statements = _statements(nb)
    last: dict[str, ast.stmt] = {}
    for stmt in statements:
        for name in _defines(stmt):
            last[name] = stmt
    others = {n for e, ex in exercises.EXERCISES.items() if e != ex_id for n in ex.names}
    chosen: list[ast.stmt] = []
    wanted = [n for n in exercises.EXERCISES[ex_id].names if n in last]
    for _ in range(HELPER_DEPTH + 1):
        new = [last[n] for n in wanted if not any(last[n] is s for s in chosen)]
        new = [s for i, s in enumerate(new) if not any(s is t for t in new[:i])]
        if not new:
            break
        chosen += new
        used = {n.id for s in new for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        wanted = [n for n in sorted(used) if n in last and n not in others
                  and isinstance(last[n], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return chosen


def package_code(ex_id: str) -> list[list[ast.stmt]]:
    """The package's own answer to ``ex_id``: the source of each function its ``answers`` name (one list each)."""
    found = []
    for label in exercises.EXERCISES[ex_id].answers:
        try:
            found.append(ast.parse(textwrap.dedent(inspect.getsource(exercises.answer_function(label)))).body)
        except (OSError, TypeError, ValueError, SyntaxError):
            continue
    return found


def package_prints(ex_id: str) -> Counter:
    """The fingerprints of the package's answer, each function on its own (as a student would copy one)."""
    return sum((fingerprints(code) for code in package_code(ex_id)), Counter())


# --- normalising and fingerprinting -----------------------------------------------------------------------------


def _bound(statements: list[ast.stmt]) -> set[str]:
    """Every name the code binds itself: its functions and classes, their arguments, its variables and aliases."""
    names = set()
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
    return names


class _Normalise(ast.NodeTransformer):
    """Names the code binds become one placeholder, strings another; docstrings, annotations and type comments go."""

    def __init__(self, bound: set[str]):
        self.bound = bound

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                        and isinstance(s.value.value, str))]
        return kept or [ast.Pass()]

    def visit_FunctionDef(self, node):
        node.body = self._body(node.body)
        node.name, node.returns, node.type_comment = FUNC, None, None
        return self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node):
        return self.visit_FunctionDef(node)

    def visit_ClassDef(self, node):
        node.body = self._body(node.body)
        node.name = FUNC
        return self.generic_visit(node)

    def visit_arg(self, node):
        node.arg, node.annotation, node.type_comment = VAR, None, None
        return node

    def visit_Name(self, node):
        if node.id in self.bound:
            node.id = VAR
        return node

    def visit_alias(self, node):
        if node.asname:
            node.asname = VAR
        return node

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        return self.visit(ast.copy_location(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno), node))

    def visit_Constant(self, node):
        if isinstance(node.value, (str, bytes)):
            node.value = TEXT
        return node

    def visit_ExceptHandler(self, node):
        if node.name:
            node.name = VAR
        return self.generic_visit(node)


def fingerprints(statements: list[ast.stmt]) -> Counter:
    """The multiset of hashes of the normalised code's statements and expressions of at least MIN_NODES nodes
    (whole function and class definitions excluded: their hash would depend on the order of their lines)."""
    statements = [s for s in statements if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    tree = _Normalise(_bound(statements)).visit(ast.Module(body=[_copy(s) for s in statements], type_ignores=[]))
    found: Counter = Counter()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.stmt, ast.expr)) or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                           ast.ClassDef)):
            continue
        if sum(1 for _ in ast.walk(node)) < MIN_NODES:
            continue
        dump = ast.dump(node, annotate_fields=False, include_attributes=False)
        found[hashlib.blake2b(dump.encode(), digest_size=8).hexdigest()] += 1
    return found


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node)).body[0] if isinstance(node, ast.stmt) else node


# --- comparing ---------------------------------------------------------------------------------------------------


def _share(a: Counter, b: Counter) -> tuple[float, float, float, int]:
    matched = sum((a & b).values())
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return 0.0, 0.0, 0.0, 0
    return 2 * matched / (na + nb), matched / na, matched / nb, matched


def stub_code(ex_id: str, folder: Path | None) -> list[ast.stmt]:
    """The stub of ``ex_id`` in the course's student notebooks (what every submission starts from), if there."""
    if folder is None or not folder.is_dir():
        return []
    notebook = exercises.EXERCISES[ex_id].notebook
    for path in sorted(folder.glob(f"{notebook}_*.ipynb")):
        try:  # plain JSON: the cells' sources are all this needs
            return exercise_code(json.loads(path.read_text(encoding="utf-8")), ex_id)
        except (OSError, ValueError, AttributeError, TypeError):  # an unreadable course notebook: no stub to set aside
            return []
    return []


def compare(notebooks: dict[str, object], threshold: float = THRESHOLD, solutions: Path | None = None,
            stubs: Path | None = None) -> list[Pair]:
    """Every pair of submissions (``{file name: notebook}``), and every submission against the references, whose
    code for an exercise shares at least ``threshold`` of its fingerprints; sorted by exercise, then share."""
    pairs = []
    for ex_id in exercises.EXERCISES:
        prints = {name: fingerprints(exercise_code(nb, ex_id)) for name, nb in notebooks.items()}
        prints = {name: p for name, p in prints.items() if p}
        if not prints:
            continue
        stub = fingerprints(stub_code(ex_id, stubs))
        references = {PACKAGE_REFERENCE: package_prints(ex_id)}
        if solutions is not None:
            references[SOLUTION_REFERENCE] = fingerprints(stub_code(ex_id, solutions))
        common = Counter()
        if len(prints) >= MIN_CLASS:
            seen = Counter(h for p in prints.values() for h in p)
            common = Counter({h: 10**9 for h, n in seen.items() if n > COMMON_SHARE * len(prints)})
        set_aside = Counter({h: 10**9 for h in stub}) | common
        answer = Counter({h: 10**9 for r in references.values() for h in r})
        names = sorted(prints)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                pa, pb = prints[a] - set_aside - answer, prints[b] - set_aside - answer
                pairs.append(Pair(ex_id, a, b, *_share(pa, pb)))
            for ref, rp in references.items():
                _, mine, theirs, matched = _share(prints[a] - set_aside, rp - set_aside)
                pairs.append(Pair(ex_id, a, ref, mine, mine, theirs, matched))  # how much of the student's code it holds
    listed = [p for p in pairs if p.share >= threshold
              and p.matched >= (MIN_MATCHED_REFERENCE if p.reference else MIN_MATCHED)]
    order = list(exercises.EXERCISES)
    return sorted(listed, key=lambda p: (order.index(p.exercise), -p.share, p.a, p.b))


def load_notebooks(files: list[Path]) -> dict[str, object]:
    """{file name: notebook} for the files that are readable notebooks (what the grader reads: regular files only)."""
    from .grade import load_submission  # the one reader of SUBMISSIONS (links and the like are refused there)

    found = {}
    for path in files:
        sub = load_submission(path)
        if sub.nb is not None:
            found[path.name] = sub.nb
    return found


COLUMNS = ["exercise", "a", "b", "share", "share_a", "share_b", "matched"]


def csv_text(pairs: list[Pair]) -> str:
    """The pairs as CSV: exercise, the two files (or a reference), the share, each side's share, the matches."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in pairs:
        writer.writerow([p.exercise, p.a, p.b, f"{p.share:.3f}", f"{p.share_a:.3f}", f"{p.share_b:.3f}", p.matched])
    return buf.getvalue()


def summary(pairs: list[Pair], threshold: float) -> str:
    """One line per pair, for the terminal."""
    if not pairs:
        return f"similarity: no pair shares {threshold:.0%} or more of an exercise's code"
    lines = [f"similarity: {len(pairs)} pairs share {threshold:.0%} or more of an exercise's code"]
    lines += [f"  {p.exercise:<20} {p.a} ~ {p.b}: {p.share:.0%} ({p.matched} fingerprints)" for p in pairs]
    return "\n".join(lines)
