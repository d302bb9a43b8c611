"""Tests every platform must pass (the contract), run once per platform."""
