"""The course's exercises: the learner's driver kit, the checkers, and where the reference solutions live.

``from xdplab.course import kit`` gives a notebook every name an exercise needs
(kernel functions, column and register constants, the lab's few helpers).
``xdplab.course.checks`` holds one checker per exercise: it plugs the learner's
function into a python-mode ``Board`` with ``overrides=``, runs traffic against
the same board running the 6.1 driver, and explains any difference in the
kernel's terms.  Reference solutions are kept outside the notebooks, in
``course/solutions/`` at the root of the repository.
"""

from .checks import EXERCISES, CheckResult, check, run_check, show_solution, solution
from . import checks_04  # noqa: F401,E402  (chapter 04's checkers: registers cpu_ex1, cpu_ex2)
from . import checks_05  # noqa: F401,E402  (chapter 05's checkers: registers mbuf_ex1..3 in EXERCISES)

__all__ = ["EXERCISES", "CheckResult", "check", "run_check", "show_solution", "solution"]
