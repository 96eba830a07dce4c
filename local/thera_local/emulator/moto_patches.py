"""Patches of moto's hot paths, written against one moto version (``MOTO_VERSION``), and the
settings the emulator gives moto (``stable_cognito_ids``).

They replace or wrap moto internals (``moto.sqs.models``, ``Stack.parse_template``,
``backends.list_of_moto_modules``) that another moto release may rename or change: the emulator
warns in one line when the installed moto is not ``MOTO_VERSION``."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

MOTO_VERSION = "5.2.5"  # the moto these patches were read against: requirements/dev.txt pins the same


class MotoVersionWarning(UserWarning):
    """The installed moto is not the one the patches were written against."""


def moto_version_note(installed: str) -> str | None:
    """One line saying the installed moto differs from ``MOTO_VERSION``, or None when it is the same."""
    if installed == MOTO_VERSION:
        return None
    return (
        f"moto {installed} is installed, but thera_local.emulator patches moto {MOTO_VERSION}'s internals "
        "(SQS receive and attributes, CloudFormation template parsing, the dispatcher's module list): "
        f"install moto[server]=={MOTO_VERSION} (make venv), or check the patches and raise MOTO_VERSION"
    )


_WARNED: dict[Any, Any] = {}  # warnings' registry for this one warning: once per process


def check_moto_version() -> None:
    """Warn, once and in one line, when the installed moto is not ``MOTO_VERSION``. The patches still
    apply (a changed internal may make one ineffective, or fail): the emulator keeps running."""
    import moto

    note = moto_version_note(moto.__version__)
    if note is not None:  # line 0: no source line under the message, whoever called
        warnings.warn_explicit(note, MotoVersionWarning, __file__, 0, module=__name__, registry=_WARNED)


def fast_sqs_clock() -> None:
    """moto's SQS checks every message's visibility with a datetime round trip per message per call,
    which made a 2,000-message queue cost ~60 % of the stack's CPU. Epoch time from ``time.time``
    is the same value, computed cheaply."""
    import time

    from moto.core import utils
    from moto.sqs import models

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else utils.unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else utils.unix_time_millis(dt)

    # moto.sqs.models imports these from moto.core.utils without re-exporting them
    models.unix_time = unix_time  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis  # type: ignore[attr-defined]


def stable_cognito_ids() -> None:
    """moto's user pool and client ids from a hash of how they are created (its ``HASH`` strategy)
    instead of a random one: the template's pool and client get the same ids at every start, so a
    token issued before a restart still names this pool (``iss``) and client (``aud``), and moto
    signs with the one key it ships. Read by moto at each create, from this process's environment."""
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY", "HASH")
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY", "HASH")


def fast_moto() -> None:
    """Three per-request costs of moto that grow with the work, removed without changing an answer.

    - A receive checks each message it hands out against the queue's retention period by asking
      ``get_queue_attributes``, which computes every attribute of the queue, the message counts
      included (three scans of the queue), twice per attribute name: a receive from a queue of
      n messages cost O(n) per message returned. The retention period is read directly instead.
    - ``get_queue_attributes`` computes the queue's attributes once per call, not twice per name.
    - The dispatcher lists moto's package folder (a ``listdir`` and ~150 ``isdir``) on every
      request to match the Host header; the listing never changes while the process runs.
    - CloudFormation parses every template body with PyYAML's pure-Python loader first, JSON
      included: the local stack's translated template (~200 resources) took 3-4 s. A body that is a
      JSON object is read with ``json`` (the same document: JSON is YAML).
    """
    import functools
    import time

    from moto import backends
    from moto.cloudformation.models import Stack
    from moto.sqs import models

    if getattr(models.SQSBackend, "_thera_fast", False):
        return
    models.SQSBackend._thera_fast = True  # type: ignore[attr-defined]

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        queue = self.get_queue(queue_name)
        retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
        return bool(retain_until > time.time())

    original_attributes = models.SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        if not attribute_names or "All" in attribute_names:
            return original_attributes(self, queue_name, attribute_names)
        queue = self.get_queue(queue_name)
        valid = {"All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES}
        if any(name not in valid for name in attribute_names):
            return original_attributes(self, queue_name, attribute_names)  # raises moto's own error
        attributes = queue.attributes
        return {n: attributes[n] for n in attribute_names if attributes.get(n) is not None}

    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    models.SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]
    parse_template = Stack.parse_template

    def parse_json_first(template: str) -> dict[str, Any]:
        if template.lstrip().startswith("{"):
            return dict(json.loads(template))
        return parse_template(template)

    Stack.parse_template = staticmethod(parse_json_first)  # type: ignore[method-assign]
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)
