"""The Jenkins controller."""
