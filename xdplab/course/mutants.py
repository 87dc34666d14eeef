"""Mutation testing of the course's checkers: does each checker reject every small change to its solution?

A checker that accepts a driver function which leaks a page or miscounts a
verdict teaches the leak.  ``mutants(exercise)`` takes the reference solution
(``course/solutions/``), and yields every single-statement change of it:

* each statement deleted (``pass`` where a block would be left empty);
* each ``True``/``False`` flipped (every boolean argument included);
* each comparison operator swapped (``==``/``!=``, ``<``/``>=``, ``>``/``<=``, ``is``/``is not``);
* each ``and``/``or`` swapped, each ``not`` dropped, each ``if`` test negated;
* each integer constant changed by +1 and -1 (a constant 0 or 1 also to its other);
* each ``+``/``-`` (and ``+=``/``-=``) swapped, each ``|`` made ``^`` and ``&`` made ``|``;
* each ``max``/``min`` swapped.

``survivors(exercise)`` runs the checker on each mutant and returns the ones it
accepted.  A surviving mutant is either a hole in the checker, or an
*equivalent* mutant (a change that cannot alter what the driver does, such as
``if rx_done:`` → ``if not rx_done:`` around a call that does nothing for 0);
``tests/test_mutations.py`` lists those, each with the reason it is harmless.

    python -m xdplab.course.mutants napi_ex2      # every mutant of one exercise, and the survivors
"""

from __future__ import annotations

import ast
import copy
import signal
import sys
import types
from dataclasses import dataclass

from .checks import EXERCISES, SOLUTIONS_DIR, run_check

__all__ = ["Mutant", "mutants", "survivors", "MUTANT_TIMEOUT_S"]

MUTANT_TIMEOUT_S = 20        # CPU seconds: a mutant that loops forever counts as rejected (a check takes 1-3 s)

_CMP_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
             ast.LtE: ast.Gt, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.BitOr: ast.BitXor, ast.BitAnd: ast.BitOr}


@dataclass
class Mutant:
    exercise: str
    key: str            # "what: before -> after", stable while the solution's text does not change
    line: int           # line in the solution file
    source: str         # the whole mutated function

    def function(self):
        """The mutated function, defined in a fresh copy of the solution module's namespace."""
        ex = EXERCISES[self.exercise]
        g = {"__name__": f"_xdplab_mutant_{self.exercise}", "__file__": str(SOLUTIONS_DIR / ex.solution_file)}
        exec("from xdplab.course.kit import *\n", g)  # noqa: S102  (the solution's own import)
        code = compile(self.source, f"<mutant {self.exercise}: {self.key}>", "exec")
        exec(code, g)  # noqa: S102
        return g[ex.function]


def _function_node(exercise):
    ex = EXERCISES[exercise]
    path = SOLUTIONS_DIR / ex.solution_file
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == ex.function:
            return node
    raise LookupError(f"{ex.function} not found in {path}")


def _short(node):
    s = ast.unparse(node).split("\n")[0]
    return s if len(s) <= 90 else s[:87] + "..."


class _Sites(ast.NodeVisitor):
    """Every mutation site of a function: (path of field names/indices to the node, kind)."""

    def __init__(self):
        self.sites = []
        self.path = []
        self.stmt = []          # path of the innermost statement around the node being visited

    def generic_visit(self, node):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        self.path.append((name, i))
                        self._enter(item)
                        self.path.pop()
            elif isinstance(value, ast.AST):
                self.path.append((name, None))
                self._enter(value)
                self.path.pop()

    def _enter(self, node):
        is_stmt = isinstance(node, ast.stmt)
        if is_stmt:
            self.stmt.append(list(self.path))
        self._site(node)
        self.visit(node)
        if is_stmt:
            self.stmt.pop()

    def _add(self, p, kind):
        self.sites.append((p, kind, self.stmt[-1]))

    def _site(self, node):
        p = list(self.path)
        if isinstance(node, ast.stmt) and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                                               and isinstance(node.value.value, str)):
            self._add(p, "delete")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                self._add(p, "flip")
            elif isinstance(node.value, int):
                self._add(p, "int+1")
                self._add(p, "int-1")
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP_SWAP:
                    self._add(p, f"cmp{i}")
        if isinstance(node, ast.BoolOp):
            self._add(p, "boolop")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._add(p, "dropnot")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            self._add(p, "dropinvert")
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BIN_SWAP:
            self._add(p, "binop")
        if isinstance(node, ast.If):
            self._add(p, "negate-if")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("max", "min"):
            self._add(p, "maxmin")


