# Requests and what comes back: one request at a time on an engine (EngineProcess.ps1 runs the
# process, EngineSession.ps1 owns it), its notifications dispatched to the calling cmdlet's streams
# by the decisions table, its answer returned as {Result; Error; ErrorId; Scope}.

function Invoke-GroupIDEngineRequest {
    <#
    .SYNOPSIS
    Sends one request and dispatches what comes back until its answer.

    .DESCRIPTION
    $/progress goes to WriteProgress (nested by parentActivityId), $/log to the stream its level
    names, $/record to the stream and PSTypeName its type names (RecordTypes in the decisions
    table). Returns {Result; Error; ErrorId; Scope}: Error is an ErrorRecord built from the error
    object when the engine answered with one. With -Deadline (the handshake) returns $null when no
    answer came in time. The request is written in one line and the line is dropped right after;
    no parameter value is ever written to Verbose.

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

        [object] $Target,

        [Nullable[datetime]] $Deadline
    )

    $Engine.NextId++
    $id = $Engine.NextId
    $request = [ordered]@{ jsonrpc = '2.0'; id = $id; method = $Method }
    if ($null -ne $Params) { $request['params'] = $Params }
    $line = ConvertTo-GroupIDEngineJson -InputObject $request
    $sent = Send-GroupIDEngineLine -Engine $Engine -Line $line
    $line = $null
    $request = $null
    if (-not $sent) {
        # The engine is gone before it read the request: read to the end of its output first, so
        # the error names its last diagnostics.
        [void](Read-GroupIDEngineMessage -Engine $Engine -Deadline ([datetime]::UtcNow.AddSeconds(3)))
        Stop-GroupIDEngine -Engine $Engine -Kill
        $Engine.Cmdlet.ThrowTerminatingError((New-GroupIDEngineExitedError -Engine $Engine -Method $Method))
    }
    $Engine.Running = $id
    $Engine.RunningMethod = $Method
    $Engine.Cmdlet.WriteVerbose("GroupIDUpgrade: $Method sent to the engine (request $id, process $($Engine.ProcessId)).")
    while ($true) {
        $message = Read-GroupIDEngineMessage -Engine $Engine -Deadline $Deadline
        if ($null -eq $message) {
            if ($null -ne $Deadline -and -not $Engine.Process.HasExited -and [datetime]::UtcNow -gt $Deadline) { return $null }
            $Engine.Running = $null
            Stop-GroupIDEngine -Engine $Engine -Kill
            $Engine.Cmdlet.ThrowTerminatingError((New-GroupIDEngineExitedError -Engine $Engine -Method $Method))
        }
        if ($message.PSObject.Properties['method']) {
            Invoke-GroupIDNotification -Engine $Engine -Message $message
            continue
        }
        if (-not $message.PSObject.Properties['id'] -or [string]$message.id -ne [string]$id) { continue }
        $Engine.Running = $null
        $Engine.RunningMethod = $null
        if ($message.PSObject.Properties['error'] -and $null -ne $message.error) {
            $record = New-GroupIDErrorRecord -ErrorObject $message.error -DefaultTarget $Target
            $errorId = $record.FullyQualifiedErrorId.Split(',')[0]
            return [pscustomobject]@{ Result = $null; Error = $record; ErrorId = $errorId; Scope = (Get-GroupIDErrorScope -ErrorId $errorId) }
        }
        return [pscustomobject]@{ Result = $message.result; Error = $null; ErrorId = $null; Scope = $null }
    }
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
    # An item that failed is reported once: as a non-terminating ErrorRecord whose TargetObject is
    # the item's object (Status Failed and every field), never also as output or a warning.
    $failed = $object.PSObject.Properties['error'] -and $null -ne $object.error
    if ($failed -or $stream -eq 'Error') {
        if ($failed) {
            $record = New-GroupIDErrorRecord -ErrorObject $object.error -DefaultTarget $object
            if ($record.TargetObject -isnot [System.Management.Automation.PSObject]) {
                $record = New-Object System.Management.Automation.ErrorRecord -ArgumentList $record.Exception, $record.FullyQualifiedErrorId, $record.CategoryInfo.Category, $object
                $record.ErrorDetails = New-Object System.Management.Automation.ErrorDetails -ArgumentList $record.Exception.Message
                $action = $object.error.data.recommendedAction
                if ($action) { $record.ErrorDetails.RecommendedAction = [string]$action }
            }
            $cmdlet.WriteError($record)
        }
        return
    }
    switch ($stream) {
        'WhatIf' {
            $action = 'Upgrade'
            if ($object.PSObject.Properties['action'] -and $object.action) { $action = [string]$object.action }
            [void]$cmdlet.ShouldProcess([string]$name, $action)
        }
        'Information' {
            Add-GroupIDDisplayText -InputObject $object -Label $Type
            $cmdlet.WriteInformation($object, [string[]]@('GroupIDUpgrade', $Type))
        }
        'Warning' {
            $fields = foreach ($property in $object.PSObject.Properties) { "$($property.Name)=$($property.Value)" }
            $cmdlet.WriteWarning("${Type}: " + ($fields -join ', '))
        }
        default {
            $cmdlet.WriteObject($object)
        }
    }
    if ($stream -ne 'WhatIf' -and $object.PSObject.Properties['status'] -and ([string]$object.status) -like 'Would*') {
        [void]$cmdlet.ShouldProcess([string]$name, [string]$object.status)
    }
}

function Add-GroupIDDisplayText {
    <#
    .SYNOPSIS
    Gives an object a ToString() of "Label: field=value, ..." so that the host prints it as a sentence on the information stream, not as @{...}.

    .EXAMPLE
    Add-GroupIDDisplayText -InputObject $object -Label 'ModuleResult'
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [object] $InputObject,

        [Parameter(Mandatory)]
        [string] $Label
    )

    # One ToString method per label, made once and shared: it builds the sentence from the object when the
    # host prints it. Compiling a script block per object cost more than the rest of an Upgrade-Group call.
    $method = $script:DisplayTextMethods[$Label]
    if ($null -eq $method) {
        $method = New-Object System.Management.Automation.PSScriptMethod -ArgumentList 'ToString', ({
                $text = New-Object System.Collections.Generic.List[string]
                foreach ($property in $this.PSObject.Properties) {
                    if ($property.MemberType -ne 'NoteProperty') { continue }
                    $value = $property.Value
                    if ($null -eq $value -or $value -is [System.Management.Automation.PSCustomObject]) { continue }
                    if ($value -is [System.Array]) {
                        if ($value.Count -eq 0 -or $value[0] -is [System.Management.Automation.PSCustomObject]) { continue }
                        $value = $value -join '; '
                    }
                    $text.Add("$($property.Name)=$value")
                }
                "${Label}: " + ($text -join ', ')
            }.GetNewClosure())
        $script:DisplayTextMethods[$Label] = $method
    }
    if ($InputObject.PSObject.Members.Match('ToString', [System.Management.Automation.PSMemberTypes]::ScriptMethod).Count -gt 0) {
        $InputObject.PSObject.Members.Remove('ToString')
    }
    $InputObject.PSObject.Members.Add($method)
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
    $tail = Get-GroupIDEngineStderrTail -Engine $Engine
    New-GroupIDClientErrorRecord -ErrorId 'EngineExited' -Target $Engine.FilePath `
        -Message "The GroupID upgrade engine ended during $Method (exit code $exitCode). Its last diagnostics: $tail" `
        -RecommendedAction 'Look at the engine log named in the diagnostics; run the command again to resume.'
}
