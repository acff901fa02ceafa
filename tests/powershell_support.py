"""Reading the PowerShell module without pwsh: the tree-sitter-powershell grammar (issue 8).

The checks here take a module root (``powershell/`` or a temporary, deliberately broken copy of
it) and return the problems they find as sentences naming the file or the cmdlet, so a test can
assert both that the real module is clean and that each check catches what it is for.

``psd1_data`` evaluates a PowerShell data file (the manifest, the client's decisions table) the
way ``Import-PowerShellDataFile`` does: constants, strings, arrays and hashtables only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_powershell

REPO = Path(__file__).resolve().parent.parent
MODULE_ROOT = REPO / "powershell"
PESTER_ROOT = REPO / "pester"
MANIFEST = "GroupIDUpgrade.psd1"
ROOT_MODULE = "GroupIDUpgrade.psm1"
DECISIONS = "GroupIDUpgrade.Decisions.psd1"
FORMAT = "GroupIDUpgrade.Format.ps1xml"


def _words(text: str) -> list[str]:
    return text.split()


# Get-Verb (PowerShell 7.4), all groups.
APPROVED_VERBS = frozenset(
    _words(
        """
    Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open Optimize Pop Push Redo
    Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch Undo Unlock Watch
    Connect Disconnect Read Receive Send Write
    Backup Checkpoint Compare Compress Convert ConvertFrom ConvertTo Dismount Edit Expand Export Group
    Import Initialize Limit Merge Mount Out Publish Restore Save Sync Unpublish Update
    Debug Measure Ping Repair Resolve Test Trace
    Approve Assert Build Complete Confirm Deny Deploy Disable Enable Install Invoke Register Request
    Restart Resume Start Stop Submit Suspend Uninstall Unregister Wait
    Block Grant Protect Revoke Unblock Unprotect
    Use
    """
    )
)
# PSScriptAnalyzer UseShouldProcessForStateChangingFunctions, plus this module's verbs that write.
STATE_CHANGING_VERBS = frozenset(
    {"New", "Set", "Remove", "Start", "Stop", "Restart", "Reset", "Update", "Invoke", "Backup", "Restore"}
)
# [System.Management.Automation.ErrorCategory] members.
ERROR_CATEGORIES = frozenset(
    _words(
        """
    NotSpecified OpenError CloseError DeviceError DeadlockDetected InvalidArgument InvalidData
    InvalidOperation InvalidResult InvalidType MetadataError NotImplemented NotInstalled ObjectNotFound
    OperationStopped OperationTimeout SyntaxError ParserError PermissionDenied ResourceBusy
    ResourceExists ResourceUnavailable ReadError WriteError FromStdErr SecurityError ProtocolError
    ConnectionError AuthenticationError LimitsExceeded QuotaExceeded NotEnabled
    """
    )
)
SECRET_NAME = re.compile(r"pass(word|phrase)?s?$|^pwd$|secret|token|privatekey|apikey", re.IGNORECASE)
PLAIN_TYPES = frozenset({"string", "string[]", "system.string", "system.string[]", "object", "psobject"})
SECURE_TYPES = frozenset(
    {
        "securestring",
        "security.securestring",
        "system.security.securestring",
        "pscredential",
        "management.automation.pscredential",
        "system.management.automation.pscredential",
        "hashtable",
        "system.collections.hashtable",
        "system.collections.idictionary",
    }
)


# --- parsing -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def parse(source: bytes) -> tree_sitter.Tree:
    return _parser().parse(source)


def syntax_errors(tree: tree_sitter.Tree) -> list[str]:
    """``line:column: what`` for every ERROR or MISSING node."""
    out: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            snippet = node.text.decode("utf-8", "replace").splitlines()[0][:60] if node.text else ""
            out.append(f"{line + 1}:{column + 1}: {kind} near {snippet!r}")
            continue
        stack.extend(reversed(node.children))
    return out


def _walk(node: tree_sitter.Node):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _text(node: tree_sitter.Node | None) -> str:
    return node.text.decode("utf-8") if node is not None and node.text is not None else ""


def _unwrap(node: tree_sitter.Node) -> tree_sitter.Node:
    """Skip the single-child expression wrappers (pipeline > pipeline_chain > ... > unary)."""
    while node.named_child_count == 1 and node.type not in (
        "hash_literal_expression",
        "array_expression",
        "string_literal",
        "variable",
    ):
        node = node.named_children[0]
    return node


class DataFileError(ValueError):
    pass


def psd1_data(path: Path) -> Any:
    """A .psd1 file as Python data (dicts, lists, str, int, float, bool, None)."""
    tree = parse(path.read_bytes())
    errors = syntax_errors(tree)
    if errors:
        raise DataFileError(f"{path.name}: {errors[0]}")
    statements = [c for c in tree.root_node.named_children if c.type != "comment"]
    if len(statements) != 1:
        raise DataFileError(f"{path.name}: a data file holds one hashtable")
    return _value(statements[0], path)


def _value(node: tree_sitter.Node, path: Path) -> Any:
    node = _unwrap(node)
    kind = node.type
    if kind == "hash_literal_expression":
        out: dict[str, Any] = {}
        body = next((c for c in node.named_children if c.type == "hash_literal_body"), None)
        for entry in body.named_children if body is not None else []:
            if entry.type != "hash_entry":
                continue
            key_node = next(c for c in entry.named_children if c.type == "key_expression")
            value_node = [c for c in entry.named_children if c.type != "key_expression" and c.type != "comment"][0]
            key = _value(key_node, path) if key_node.named_child_count and _unwrap(key_node).type != "simple_name" \
                else _text(_unwrap(key_node))
            out[str(key)] = _value(value_node, path)
        return out
    if kind == "array_expression":
        items: list[Any] = []
        statements = next((c for c in node.named_children if c.type == "statement_list"), None)
        for statement in statements.named_children if statements is not None else []:
            if statement.type == "comment":
                continue
            inner = _unwrap(statement)
            if inner.type == "array_literal_expression":
                items.extend(_value(c, path) for c in inner.named_children if c.type != "comment")
            else:
                items.append(_value(inner, path))
        return items
    if kind == "array_literal_expression":
        return [_value(c, path) for c in node.named_children if c.type != "comment"]
    if kind == "string_literal":
        raw = _text(node)
        if raw.startswith("'"):
            return raw[1:-1].replace("''", "'")
        if raw.startswith('"'):
            if "$" in raw or "`" in raw:
                raise DataFileError(f"{path.name}:{node.start_point[0] + 1}: expandable string {raw}")
            return raw[1:-1]
        return raw
    if kind == "variable":
        name = _text(node).lower()
        constants = {"$true": True, "$false": False, "$null": None}
        if name not in constants:
            raise DataFileError(f"{path.name}:{node.start_point[0] + 1}: variable {name} in a data file")
        return constants[name]
    if kind in ("decimal_integer_literal", "hexadecimal_integer_literal", "integer_literal"):
        return int(_text(node), 0)
    if kind == "real_literal":
        return float(_text(node))
    if kind in ("simple_name", "generic_token"):
        return _text(node)
    raise DataFileError(f"{path.name}:{node.start_point[0] + 1}: {kind} is not data ({_text(node)[:40]!r})")


# --- functions ---------------------------------------------------------------------------------
@dataclass
class Parameter:
    name: str
    type: str | None  # as written, without brackets: 'string[]', 'System.Security.SecureString'
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {arg: value}
    aliases: list[str] = field(default_factory=list)

    @property
    def is_switch(self) -> bool:
        return (self.type or "").lower() in ("switch", "system.management.automation.switchparameter")


@dataclass
class Function:
    name: str
    file: Path
    line: int
    attributes: dict[str, dict[str, Any]]  # function-level: CmdletBinding, OutputType, Alias
    parameters: list[Parameter]
    help: str
    body: str

    @property
    def binding(self) -> dict[str, Any] | None:
        return self.attributes.get("cmdletbinding")

    @property
    def supports_should_process(self) -> bool:
        binding = self.binding or {}
        value = binding.get("supportsshouldprocess")
        return value is True or (isinstance(value, str) and value.lower() == "$true")


def _attribute(node: tree_sitter.Node) -> tuple[str, dict[str, Any], str | None]:
    """(lower-case name, {arg: value}, type literal) of an ``attribute`` node."""
    type_literal = next((c for c in node.named_children if c.type == "type_literal"), None)
    if type_literal is not None:
        written = _text(type_literal).strip()
        return "", {}, written[1:-1].strip() if written.startswith("[") and written.endswith("]") else written
    name = _text(next(c for c in node.named_children if c.type == "attribute_name")).strip()
    args: dict[str, Any] = {}
    positional: list[str] = []
    arguments = next((c for c in node.named_children if c.type == "attribute_arguments"), None)
    for argument in arguments.named_children if arguments is not None else []:
        if argument.type != "attribute_argument":
            continue
        simple = next((c for c in argument.named_children if c.type == "simple_name"), None)
        rest = [c for c in argument.named_children if c.type != "simple_name"]
        has_equals = any(c.type == "=" for c in argument.children)
        if simple is not None and has_equals:
            args[_text(simple).lower()] = _text(rest[0]).strip() if rest else True
        elif simple is not None and not rest:
            args[_text(simple).lower()] = True
        else:
            for expression in rest:
                inner = _unwrap(expression)
                values = inner.named_children if inner.type == "array_literal_expression" else [inner]
                for value in values:
                    text = _text(value).strip()
                    positional.append(text[1:-1] if text[:1] in "'\"" else text)
    if positional:
        args["_"] = positional
    return name.lower(), args, None


def _attributes(attribute_list: tree_sitter.Node | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    out: dict[str, dict[str, Any]] = {}
    type_name = None
    for node in attribute_list.named_children if attribute_list is not None else []:
        if node.type != "attribute":
            continue
        name, args, literal = _attribute(node)
        if literal is not None:
            type_name = literal
        else:
            out.setdefault(name, {}).update(args)
    return out, type_name


def functions(path: Path) -> list[Function]:
    """The top-level functions of a .ps1/.psm1 file."""
    source = path.read_bytes()
    tree = parse(source)
    out: list[Function] = []
    top = next((c for c in tree.root_node.named_children if c.type == "statement_list"), None)
    previous_comment = ""
    for node in tree.root_node.named_children:
        if node.type == "comment":
            previous_comment = _text(node)
    for statement in top.named_children if top is not None else []:
        if statement.type == "comment":
            previous_comment = _text(statement)
            continue
        if statement.type != "function_statement":
            previous_comment = ""
            continue
        name = _text(next(c for c in statement.named_children if c.type == "function_name"))
        block = next((c for c in statement.named_children if c.type == "script_block"), None)
        help_text = previous_comment
        attributes: dict[str, dict[str, Any]] = {}
        parameters: list[Parameter] = []
        # Comment-based help: before the function, or first inside its braces.
        for child in [*statement.children, *(block.children if block is not None else [])]:
            if child.type == "comment" and _text(child).startswith("<#"):
                help_text = help_text + "\n" + _text(child)
                break
        if block is not None:
            param_block = next((c for c in block.named_children if c.type == "param_block"), None)
            if param_block is not None:
                attributes, _ = _attributes(
                    next((c for c in param_block.named_children if c.type == "attribute_list"), None)
                )
                plist = next((c for c in param_block.named_children if c.type == "parameter_list"), None)
                for parameter in plist.named_children if plist is not None else []:
                    if parameter.type != "script_parameter":
                        continue
                    attrs, type_name = _attributes(
                        next((c for c in parameter.named_children if c.type == "attribute_list"), None)
                    )
                    variable = next(c for c in parameter.named_children if c.type == "variable")
                    aliases = [str(a) for a in attrs.get("alias", {}).get("_", [])]
                    parameters.append(Parameter(_text(variable).lstrip("$"), type_name, attrs, aliases))
        out.append(
            Function(name, path, statement.start_point[0] + 1, attributes, parameters, help_text, _text(block))
        )
        previous_comment = ""
    return out


def cmdlet_files(root: Path) -> list[Path]:
    return sorted((root / "cmdlets").glob("*.ps1"))


def cmdlets(root: Path) -> dict[str, Function]:
    out: dict[str, Function] = {}
    for path in cmdlet_files(root):
        found = functions(path)
        if found:
            out[found[0].name] = found[0]
    return out


def script_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".ps1", ".psm1", ".psd1") and p.is_file())


def decisions(root: Path = MODULE_ROOT) -> dict[str, Any]:
    return psd1_data(root / DECISIONS)


def camel(name: str) -> str:
    return name[:1].lower() + name[1:]


# --- the checks --------------------------------------------------------------------------------
def check_parses(root: Path) -> list[str]:
    problems = []
    for path in script_files(root):
        for error in syntax_errors(parse(path.read_bytes())):
            problems.append(f"{path.relative_to(root)}:{error}")
    return problems


def check_cmdlet_files(root: Path) -> list[str]:
    """One function per cmdlet file, named as the file, with an approved verb."""
    problems = []
    for path in cmdlet_files(root):
        found = functions(path)
        names = [f.name for f in found]
        if len(found) != 1:
            problems.append(f"cmdlets/{path.name} defines {len(found)} functions ({', '.join(names)}); it must define one")
        if path.stem not in names:
            problems.append(f"cmdlets/{path.name} does not define a function named {path.stem}")
        for function in found:
            verb = function.name.split("-", 1)[0]
            if verb not in APPROVED_VERBS:
                problems.append(f"{function.name} (cmdlets/{path.name}) uses the unapproved verb '{verb}'")
    for path in sorted((root / "private").glob("*.ps1")):
        for function in functions(path):
            verb = function.name.split("-", 1)[0]
            if verb not in APPROVED_VERBS:
                problems.append(f"{function.name} (private/{path.name}) uses the unapproved verb '{verb}'")
    return problems


def module_aliases(root: Path) -> set[str]:
    """Aliases the module defines: Set-Alias/New-Alias in the root module, [Alias()] on cmdlet functions."""
    aliases: set[str] = set()
    text = (root / ROOT_MODULE).read_text(encoding="utf-8")
    for match in re.finditer(r"(?im)^\s*(?:Set|New)-Alias\s+(?:-Name\s+)?'?([\w-]+)'?", text):
        aliases.add(match.group(1))
    for function in cmdlets(root).values():
        aliases.update(str(a) for a in function.attributes.get("alias", {}).get("_", []))
    return aliases


def check_manifest(root: Path) -> list[str]:
    problems = []
    manifest = psd1_data(root / MANIFEST)
    expected = {
        "RootModule": ROOT_MODULE,
        "PowerShellVersion": "5.1",
    }
    for key, value in expected.items():
        if manifest.get(key) != value:
            problems.append(f"{MANIFEST}: {key} is {manifest.get(key)!r}, expected {value!r}")
    if sorted(manifest.get("CompatiblePSEditions") or []) != ["Core", "Desktop"]:
        problems.append(f"{MANIFEST}: CompatiblePSEditions must be Desktop and Core")
    for key in ("FunctionsToExport", "AliasesToExport", "CmdletsToExport", "VariablesToExport"):
        value = manifest.get(key)
        if value is None or not isinstance(value, list) or any("*" in str(v) for v in value):
            problems.append(f"{MANIFEST}: {key} must be an explicit list without wildcards, not {value!r}")
    files = {p.stem for p in cmdlet_files(root)}
    exported = set(manifest.get("FunctionsToExport") or [])
    for name in sorted(files - exported):
        problems.append(f"{MANIFEST}: FunctionsToExport lacks {name} (cmdlets/{name}.ps1)")
    for name in sorted(exported - files):
        problems.append(f"{MANIFEST}: FunctionsToExport lists {name}, which has no file in cmdlets/")
    aliases = module_aliases(root)
    exported_aliases = set(manifest.get("AliasesToExport") or [])
    for name in sorted(aliases - exported_aliases):
        problems.append(f"{MANIFEST}: AliasesToExport lacks the alias {name}")
    for name in sorted(exported_aliases - aliases):
        problems.append(f"{MANIFEST}: AliasesToExport lists {name}, which the module does not define")
    for name in manifest.get("FormatsToProcess") or []:
        if not (root / name).is_file():
            problems.append(f"{MANIFEST}: FormatsToProcess names {name}, which does not exist")
    if not manifest.get("FormatsToProcess"):
        problems.append(f"{MANIFEST}: FormatsToProcess is empty")
    return problems


def check_no_write_host(root: Path) -> list[str]:
    problems = []
    for path in script_files(root):
        tree = parse(path.read_bytes())
        for node in _walk(tree.root_node):
            if node.type == "command_name" and _text(node).lower() in ("write-host", "microsoft.powershell.utility\\write-host"):
                problems.append(f"{path.relative_to(root)}:{node.start_point[0] + 1}: Write-Host (use Write-Information or an output object)")
    return problems


def check_secret_parameters(root: Path) -> list[str]:
    problems = []
    for path in [*cmdlet_files(root), *sorted((root / "private").glob("*.ps1"))]:
        for function in functions(path):
            for parameter in function.parameters:
                declared = (parameter.type or "object").lower()
                if parameter.name.lower() == "credential" and "pscredential" not in declared:
                    problems.append(f"{function.name}: -{parameter.name} must be [PSCredential], not [{parameter.type}]")
                if SECRET_NAME.search(parameter.name) and (declared in PLAIN_TYPES or declared not in SECURE_TYPES):
                    problems.append(
                        f"{function.name}: -{parameter.name} is named like a secret but is [{parameter.type or 'object'}]; "
                        "use SecureString or PSCredential"
                    )
    return problems


def check_should_process(root: Path, table: dict[str, Any] | None = None) -> list[str]:
    table = table if table is not None else decisions(root)
    problems = []
    for name, function in cmdlets(root).items():
        verb = name.split("-", 1)[0]
        entry = table["Cmdlets"].get(name, {})
        changes_state = verb in STATE_CHANGING_VERBS or entry.get("WhatIf") in ("Engine", "Client")
        if changes_state and not function.supports_should_process:
            problems.append(f"{name} changes state but does not declare SupportsShouldProcess")
        if function.supports_should_process and "ShouldProcess(" not in function.body:
            problems.append(f"{name} declares SupportsShouldProcess but never calls ShouldProcess")
    return problems


def check_help(root: Path) -> list[str]:
    problems = []
    for name, function in cmdlets(root).items():
        text = function.help
        if ".SYNOPSIS" not in text.upper():
            problems.append(f"{name}: comment-based help has no .SYNOPSIS")
        if ".EXAMPLE" not in text.upper():
            problems.append(f"{name}: comment-based help has no .EXAMPLE")
        documented = {m.lower() for m in re.findall(r"(?im)^\s*\.PARAMETER\s+(\w+)", text)}
        for parameter in function.parameters:
            if parameter.name.lower() not in documented:
                problems.append(f"{name}: help has no .PARAMETER {parameter.name}")
        if function.binding is None:
            problems.append(f"{name}: no [CmdletBinding()]")
        if "outputtype" not in function.attributes:
            problems.append(f"{name}: no [OutputType()]")
    return problems


def module_functions(root: Path) -> dict[str, Function]:
    out: dict[str, Function] = {}
    for path in [*cmdlet_files(root), *sorted((root / "private").glob("*.ps1"))]:
        for function in functions(path):
            out[function.name] = function
    return out


def check_internal_calls(root: Path) -> list[str]:
    """Every call of a GroupID function names one the module defines, with parameters it declares.

    Without pwsh nothing else would notice a renamed helper or parameter until a user ran the
    cmdlet; this is the compile step PowerShell does not have.
    """
    defined = module_functions(root)
    common = {"verbose", "debug", "erroraction", "warningaction", "informationaction", "progressaction",
              "errorvariable", "warningvariable", "informationvariable", "outvariable", "outbuffer",
              "pipelinevariable", "whatif", "confirm"}
    problems = []
    files = [*cmdlet_files(root), *sorted((root / "private").glob("*.ps1")), root / ROOT_MODULE]
    for path in files:
        tree = parse(path.read_bytes())
        for node in _walk(tree.root_node):
            if node.type != "command":
                continue
            name_node = next((c for c in node.named_children if c.type == "command_name"), None)
            name = _text(name_node)
            if "-GroupID" not in name:
                continue
            where = f"{path.relative_to(root)}:{node.start_point[0] + 1}"
            function = defined.get(name)
            if function is None:
                problems.append(f"{where}: calls {name}, which the module does not define")
                continue
            declared = {p.name.lower() for p in function.parameters}
            declared |= {a.lower() for p in function.parameters for a in p.aliases}
            elements = next((c for c in node.named_children if c.type == "command_elements"), None)
            for element in elements.named_children if elements is not None else []:
                if element.type != "command_parameter":
                    continue
                used = _text(element).lstrip("-").split(":")[0].lower()
                if used not in declared and used not in common:
                    problems.append(f"{where}: {name} has no parameter -{used}")
    return problems


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a field accepts ("object" for a $ref to a model)."""
    types: set[str] = set()
    if "$ref" in schema:
        types.add("object")
    kind = schema.get("type")
    if isinstance(kind, str):
        types.add(kind)
    elif isinstance(kind, list):
        types.update(kind)
    for option in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        types |= _json_types(option)
    if "enum" in schema or "const" in schema:
        types.add("string")
    return types


