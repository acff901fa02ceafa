"""The engine's methods: one table, loaded lazily.

``engine.hello`` lists the names without importing anything heavy (pydantic, ldap3,
elasticsearch), so a PowerShell pipeline starts fast; a method's module is imported the first time
it is called or described.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # neither typing nor dataclasses: this module is on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pydantic import BaseModel

    from .reporting import Reporter

# method name -> "module:attribute" of its MethodSpec
METHOD_TABLE: dict[str, str] = {
    "upgrade.plan": "groupid_upgrade.upgrade.plan_method:PLAN_METHOD",
    "upgrade.run": "groupid_upgrade.upgrade.run_method:RUN_METHOD",
    "group.upgrade": "groupid_upgrade.groups.method:GROUP_METHOD",
    "backup.create": "groupid_upgrade.backup.methods:BACKUP_METHOD",
    "backup.verify": "groupid_upgrade.backup.methods:VERIFY_METHOD",
    "backup.restore": "groupid_upgrade.backup.methods:RESTORE_METHOD",
}

ENGINE_METHODS = ("engine.hello", "engine.describe", "engine.shutdown")


class MethodSpec:
    """A method: its params model, its result model and the function that runs it.

    ``handler(params, reporter)`` receives validated params (an instance of ``params``) and returns
    an instance of ``result`` (or a dict / None). It raises ``EngineError`` for anything a person
    can act on.
    """

    __slots__ = ("handler", "keeps_target", "name", "params", "result", "summary", "supports_what_if")

    def __init__(self, name: str, params: type[BaseModel], result: type[BaseModel] | None,
                 handler: Callable[[Any, Reporter], Any],
                 summary: str, supports_what_if: bool = False, keeps_target: bool = False) -> None:
        self.name = name
        self.params = params  # a groupid_upgrade.model.base.Params subclass
        self.result = result
        self.handler = handler
        self.summary = summary
        self.supports_what_if = supports_what_if
        # serve keeps the target open after this method's requests (target/kept.py); any other method's
        # request closes what was kept first
        self.keeps_target = keeps_target


_loaded: dict[str, MethodSpec] = {}


def method_names() -> list[str]:
    return [*ENGINE_METHODS, *METHOD_TABLE]


def load_method(name: str) -> MethodSpec | None:
    if name in _loaded:
        return _loaded[name]
    ref = METHOD_TABLE.get(name)
    if ref is None:
        return None
    module_name, attr = ref.split(":")
    spec = getattr(importlib.import_module(module_name), attr)
    _loaded[name] = spec
    return spec
