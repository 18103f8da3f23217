"""Weekly and monthly reports: what came in, what reached a human and how fast.

``fetch`` reads the database into plain facts (``facts``), ``aggregate`` turns them into a
``Report`` (``model``; pure, with ``topics``), ``render`` writes it as HTML (with ``charts``),
text or JSON, and ``pdf`` prints the HTML with Chromium. ``scheduled`` e-mails it from the
timer loop on the settings' schedule (``schedule``, ``mailing``). docs/reports.md says what
each figure means.
"""
