# Who owns the engine, and the one request skeleton every cmdlet uses.
#
# One engine per session (per runspace that imported the module): started on the first cmdlet
# call, reused by later calls while the same engine is found and it was used less than half its
# idle time ago, ended when the module is removed, when the host exits, and by the engine itself
# after IdleSeconds without a request (or when its stdin closes: the host died). A dead one is
# replaced on the next call. A call made while the session's engine is busy (a cmdlet of this
# module downstream of another in one pipeline) gets a dedicated engine for that one request.
#
# A stopped pipeline (Ctrl+C, a runspace's Stop(), an exception downstream) cancels the running
# request and waits for the engine's own answer, so the engine stops at a point where the ledger
# is consistent; only an engine that does not answer within CancelWaitSeconds is killed.

function Invoke-GroupIDCommand {
    <#
    .SYNOPSIS
    Sends one cmdlet's request to the session's engine and returns the engine's answer.

    .DESCRIPTION
    Builds the request from the bound parameters (New-GroupIDEngineRequest), takes an engine
    (Get-GroupIDEngine), sends the request and dispatches its notifications to -Cmdlet. Errors:
    -OnError Terminating throws every engine error from the cmdlet; Item writes an error that
    concerns one input (Scope Item) and returns $null, throwing the others; Return hands the
    response back ({Result; Error; ErrorId; Scope}) for the cmdlet to decide.

    .EXAMPLE
    $plan = Invoke-GroupIDCommand -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Target $AnswerFile
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $BoundParameters,

        [System.Collections.IDictionary] $Override,

        [bool] $EngineWhatIf,

        [object] $Target,

        [ValidateSet('Terminating', 'Item', 'Return')]
        [string] $OnError = 'Terminating'
    )

    $request = New-GroupIDEngineRequest -Cmdlet $Cmdlet -BoundParameters $BoundParameters -Override $Override -EngineWhatIf $EngineWhatIf
    $engine = $null
    $answered = $false
    try {
        $engine = Get-GroupIDEngine -Cmdlet $Cmdlet
        $engine.Busy = $true
        $response = Invoke-GroupIDEngineRequest -Engine $engine -Method $request.Method -Params $request.Params -Target $Target
        $answered = $true
    }
    finally {
        $request = $null
        if ($null -ne $engine) {
            if (-not $answered -and $null -ne $engine.Running) { Stop-GroupIDEngineRequest -Engine $engine }
            $engine.Busy = $false
            $engine.LastUsed = [datetime]::UtcNow
            if ($engine.Dedicated) { Stop-GroupIDEngine -Engine $engine }
        }
    }
    if ($OnError -eq 'Return' -or $null -eq $response.Error) {
        if ($OnError -eq 'Return') { return $response }
        return $response.Result
    }
    if ($OnError -eq 'Item' -and $response.Scope -eq 'Item') {
        $Cmdlet.WriteError($response.Error)
        return $null
    }
    $Cmdlet.ThrowTerminatingError($response.Error)
}

function Get-GroupIDEngine {
    <#
    .SYNOPSIS
    The engine for one request: the session's (started or replaced as needed), or a dedicated one when the session's is busy.

    .EXAMPLE
    $engine = Get-GroupIDEngine -Cmdlet $PSCmdlet
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet
    )

    $found = Find-GroupIDEngine -Cmdlet $Cmdlet
    $session = $script:SessionEngine
    if ($null -ne $session -and $session.Busy) {
        $dedicated = Start-GroupIDEngine -Cmdlet $Cmdlet -Found $found
        $dedicated.Dedicated = $true
        return $dedicated
    }
    if ($null -ne $session) {
        $reusable = (-not $session.Closed) -and (-not $session.Process.HasExited) -and ($session.Key -eq $found.Key) -and
            (([datetime]::UtcNow - $session.LastUsed).TotalSeconds -lt ($session.IdleSeconds / 2))
        if ($reusable) {
            $session.Cmdlet = $Cmdlet
            $session.Quiet = $false
            return $session
        }
        $script:SessionEngine = $null
        Stop-GroupIDEngine -Engine $session
    }
    $script:SessionEngine = Start-GroupIDEngine -Cmdlet $Cmdlet -Found $found
    $script:SessionEngine
}

