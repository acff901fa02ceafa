# The engine client: one `groupid-upgrade serve` process per cmdlet pipeline (begin: start;
# process: one request per input or batch; end: engine.shutdown). JSON-RPC 2.0, one JSON object
# per line, UTF-8, over the process's stdin/stdout (spec/protocol.md). stderr carries only human
# diagnostics: it is read as it comes, on the same loop as stdout (Task.WaitAny over one pending
# read of each), so a flood on stderr can never block the engine, and memory stays bounded (only
# the last lines are kept). Nothing but fixed words goes on the command line.

function Start-GroupIDEngine {
    <#
    .SYNOPSIS
    Starts the engine with redirected, UTF-8 stdin/stdout/stderr and checks its protocol version.

    .EXAMPLE
    $engine = Start-GroupIDEngine -Cmdlet $PSCmdlet
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet
    )

    $found = Find-GroupIDEngine
    $utf8 = New-Object System.Text.UTF8Encoding -ArgumentList $false
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $found.FilePath
    $psi.Arguments = (@($found.Arguments) | ForEach-Object { if ($_ -match '\s') { '"' + $_ + '"' } else { $_ } }) -join ' '
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.CreateNoWindow = $true
    $psi.StandardOutputEncoding = $utf8
    $psi.StandardErrorEncoding = $utf8
    $psi.EnvironmentVariables['PYTHONIOENCODING'] = 'utf-8'
    $psi.EnvironmentVariables['PYTHONUTF8'] = '1'
    $location = $Cmdlet.SessionState.Path.CurrentFileSystemLocation
    if ($null -ne $location) { $psi.WorkingDirectory = $location.ProviderPath }

    $process = New-Object System.Diagnostics.Process
    $process.StartInfo = $psi
    try {
        [void]$process.Start()
    }
    catch {
        throw (New-GroupIDClientErrorRecord -ErrorId 'EngineStartFailed' -Target $found.FilePath `
                -Message "The GroupID upgrade engine '$($found.FilePath)' (from $($found.Source)) could not be started: $($_.Exception.Message)" `
                -RecommendedAction 'Check that the file is a python with the groupid-upgrade package, or groupid-upgrade itself, and that it can run.')
    }
    # StandardInput's own encoding cannot be set on Windows PowerShell 5.1: write UTF-8 (no BOM)
    # to the raw stream instead, and end lines with LF as the protocol says.
    $stdin = New-Object System.IO.StreamWriter -ArgumentList $process.StandardInput.BaseStream, $utf8
    $stdin.NewLine = "`n"
    $engine = @{
        Process      = $process
        Stdin        = $stdin
        Stdout       = $process.StandardOutput
        Stderr       = $process.StandardError
        StdoutTask   = $null
        StderrTask   = $null
        StderrClosed = $false
        StderrTail   = New-Object System.Collections.Generic.Queue[string]
        NextId       = 0
        Running      = $null
        Activities   = @{}
        ActivityBase = 0x4700
        Cmdlet       = $Cmdlet
        Source       = $found.Source
        FilePath     = $found.FilePath
        Quiet        = $false
        Closed       = $false
        Hello        = $null
        ExitCode     = $null
        RecordsWritten = 0
    }
    $response = Invoke-GroupIDEngineRequest -Engine $engine -Method 'engine.hello'
    if ($null -ne $response.Error) { $Cmdlet.ThrowTerminatingError($response.Error) }
    if ($response.Result.protocol -ne $script:Decisions.Protocol) {
        Stop-GroupIDEngine -Engine $engine
        throw (New-GroupIDClientErrorRecord -ErrorId 'EngineProtocolMismatch' -Target $found.FilePath `
                -Message "The engine at $($found.FilePath) speaks protocol $($response.Result.protocol); this module speaks $($script:Decisions.Protocol)." `
                -RecommendedAction 'Install the engine and the PowerShell module of the same release.')
    }
    $engine.Hello = $response.Result
    $engine
}

