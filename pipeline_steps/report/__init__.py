"""Reports for humans and Jenkins: JUnit XML, the gate's one-screen summary, the HTML history report.
May import: gate, the families, documents, files, secrets, errors.
"""