function Stop-GroupIDEngineRequest {
    <#
    .SYNOPSIS
    Cancels the engine's running request and waits for the engine's own answer to it.

    .DESCRIPTION
    Sends $/cancelRequest, then reads (without dispatching: the pipeline is stopping) until the
    answer to the running request comes, the engine exits, or CancelWaitSeconds pass; only then is
    the engine killed. How it stopped is kept in the module's LastStop and told to the host as a
    warning line where the host still takes one.

    .EXAMPLE
    Stop-GroupIDEngineRequest -Engine $engine
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine
    )

    $id = $Engine.Running
    $method = $Engine.RunningMethod
    $Engine.Quiet = $true
    $started = [datetime]::UtcNow
    $outcome = 'EngineExited'
    $errorId = $null
    $waitSeconds = 0
    if (Send-GroupIDEngineLine -Engine $Engine -Line ('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":' + $id + '}}')) {
        $waitSeconds = Get-GroupIDWaitSeconds -Name 'CancelWaitSeconds'
        $deadline = $started.AddSeconds($waitSeconds)
        $outcome = 'Killed'
        while ($true) {
            $message = Read-GroupIDEngineMessage -Engine $Engine -Deadline $deadline
            if ($null -eq $message) {
                if ($Engine.Process.HasExited) { $outcome = 'EngineExited' }
                break
            }
            if ($message.PSObject.Properties['id'] -and [string]$message.id -eq [string]$id -and -not $message.PSObject.Properties['method']) {
                if ($message.PSObject.Properties['error'] -and $null -ne $message.error) {
                    $outcome = 'Cancelled'
                    if ($message.error.PSObject.Properties['data'] -and $message.error.data) { $errorId = [string]$message.error.data.errorId }
                }
                else {
                    $outcome = 'Finished'
                }
                break
            }
        }
    }
    $Engine.Running = $null
    $Engine.RunningMethod = $null
    if ($outcome -ne 'Cancelled' -and $outcome -ne 'Finished') {
        # The engine did not answer: it is ended, and the next call starts a new one. Its ledger
        # commits unit by unit, so the next run resumes after the last unit that committed.
        Stop-GroupIDEngine -Engine $Engine -Kill
        if ($script:SessionEngine -eq $Engine) { $script:SessionEngine = $null }
    }
    $seconds = [Math]::Round(([datetime]::UtcNow - $started).TotalSeconds, 1)
    $text = switch ($outcome) {
        'Cancelled' { "$method was stopped: the engine cancelled it at a safe point after $seconds s; run the command again to resume where it stopped." }
        'Finished' { "$method was stopped, but the engine had already finished it; its result was not shown." }
        'Killed' { "$method was stopped: the engine did not answer the cancel within $waitSeconds s and was ended; run the command again to resume after the last committed unit." }
        default { "$method was stopped: the engine had already exited ($(Get-GroupIDEngineStderrTail -Engine $Engine))." }
    }
    $script:LastStop = [pscustomobject]@{
        PSTypeName = 'GroupIDUpgrade.EngineStop'
        Method     = $method
        RequestId  = $id
        Outcome    = $outcome
        ErrorId    = $errorId
        Seconds    = $seconds
        ProcessId  = $Engine.ProcessId
        Message    = $text
    }
    try { $Host.UI.WriteWarningLine("GroupIDUpgrade: $text") } catch { $null = $_ }
}

function Stop-GroupIDSessionEngine {
    <#
    .SYNOPSIS
    Ends the session's engine (module removed, host exiting).

    .EXAMPLE
    Stop-GroupIDSessionEngine
    #>
    [CmdletBinding()]
    param()

    $session = $script:SessionEngine
    $script:SessionEngine = $null
    if ($null -eq $session) { return }
    if ($null -ne $session.Running) { Stop-GroupIDEngineRequest -Engine $session }
    Stop-GroupIDEngine -Engine $session
}
