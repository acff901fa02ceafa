# The engine client's decisions, as data (issue 8). The module reads this file at import
# (Import-PowerShellDataFile); the Python tests read it too (tests/test_powershell_*.py), so
# what the client does with each notification, error and record is checked against the engine.
@{
    # Protocol version the client speaks (engine.hello's "protocol").
    Protocol          = 1

    # How the module finds the engine, in this order (first found wins). Documented in README.md.
    #   Env      : $env:GROUPID_UPGRADE_PYTHON, a python that has the groupid-upgrade package
    #   Beside   : a python next to the module (module folder, then its parent), venv layouts
    #   Path     : groupid-upgrade on PATH
    # A python runs isolated (-I: the current folder and PYTHON* variables never reach sys.path)
    # and in UTF-8 mode (-X utf8, which -I would otherwise take from PYTHONUTF8).
    EngineSearch      = @(
        @{ Kind = 'Env'; Name = 'GROUPID_UPGRADE_PYTHON'; Arguments = @('-I', '-X', 'utf8', '-m', 'groupid_upgrade', 'serve') }
        @{ Kind = 'Beside'; Paths = @('python\python.exe', '.venv\Scripts\python.exe', '.venv/bin/python', '..\.venv\Scripts\python.exe', '../.venv/bin/python'); Arguments = @('-I', '-X', 'utf8', '-m', 'groupid_upgrade', 'serve') }
        @{ Kind = 'Path'; Name = 'groupid-upgrade'; Arguments = @('serve') }
    )

    # Seconds to wait for the engine's own answer after $/cancelRequest (Ctrl+C, a stopped
    # pipeline) before it is killed: the engine stops between units, so this only bounds a unit
    # that hangs. After engine.shutdown, before it is killed. For engine.hello, before it is killed.
    CancelWaitSeconds   = 120
    ShutdownWaitSeconds = 10
    HelloTimeoutSeconds = 30
    # One engine per session: it ends by itself after this long without a request (engine.hello's
    # idleTimeoutSeconds), and is reused only when used less than half of it ago.
    # $env:GROUPID_UPGRADE_ENGINE_IDLE_SECONDS overrides it (1..86400).
    EngineIdleSeconds   = 600
    # How often (ms) the read loop wakes to notice Ctrl+C while the engine is quiet.
    PollMilliseconds    = 250
    # The engine's stderr (human diagnostics, never protocol): written to this stream, and the
    # last lines kept for the error when the engine exits unexpectedly.
    StderrStream        = 'Debug'
    StderrTailLines     = 20

    # Notification (engine to client) -> what the client does with it.
    Notifications     = @{
        '$/progress' = 'Progress'      # Write-Progress, nested by parentActivityId
        '$/log'      = 'Log'           # by level, see LogLevels
        '$/record'   = 'Record'        # by type, see RecordTypes
    }

    # $/log level -> PowerShell stream.
    LogLevels         = @{
        verbose     = 'Verbose'
        information = 'Information'
        warning     = 'Warning'
    }

    # $/record type -> PSTypeName of the object and the stream it goes to:
    #   Output      : written to the pipeline
    #   WhatIf      : shown through ShouldProcess ("What if: <action> on target <name>"), not output
    #   Information : Write-Information (the object as message data)
    #   Warning     : Write-Warning with the record's text
    #   Error       : a non-terminating ErrorRecord built from the record's error object
    # A record whose data holds an error object is written as one non-terminating ErrorRecord
    # (TargetObject: the record's object) and nowhere else; one whose status starts with Would (WouldUpgrade, WouldBackUp...) is also shown through ShouldProcess.
    # Modules go to the information stream as they finish: Invoke-GroupIDUpgrade's output is one
    # RunResult (Status, Modules) at the end, so `if ($result.Status -ne 'Succeeded')` works.
    # Backup parts go to the information stream so that Backup-GroupIDData writes one object, the
    # set's manifest, and pipes straight into Test-GroupIDBackup and Restore-GroupIDData.
    # A type not listed here is written to the pipeline as GroupIDUpgrade.<type>.
    RecordTypes       = @{
        ModuleResult           = @{ TypeName = 'GroupIDUpgrade.ModuleResult'; Stream = 'Information' }
        UnitFailed             = @{ TypeName = 'GroupIDUpgrade.UnitFailure'; Stream = 'Error' }
        WhatIf                 = @{ TypeName = 'GroupIDUpgrade.WhatIfItem'; Stream = 'WhatIf' }
        HistoryCounts          = @{ TypeName = 'GroupIDUpgrade.HistoryCounts'; Stream = 'Information' }
        HistoryDocumentRefused = @{ TypeName = 'GroupIDUpgrade.HistoryDocumentRefused'; Stream = 'Warning' }
        GroupUpgrade           = @{ TypeName = 'GroupIDUpgrade.GroupResult'; Stream = 'Output' }
        GroupHistory           = @{ TypeName = 'GroupIDUpgrade.GroupHistory'; Stream = 'Information' }
        backupPart             = @{ TypeName = 'GroupIDUpgrade.BackupPart'; Stream = 'Information' }
        restorePart            = @{ TypeName = 'GroupIDUpgrade.RestorePart'; Stream = 'Output' }
    }

    # PSTypeNames of the objects the cmdlets build from results (Format.ps1xml has their views).
    ResultTypes       = @{
        Plan           = 'GroupIDUpgrade.Plan'
        PlanItem       = 'GroupIDUpgrade.PlanItem'
        PlanQuestion   = 'GroupIDUpgrade.PlanQuestion'
        PlanWarning    = 'GroupIDUpgrade.PlanWarning'
        RunResult      = 'GroupIDUpgrade.RunResult'
        GroupSummary   = 'GroupIDUpgrade.GroupSummary'
        BackupManifest = 'GroupIDUpgrade.BackupManifest'
        VerifyReport   = 'GroupIDUpgrade.VerifyReport'
        RestoreReport  = 'GroupIDUpgrade.RestoreReport'
    }

    # The engine's "category" -> [System.Management.Automation.ErrorCategory]. The engine already
    # names ErrorCategory members; a category not listed becomes NotSpecified.
    Categories        = @{
        NotSpecified        = 'NotSpecified'
        InvalidArgument     = 'InvalidArgument'
        InvalidData         = 'InvalidData'
        InvalidOperation    = 'InvalidOperation'
        InvalidResult       = 'InvalidResult'
        ObjectNotFound      = 'ObjectNotFound'
        OperationStopped    = 'OperationStopped'
        ParserError         = 'ParserError'
        PermissionDenied    = 'PermissionDenied'
        ResourceBusy        = 'ResourceBusy'
        ResourceUnavailable = 'ResourceUnavailable'
        ReadError           = 'ReadError'
        WriteError          = 'WriteError'
        SecurityError       = 'SecurityError'
        ConnectionError     = 'ConnectionError'
        AuthenticationError = 'AuthenticationError'
        LimitsExceeded      = 'LimitsExceeded'
        NotImplemented      = 'NotImplemented'
        OperationTimeout    = 'OperationTimeout'
        ProtocolError       = 'ProtocolError'
    }

    # Every errorId the engine can emit (errors.CATALOG): its category (used when an error object
    # comes without one) and its scope:
    #   Request : the request cannot go on; the cmdlet throws (ThrowTerminatingError)
    #   Item    : concerns one input (a group, a set, a part); written with WriteError, the pipeline goes on
    # An errorId not listed is treated as Request with the engine's category.
    ErrorIds          = @{
        ParseError                     = @{ Category = 'ParserError'; Scope = 'Request' }
        InvalidRequest                 = @{ Category = 'InvalidData'; Scope = 'Request' }
        RequestTooLarge                = @{ Category = 'LimitsExceeded'; Scope = 'Request' }
        MethodNotFound                 = @{ Category = 'NotImplemented'; Scope = 'Request' }
        InvalidParams                  = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        AnswerFileInvalid              = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        AnswerFileNotFound             = @{ Category = 'ObjectNotFound'; Scope = 'Request' }
        RequestCancelled               = @{ Category = 'OperationStopped'; Scope = 'Request' }
        InternalError                  = @{ Category = 'NotSpecified'; Scope = 'Request' }
        SourceVersionUnsupported       = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        TargetVersionUnsupported       = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        UpgradePathUnsupported         = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        ModuleUnknown                  = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        ModuleDependencyMissing        = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        SourceFolderNotFound           = @{ Category = 'ObjectNotFound'; Scope = 'Request' }
        DatabaseUnreadable             = @{ Category = 'ReadError'; Scope = 'Request' }
        DatabaseConnectionFailed       = @{ Category = 'ConnectionError'; Scope = 'Request' }
        DatabaseSchemaUnknown          = @{ Category = 'InvalidData'; Scope = 'Request' }
        TargetWriteFailed              = @{ Category = 'WriteError'; Scope = 'Request' }
        TargetLocked                   = @{ Category = 'ResourceBusy'; Scope = 'Request' }
        TargetInUse                    = @{ Category = 'ResourceBusy'; Scope = 'Request' }
        SourceFileUnreadable           = @{ Category = 'ReadError'; Scope = 'Item' }
        DtmConfigInvalid               = @{ Category = 'InvalidData'; Scope = 'Item' }
        XmlEntitiesForbidden           = @{ Category = 'SecurityError'; Scope = 'Item' }
        ConnectionStringInvalid        = @{ Category = 'InvalidData'; Scope = 'Item' }
        DestinationUnparseable         = @{ Category = 'InvalidData'; Scope = 'Item' }
        SecretsFileInvalid             = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        QuestionsOpen                  = @{ Category = 'InvalidOperation'; Scope = 'Request' }
        PrerequisiteNotMet             = @{ Category = 'InvalidOperation'; Scope = 'Request' }
        AnswerInvalid                  = @{ Category = 'InvalidArgument'; Scope = 'Item' }
        PassphraseInvalid              = @{ Category = 'AuthenticationError'; Scope = 'Request' }
        PassphraseMissing              = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        PfxPasswordInvalid             = @{ Category = 'AuthenticationError'; Scope = 'Item' }
        PfxHasNoPrivateKey             = @{ Category = 'InvalidData'; Scope = 'Item' }
        CertificateExpired             = @{ Category = 'InvalidData'; Scope = 'Item' }
        CertificateNotYetValid         = @{ Category = 'InvalidData'; Scope = 'Item' }
        PfxUnreadable                  = @{ Category = 'ReadError'; Scope = 'Item' }
        TokenRequestRefused            = @{ Category = 'AuthenticationError'; Scope = 'Item' }
        TokenEndpointUnreachable       = @{ Category = 'ConnectionError'; Scope = 'Request' }
        DirectoryUnreachable           = @{ Category = 'ConnectionError'; Scope = 'Request' }
        DirectoryBindRefused           = @{ Category = 'AuthenticationError'; Scope = 'Request' }
        DirectoryCertificateInvalid    = @{ Category = 'SecurityError'; Scope = 'Request' }
        DirectoryOperationFailed       = @{ Category = 'InvalidOperation'; Scope = 'Item' }
        DirectoryNotConfigured         = @{ Category = 'ObjectNotFound'; Scope = 'Request' }
        ServiceAccountCannotReadForest = @{ Category = 'PermissionDenied'; Scope = 'Request' }
        SearchUnreachable              = @{ Category = 'ConnectionError'; Scope = 'Request' }
        SearchOperationFailed          = @{ Category = 'InvalidOperation'; Scope = 'Request' }
        SnapshotRepositoryInvalid      = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        SearchCredentialsRefused       = @{ Category = 'AuthenticationError'; Scope = 'Request' }
        HistoryCountMismatch           = @{ Category = 'InvalidResult'; Scope = 'Item' }
        GroupNotFound                  = @{ Category = 'ObjectNotFound'; Scope = 'Item' }
        GroupIdentityAmbiguous         = @{ Category = 'InvalidArgument'; Scope = 'Item' }
        GroupTypeUnsupported           = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        DynastyMemberAlone             = @{ Category = 'InvalidOperation'; Scope = 'Item' }
        SearchScopeMismatch            = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        GroupChangedConcurrently       = @{ Category = 'InvalidOperation'; Scope = 'Item' }
        GroupDefinitionInvalid         = @{ Category = 'InvalidData'; Scope = 'Item' }
        IdentityStoreNotFound          = @{ Category = 'ObjectNotFound'; Scope = 'Request' }
        BackupDestinationInvalid       = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        BackupSetInvalid               = @{ Category = 'InvalidData'; Scope = 'Item' }
        RestoreWouldOverwrite          = @{ Category = 'InvalidOperation'; Scope = 'Item' }
        UnsafePath                     = @{ Category = 'SecurityError'; Scope = 'Item' }
        BackupPartUnknown              = @{ Category = 'InvalidArgument'; Scope = 'Request' }
        BackupPartUnavailable          = @{ Category = 'ObjectNotFound'; Scope = 'Item' }
        ElasticsearchRunning           = @{ Category = 'ResourceBusy'; Scope = 'Request' }
        OutputPathInvalid              = @{ Category = 'InvalidArgument'; Scope = 'Request' }
    }

    # Errors the client itself raises (no engine involved, or the engine misbehaved).
    ClientErrors      = @{
        EngineNotFound        = @{ Category = 'ObjectNotFound'; Scope = 'Request' }
        EngineStartFailed     = @{ Category = 'ResourceUnavailable'; Scope = 'Request' }
        EngineExited          = @{ Category = 'ResourceUnavailable'; Scope = 'Request' }
        EngineProtocolMismatch = @{ Category = 'ProtocolError'; Scope = 'Request' }
        EngineOutputInvalid   = @{ Category = 'ProtocolError'; Scope = 'Request' }
        SecretTypeInvalid     = @{ Category = 'InvalidArgument'; Scope = 'Request' }
    }

    # Parameters that name a path: resolved against PowerShell's current location (which is not
    # the engine's working folder) before they are sent.
    PathParameters    = @('AnswerFile', 'Destination', 'Path', 'To')
    # Fields of a -Secret answer that name a file: resolved against PowerShell's current location
    # too, like every path given to a cmdlet (paths inside a file resolve against that file's folder).
    SecretPathFields  = @('pfxFile', 'caFile', 'path')

    # Cmdlet -> engine method. Every parameter a cmdlet declares is sent as the camelCase field of
    # the same name, except:
    #   PowerShellOnly : parameters the engine never sees (they shape what PowerShell does)
    #   Settings       : parameters sent inside "settings" (the answer file's object, inline) at
    #                    the given dotted path, so secrets travel only in the request on stdin
    #   WhatIf         : Engine = -WhatIf is sent as "whatIf" (only the engine knows what would be
    #                    done); Client = ShouldProcess in PowerShell, nothing is sent; None = reads only
    Cmdlets           = @{
        'Invoke-GroupIDUpgrade'   = @{
            Method         = 'upgrade.run'
            WhatIf         = 'Engine'
            PowerShellOnly = @()
            Settings       = @{ SourcePassphrase = 'source.passphrase'; TargetPassphrase = 'target.passphrase'; Secret = 'answers' }
        }
        'Get-GroupIDUpgradePlan'  = @{
            Method         = 'upgrade.plan'
            WhatIf         = 'None'
            PowerShellOnly = @()
            Settings       = @{ SourcePassphrase = 'source.passphrase'; TargetPassphrase = 'target.passphrase'; Secret = 'answers' }
        }
        'Update-GroupIDGroup'     = @{
            Method         = 'group.upgrade'
            WhatIf         = 'Engine'
            PowerShellOnly = @('BatchSize')
            Settings       = @{}
        }
        'Backup-GroupIDData'      = @{
            Method         = 'backup.create'
            WhatIf         = 'Engine'
            PowerShellOnly = @()
            Settings       = @{}
        }
        'Test-GroupIDBackup'      = @{
            Method         = 'backup.verify'
            WhatIf         = 'None'
            PowerShellOnly = @('Quiet')
            Settings       = @{}
        }
        'Restore-GroupIDData'     = @{
            Method         = 'backup.restore'
            WhatIf         = 'Engine'
            PowerShellOnly = @()
            Settings       = @{}
        }
    }
}
