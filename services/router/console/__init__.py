"""The cases console: server-rendered pages (Jinja2) for people who work the cases, with
live updates of the inbox over server-sent events. Static files are vendored here."""
