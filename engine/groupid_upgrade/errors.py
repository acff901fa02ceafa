"""Every error the engine can report, and the one exception type that carries them.

Each error has a stable ``errorId`` and a ``category`` that is the name of a PowerShell
``ErrorCategory`` so the module can build a proper ErrorRecord (protocol.md, Errors). The catalogue
is data: the PowerShell module's dispatch table is checked against it by a test.
"""

from __future__ import annotations

from .safety.redact import redact_text

TYPE_CHECKING = False  # typing is not imported at run time: this module is on the start-up path
if TYPE_CHECKING:
    from typing import Any

# JSON-RPC codes (protocol.md)
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800
ENGINE_ERROR = -32000

# CLI exit codes (protocol.md, The CLI's exit codes)
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OPEN_QUESTIONS = 3
EXIT_VERIFY_PROBLEMS = 4
EXIT_CANCELLED = 130


class ErrorSpec:
    """An error's PowerShell category, JSON-RPC code and CLI exit code (a plain class: start-up cost)."""

    __slots__ = ("category", "code", "exit_code")

    def __init__(self, category: str, code: int = ENGINE_ERROR, exit_code: int = EXIT_FAILED) -> None:
        self.category = category
        self.code = code
        self.exit_code = exit_code

    def __repr__(self) -> str:
        return f"ErrorSpec({self.category!r}, {self.code}, {self.exit_code})"


CATALOG: dict[str, ErrorSpec] = {
    # protocol level
    "ParseError": ErrorSpec("ParserError", PARSE_ERROR, EXIT_USAGE),
    "InvalidRequest": ErrorSpec("InvalidData", INVALID_REQUEST, EXIT_USAGE),
    "RequestTooLarge": ErrorSpec("LimitsExceeded", INVALID_REQUEST, EXIT_USAGE),
    "MethodNotFound": ErrorSpec("NotImplemented", METHOD_NOT_FOUND, EXIT_USAGE),
    "InvalidParams": ErrorSpec("InvalidArgument", INVALID_PARAMS, EXIT_USAGE),
    "AnswerFileInvalid": ErrorSpec("InvalidArgument", INVALID_PARAMS, EXIT_USAGE),
    "AnswerFileNotFound": ErrorSpec("ObjectNotFound", INVALID_PARAMS, EXIT_USAGE),
    "RequestCancelled": ErrorSpec("OperationStopped", REQUEST_CANCELLED, EXIT_CANCELLED),
    "InternalError": ErrorSpec("NotSpecified", INTERNAL_ERROR, EXIT_FAILED),
    # versions and modules (R1, R2)
    "SourceVersionUnsupported": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "TargetVersionUnsupported": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "UpgradePathUnsupported": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "ModuleUnknown": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "ModuleDependencyMissing": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    # the source installation (R16)
    "SourceFolderNotFound": ErrorSpec("ObjectNotFound", ENGINE_ERROR, EXIT_FAILED),
    "DatabaseUnreadable": ErrorSpec("ReadError", ENGINE_ERROR, EXIT_FAILED),
    "DatabaseConnectionFailed": ErrorSpec("ConnectionError", ENGINE_ERROR, EXIT_FAILED),
    "DatabaseSchemaUnknown": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "TargetWriteFailed": ErrorSpec("WriteError", ENGINE_ERROR, EXIT_FAILED),
    "TargetLocked": ErrorSpec("ResourceBusy", ENGINE_ERROR, EXIT_FAILED),
    "TargetInUse": ErrorSpec("ResourceBusy", ENGINE_ERROR, EXIT_FAILED),
    "SourceFileUnreadable": ErrorSpec("ReadError", ENGINE_ERROR, EXIT_FAILED),
    "DtmConfigInvalid": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "XmlEntitiesForbidden": ErrorSpec("SecurityError", ENGINE_ERROR, EXIT_FAILED),
    "ConnectionStringInvalid": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "DestinationUnparseable": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "SecretsFileInvalid": ErrorSpec("InvalidArgument", INVALID_PARAMS, EXIT_USAGE),
    # plan and run (R12)
    "QuestionsOpen": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_OPEN_QUESTIONS),
    "PrerequisiteNotMet": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_OPEN_QUESTIONS),
    "AnswerInvalid": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    # credentials (R5, R6, R7, R19)
    "PassphraseInvalid": ErrorSpec("AuthenticationError", ENGINE_ERROR, EXIT_FAILED),
    "PassphraseMissing": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "PfxPasswordInvalid": ErrorSpec("AuthenticationError", ENGINE_ERROR, EXIT_FAILED),
    "PfxHasNoPrivateKey": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "CertificateExpired": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "CertificateNotYetValid": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "PfxUnreadable": ErrorSpec("ReadError", ENGINE_ERROR, EXIT_FAILED),
    "TokenRequestRefused": ErrorSpec("AuthenticationError", ENGINE_ERROR, EXIT_FAILED),
    "TokenEndpointUnreachable": ErrorSpec("ConnectionError", ENGINE_ERROR, EXIT_FAILED),
    # servers
    "DirectoryUnreachable": ErrorSpec("ConnectionError", ENGINE_ERROR, EXIT_FAILED),
    "DirectoryBindRefused": ErrorSpec("AuthenticationError", ENGINE_ERROR, EXIT_FAILED),
    "DirectoryCertificateInvalid": ErrorSpec("SecurityError", ENGINE_ERROR, EXIT_FAILED),
    "DirectoryOperationFailed": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_FAILED),
    "DirectoryNotConfigured": ErrorSpec("ObjectNotFound", ENGINE_ERROR, EXIT_FAILED),
    "ServiceAccountCannotReadForest": ErrorSpec("PermissionDenied", ENGINE_ERROR, EXIT_FAILED),
    "SearchUnreachable": ErrorSpec("ConnectionError", ENGINE_ERROR, EXIT_FAILED),
    "SearchOperationFailed": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_FAILED),
    "SnapshotRepositoryInvalid": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_FAILED),
    "SearchCredentialsRefused": ErrorSpec("AuthenticationError", ENGINE_ERROR, EXIT_FAILED),
    "HistoryCountMismatch": ErrorSpec("InvalidResult", ENGINE_ERROR, EXIT_FAILED),
    # groups (R13)
    "GroupNotFound": ErrorSpec("ObjectNotFound", ENGINE_ERROR, EXIT_FAILED),
    "GroupIdentityAmbiguous": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_FAILED),
    "GroupTypeUnsupported": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "DynastyMemberAlone": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_FAILED),
    "SearchScopeMismatch": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "GroupChangedConcurrently": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_FAILED),
    "GroupDefinitionInvalid": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_FAILED),
    "IdentityStoreNotFound": ErrorSpec("ObjectNotFound", ENGINE_ERROR, EXIT_USAGE),
    # backup (R17, R18)
    "BackupDestinationInvalid": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_FAILED),
    "BackupSetInvalid": ErrorSpec("InvalidData", ENGINE_ERROR, EXIT_VERIFY_PROBLEMS),
    "RestoreWouldOverwrite": ErrorSpec("InvalidOperation", ENGINE_ERROR, EXIT_FAILED),
    "UnsafePath": ErrorSpec("SecurityError", ENGINE_ERROR, EXIT_FAILED),
    "BackupPartUnknown": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
    "BackupPartUnavailable": ErrorSpec("ObjectNotFound", ENGINE_ERROR, EXIT_FAILED),
    "ElasticsearchRunning": ErrorSpec("ResourceBusy", ENGINE_ERROR, EXIT_FAILED),
    "OutputPathInvalid": ErrorSpec("InvalidArgument", ENGINE_ERROR, EXIT_USAGE),
}


