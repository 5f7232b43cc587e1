#!/usr/bin/python3
"""tools/cost_model.py: its factor rule and factor bytes against hand-computed
values (the same limits test_node_sum checks for factors_are_smaller in C++),
then the whole tool over the committed docs/scaling/ inputs.
    /usr/bin/python3 tests/report/test_cost_model.py SOURCE_DIR"""
import os
import subprocess
import sys
import tempfile

source = sys.argv[1]
sys.path.insert(0, os.path.join(source, "tools"))
import cost_model  # noqa: E402

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


# auto's rule, seed model: 18 x 32 x 128 + 2 x 32 x 784 x 0.5 = 98816 < 100352;
# 19 ranks give 102912.
check(cost_model.uses_factors(18, [128]), "seed model: factors at 18 ranks per node")
check(not cost_model.uses_factors(19, [128]), "seed model: whole gradients at 19")
# The node sum's n' at 2 ranks, density 0.2: factor reads 4 (4096 + 5017.6) =
# 36454.4 bytes, the rest of the gradient 0.5 (407084 - 401408) = 2838, the
# weights 0.5 x 407084 = 203542; n' = their sum x 2 / 2 = 242834.4.
n2 = cost_model.shm_message(2, [128], 407084, 0.2)
check(abs(n2 - 242834.4) < 1e-6, f"n' at 2 ranks: {n2}, expected 242834.4")
check(cost_model.shm_message(32, [128], 407084, 0.2) == 407084, "whole gradients at 32 ranks")
check(cost_model.shm_message(2, [128], 407084, None) == 407084, "no density: whole gradients")

docs = os.path.join(source, "docs", "scaling")
with tempfile.TemporaryDirectory() as work:
    md = os.path.join(work, "cm.md")
    run = subprocess.run(
        [sys.executable, os.path.join(source, "tools", "cost_model.py"),
         "--allreduce", os.path.join(docs, "allreduce_np2.csv"),
         "--shm-allreduce", os.path.join(docs, "shm_sum_np2.csv"),
         "--sgemm", os.path.join(docs, "sgemm.csv"),
         "--first-layer", os.path.join(docs, "first_layer.csv"),
         "--scaling", os.path.join(docs, "scaling_results.csv"), "--md", md],
        capture_output=True, text=True)
    check(run.returncode == 0, f"cost_model.py exited {run.returncode}: {run.stderr[-500:]}")
    text = open(md).read() if os.path.exists(md) else ""
    check("as factors at 16 ranks per node and fewer" in text, "the shm note in cost_model.md")

for f in failures:
    print("FAIL:", f)
print("cost model checks:", "FAILED" if failures else "passed")
sys.exit(1 if failures else 0)
