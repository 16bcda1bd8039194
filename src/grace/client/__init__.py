"""The registry over HTTP: the in-process registry's methods and return types, served remotely.

``RegistryClient(base_url, token)`` stands in for ``get_registry()``: the same
method names, keywords and defaults, the same records and result dicts, and the
same exceptions, rebuilt from the service's problem+json answers.  What the
registry awaits is a coroutine here too (over ``httpx.AsyncClient``); what it
calls plainly is a plain method (over ``httpx.Client``).  ``client.incidents``
and ``client.engine`` mirror the reads and acts of the incident registry and
the self-healing engine, as ``Grace.incidents`` and ``Grace.engine`` do.

Not offered remotely: the ``set_*_callback`` methods (callbacks run in the
service's process), ``actor`` (over HTTP the actor is the token's name) and
``window_stats`` (the API has no endpoint for it).

Errors: every refusal of the core arrives as the exception the core raised;
the HTTP path adds its own failures under :class:`RemoteError`::

    GraceError                     (grace.errors: InvalidInput, NotFound, Conflict, ...)
    └── RemoteError                the exchange failed in a way the in-process registry cannot
        ├── AuthenticationError    401: no token, or a wrong or revoked one
        ├── AuthorizationError     403: the token lacks the scope the operation needs
        └── Unreachable            no answer: connection refused, timeout, broken connection

This module must never decide a rule of the registry: it sends, and it rebuilds.
"""

from grace.client.registry import RegistryClient, RemoteIncidents, RemoteSelfHealing
from grace.client.wire import AuthenticationError, AuthorizationError, RemoteError, Unreachable

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "RegistryClient",
    "RemoteError",
    "RemoteIncidents",
    "RemoteSelfHealing",
    "Unreachable",
]
