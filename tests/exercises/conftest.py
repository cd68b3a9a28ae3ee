"""The exercise tests' fixtures (``impl``, ``reference``) and time limits: roomkit's plugin."""

pytest_plugins = ["roomkit.course.pytest_plugin"]