def _accepts_boolean(schema: dict[str, Any]) -> bool:
    return "boolean" in _json_types(schema)


def _parameter_json_type(parameter: Parameter) -> str | None:
    """The JSON type a parameter's value is sent as (see ConvertTo-GroupIDEngineJson)."""
    written = (parameter.type or "").lower()
    if parameter.is_switch or written in ("bool", "boolean", "system.boolean"):
        return "boolean"
    if written.endswith("[]"):
        return "array"
    if written in ("int", "long", "int32", "int64", "system.int32", "system.int64"):
        return "integer"
    if written in ("string", "system.string"):
        return "string"
    if "pscredential" in written or written in ("hashtable", "system.collections.hashtable"):
        return "object"
    return None


def check_contract(root: Path, describe: dict[str, Any], only: str | None = None) -> list[str]:
    """Every cmdlet parameter maps to a field of its method's params schema, and back.

    ``describe`` is ``engine.describe``'s result. Parameters listed as PowerShellOnly are not
    sent; Settings parameters travel inside ``settings``. Names compare case-insensitively, as the
    engine matches them (protocol.md, Methods).
    """
    table = decisions(root)
    methods = describe["methods"]
    found = cmdlets(root)
    problems = []
    for name, entry in sorted(table["Cmdlets"].items()):
        if only is not None and name != only:
            continue
        method = entry["Method"]
        function = found.get(name)
        if function is None:
            problems.append(f"{name}: the decisions table names it but cmdlets/{name}.ps1 does not exist")
            continue
        if method not in methods:
            problems.append(
                f"{name}: the engine has no method '{method}' (engine.describe lists {', '.join(sorted(methods))})"
            )
            continue
        schema = methods[method]["params"]
        properties = schema.get("properties", {})
        by_lower: dict[str, str] = {}
        for field_name, field_schema in properties.items():
            by_lower[field_name.lower()] = field_name
            for alias in field_schema.get("aliases", []) if isinstance(field_schema, dict) else []:
                by_lower[str(alias).lower()] = field_name
        powershell_only = {p.lower() for p in entry.get("PowerShellOnly", [])}
        settings = {k.lower(): v for k, v in entry.get("Settings", {}).items()}
        covered: set[str] = set()
        for parameter in function.parameters:
            lower = parameter.name.lower()
            if lower in powershell_only:
                continue
            if lower in settings:
                if "settings" not in by_lower:
                    problems.append(f"{name}: -{parameter.name} is sent inside settings, but {method} has no field settings")
                covered.add("settings")
                continue
            field_name = by_lower.get(camel(parameter.name).lower())
            if field_name is None:
                problems.append(
                    f"{name}: parameter -{parameter.name} maps to no field of {method} "
                    f"(expected '{camel(parameter.name)}'; fields: {', '.join(sorted(properties))})"
                )
                continue
            covered.add(field_name)
            sent_as = _parameter_json_type(parameter)
            accepted = _json_types(properties[field_name])
            if accepted and sent_as is not None and sent_as not in accepted and not (
                sent_as == "integer" and "number" in accepted
            ):
                problems.append(
                    f"{name}: -{parameter.name} [{parameter.type}] is sent as {sent_as}, but {method}.{field_name} "
                    f"takes {' or '.join(sorted(accepted))}"
                )
        mandatory = {
            by_lower.get(camel(p.name).lower()) for p in function.parameters if p.attributes.get("parameter", {}).get("mandatory")
        }
        for required in schema.get("required", []):
            if required not in covered:
                problems.append(f"{name}: {method} requires the field '{required}', and no parameter sends it")
            elif required not in mandatory:
                problems.append(f"{name}: {method} requires the field '{required}'; its parameter must be Mandatory")
        what_if = entry.get("WhatIf")
        engine_what_if = bool(methods[method].get("whatIf"))
        if what_if == "Engine" and "whatif" not in by_lower:
            problems.append(f"{name}: sends -WhatIf to the engine, but {method} has no field whatIf")
        if engine_what_if and what_if != "Engine":
            problems.append(f"{name}: {method} supports whatIf; the decisions table must say WhatIf = 'Engine'")
        if what_if == "Engine" and not function.supports_should_process:
            problems.append(f"{name}: sends whatIf but does not declare SupportsShouldProcess")
    return problems


# --- the engine --------------------------------------------------------------------------------
def engine_describe(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``engine.describe`` from a real ``groupid-upgrade serve`` process."""
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine.describe"}) + "\n"
    done = subprocess.run(
        [sys.executable, "-m", "groupid_upgrade", "serve"],
        input=request.encode("utf-8"),
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    answer = next(m for m in lines if m.get("id") == 1)
    assert "result" in answer, f"engine.describe failed: {answer}"
    return answer["result"]
