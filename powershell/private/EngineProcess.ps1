# The engine process: start, handshake, read, stop. JSON-RPC 2.0, one JSON object per line, UTF-8,
# over the process's stdin/stdout (docs/protocol.md). stderr carries only human diagnostics: it is
# read as it comes, on the same loop as stdout (Task.WaitAny over one pending read of each), so a
# flood on stderr can never block the engine, and memory stays bounded (only the last lines are
# kept). Nothing but fixed words goes on the command line. Who owns a process, and for how long,
# is EngineSession.ps1's business.

function Start-GroupIDEngine {
    <#
    .SYNOPSIS
    Starts the engine with redirected, UTF-8 stdin/stdout/stderr and checks its protocol version.

    .DESCRIPTION
    Python runs isolated (-I: neither the current folder nor PYTHON* variables reach its sys.path,
    so a json.py in the caller's folder is never imported by a process that receives secrets), in
    the module's own folder. engine.hello must answer within HelloTimeoutSeconds, and asks the
    engine to end by itself after IdleSeconds without a request (the backstop of the session's
    engine, EngineSession.ps1).

    .EXAMPLE
    $engine = Start-GroupIDEngine -Cmdlet $PSCmdlet -Found (Find-GroupIDEngine -Cmdlet $PSCmdlet)
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [pscustomobject] $Found
    )

    $utf8 = New-Object System.Text.UTF8Encoding -ArgumentList $false
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $Found.FilePath
    $psi.Arguments = (@($Found.Arguments) | ForEach-Object { if ($_ -match '\s') { '"' + $_ + '"' } else { $_ } }) -join ' '
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.CreateNoWindow = $true
    $psi.StandardOutputEncoding = $utf8
    $psi.StandardErrorEncoding = $utf8
    # For the groupid-upgrade launcher, which is not started with -X utf8.
    $psi.EnvironmentVariables['PYTHONIOENCODING'] = 'utf-8'
    $psi.EnvironmentVariables['PYTHONUTF8'] = '1'
    # Never the caller's folder: what the engine reads is named by absolute paths.
    $psi.WorkingDirectory = $script:ModuleRoot

    $process = New-Object System.Diagnostics.Process
    $process.StartInfo = $psi
    try {
        [void]$process.Start()
    }
    catch {
        $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineStartFailed' -Target $Found.FilePath `
                    -Message "The GroupID upgrade engine '$($Found.FilePath)' (from $($Found.Source)) could not be started: $($_.Exception.Message)" `
                    -RecommendedAction 'Check that the file is a python with the groupid-upgrade package, or groupid-upgrade itself, and that it can run.'))
    }
    # StandardInput's own encoding cannot be set on Windows PowerShell 5.1: write UTF-8 (no BOM)
    # to the raw stream instead, and end lines with LF as the protocol says.
    $stdin = New-Object System.IO.StreamWriter -ArgumentList $process.StandardInput.BaseStream, $utf8
    $stdin.NewLine = "`n"
    $engine = @{
        Process        = $process
        ProcessId      = $process.Id
        Stdin          = $stdin
        Stdout         = $process.StandardOutput
        Stderr         = $process.StandardError
        StdoutTask     = $null
        StderrTask     = $null
        StderrClosed   = $false
        StderrTail     = New-Object System.Collections.Generic.Queue[string]
        NextId         = 0
        Running        = $null
        RunningMethod  = $null
        Activities     = @{}
        ActivityBase   = 0x4700
        Cmdlet         = $Cmdlet
        Source         = $Found.Source
        FilePath       = $Found.FilePath
        Key            = $Found.Key
        Quiet          = $false
        Closed         = $false
        Hello          = $null
        ExitCode       = $null
        Busy           = $false
        Dedicated      = $false
        Started        = [datetime]::UtcNow
        LastUsed       = [datetime]::UtcNow
        IdleSeconds    = (Get-GroupIDWaitSeconds -Name 'EngineIdleSeconds')
    }
    $hello = [ordered]@{ idleTimeoutSeconds = $engine.IdleSeconds }
    $helloSeconds = Get-GroupIDWaitSeconds -Name 'HelloTimeoutSeconds'
    $deadline = [datetime]::UtcNow.AddSeconds($helloSeconds)
    $response = Invoke-GroupIDEngineRequest -Engine $engine -Method 'engine.hello' -Params $hello -Deadline $deadline
    if ($null -eq $response) {
        Stop-GroupIDEngine -Engine $engine -Kill
        $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineStartFailed' -Target $Found.FilePath `
                    -Message "The GroupID upgrade engine '$($Found.FilePath)' (from $($Found.Source)) did not answer engine.hello within $helloSeconds s. Its last diagnostics: $(Get-GroupIDEngineStderrTail -Engine $engine)" `
                    -RecommendedAction 'Run the engine by hand (python -m groupid_upgrade serve) to see why it does not start, or point $env:GROUPID_UPGRADE_PYTHON at a python that has the package.'))
    }
    if ($null -ne $response.Error) {
        Stop-GroupIDEngine -Engine $engine -Kill
        $Cmdlet.ThrowTerminatingError($response.Error)
    }
    if ($response.Result.protocol -ne $script:Decisions.Protocol) {
        Stop-GroupIDEngine -Engine $engine
        $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineProtocolMismatch' -Target $Found.FilePath `
                    -Message "The engine at $($Found.FilePath) speaks protocol $($response.Result.protocol); this module speaks $($script:Decisions.Protocol)." `
                    -RecommendedAction 'Install the engine and the PowerShell module of the same release.'))
    }
    $engine.Hello = $response.Result
    $script:EnginesStarted.Add($engine.ProcessId)
    $engine
}

function Get-GroupIDWaitSeconds {
    <#
    .SYNOPSIS
    One of the client's waits, in seconds: the environment variable that overrides it (a whole number, 1..86400), else the decisions table's value.

    .DESCRIPTION
    EngineIdleSeconds ($env:GROUPID_UPGRADE_ENGINE_IDLE_SECONDS), HelloTimeoutSeconds
    ($env:GROUPID_UPGRADE_HELLO_TIMEOUT_SECONDS), CancelWaitSeconds
    ($env:GROUPID_UPGRADE_CANCEL_WAIT_SECONDS).

    .EXAMPLE
    Get-GroupIDWaitSeconds -Name 'EngineIdleSeconds'
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param(
        [Parameter(Mandatory)]
        [ValidateSet('EngineIdleSeconds', 'HelloTimeoutSeconds', 'CancelWaitSeconds')]
        [string] $Name
    )

    $variable = 'GROUPID_UPGRADE_' + (($Name -creplace '([a-z])([A-Z])', '$1_$2').ToUpperInvariant())
    $value = [Environment]::GetEnvironmentVariable($variable)
    $seconds = 0
    if ($value -and [int]::TryParse($value, [ref]$seconds) -and $seconds -ge 1 -and $seconds -le 86400) { return $seconds }
    [int]$script:Decisions[$Name]
}

function Read-GroupIDEngineMessage {
    <#
    .SYNOPSIS
    The next protocol message from the engine's stdout, draining stderr meanwhile.

    .DESCRIPTION
    Returns the parsed message, or $null at the end of stdout or when -Deadline passes. Wakes every
    PollMilliseconds so Ctrl+C is noticed while the engine is quiet. At the end of stdout it reads
    stderr to its end too (a few seconds at most), so the last diagnostics of an engine that exited
    are in the error that says so.

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
        Receive-GroupIDEngineStderr -Engine $Engine
        if ($Engine.StdoutTask.IsCompleted) {
            $line = $null
            if (-not $Engine.StdoutTask.IsFaulted) { $line = $Engine.StdoutTask.Result }
            $Engine.StdoutTask = $null
            if ($null -eq $line) {
                $until = [datetime]::UtcNow.AddSeconds(3)
                while (-not $Engine.StderrClosed -and [datetime]::UtcNow -lt $until) {
                    [void]$Engine.StderrTask.Wait($poll)
                    Receive-GroupIDEngineStderr -Engine $Engine
                }
                return $null
            }
            if ($line.Trim().Length -eq 0) { continue }
            try {
                return (ConvertFrom-Json -InputObject $line)
            }
            catch {
                # An engine that breaks the protocol is not asked anything more: it is ended now.
                $Engine.Running = $null
                Stop-GroupIDEngine -Engine $Engine -Kill
                $Engine.Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineOutputInvalid' -Target $Engine.FilePath `
                            -Message 'The engine wrote a line on stdout that is not JSON; stdout must carry protocol messages only.' `
                            -RecommendedAction 'Send the engine log to support.'))
            }
        }
        if ($null -ne $Deadline -and [datetime]::UtcNow -gt $Deadline) { return $null }
    }
}

function Receive-GroupIDEngineStderr {
    <#
    .SYNOPSIS
    Takes every stderr line that is already there: kept in the tail, and written as Debug.

    .DESCRIPTION
    Debug lines are written with Write-Debug at Continue whatever the caller's preference beyond
    SilentlyContinue: on Windows PowerShell 5.1 -Debug means Inquire, which would prompt for every
    line the engine writes.

    .EXAMPLE
    Receive-GroupIDEngineStderr -Engine $engine
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine
    )

    $show = (-not $Engine.Quiet) -and ($DebugPreference -ne 'SilentlyContinue') -and ($DebugPreference -ne 'Ignore')
    $DebugPreference = 'Continue'
    while (-not $Engine.StderrClosed -and $null -ne $Engine.StderrTask -and $Engine.StderrTask.IsCompleted) {
        $errorLine = $null
        if (-not $Engine.StderrTask.IsFaulted) { $errorLine = $Engine.StderrTask.Result }
        if ($null -eq $errorLine) {
            $Engine.StderrClosed = $true
            $Engine.StderrTask = $null
            break
        }
        $Engine.StderrTail.Enqueue($errorLine)
        while ($Engine.StderrTail.Count -gt [int]$script:Decisions.StderrTailLines) { [void]$Engine.StderrTail.Dequeue() }
        if ($show) { Write-Debug -Message "groupid-upgrade: $errorLine" }
        $Engine.StderrTask = $Engine.Stderr.ReadLineAsync()
    }
}

function Get-GroupIDEngineStderrTail {
    <#
    .SYNOPSIS
    The engine's last stderr lines as one string, for an error message.

    .EXAMPLE
    Get-GroupIDEngineStderrTail -Engine $engine
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine
    )

    $tail = @($Engine.StderrTail) -join ' | '
    if (-not $tail) { $tail = '(nothing on stderr)' }
    $tail
}

function Send-GroupIDEngineLine {
    <#
    .SYNOPSIS
    Writes one protocol line to the engine's stdin; $false when the engine no longer reads it.

    .EXAMPLE
    Send-GroupIDEngineLine -Engine $engine -Line '{"jsonrpc":"2.0","id":9,"method":"engine.shutdown"}'
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [string] $Line
    )

    try {
        $Engine.Stdin.Write($Line)
        $Engine.Stdin.Write("`n")
        $Engine.Stdin.Flush()
        return $true
    }
    catch {
        return $false
    }
}

function Stop-GroupIDEngine {
    <#
    .SYNOPSIS
    Ends an engine process: engine.shutdown and end of input, a bounded wait, then a kill.

    .DESCRIPTION
    Used with nothing running (a running request is first stopped by Stop-GroupIDEngineRequest).
    -Kill skips the shutdown (an engine that never answered its handshake). Never writes to the
    pipeline: it runs in finally blocks of stopping pipelines and in the module's OnRemove.

    .EXAMPLE
    Stop-GroupIDEngine -Engine $engine
    #>
    [CmdletBinding()]
    param(
        [AllowNull()]
        [hashtable] $Engine,

        [switch] $Kill
    )

    if ($null -eq $Engine -or $Engine.Closed) { return }
    $Engine.Closed = $true
    $Engine.Quiet = $true
    $process = $Engine.Process
    if ($null -eq $process) { return }
    try {
        if (-not $process.HasExited -and -not $Kill) {
            $Engine.NextId++
            [void](Send-GroupIDEngineLine -Engine $Engine -Line ('{"jsonrpc":"2.0","id":' + $Engine.NextId + ',"method":"engine.shutdown"}'))
            try { $Engine.Stdin.Close() } catch { $null = $_ }
            # Keep reading so the engine is never blocked writing while it winds down.
            $deadline = [datetime]::UtcNow.AddSeconds([int]$script:Decisions.ShutdownWaitSeconds)
            while (-not $process.HasExited -and [datetime]::UtcNow -lt $deadline) {
                $message = Read-GroupIDEngineMessage -Engine $Engine -Deadline $deadline
                if ($null -eq $message) { break }
            }
            [void]$process.WaitForExit([Math]::Max(0, [int]($deadline - [datetime]::UtcNow).TotalMilliseconds))
        }
        if (-not $process.HasExited) {
            $process.Kill()
            [void]$process.WaitForExit(5000)
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
