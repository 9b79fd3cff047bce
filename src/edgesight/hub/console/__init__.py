"""The hub's web console: sign-in (sessions, roles, CSRF), the pages' JSON and live streams, the page itself.

:func:`~edgesight.hub.console.routes.console_router` is mounted by the app factory; the static
files (plain HTML, CSS and ES modules, no build step) live in ``static/``.
"""

__all__: list[str] = []