class EngineError(Exception):
    """An error a person can act on: one sentence, what it concerns, what to do next."""

    def __init__(
        self,
        error_id: str,
        message: str,
        *,
        target: str | None = None,
        recommended_action: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if error_id not in CATALOG:
            raise KeyError(f"errorId {error_id!r} is not in errors.CATALOG")
        # Text that leaves the engine never carries a URL's credentials (safety/redact.py).
        message = redact_text(message)
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.target = None if target is None else redact_text(target)
        self.recommended_action = None if recommended_action is None else redact_text(recommended_action)
        self.extra = extra or {}

    @property
    def spec(self) -> ErrorSpec:
        return CATALOG[self.error_id]

    @property
    def code(self) -> int:
        return self.spec.code

    @property
    def exit_code(self) -> int:
        return self.spec.exit_code

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"errorId": self.error_id, "category": self.spec.category}
        if self.target is not None:
            data["targetObject"] = self.target
        if self.recommended_action is not None:
            data["recommendedAction"] = self.recommended_action
        data.update(self.extra)
        return data

    def to_error_object(self) -> dict[str, Any]:
        """The ``error`` member of a JSON-RPC response, and of a failed item's record."""
        return {"code": self.code, "message": self.message, "data": self.data()}


class Cancelled(EngineError):
    def __init__(self, what: str = "the request") -> None:
        super().__init__(
            "RequestCancelled",
            f"Cancelled {what}; the ledger is consistent and a new run resumes where this one stopped.",
            recommended_action="Run the same command again to resume.",
        )