def _get(root, path):
    node = root
    for name, i in path:
        node = getattr(node, name) if i is None else getattr(node, name)[i]
    return node


def _head(node):
    """The first line of a statement (the header of a compound one)."""
    return _short(node)


def _apply(fn_node, path, kind, stmt_path):
    """A copy of fn_node with one mutation; (new function node, description) or None when not applicable."""
    root = copy.deepcopy(fn_node)
    node = _get(root, path)
    before = _short(node)
    stmt_before = _head(_get(root, stmt_path))
    parent = _get(root, path[:-1])
    name, idx = path[-1]
    if kind == "delete":
        body = getattr(parent, name)
        del body[idx]
        if not body:
            body.append(ast.Pass())
        return root, f"delete `{before}`"
    if kind == "flip":
        node.value = not node.value
    elif kind == "int+1":
        node.value = node.value + 1
    elif kind == "int-1":
        if node.value in (0, 1):
            node.value = 1 - node.value
            kind = "int0/1"
        else:
            node.value = node.value - 1
    elif kind.startswith("cmp"):
        i = int(kind[3:])
        node.ops[i] = _CMP_SWAP[type(node.ops[i])]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind in ("dropnot", "dropinvert"):
        new = node.operand
        if idx is None:
            setattr(parent, name, new)
        else:
            getattr(parent, name)[idx] = new
        node = new
    elif kind == "binop":
        node.op = _BIN_SWAP[type(node.op)]()
    elif kind == "negate-if":
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif kind == "maxmin":
        node.func.id = "min" if node.func.id == "max" else "max"
    ast.fix_missing_locations(root)
    stmt_after = _head(_get(root, stmt_path))
    if stmt_after == stmt_before:
        return None
    return root, f"`{stmt_before}` -> `{stmt_after}`"


def mutants(exercise: str):
    """Every single-statement mutant of the exercise's reference solution (a list of Mutant).  A program
    exercise (C, ``Exercise.program``) has none here: tests/test_mutations.py compiles its C mutants."""
    if EXERCISES[exercise].program:
        return []
    fn_node = _function_node(exercise)
    v = _Sites()
    # the function's own statements and below; the docstring and the signature stay
    for i, stmt in enumerate(fn_node.body):
        v.path = [("body", i)]
        v._enter(stmt)
    out, seen, sources = [], {}, {ast.unparse(fn_node)}
    for path, kind, stmt_path in v.sites:
        res = _apply(fn_node, path, kind, stmt_path)
        if res is None:
            continue
        new, what = res
        src = ast.unparse(new)
        if src in sources:          # the same function as the solution or as an earlier mutant
            continue
        sources.add(src)
        line = getattr(_get(fn_node, path), "lineno", fn_node.lineno)
        n = seen.get(what, 0)
        seen[what] = n + 1
        key = what if n == 0 else f"{what} (#{n + 1})"
        out.append(Mutant(exercise, key, line, src))
    return out


class _Timeout(BaseException):      # not Exception: the checkers report every Exception as a mistake
    """A mutant that runs longer than MUTANT_TIMEOUT_S (a loop that never ends)."""


def _alarm(signum, frame):
    raise _Timeout(f"still running after {MUTANT_TIMEOUT_S} s of CPU time")


def run_mutant(m: Mutant):
    """(accepted, text): did the checker accept the mutant?  A mutant that hangs is rejected."""
    fn = m.function()
    # CPU time, not wall time: a loaded machine does not turn a slow check into a "hang"
    old = signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, MUTANT_TIMEOUT_S)
    try:
        r = run_check(m.exercise, fn)
        return r.ok, str(r)
    except _Timeout as e:
        return False, f"hangs: {e}"
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def survivors(exercise: str, report=None):
    """The mutants the checker accepted: [(Mutant, checker text)]."""
    out = []
    for m in mutants(exercise):
        ok, text = run_mutant(m)
        if report:
            report(m, ok, text)
        if ok:
            out.append((m, text))
    return out


def _main(argv):
    exs = argv or sorted(EXERCISES)
    for ex in exs:
        ms = mutants(ex)
        print(f"{ex}: {len(ms)} mutants", flush=True)
        surv = survivors(ex, report=lambda m, ok, t: print(f"  {'SURVIVES' if ok else 'rejected'}  line {m.line}: "
                                                          f"{m.key}", flush=True))
        print(f"{ex}: {len(surv)} of {len(ms)} survive", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
