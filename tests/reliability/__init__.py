"""Helpers of the fault-injection tests (`tests/test_reliability_*.py`): real processes, real faults."""
