"""The steps in pipeline order."""
