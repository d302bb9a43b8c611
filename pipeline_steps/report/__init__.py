"""Reports for humans and Jenkins: JUnit XML, one-screen summaries, the HTML history report."""
