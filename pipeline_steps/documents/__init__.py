"""The documents steps exchange."""
