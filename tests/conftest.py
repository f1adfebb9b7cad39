"""Session-wide setup for every test folder."""

# hypothesis's pytest plugin imports hypothesis lazily in its terminal summary, after the VM tests;
# pytest's assertion rewriter then crashed (SIGSEGV) there once. Importing it at start-up avoids that
# late import, and the property tests need it anyway.
import hypothesis  # noqa: F401
