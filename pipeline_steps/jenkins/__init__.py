"""The Jenkins controller as a backend: ``client.py`` wraps python-jenkins behind our errors and exit codes.

A family like sources and platforms (one member), used by ``commands/jenkins.py``. Not to be
confused with the repository's top-level ``jenkins/`` folder (controller setup, job templates).
May import: documents, files, secrets, errors.
"""
