function Find-GroupIDEngine {
    <#
    .SYNOPSIS
    Finds the engine the module starts: the executable and its fixed arguments.

    .DESCRIPTION
    Looks, in the order of EngineSearch in GroupIDUpgrade.Decisions.psd1:
      1. $env:GROUPID_UPGRADE_PYTHON: a python that has the groupid-upgrade package
         (python -m groupid_upgrade serve). When it is set, it must exist: it is never skipped.
      2. A python next to the module (python\python.exe, a .venv in the module folder or in its parent).
      3. groupid-upgrade on PATH (groupid-upgrade serve).
    Throws EngineNotFound naming every place it tried. The arguments are fixed words: no secret and
    no setting ever travels on the command line. What was found is kept for the session while
    $env:GROUPID_UPGRADE_PYTHON and PATH stay the same and the file found still exists.

    .EXAMPLE
    Find-GroupIDEngine -Cmdlet $PSCmdlet
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet
    )

    # Looked up once per session: Resolve-Path and Get-Command cost more than a group's whole request, and
    # Upgrade-Group in a loop asks on every call. Looked up again when a variable it reads or PATH changed,
    # or the file found is gone.
    $memoKey = [string]$env:PATH
    foreach ($way in $script:Decisions.EngineSearch) {
        if ($way.Kind -eq 'Env') { $memoKey += [char]0 + [Environment]::GetEnvironmentVariable($way.Name) }
    }
    $memo = $script:FoundEngine
    if ($null -ne $memo -and $memo.MemoKey -ceq $memoKey -and [System.IO.File]::Exists($memo.Location.FilePath)) {
        return $memo.Location
    }
    $location = Find-GroupIDEngineUncached -Cmdlet $Cmdlet
    $script:FoundEngine = @{ MemoKey = $memoKey; Location = $location }
    $location
}

function Find-GroupIDEngineUncached {
    <#
    .SYNOPSIS
    Find-GroupIDEngine's search itself, every place in order (no memo).

    .EXAMPLE
    Find-GroupIDEngineUncached -Cmdlet $PSCmdlet
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet
    )

    $tried = New-Object System.Collections.Generic.List[string]
    foreach ($way in $script:Decisions.EngineSearch) {
        switch ($way.Kind) {
            'Env' {
                $value = [Environment]::GetEnvironmentVariable($way.Name)
                if ([string]::IsNullOrWhiteSpace($value)) {
                    $tried.Add("`$env:$($way.Name) (not set)")
                    continue
                }
                if (Test-Path -LiteralPath $value -PathType Leaf) {
                    return (New-GroupIDEngineLocation -FilePath ((Resolve-Path -LiteralPath $value).ProviderPath) -Arguments $way.Arguments -Source ("`$env:$($way.Name)"))
                }
                $found = Get-Command -Name $value -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
                if ($null -ne $found) {
                    return (New-GroupIDEngineLocation -FilePath ($found.Path) -Arguments $way.Arguments -Source ("`$env:$($way.Name)"))
                }
                $message = "The GroupID upgrade engine was not found: `$env:$($way.Name) is '$value', which is not a file or a command."
                $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineNotFound' -Message $message -Target $value `
                            -RecommendedAction "Set `$env:$($way.Name) to the full path of a python.exe that has the groupid-upgrade package installed, or remove the variable."))
            }
            'Beside' {
                foreach ($relative in $way.Paths) {
                    $candidate = Join-Path -Path $script:ModuleRoot -ChildPath $relative
                    if (Test-Path -LiteralPath $candidate -PathType Leaf) {
                        return (New-GroupIDEngineLocation -FilePath ((Resolve-Path -LiteralPath $candidate).ProviderPath) -Arguments $way.Arguments -Source ($candidate))
                    }
                    $tried.Add("$candidate (not found)")
                }
            }
            'Path' {
                $found = Get-Command -Name $way.Name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
                if ($null -ne $found) {
                    return (New-GroupIDEngineLocation -FilePath ($found.Path) -Arguments $way.Arguments -Source ('PATH'))
                }
                $tried.Add("'$($way.Name)' on PATH (not found)")
            }
        }
    }
    $message = 'The GroupID upgrade engine was not found. Tried: ' + ($tried -join '; ') + '.'
    $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineNotFound' -Message $message -Target 'groupid-upgrade' `
                -RecommendedAction 'Install the engine (pip install groupid-upgrade) so groupid-upgrade is on PATH, or set $env:GROUPID_UPGRADE_PYTHON to a python.exe that has it.'))
}

function New-GroupIDEngineLocation {
    <#
    .SYNOPSIS
    What Find-GroupIDEngine found: the file, its fixed arguments, where it was found, and the key that says whether a running engine is the same one.

    .EXAMPLE
    New-GroupIDEngineLocation -FilePath '/usr/bin/python3' -Arguments @('-I', '-m', 'groupid_upgrade', 'serve') -Source 'PATH'
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [string] $FilePath,

        [Parameter(Mandatory)]
        [string[]] $Arguments,

        [Parameter(Mandatory)]
        [string] $Source
    )

    [pscustomobject]@{ FilePath = $FilePath; Arguments = $Arguments; Source = $Source; Key = ($FilePath + '|' + ($Arguments -join ' ')) }
}
