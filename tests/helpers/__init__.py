"""Plain helpers the tests import (no pytest fixtures: those live in `tests/conftest.py`)."""
