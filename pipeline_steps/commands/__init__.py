"""Thin click commands, one module per step; each parses, builds collaborators and calls the step.

They are imported lazily by ``pipeline_steps.cli`` so ``pipeline-steps --help`` never pays for
kubernetes, requests or aiohttp.
"""