function Read-GroupIDEngineMessage {
    <#
    .SYNOPSIS
    The next protocol message from the engine's stdout, draining stderr meanwhile.

    .DESCRIPTION
    Returns the parsed message, or $null at the end of stdout or when -Deadline passes. Wakes every
    PollMilliseconds so Ctrl+C is noticed while the engine is quiet.

    .EXAMPLE
    $message = Read-GroupIDEngineMessage -Engine $engine
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Nullable[datetime]] $Deadline
    )

    if ($DebugPreference -eq 'Inquire') { $DebugPreference = 'Continue' }
    $poll = [int]$script:Decisions.PollMilliseconds
    while ($true) {
        if ($null -eq $Engine.StdoutTask) { $Engine.StdoutTask = $Engine.Stdout.ReadLineAsync() }
        if (-not $Engine.StderrClosed -and $null -eq $Engine.StderrTask) { $Engine.StderrTask = $Engine.Stderr.ReadLineAsync() }
        if ($Engine.StderrClosed) {
            [void]$Engine.StdoutTask.Wait($poll)
        }
        else {
            [void][System.Threading.Tasks.Task]::WaitAny([System.Threading.Tasks.Task[]]@($Engine.StdoutTask, $Engine.StderrTask), $poll)
        }
        # Drain every stderr line that is already there, before looking at stdout.
        while (-not $Engine.StderrClosed -and $Engine.StderrTask.IsCompleted) {
            $errorLine = $null
            if (-not $Engine.StderrTask.IsFaulted) { $errorLine = $Engine.StderrTask.Result }
            if ($null -eq $errorLine) {
                $Engine.StderrClosed = $true
                $Engine.StderrTask = $null
                break
            }
            $Engine.StderrTail.Enqueue($errorLine)
            while ($Engine.StderrTail.Count -gt [int]$script:Decisions.StderrTailLines) { [void]$Engine.StderrTail.Dequeue() }
            if (-not $Engine.Quiet -and $DebugPreference -ne 'SilentlyContinue') { $Engine.Cmdlet.WriteDebug("groupid-upgrade: $errorLine") }
            $Engine.StderrTask = $Engine.Stderr.ReadLineAsync()
        }
        if ($Engine.StdoutTask.IsCompleted) {
            $line = $null
            if (-not $Engine.StdoutTask.IsFaulted) { $line = $Engine.StdoutTask.Result }
            $Engine.StdoutTask = $null
            if ($null -eq $line) { return $null }
            if ($line.Trim().Length -eq 0) { continue }
            try {
                return (ConvertFrom-Json -InputObject $line)
            }
            catch {
                throw (New-GroupIDClientErrorRecord -ErrorId 'EngineOutputInvalid' -Target $Engine.FilePath `
                        -Message 'The engine wrote a line on stdout that is not JSON; stdout must carry protocol messages only.' `
                        -RecommendedAction 'Send the engine log to support.')
            }
        }
        if ($null -ne $Deadline -and [datetime]::UtcNow -gt $Deadline) { return $null }
    }
}

