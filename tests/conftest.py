"""Session-wide setup for every test folder."""

import os

# One BLAS thread, as the kernel service has (init/services.py): the sentence encoder's small products
# are several times slower with OpenBLAS's threads on shared cores. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# hypothesis's pytest plugin imports hypothesis lazily in its terminal summary, after the VM tests;
# pytest's assertion rewriter then crashed (SIGSEGV) there once. Importing it at start-up avoids that
# late import, and the property tests need it anyway.
import hypothesis  # noqa: F401
