"""HTTP checks and the load generator used by run-tests."""
