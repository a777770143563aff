"""The nodes layer needs Ray (the ``ray`` extra): without it these tests are not collected."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("ray") is not None else ["test_*.py"]