function Invoke-GroupIDEngineRequest {
    <#
    .SYNOPSIS
    Sends one request and dispatches what comes back until its answer.

    .DESCRIPTION
    $/progress goes to WriteProgress (nested by parentActivityId), $/log to the stream its level
    names, $/record to the stream and PSTypeName its type names (RecordTypes in the decisions
    table). Returns {Result; Error; ErrorId; Scope}: Error is an ErrorRecord built from the error
    object when the engine answered with one. The request is written in one line and the line is
    dropped right after; no parameter value is ever written to Verbose.

    .EXAMPLE
    $response = Invoke-GroupIDEngineRequest -Engine $engine -Method 'upgrade.plan' -Params @{ answerFile = 'C:\GroupID\answers.json' }
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [string] $Method,

        [System.Collections.IDictionary] $Params,

        [object] $Target
    )

    $Engine.NextId++
    $id = $Engine.NextId
    $request = [ordered]@{ jsonrpc = '2.0'; id = $id; method = $Method }
    if ($null -ne $Params) { $request['params'] = $Params }
    $line = ConvertTo-GroupIDEngineJson -InputObject $request
    try {
        $Engine.Stdin.Write($line)
        $Engine.Stdin.Write("`n")
        $Engine.Stdin.Flush()
    }
    catch {
        $line = $null
        Stop-GroupIDEngine -Engine $Engine
        throw (New-GroupIDEngineExitedError -Engine $Engine -Method $Method)
    }
    $line = $null
    $request = $null
    $Engine.Running = $id
    $Engine.Cmdlet.WriteVerbose("GroupIDUpgrade: $Method sent to the engine (request $id).")
    while ($true) {
        $message = Read-GroupIDEngineMessage -Engine $Engine
        if ($null -eq $message) {
            $Engine.Running = $null
            Stop-GroupIDEngine -Engine $Engine
            throw (New-GroupIDEngineExitedError -Engine $Engine -Method $Method)
        }
        if ($message.PSObject.Properties['method']) {
            Invoke-GroupIDNotification -Engine $Engine -Message $message
            continue
        }
        if (-not $message.PSObject.Properties['id'] -or [string]$message.id -ne [string]$id) { continue }
        $Engine.Running = $null
        if ($message.PSObject.Properties['error'] -and $null -ne $message.error) {
            $record = New-GroupIDErrorRecord -ErrorObject $message.error -DefaultTarget $Target
            $errorId = $record.FullyQualifiedErrorId.Split(',')[0]
            return [pscustomobject]@{ Result = $null; Error = $record; ErrorId = $errorId; Scope = (Get-GroupIDErrorScope -ErrorId $errorId) }
        }
        return [pscustomobject]@{ Result = $message.result; Error = $null; ErrorId = $null; Scope = $null }
    }
}

function Complete-GroupIDEngineResponse {
    <#
    .SYNOPSIS
    Returns a response's result, or raises its error: thrown when the request cannot go on (or
    -Terminating), written with WriteError when it concerns one input (Scope Item).

    .EXAMPLE
    $result = Complete-GroupIDEngineResponse -Engine $engine -Response $response -Terminating
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [pscustomobject] $Response,

        [switch] $Terminating
    )

    if ($null -eq $Response.Error) { return $Response.Result }
    if ($Terminating -or $Response.Scope -ne 'Item') {
        Stop-GroupIDEngine -Engine $Engine
        $Engine.Cmdlet.ThrowTerminatingError($Response.Error)
    }
    $Engine.Cmdlet.WriteError($Response.Error)
}

function Invoke-GroupIDNotification {
    <#
    .SYNOPSIS
    Dispatches one notification by the Notifications, LogLevels and RecordTypes tables.

    .EXAMPLE
    Invoke-GroupIDNotification -Engine $engine -Message $message
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [pscustomobject] $Message
    )

    $cmdlet = $Engine.Cmdlet
    $what = $script:Decisions.Notifications[[string]$Message.method]
    $params = $Message.params
    switch ($what) {
        'Progress' {
            $activityId = Get-GroupIDActivityId -Engine $Engine -Key ([string]$params.activityId)
            $activity = [string]$params.activity
            if ([string]::IsNullOrWhiteSpace($activity)) { $activity = [string]$params.activityId }
            $status = [string]$params.status
            if ([string]::IsNullOrWhiteSpace($status)) { $status = 'Working' }
            $progress = New-Object System.Management.Automation.ProgressRecord -ArgumentList $activityId, $activity, $status
            if ($params.PSObject.Properties['parentActivityId'] -and $params.parentActivityId) {
                $progress.ParentActivityId = Get-GroupIDActivityId -Engine $Engine -Key ([string]$params.parentActivityId)
            }
            if ($params.PSObject.Properties['percent'] -and $null -ne $params.percent) {
                $progress.PercentComplete = [Math]::Max(0, [Math]::Min(100, [int]$params.percent))
            }
            if ($params.PSObject.Properties['completed'] -and $params.completed) {
                $progress.RecordType = [System.Management.Automation.ProgressRecordType]::Completed
            }
            $cmdlet.WriteProgress($progress)
        }
        'Log' {
            $text = [string]$params.message
            switch ($script:Decisions.LogLevels[[string]$params.level]) {
                'Warning' { $cmdlet.WriteWarning($text) }
                'Information' { $cmdlet.WriteInformation($text, [string[]]@('GroupIDUpgrade')) }
                default { $cmdlet.WriteVerbose($text) }
            }
        }
        'Record' {
            Invoke-GroupIDRecord -Engine $Engine -Type ([string]$params.type) -Data $params.data
        }
        default {
            $cmdlet.WriteVerbose("GroupIDUpgrade: ignored the engine notification '$($Message.method)'.")
        }
    }
}

