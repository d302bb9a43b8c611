"""Everything read from or written to a file with a schema, and the values those files carry.

``context`` (who and what), ``service`` (service.yaml), ``shipyard``, ``deployment``
(deployment.json), ``testrun``, ``evaluation``, ``promotion``, ``events`` (Keptn CloudEvents);
``weights`` and ``vocabulary`` (the closed vocabularies as enums) are the values they share.
Schemas: docs/documents.md. May import: files, secrets, errors (and each other).
"""
