"""pytest set-up for the attack suite: the same hub harness and fixtures as
the Python integration suite (tests/integ/python/conftest.py, loaded here
under another name), so this directory adds tests, not a second harness."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.join(os.path.dirname(HERE), "python")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "support"))
sys.path.insert(0, PY)
sys.path.insert(0, HERE)

_spec = importlib.util.spec_from_file_location("integ_python_conftest", os.path.join(PY, "conftest.py"))
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)

pytest_configure = _base.pytest_configure
pytest_runtest_makereport = _base.pytest_runtest_makereport
hubs = _base.hubs
hub = _base.hub