function Invoke-GroupIDRecord {
    <#
    .SYNOPSIS
    Turns one $/record into an object with its PSTypeName and writes it to the stream its type names.

    .EXAMPLE
    Invoke-GroupIDRecord -Engine $engine -Type 'ModuleResult' -Data $data
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [string] $Type,

        [AllowNull()]
        [object] $Data
    )

    $cmdlet = $Engine.Cmdlet
    $decision = $script:Decisions.RecordTypes[$Type]
    $typeName = "GroupIDUpgrade.$Type"
    $stream = 'Output'
    if ($null -ne $decision) {
        $typeName = $decision.TypeName
        $stream = $decision.Stream
    }
    if ($null -eq $Data) { $Data = [pscustomobject]@{} }
    $object = ConvertTo-GroupIDObject -InputObject $Data -TypeName $typeName
    $name = $null
    foreach ($candidate in 'name', 'identity', 'distinguishedName', 'part', 'unit', 'module') {
        if ($object.PSObject.Properties[$candidate] -and $object.$candidate) { $name = [string]$object.$candidate; break }
    }
    switch ($stream) {
        'WhatIf' {
            $action = 'Upgrade'
            if ($object.PSObject.Properties['action'] -and $object.action) { $action = [string]$object.action }
            [void]$cmdlet.ShouldProcess([string]$name, $action)
        }
        'Information' { $cmdlet.WriteInformation($object, [string[]]@('GroupIDUpgrade', $Type)) }
        'Warning' {
            $fields = foreach ($property in $object.PSObject.Properties) { "$($property.Name)=$($property.Value)" }
            $cmdlet.WriteWarning("${Type}: " + ($fields -join ', '))
        }
        'Error' { }
        default {
            $Engine.RecordsWritten++
            $cmdlet.WriteObject($object)
        }
    }
    if ($stream -ne 'WhatIf' -and $object.PSObject.Properties['status'] -and ([string]$object.status) -like 'Would*') {
        [void]$cmdlet.ShouldProcess([string]$name, [string]$object.status)
    }
    if ($object.PSObject.Properties['error'] -and $null -ne $object.error) {
        $cmdlet.WriteError((New-GroupIDErrorRecord -ErrorObject $object.error -DefaultTarget $name))
    }
}

function ConvertTo-GroupIDObject {
    <#
    .SYNOPSIS
    Puts a PSTypeName on an object from the engine (its Format.ps1xml view applies).

    .EXAMPLE
    ConvertTo-GroupIDObject -InputObject $data -TypeName 'GroupIDUpgrade.PlanItem'
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [object] $InputObject,

        [Parameter(Mandatory)]
        [string] $TypeName
    )

    $InputObject.PSObject.TypeNames.Insert(0, $TypeName)
    $InputObject
}

