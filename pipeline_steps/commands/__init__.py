"""Thin click commands, one module per step; each parses, builds collaborators and calls the step.

They are imported lazily by ``pipeline_steps.cli`` so ``pipeline-steps --help`` never pays for
kubernetes, requests or aiohttp. ``options.py`` declares every shared option group once (context,
platform, sources, ``--out-dir``); a command never imports another command. May import anything
below it (steps and down); nothing outside ``commands/`` imports it.
"""
