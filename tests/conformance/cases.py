"""The case registry shared by the test_<group>_*.py modules: each conformance
case carries its Autobahn|Testsuite id, what it sends, what it expects and the
RFC 6455 rule it checks, so the test ids and docs/conformance.md come from one
place. Not a test runner: pytest parametrizes over these lists.
"""
import os

from hubproc import timeout_scale

# Deadline for a reply the server owes us at once (a close, a pong, an echo,
# the TCP close after a close frame). Scaled under sanitizers.
T = 5.0
# Deadline for a close the server owes at once in the many fail-fast variants
# of group 6 (kept short so a server that is not fail-fast fails in minutes).
T_FAST = 2.0
# Autobahn's "wait and see nothing" windows (6.4.x only). Short on purpose:
# the assertion that matters there is the close arriving before the rest.
QUIET = 0.2


def scale():
    return timeout_scale()


class Case:
    def __init__(self, cid, sends, expects, rfc, fn, path="/echo", note=""):
        self.cid = cid
        self.sends = sends
        self.expects = expects
        self.rfc = rfc
        self.fn = fn
        self.path = path
        self.note = note

    def __repr__(self):
        return self.cid


class CaseList(list):
    """A list of Case with a decorator that registers a function as a case."""

    def case(self, cid, sends, expects, rfc, path="/echo", note=""):
        def deco(fn):
            self.add(cid, sends, expects, rfc, fn, path=path, note=note)
            return fn
        return deco

    def add(self, cid, sends, expects, rfc, fn, path="/echo", note=""):
        assert all(c.cid != cid for c in self), "duplicate case id " + cid
        self.append(Case(cid, sends, expects, rfc, fn, path=path, note=note))


def case_key(cid):
    """Sort key: 6.10.2 after 6.9.1, variants right after their base case."""
    base, _, variant = cid.partition("-")
    return tuple(int(x) for x in base.split(".")), variant


def docs_path():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(here)), "docs", "conformance.md")
