"""The chapters' text against Linux 6.1: listings labelled 6.1 show 6.1's own statements, and the statements a
kernel reviewer found false (issue 20, item 6) stay out of the chapters and the checkers' messages.

A C listing in a chapter starts with a comment naming its source: ``/* Linux 6.1 ... */`` or ``/* the talk
... */``.  Each statement of a 6.1 listing (whitespace, comments and ``...`` elisions left out; split at ``;``,
braces and top-level commas) must be a statement of 6.1's mvneta.c.  The repository does not carry the kernel's
text: ``tests/data/mvneta_6_1_statements.txt`` holds a hash of each statement of the 6.1 functions the chapters
quote.  To extend it, run ``python tests/test_course_text.py mvneta.c`` on a v6.1 mvneta.c (or on the quoted
functions) and add the lines it prints.
"""
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "course").glob("0*.ipynb"))
HASHES = ROOT / "tests" / "data" / "mvneta_6_1_statements.txt"


def markdown(nb_path):
    nb = json.loads(nb_path.read_text())
    return [(c.get("id"), "".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown"]


def c_listings():
    """(chapter, cell id, listing text) for every ```c block of every chapter."""
    out = []
    for nb in CHAPTERS:
        for cid, text in markdown(nb):
            for m in re.finditer(r"```c\n(.*?)```", text, re.S):
                out.append((nb.name, cid, m.group(1)))
    return out


def statements(code):
    """The statements of C text, normalised: no comments, no whitespace, no `...`; split at ; { } and at
    commas outside parentheses and brackets."""
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r"//[^\n]*", " ", code)
    code = code.replace("...", " ; ")
    out, cur, depth = [], [], 0
    for ch in code:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch in ";{}" or (ch == "," and depth == 0):
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [re.sub(r"\s+", "", s) for s in out if s.strip()]


def digest(stmt):
    return hashlib.sha256(stmt.encode()).hexdigest()[:20]


def known_statements():
    return {ln.split()[0] for ln in HASHES.read_text().splitlines() if ln and not ln.startswith("#")}


def test_every_c_listing_names_its_source():
    listings = c_listings()
    assert len(listings) >= 8
    for nb, cid, code in listings:
        first = code.lstrip().split("\n")[0]
        assert first.startswith("/*") and ("Linux 6.1" in first or "the talk" in first), \
            f"{nb} cell {cid}: a C listing starts with /* Linux 6.1 ... */ or /* the talk ... */, got {first!r}"


def test_listings_labelled_6_1_show_6_1_statements():
    known = known_statements()
    six_one = [(nb, cid, code) for nb, cid, code in c_listings() if "Linux 6.1" in code.lstrip().split("\n")[0]]
    assert len(six_one) >= 6
    for nb, cid, code in six_one:
        st = statements(code)
        assert st, (nb, cid)
        bad = [s for s in st if digest(s) not in known]
        assert not bad, f"{nb} cell {cid}: not a statement of Linux 6.1's mvneta.c: {bad}"


def test_statement_check_rejects_what_6_1_does_not_say():
    known = known_statements()
    # the listing chapter 02 used to show: mvneta 6.1 calls xdp_do_flush_map(), not xdp_do_flush()
    assert digest(statements("if (ps.xdp_redirect)\n\txdp_do_flush();")[0]) not in known
    assert digest(statements("if (ps.xdp_redirect)\n\txdp_do_flush_map();")[0]) in known
    assert digest(statements("page_pool_put_full_page(rxq->page_pool, data, true);")[0]) not in known


# statements a kernel reviewer found false (issue 20, item 6): (where, text)
FALSE = [
    ("01-driver-memory.ipynb", "the program only *read* the frame"),                 # the sync does not depend on it
    ("01-driver-memory.ipynb", "no page fragments (`napi_alloc_skb`)"),               # split pages run XDP
    ("01-driver-memory.ipynb", "the bytes the CPU may have dirtied"),
    ("02-napi-and-verdicts.ipynb", "the names every XDP driver uses"),                # names are per driver
    ("02-napi-and-verdicts.ipynb", "The TX completion, inside the same NAPI poll"),   # TX is reaped before RX
    ("02-napi-and-verdicts.ipynb", "xdp_do_flush();   /* was xdp_do_flush_map */"),   # 6.1 calls the alias
    ("02-napi-and-verdicts.ipynb", "furthest byte the CPU may have dirtied"),
    ("02-napi-and-verdicts.ipynb", "to sync only what the CPU touched"),
]


@pytest.mark.parametrize("chapter,text", FALSE)
def test_false_statement_is_gone(chapter, text):
    body = "\n".join(t for _, t in markdown(ROOT / "course" / chapter))
    assert text not in body


def test_checker_messages_do_not_tie_the_sync_to_writes():
    src = (ROOT / "xdplab" / "course" / "checks.py").read_text()
    assert "the furthest byte the CPU may have" not in src
    assert "one 4 KiB page per frame" not in src


@pytest.mark.parametrize("chapter,needles", [
    ("01-driver-memory.ipynb", ["MEM_TYPE_PAGE_SHARED", "PP_FLAG_PAGE_FRAG",
                                "does not depend on what the program did"]),
    ("02-napi-and-verdicts.ipynb", ["mvneta's own", "a later poll", "xdp_do_flush_map()` (an alias",
                                    "whether the program wrote the frame or only\nread it"]),
])
def test_the_true_statements_are_there(chapter, needles):
    body = "\n".join(t for _, t in markdown(ROOT / "course" / chapter))
    for n in needles:
        assert n in body, n


if __name__ == "__main__":           # print the hash lines of a C file's statements
    for s in sorted(set(statements(Path(sys.argv[1]).read_text()))):
        print(digest(s), s[:60])
