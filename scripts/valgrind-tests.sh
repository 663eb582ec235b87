#!/usr/bin/env bash
# Runs each unit test binary of BUILD_DIR under valgrind memcheck; any error or
# definite/indirect leak fails. (The sanitizer pass covers the integration
# suites; valgrind adds checks of uninitialised reads that ASan lacks.)
set -euo pipefail
build=${1:-build}
status=0
for t in "$build"/test_*; do
  [ -x "$t" ] || continue
  if WSH_SLOW_TOOL=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect "$t" >/tmp/vg.$$.log 2>&1; then
    echo "valgrind ok: $(basename "$t")"
  else
    echo "valgrind FAILED: $(basename "$t")"; tail -40 /tmp/vg.$$.log; status=1
  fi
done
rm -f /tmp/vg.$$.log
exit $status