function Get-GroupIDActivityId {
    <#
    .SYNOPSIS
    A stable Write-Progress ActivityId for one of the engine's activity ids.

    .EXAMPLE
    Get-GroupIDActivityId -Engine $engine -Key 'history'
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [AllowEmptyString()]
        [string] $Key
    )

    if (-not $Engine.Activities.ContainsKey($Key)) { $Engine.Activities[$Key] = $Engine.ActivityBase + $Engine.Activities.Count + 1 }
    $Engine.Activities[$Key]
}

function New-GroupIDEngineExitedError {
    <#
    .SYNOPSIS
    EngineExited: the engine stopped answering; names its exit code and its last stderr lines.

    .EXAMPLE
    New-GroupIDEngineExitedError -Engine $engine -Method 'upgrade.run'
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [string] $Method
    )

    $exitCode = 'unknown'
    if ($null -ne $Engine.ExitCode) { $exitCode = $Engine.ExitCode }
    $tail = @($Engine.StderrTail) -join ' | '
    if (-not $tail) { $tail = '(nothing on stderr)' }
    New-GroupIDClientErrorRecord -ErrorId 'EngineExited' -Target $Engine.FilePath `
        -Message "The GroupID upgrade engine ended during $Method (exit code $exitCode). Its last diagnostics: $tail" `
        -RecommendedAction 'Look at the engine log named in the diagnostics; run the command again to resume.'
}

function Stop-GroupIDEngine {
    <#
    .SYNOPSIS
    Ends the engine: engine.shutdown normally; with -Cancel (Ctrl+C, a stopped pipeline, an
    error) $/cancelRequest for the running request, a short wait, then the process is killed.
    The process never outlives the cmdlet. Never writes to the pipeline (it runs in finally blocks
    of a stopping pipeline).

    .EXAMPLE
    Stop-GroupIDEngine -Engine $engine -Cancel
    #>
    [CmdletBinding()]
    param(
        [AllowNull()]
        [hashtable] $Engine,

        [switch] $Cancel
    )

    if ($null -eq $Engine -or $Engine.Closed) { return }
    $Engine.Closed = $true
    $Engine.Quiet = $true
    $process = $Engine.Process
    try {
        if (-not $process.HasExited) {
            $wait = [int]$script:Decisions.ShutdownWaitSeconds
            try {
                if ($Cancel -and $null -ne $Engine.Running) {
                    $wait = [int]$script:Decisions.CancelWaitSeconds
                    $Engine.Stdin.Write('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":' + $Engine.Running + '}}')
                    $Engine.Stdin.Write("`n")
                }
                elseif (-not $Cancel) {
                    $Engine.NextId++
                    $Engine.Stdin.Write('{"jsonrpc":"2.0","id":' + $Engine.NextId + ',"method":"engine.shutdown"}')
                    $Engine.Stdin.Write("`n")
                }
                $Engine.Stdin.Flush()
                # End of input: the engine finishes (or has cancelled) what runs, then exits.
                $Engine.Stdin.Close()
            }
            catch {
                # The engine is gone or its stdin is closed: nothing more to tell it.
                $null = $_
            }
            # Keep reading so the engine is never blocked writing while it winds down.
            $deadline = [datetime]::UtcNow.AddSeconds($wait)
            while (-not $process.HasExited -and [datetime]::UtcNow -lt $deadline) {
                $message = Read-GroupIDEngineMessage -Engine $Engine -Deadline $deadline
                if ($null -eq $message) { break }
            }
            if (-not $process.WaitForExit([Math]::Max(0, [int]($deadline - [datetime]::UtcNow).TotalMilliseconds))) {
                $process.Kill()
                [void]$process.WaitForExit(5000)
            }
        }
    }
    catch {
        try { if (-not $process.HasExited) { $process.Kill() } } catch { $null = $_ }
    }
    finally {
        try { if ($process.HasExited) { $Engine.ExitCode = $process.ExitCode } } catch { $null = $_ }
        $process.Dispose()
    }
}
