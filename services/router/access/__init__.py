"""Who may do what on the router: users with a role, API keys for machines, console
sessions with CSRF tokens. The pure parts (roles, hashing, session timing) know nothing of
HTTP or the database; ``store`` and ``guard`` are the shell."""
