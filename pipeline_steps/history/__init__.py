"""The evaluation history."""
